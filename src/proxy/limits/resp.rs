//! A small blocking Redis client: `redis://` and `rediss://` URLs, one connection over TCP (or
//! TLS with rustls), commands as RESP2 arrays of bulk strings, replies parsed with bounds.
//!
//! Every operation has a deadline: connect, write and read each get the time that remains, so
//! a slow or silent server costs at most the configured timeout. After any error the
//! connection is dropped by the caller (a late reply would answer the wrong command). It knows
//! nothing about counters.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where the server is and how to log in: a parsed `redis://[user:password@]host[:port][/db]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub db: u32,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, String> {
        let bad = |why: &str| format!("`{}`: {why}", redact(url));
        let (tls, rest) = if let Some(r) = url.strip_prefix("redis://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("rediss://") {
            (true, r)
        } else {
            return Err(bad("the state URL must start with redis:// or rediss://"));
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(u) => {
                let (user, pass) = match u.split_once(':') {
                    Some((user, pass)) => (user, Some(pass)),
                    None => ("", Some(u)),
                };
                let user = Some(percent_decode(user).ok_or_else(|| bad("bad %-escape"))?)
                    .filter(|u| !u.is_empty());
                let pass = match pass {
                    Some(p) => Some(percent_decode(p).ok_or_else(|| bad("bad %-escape"))?),
                    None => None,
                };
                (user, pass)
            }
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed `[`"))?;
            (host, after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            None | Some("") => 6379,
            Some(p) => p.parse().map_err(|_| bad("the port must be a number"))?,
        };
        let db = match path.split(['?', '#']).next().unwrap_or("") {
            "" => 0,
            d => d
                .parse()
                .map_err(|_| bad("the path must be a database number"))?,
        };
        Ok(Target {
            tls,
            host: host.to_string(),
            port,
            db,
            username,
            password,
        })
    }

    /// The URL without its password.
    pub fn redacted(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let auth = match (&self.username, &self.password) {
            (_, None) => String::new(),
            (Some(u), Some(_)) => format!("{u}:***@"),
            (None, Some(_)) => "***@".into(),
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{auth}{host}:{}/{}", self.port, self.db)
    }
}

/// A URL with anything between `//` and `@` hidden, for error messages about unparsable URLs.
fn redact(url: &str) -> String {
    match (url.find("//"), url.rfind('@')) {
        (Some(s), Some(a)) if a > s => format!(
            "{}***{}",
            url.get(..s + 2).unwrap_or_default(),
            url.get(a..).unwrap_or_default()
        ),
        _ => url.to_string(),
    }
}

pub(super) fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// A server's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// An error reply as a Rust error.
    pub fn ok(self) -> Result<Reply, String> {
        match self {
            Reply::Error(e) => Err(e),
            r => Ok(r),
        }
    }

    pub fn int(&self) -> Option<i64> {
        match self {
            Reply::Int(i) => Some(*i),
            Reply::Bulk(Some(b)) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        }
    }

    pub fn text(&self) -> Option<String> {
        match self {
            Reply::Status(s) => Some(s.clone()),
            Reply::Bulk(Some(b)) => String::from_utf8(b.clone()).ok(),
            _ => None,
        }
    }
}

/// Replies larger than this are refused (a confused or hostile peer cannot make warden
/// allocate without bound).
const MAX_BULK: usize = 64 * 1024 * 1024;
const MAX_DEPTH: usize = 8;

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// One connection, logged in and on its database.
pub struct Conn {
    io: BufReader<Stream>,
    out: Vec<u8>,
}

fn remaining(deadline: Instant) -> Result<Duration, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err("timed out".into())
    } else {
        Ok(left)
    }
}

impl Conn {
    /// Connects, logs in (`AUTH`) and selects the database, all before `deadline`.
    pub fn open(
        target: &Target,
        tls: Option<&Arc<rustls::ClientConfig>>,
        deadline: Instant,
    ) -> Result<Conn, String> {
        let addrs = resolve(&target.host, target.port, deadline)?;
        let mut last = format!("{} has no address", target.host);
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, remaining(deadline)?) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = format!("cannot connect to {addr}: {e}"),
            }
        }
        let tcp = tcp.ok_or(last)?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let stream = match (target.tls, tls) {
            (false, _) => Stream::Plain(tcp),
            (true, Some(config)) => {
                let name = rustls::pki_types::ServerName::try_from(target.host.clone())
                    .map_err(|e| format!("`{}` is not a TLS server name: {e}", target.host))?;
                let conn = rustls::ClientConnection::new(config.clone(), name)
                    .map_err(|e| format!("TLS: {e}"))?;
                Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
            }
            (true, None) => return Err("rediss:// needs a TLS configuration".into()),
        };
        let mut conn = Conn {
            io: BufReader::new(stream),
            out: Vec::new(),
        };
        if let Some(password) = &target.password {
            let mut auth: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = &target.username {
                auth.push(user.as_bytes());
            }
            auth.push(password.as_bytes());
            conn.call(&auth, deadline)?
                .ok()
                .map_err(|e| format!("AUTH: {e}"))?;
        }
        if target.db != 0 {
            conn.call(&[b"SELECT", target.db.to_string().as_bytes()], deadline)?
                .ok()
                .map_err(|e| format!("SELECT {}: {e}", target.db))?;
        }
        Ok(conn)
    }

    /// Sends one command and reads its reply (an error reply is a `Reply::Error`, not `Err`).
    pub fn call(&mut self, args: &[&[u8]], deadline: Instant) -> Result<Reply, String> {
        self.out.clear();
        encode(&mut self.out, args);
        self.exchange(1, deadline)?
            .pop()
            .ok_or_else(|| "no reply".to_string())
    }

    /// Sends several commands in one write and reads their replies.
    pub fn pipeline(
        &mut self,
        commands: &[Vec<Vec<u8>>],
        deadline: Instant,
    ) -> Result<Vec<Reply>, String> {
        self.out.clear();
        for command in commands {
            let args: Vec<&[u8]> = command.iter().map(Vec::as_slice).collect();
            encode(&mut self.out, &args);
        }
        self.exchange(commands.len(), deadline)
    }

    fn exchange(&mut self, replies: usize, deadline: Instant) -> Result<Vec<Reply>, String> {
        let io_err = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                "timed out".to_string()
            }
            _ => e.to_string(),
        };
        let tcp = self.io.get_ref().tcp();
        tcp.set_write_timeout(Some(remaining(deadline)?))
            .map_err(io_err)?;
        tcp.set_read_timeout(Some(remaining(deadline)?))
            .map_err(io_err)?;
        let stream = self.io.get_mut();
        stream.write_all(&self.out).map_err(io_err)?;
        stream.flush().map_err(io_err)?;
        (0..replies)
            .map(|_| read_reply(&mut self.io, 0).map_err(io_err))
            .collect()
    }
}

/// The addresses of `host`, within the deadline: a name is resolved on a helper thread (the
/// system resolver has no timeout of its own), an IP address is used as it is.
fn resolve(host: &str, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>, String> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let name = host.to_string();
    std::thread::Builder::new()
        .name("warden-resolve".into())
        .spawn(move || {
            let _ = tx.send(
                (name.as_str(), port)
                    .to_socket_addrs()
                    .map(Iterator::collect),
            );
        })
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    match rx.recv_timeout(remaining(deadline)?) {
        Ok(Ok(addrs)) => Ok(addrs),
        Ok(Err(e)) => Err(format!("cannot resolve {host}: {e}")),
        Err(_) => Err(format!("cannot resolve {host}: timed out")),
    }
}

fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("bad reply: {what}"),
    )
}

fn read_line(io: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = Vec::new();
    io.by_ref().take(64 * 1024).read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\r\n") {
        return Err(if line.is_empty() {
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            )
        } else {
            invalid("unterminated line")
        });
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).map_err(|_| invalid("not UTF-8"))
}

fn read_reply(io: &mut impl BufRead, depth: usize) -> std::io::Result<Reply> {
    if depth > MAX_DEPTH {
        return Err(invalid("nested too deep"));
    }
    let line = read_line(io)?;
    let (kind, rest) = line
        .split_at_checked(1)
        .ok_or_else(|| invalid("empty line"))?;
    let length = |rest: &str| -> std::io::Result<Option<usize>> {
        match rest.parse::<i64>().map_err(|_| invalid("bad length"))? {
            -1 => Ok(None),
            n => usize::try_from(n)
                .ok()
                .filter(|n| *n <= MAX_BULK)
                .map(Some)
                .ok_or_else(|| invalid("bad length")),
        }
    };
    Ok(match kind {
        "+" => Reply::Status(rest.to_string()),
        "-" => Reply::Error(rest.to_string()),
        ":" => Reply::Int(rest.parse().map_err(|_| invalid("bad integer"))?),
        "$" => match length(rest)? {
            None => Reply::Bulk(None),
            Some(n) => {
                let mut data = vec![0; n + 2];
                io.read_exact(&mut data)?;
                if !data.ends_with(b"\r\n") {
                    return Err(invalid("unterminated bulk string"));
                }
                data.truncate(n);
                Reply::Bulk(Some(data))
            }
        },
        "*" => match length(rest)? {
            None => Reply::Array(None),
            Some(n) => Reply::Array(Some(
                (0..n)
                    .map(|_| read_reply(io, depth + 1))
                    .collect::<std::io::Result<_>>()?,
            )),
        },
        _ => return Err(invalid("unknown type")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_defaults_credentials_ipv6_and_tls() {
        let t = Target::parse("redis://127.0.0.1:6380/2").unwrap();
        assert_eq!(
            (t.tls, t.host.as_str(), t.port, t.db),
            (false, "127.0.0.1", 6380, 2)
        );
        let t = Target::parse("rediss://user:p%40ss@cache.example").unwrap();
        assert_eq!((t.tls, t.port, t.db), (true, 6379, 0));
        assert_eq!(t.username.as_deref(), Some("user"));
        assert_eq!(t.password.as_deref(), Some("p@ss"));
        assert_eq!(t.redacted(), "rediss://user:***@cache.example:6379/0");
        let t = Target::parse("redis://:secret@[::1]:7000").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.username.clone()),
            ("::1", 7000, None)
        );
        assert_eq!(t.redacted(), "redis://***@[::1]:7000/0");
        for bad in [
            "http://x",
            "redis://",
            "redis://h:port",
            "redis://h/db",
            "redis://u:p@h:x",
        ] {
            let e = Target::parse(bad).unwrap_err();
            assert!(!e.contains(":p@"), "{e}");
        }
    }

    #[test]
    fn replies_parse_and_hostile_ones_are_refused() {
        let parse = |b: &[u8]| read_reply(&mut std::io::Cursor::new(b.to_vec()), 0);
        assert_eq!(parse(b"+OK\r\n").unwrap(), Reply::Status("OK".into()));
        assert_eq!(parse(b":-3\r\n").unwrap(), Reply::Int(-3));
        assert_eq!(parse(b"$-1\r\n").unwrap(), Reply::Bulk(None));
        assert_eq!(
            parse(b"*2\r\n$2\r\nab\r\n-ERR x\r\n").unwrap(),
            Reply::Array(Some(vec![
                Reply::Bulk(Some(b"ab".to_vec())),
                Reply::Error("ERR x".into())
            ]))
        );
        for bad in [
            &b"$5\r\nab\r\n"[..],
            b"*1\r\n",
            b"?\r\n",
            b"$99999999999\r\n",
            b"+OK",
            b"",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let deep = "*1\r\n".repeat(20);
        assert!(parse(deep.as_bytes()).is_err());
    }
}

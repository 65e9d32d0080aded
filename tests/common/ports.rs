//! Loopback ports for the servers the tests start: a free one, and whether a given process
//! is the one listening on it (a port that merely answers could be another test's server: a
//! free port is free only until someone binds it).

use std::net::TcpListener;

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TCP socket of the machine's (from /proc/net/tcp and tcp6).
pub struct Socket {
    pub local_port: u16,
    #[allow(
        dead_code,
        reason = "read by tests/proxy_http/tls.rs; the other binaries look at listeners only"
    )]
    pub remote_port: u16,
    /// The kernel's state number: 0x01 established, 0x06 time-wait, 0x0A listening.
    pub state: u8,
    pub inode: String,
}

/// Every TCP socket, IPv4 and IPv6.
pub fn sockets() -> Vec<Socket> {
    let port = |address: &str| u16::from_str_radix(address.rsplit(':').next()?, 16).ok();
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .map(|t| std::fs::read_to_string(t).unwrap_or_default())
        .join("\n")
        .lines()
        .filter(|line| !line.trim_start().starts_with("sl"))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            Some(Socket {
                local_port: port(fields.get(1)?)?,
                remote_port: port(fields.get(2)?)?,
                state: u8::from_str_radix(fields.get(3)?, 16).ok()?,
                inode: fields.get(9)?.to_string(),
            })
        })
        .collect()
}

/// Whether process `pid` holds a socket listening on `port`: the listening socket's inode
/// among the process's open files. (A port that merely answers could be another test's
/// server: a free port is free only until someone binds it.)
pub fn listens(pid: u32, port: u16) -> bool {
    let inodes: Vec<String> = sockets()
        .into_iter()
        .filter(|s| s.local_port == port && s.state == 0x0A)
        .map(|s| s.inode)
        .collect();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .any(|target| {
            inodes
                .iter()
                .any(|i| target.to_string_lossy() == format!("socket:[{i}]"))
        })
}

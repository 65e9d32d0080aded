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

/// Whether process `pid` holds a socket listening on `port`: the listening socket's inode in
/// /proc/net/tcp or tcp6, among the process's open files. (A port that merely answers could be
/// another test's server: a free port is free only until someone binds it.)
pub fn listens(pid: u32, port: u16) -> bool {
    let table = ["/proc/net/tcp", "/proc/net/tcp6"]
        .map(|t| std::fs::read_to_string(t).unwrap_or_default())
        .join("\n");
    let inodes: Vec<String> = table
        .lines()
        .filter(|line| !line.trim_start().starts_with("sl"))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = fields.get(1)?;
            let local_port = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
            // State 0A is LISTEN.
            (local_port == port && fields.get(3) == Some(&"0A"))
                .then(|| fields.get(9).map(|i| i.to_string()))?
        })
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

//! Reading a connection (a client's or the upstream's) without a system call to learn that
//! nothing came.
//!
//! tokio keeps a "readable" flag per socket, raised by the event loop and cleared by a read
//! that finds nothing (`EAGAIN`). After a read that took less than there was room for, the
//! socket is empty and the flag stale: the next read would be a system call only to clear it,
//! once per request on each side. [`poll_read`] clears it in step with the read instead: tokio
//! clears a flag only if no arrival raised it again since the read began, so nothing that
//! arrives after the read is missed (with worker threads too).
//!
//! [`Stream`] is a connection's bytes, plain or TLS (rustls), for `front` and `pool` alike.

use bytes::BytesMut;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsStream;

/// Reads grow a buffer by at least this much.
const GROW: usize = 8 * 1024;

/// Reads what `stream` has into `buf`: `Ready(0)` at the end of the stream.
pub fn poll_read(
    stream: &TcpStream,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    loop {
        if buf.capacity() - buf.len() < GROW / 4 {
            buf.reserve(GROW);
        }
        let room = buf.capacity() - buf.len();
        let mut read = None;
        let result = stream.try_io(Interest::READABLE, || {
            let n = stream.try_read_buf(buf)?;
            read = Some(n);
            if n > 0 && n < room {
                // Emptied: clear the flag (tokio does on `WouldBlock`).
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(n)
        });
        match (read, result) {
            (Some(n), _) => return Poll::Ready(Ok(n)),
            (None, Err(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                ready!(stream.poll_read_ready(cx))?;
            }
            (None, Err(e)) => return Poll::Ready(Err(e)),
            (None, Ok(n)) => return Poll::Ready(Ok(n)),
        }
    }
}

/// The bytes of a connection, a client's or the upstream's: plain TCP, or TLS on it.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// TLS reads go into the buffer this much at a time.
const TLS_READ: usize = 16 * 1024;

impl Stream {
    /// Reads what has come into `buf`: `Ready(0)` at the end of the stream. A plain socket is
    /// read by `socket::poll_read` (its stale readiness cleared in step); TLS through rustls.
    pub fn poll_read(
        &mut self,
        buf: &mut BytesMut,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        match self {
            Stream::Plain(tcp) => poll_read(tcp, buf, cx),
            Stream::Tls(tls) => {
                let start = buf.len();
                buf.resize(start + TLS_READ, 0);
                let mut room = ReadBuf::new(&mut buf[start..]);
                let read = Pin::new(tls.as_mut()).poll_read(cx, &mut room);
                let n = room.filled().len();
                buf.truncate(start + n);
                read.map_ok(|()| n)
            }
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write(cx, bytes),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, bytes),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn what_arrives_after_a_read_that_emptied_the_socket_is_read() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut buf = BytesMut::new();
        for part in [&b"first"[..], b"second", b"third"] {
            client.write_all(part).await.unwrap();
            let before = buf.len();
            while buf.len() < before + part.len() {
                let n = std::future::poll_fn(|cx| poll_read(&server, &mut buf, cx))
                    .await
                    .unwrap();
                assert!(n > 0);
            }
        }
        assert_eq!(&buf[..], b"firstsecondthird");
        drop(client);
        let n = std::future::poll_fn(|cx| poll_read(&server, &mut buf, cx))
            .await
            .unwrap();
        assert_eq!(n, 0);
    }
}

//! Writing relayed lines to one side (the server's stdin or the client's stdout) straight from
//! the task that produced them, without a writer task in between.
//!
//! An [`Outlet`] is shared by every task that writes to a side; a write holds it until the
//! bytes are out, so lines never interleave, and a side that stops reading makes its writers
//! wait (back-pressure: nothing queues beyond the batch in hand). A reader collects what it
//! produces in a [`Batch`] and writes it when it has no further complete line buffered, so a
//! burst of messages goes out in one write per side and a lone message goes out at once.

use super::session::Action;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;

type Writer = Box<dyn AsyncWrite + Unpin + Send>;

pub struct Outlet {
    out: Mutex<Option<Writer>>,
}

impl Outlet {
    pub fn new(out: Writer) -> Outlet {
        Outlet {
            out: Mutex::new(Some(out)),
        }
    }

    /// Writes whole lines; after a failed write (the side is gone) the outlet stays closed
    /// and later writes are dropped, as nobody would read them.
    async fn write(&self, bytes: &[u8]) {
        let mut guard = self.out.lock().await;
        if let Some(out) = guard.as_mut()
            && (out.write_all(bytes).await.is_err() || out.flush().await.is_err())
        {
            *guard = None;
        }
    }

    /// Closes the side (the server sees EOF on its stdin); later writes are dropped.
    pub async fn close(&self) {
        if let Some(mut out) = self.out.lock().await.take() {
            let _ = out.shutdown().await;
        }
    }
}

/// Lines produced for each side and not yet written, each with its newline.
#[derive(Default)]
pub struct Batch {
    server: Vec<u8>,
    client: Vec<u8>,
}

/// A batch larger than this is written before more is added (a burst of large answers).
const BATCH_BYTES: usize = 64 * 1024;

impl Batch {
    /// Adds the bytes of a session's action; returns an approval to run, if it was one (its
    /// prompt to the client is added to the batch).
    pub fn add(&mut self, action: Action) -> Option<Box<super::session::ApprovalJob>> {
        match action {
            Action::ToServer(line) => push_line(&mut self.server, &line),
            Action::ToClient(line) => push_line(&mut self.client, &line),
            Action::Approve(mut job) => {
                push_line(&mut self.client, &std::mem::take(&mut job.request));
                return Some(job);
            }
        }
        None
    }

    /// True when the batch should be written before more is added.
    pub fn full(&self) -> bool {
        self.server.len() + self.client.len() >= BATCH_BYTES
    }

    /// Writes and empties the batch (the client's part first: answers before new requests).
    pub async fn flush(&mut self, server: &Outlet, client: &Outlet) {
        if !self.client.is_empty() {
            client.write(&self.client).await;
            self.client.clear();
        }
        if !self.server.is_empty() {
            server.write(&self.server).await;
            self.server.clear();
        }
    }
}

fn push_line(batch: &mut Vec<u8>, line: &[u8]) {
    batch.extend_from_slice(line);
    batch.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn batches_lines_per_side_and_stops_after_a_failed_write() {
        let (client_end, mut client_peer) = tokio::io::duplex(1024);
        let (server_end, server_peer) = tokio::io::duplex(1024);
        let (client, server) = (
            Outlet::new(Box::new(client_end)),
            Outlet::new(Box::new(server_end)),
        );
        let mut batch = Batch::default();
        assert!(batch.add(Action::ToClient(b"a".to_vec())).is_none());
        assert!(batch.add(Action::ToServer(b"s".to_vec())).is_none());
        assert!(batch.add(Action::ToClient(b"b".to_vec())).is_none());
        assert!(!batch.full());
        drop(server_peer);
        batch.flush(&server, &client).await;
        batch.flush(&server, &client).await;
        client.close().await;
        let mut got = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut client_peer, &mut got)
            .await
            .unwrap();
        assert_eq!(got, b"a\nb\n");
        assert!(server.out.lock().await.is_none(), "the dead side is closed");
    }
}

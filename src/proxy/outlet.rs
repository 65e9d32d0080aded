//! Writing relayed lines to one side (the server's stdin or the client's stdout) straight from
//! the thread that produced them, without a writer in between.
//!
//! An [`Outlet`] is shared by every thread that writes to a side; a write holds it until the
//! bytes are out, so lines never interleave, and a side that stops reading makes its writers
//! wait (back-pressure: nothing queues beyond the batch in hand). A reader collects what it
//! produces in a [`Batch`] and writes it when it has no further complete line buffered, so a
//! burst of messages goes out in one write per side and a lone message goes out at once.

use super::session::Action;
use std::io::Write;
use std::sync::{Mutex, MutexGuard};

type Writer = Box<dyn Write + Send>;

pub struct Outlet {
    out: Mutex<Option<Writer>>,
}

impl Outlet {
    pub fn new(out: Writer) -> Outlet {
        Outlet {
            out: Mutex::new(Some(out)),
        }
    }

    fn out(&self) -> MutexGuard<'_, Option<Writer>> {
        self.out.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes whole lines (blocking while the side does not read); after a failed write (the
    /// side is gone) the outlet stays closed and later writes are dropped, as nobody would
    /// read them.
    fn write(&self, bytes: &[u8]) {
        let mut guard = self.out();
        if let Some(out) = guard.as_mut()
            && (out.write_all(bytes).is_err() || out.flush().is_err())
        {
            *guard = None;
        }
    }

    /// Closes the side (the server sees EOF on its stdin; later writes are dropped) unless a
    /// write holds it (a side that does not read can hold a write forever); returns whether it
    /// closed.
    pub fn try_close(&self) -> bool {
        match self.out.try_lock() {
            Ok(mut out) => {
                out.take();
                true
            }
            Err(std::sync::TryLockError::Poisoned(p)) => {
                p.into_inner().take();
                true
            }
            Err(std::sync::TryLockError::WouldBlock) => false,
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
    pub fn flush(&mut self, server: &Outlet, client: &Outlet) {
        if !self.client.is_empty() {
            client.write(&self.client);
            self.client.clear();
        }
        if !self.server.is_empty() {
            server.write(&self.server);
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
    use std::io::Read;

    fn pipe() -> (std::fs::File, std::fs::File) {
        let (r, w) = nix::unistd::pipe().unwrap();
        (std::fs::File::from(r), std::fs::File::from(w))
    }

    #[test]
    fn batches_lines_per_side_and_stops_after_a_failed_write() {
        let (mut client_peer, client_end) = pipe();
        let (server_peer, server_end) = pipe();
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
        batch.flush(&server, &client);
        batch.flush(&server, &client);
        assert!(client.try_close());
        let mut got = Vec::new();
        client_peer.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"a\nb\n");
        assert!(server.out().is_none(), "the dead side is closed");
    }

    #[test]
    fn try_close_gives_way_to_a_write_in_progress() {
        let (_peer, end) = pipe();
        let outlet = Outlet::new(Box::new(end));
        let held = outlet.out();
        assert!(!outlet.try_close());
        drop(held);
        assert!(outlet.try_close());
        assert!(outlet.out().is_none());
    }
}

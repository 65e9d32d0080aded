//! The HTTP proxy's timers, each armed once where a naive use would arm one per step: every
//! armed tokio timer is an entry put into and taken out of the runtime's timer wheel (under its
//! lock), and a call at one client pays for each with cold caches.
//!
//! - [`Deadline`]: an exchange's `--upstream-timeout`, one timer for the answer's head and
//!   its body (the relay takes it over).
//! - [`ConnectionTimer`]: hyper's header-read timer for one client connection. hyper asks for a
//!   new timer for every request head and drops it once the head is read; this keeps one tokio
//!   timer per connection and moves its deadline, which tokio does without touching the wheel
//!   while the deadline only grows.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::time::Sleep;

/// When an exchange must be over, and when it started (for the upstream latency metric).
pub struct Deadline {
    sleep: Pin<Box<Sleep>>,
    started: Instant,
}

impl Deadline {
    /// `timeout` from now. The timer enters the wheel only if something has to wait for it.
    pub fn after(timeout: Duration) -> Deadline {
        let now = tokio::time::Instant::now();
        Deadline {
            sleep: Box::pin(tokio::time::sleep_until(now + timeout)),
            started: now.into_std(),
        }
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    /// Whether the deadline has passed; otherwise the task is woken when it does.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.sleep.as_mut().poll(cx).is_ready()
    }

    /// Runs `work` until it is done (`Some`) or the deadline passes (`None`). `work` is polled
    /// first: what is ready at once never arms the timer.
    pub async fn within<F: Future>(&mut self, work: F) -> Option<F::Output> {
        let mut work = std::pin::pin!(work);
        std::future::poll_fn(|cx| match work.as_mut().poll(cx) {
            Poll::Ready(out) => Poll::Ready(Some(out)),
            Poll::Pending if self.poll_expired(cx) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        })
        .await
    }
}

/// hyper's timer for one client connection (see the module's comment). Only the header-read
/// timeout uses it, one timer at a time.
#[derive(Clone, Default)]
pub struct ConnectionTimer {
    sleep: Arc<Mutex<Option<Pin<Box<Sleep>>>>>,
}

impl ConnectionTimer {
    fn armed(&self) -> std::sync::MutexGuard<'_, Option<Pin<Box<Sleep>>>> {
        self.sleep.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl hyper::rt::Timer for ConnectionTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(self.now() + duration)
    }

    /// tokio's clock (the same as the system's, except in tests that pause it).
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let mut sleep = self.armed();
        match sleep.as_mut() {
            Some(s) => s.as_mut().reset(deadline.into()),
            None => *sleep = Some(Box::pin(tokio::time::sleep_until(deadline.into()))),
        }
        Box::pin(ConnectionSleep(self.clone()))
    }
}

/// The connection's timer as hyper holds it; dropping it leaves the timer armed (a wake-up
/// at the old deadline with nothing waiting on it costs one spurious poll of the connection).
struct ConnectionSleep(ConnectionTimer);

impl Future for ConnectionSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.0.armed().as_mut() {
            Some(s) => s.as_mut().poll(cx),
            None => Poll::Ready(()),
        }
    }
}

impl hyper::rt::Sleep for ConnectionSleep {}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Timer;

    /// tokio's timers have millisecond ticks.
    fn about(elapsed: Duration, seconds: u64) -> bool {
        let want = Duration::from_secs(seconds);
        elapsed >= want && elapsed <= want + Duration::from_millis(2)
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_passes_only_for_work_that_is_not_done() {
        let mut deadline = Deadline::after(Duration::from_secs(5));
        assert_eq!(deadline.within(async { 7 }).await, Some(7));
        let slow = tokio::time::sleep(Duration::from_secs(3));
        assert_eq!(deadline.within(slow).await, Some(()));
        // 3 s of the 5 are gone: work that needs 3 more does not finish in time.
        let slower = tokio::time::sleep(Duration::from_secs(3));
        let start = tokio::time::Instant::now();
        assert_eq!(deadline.within(slower).await, None);
        assert!(about(start.elapsed(), 2));
    }

    #[tokio::test(start_paused = true)]
    async fn the_connection_timer_moves_its_deadline_for_each_new_sleep() {
        let timer = ConnectionTimer::default();
        let first = timer.sleep(Duration::from_secs(10));
        tokio::time::sleep(Duration::from_secs(6)).await;
        drop(first);
        // The next head's timer: 10 s from now, not from the first one's start.
        let second = timer.sleep(Duration::from_secs(10));
        let start = tokio::time::Instant::now();
        second.await;
        assert!(about(start.elapsed(), 10), "{:?}", start.elapsed());
        // And a deadline earlier than the armed one is honoured too.
        drop(timer.sleep(Duration::from_secs(10)));
        let third = timer.sleep(Duration::from_secs(1));
        let start = tokio::time::Instant::now();
        third.await;
        assert!(about(start.elapsed(), 1), "{:?}", start.elapsed());
    }
}

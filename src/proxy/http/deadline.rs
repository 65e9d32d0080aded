//! An exchange's `--upstream-timeout`: one timer for the answer's head and its body (the relay
//! takes it over), armed only if something has to wait for it. Every armed tokio timer is an
//! entry put into and taken out of the runtime's timer wheel (under its lock), and a call at
//! one client pays for each with cold caches. (A client connection's request timer is
//! `front`'s, one per connection, moved for each request.)

use std::future::Future;
use std::pin::Pin;
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
    /// first: what is ready at once never arms the timer. (`work` is pinned where it is made:
    /// an async function that took it by value would hold it twice, and copy it twice.)
    pub fn within<'a, F: Future>(
        &'a mut self,
        mut work: Pin<&'a mut F>,
    ) -> impl Future<Output = Option<F::Output>> + 'a {
        std::future::poll_fn(move |cx| match work.as_mut().poll(cx) {
            Poll::Ready(out) => Poll::Ready(Some(out)),
            Poll::Pending if self.poll_expired(cx) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::pin;

    /// tokio's timers have millisecond ticks.
    fn about(elapsed: Duration, seconds: u64) -> bool {
        let want = Duration::from_secs(seconds);
        elapsed >= want && elapsed <= want + Duration::from_millis(2)
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_passes_only_for_work_that_is_not_done() {
        let mut deadline = Deadline::after(Duration::from_secs(5));
        assert_eq!(deadline.within(pin!(async { 7 })).await, Some(7));
        let slow = tokio::time::sleep(Duration::from_secs(3));
        assert_eq!(deadline.within(pin!(slow)).await, Some(()));
        // 3 s of the 5 are gone: work that needs 3 more does not finish in time.
        let slower = tokio::time::sleep(Duration::from_secs(3));
        let start = tokio::time::Instant::now();
        assert_eq!(deadline.within(pin!(slower)).await, None);
        assert!(about(start.elapsed(), 2));
    }
}

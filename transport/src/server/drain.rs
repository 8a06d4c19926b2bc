//! Tracks in-flight request streams so a graceful shutdown can wait for them.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// Counts in-flight streams and records whether shutdown has begun.
///
/// Invariant: once [`Drain::begin_shutdown`] has returned, [`Drain::try_enter`] hands out no
/// new guard, so the count only falls. `try_enter` increments before it reads the flag and
/// `begin_shutdown` sets the flag before [`Drain::wait_idle`] reads the count, both sequentially
/// consistent, so a stream is either refused or seen by the waiter.
#[derive(Debug, Default)]
pub(crate) struct Drain {
    in_flight: AtomicUsize,
    shutting_down: AtomicBool,
    idle: Notify,
}

/// Holds one in-flight slot until dropped.
pub(crate) struct DrainGuard(Arc<Drain>);

impl Drop for DrainGuard {
    fn drop(&mut self) {
        self.0.leave();
    }
}

impl Drain {
    /// Registers a new stream, unless shutdown has begun.
    pub(crate) fn try_enter(self: &Arc<Self>) -> Option<DrainGuard> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        if self.shutting_down.load(Ordering::SeqCst) {
            self.leave();
            return None;
        }
        Some(DrainGuard(self.clone()))
    }

    pub(crate) fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Completes when no stream is in flight.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            // Registers the waiter before the count is read, so a `leave` between the read and
            // the await still wakes it.
            notified.as_mut().enable();
            if self.in_flight() == 0 {
                return;
            }
            notified.await;
        }
    }

    fn leave(&self) {
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }
}

//! Named background threads whose death is never silent.
//!
//! Every long-lived thread (`writer`, `log-indexer`, `retention`,
//! `storage-usage`) runs through [`spawn`]: a drop guard clears its
//! `alive` flag however the thread ends, and a panic is caught, logged
//! once with its message and recorded, so `/health/deep` turns critical
//! and names the panic, and `/metrics` shows `lookout_thread_up 0` and
//! `lookout_thread_panics_total`. Catching the unwind ends the thread just
//! as the panic would have; nothing is retried here.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;

/// What a supervised thread publishes about itself.
#[derive(Debug)]
pub struct ThreadHealth {
    name: &'static str,
    alive: AtomicBool,
    panic: Mutex<Option<String>>,
}

impl ThreadHealth {
    /// A thread not started yet (not alive).
    pub fn new(name: &'static str) -> Arc<ThreadHealth> {
        Arc::new(ThreadHealth {
            name,
            alive: AtomicBool::new(false),
            panic: Mutex::new(None),
        })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether the thread runs. A thread whose panic is recorded is not
    /// alive, even in the moment before its guard says so: health checks
    /// read the two one after the other and must agree.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst) && self.panic.lock().is_none()
    }

    /// The panic message, if the thread died of a panic.
    pub fn panic_message(&self) -> Option<String> {
        self.panic.lock().clone()
    }

    #[cfg(test)]
    pub(crate) fn mark_alive_for_test(&self, alive: bool) {
        self.alive.store(alive, Ordering::SeqCst);
    }

    /// Why the thread is not running, for a health message.
    pub fn stopped_reason(&self) -> String {
        match self.panic_message() {
            Some(message) => format!("the {} thread panicked: {message}", self.name),
            None => format!("the {} thread has stopped", self.name),
        }
    }
}

/// Clears `alive` when the thread ends, by return or by unwinding.
struct AliveGuard(Arc<ThreadHealth>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.alive.store(false, Ordering::SeqCst);
    }
}

/// Starts `body` on a thread named after `health`, marked alive before
/// this returns (so a health check right after start sees it running).
pub fn spawn(
    health: &Arc<ThreadHealth>,
    body: impl FnOnce() + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    health.alive.store(true, Ordering::SeqCst);
    // A thread that cannot be started is not alive either: the guard moved
    // into the closure is dropped with it.
    let guard = AliveGuard(Arc::clone(health));
    std::thread::Builder::new()
        .name(health.name.into())
        .spawn(move || {
            let guard = guard;
            if let Err(payload) = std::panic::catch_unwind(AssertUnwindSafe(body)) {
                let message = panic_text(payload.as_ref());
                tracing::error!(thread = guard.0.name, panic = %message, "thread panicked");
                *guard.0.panic.lock() = Some(message);
            }
        })
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_panic_means_dead_before_the_alive_flag_clears() {
        // The moment between the panic being recorded and the guard
        // clearing the flag: health must already report the thread dead.
        let health = ThreadHealth::new("test-window");
        health.mark_alive_for_test(true);
        *health.panic.lock() = Some("boom".into());
        assert!(!health.is_alive());
    }

    #[test]
    fn a_panicking_thread_is_reported_dead_with_its_message() {
        let health = ThreadHealth::new("test-panics");
        let thread = spawn(&health, || panic!("disk on fire")).expect("spawn");
        thread.join().expect("the panic is caught");
        assert!(!health.is_alive());
        assert_eq!(health.panic_message().as_deref(), Some("disk on fire"));
        assert!(health.stopped_reason().contains("disk on fire"));
    }

    #[test]
    fn a_thread_that_returns_is_not_alive_and_did_not_panic() {
        let health = ThreadHealth::new("test-returns");
        let (release, wait) = crossbeam_channel::bounded::<()>(0);
        let thread = spawn(&health, move || {
            let _ = wait.recv();
        })
        .expect("spawn");
        assert!(health.is_alive());
        drop(release);
        thread.join().expect("join");
        assert!(!health.is_alive());
        assert_eq!(health.panic_message(), None);
    }
}

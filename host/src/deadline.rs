//! Per-instance request deadlines: which requests an instance is running
//! since when, and which one is blamed when a deadline forces the instance
//! to be dropped.
//!
//! A guest stuck in a loop never returns to the host on its own; epoch
//! interruption checks [`Deadlines::overdue`] at every tick and traps the
//! instance when its oldest request has run past the deadline.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The running requests of one instance.
#[derive(Debug)]
pub struct Deadlines {
    timeout: Duration,
    running: Mutex<BTreeMap<u64, (Instant, Arc<AtomicBool>)>>,
}

impl Deadlines {
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            running: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, (Instant, Arc<AtomicBool>)>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Request `id` started; `expired` is set if it is blamed for a drop.
    pub fn start(&self, id: u64, expired: Arc<AtomicBool>) {
        self.lock().insert(id, (Instant::now(), expired));
    }

    pub fn finish(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// When the oldest running request started.
    pub fn oldest(&self) -> Option<Instant> {
        self.lock().values().map(|(started, _)| *started).min()
    }

    /// Whether the oldest request is past the deadline; if so, blames it
    /// (sets its `expired` flag → 504). The others dropped with the
    /// instance were starved by it, not at fault: they are retried when
    /// safe. (A guest loop leaves no trace of which task spins; the oldest
    /// is the best guess.)
    pub fn overdue(&self) -> bool {
        let running = self.lock();
        match running.values().min_by_key(|(started, _)| *started) {
            Some((started, expired)) if started.elapsed() >= self.timeout => {
                expired.store(true, Relaxed);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_overdue_request_is_blamed() {
        let deadlines = Deadlines::new(Duration::from_millis(20));
        let (old, young) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        deadlines.start(1, old.clone());
        assert!(!deadlines.overdue());
        std::thread::sleep(Duration::from_millis(25));
        deadlines.start(2, young.clone());
        assert!(deadlines.overdue());
        assert!(old.load(Relaxed) && !young.load(Relaxed));
        deadlines.finish(1);
        deadlines.finish(2);
        assert!(!deadlines.overdue());
        assert_eq!(deadlines.oldest(), None);
    }
}

//! Which pooled connections are pinged before a guest gets them: those idle
//! for a while, and those that were already idle when a connection of the
//! same pool was last found broken. After a server restart every old
//! connection is dead; the first failed statement gets the others checked
//! (and replaced) instead of failing a request each.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A connection idle this long is pinged before use: idle connections are
/// the ones a restart or a network cut leaves dead (a restart takes longer
/// than this). Under load connections are reused within milliseconds and
/// never pinged; when they are not, a loopback round trip is nothing.
const IDLE_CHECK: Duration = Duration::from_millis(100);

pub struct Staleness {
    epoch: Instant,
    /// When a broken connection was last seen, in ms since `epoch` + 1
    /// (0: never).
    broken_at: AtomicU64,
}

impl Staleness {
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            broken_at: AtomicU64::new(0),
        }
    }

    /// A connection of the pool failed as a connection.
    pub fn broken(&self) {
        self.broken_at
            .store(self.since_epoch(Instant::now()) + 1, Ordering::Relaxed);
    }

    /// Whether a connection idle for `idle_for` is pinged before use.
    pub fn check(&self, idle_for: Duration) -> bool {
        self.check_at(Instant::now(), idle_for)
    }

    fn check_at(&self, now: Instant, idle_for: Duration) -> bool {
        if idle_for >= IDLE_CHECK {
            return true;
        }
        match self.broken_at.load(Ordering::Relaxed) {
            0 => false,
            broken => {
                let idle_since = self.since_epoch(now.checked_sub(idle_for).unwrap_or(self.epoch));
                idle_since < broken
            }
        }
    }

    fn since_epoch(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_millis() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_connections_are_not_pinged_idle_ones_are() {
        let s = Staleness::new();
        assert!(!s.check(Duration::from_millis(5)));
        assert!(s.check(IDLE_CHECK));
    }

    #[test]
    fn after_a_broken_connection_the_older_ones_are_pinged() {
        let s = Staleness::new();
        std::thread::sleep(Duration::from_millis(30));
        s.broken();
        let now = Instant::now();
        // Returned to the pool 20 ms before the break was seen: checked.
        assert!(s.check_at(now, Duration::from_millis(25)));
        // Returned after it: not checked.
        let later = now + Duration::from_millis(50);
        assert!(!s.check_at(later, Duration::from_millis(10)));
    }
}

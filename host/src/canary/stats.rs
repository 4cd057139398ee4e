//! What one version answered while a canary ran: counts by outcome and a
//! lock-free latency histogram, read as a [`Snapshot`] for the judge.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::api::Snapshot;

/// How one request ended, as the canary counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The component answered with this status.
    Answered(u16),
    /// The instance trapped (or was lost with a trapping neighbour): a 500.
    Trap,
    /// The request overran its deadline: a 504.
    Deadline,
    /// No replica of this version could take it: a 503.
    Overloaded,
}

/// Sub-buckets per power of two: bucket bounds grow by 2^(1/8) ≈ 9 %.
const STEPS_PER_DOUBLING: f64 = 8.0;
/// 2^(224/8) µs ≈ 268 s: longer requests land in the last bucket.
const BUCKETS: usize = 224;

/// Counters of one version; shared by every request routed to it.
pub struct Tally {
    requests: AtomicU64,
    server_errors: AtomicU64,
    client_errors: AtomicU64,
    traps: AtomicU64,
    deadline_kills: AtomicU64,
    latency: [AtomicU64; BUCKETS],
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            requests: AtomicU64::new(0),
            server_errors: AtomicU64::new(0),
            client_errors: AtomicU64::new(0),
            traps: AtomicU64::new(0),
            deadline_kills: AtomicU64::new(0),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Tally {
    pub fn record(&self, outcome: Outcome, latency: Duration) {
        self.requests.fetch_add(1, Relaxed);
        match outcome {
            Outcome::Answered(status) if status >= 500 => self.server_errors.fetch_add(1, Relaxed),
            Outcome::Answered(status) if status >= 400 => self.client_errors.fetch_add(1, Relaxed),
            Outcome::Answered(_) => 0,
            Outcome::Trap => {
                self.traps.fetch_add(1, Relaxed);
                self.server_errors.fetch_add(1, Relaxed)
            }
            Outcome::Deadline => {
                self.deadline_kills.fetch_add(1, Relaxed);
                self.server_errors.fetch_add(1, Relaxed)
            }
            Outcome::Overloaded => self.server_errors.fetch_add(1, Relaxed),
        };
        self.latency[bucket(latency)].fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        self.counts().snapshot()
    }

    /// The counters as they stand, histogram included (what a gateway of a
    /// fleet publishes, to be summed with the others').
    pub fn counts(&self) -> Counts {
        Counts {
            requests: self.requests.load(Relaxed),
            server_errors: self.server_errors.load(Relaxed),
            client_errors: self.client_errors.load(Relaxed),
            traps: self.traps.load(Relaxed),
            deadline_kills: self.deadline_kills.load(Relaxed),
            latency: self.latency.iter().map(|b| b.load(Relaxed)).collect(),
        }
    }
}

/// A reading of a [`Tally`]: plain numbers that add up across gateways
/// (the histogram too, so the sum's p99 is the fleet's, not an average).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub requests: u64,
    pub server_errors: u64,
    pub client_errors: u64,
    pub traps: u64,
    pub deadline_kills: u64,
    /// Requests per latency bucket.
    pub latency: Vec<u64>,
}

impl Counts {
    /// Adds `other` to these counts.
    pub fn add(&mut self, other: &Counts) {
        self.requests += other.requests;
        self.server_errors += other.server_errors;
        self.client_errors += other.client_errors;
        self.traps += other.traps;
        self.deadline_kills += other.deadline_kills;
        if self.latency.len() < other.latency.len() {
            self.latency.resize(other.latency.len(), 0);
        }
        for (sum, n) in self.latency.iter_mut().zip(&other.latency) {
            *sum += n;
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            requests: self.requests,
            server_errors: self.server_errors,
            client_errors: self.client_errors,
            traps: self.traps,
            deadline_kills: self.deadline_kills,
            p99_ms: quantile(&self.latency, 0.99).map(|micros| micros / 1000.0),
        }
    }
}

fn bucket(latency: Duration) -> usize {
    let micros = latency.as_micros().max(1) as f64;
    ((micros.log2() * STEPS_PER_DOUBLING) as usize).min(BUCKETS - 1)
}

/// The upper bound, in µs, of the bucket holding quantile `q`.
fn quantile(counts: &[u64], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, n) in counts.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(2f64.powf((i + 1) as f64 / STEPS_PER_DOUBLING));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_counted_by_class() {
        let tally = Tally::default();
        let ms = Duration::from_millis(1);
        for outcome in [
            Outcome::Answered(200),
            Outcome::Answered(404),
            Outcome::Answered(503),
            Outcome::Trap,
            Outcome::Deadline,
            Outcome::Overloaded,
        ] {
            tally.record(outcome, ms);
        }
        let s = tally.snapshot();
        assert_eq!(
            (
                s.requests,
                s.client_errors,
                s.server_errors,
                s.traps,
                s.deadline_kills
            ),
            (6, 1, 4, 1, 1)
        );
        assert!((s.share(s.server_errors) - 4.0 / 6.0).abs() < 1e-9);
        assert_eq!(Snapshot::default().share(0), 0.0);
    }

    #[test]
    fn p99_is_within_a_bucket_of_the_true_value() {
        let tally = Tally::default();
        // 990 fast requests (1–2 ms) and 10 slow ones at 40 ms: the 99th
        // percentile is the last fast one.
        for i in 0..990u64 {
            tally.record(Outcome::Answered(200), Duration::from_micros(1000 + i));
        }
        for _ in 0..10 {
            tally.record(Outcome::Answered(200), Duration::from_millis(40));
        }
        let p99 = tally.snapshot().p99_ms.unwrap();
        assert!((1.989..=1.989 * 1.1).contains(&p99), "p99 {p99}");
        // One more slow request moves it to the slow ones.
        tally.record(Outcome::Answered(200), Duration::from_millis(40));
        let p99 = tally.snapshot().p99_ms.unwrap();
        assert!((40.0..=44.0).contains(&p99), "p99 {p99}");
        assert_eq!(Tally::default().snapshot().p99_ms, None);
    }

    #[test]
    fn counts_add_up_to_the_fleet_p99() {
        // Two gateways: one saw only fast requests, the other a few slow
        // ones; the summed histogram puts the p99 where the whole fleet's is.
        let (fast, slow) = (Tally::default(), Tally::default());
        for _ in 0..500 {
            fast.record(Outcome::Answered(200), Duration::from_millis(1));
        }
        for _ in 0..480 {
            slow.record(Outcome::Answered(200), Duration::from_millis(1));
        }
        for _ in 0..20 {
            slow.record(Outcome::Answered(500), Duration::from_millis(40));
        }
        let mut sum = Counts::default();
        sum.add(&fast.counts());
        sum.add(&slow.counts());
        let s = sum.snapshot();
        assert_eq!((s.requests, s.server_errors), (1000, 20));
        assert!((40.0..=44.0).contains(&s.p99_ms.unwrap()), "{s:?}");
        assert!(slow.snapshot().p99_ms.unwrap() >= 40.0);
        assert!(fast.snapshot().p99_ms.unwrap() < 1.1);
    }
}

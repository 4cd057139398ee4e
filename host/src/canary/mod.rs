//! Canary deploys: a new version serves a share of a component's requests
//! (public and chained) beside the stable version, on replicas of its own,
//! until [`judge`] compares the two; then it is promoted or rolled back.
//!
//! - [`stats`]: what each version answered during the canary;
//! - [`judge`]: the rules that decide.
//!
//! [`Slot`] is a component's canary, if any, and its last decision;
//! `deploy` starts, promotes and aborts canaries.

pub mod judge;
pub mod stats;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwapOption;
use wasmtime_wasi_http::WasiBody;

use crate::api::{Report, State, rfc3339};
use crate::instance::ComponentVersion;
use crate::pool::{DispatchError, ReplicaSet};
pub use judge::{Policy, Verdict};
use stats::{Outcome, Tally};

type Response = http::Response<WasiBody>;

/// A running canary.
pub struct Canary {
    version: Arc<ComponentVersion>,
    stable_version: String,
    replicas: Arc<ReplicaSet>,
    /// Percent of the component's requests it gets (1–99).
    share: u8,
    policy: Policy,
    started: Instant,
    started_at: SystemTime,
    routed: AtomicU64,
    stable: Tally,
    canary: Tally,
}

impl Canary {
    /// `version` on replicas of its own (as many as the stable version has),
    /// ready to take `share` % of the requests of `stable`'s component.
    pub fn new(
        stable: &ReplicaSet,
        version: Arc<ComponentVersion>,
        share: u8,
        policy: Policy,
    ) -> Self {
        Self {
            stable_version: stable.current().label(),
            replicas: ReplicaSet::new(version.clone(), stable.settings().clone()),
            version,
            share: share.clamp(1, 99),
            policy,
            started: Instant::now(),
            started_at: SystemTime::now(),
            routed: AtomicU64::new(0),
            stable: Tally::default(),
            canary: Tally::default(),
        }
    }

    pub fn version(&self) -> &Arc<ComponentVersion> {
        &self.version
    }

    /// Whether the next request goes to the canary: exactly `share` of
    /// every 100, spread evenly.
    fn takes_next(&self) -> bool {
        takes(self.routed.fetch_add(1, Relaxed), self.share)
    }

    /// Runs `request` on the canary or on `stable`, and counts how it ended.
    /// Returns the version it was sent to, with the result.
    pub async fn dispatch(
        &self,
        stable: &Arc<ReplicaSet>,
        request: http::Request<WasiBody>,
    ) -> (Arc<ComponentVersion>, Result<Response, DispatchError>) {
        let (set, tally) = if self.takes_next() {
            (&self.replicas, &self.canary)
        } else {
            (stable, &self.stable)
        };
        let started = Instant::now();
        let (version, result) = set.dispatch(request).await;
        tally.record(outcome(&result), started.elapsed());
        (version, result)
    }

    /// The verdict, once there is one.
    pub fn verdict(&self) -> Option<Verdict> {
        judge::judge(
            &self.stable.snapshot(),
            &self.canary.snapshot(),
            self.started.elapsed(),
            &self.policy,
        )
    }

    /// The stable and canary counters, histograms included (what a gateway
    /// of a fleet publishes for the fleet's judge).
    pub fn counts(&self) -> (stats::Counts, stats::Counts) {
        (self.stable.counts(), self.canary.counts())
    }

    /// What `comptoir status` shows while it runs.
    pub fn report(&self) -> Report {
        let elapsed = self.started.elapsed();
        Report {
            state: State::Running,
            version: self.version.label(),
            stable_version: self.stable_version.clone(),
            share: self.share,
            started_at: rfc3339(self.started_at),
            elapsed_s: elapsed.as_secs_f64(),
            time_left_s: Some(self.policy.window.saturating_sub(elapsed).as_secs_f64()),
            min_requests: self.policy.min_requests,
            stable: self.stable.snapshot(),
            canary: self.canary.snapshot(),
            reason: None,
            manual: false,
        }
    }

    /// The canary's live replicas.
    pub fn replicas(&self) -> Vec<Arc<crate::pool::Replica>> {
        self.replicas.replicas()
    }

    /// Ends the canary's replicas (requests they run finish first; those
    /// routed to the canary but not yet running go to `stable`).
    pub fn retire(&self, stable: &Arc<ReplicaSet>) {
        self.replicas.retire_into(stable.clone());
    }
}

/// Whether request number `n` (from 0) goes to a canary taking `share` %.
fn takes(n: u64, share: u8) -> bool {
    let share = u64::from(share);
    (n + 1) * share / 100 != n * share / 100
}

fn outcome(result: &Result<Response, DispatchError>) -> Outcome {
    match result {
        Ok(response) => Outcome::Answered(response.status().as_u16()),
        Err(DispatchError::Overloaded { .. }) => Outcome::Overloaded,
        Err(DispatchError::Timeout { .. } | DispatchError::Expired { .. }) => Outcome::Deadline,
        Err(DispatchError::Failed { .. } | DispatchError::Interrupted { .. }) => Outcome::Trap,
    }
}

/// A component's canary: the running one, if any, and the last decision.
#[derive(Default)]
pub struct Slot {
    running: ArcSwapOption<Canary>,
    last: Mutex<Option<Report>>,
}

impl Slot {
    /// The running canary, if any (cheap: read on every request).
    pub fn running(&self) -> Option<Arc<Canary>> {
        self.running.load_full()
    }

    /// Starts `canary` unless one is running (then gives it back).
    pub fn start(&self, canary: Arc<Canary>) -> Result<(), Arc<Canary>> {
        let previous = self
            .running
            .compare_and_swap(&None::<Arc<Canary>>, Some(canary.clone()));
        match &*previous {
            None => Ok(()),
            Some(_) => Err(canary),
        }
    }

    /// Ends `canary` if it is still the running one, recording how it
    /// ended: exactly one caller (the judge or a manual override) gets the
    /// report. Readers never see it neither running nor decided.
    pub fn end(
        &self,
        canary: &Arc<Canary>,
        state: State,
        reason: String,
        manual: bool,
    ) -> Option<Report> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let previous = self.running.compare_and_swap(canary, None::<Arc<Canary>>);
        if !previous.as_ref().is_some_and(|p| Arc::ptr_eq(p, canary)) {
            return None;
        }
        let mut report = canary.report();
        report.state = state;
        report.time_left_s = None;
        report.reason = Some(reason);
        report.manual = manual;
        *last = Some(report.clone());
        Some(report)
    }

    /// The running canary's report, else the last decision's.
    pub fn report(&self) -> Option<Report> {
        // `last` first: `end` holds it while the canary stops running.
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match self.running() {
            Some(canary) => Some(canary.report()),
            None => last.clone(),
        }
    }
}

/// How often a running canary is judged.
pub const JUDGE_EVERY: Duration = Duration::from_millis(100);

#[cfg(test)]
mod tests {
    use super::takes;

    #[test]
    fn the_split_sends_exactly_the_share_spread_evenly() {
        for share in [1u8, 10, 33, 50, 99] {
            let taken: Vec<u64> = (0..1000u64).filter(|n| takes(*n, share)).collect();
            assert_eq!(taken.len() as u64, u64::from(share) * 10, "share {share}");
            // Never two in a row below one half, and every hundred gets its share.
            for hundred in 0..10 {
                let in_it = taken.iter().filter(|n| **n / 100 == hundred).count();
                assert_eq!(
                    in_it,
                    usize::from(share),
                    "share {share}, hundred {hundred}"
                );
            }
        }
        assert_eq!(
            (0..10).filter(|n| takes(*n, 10)).collect::<Vec<_>>(),
            vec![9]
        );
    }
}

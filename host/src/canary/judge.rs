//! The verdict on a canary: plain rules comparing what the canary answered
//! with what the stable version answered over the same window.

use std::time::Duration;

use crate::api::Snapshot;

/// When a canary is judged and how much worse than stable it may be.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Canary requests after which it is judged…
    pub min_requests: u64,
    /// …or time after which it is judged on what it saw.
    pub window: Duration,
    /// Allowed increase of the 5xx, trap and deadline-kill rates (a share:
    /// 0.01 = one percentage point).
    pub max_error_increase: f64,
    /// Allowed increase of the share of 4xx answers (a lost route answers
    /// 404 where the stable version answered 200).
    pub max_4xx_increase: f64,
    /// Allowed ratio of canary p99 to stable p99 (beyond [`P99_SLACK_MS`]).
    pub max_p99_ratio: f64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            min_requests: 200,
            window: Duration::from_secs(60),
            max_error_increase: 0.01,
            max_4xx_increase: 0.05,
            max_p99_ratio: 1.5,
        }
    }
}

/// A canary p99 within this many ms of stable's is never "slower": below a
/// few milliseconds the ratio is noise.
pub const P99_SLACK_MS: f64 = 5.0;
/// Canary requests from which its p99 is judged: over fewer, p99 is the
/// slowest request or two (a fresh replica's first requests, a busy
/// moment), which says nothing about the version.
pub const P99_MIN_REQUESTS: u64 = 100;
/// Server errors after which a canary that is already worse than stable is
/// rolled back at once, without waiting for the window.
pub const EARLY_ROLLBACK_ERRORS: u64 = 5;

/// What to do with a canary.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// No worse than stable; the text says by what measure.
    Promote(String),
    /// Worse than stable; the text says how.
    RollBack(String),
}

/// The verdict, or `None` while the canary is still being watched.
pub fn judge(
    stable: &Snapshot,
    canary: &Snapshot,
    elapsed: Duration,
    policy: &Policy,
) -> Option<Verdict> {
    let failures = failure_regressions(stable, canary, policy);
    if canary.server_errors >= EARLY_ROLLBACK_ERRORS && !failures.is_empty() {
        return Some(Verdict::RollBack(failures.join("; ")));
    }
    if canary.requests < policy.min_requests && elapsed < policy.window {
        return None;
    }
    if canary.requests == 0 {
        return Some(Verdict::RollBack(format!(
            "no request reached the canary in {}: nothing to judge it by (promote it by hand)",
            humantime(elapsed)
        )));
    }
    let mut worse = failures;
    worse.extend(other_regressions(stable, canary, policy));
    Some(if worse.is_empty() {
        Verdict::Promote(format!(
            "no worse than stable over {} canary requests: 5xx {} vs {}, 4xx {} vs {}, p99 {} vs {}",
            canary.requests,
            percent(canary.share(canary.server_errors)),
            percent(stable.share(stable.server_errors)),
            percent(canary.share(canary.client_errors)),
            percent(stable.share(stable.client_errors)),
            ms(canary.p99_ms),
            ms(stable.p99_ms),
        ))
    } else {
        Verdict::RollBack(worse.join("; "))
    })
}

/// Rates of failed requests where the canary is worse than allowed.
fn failure_regressions(stable: &Snapshot, canary: &Snapshot, policy: &Policy) -> Vec<String> {
    let measures = [
        ("5xx", canary.server_errors, stable.server_errors),
        ("trap", canary.traps, stable.traps),
        (
            "deadline-kill",
            canary.deadline_kills,
            stable.deadline_kills,
        ),
    ];
    measures
        .into_iter()
        .filter_map(|(what, c, s)| {
            let (c_rate, s_rate) = (canary.share(c), stable.share(s));
            (c > 0 && c_rate > s_rate + policy.max_error_increase).then(|| {
                format!(
                    "{what} rate {} ({c} of {}) vs {} on stable",
                    percent(c_rate),
                    canary.requests,
                    percent(s_rate)
                )
            })
        })
        .collect()
}

/// 4xx share and latency, judged only at the end of the window.
fn other_regressions(stable: &Snapshot, canary: &Snapshot, policy: &Policy) -> Vec<String> {
    let mut worse = Vec::new();
    let (c4, s4) = (
        canary.share(canary.client_errors),
        stable.share(stable.client_errors),
    );
    if c4 > s4 + policy.max_4xx_increase {
        worse.push(format!(
            "4xx share {} vs {} on stable (a lost route?)",
            percent(c4),
            percent(s4)
        ));
    }
    if let (Some(c), Some(s)) = (canary.p99_ms, stable.p99_ms)
        && canary.requests >= P99_MIN_REQUESTS
        && c > (s * policy.max_p99_ratio).max(s + P99_SLACK_MS)
    {
        worse.push(format!("p99 {c:.1} ms vs {s:.1} ms on stable"));
    }
    worse
}

fn percent(share: f64) -> String {
    format!("{:.1} %", share * 100.0)
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "–".into(), |v| format!("{v:.1} ms"))
}

fn humantime(d: Duration) -> String {
    format!("{:.0} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(requests: u64, server_errors: u64, client_errors: u64, p99_ms: f64) -> Snapshot {
        Snapshot {
            requests,
            server_errors,
            client_errors,
            traps: 0,
            deadline_kills: 0,
            p99_ms: Some(p99_ms),
        }
    }

    const EARLY: Duration = Duration::from_secs(1);
    const LATE: Duration = Duration::from_secs(61);

    #[test]
    fn a_canary_like_stable_is_promoted_once_it_saw_enough() {
        let policy = Policy::default();
        let stable = seen(1800, 2, 90, 3.0);
        assert_eq!(judge(&stable, &seen(199, 0, 10, 3.2), EARLY, &policy), None);
        let verdict = judge(&stable, &seen(200, 0, 10, 3.2), EARLY, &policy);
        assert!(matches!(verdict, Some(Verdict::Promote(_))), "{verdict:?}");
    }

    #[test]
    fn the_window_ends_the_wait() {
        let policy = Policy::default();
        let stable = seen(90, 0, 0, 3.0);
        assert!(matches!(
            judge(&stable, &seen(10, 0, 0, 3.0), LATE, &policy),
            Some(Verdict::Promote(_))
        ));
        let Some(Verdict::RollBack(reason)) = judge(&stable, &Snapshot::default(), LATE, &policy)
        else {
            panic!("a canary nobody called is not promoted");
        };
        assert!(reason.contains("no request"), "{reason}");
    }

    #[test]
    fn failing_canaries_are_rolled_back_early() {
        let policy = Policy::default();
        let stable = seen(400, 0, 0, 3.0);
        // 4 errors: not yet.
        assert_eq!(judge(&stable, &seen(40, 4, 0, 3.0), EARLY, &policy), None);
        let Some(Verdict::RollBack(reason)) = judge(&stable, &seen(41, 5, 0, 3.0), EARLY, &policy)
        else {
            panic!("5 errors in 41 requests is worse than none");
        };
        assert!(reason.starts_with("5xx rate 12.2 %"), "{reason}");
        // Just as many errors on stable's scale: no early verdict.
        assert_eq!(
            judge(&seen(400, 60, 0, 3.0), &seen(40, 6, 0, 3.0), EARLY, &policy),
            None
        );
    }

    #[test]
    fn traps_and_deadline_kills_are_named() {
        let policy = Policy::default();
        let mut canary = seen(200, 7, 0, 3.0);
        canary.traps = 4;
        canary.deadline_kills = 3;
        let Some(Verdict::RollBack(reason)) =
            judge(&seen(2000, 0, 0, 3.0), &canary, EARLY, &policy)
        else {
            panic!("traps are failures");
        };
        assert!(
            reason.contains("trap rate 2.0 %") && reason.contains("deadline-kill rate 1.5 %"),
            "{reason}"
        );
    }

    #[test]
    fn a_lost_route_is_worse() {
        let policy = Policy::default();
        let Some(Verdict::RollBack(reason)) = judge(
            &seen(2000, 0, 100, 3.0),
            &seen(200, 0, 60, 3.0),
            EARLY,
            &policy,
        ) else {
            panic!("30 % of 4xx against 5 % is a regression");
        };
        assert!(reason.contains("4xx share 30.0 % vs 5.0 %"), "{reason}");
        // Within the allowance: promoted.
        assert!(matches!(
            judge(
                &seen(2000, 0, 100, 3.0),
                &seen(200, 0, 19, 3.0),
                EARLY,
                &policy
            ),
            Some(Verdict::Promote(_))
        ));
    }

    #[test]
    fn slower_means_beyond_both_ratio_and_slack() {
        let policy = Policy::default();
        let stable = seen(2000, 0, 0, 2.0);
        // 3× slower but within 5 ms: noise at this scale.
        assert!(matches!(
            judge(&stable, &seen(200, 0, 0, 6.0), EARLY, &policy),
            Some(Verdict::Promote(_))
        ));
        let stable = seen(2000, 0, 0, 20.0);
        assert!(matches!(
            judge(&stable, &seen(200, 0, 0, 29.0), EARLY, &policy),
            Some(Verdict::Promote(_))
        ));
        let Some(Verdict::RollBack(reason)) =
            judge(&stable, &seen(200, 0, 0, 31.0), EARLY, &policy)
        else {
            panic!("1.55× and 11 ms slower is a regression");
        };
        assert_eq!(reason, "p99 31.0 ms vs 20.0 ms on stable");
    }

    #[test]
    fn latency_is_not_judged_on_a_handful_of_requests() {
        let policy = Policy {
            min_requests: 60,
            ..Policy::default()
        };
        let stable = seen(2000, 0, 0, 10.0);
        // 60 requests: p99 is the slowest one; twice stable's is no verdict.
        assert!(matches!(
            judge(&stable, &seen(60, 0, 0, 20.0), EARLY, &policy),
            Some(Verdict::Promote(_))
        ));
        assert!(matches!(
            judge(&stable, &seen(P99_MIN_REQUESTS, 0, 0, 20.0), EARLY, &policy),
            Some(Verdict::RollBack(_))
        ));
    }
}

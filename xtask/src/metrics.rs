//! What comptoir counts per order flow, from its own metrics: component
//! invocations and SQL statements, scraped from the admin listener's
//! `GET /metrics` (Prometheus text, read with `prometheus-parse`, as the
//! integration tests read it) before and after a run.

use anyhow::{Context as _, bail};
use prometheus_parse::{Sample, Scrape, Value};

/// Requests run by each component (labels `component`, `caller`).
const INVOCATIONS: &str = "comptoir_component_invocations_total";
/// Statements run by components (label `database`): the histogram's count.
const STATEMENTS: &str = "comptoir_db_query_duration_seconds_count";

/// Invocations and statements, summed over every label set.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    pub invocations: f64,
    pub statements: f64,
}

impl Counts {
    /// The counts of every comptoir process behind `admin_urls`, summed.
    pub fn scrape(admin_urls: &[String]) -> anyhow::Result<Self> {
        admin_urls.iter().try_fold(Self::default(), |total, url| {
            let mut response = crate::http().get(format!("{url}/metrics")).call()?;
            if response.status() != 200 {
                bail!("GET {url}/metrics answered {}", response.status());
            }
            let text = response
                .body_mut()
                .read_to_string()
                .context("/metrics is not UTF-8")?;
            let counts = Self::parse(&text);
            Ok(Self {
                invocations: total.invocations + counts.invocations,
                statements: total.statements + counts.statements,
            })
        })
    }

    /// The counts in one Prometheus text exposition.
    pub fn parse(text: &str) -> Self {
        let samples = samples(text);
        Self {
            invocations: sum(&samples, INVOCATIONS),
            statements: sum(&samples, STATEMENTS),
        }
    }

    /// What was counted from `before` to `self`, per completed flow (none
    /// when no flow completed).
    pub fn per_flow(self, before: Self, flows: u64) -> Option<Self> {
        (flows > 0).then(|| Self {
            invocations: (self.invocations - before.invocations) / flows as f64,
            statements: (self.statements - before.statements) / flows as f64,
        })
    }
}

/// The samples of a Prometheus text exposition (`prometheus-parse`; lines
/// it cannot read are left out).
fn samples(text: &str) -> Vec<Sample> {
    Scrape::parse(text.lines().map(|line| Ok(line.to_owned())))
        .expect("lines of a string read without I/O errors")
        .samples
}

/// The sum of every sample of counter (or untyped) metric `name`, whatever
/// its labels. A histogram's `_count` is such a metric.
fn sum(samples: &[Sample], name: &str) -> f64 {
    samples
        .iter()
        .filter(|s| s.metric == name)
        .filter_map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
            Value::Histogram(_) | Value::Summary(_) => None,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# HELP comptoir_component_invocations_total Requests run by each component.
# TYPE comptoir_component_invocations_total counter
comptoir_component_invocations_total{caller=\"public\",component=\"panier\"} 40
comptoir_component_invocations_total{caller=\"commande\",component=\"panier\"} 10
comptoir_component_invocations_total{caller=\"public\",component=\"clients\"} 1e1
# TYPE comptoir_db_query_duration_seconds histogram
comptoir_db_query_duration_seconds_bucket{database=\"panier\",le=\"0.001\"} 70
comptoir_db_query_duration_seconds_sum{database=\"panier\"} 0.05
comptoir_db_query_duration_seconds_count{database=\"panier\"} 80
comptoir_db_query_duration_seconds_count{database=\"odd name, spaced\"} 40 1700000000000
comptoir_requests_total{component=\"panier\"} 999
";

    /// Every label set is summed; buckets, sums, comments, timestamps and
    /// other metrics are not.
    #[test]
    fn sums_every_label_set_of_the_two_metrics() {
        assert_eq!(
            Counts::parse(TEXT),
            Counts {
                invocations: 60.0,
                statements: 120.0
            }
        );
    }

    /// A name that only starts with the metric's name is another metric.
    #[test]
    fn a_longer_name_is_another_metric() {
        assert_eq!(
            Counts::parse("comptoir_component_invocations_total_x 5\n").invocations,
            0.0
        );
        assert_eq!(
            Counts::parse("comptoir_component_invocations_total 5\n").invocations,
            5.0
        );
    }

    /// Deltas are divided by completed flows; no flow, no figure.
    #[test]
    fn per_flow_divides_the_deltas() {
        let before = Counts {
            invocations: 100.0,
            statements: 50.0,
        };
        let after = Counts {
            invocations: 200.0,
            statements: 170.0,
        };
        assert_eq!(
            after.per_flow(before, 10),
            Some(Counts {
                invocations: 10.0,
                statements: 12.0
            })
        );
        assert_eq!(after.per_flow(before, 0), None);
    }
}

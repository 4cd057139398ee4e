//! What comptoir counts per order flow, from its own metrics: component
//! invocations and SQL statements, scraped from the admin listener's
//! `GET /metrics` (Prometheus text) before and after a run.

use anyhow::{Context as _, bail};

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
        Self {
            invocations: sum(text, INVOCATIONS),
            statements: sum(text, STATEMENTS),
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

/// The sum of every sample of metric `name`, whatever its labels.
fn sum(text: &str, name: &str) -> f64 {
    text.lines().filter_map(|line| sample(line, name)).sum()
}

/// The value of `line` if it is a sample of `name` (`name{…} value [ts]`
/// or `name value [ts]`); label values may hold spaces and braces.
fn sample(line: &str, name: &str) -> Option<f64> {
    let rest = line.strip_prefix(name)?;
    let rest = match rest.strip_prefix('{') {
        Some(labels) => &labels[labels.rfind('}')? + 1..],
        None => rest,
    };
    if !rest.starts_with(' ') {
        // Another metric whose name starts with `name` (`…_count_x`).
        return None;
    }
    rest.split_whitespace().next()?.parse().ok()
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
comptoir_db_query_duration_seconds_count{database=\"odd } name\"} 40 1700000000000
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
            sum("comptoir_component_invocations_total_x 5\n", INVOCATIONS),
            0.0
        );
        assert_eq!(
            sum("comptoir_component_invocations_total 5\n", INVOCATIONS),
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

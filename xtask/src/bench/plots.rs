//! The flows benchmark's charts: latency percentiles against the arrival
//! rate for comptoir (b) and Spin, and CPU per flow by process family
//! beside the PostgreSQL floor; medians, min–max whiskers.

use std::path::Path;

use super::chart::{self, Bar, Bars, Point, Series};
use super::floor::FloorRow;
use super::spread::Spread;
use super::{Load, Row};

/// The rows drawn and what they are called: comptoir (b) and Spin.
const RUNTIMES: [(&str, &str); 2] = [("b", "comptoir"), ("spin", "Spin")];

/// `bench-latency.svg`: p50 and p99 against completed flows/s, a line per
/// runtime and percentile, a point per load (named on the p99 line).
pub fn latency(path: &Path, rows: &[Row]) -> anyhow::Result<()> {
    let mut series = Vec::new();
    for (tag, name) in RUNTIMES {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.tag == tag).collect();
        for (percentile, figure) in [
            (
                "p50",
                (|f: &crate::load::Figures| f.med_ms) as fn(&_) -> f64,
            ),
            ("p99", |f| f.p99_ms),
        ] {
            let points = mine
                .iter()
                .filter_map(|r| {
                    Some(Point {
                        x: r.k6(|f| f.completed_per_s)?.median,
                        y: r.k6(figure)?,
                        label: (percentile == "p99").then(|| short_load(r.load)),
                    })
                })
                .collect::<Vec<_>>();
            if !points.is_empty() {
                series.push(Series {
                    name: format!("{name} {percentile}"),
                    points,
                });
            }
        }
    }
    chart::lines(
        path,
        &format!(
            "Order flow: latency per request against arrival rate ({})",
            runs_note(rows)
        ),
        "arrival rate (completed flows/s)",
        "latency per request (ms, log scale)",
        &series,
    )
}

/// `bench-cpu.svg`: CPU-ms per completed flow of the server, PostgreSQL
/// and k6, for every setup at 10 VUs (or the first level) and the fixed
/// rate, beside the floor (pgbench for k6) at as many clients.
pub fn cpu(path: &Path, rows: &[Row], floor: &[FloorRow]) -> anyhow::Result<()> {
    let level = reference_level(rows);
    let mut bars = Vec::new();
    for row in rows
        .iter()
        .filter(|r| Some(r.load) == level || matches!(r.load, Load::Rate(_)))
    {
        let group = format!("{} {}", short_tag(row.tag), short_load(row.load));
        bars.extend(family_bars(
            &group,
            [
                (SERVER, row.spread(|s| s.server_ms)),
                (POSTGRES, row.spread(|s| s.postgres_ms)),
                (CLIENT, row.spread(|s| s.k6_ms)),
            ],
        ));
    }
    let clients = match level {
        Some(Load::Vus(n)) => Some(n),
        _ => None,
    };
    for f in floor.iter().filter(|f| Some(f.clients) == clients) {
        bars.extend(family_bars(
            &format!("floor {} clients", f.clients),
            [
                (POSTGRES, f.spread(|r| r.postgres_ms)),
                (CLIENT, f.spread(|r| r.client_ms)),
            ],
        ));
    }
    chart::bars(
        path,
        &format!(
            "Order flow: CPU per completed flow by process family ({})",
            runs_note(rows)
        ),
        &[Bars {
            y_label: "CPU-ms per completed flow",
            bars: &bars,
        }],
    )
}

/// A bar in `group` for each process family that has a figure.
fn family_bars<const N: usize>(
    group: &str,
    families: [(&str, Option<Spread>); N],
) -> impl Iterator<Item = Bar> {
    families.into_iter().filter_map(move |(series, value)| {
        Some(Bar {
            group: group.to_owned(),
            series: series.to_owned(),
            value: value?,
        })
    })
}

const SERVER: &str = "server (comptoir; + NGINX for (c); spin up for Spin)";
const POSTGRES: &str = "PostgreSQL";
const CLIENT: &str = "k6 (pgbench for the floor)";

/// The VU level the CPU chart shows: 10 if measured, else the first.
fn reference_level(rows: &[Row]) -> Option<Load> {
    let levels = || {
        rows.iter()
            .map(|r| r.load)
            .filter(|l| matches!(l, Load::Vus(_)))
    };
    levels()
        .find(|l| *l == Load::Vus(10))
        .or_else(|| levels().next())
}

fn short_tag(tag: &str) -> String {
    match tag {
        "spin" => "Spin".to_owned(),
        tag => format!("({tag})"),
    }
}

fn short_load(load: Load) -> String {
    match load {
        Load::Vus(_) => load.to_string(),
        Load::Rate(n) => format!("{n}/s"),
    }
}

/// "median and min–max of N runs" for a chart's title.
fn runs_note(rows: &[Row]) -> String {
    chart::over_runs(rows.iter().map(|r| r.runs.len()).max().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::super::Sample;
    use super::super::floor::Floor;
    use super::*;
    use crate::load::Figures;

    fn sample(rate: f64, p50: f64, p99: f64, server_ms: f64) -> Sample {
        Sample {
            figures: Figures {
                completed_per_s: rate,
                med_ms: p50,
                p99_ms: p99,
                ..Figures::default()
            },
            k6_passed: true,
            server_ms: Some(server_ms),
            postgres_ms: Some(server_ms * 0.9),
            k6_ms: Some(server_ms * 0.6),
            counts: None,
            rss_bytes: None,
        }
    }

    /// Three runs of a row, spread around `rate`, `p50`, `p99`, `cpu`.
    fn row(tag: &'static str, load: Load, (rate, p50, p99, cpu): (f64, f64, f64, f64)) -> Row {
        Row {
            tag,
            setup: tag.to_owned(),
            load,
            runs: [0.95, 1.0, 1.1]
                .iter()
                .map(|k| sample(rate * k, p50 * k, p99 * k, cpu * k))
                .collect(),
        }
    }

    fn rows() -> Vec<Row> {
        vec![
            row("a", Load::Vus(10), (134.0, 9.0, 28.8, 3.66)),
            row("b", Load::Vus(1), (99.8, 0.96, 4.03, 4.98)),
            row("b", Load::Vus(10), (236.8, 4.9, 17.7, 2.87)),
            row("b", Load::Vus(50), (215.9, 28.3, 96.3, 3.05)),
            row("b", Load::Rate(40), (40.0, 1.04, 3.79, 5.51)),
            row("spin", Load::Vus(1), (3.1, 43.8, 79.2, 17.6)),
            row("spin", Load::Vus(10), (30.4, 47.4, 60.0, 11.2)),
            row("spin", Load::Vus(50), (92.1, 67.9, 189.6, 7.75)),
            row("spin", Load::Rate(40), (39.2, 47.1, 62.1, 11.2)),
            row("b1", Load::Vus(10), (215.6, 5.2, 19.7, 2.55)),
            row("b1", Load::Rate(40), (39.9, 1.13, 16.8, 4.41)),
        ]
    }

    fn text(path: &Path) -> String {
        let svg = std::fs::read_to_string(path).expect("the chart was written");
        roxmltree::Document::parse(&svg).expect("well-formed XML");
        svg
    }

    /// Latency: a line per runtime and percentile; CPU: every setup at
    /// 10 VUs and the fixed rate, every family, the floor beside them.
    #[test]
    fn charts_name_runtimes_setups_and_families() {
        let dir = std::env::temp_dir().join(format!("xtask-plots-{}", std::process::id()));
        let rows = rows();
        latency(&dir.join("bench-latency.svg"), &rows).unwrap();
        let svg = text(&dir.join("bench-latency.svg"));
        for name in [
            "comptoir p50",
            "comptoir p99",
            "Spin p50",
            "Spin p99",
            "3 runs",
        ] {
            assert!(svg.contains(name), "{name} missing");
        }
        let floor = [FloorRow {
            clients: 10,
            runs: (0..3)
                .map(|i| Floor {
                    tps: 720.0 + i as f64,
                    postgres_ms: Some(2.13),
                    client_ms: Some(0.29),
                })
                .collect(),
        }];
        cpu(&dir.join("bench-cpu.svg"), &rows, &floor).unwrap();
        let svg = text(&dir.join("bench-cpu.svg"));
        for name in [
            "(a) 10 VUs",
            "(b) 40/s",
            "Spin 10 VUs",
            "(b1) 40/s",
            "floor 10 clients",
            SERVER,
            POSTGRES,
            CLIENT,
        ] {
            assert!(svg.contains(name), "{name} missing");
        }
        assert!(
            !svg.contains("(b) 1 VU"),
            "only the reference level is drawn"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}

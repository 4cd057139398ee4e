//! The hello cell's report: every run, the medians of each kind and
//! gateway, comptoir's ratios to `wasmtime serve` and to `spin up`, kind by
//! kind, against the targets, and the chart.

use std::path::Path;

use super::{Gateway, Kind, Sample, WARM_UP};
use crate::bench::chart::{self, Bar, Bars};
use crate::bench::spread::{Spread, judge, shown};

/// µs per request of `ms` CPU over `requests` (none without requests).
pub(super) fn per_request_us(ms: f64, requests: u64) -> Option<f64> {
    (requests > 0).then(|| ms * 1000.0 / requests as f64)
}

/// `us` with one decimal, or empty when not measured.
pub(super) fn us(us: Option<f64>) -> String {
    us.map(|v| format!("{v:.1}")).unwrap_or_default()
}

/// The (kind, gateway) pairs that ran, in order.
fn cells(samples: &[Sample]) -> Vec<(Kind, Gateway)> {
    crate::bench::distinct(samples.iter().map(|s| (s.kind, s.gateway)))
}

/// `figure` over the runs of `gateway` serving `kind`.
fn spread(
    samples: &[Sample],
    (kind, gateway): (Kind, Gateway),
    figure: impl Fn(&Sample) -> Option<f64>,
) -> Option<Spread> {
    Spread::of(
        samples
            .iter()
            .filter(|s| s.kind == kind && s.gateway == gateway)
            .filter_map(figure),
    )
}

fn requests_per_s(s: &Sample) -> Option<f64> {
    Some(s.figures.requests_per_s)
}

fn cpu_us(s: &Sample) -> Option<f64> {
    s.server_us_per_request()
}

/// `figure` of `a` over `figure` of `b` serving `kind`, round by round.
fn ratio(
    samples: &[Sample],
    kind: Kind,
    (a, b): (Gateway, Gateway),
    figure: fn(&Sample) -> Option<f64>,
) -> Option<Spread> {
    let of = |gateway: Gateway, round: u32| {
        samples
            .iter()
            .find(|s| s.kind == kind && s.gateway == gateway && s.round == round)
            .and_then(figure)
    };
    Spread::of_ratios(
        samples
            .iter()
            .filter(|s| s.kind == kind && s.gateway == a)
            .filter_map(|s| Some((of(a, s.round)?, of(b, s.round)?))),
    )
}

/// The cell's markdown: every run, the medians, the ratios, the targets.
pub fn render(samples: &[Sample]) -> String {
    let mut t = format!(
        "\nHello, one component of each kind answering 200 \"hello\" — p3 (`testing-hello`, spin-sdk 7), \
         p2 and p1 (`testing-hello-p2`, a `wasi:http@0.2` guest built as a component and as a \
         `wasm32-wasip1` module): comptoir beside `wasmtime serve` 48 (p3: `-Scli -Sp3 \
         -Wcomponent-model-async`, p2: `-Scli`; it serves no core module) and `spin up` when found, \
         k6 `load/hello.js` (GET /, 32 VUs, 0 failed requests), after an unmeasured {} s run \
         against each, taking turns run by run. Server CPU: the gateway process, from \
         `/proc/<pid>/stat`.\n\n\
         | kind | gateway | run | req/s | avg ms | p50 ms | p99 ms | failed | server CPU-µs/request | k6 CPU-µs/request | k6 thresholds |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
        WARM_UP.as_secs(),
    );
    for s in samples {
        let f = &s.figures;
        t += &format!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} |\n",
            s.kind,
            s.gateway,
            s.round,
            f.requests_per_s,
            f.avg_ms,
            f.med_ms,
            f.p99_ms,
            f.failed,
            us(s.server_us_per_request()),
            us(per_request_us(f.k6_cpu_ms, f.requests)),
            if s.k6_passed {
                "held".to_owned()
            } else {
                format!("**failed**: {}", f.failed_thresholds.join(", "))
            },
        );
    }
    t += "\nMedian (min–max) over the runs:\n\n| kind | gateway | req/s | server CPU-µs/request |\n| --- | --- | ---: | ---: |\n";
    for cell in cells(samples) {
        t += &format!(
            "| {} | {} | {} | {} |\n",
            cell.0,
            cell.1,
            shown(spread(samples, cell, requests_per_s), 0),
            shown(spread(samples, cell, cpu_us), 1),
        );
    }
    t += &targets(samples);
    t
}

/// Kind by kind: comptoir ÷ wasmtime serve and ÷ spin up against the
/// targets.
fn targets(samples: &[Sample]) -> String {
    let mut t = String::from(
        "\nTargets (docs/performance.md), hello, comptoir ÷ the other gateway run by run, judged on the median:\n\n",
    );
    let kinds = crate::bench::distinct(samples.iter().map(|s| s.kind));
    for kind in kinds {
        let ran = |gateway| {
            samples
                .iter()
                .any(|s| s.kind == kind && s.gateway == gateway)
        };
        let shown = |s: &Spread| format!("{} ×", s.show(2));
        if ran(Gateway::Wasmtime) {
            let pair = (Gateway::Comptoir, Gateway::Wasmtime);
            let missing = || "comptoir and wasmtime serve did not both run".to_owned();
            t += &judge(
                &format!("{kind}: requests/s ≥ 1.0 × wasmtime serve"),
                ratio(samples, kind, pair, requests_per_s).ok_or_else(missing),
                |v| v >= 1.0,
                shown,
            );
            t += &judge(
                &format!("{kind}: CPU per request ≤ 1.0 × wasmtime serve"),
                ratio(samples, kind, pair, cpu_us).ok_or_else(missing),
                |v| v <= 1.0,
                shown,
            );
        }
        let pair = (Gateway::Comptoir, Gateway::Spin);
        let no_spin = || "no Spin ran (SPIN_BIN unset, no spin on PATH)".to_owned();
        t += &judge(
            &format!("{kind}: requests/s ≥ 1.5 × spin up"),
            ratio(samples, kind, pair, requests_per_s).ok_or_else(no_spin),
            |v| v >= 1.5,
            shown,
        );
        t += &judge(
            &format!("{kind}: CPU per request ≤ 0.7 × spin up"),
            ratio(samples, kind, pair, cpu_us).ok_or_else(no_spin),
            |v| v <= 0.7,
            shown,
        );
    }
    t
}

/// `bench-hello.svg`: requests/s and server CPU-µs per request of each
/// kind and gateway that ran (medians, min–max whiskers).
pub fn chart(path: &Path, samples: &[Sample]) -> anyhow::Result<()> {
    let bars = |series: &str, figure: fn(&Sample) -> Option<f64>| -> Vec<Bar> {
        cells(samples)
            .into_iter()
            .filter_map(|cell| {
                Some(Bar {
                    group: format!("{} · {}", cell.0, cell.1),
                    series: series.to_owned(),
                    value: spread(samples, cell, figure)?,
                })
            })
            .collect()
    };
    let (throughput, cpu) = (
        bars("requests/s", requests_per_s),
        bars("server CPU-µs per request", cpu_us),
    );
    let runs = samples.iter().map(|s| s.round).max().unwrap_or(0);
    chart::bars(
        path,
        &format!(
            "Hello components, 32 VUs: gateways side by side, kind by kind ({})",
            chart::over_runs(runs as usize)
        ),
        &[
            Bars {
                y_label: "requests/s",
                bars: &throughput,
            },
            Bars {
                y_label: "server CPU-µs per request",
                bars: &cpu,
            },
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Figures;

    fn sample(
        kind: Kind,
        gateway: Gateway,
        round: u32,
        requests: u64,
        requests_per_s: f64,
        server_ms: f64,
    ) -> Sample {
        Sample {
            kind,
            gateway,
            round,
            figures: Figures {
                requests,
                requests_per_s,
                ..Figures::default()
            },
            k6_passed: true,
            server_ms,
        }
    }

    /// Three rounds of two kinds: medians per kind and gateway, ratios
    /// round by round within a kind, verdicts on the median ratio; the
    /// p1 module has no wasmtime serve row.
    #[test]
    fn medians_and_ratios_kind_by_kind() {
        let mut samples = Vec::new();
        for (round, c, w) in [(1, 1000.0, 800.0), (2, 3000.0, 1200.0), (3, 2000.0, 1000.0)] {
            samples.push(sample(Kind::P3, Gateway::Comptoir, round, 10_000, c, 750.0));
            samples.push(sample(
                Kind::P3,
                Gateway::Wasmtime,
                round,
                10_000,
                w,
                1500.0,
            ));
            samples.push(sample(
                Kind::P3,
                Gateway::Spin,
                round,
                10_000,
                w / 2.0,
                3000.0,
            ));
            samples.push(sample(
                Kind::P1,
                Gateway::Comptoir,
                round,
                10_000,
                c / 2.0,
                900.0,
            ));
            samples.push(sample(
                Kind::P1,
                Gateway::Spin,
                round,
                10_000,
                c / 2.0,
                1000.0,
            ));
        }
        let p3 = spread(&samples, (Kind::P3, Gateway::Comptoir), requests_per_s).unwrap();
        assert_eq!((p3.median, p3.min, p3.max), (2000.0, 1000.0, 3000.0));
        let pair = (Gateway::Comptoir, Gateway::Wasmtime);
        let rps = ratio(&samples, Kind::P3, pair, requests_per_s).unwrap();
        assert_eq!((rps.median, rps.min, rps.max), (2.0, 1.25, 2.5));
        assert_eq!(ratio(&samples, Kind::P1, pair, requests_per_s), None);
        let table = render(&samples);
        for line in [
            "p3 component: requests/s ≥ 1.0 × wasmtime serve: **met** — 2.00 (1.25–2.50) ×",
            "p3 component: CPU per request ≤ 1.0 × wasmtime serve: **met** — 0.50 ×",
            "p3 component: requests/s ≥ 1.5 × spin up: **met** — 4.00 (2.50–5.00) ×",
            "p1 module: requests/s ≥ 1.5 × spin up: **missed** — 1.00 ×",
            "p1 module: CPU per request ≤ 0.7 × spin up: **missed** — 0.90 ×",
            "| p3 component | spin up | 500 (400–600) | 300.0 |",
        ] {
            assert!(table.contains(line), "{line} missing:\n{table}");
        }
        assert!(
            !table.contains("p1 module: requests/s ≥ 1.0 × wasmtime"),
            "{table}"
        );
    }

    /// Without requests there is no CPU per request, hence no CPU ratio;
    /// one round gives figures, no verdict; no Spin, no Spin verdict.
    #[test]
    fn no_requests_no_ratio() {
        let samples = [
            sample(Kind::P2, Gateway::Comptoir, 1, 0, 0.0, 10.0),
            sample(Kind::P2, Gateway::Wasmtime, 1, 100, 10.0, 10.0),
        ];
        let pair = (Gateway::Comptoir, Gateway::Wasmtime);
        assert_eq!(ratio(&samples, Kind::P2, pair, cpu_us), None);
        let table = render(&samples);
        assert!(table.contains(
            "p2 component: requests/s ≥ 1.0 × wasmtime serve: 1 run, no verdict: 0.00 ×"
        ));
        assert!(
            table
                .contains("p2 component: CPU per request ≤ 1.0 × wasmtime serve: **not measured**")
        );
        assert!(
            table.contains(
                "p2 component: requests/s ≥ 1.5 × spin up: **not measured** (no Spin ran"
            )
        );
    }

    /// The chart names every kind, gateway and both figures.
    #[test]
    fn chart_names_the_kinds_and_gateways() {
        let samples = [
            sample(Kind::P3, Gateway::Comptoir, 1, 100, 10.0, 10.0),
            sample(Kind::P2, Gateway::Wasmtime, 1, 100, 12.0, 9.0),
        ];
        let dir = std::env::temp_dir().join(format!("xtask-hello-{}", std::process::id()));
        let path = dir.join("bench-hello.svg");
        chart(&path, &samples).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        for name in [
            "p3 component · comptoir",
            "p2 component · wasmtime serve",
            "requests/s",
            "server CPU-µs per request",
        ] {
            assert!(svg.contains(name), "{name} missing");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

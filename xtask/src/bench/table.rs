//! The flows benchmark's markdown: every row as the median (min–max) of its
//! runs with k6's verdicts, Spin ÷ comptoir at the same loads, and every
//! target docs/performance.md sets for (b), each met or missed on its median.

use super::floor::FloorRow;
use super::spread::{Spread, judge, shown};
use super::{Load, Row};

/// Target (docs/performance.md): comptoir's CPU per order flow at 10 VUs, in ms.
const CPU_MS_PER_FLOW: f64 = 3.0;
/// Target (docs/performance.md): per-request latency at the fixed arrival rate, in ms.
const P50_MS: f64 = 1.0;
const P99_MS: f64 = 5.0;
/// Target (docs/performance.md): host RSS after load, 150 MB (in MiB).
const RSS_MIB: f64 = 143.05;
/// Target (docs/performance.md): PostgreSQL's CPU per flow, as a multiple of the floor's.
const POSTGRES_FLOOR_RATIO: f64 = 2.0;
/// Flows/s at 10 VUs, as a share of the floor's (pgbench's flows/s at 10
/// clients on the same PostgreSQL).
const FLOOR_SHARE: f64 = 0.5;
/// Component invocations and SQL statements per order flow: the catalogue
/// issue's aim (before the catalogue the flow took 10 and 12; it takes 14
/// and 17 with it, 11.4 and 14.4 with the gateway's cache of product reads
/// — README, "Service chaining").
const INVOCATIONS_PER_FLOW: f64 = 12.0;
const STATEMENTS_PER_FLOW: f64 = 18.0;
/// The VU level the targets are set at.
const TARGET_VUS: u32 = 10;

/// `ms` with two decimals, or empty when not measured.
pub fn ms(ms: Option<f64>) -> String {
    ms.map(|v| format!("{v:.2}")).unwrap_or_default()
}

/// A count per flow with two decimals, or empty when not counted.
pub fn count(count: Option<f64>) -> String {
    ms(count)
}

pub fn render(rows: &[Row], floor: &[FloorRow], replicas: u32, spin_note: &str) -> String {
    let runs = rows.iter().map(|r| r.runs.len()).max().unwrap_or(0);
    let mut t = format!(
        "Order flow (7 requests: create client, 3 × add item, read cart, place order, read order), k6 on the same machine ({}). \
         Each figure is the median of {runs} run{}, its min–max in parentheses when they differ; \
         at each load the setups up together ((b), (b′), (b1), (bd), (d)) took turns, run by run.\n\n\
         | setup | load | flows/s | req/s | avg ms | p50 ms | p95 ms | p99 ms | 5xx | failed requests | failed flows | server CPU-ms/flow | PostgreSQL CPU-ms/flow | k6 CPU-ms/flow | invocations/flow | statements/flow | ÷ PostgreSQL floor | k6 thresholds |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
        machine(),
        if runs == 1 { "" } else { "s" },
    );
    for row in rows {
        t += &row_line(row, floor);
    }
    for f in floor {
        let plural = if f.clients == 1 { "" } else { "s" };
        t += &format!(
            "| (d) PostgreSQL floor (pgbench, same SQL) | {} client{plural} | {} | | | | | | | | | | {} | {} | | | 1.00 | |\n",
            f.clients,
            shown(f.spread(|r| Some(r.tps)), 1),
            shown(f.spread(|r| r.postgres_ms), 2),
            shown(f.spread(|r| r.client_ms), 2),
        );
    }
    let spin = if rows.iter().any(|r| r.tag == "spin") {
        "; (b′) `spin up` and the process it serves from"
    } else {
        ""
    };
    t += &format!(
        "\nflows/s counts completed flows: every request answered as expected. Failed flows: cut short or spoilt by a failed request or check (`flows_failed`). \
         CPU from `/proc/<pid>/stat` (utime + stime, reaped children included), over each whole k6 run, per completed flow. \
         Server: the comptoir process; (c) both comptoirs and NGINX{spin}. \
         PostgreSQL: the postmaster and every backend. \
         k6: the k6 process (for (d), pgbench). \
         Invocations and statements: the growth of comptoir's `comptoir_component_invocations_total` and \
         `comptoir_db_query_duration_seconds_count` (every label, every comptoir process) over the run, per completed flow. \
         ÷ PostgreSQL floor: flows/s over pgbench's at as many clients, run by run. \
         k6 thresholds: `load/order-flow.js`'s (0 failed requests, every check, a p99 budget), as k6 judged them.\n"
    );
    t += &parity(rows);
    t += &format!("\n{spin_note}\n");
    t += &targets(rows, floor, replicas);
    t += "\nThe FastAPI system comptoir replaces, for scale: 43.43 ms average per request without load balancing, 33.89 ms with NGINX.\n";
    t
}

/// The machine: cores and CPU model.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("{cores} cores, {cpu}")
}

/// One row of the table.
fn row_line(row: &Row, floor: &[FloorRow]) -> String {
    let dropped = row.k6(|f| f.dropped as f64).filter(|d| d.max > 0.0);
    let dropped = dropped.map_or(String::new(), |d| format!(" ({} dropped)", d.show(0)));
    let ratio = match row.load {
        Load::Vus(vus) => floor_at(floor, vus)
            .and_then(|f| floor_ratio(row, f))
            .map_or(String::new(), |r| r.show(2)),
        Load::Rate(_) => String::new(),
    };
    format!(
        "| {} | {} | {}{dropped} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {ratio} | {} |\n",
        row.setup,
        row.load,
        shown(row.k6(|f| f.completed_per_s), 1),
        shown(row.k6(|f| f.requests_per_s), 0),
        shown(row.k6(|f| f.avg_ms), 2),
        shown(row.k6(|f| f.med_ms), 2),
        shown(row.k6(|f| f.p95_ms), 2),
        shown(row.k6(|f| f.p99_ms), 2),
        shown(row.k6(|f| f.http_5xx as f64), 0),
        shown(row.k6(|f| f.failed as f64), 0),
        shown(row.k6(|f| f.abandoned as f64), 0),
        shown(row.spread(|s| s.server_ms), 2),
        shown(row.spread(|s| s.postgres_ms), 2),
        shown(row.spread(|s| s.k6_ms), 2),
        shown(row.spread(|s| s.counts.map(|c| c.invocations)), 2),
        shown(row.spread(|s| s.counts.map(|c| c.statements)), 2),
        thresholds(row),
    )
}

/// k6's verdicts over a row's runs: held in all, or in how many and which
/// thresholds failed.
fn thresholds(row: &Row) -> String {
    let failed: Vec<_> = row.runs.iter().filter(|s| !s.k6_passed).collect();
    if failed.is_empty() {
        return "held".to_owned();
    }
    let mut names: Vec<&str> = failed
        .iter()
        .flat_map(|s| &s.figures.failed_thresholds)
        .map(String::as_str)
        .collect();
    names.sort();
    names.dedup();
    let which = if names.is_empty() {
        "k6 exited non-zero".to_owned()
    } else {
        names.join(", ")
    };
    format!(
        "**failed** in {} of {}: {which}",
        failed.len(),
        row.runs.len()
    )
}

fn floor_at(floor: &[FloorRow], clients: u32) -> Option<&FloorRow> {
    floor.iter().find(|f| f.clients == clients)
}

/// A row's flows/s over the floor's, run by run.
fn floor_ratio(row: &Row, floor: &FloorRow) -> Option<Spread> {
    Spread::of_ratios(
        row.runs
            .iter()
            .zip(&floor.runs)
            .map(|(s, f)| (s.figures.completed_per_s, f.tps)),
    )
}

/// `figure` of `a` over `figure` of `b`, run by run (runs taken in turn).
fn ratio(a: &Row, b: &Row, figure: impl Fn(&super::Sample) -> Option<f64>) -> Option<Spread> {
    Spread::of_ratios(
        a.runs
            .iter()
            .zip(&b.runs)
            .filter_map(|(x, y)| Some((figure(x)?, figure(y)?))),
    )
}

fn times(spread: Option<Spread>) -> String {
    spread.map_or(String::new(), |s| format!("{} ×", s.show(2)))
}

/// Spin ÷ comptoir (b) at every load both ran; empty without Spin rows.
fn parity(rows: &[Row]) -> String {
    let comptoir = |load: Load| rows.iter().find(|r| r.load == load && r.tag == "b");
    let mut t = String::from(
        "\nSpin ÷ comptoir (b), same .wasm files, same PostgreSQL, same loads, run by run (flows/s: above 1 Spin is faster; CPU and latency: above 1 Spin costs more):\n\n\
         | load | flows/s | server CPU-ms/flow | PostgreSQL CPU-ms/flow | p50 | p99 | failed requests (Spin, comptoir) |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    let mut any = false;
    for spin in rows.iter().filter(|r| r.tag == "spin") {
        let Some(comptoir) = comptoir(spin.load) else {
            continue;
        };
        any = true;
        let k6 = |f: fn(&crate::load::Figures) -> f64| move |s: &super::Sample| Some(f(&s.figures));
        t += &format!(
            "| {} | {} | {} | {} | {} | {} | {}, {} |\n",
            spin.load,
            times(ratio(spin, comptoir, k6(|f| f.completed_per_s))),
            times(ratio(spin, comptoir, |s| s.server_ms)),
            times(ratio(spin, comptoir, |s| s.postgres_ms)),
            times(ratio(spin, comptoir, k6(|f| f.med_ms))),
            times(ratio(spin, comptoir, k6(|f| f.p99_ms))),
            shown(spin.k6(|f| f.failed as f64), 0),
            shown(comptoir.k6(|f| f.failed as f64), 0),
        );
    }
    if any { t } else { String::new() }
}

/// Why a figure of (b) at `load` is missing.
fn missing(load: Load) -> String {
    match load {
        Load::Vus(n) => format!("no (b) run at {n} VUs: `--vus` must list {n}"),
        Load::Rate(n) => format!("no (b) run at {n} flows/s"),
    }
}

/// A figure of `row`, or why there is none.
type Measured = Result<Spread, String>;

fn measured(row: &Result<&Row, String>, figure: impl Fn(&Row) -> Option<Spread>) -> Measured {
    let row = row.as_ref().map_err(Clone::clone)?;
    figure(row).ok_or_else(|| "no figure in any run".to_owned())
}

/// the project's targets for (b), every one met or missed on its median
/// (or not measured, and why), with the spread and, as a multiple of the
/// target, by how much.
fn targets(rows: &[Row], floor: &[FloorRow], replicas: u32) -> String {
    let at = Load::Vus(TARGET_VUS);
    let b10 = rows
        .iter()
        .find(|r| r.load == at && r.tag == "b")
        .ok_or_else(|| missing(at));
    let floor_10 = floor_at(floor, TARGET_VUS)
        .ok_or_else(|| format!("no floor at {TARGET_VUS} clients: `--vus` must list {TARGET_VUS}"));
    let against_floor = |f: fn(&Row, &FloorRow) -> Option<Spread>| -> Measured {
        let floor = floor_10.as_ref().map_err(Clone::clone)?;
        measured(&b10, |row| f(row, floor))
    };
    let mut t = String::from("\nTargets (docs/performance.md), for (b), judged on the median:\n\n");
    t += &judge(
        &format!("{at}: ≤ {CPU_MS_PER_FLOW:.1} CPU-ms per order flow"),
        measured(&b10, |r| r.spread(|s| s.server_ms)),
        |v| v <= CPU_MS_PER_FLOW,
        |s| {
            format!(
                "{} CPU-ms, {:.2} × the target",
                s.show(2),
                s.median / CPU_MS_PER_FLOW
            )
        },
    );
    t += &judge(
        &format!("{at}: flows/s ≥ {FLOOR_SHARE} × the PostgreSQL floor's"),
        against_floor(floor_ratio),
        |v| v >= FLOOR_SHARE,
        |s| format!("{} × the floor, run by run", s.show(2)),
    );
    t += &judge(
        &format!("{at}: PostgreSQL ≤ {POSTGRES_FLOOR_RATIO:.0} × the floor's CPU per flow"),
        against_floor(floor_postgres),
        |v| v <= POSTGRES_FLOOR_RATIO,
        |s| format!("{} × the floor, run by run", s.show(2)),
    );
    t += &judge(
        &format!("{at}: ≤ {INVOCATIONS_PER_FLOW:.0} component invocations per flow"),
        measured(&b10, |r| r.spread(|s| s.counts.map(|c| c.invocations))),
        |v| v <= INVOCATIONS_PER_FLOW,
        |s| s.show(2),
    );
    t += &judge(
        &format!("{at}: ≤ {STATEMENTS_PER_FLOW:.0} SQL statements per flow"),
        measured(&b10, |r| r.spread(|s| s.counts.map(|c| c.statements))),
        |v| v <= STATEMENTS_PER_FLOW,
        |s| s.show(2),
    );
    t += &one_thread(rows);
    t += &debug_build(rows);
    t += &at_rate(rows);
    t += &judge(
        &format!("RSS < 150 MB with 3 components × {replicas} replicas after load"),
        rss(rows),
        |v| v < RSS_MIB,
        |s| format!("{} MiB, after each (b) run", s.show(1)),
    );
    t += &k6_summary(rows);
    t
}

/// PostgreSQL's CPU per flow under (b) over the floor's, run by run.
fn floor_postgres(row: &Row, floor: &FloorRow) -> Option<Spread> {
    Spread::of_ratios(
        row.runs
            .iter()
            .zip(&floor.runs)
            .filter_map(|(s, f)| Some((s.postgres_ms?, f.postgres_ms?))),
    )
}

/// comptoir's RSS in MiB after each (b) run.
fn rss(rows: &[Row]) -> Measured {
    Spread::of(
        rows.iter()
            .filter(|r| r.tag == "b")
            .flat_map(|r| &r.runs)
            .filter_map(|s| s.rss_bytes)
            .map(|bytes| bytes as f64 / 1048576.0),
    )
    .ok_or_else(|| "no RSS read after any (b) run".to_owned())
}

/// (b1) at 10 VUs: a figure beside the target, not a verdict.
fn one_thread(rows: &[Row]) -> String {
    let at = Load::Vus(TARGET_VUS);
    let cpu = rows
        .iter()
        .find(|r| r.load == at && r.tag == "b1")
        .and_then(|row| row.spread(|s| s.server_ms));
    cpu.map_or(String::new(), |cpu| {
        format!(
            "- (b1), `--threads 1`, {at}: {} CPU-ms per order flow, {:.2} × the target\n",
            cpu.show(2),
            cpu.median / CPU_MS_PER_FLOW
        )
    })
}

/// (bd) beside (b) at 10 VUs: what the debug host (what `cargo xtask up`
/// runs unless told `--release`) costs per flow, run by run. A figure,
/// not a verdict.
fn debug_build(rows: &[Row]) -> String {
    let at = Load::Vus(TARGET_VUS);
    let row = |tag| rows.iter().find(|r| r.load == at && r.tag == tag);
    let (Some(debug), Some(b)) = (row("bd"), row("b")) else {
        return String::new();
    };
    let cpu = debug.spread(|s| s.server_ms);
    let ratio = Spread::of_ratios(
        debug
            .runs
            .iter()
            .zip(&b.runs)
            .filter_map(|(q, b)| Some((q.server_ms?, b.server_ms?))),
    );
    match (cpu, ratio) {
        (Some(cpu), Some(ratio)) => format!(
            "- (bd), the debug build, {at}: {} CPU-ms per order flow, {} × (b)'s run by run\n",
            cpu.show(2),
            ratio.show(2)
        ),
        _ => String::new(),
    }
}

/// The fixed rate's targets: p50, p99, no failed request.
fn at_rate(rows: &[Row]) -> String {
    let Some(row) = rows
        .iter()
        .find(|r| matches!(r.load, Load::Rate(_)) && r.tag == "b")
    else {
        return "- p50 < 1 ms, p99 < 5 ms, 0 failed requests at the fixed rate: **not measured** (no (b) run at a fixed rate)\n".to_owned();
    };
    let load = row.load;
    let figure = |f: fn(&crate::load::Figures) -> f64| row.k6(f).ok_or("no run");
    let latency = |target: f64| {
        move |s: &Spread| format!("{} ms, {:.2} × the target", s.show(2), s.median / target)
    };
    let mut t = judge(
        &format!("{load}: p50 < {P50_MS:.0} ms"),
        figure(|f| f.med_ms),
        |v| v < P50_MS,
        latency(P50_MS),
    );
    t += &judge(
        &format!("{load}: p99 < {P99_MS:.0} ms"),
        figure(|f| f.p99_ms),
        |v| v < P99_MS,
        latency(P99_MS),
    );
    let flows = shown(row.k6(|f| f.abandoned as f64), 0);
    let dropped = shown(row.k6(|f| f.dropped as f64), 0);
    t += &judge(
        &format!("{load}: 0 failed requests"),
        figure(|f| f.failed as f64),
        |v| v == 0.0,
        |s| {
            format!(
                "{} failed, {flows} flows failed, {dropped} dropped",
                s.show(0)
            )
        },
    );
    t
}

/// How many k6 runs held their thresholds, and which failed.
fn k6_summary(rows: &[Row]) -> String {
    let runs = rows.iter().flat_map(|r| &r.runs);
    let total = runs.clone().count();
    let held = runs.filter(|s| s.k6_passed).count();
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| r.runs.iter().any(|s| !s.k6_passed))
        .map(|r| format!("{} at {}", r.setup, r.load))
        .collect();
    let which = if failed.is_empty() {
        String::new()
    } else {
        format!(" (failed: {})", failed.join("; "))
    };
    format!("- k6's own thresholds held in {held} of {total} runs{which}\n")
}

#[cfg(test)]
mod tests {
    use super::super::Sample;
    use super::super::floor::Floor;
    use super::*;
    use crate::load::Figures;
    use crate::metrics::Counts;

    fn sample(completed_per_s: f64, server_ms: f64, failed: u64, passed: bool) -> Sample {
        Sample {
            figures: Figures {
                completed_per_s,
                failed,
                med_ms: 0.9,
                p99_ms: 4.0,
                failed_thresholds: if passed {
                    vec![]
                } else {
                    vec!["http_req_duration: p(99)<50".to_owned()]
                },
                ..Figures::default()
            },
            k6_passed: passed,
            server_ms: Some(server_ms),
            postgres_ms: Some(3.0),
            k6_ms: Some(2.0),
            counts: Some(Counts {
                invocations: 11.4,
                statements: 14.4,
            }),
            rss_bytes: Some(80 << 20),
        }
    }

    fn row(tag: &'static str, load: Load, runs: Vec<Sample>) -> Row {
        Row {
            tag,
            setup: format!("({tag})"),
            load,
            runs,
        }
    }

    fn floor(clients: u32, tps: &[f64]) -> FloorRow {
        FloorRow {
            clients,
            runs: tps
                .iter()
                .map(|&tps| Floor {
                    tps,
                    postgres_ms: Some(2.0),
                    client_ms: Some(0.3),
                })
                .collect(),
        }
    }

    /// Three runs: every target judged on its median, with its spread;
    /// the floor's share is back; k6's failed threshold is reported.
    #[test]
    fn targets_on_the_median_of_three() {
        let rows = [
            row(
                "b",
                Load::Vus(10),
                vec![
                    sample(230.0, 2.8, 0, true),
                    sample(240.0, 3.4, 0, false),
                    sample(220.0, 2.9, 0, true),
                ],
            ),
            row(
                "b",
                Load::Rate(40),
                vec![
                    sample(40.0, 5.0, 0, true),
                    sample(40.0, 5.0, 3, true),
                    sample(40.0, 5.0, 0, true),
                ],
            ),
        ];
        let floors = [floor(10, &[400.0, 400.0, 440.0])];
        let text = render(&rows, &floors, 4, "no Spin");
        assert!(
            text.contains("10 VUs: ≤ 3.0 CPU-ms per order flow: **met** — 2.90 (2.80–3.40) CPU-ms, 0.97 × the target"),
            "{text}"
        );
        assert!(
            text.contains("10 VUs: flows/s ≥ 0.5 × the PostgreSQL floor's: **met** — 0.57 (0.50–0.60) × the floor"),
            "{text}"
        );
        assert!(
            text.contains("PostgreSQL ≤ 2 × the floor's CPU per flow: **met** — 1.50 × the floor")
        );
        assert!(text.contains("≤ 12 component invocations per flow: **met** — 11.40"));
        assert!(text.contains("40 flows/s: 0 failed requests: **met** — 0 (0–3) failed"));
        assert!(text.contains("RSS < 150 MB"));
        assert!(text.contains("**failed** in 1 of 3: http_req_duration: p(99)<50"));
        assert!(text.contains("k6's own thresholds held in 5 of 6 runs"));
    }

    /// (bd)'s CPU per flow is set beside (b)'s run by run (the rounds
    /// alternate, so run i of each shared the machine's hour).
    #[test]
    fn the_debug_build_beside_round_robin() {
        let at = Load::Vus(10);
        let b = row(
            "b",
            at,
            vec![
                sample(230.0, 2.0, 0, true),
                sample(230.0, 3.0, 0, true),
                sample(230.0, 2.5, 0, true),
            ],
        );
        let bd = row(
            "bd",
            at,
            vec![
                sample(200.0, 2.4, 0, true),
                sample(200.0, 3.3, 0, true),
                sample(200.0, 3.5, 0, true),
            ],
        );
        let text = render(&[b, bd], &[], 4, "no Spin");
        assert!(
            text.contains("- (bd), the debug build, 10 VUs: 3.30 (2.40–3.50) CPU-ms per order flow, 1.20 (1.10–1.40) × (b)'s run by run"),
            "{text}"
        );
        let alone = render(
            &[row("b", at, vec![sample(230.0, 2.0, 0, true)])],
            &[],
            4,
            "",
        );
        assert!(!alone.contains("- (bd)"), "{alone}");
    }

    /// One run: figures, no verdict; a target without its figure says so.
    #[test]
    fn one_run_no_verdict() {
        let rows = [row("b", Load::Vus(10), vec![sample(230.0, 2.8, 0, true)])];
        let text = render(&rows, &[], 4, "no Spin");
        assert!(
            text.contains("10 VUs: ≤ 3.0 CPU-ms per order flow: 1 run, no verdict: 2.80 CPU-ms"),
            "{text}"
        );
        assert!(text.contains(
            "flows/s ≥ 0.5 × the PostgreSQL floor's: **not measured** (no floor at 10 clients"
        ));
        assert!(text.contains("0 failed requests at the fixed rate: **not measured**"));
        assert!(!text.contains("**met**") && !text.contains("**missed**"));
    }
}

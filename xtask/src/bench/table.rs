//! The flows benchmark's markdown: every row, Spin ÷ comptoir at the same
//! loads, and DESIGN.md §8's targets for (b), each met or missed.

use super::floor::Floor;
use super::{Load, Row, verdict};

/// DESIGN.md §8: comptoir's CPU per order flow at 10 VUs, in ms.
const CPU_MS_PER_FLOW: f64 = 3.0;
/// DESIGN.md §8: per-request latency at the fixed arrival rate, in ms.
const P50_MS: f64 = 1.0;
const P99_MS: f64 = 5.0;
/// DESIGN.md §8: host RSS after load, 150 MB (in MiB).
const RSS_MIB: f64 = 143.05;
/// DESIGN.md §8: PostgreSQL's CPU per flow, as a multiple of the floor's.
const POSTGRES_FLOOR_RATIO: f64 = 2.0;
/// Component invocations and SQL statements per order flow: the catalogue
/// issue's aim (before the catalogue the flow took 10 and 12; it takes 14
/// and 17 with it: a product read per add, the reservation, the
/// validation — README, "Service chaining").
const INVOCATIONS_PER_FLOW: f64 = 12.0;
const STATEMENTS_PER_FLOW: f64 = 18.0;

/// `ms` with two decimals, or empty when not measured.
pub fn ms(ms: Option<f64>) -> String {
    ms.map(|v| format!("{v:.2}")).unwrap_or_default()
}

/// A count per flow with two decimals, or empty when not counted.
pub fn count(count: Option<f64>) -> String {
    ms(count)
}

pub fn render(
    rows: &[Row],
    floor: &[Floor],
    replicas: u32,
    rss: Option<u64>,
    spin_note: &str,
) -> String {
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
    let floor_at = |vus: u32| floor.iter().find(|f| f.clients == vus);
    let mut t = format!(
        "Order flow (7 requests: create client, 3 × add item, read cart, place order, read order), k6 on the same machine ({cores} cores, {cpu}).\n\n\
         | setup | load | flows/s | req/s | avg ms | p50 ms | p95 ms | p99 ms | 5xx | failed | server CPU-ms/flow | PostgreSQL CPU-ms/flow | k6 CPU-ms/flow | invocations/flow | statements/flow | ÷ PostgreSQL floor |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    );
    for row in rows {
        let f = &row.figures;
        let ratio = match row.load {
            Load::Vus(vus) => floor_at(vus)
                .map(|floor| format!("{:.2}", f.iterations_per_s / floor.tps))
                .unwrap_or_default(),
            Load::Rate(_) => String::new(),
        };
        let dropped = if f.dropped > 0 {
            format!(" ({} dropped)", f.dropped)
        } else {
            String::new()
        };
        t += &format!(
            "| {} | {} | {:.1}{dropped} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            row.setup,
            row.load,
            f.iterations_per_s,
            f.requests_per_s,
            f.avg_ms,
            f.med_ms,
            f.p95_ms,
            f.p99_ms,
            f.http_5xx,
            f.failed,
            ms(row.server_ms),
            ms(row.postgres_ms),
            ms(row.k6_ms),
            count(row.counts.map(|c| c.invocations)),
            count(row.counts.map(|c| c.statements)),
            ratio
        );
    }
    for f in floor {
        let plural = if f.clients == 1 { "" } else { "s" };
        t += &format!(
            "| (d) PostgreSQL floor (pgbench, same SQL) | {} client{plural} | {:.1} | | | | | | | | | {} | {} | | | 1.00 |\n",
            f.clients,
            f.tps,
            ms(f.postgres_ms),
            ms(f.client_ms)
        );
    }
    let spin = if rows.iter().any(|r| r.tag == "spin") {
        "; (b′) `spin up` and the process it serves from"
    } else {
        ""
    };
    t += &format!(
        "\nCPU from `/proc/<pid>/stat` (utime + stime, reaped children included), over each whole k6 run, per completed flow. \
         Server: the comptoir process; (c) both comptoirs and NGINX{spin}. \
         PostgreSQL: the postmaster and every backend. \
         k6: the k6 process (for (d), pgbench). \
         Invocations and statements: the growth of comptoir's `comptoir_component_invocations_total` and \
         `comptoir_db_query_duration_seconds_count` (every label, every comptoir process) over the run, per completed flow.\n"
    );
    t += &parity(rows);
    t += &format!("\n{spin_note}\n");
    t += &targets(rows, floor_at(10), replicas, rss);
    t += "\nThe seed's FastAPI system, for scale: 43.43 ms average per request without load balancing, 33.89 ms with NGINX.\n";
    t
}

/// Spin ÷ comptoir (b) at every load both ran; empty without Spin rows.
fn parity(rows: &[Row]) -> String {
    let comptoir = |load: Load| rows.iter().find(|r| r.load == load && r.tag == "b");
    let ratio = |spin: Option<f64>, comptoir: Option<f64>| match (spin, comptoir) {
        (Some(s), Some(c)) if c > 0.0 => format!("{:.2} ×", s / c),
        _ => String::new(),
    };
    let mut t = String::from(
        "\nSpin ÷ comptoir (b), same .wasm files, same PostgreSQL, same loads (flows/s: above 1 Spin is faster; CPU and latency: above 1 Spin costs more):\n\n\
         | load | flows/s | server CPU-ms/flow | PostgreSQL CPU-ms/flow | p50 | p99 | failed (Spin, comptoir) |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    let mut any = false;
    for spin in rows.iter().filter(|r| r.tag == "spin") {
        let Some(comptoir) = comptoir(spin.load) else {
            continue;
        };
        let (s, c) = (&spin.figures, &comptoir.figures);
        any = true;
        t += &format!(
            "| {} | {} | {} | {} | {} | {} | {}, {} |\n",
            spin.load,
            ratio(Some(s.iterations_per_s), Some(c.iterations_per_s)),
            ratio(spin.server_ms, comptoir.server_ms),
            ratio(spin.postgres_ms, comptoir.postgres_ms),
            ratio(Some(s.med_ms), Some(c.med_ms)),
            ratio(Some(s.p99_ms), Some(c.p99_ms)),
            s.failed,
            c.failed
        );
    }
    if any { t } else { String::new() }
}

/// DESIGN.md §8's targets for (b), each with its figure and, as a
/// multiple of the target, by how much it is met or missed.
fn targets(rows: &[Row], floor_10: Option<&Floor>, replicas: u32, rss: Option<u64>) -> String {
    let b = |load: Load| rows.iter().find(|r| r.load == load && r.tag == "b");
    let mut t = String::from("\nTargets (DESIGN.md §8), for (b):\n\n");
    if let Some(row) = b(Load::Vus(10)) {
        if let Some(cpu) = row.server_ms {
            t += &verdict(
                &format!("10 VUs: ≤ {CPU_MS_PER_FLOW:.1} CPU-ms per order flow"),
                cpu <= CPU_MS_PER_FLOW,
                format!("{cpu:.2} CPU-ms, {:.2} × the target", cpu / CPU_MS_PER_FLOW),
            );
        }
        if let (Some(postgres), Some(floor)) =
            (row.postgres_ms, floor_10.and_then(|f| f.postgres_ms))
        {
            let ratio = postgres / floor;
            t += &verdict(
                &format!(
                    "10 VUs: PostgreSQL ≤ {POSTGRES_FLOOR_RATIO:.0} × the floor's CPU per flow"
                ),
                ratio <= POSTGRES_FLOOR_RATIO,
                format!("{postgres:.2} vs {floor:.2} CPU-ms, {ratio:.2} × the floor"),
            );
        }
        if let Some(counts) = row.counts {
            t += &verdict(
                &format!("10 VUs: ≤ {INVOCATIONS_PER_FLOW:.0} component invocations per flow"),
                counts.invocations <= INVOCATIONS_PER_FLOW,
                format!("{:.2}", counts.invocations),
            );
            t += &verdict(
                &format!("10 VUs: ≤ {STATEMENTS_PER_FLOW:.0} SQL statements per flow"),
                counts.statements <= STATEMENTS_PER_FLOW,
                format!("{:.2}", counts.statements),
            );
        }
    }
    let one_thread = rows
        .iter()
        .find(|r| r.load == Load::Vus(10) && r.tag == "b1");
    if let Some(cpu) = one_thread.and_then(|row| row.server_ms) {
        t += &format!(
            "- (b1), `--threads 1`, 10 VUs: {cpu:.2} CPU-ms per order flow, {:.2} × the target\n",
            cpu / CPU_MS_PER_FLOW
        );
    }
    if let Some(row) = rows
        .iter()
        .find(|r| matches!(r.load, Load::Rate(_)) && r.tag == "b")
    {
        let f = &row.figures;
        let load = row.load;
        t += &verdict(
            &format!("{load}: p50 < {P50_MS:.0} ms"),
            f.med_ms < P50_MS,
            format!("{:.2} ms, {:.2} × the target", f.med_ms, f.med_ms / P50_MS),
        );
        t += &verdict(
            &format!("{load}: p99 < {P99_MS:.0} ms"),
            f.p99_ms < P99_MS,
            format!("{:.2} ms, {:.2} × the target", f.p99_ms, f.p99_ms / P99_MS),
        );
        t += &verdict(
            &format!("{load}: 0 failed requests"),
            f.failed == 0,
            format!("{} failed, {} flows dropped", f.failed, f.dropped),
        );
    }
    if let Some(rss) = rss {
        let mib = rss as f64 / 1048576.0;
        t += &verdict(
            &format!("RSS < 150 MB with 3 components × {replicas} replicas after load"),
            mib < RSS_MIB,
            format!("{mib:.1} MiB"),
        );
    }
    t
}

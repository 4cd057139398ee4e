//! `cargo xtask bench`: the side-by-side benchmarks of DESIGN.md §8, all
//! in one run on this machine.
//!
//! - `flows` (default): the order flow at 1, 10 and 50 VUs for (a) 1
//!   replica, (b) N replicas round-robin, (c) 2 processes behind NGINX, and
//!   (d) the PostgreSQL floor: pgbench running the same SQL statements at the
//!   same concurrency; then (b) at a fixed 40 flows/s; and, when a Spin
//!   binary is found, (b′) `spin up` serving the same `.wasm` files and
//!   `spin.toml` against (b)'s databases, at the same loads; (b1) is (b)
//!   on one worker thread (`--threads 1`) at 10 VUs and the fixed rate. Each row has
//!   the CPU per flow of the serving processes, of PostgreSQL and of k6
//!   (pgbench for the floor) and, for comptoir, the component invocations
//!   and SQL statements per flow from its own metrics; then the `hello`
//!   cell. Prints a markdown table (also written to `target/load/bench.md`).
//! - `hello`: a spin-sdk hello component under comptoir and under
//!   `wasmtime serve`, alternated: requests/s and CPU per request.
//! - `swap`: time from a deploy's return to the first response of the new
//!   version, and latency of steady traffic before vs during swaps.
//! - `isolation`: `--isolation request` beside `--isolation instance`.
//! - `canary`: a faulty canary of panier under load (rolled back by
//!   itself), then a good one (promoted by itself), failures on a timeline.
//! - `auth`: what verifying a token costs inside the components, per
//!   algorithm (EdDSA, ES256, RS256), remembered or not, on each runtime.
//!
//! # Layout
//!
//! - `table`: the flows table, Spin ÷ comptoir, and the targets' verdicts.
//! - `floor`: the PostgreSQL floor (pgbench).
//! - `hello`: comptoir beside `wasmtime serve` on a hello component.
//! - `swap`: the hot-swap benchmark.
//! - `isolation`: the two isolation modes side by side.
//! - `canary`: the canary scenario and its timeline.
//! - `auth`: token verification's cost per request.

mod auth;
mod canary;
mod floor;
mod hello;
mod isolation;
mod swap;
mod table;

use std::path::Path;
use std::time::Duration;

use crate::Replicas;
use crate::cpu::Meter;
use crate::load::{Figures, Run};
use crate::metrics::Counts;
use crate::spin::SpinUp;
use crate::stack::{Stack, Topology};

/// DESIGN.md §8's fixed arrival rate, in order flows per second.
const FIXED_RATE: u32 = 40;

/// `cargo xtask bench [benchmark]`: with no benchmark named, `flows`
/// (whose flags may then follow `bench` directly).
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    benchmark: Option<Benchmark>,
    #[command(flatten)]
    flows: Flows,
}

#[derive(clap::Subcommand)]
enum Benchmark {
    /// The order flow for (a) 1 replica, (b) round-robin, (c) NGINX, (d) the
    /// PostgreSQL floor, (b′) Spin; then the hello cell (the default).
    Flows(Flows),
    /// A hello component under comptoir and under `wasmtime serve`.
    Hello(hello::Args),
    /// Hot swaps of panier under steady traffic.
    Swap(swap::Args),
    /// `--isolation request` beside `--isolation instance`.
    Isolation(isolation::Args),
    /// A faulty then a good canary of panier under load.
    Canary(canary::Args),
    /// What verifying a token costs, per algorithm and runtime.
    Auth(auth::Args),
}

/// `cargo xtask bench flows`.
#[derive(clap::Args)]
struct Flows {
    /// The VU levels, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 10, 50])]
    vus: Vec<u32>,
    /// Each k6 run, e.g. 20s or 1m.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "20s")]
    duration: Duration,
    #[command(flatten)]
    replicas: Replicas,
    /// The fixed arrival rate, in order flows per second.
    #[arg(long, default_value_t = FIXED_RATE)]
    rate: u32,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<()> {
    match args.benchmark.unwrap_or(Benchmark::Flows(args.flows)) {
        Benchmark::Flows(flows) => self::flows(root, &flows),
        Benchmark::Hello(args) => hello::bench(root, &args),
        Benchmark::Swap(args) => swap::swap(root, &args),
        Benchmark::Isolation(args) => isolation::isolation(root, &args),
        Benchmark::Canary(args) => canary::canary(root, &args),
        Benchmark::Auth(args) => auth::bench(root, &args),
    }
}

/// How k6 loads the system in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Load {
    /// This many VUs, each running flows back to back: saturation.
    Vus(u32),
    /// A constant arrival rate, in flows per second.
    Rate(u32),
}

impl std::fmt::Display for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Load::Vus(n) => write!(f, "{n} VU{}", if *n == 1 { "" } else { "s" }),
            Load::Rate(n) => write!(f, "{n} flows/s"),
        }
    }
}

/// One k6 run and what it cost.
struct Row {
    /// The target's tag: `a`, `b`, `c` or `spin`.
    tag: &'static str,
    setup: String,
    load: Load,
    figures: Figures,
    /// CPU-ms per completed flow of the serving process trees.
    server_ms: Option<f64>,
    /// CPU-ms per completed flow of PostgreSQL (postmaster and backends).
    postgres_ms: Option<f64>,
    /// CPU-ms per completed flow of k6 itself.
    k6_ms: Option<f64>,
    /// Component invocations and SQL statements per completed flow, from
    /// comptoir's metrics (none for Spin).
    counts: Option<Counts>,
}

/// Something serving the order flow, and the processes to charge for it.
struct Target<'a> {
    /// Names the rows: "(b) round-robin (1 process, 4 replicas)".
    setup: String,
    /// Names k6's output files (`bench-<tag>-10vu-summary.json`) and
    /// finds the rows again: `a`, `b`, `c` or `spin`.
    tag: &'static str,
    base_url: &'a str,
    /// Roots of the process trees that serve (comptoir, NGINX, `spin up`).
    servers: Vec<u32>,
    postgres: Option<u32>,
    /// Admin APIs whose `/metrics` count invocations and statements
    /// (every comptoir process; none for Spin).
    admin_urls: Vec<String>,
    /// Extra k6 environment (`READY_PATH` for Spin).
    env: Vec<(String, String)>,
}

impl<'a> Target<'a> {
    /// The comptoir processes of `system` (and its PostgreSQL).
    fn comptoir(system: &'a Stack, setup: String, tag: &'static str) -> Self {
        Self {
            setup,
            tag,
            base_url: &system.base_url,
            servers: system.server_pids(),
            postgres: system.postgres_pid(),
            admin_urls: system.admin_urls().to_vec(),
            env: vec![("BEARER".to_owned(), system.bearer.clone())],
        }
    }

    /// Runs the order flow at `load` for `duration`, metering CPU meanwhile.
    fn measure(
        &self,
        root: &Path,
        out: &Path,
        load: Load,
        duration: Duration,
    ) -> anyhow::Result<Row> {
        let mut env = self.env.clone();
        let (vus, label) = match load {
            Load::Vus(n) => (Some(n), format!("bench-{}-{n}vu", self.tag)),
            Load::Rate(n) => {
                // --vus/--duration would replace the arrival-rate scenario.
                env.push(("RATE".to_owned(), n.to_string()));
                env.push(("DURATION".to_owned(), crate::load::k6_duration(duration)));
                (None, format!("bench-{}-rate{n}", self.tag))
            }
        };
        let run = Run {
            scenario: "order-flow",
            label,
            base_url: self.base_url,
            vus,
            duration: vus.map(|_| duration),
            env,
            out,
        };
        let counted = self.counts()?;
        let server = Meter::start(&self.servers);
        let postgres = self.postgres.map(|pid| Meter::start(&[pid]));
        let (figures, _) = run.execute(root)?;
        let server_ms = server.stop();
        let postgres_ms = postgres.map(Meter::stop);
        let flows = figures.iterations;
        let counts = match (counted, self.counts()?) {
            (Some(before), Some(after)) => after.per_flow(before, flows),
            _ => None,
        };
        let per_flow = |ms: f64| (flows > 0).then(|| ms / flows as f64);
        let row = Row {
            tag: self.tag,
            setup: self.setup.clone(),
            load,
            server_ms: per_flow(server_ms),
            postgres_ms: postgres_ms.and_then(per_flow),
            k6_ms: per_flow(figures.k6_cpu_ms),
            counts,
            figures,
        };
        eprintln!(
            "    {load}: {}; CPU-ms/flow: server {}, PostgreSQL {}, k6 {}; per flow: {} invocations, {} statements",
            row.figures,
            table::ms(row.server_ms),
            table::ms(row.postgres_ms),
            table::ms(row.k6_ms),
            table::count(row.counts.map(|c| c.invocations)),
            table::count(row.counts.map(|c| c.statements)),
        );
        Ok(row)
    }

    /// comptoir's invocation and statement counters now (none for Spin).
    fn counts(&self) -> anyhow::Result<Option<Counts>> {
        if self.admin_urls.is_empty() {
            return Ok(None);
        }
        Counts::scrape(&self.admin_urls).map(Some)
    }
}

fn flows(root: &Path, args: &Flows) -> anyhow::Result<()> {
    crate::build_release()?;
    let levels = &args.vus;
    let duration = args.duration;
    let replicas = args.replicas.replicas;
    let rate = args.rate;
    let spin = crate::tools::spin_binary();
    let out = root.join("target/load");
    let work = out.join("work");
    let mut rows = Vec::new();
    let mut floor = Vec::new();
    let mut rss = None;
    let topologies = [
        ("a", "(a) 1 replica", Topology::Single { replicas: 1 }),
        ("b", "(b) round-robin", Topology::Single { replicas }),
        (
            "c",
            "(c) 2 × comptoir + NGINX",
            Topology::Nginx {
                replicas: replicas.div_ceil(2),
            },
        ),
    ];
    for (i, (tag, name, topology)) in topologies.into_iter().enumerate() {
        eprintln!("\x1b[1m==> {name}: {topology}\x1b[0m");
        let system = Stack::start(root, &work, topology)?;
        let comptoir = Target::comptoir(&system, format!("{name} ({topology})"), tag);
        for &vus in levels {
            rows.push(comptoir.measure(root, &out, Load::Vus(vus), duration)?);
        }
        if i == 1 {
            rows.push(comptoir.measure(root, &out, Load::Rate(rate), duration)?);
            rss = system.rss_bytes();
            if let Some(spin) = &spin {
                let loads = levels
                    .iter()
                    .map(|&n| Load::Vus(n))
                    .chain([Load::Rate(rate)]);
                rows.extend(spin_rows(root, &out, spin, &system, loads, duration)?);
            }
        }
        if i == 0 {
            // The floor, on the same PostgreSQL, before this cluster stops.
            for &vus in levels {
                let row = floor::pgbench(root, &system, vus, duration)?;
                eprintln!(
                    "    pgbench {vus} clients: {:.1} flows/s; CPU-ms/flow: PostgreSQL {}, pgbench {}",
                    row.tps,
                    table::ms(row.postgres_ms),
                    table::ms(row.client_ms)
                );
                floor.push(row);
            }
        }
    }
    // (b) on one worker thread: what a machine shared with PostgreSQL and
    // k6 saves in CPU per flow, and what it costs in flows/s, side by side.
    eprintln!("\x1b[1m==> (b1) round-robin, --threads 1\x1b[0m");
    let topology = Topology::Single { replicas };
    let system = Stack::start_flags(root, &work, topology, &["--threads", "1"])?;
    let one_thread = Target::comptoir(
        &system,
        format!("(b1) round-robin, `--threads 1` ({topology})"),
        "b1",
    );
    for load in [Load::Vus(10), Load::Rate(rate)] {
        rows.push(one_thread.measure(root, &out, load, duration)?);
    }
    drop(system);
    let spin_note = match &spin {
        Some(spin) => format!(
            "(b′) ran `{}` ({}).",
            spin.display(),
            crate::spin::version(spin)
        ),
        None => "Spin column skipped: no SPIN_BIN and no spin on PATH.".to_owned(),
    };
    let hello = hello::cell(root, &out, replicas, hello::DURATION)?;
    let mut table = table::render(&rows, &floor, replicas, rss, &spin_note);
    table += &hello::render(&hello);
    println!("\n{table}");
    std::fs::write(out.join("bench.md"), &table)?;
    eprintln!("written to {}", out.join("bench.md").display());
    Ok(())
}

/// (b′): `spin up` serving the same `.wasm` files and `spin.toml`, on the
/// databases `system` created and migrated (comptoir stays up, idle), at
/// each of `loads`. Spin is stopped, process group and all, on every path.
fn spin_rows(
    root: &Path,
    out: &Path,
    spin: &Path,
    system: &Stack,
    loads: impl Iterator<Item = Load>,
    duration: Duration,
) -> anyhow::Result<Vec<Row>> {
    eprintln!(
        "\x1b[1m==> (b′) spin up ({}): same .wasm, spin.toml and PostgreSQL as (b)\x1b[0m",
        spin.display()
    );
    let mut env = crate::stack::shared_db_env(&system.state_dir)?;
    env.extend(system.auth_env.iter().cloned());
    let server = SpinUp::start(root, spin, &out.join("work/spin"), &env)?;
    let target = Target {
        setup: "(b′) spin up (same .wasm, spin.toml and PostgreSQL as (b))".to_owned(),
        tag: "spin",
        base_url: &server.base_url,
        servers: vec![server.pid()],
        postgres: system.postgres_pid(),
        admin_urls: vec![],
        // Spin has no /readyz; the docs component answers here.
        env: vec![
            ("READY_PATH".to_owned(), "/openapi.json".to_owned()),
            ("BEARER".to_owned(), system.bearer.clone()),
        ],
    };
    loads
        .map(|load| target.measure(root, out, load, duration))
        .collect()
}

/// A target's verdict line: met or missed, and the figure.
fn verdict(target: &str, met: bool, figure: String) -> String {
    format!(
        "- {target}: **{}** ({figure})\n",
        if met { "met" } else { "missed" }
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        bench: Args,
    }

    /// With no benchmark named, `bench`'s own flags are those of `flows`.
    #[test]
    fn flows_is_the_default_benchmark() {
        let args = Cli::try_parse_from(["bench", "--vus", "1,10", "--duration", "1m"])
            .unwrap()
            .bench;
        assert!(args.benchmark.is_none());
        assert_eq!(args.flows.vus, [1, 10]);
        assert_eq!(args.flows.duration, Duration::from_secs(60));
        assert_eq!(
            (args.flows.replicas.replicas, args.flows.rate),
            (4, FIXED_RATE)
        );
        let args = Cli::try_parse_from(["bench", "flows", "--rate", "20"])
            .unwrap()
            .bench;
        let Some(Benchmark::Flows(flows)) = args.benchmark else {
            panic!("not flows")
        };
        assert_eq!((flows.vus, flows.rate), (vec![1, 10, 50], 20));
    }
}

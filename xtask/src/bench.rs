//! `cargo xtask bench`: the side-by-side benchmarks of docs/performance.md, all
//! in one run on this machine.
//!
//! - `flows` (default): the order flow at 1, 10 and 50 VUs for (a) 1
//!   replica, (b) N replicas round-robin, (c) 2 processes behind NGINX, and
//!   (d) the PostgreSQL floor: pgbench running the same SQL statements at the
//!   same concurrency on (b)'s PostgreSQL; then (b) at a fixed 40 flows/s;
//!   and, when a Spin binary is found, (b′) `spin up` serving the same
//!   `.wasm` files and `spin.toml` against (b)'s databases, at the same
//!   loads; (b1) is (b) on one worker thread (`--threads 1`) and (bd) (b)
//!   run by the debug host (what `cargo xtask up` builds unless told
//!   `--release`), both at 10 VUs and the fixed rate. (b), (b′), (b1), (bd) and
//!   (d) are up together and take turns at each load, `--runs` rounds (A, B, A, B, …). Each row has the CPU per
//!   completed flow of the serving processes, of PostgreSQL and of k6
//!   (pgbench for the floor) and, for comptoir, the component invocations
//!   and SQL statements per flow from its own metrics, and k6's threshold
//!   verdicts; then the `hello` cell. Every figure is the median of the
//!   runs, its min–max beside it. Prints a markdown table (also written to
//!   `target/load/bench.md`) and draws its charts (`--charts`).
//! - `hello`: a spin-sdk hello component under comptoir, `wasmtime serve`
//!   and `spin up` (when found), alternated: requests/s and CPU per request.
//! - `swap`: time from a deploy's return to the first response of the new
//!   version, and latency of steady traffic before vs during swaps.
//! - `isolation`: `--isolation request` beside `--isolation instance`,
//!   alternated.
//! - `canary`: a faulty canary of panier under load (rolled back by
//!   itself), then a good one (promoted by itself), failures on a timeline.
//! - `auth`: what verifying a token costs inside the components, per
//!   algorithm (EdDSA, ES256, RS256), remembered or not, on each runtime.
//!
//! # Layout
//!
//! - `spread`: a figure over runs (median, min–max), verdicts on it.
//! - `table`: the flows table, Spin ÷ comptoir, and the targets' verdicts.
//! - `chart`: SVG charts; `plots`: the flows benchmark's.
//! - `floor`: the PostgreSQL floor (pgbench).
//! - `hello`: comptoir beside `wasmtime serve` on a hello component.
//! - `swap`: the hot-swap benchmark.
//! - `isolation`: the two isolation modes side by side.
//! - `canary`: the canary scenario and its timeline.
//! - `auth`: token verification's cost per request.

mod auth;
mod canary;
pub mod chart;
mod floor;
mod hello;
mod isolation;
mod plots;
mod spread;
mod swap;
mod table;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Replicas;
use crate::cpu::Meter;
use crate::load::{Figures, Run};
use crate::metrics::Counts;
use crate::spin::SpinUp;
use crate::stack::{Stack, Topology};
use floor::{FloorRow, Pgbench};
use spread::Spread;

/// the project's fixed arrival rate, in order flows per second.
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
    /// A hello component under comptoir, `wasmtime serve` and `spin up`.
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

/// How many runs each figure is the median of.
#[derive(clap::Args, Clone, Copy)]
pub struct Runs {
    /// Runs of every measurement, taking turns between the setups compared
    /// (A, B, A, B, …): each figure is their median, min–max beside it.
    /// Verdicts need at least 3; fewer is a quick try, with no verdict.
    #[arg(long, default_value_t = spread::MIN_RUNS as u32,
          value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
}

/// Where the charts go.
#[derive(clap::Args)]
pub struct Charts {
    /// The folder the charts (SVG) are written to, relative to the
    /// workspace.
    #[arg(long = "charts", value_name = "DIR", default_value = chart::DEFAULT_DIR)]
    dir: PathBuf,
}

impl Charts {
    /// The chart `name` in the folder, under `root` unless absolute.
    fn path(&self, root: &Path, name: &str) -> PathBuf {
        root.join(&self.dir).join(name)
    }
}

/// `cargo xtask bench flows`.
#[derive(clap::Args)]
struct Flows {
    /// The VU levels, comma-separated ((b1) runs at 10 if listed).
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
    #[command(flatten)]
    runs: Runs,
    #[command(flatten)]
    charts: Charts,
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
struct Sample {
    figures: Figures,
    /// Whether k6 exited 0: every threshold held.
    k6_passed: bool,
    /// CPU-ms per completed flow of the serving process trees.
    server_ms: Option<f64>,
    /// CPU-ms per completed flow of PostgreSQL (postmaster and backends).
    postgres_ms: Option<f64>,
    /// CPU-ms per completed flow of k6 itself.
    k6_ms: Option<f64>,
    /// Component invocations and SQL statements per completed flow, from
    /// comptoir's metrics (none for Spin).
    counts: Option<Counts>,
    /// The (first) comptoir process's resident memory after the run.
    rss_bytes: Option<u64>,
}

/// Every run of one target at one load.
struct Row {
    /// The target's tag: `a`, `b`, `b1`, `bd`, `c` or `spin`.
    tag: &'static str,
    setup: String,
    load: Load,
    runs: Vec<Sample>,
}

impl Row {
    /// `figure` over the runs that have it.
    fn spread(&self, figure: impl Fn(&Sample) -> Option<f64>) -> Option<Spread> {
        Spread::of(self.runs.iter().filter_map(figure))
    }

    /// A k6 figure over the runs.
    fn k6(&self, figure: impl Fn(&Figures) -> f64) -> Option<Spread> {
        self.spread(|s| Some(figure(&s.figures)))
    }
}

/// What every measurement of one benchmark shares.
struct Session<'a> {
    root: &'a Path,
    /// Where k6 writes its summaries and reports.
    out: &'a Path,
    duration: Duration,
    runs: u32,
}

impl Session<'_> {
    /// Each load of `entries` in turn: every target that runs at it once
    /// per round, `runs` rounds (A, B, A, B, …), then `floor`'s pgbench
    /// at a VU level. Rows in the order of `entries`, then of their loads.
    fn alternate(
        &self,
        entries: &[(&Target, Vec<Load>)],
        floor: Option<&Pgbench>,
    ) -> anyhow::Result<(Vec<Row>, Vec<FloorRow>)> {
        let mut cells: Vec<(&Target, Row)> = entries
            .iter()
            .flat_map(|(target, loads)| loads.iter().map(|&load| (*target, target.row(load))))
            .collect();
        let mut floors = Vec::new();
        for load in distinct(cells.iter().map(|(_, row)| row.load)) {
            let mut floor_row = match (floor, load) {
                (Some(_), Load::Vus(clients)) => Some(FloorRow::new(clients)),
                _ => None,
            };
            for round in 1..=self.runs {
                for (target, row) in cells.iter_mut().filter(|(_, row)| row.load == load) {
                    row.runs.push(target.measure(self, load, round)?);
                }
                if let (Some(pgbench), Some(row)) = (floor, floor_row.as_mut()) {
                    row.runs.push(pgbench.run(row.clients, self.duration)?);
                }
            }
            floors.extend(floor_row);
        }
        Ok((cells.into_iter().map(|(_, row)| row).collect(), floors))
    }

    /// `topology` started alone and measured at each of `loads`.
    fn solo(
        &self,
        work: &Path,
        (tag, name): (&'static str, &str),
        topology: Topology,
        loads: &[Load],
    ) -> anyhow::Result<Vec<Row>> {
        eprintln!("\x1b[1m==> {name}: {topology}\x1b[0m");
        let system = Stack::start(self.root, work, topology)?;
        let target = Target::comptoir(&system, format!("{name} ({topology})"), tag);
        Ok(self.alternate(&[(&target, loads.to_vec())], None)?.0)
    }
}

/// `items` without repeats, in order of first appearance.
fn distinct<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

/// Something serving the order flow, and the processes to charge for it.
struct Target<'a> {
    /// Names the rows: "(b) round-robin (1 process, 4 replicas)".
    setup: String,
    /// Names k6's output files (`bench-<tag>-10vu-<round>-summary.json`)
    /// and finds the rows again: `a`, `b`, `b1`, `bd`, `c` or `spin`.
    tag: &'static str,
    base_url: &'a str,
    /// Roots of the process trees that serve (comptoir, NGINX, `spin up`).
    servers: Vec<u32>,
    postgres: Option<u32>,
    /// The comptoir stack: its `/metrics` count invocations and
    /// statements, its RSS is read after each run (none for Spin).
    system: Option<&'a Stack>,
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
            system: Some(system),
            env: vec![("BEARER".to_owned(), system.bearer.clone())],
        }
    }

    /// (b′): `spin up` serving on `system`'s databases.
    fn spin(server: &'a SpinUp, system: &Stack) -> Self {
        Self {
            setup: "(b′) spin up (same .wasm, spin.toml and PostgreSQL as (b))".to_owned(),
            tag: "spin",
            base_url: &server.base_url,
            servers: vec![server.pid()],
            postgres: system.postgres_pid(),
            system: None,
            // Spin has no /readyz; the docs component answers here.
            env: vec![
                ("READY_PATH".to_owned(), "/openapi.json".to_owned()),
                ("BEARER".to_owned(), system.bearer.clone()),
            ],
        }
    }

    /// An empty row of this target at `load`.
    fn row(&self, load: Load) -> Row {
        Row {
            tag: self.tag,
            setup: self.setup.clone(),
            load,
            runs: Vec::new(),
        }
    }

    /// k6's run of the order flow at `load`, and its label.
    fn run<'s>(&'s self, session: &'s Session, load: Load, round: u32) -> Run<'s> {
        let mut env = self.env.clone();
        let (vus, label) = match load {
            Load::Vus(n) => (Some(n), format!("bench-{}-{n}vu-{round}", self.tag)),
            Load::Rate(n) => {
                // --vus/--duration would replace the arrival-rate scenario.
                env.push(("RATE".to_owned(), n.to_string()));
                env.push((
                    "DURATION".to_owned(),
                    crate::load::k6_duration(session.duration),
                ));
                (None, format!("bench-{}-rate{n}-{round}", self.tag))
            }
        };
        Run {
            scenario: "order-flow",
            label,
            base_url: self.base_url,
            vus,
            duration: vus.map(|_| session.duration),
            env,
            out: session.out,
        }
    }

    /// Runs the order flow at `load`, metering CPU meanwhile.
    fn measure(&self, session: &Session, load: Load, round: u32) -> anyhow::Result<Sample> {
        let run = self.run(session, load, round);
        let counted = self.counts()?;
        let server = Meter::start(&self.servers);
        let postgres = self.postgres.map(|pid| Meter::start(&[pid]));
        let (figures, k6_passed) = run.execute(session.root)?;
        let server_ms = server.stop();
        let postgres_ms = postgres.map(Meter::stop);
        let flows = figures.completed;
        let counts = match (counted, self.counts()?) {
            (Some(before), Some(after)) => after.per_flow(before, flows),
            _ => None,
        };
        let per_flow = |ms: f64| (flows > 0).then(|| ms / flows as f64);
        let sample = Sample {
            k6_passed,
            server_ms: per_flow(server_ms),
            postgres_ms: postgres_ms.and_then(per_flow),
            k6_ms: per_flow(figures.k6_cpu_ms),
            counts,
            rss_bytes: self.system.and_then(Stack::rss_bytes),
            figures,
        };
        eprintln!(
            "    {} {load}, run {round}/{}: {}; CPU-ms/flow: server {}, PostgreSQL {}, k6 {}; per flow: {} invocations, {} statements",
            self.tag,
            session.runs,
            sample.figures,
            table::ms(sample.server_ms),
            table::ms(sample.postgres_ms),
            table::ms(sample.k6_ms),
            table::count(sample.counts.map(|c| c.invocations)),
            table::count(sample.counts.map(|c| c.statements)),
        );
        Ok(sample)
    }

    /// comptoir's invocation and statement counters now (none for Spin).
    fn counts(&self) -> anyhow::Result<Option<Counts>> {
        self.system
            .map(|system| Counts::scrape(system.admin_urls()))
            .transpose()
    }
}

fn flows(root: &Path, args: &Flows) -> anyhow::Result<()> {
    crate::build_release()?;
    crate::build_gateway(false)?;
    let replicas = args.replicas.replicas;
    let spin = crate::tools::spin_binary();
    let out = root.join("target/load");
    let work = out.join("work");
    let session = Session {
        root,
        out: &out,
        duration: args.duration,
        runs: args.runs.runs,
    };
    let levels: Vec<Load> = args.vus.iter().map(|&n| Load::Vus(n)).collect();
    let single = Topology::Single { replicas: 1 };
    let mut rows = session.solo(&work, ("a", "(a) 1 replica"), single, &levels)?;
    let (round_robin, floor) = round_robin(&session, &work, args, spin.as_deref())?;
    rows.extend(round_robin);
    let nginx = Topology::Nginx {
        replicas: replicas.div_ceil(2),
    };
    let name = ("c", "(c) 2 × comptoir + NGINX");
    rows.extend(session.solo(&work, name, nginx, &levels)?);
    let spin_note = match &spin {
        Some(spin) => format!(
            "(b′) ran `{}` ({}).",
            spin.display(),
            crate::spin::version(spin)
        ),
        None => "Spin column skipped: no SPIN_BIN and no spin on PATH.".to_owned(),
    };
    let hello = hello::cell(root, &out, replicas, hello::DURATION, session.runs)?;
    let mut table = table::render(&rows, &floor, replicas, &spin_note);
    table += &hello::render(&hello);
    println!("\n{table}");
    std::fs::write(out.join("bench.md"), &table)?;
    eprintln!("written to {}", out.join("bench.md").display());
    let charts = [
        args.charts.path(root, "bench-latency.svg"),
        args.charts.path(root, "bench-cpu.svg"),
        args.charts.path(root, "bench-hello.svg"),
    ];
    plots::latency(&charts[0], &rows)?;
    plots::cpu(&charts[1], &rows, &floor)?;
    hello::chart(&charts[2], &hello)?;
    for chart in &charts {
        eprintln!("chart: {}", chart.display());
    }
    Ok(())
}

/// (b), and beside it, up at the same time and taking turns at each load:
/// (b′) `spin up` on (b)'s databases (when `spin` is given), (b1) on one
/// worker thread and (bd) the debug host (both at 10 VUs and the fixed
/// rate), and (d) the floor's pgbench on (b)'s PostgreSQL (at each VU
/// level). Spin is stopped, process group and all, on every path.
fn round_robin(
    session: &Session,
    work: &Path,
    args: &Flows,
    spin: Option<&Path>,
) -> anyhow::Result<(Vec<Row>, Vec<FloorRow>)> {
    let topology = Topology::Single {
        replicas: args.replicas.replicas,
    };
    eprintln!(
        "\x1b[1m==> (b) round-robin: {topology}; beside it (b1) `--threads 1`, (bd) the debug build, (d) the PostgreSQL floor{}\x1b[0m",
        if spin.is_some() {
            ", (b′) spin up"
        } else {
            ""
        }
    );
    let system = Stack::start(session.root, work, topology)?;
    let b = Target::comptoir(&system, format!("(b) round-robin ({topology})"), "b");
    let threads = ["--threads", "1"];
    let one = Stack::start_flags(session.root, &work.join("b1"), topology, &threads)?;
    let setup = format!("(b1) round-robin, `--threads 1` ({topology})");
    let b1 = Target::comptoir(&one, setup, "b1");
    let debug_host = crate::host_binary(false);
    let debug = Stack::start_with(session.root, &debug_host, &work.join("bd"), topology, None)?;
    let setup = format!("(bd) round-robin, the debug build ({topology})");
    let bd = Target::comptoir(&debug, setup, "bd");
    let spin_up = spin
        .map(|spin| start_spin(session, spin, &system))
        .transpose()?;
    let spin_target = spin_up.as_ref().map(|up| Target::spin(up, &system));
    let pgbench = Pgbench::prepare(session.root, &system)?;
    let loads: Vec<Load> = args
        .vus
        .iter()
        .map(|&n| Load::Vus(n))
        .chain([Load::Rate(args.rate)])
        .collect();
    let beside_loads: Vec<Load> = loads
        .iter()
        .filter(|load| matches!(load, Load::Vus(10) | Load::Rate(_)))
        .copied()
        .collect();
    let mut entries = vec![(&b, loads.clone())];
    entries.extend(spin_target.as_ref().map(|spin| (spin, loads.clone())));
    entries.push((&b1, beside_loads.clone()));
    entries.push((&bd, beside_loads));
    session.alternate(&entries, Some(&pgbench))
}

/// `spin up` serving the same `.wasm` files and `spin.toml`, on the
/// databases `system` created and migrated (comptoir stays up).
fn start_spin(session: &Session, spin: &Path, system: &Stack) -> anyhow::Result<SpinUp> {
    let mut env = crate::stack::shared_db_env(&system.state_dir)?;
    env.extend(system.auth_env.iter().cloned());
    SpinUp::start(session.root, spin, &session.out.join("work/spin"), &env)
}

/// A target's verdict line: met or missed, and the figure.
fn verdict(target: &str, met: bool, figure: String) -> String {
    format!(
        "- {target}: **{}** — {figure}\n",
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
        assert_eq!(args.flows.runs.runs, 3);
        assert_eq!(
            args.flows.charts.path(Path::new("/w"), "bench-cpu.svg"),
            Path::new("/w/docs/img/bench-cpu.svg")
        );
        let args = Cli::try_parse_from(["bench", "flows", "--rate", "20", "--runs", "1"])
            .unwrap()
            .bench;
        let Some(Benchmark::Flows(flows)) = args.benchmark else {
            panic!("not flows")
        };
        assert_eq!(
            (flows.vus, flows.rate, flows.runs.runs),
            (vec![1, 10, 50], 20, 1)
        );
    }

    /// `--runs 0` is refused; `--charts` takes a folder, absolute or not.
    #[test]
    fn runs_and_charts_flags() {
        assert!(Cli::try_parse_from(["bench", "--runs", "0"]).is_err());
        let args = Cli::try_parse_from(["bench", "hello", "--charts", "/tmp/c", "--runs", "5"])
            .unwrap()
            .bench;
        assert!(matches!(args.benchmark, Some(Benchmark::Hello(_))));
        let args = Cli::try_parse_from(["bench", "--charts", "out"])
            .unwrap()
            .bench;
        assert_eq!(
            args.flows.charts.path(Path::new("/w"), "x.svg"),
            Path::new("/w/out/x.svg")
        );
    }
}

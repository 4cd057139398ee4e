//! The `hello` cell: a hello component of each kind Spin runs — p3
//! (`testing-hello`, spin-sdk 7), p2 and p1 (`testing-hello-p2` built for
//! `wasm32-wasip2` and for `wasm32-wasip1`) — under comptoir, under
//! `wasmtime serve` (the official CLI, same wasmtime version; it serves no
//! core module) and, when a Spin binary is found, under `spin up`, each
//! warmed up by an unmeasured run, then taking turns under the same k6 load
//! (`load/hello.js`, 32 VUs), `--runs` rounds: requests/s and the gateway's
//! CPU per request (medians, min–max), comptoir ÷ the others run by run,
//! against the project's gateway-overhead targets ([`report`]).

mod report;
mod serve;

pub use report::{chart, render};
use serve::WasmtimeServe;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use super::{Charts, Runs};
use crate::Replicas;
use crate::cpu::Meter;
use crate::load::{Figures, Run};
use crate::spin::SpinUp;
use crate::stack::{Stack, Topology};

/// Each k6 run of the cell.
pub const DURATION: Duration = Duration::from_secs(10);
/// What is served: the kind of component, and the gateways that can.
/// An unmeasured k6 run against each gateway first: all have served before
/// the first measured round (instances made, pages touched, code cached).
const WARM_UP: Duration = Duration::from_secs(3);
/// How long `wasmtime serve` may take to answer (it compiles first).
const READY_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `wasi:http/handler@0.3` (spin-sdk 7).
    P3,
    /// `wasi:http/incoming-handler@0.2` component.
    P2,
    /// The same as a `wasm32-wasip1` core module.
    P1,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::P3, Kind::P2, Kind::P1];

    /// Names work directories and k6's output files.
    fn tag(self) -> &'static str {
        match self {
            Kind::P3 => "p3",
            Kind::P2 => "p2",
            Kind::P1 => "p1",
        }
    }

    /// The package, and the target it is built for.
    fn package(self) -> (&'static str, &'static str) {
        match self {
            Kind::P3 => ("testing-hello", crate::WASM_TARGET),
            Kind::P2 => ("testing-hello-p2", crate::WASM_TARGET),
            Kind::P1 => ("testing-hello-p2", crate::MODULE_TARGET),
        }
    }

    fn wasm(self, root: &Path) -> PathBuf {
        let (package, target) = self.package();
        root.join("target")
            .join(target)
            .join("release")
            .join(format!("{}.wasm", package.replace('-', "_")))
    }

    /// `wasmtime serve`'s flags for it; none for a core module, which it
    /// does not serve.
    fn wasmtime_flags(self) -> Option<&'static [&'static str]> {
        match self {
            Kind::P3 => Some(&["-Scli", "-Sp3", "-Wcomponent-model-async"]),
            Kind::P2 => Some(&["-Scli"]),
            Kind::P1 => None,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::P3 => "p3 component",
            Kind::P2 => "p2 component",
            Kind::P1 => "p1 module",
        })
    }
}

/// Who serves the component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gateway {
    Comptoir,
    Wasmtime,
    Spin,
}

impl Gateway {
    /// Names k6's output files.
    fn tag(self) -> &'static str {
        match self {
            Gateway::Comptoir => "comptoir",
            Gateway::Wasmtime => "wasmtime",
            Gateway::Spin => "spin",
        }
    }
}

impl std::fmt::Display for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Gateway::Comptoir => "comptoir",
            Gateway::Wasmtime => "wasmtime serve",
            Gateway::Spin => "spin up",
        })
    }
}

/// One k6 run against one gateway.
pub struct Sample {
    pub kind: Kind,
    pub gateway: Gateway,
    /// The round it ran in, from 1.
    pub round: u32,
    pub figures: Figures,
    /// Whether k6 exited 0: every threshold held.
    pub k6_passed: bool,
    /// CPU-ms the gateway's process tree spent over the run.
    pub server_ms: f64,
}

impl Sample {
    /// The gateway's CPU-µs per request (none without requests).
    fn server_us_per_request(&self) -> Option<f64> {
        report::per_request_us(self.server_ms, self.figures.requests)
    }
}

/// `cargo xtask bench hello`: the cell alone.
#[derive(clap::Args)]
pub struct Args {
    /// Each k6 run, e.g. 10s or 1m.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    duration: Duration,
    #[command(flatten)]
    replicas: Replicas,
    #[command(flatten)]
    runs: Runs,
    #[command(flatten)]
    charts: Charts,
}

/// Runs the cell alone, writes `bench-hello.md` and its chart.
pub fn bench(root: &Path, args: &Args) -> anyhow::Result<()> {
    crate::build_release()?;
    let out = root.join("target/load");
    let samples = cell(
        root,
        &out,
        args.replicas.replicas,
        args.duration,
        args.runs.runs,
    )?;
    let table = render(&samples);
    println!("\n{table}");
    std::fs::write(out.join("bench-hello.md"), &table)?;
    eprintln!("written to {}", out.join("bench-hello.md").display());
    let path = args.charts.path(root, "bench-hello.svg");
    chart(&path, &samples)?;
    eprintln!("chart: {}", path.display());
    Ok(())
}

/// A gateway serving the component: where, and its processes.
struct Serving {
    kind: Kind,
    gateway: Gateway,
    base_url: String,
    pids: Vec<u32>,
}

/// Runs the cell: kind by kind, every gateway up, then k6 against each in
/// turn, `runs` rounds.
pub fn cell(
    root: &Path,
    out: &Path,
    replicas: u32,
    duration: Duration,
    runs: u32,
) -> anyhow::Result<Vec<Sample>> {
    crate::build_wasm(&[Kind::P3.package().0, Kind::P2.package().0])?;
    crate::build_wasm_for(crate::MODULE_TARGET, &[Kind::P1.package().0])?;
    let wasmtime = crate::tools::ensure_wasmtime()?;
    let mut samples = Vec::new();
    for kind in Kind::ALL {
        let work = out.join("work/hello").join(kind.tag());
        eprintln!(
            "\x1b[1m==> hello, {kind}: comptoir ({replicas} replicas), {} and spin up if found, taking turns\x1b[0m",
            wasmtime.display()
        );
        let wasm = kind.wasm(root);
        let manifest = write_manifest(&work, &wasm)?;
        let manifest = manifest.to_str().context("manifest path is not UTF-8")?;
        let comptoir = Stack::start_flags(
            root,
            &work,
            Topology::Single { replicas },
            &["--manifest", manifest],
        )?;
        let serve = match kind.wasmtime_flags() {
            Some(flags) => Some(WasmtimeServe::start(&wasmtime, flags, &wasm, &work)?),
            None => {
                eprintln!("    wasmtime serve left out: it serves components, not core modules");
                None
            }
        };
        let spin = start_spin(&work);
        let mut gateways = vec![Serving {
            kind,
            gateway: Gateway::Comptoir,
            base_url: comptoir.base_url.clone(),
            pids: comptoir.server_pids(),
        }];
        gateways.extend(serve.as_ref().map(|serve| Serving {
            kind,
            gateway: Gateway::Wasmtime,
            base_url: serve.base_url.clone(),
            pids: vec![serve.pid()],
        }));
        gateways.extend(spin.as_ref().map(|up| Serving {
            kind,
            gateway: Gateway::Spin,
            base_url: up.base_url.clone(),
            pids: vec![up.pid()],
        }));
        for serving in &gateways {
            measure(root, out, serving, WARM_UP, 0)?;
        }
        for round in 1..=runs {
            for serving in &gateways {
                let sample = measure(root, out, serving, duration, round)?;
                eprintln!(
                    "    {kind}, {} (run {round}/{runs}): {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} failed; {} CPU-µs/request",
                    sample.gateway,
                    sample.figures.requests_per_s,
                    sample.figures.med_ms,
                    sample.figures.p99_ms,
                    sample.figures.failed,
                    report::us(sample.server_us_per_request())
                );
                samples.push(sample);
            }
        }
    }
    Ok(samples)
}

/// `spin up` of the cell's manifest (in `work`), if a Spin binary is found
/// and serves it; the cell goes on without it otherwise.
fn start_spin(work: &Path) -> Option<SpinUp> {
    let spin = crate::tools::spin_binary()?;
    match SpinUp::start(work, &spin, &work.join("spin"), &[]) {
        Ok(up) => Some(up),
        Err(error) => {
            eprintln!("    spin up did not serve, left out: {error:#}");
            None
        }
    }
}

/// One k6 run of `load/hello.js` against `serving`, metering its
/// processes (round 0: the warm-up).
fn measure(
    root: &Path,
    out: &Path,
    serving: &Serving,
    duration: Duration,
    round: u32,
) -> anyhow::Result<Sample> {
    let run = Run {
        scenario: "hello",
        label: format!(
            "bench-hello-{}-{}-{round}",
            serving.kind.tag(),
            serving.gateway.tag()
        ),
        base_url: &serving.base_url,
        vus: None,
        duration: Some(duration),
        env: vec![],
        out,
    };
    let meter = Meter::start(&serving.pids);
    let (figures, k6_passed) = run.execute(root)?;
    Ok(Sample {
        kind: serving.kind,
        gateway: serving.gateway,
        round,
        figures,
        k6_passed,
        server_ms: meter.stop(),
    })
}

/// A manifest with only the hello component, on every path (`spin.toml`
/// in `dir`: comptoir's `--manifest`, and the root `spin up` starts from).
fn write_manifest(dir: &Path, wasm: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("spin.toml");
    std::fs::write(
        &path,
        format!(
            "spin_manifest_version = 2\n\
             [application]\nname = \"hello\"\n\
             [[trigger.http]]\nroute = \"/...\"\ncomponent = \"hello\"\n\
             [component.hello]\nsource = \"{}\"\n",
            wasm.display()
        ),
    )?;
    Ok(path)
}

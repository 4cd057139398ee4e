//! The `hello` cell: the same spin-sdk hello component (`testing-hello`)
//! under comptoir, under `wasmtime serve` (the official CLI, same wasmtime
//! version) and, when a Spin binary is found, under `spin up`, each warmed
//! up by an unmeasured run, then taking turns under the same k6 load
//! (`load/hello.js`, 32 VUs), `--runs` rounds: requests/s and the gateway's
//! CPU per request (medians, min–max), comptoir ÷ wasmtime run by run,
//! against the project's gateway-overhead targets.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;

use super::chart::{self, Bar, Bars};
use super::spread::{Spread, judge, shown};
use super::{Charts, Runs};
use crate::Replicas;
use crate::cpu::Meter;
use crate::load::{Figures, Run};
use crate::spin::SpinUp;
use crate::stack::{Stack, Topology};

/// Each k6 run of the cell.
pub const DURATION: Duration = Duration::from_secs(10);
/// The component's package, and its file under the wasm target's release dir.
const PACKAGE: &str = "testing-hello";
const WASM: &str = "testing_hello.wasm";
/// An unmeasured k6 run against each gateway first: all have served before
/// the first measured round (instances made, pages touched, code cached).
const WARM_UP: Duration = Duration::from_secs(3);
/// How long `wasmtime serve` may take to answer (it compiles first).
const READY_TIMEOUT: Duration = Duration::from_secs(120);

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
        per_request_us(self.server_ms, self.figures.requests)
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
    gateway: Gateway,
    base_url: String,
    pids: Vec<u32>,
}

/// Runs the cell: every gateway up, then k6 against each in turn, `runs`
/// rounds.
pub fn cell(
    root: &Path,
    out: &Path,
    replicas: u32,
    duration: Duration,
    runs: u32,
) -> anyhow::Result<Vec<Sample>> {
    crate::build_wasm(&[PACKAGE])?;
    let wasm = root
        .join("target")
        .join(crate::WASM_TARGET)
        .join("release")
        .join(WASM);
    let wasmtime = crate::tools::ensure_wasmtime()?;
    let work = out.join("work/hello");
    eprintln!(
        "\x1b[1m==> hello: {PACKAGE} under comptoir ({replicas} replicas), {} and spin up if found, taking turns\x1b[0m",
        wasmtime.display()
    );
    let manifest = write_manifest(&work, &wasm)?;
    let manifest = manifest.to_str().context("manifest path is not UTF-8")?;
    let comptoir = Stack::start_flags(
        root,
        &work,
        Topology::Single { replicas },
        &["--manifest", manifest],
    )?;
    let serve = WasmtimeServe::start(&wasmtime, &wasm, &work)?;
    let spin = start_spin(&work);
    let mut gateways = vec![
        Serving {
            gateway: Gateway::Comptoir,
            base_url: comptoir.base_url.clone(),
            pids: comptoir.server_pids(),
        },
        Serving {
            gateway: Gateway::Wasmtime,
            base_url: serve.base_url.clone(),
            pids: vec![serve.pid()],
        },
    ];
    gateways.extend(spin.as_ref().map(|up| Serving {
        gateway: Gateway::Spin,
        base_url: up.base_url.clone(),
        pids: vec![up.pid()],
    }));
    for serving in &gateways {
        measure(root, out, serving, WARM_UP, 0)?;
    }
    let mut samples = Vec::new();
    for round in 1..=runs {
        for serving in &gateways {
            let sample = measure(root, out, serving, duration, round)?;
            eprintln!(
                "    {} (run {round}/{runs}): {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} failed; {} CPU-µs/request",
                sample.gateway,
                sample.figures.requests_per_s,
                sample.figures.med_ms,
                sample.figures.p99_ms,
                sample.figures.failed,
                us(sample.server_us_per_request())
            );
            samples.push(sample);
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
            eprintln!("    spin up of {PACKAGE} did not serve, left out: {error:#}");
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
        label: format!("bench-hello-{}-{round}", serving.gateway.tag()),
        base_url: &serving.base_url,
        vus: None,
        duration: Some(duration),
        env: vec![],
        out,
    };
    let meter = Meter::start(&serving.pids);
    let (figures, k6_passed) = run.execute(root)?;
    Ok(Sample {
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

/// A running `wasmtime serve`, stopped when dropped.
struct WasmtimeServe {
    base_url: String,
    child: Child,
}

impl WasmtimeServe {
    /// `wasmtime serve` of `wasm` (a wasi:http@0.3 component: p3 and the
    /// component model's async ABI on) on a free loopback port.
    fn start(wasmtime: &Path, wasm: &Path, dir: &Path) -> anyhow::Result<Self> {
        let port = crate::free_port()?;
        let log = dir.join("wasmtime.log");
        let child = Command::new(wasmtime)
            .arg("serve")
            .args(["-Scli", "-Sp3", "-Wcomponent-model-async"])
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .arg(wasm)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .with_context(|| format!("failed to start {}", wasmtime.display()))?;
        let mut serve = Self {
            base_url: format!("http://127.0.0.1:{port}"),
            child,
        };
        let url = format!("{}/", serve.base_url);
        crate::wait::serving(
            &mut serve.child,
            &url,
            READY_TIMEOUT,
            "wasmtime serve",
            &log,
        )?;
        Ok(serve)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for WasmtimeServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// µs per request of `ms` CPU over `requests` (none without requests).
fn per_request_us(ms: f64, requests: u64) -> Option<f64> {
    (requests > 0).then(|| ms * 1000.0 / requests as f64)
}

/// `us` with one decimal, or empty when not measured.
fn us(us: Option<f64>) -> String {
    us.map(|v| format!("{v:.1}")).unwrap_or_default()
}

/// The gateways that ran, in order.
fn gateways(samples: &[Sample]) -> Vec<Gateway> {
    super::distinct(samples.iter().map(|s| s.gateway))
}

/// `figure` over `gateway`'s runs.
fn spread(
    samples: &[Sample],
    gateway: Gateway,
    figure: impl Fn(&Sample) -> Option<f64>,
) -> Option<Spread> {
    Spread::of(
        samples
            .iter()
            .filter(|s| s.gateway == gateway)
            .filter_map(figure),
    )
}

fn requests_per_s(s: &Sample) -> Option<f64> {
    Some(s.figures.requests_per_s)
}

fn cpu_us(s: &Sample) -> Option<f64> {
    s.server_us_per_request()
}

/// `figure` of `a` over `figure` of `b`, round by round.
fn ratio(
    samples: &[Sample],
    (a, b): (Gateway, Gateway),
    figure: fn(&Sample) -> Option<f64>,
) -> Option<Spread> {
    let of = |gateway: Gateway, round: u32| {
        samples
            .iter()
            .find(|s| s.gateway == gateway && s.round == round)
            .and_then(figure)
    };
    Spread::of_ratios(
        samples
            .iter()
            .filter(|s| s.gateway == a)
            .filter_map(|s| Some((of(a, s.round)?, of(b, s.round)?))),
    )
}

/// The cell's markdown: every run, each gateway's medians, the ratios, the
/// two targets.
pub fn render(samples: &[Sample]) -> String {
    let mut t = format!(
        "\nHello (`testing-hello`, spin-sdk 7, 200 \"hello\"): comptoir beside `wasmtime serve` 48 \
         (`-Scli -Sp3 -Wcomponent-model-async`) and `spin up` when found, k6 `load/hello.js` (GET /, 32 VUs, 0 failed requests), \
         after an unmeasured {} s run against each, taking turns run by run. \
         Server CPU: the gateway process, from `/proc/<pid>/stat`.\n\n\
         | gateway | run | req/s | avg ms | p50 ms | p99 ms | failed | server CPU-µs/request | k6 CPU-µs/request | k6 thresholds |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
        WARM_UP.as_secs(),
    );
    for s in samples {
        let f = &s.figures;
        t += &format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} |\n",
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
    t += "\nMedian (min–max) over the runs:\n\n| gateway | req/s | server CPU-µs/request |\n| --- | ---: | ---: |\n";
    for gateway in gateways(samples) {
        t += &format!(
            "| {gateway} | {} | {} |\n",
            shown(spread(samples, gateway, requests_per_s), 0),
            shown(spread(samples, gateway, cpu_us), 1),
        );
    }
    t += &targets(samples);
    t
}

/// comptoir ÷ wasmtime serve against the targets, and ÷ spin up beside.
fn targets(samples: &[Sample]) -> String {
    let pair = (Gateway::Comptoir, Gateway::Wasmtime);
    let missing = || "comptoir and wasmtime serve did not both run".to_owned();
    let mut t = String::from(
        "\nTargets (docs/performance.md), hello, comptoir ÷ wasmtime serve run by run, judged on the median:\n\n",
    );
    t += &judge(
        "requests/s ≥ 1.0 × wasmtime serve",
        ratio(samples, pair, requests_per_s).ok_or_else(missing),
        |v| v >= 1.0,
        |s| format!("{} ×", s.show(2)),
    );
    t += &judge(
        "CPU per request ≤ 1.0 × wasmtime serve",
        ratio(samples, pair, cpu_us).ok_or_else(missing),
        |v| v <= 1.0,
        |s| format!("{} ×", s.show(2)),
    );
    let spin = (Gateway::Comptoir, Gateway::Spin);
    if let (Some(rps), Some(cpu)) = (
        ratio(samples, spin, requests_per_s),
        ratio(samples, spin, cpu_us),
    ) {
        t += &format!(
            "- beside spin up (no target): requests/s {} ×, CPU per request {} ×\n",
            rps.show(2),
            cpu.show(2)
        );
    }
    t
}

/// `bench-hello.svg`: requests/s and server CPU-µs per request of each
/// gateway that ran (medians, min–max whiskers).
pub fn chart(path: &Path, samples: &[Sample]) -> anyhow::Result<()> {
    let bars = |series: &str, figure: fn(&Sample) -> Option<f64>| -> Vec<Bar> {
        gateways(samples)
            .into_iter()
            .filter_map(|gateway| {
                Some(Bar {
                    group: gateway.to_string(),
                    series: series.to_owned(),
                    value: spread(samples, gateway, figure)?,
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
            "Hello component, 32 VUs: gateways side by side ({})",
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

    fn sample(
        gateway: Gateway,
        round: u32,
        requests: u64,
        requests_per_s: f64,
        server_ms: f64,
    ) -> Sample {
        Sample {
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

    /// Three rounds: medians per gateway, ratios round by round, verdicts
    /// on the median ratio; Spin's ratios beside, without a target.
    #[test]
    fn medians_and_ratios() {
        let mut samples = Vec::new();
        for (round, c, w) in [(1, 1000.0, 800.0), (2, 3000.0, 1200.0), (3, 2000.0, 1000.0)] {
            samples.push(sample(Gateway::Comptoir, round, 10_000, c, 750.0));
            samples.push(sample(Gateway::Wasmtime, round, 10_000, w, 1500.0));
            samples.push(sample(Gateway::Spin, round, 10_000, w / 2.0, 3000.0));
        }
        let comptoir = spread(&samples, Gateway::Comptoir, requests_per_s).unwrap();
        assert_eq!(
            (comptoir.median, comptoir.min, comptoir.max),
            (2000.0, 1000.0, 3000.0)
        );
        assert_eq!(
            spread(&samples, Gateway::Comptoir, cpu_us).unwrap().median,
            75.0
        );
        let pair = (Gateway::Comptoir, Gateway::Wasmtime);
        let rps = ratio(&samples, pair, requests_per_s).unwrap();
        assert_eq!((rps.median, rps.min, rps.max), (2.0, 1.25, 2.5));
        let table = render(&samples);
        assert!(
            table.contains("requests/s ≥ 1.0 × wasmtime serve: **met** — 2.00 (1.25–2.50) ×"),
            "{table}"
        );
        assert!(table.contains("CPU per request ≤ 1.0 × wasmtime serve: **met** — 0.50 ×"));
        assert!(table.contains("beside spin up (no target): requests/s 4.00 (2.50–5.00) ×"));
        assert!(
            table.contains("| spin up | 500 (400–600) | 300.0 |"),
            "{table}"
        );
    }

    /// Without requests there is no CPU per request, hence no CPU ratio;
    /// one round gives figures, no verdict.
    #[test]
    fn no_requests_no_ratio() {
        let samples = [
            sample(Gateway::Comptoir, 1, 0, 0.0, 10.0),
            sample(Gateway::Wasmtime, 1, 100, 10.0, 10.0),
        ];
        let pair = (Gateway::Comptoir, Gateway::Wasmtime);
        assert_eq!(ratio(&samples, pair, cpu_us), None);
        let table = render(&samples);
        assert!(table.contains("requests/s ≥ 1.0 × wasmtime serve: 1 run, no verdict: 0.00 ×"));
        assert!(table.contains("CPU per request ≤ 1.0 × wasmtime serve: **not measured**"));
    }

    /// The chart names every gateway and both figures.
    #[test]
    fn chart_names_the_gateways() {
        let samples = [
            sample(Gateway::Comptoir, 1, 100, 10.0, 10.0),
            sample(Gateway::Wasmtime, 1, 100, 12.0, 9.0),
        ];
        let dir = std::env::temp_dir().join(format!("xtask-hello-{}", std::process::id()));
        let path = dir.join("bench-hello.svg");
        chart(&path, &samples).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        for name in [
            "comptoir",
            "wasmtime serve",
            "requests/s",
            "server CPU-µs per request",
        ] {
            assert!(svg.contains(name), "{name} missing");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

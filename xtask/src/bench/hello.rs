//! The `hello` cell: the same spin-sdk hello component (`testing-hello`)
//! under comptoir and under `wasmtime serve` (the official CLI, same
//! wasmtime version), each warmed up by an unmeasured run, then alternated
//! twice under the same k6 load (`load/hello.js`, 32 VUs): requests/s and
//! the gateway's CPU per request, comptoir ÷ wasmtime, against DESIGN.md
//! §8's gateway-overhead targets.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;

use super::verdict;
use crate::Replicas;
use crate::cpu::Meter;
use crate::load::{Figures, Run};
use crate::stack::{Stack, Topology};

/// Each k6 run of the cell.
pub const DURATION: Duration = Duration::from_secs(10);
/// The component's package, and its file under the wasm target's release dir.
const PACKAGE: &str = "testing-hello";
const WASM: &str = "testing_hello.wasm";
/// Rounds of (comptoir, wasmtime).
const ROUNDS: usize = 2;
/// An unmeasured k6 run against each gateway first: both have served before
/// the first measured round (instances made, pages touched, code cached).
const WARM_UP: Duration = Duration::from_secs(3);
/// How long `wasmtime serve` may take to answer (it compiles first).
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Who serves the component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gateway {
    Comptoir,
    Wasmtime,
}

impl Gateway {
    /// Names k6's output files.
    fn tag(self) -> &'static str {
        match self {
            Gateway::Comptoir => "comptoir",
            Gateway::Wasmtime => "wasmtime",
        }
    }
}

impl std::fmt::Display for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Gateway::Comptoir => "comptoir",
            Gateway::Wasmtime => "wasmtime serve",
        })
    }
}

/// One k6 run against one gateway.
pub struct Sample {
    pub gateway: Gateway,
    /// 1 for the first (comptoir, wasmtime) round, 2 for the second.
    pub round: usize,
    pub figures: Figures,
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
}

/// Runs the cell alone and writes `bench-hello.md`.
pub fn bench(root: &Path, args: &Args) -> anyhow::Result<()> {
    crate::build_release()?;
    let duration = args.duration;
    let replicas = args.replicas.replicas;
    let out = root.join("target/load");
    let samples = cell(root, &out, replicas, duration)?;
    let table = render(&samples);
    println!("\n{table}");
    std::fs::write(out.join("bench-hello.md"), &table)?;
    eprintln!("written to {}", out.join("bench-hello.md").display());
    Ok(())
}

/// Runs the cell: both gateways up, k6 against comptoir, then wasmtime,
/// [`ROUNDS`] times.
pub fn cell(
    root: &Path,
    out: &Path,
    replicas: u32,
    duration: Duration,
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
        "\x1b[1m==> hello: {PACKAGE} under comptoir ({replicas} replicas) and {}, alternated\x1b[0m",
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
    let gateways = [
        (
            Gateway::Comptoir,
            comptoir.base_url.as_str(),
            comptoir.server_pids(),
        ),
        (
            Gateway::Wasmtime,
            serve.base_url.as_str(),
            vec![serve.pid()],
        ),
    ];
    for (gateway, base_url, pids) in &gateways {
        measure(root, out, *gateway, base_url, pids, WARM_UP, 0)?;
    }
    let mut samples = Vec::new();
    for round in 1..=ROUNDS {
        for (gateway, base_url, pids) in &gateways {
            let sample = measure(root, out, *gateway, base_url, pids, duration, round)?;
            eprintln!(
                "    {gateway} (round {round}): {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} failed; {} CPU-µs/request",
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

/// One k6 run of `load/hello.js` against `base_url`, metering `pids`
/// (round 0: the warm-up).
fn measure(
    root: &Path,
    out: &Path,
    gateway: Gateway,
    base_url: &str,
    pids: &[u32],
    duration: Duration,
    round: usize,
) -> anyhow::Result<Sample> {
    let run = Run {
        scenario: "hello",
        label: format!("bench-hello-{}-{round}", gateway.tag()),
        base_url,
        vus: None,
        duration: Some(duration),
        env: vec![],
        out,
    };
    let meter = Meter::start(pids);
    let (figures, _) = run.execute(root)?;
    Ok(Sample {
        gateway,
        round,
        figures,
        server_ms: meter.stop(),
    })
}

/// A manifest with only the hello component, on every path.
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

/// A gateway's runs taken together: mean requests/s, CPU-µs per request.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Totals {
    requests_per_s: f64,
    server_us_per_request: Option<f64>,
}

fn totals(samples: &[Sample], gateway: Gateway) -> Option<Totals> {
    let runs: Vec<&Sample> = samples.iter().filter(|s| s.gateway == gateway).collect();
    if runs.is_empty() {
        return None;
    }
    let requests = runs.iter().map(|s| s.figures.requests).sum();
    Some(Totals {
        requests_per_s: runs.iter().map(|s| s.figures.requests_per_s).sum::<f64>()
            / runs.len() as f64,
        server_us_per_request: per_request_us(runs.iter().map(|s| s.server_ms).sum(), requests),
    })
}

/// comptoir ÷ wasmtime: requests/s, and CPU per request.
fn ratios(comptoir: Totals, wasmtime: Totals) -> (Option<f64>, Option<f64>) {
    let ratio = |a: f64, b: f64| (b > 0.0).then(|| a / b);
    (
        ratio(comptoir.requests_per_s, wasmtime.requests_per_s),
        comptoir
            .server_us_per_request
            .zip(wasmtime.server_us_per_request)
            .and_then(|(c, w)| ratio(c, w)),
    )
}

/// The cell's markdown: every run, the ratios, the two targets.
pub fn render(samples: &[Sample]) -> String {
    let mut t = format!(
        "\nHello (`testing-hello`, spin-sdk 7, 200 \"hello\"): comptoir beside `wasmtime serve` 48 \
         (`-Scli -Sp3 -Wcomponent-model-async`), k6 `load/hello.js` (GET /, 32 VUs), after an unmeasured {} s run against each, alternated. \
         Server CPU: the gateway process, from `/proc/<pid>/stat`.\n\n\
         | gateway | run | req/s | avg ms | p50 ms | p99 ms | failed | server CPU-µs/request | k6 CPU-µs/request |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        WARM_UP.as_secs(),
    );
    for s in samples {
        let f = &s.figures;
        t += &format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} | {} |\n",
            s.gateway,
            s.round,
            f.requests_per_s,
            f.avg_ms,
            f.med_ms,
            f.p99_ms,
            f.failed,
            us(s.server_us_per_request()),
            us(per_request_us(f.k6_cpu_ms, f.requests)),
        );
    }
    let (Some(comptoir), Some(wasmtime)) = (
        totals(samples, Gateway::Comptoir),
        totals(samples, Gateway::Wasmtime),
    ) else {
        return t;
    };
    let (throughput, cpu) = ratios(comptoir, wasmtime);
    t += "\nTargets (DESIGN.md §8), hello, comptoir ÷ wasmtime serve over all runs:\n\n";
    if let Some(ratio) = throughput {
        t += &verdict(
            "requests/s ≥ 1.0 × wasmtime serve",
            ratio >= 1.0,
            format!(
                "{:.0} vs {:.0} req/s, {ratio:.2} ×",
                comptoir.requests_per_s, wasmtime.requests_per_s
            ),
        );
    }
    if let Some(ratio) = cpu {
        t += &verdict(
            "CPU per request ≤ 1.0 × wasmtime serve",
            ratio <= 1.0,
            format!(
                "{} vs {} CPU-µs, {ratio:.2} ×",
                us(comptoir.server_us_per_request),
                us(wasmtime.server_us_per_request)
            ),
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(gateway: Gateway, requests: u64, requests_per_s: f64, server_ms: f64) -> Sample {
        Sample {
            gateway,
            round: 1,
            figures: Figures {
                requests,
                requests_per_s,
                ..Figures::default()
            },
            server_ms,
        }
    }

    /// Requests/s are averaged over runs; CPU per request is total CPU
    /// over total requests; the ratios are comptoir ÷ wasmtime.
    #[test]
    fn totals_and_ratios() {
        let samples = [
            sample(Gateway::Comptoir, 10_000, 1000.0, 1000.0),
            sample(Gateway::Wasmtime, 8_000, 800.0, 1200.0),
            sample(Gateway::Comptoir, 30_000, 3000.0, 2000.0),
            sample(Gateway::Wasmtime, 12_000, 1200.0, 1800.0),
        ];
        let comptoir = totals(&samples, Gateway::Comptoir).expect("comptoir ran");
        let wasmtime = totals(&samples, Gateway::Wasmtime).expect("wasmtime ran");
        assert_eq!(comptoir.requests_per_s, 2000.0);
        assert_eq!(comptoir.server_us_per_request, Some(75.0));
        assert_eq!(wasmtime.requests_per_s, 1000.0);
        assert_eq!(wasmtime.server_us_per_request, Some(150.0));
        assert_eq!(ratios(comptoir, wasmtime), (Some(2.0), Some(0.5)));
        let table = render(&samples);
        assert!(
            table.contains(
                "requests/s ≥ 1.0 × wasmtime serve: **met** (2000 vs 1000 req/s, 2.00 ×)"
            )
        );
        assert!(table.contains(
            "CPU per request ≤ 1.0 × wasmtime serve: **met** (75.0 vs 150.0 CPU-µs, 0.50 ×)"
        ));
    }

    /// Without requests there is no CPU per request, hence no CPU ratio.
    #[test]
    fn no_requests_no_ratio() {
        let samples = [
            sample(Gateway::Comptoir, 0, 0.0, 10.0),
            sample(Gateway::Wasmtime, 100, 10.0, 10.0),
        ];
        let comptoir = totals(&samples, Gateway::Comptoir).expect("comptoir ran");
        let wasmtime = totals(&samples, Gateway::Wasmtime).expect("wasmtime ran");
        assert_eq!(ratios(comptoir, wasmtime), (Some(0.0), None));
        assert_eq!(totals(&samples[..1], Gateway::Wasmtime), None);
    }
}

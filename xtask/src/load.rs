//! Running a k6 scenario from `load/` and reading its figures, and
//! `cargo xtask load`: one scenario against a fresh build.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::stack::{self, Topology};
use crate::{Profile, Replicas, metrics};

/// The scenarios `cargo xtask load` runs (`load/<scenario>.js`).
const SCENARIOS: [&str; 6] = [
    "smoke",
    "order-flow",
    "read-heavy",
    "stress",
    "hot-swap",
    "soak",
];

/// `cargo xtask load <scenario>`.
#[derive(clap::Args)]
pub struct Args {
    /// The k6 scenario: `load/<scenario>.js`.
    #[arg(value_parser = SCENARIOS)]
    scenario: String,
    /// Virtual users (default: the scenario's own).
    #[arg(long)]
    vus: Option<u32>,
    /// How long k6 runs, e.g. 30s or 10m (default: the scenario's own).
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    #[command(flatten)]
    replicas: Replicas,
    /// Two comptoir processes behind NGINX.
    #[arg(long)]
    nginx: bool,
    #[command(flatten)]
    profile: Profile,
}

/// `duration` as k6 reads it: whole seconds, else milliseconds.
pub fn k6_duration(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

/// The figures a run produced (from k6's summary export).
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Order flows whose every request was answered as expected
    /// (`flows_completed`, `load/lib/flow.js`); for a scenario that
    /// counts no flows, its iterations (abandoned flows are iterations
    /// too: never a divisor).
    pub completed: u64,
    pub completed_per_s: f64,
    /// Order flows cut short or spoilt by a failed request or check
    /// (`flows_failed`).
    pub abandoned: u64,
    /// Iterations an arrival-rate scenario could not start in time.
    pub dropped: u64,
    pub requests: u64,
    pub requests_per_s: f64,
    pub avg_ms: f64,
    pub med_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub failed: u64,
    pub http_5xx: u64,
    /// The k6 thresholds that failed, as `metric: threshold`.
    pub failed_thresholds: Vec<String>,
    /// CPU-ms k6 itself spent on the run (not from the summary: the
    /// reaped k6 process's own time).
    pub k6_cpu_ms: f64,
}

/// One k6 run.
pub struct Run<'a> {
    pub scenario: &'a str,
    /// Names the output files under `out`.
    pub label: String,
    pub base_url: &'a str,
    pub vus: Option<u32>,
    pub duration: Option<Duration>,
    pub env: Vec<(String, String)>,
    pub out: &'a Path,
}

impl Run<'_> {
    /// Runs k6; returns the figures and whether every threshold held.
    pub fn execute(&self, root: &Path) -> anyhow::Result<(Figures, bool)> {
        let k6 = crate::tools::ensure_k6()?;
        std::fs::create_dir_all(self.out)?;
        let summary = self.out.join(format!("{}-summary.json", self.label));
        let report = self.out.join(format!("{}-report.html", self.label));
        let mut command = Command::new(k6);
        command
            .current_dir(root.join("load"))
            .arg("run")
            .arg("--summary-export")
            .arg(&summary)
            .env("BASE_URL", self.base_url)
            .env("K6_WEB_DASHBOARD", "true")
            .env("K6_WEB_DASHBOARD_PORT", "-1")
            // Without a short period, short runs export no report.
            .env("K6_WEB_DASHBOARD_PERIOD", "1s")
            .env("K6_WEB_DASHBOARD_EXPORT", &report)
            .env("K6_NO_USAGE_REPORT", "true");
        if let Some(vus) = self.vus {
            command
                .args(["--vus", &vus.to_string()])
                .env("VUS", vus.to_string());
        }
        if let Some(duration) = self.duration {
            let duration = k6_duration(duration);
            command
                .args(["--duration", &duration])
                .env("DURATION", duration);
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command.arg(format!("{}.js", self.scenario));
        let (status, k6_cpu_ms) = crate::cpu::reaped_children_ms(|| command.status());
        let status = status.context("failed to run k6")?;
        let figures = Figures {
            k6_cpu_ms,
            ..read_summary(&summary)?
        };
        Ok((figures, status.success()))
    }
}

/// `cargo xtask load`: starts `args.scenario`'s topology, runs k6 against
/// it, and prints the figures (and comptoir's counts, RSS, connections).
pub fn command(root: &Path, args: &Args) -> anyhow::Result<()> {
    let scenario = &args.scenario;
    // `--debug` reuses the debug build (CI's smoke run: correctness, not speed).
    let release = args.profile.release();
    crate::build_host(release)?;
    let replicas = args.replicas.replicas;
    let topology = if args.nginx {
        Topology::Nginx { replicas }
    } else {
        Topology::Single { replicas }
    };
    let out = root.join("target/load");
    eprintln!("\x1b[1m==> starting comptoir: {topology}\x1b[0m");
    let system = stack::Stack::start_with(
        root,
        &crate::host_binary(release),
        &out.join("work"),
        topology,
        None,
    )?;
    let mut env = vec![
        ("ADMIN_URL".to_owned(), system.admin_url.clone()),
        ("ADMIN_TOKEN".to_owned(), system.token.clone()),
        ("BEARER".to_owned(), system.bearer.clone()),
    ];
    if scenario == "hot-swap" {
        let a = root.join("target/wasm32-wasip2/release/panier.wasm");
        let b = out.join("panier-variant.wasm");
        std::fs::write(&b, wasm_variant::variant(&std::fs::read(&a)?, "hot-swap"))?;
        env.push(("SWAP_A".to_owned(), a.display().to_string()));
        env.push(("SWAP_B".to_owned(), b.display().to_string()));
    }
    eprintln!(
        "\x1b[1m==> k6 run load/{scenario}.js against {}\x1b[0m",
        system.base_url
    );
    let run = Run {
        scenario,
        label: scenario.clone(),
        base_url: &system.base_url,
        vus: args.vus,
        duration: args.duration,
        env,
        out: &out,
    };
    let counted = metrics::Counts::scrape(system.admin_urls())?;
    let sampler = stack::RssSampler::start(&system);
    let (figures, passed) = run.execute(root)?;
    let samples = sampler.stop();
    let counts = metrics::Counts::scrape(system.admin_urls())?.per_flow(counted, figures.completed);
    let connections = system.database_connections();
    drop(system);
    println!("\n{scenario} ({topology}): {figures}");
    if let Some(counts) = counts {
        println!(
            "per completed flow: {:.2} component invocations, {:.2} SQL statements, {:.2} k6 CPU-ms",
            counts.invocations,
            counts.statements,
            figures.k6_cpu_ms / figures.completed as f64
        );
    }
    if let Some(report) = stack::RssSampler::report(&samples) {
        println!("{report}");
    }
    if let Some(n) = connections {
        println!("PostgreSQL connections at the end: {n}");
    }
    println!(
        "summary: {}\nreport:  {}",
        out.join(format!("{scenario}-summary.json")).display(),
        out.join(format!("{scenario}-report.html")).display()
    );
    if !passed {
        bail!("k6 thresholds failed");
    }
    Ok(())
}

/// The figures of a k6 `--summary-export` file.
pub fn read_summary(path: &Path) -> anyhow::Result<Figures> {
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(path)
            .with_context(|| format!("k6 wrote no summary at {}", path.display()))?,
    )?;
    let metrics = &summary["metrics"];
    let metric = |name: &str, field: &str| metrics[name][field].as_f64().unwrap_or(0.0);
    // A flow counter is in the export once a flow was counted or a
    // threshold names it: with neither, the scenario counts no flows.
    let counts_flows = ["flows_completed", "flows_failed"]
        .iter()
        .any(|name| metrics.get(name).is_some());
    let flows = if counts_flows {
        "flows_completed"
    } else {
        "iterations"
    };
    Ok(Figures {
        completed: metric(flows, "count") as u64,
        completed_per_s: metric(flows, "rate"),
        abandoned: metric("flows_failed", "count") as u64,
        dropped: metric("dropped_iterations", "count") as u64,
        requests: metric("http_reqs", "count") as u64,
        requests_per_s: metric("http_reqs", "rate"),
        avg_ms: metric("http_req_duration", "avg"),
        med_ms: metric("http_req_duration", "med"),
        p95_ms: metric("http_req_duration", "p(95)"),
        p99_ms: metric("http_req_duration", "p(99)"),
        // For the `http_req_failed` rate, "passes" counts failed requests.
        failed: metric("http_req_failed", "passes") as u64,
        http_5xx: metric("http_5xx", "count") as u64,
        failed_thresholds: failed_thresholds(metrics),
        k6_cpu_ms: 0.0,
    })
}

/// Every threshold of a `--summary-export`'s `metrics` that failed (k6
/// marks each `true` when it failed), as `metric: threshold`, sorted.
fn failed_thresholds(metrics: &serde_json::Value) -> Vec<String> {
    let mut failed: Vec<String> = metrics
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(name, metric)| {
            metric["thresholds"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, failed)| failed.as_bool() == Some(true))
                .map(move |(threshold, _)| format!("{name}: {threshold}"))
        })
        .collect();
    failed.sort();
    failed
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.1} flows/s ({} completed, {} abandoned), {:.0} req/s ({} requests), latency avg {:.2} ms, p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, {} failed, {} 5xx",
            self.completed_per_s,
            self.completed,
            self.abandoned,
            self.requests_per_s,
            self.requests,
            self.avg_ms,
            self.med_ms,
            self.p95_ms,
            self.p99_ms,
            self.failed,
            self.http_5xx
        )?;
        match self.failed_thresholds.as_slice() {
            [] => Ok(()),
            failed => write!(f, "; k6 thresholds failed: {}", failed.join(", ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// k6 gets whole seconds when it can, milliseconds otherwise.
    #[test]
    fn durations_as_k6_reads_them() {
        assert_eq!(
            k6_duration(humantime::parse_duration("10m").unwrap()),
            "600s"
        );
        assert_eq!(k6_duration(Duration::from_millis(1500)), "1500ms");
    }

    fn summary(json: &str) -> Figures {
        let dir = std::env::temp_dir().join(format!("xtask-summary-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{:x}.json", json.len()));
        std::fs::write(&path, json).unwrap();
        read_summary(&path).unwrap()
    }

    /// Completed flows come from `flows_completed`, abandoned ones from
    /// `flows_failed`; failed thresholds are named.
    #[test]
    fn flows_and_thresholds_from_the_summary() {
        let f = summary(
            r#"{"metrics": {
                "iterations": {"count": 105, "rate": 10.5},
                "flows_completed": {"count": 100, "rate": 10.0},
                "flows_failed": {"count": 5, "rate": 0.5, "thresholds": {"count==0": true}},
                "http_req_duration": {"p(99)": 61.0, "thresholds": {"p(99)<50": true, "p(99)<500": false}}
            }}"#,
        );
        assert_eq!((f.completed, f.abandoned), (100, 5));
        assert_eq!(f.completed_per_s, 10.0);
        assert_eq!(
            f.failed_thresholds,
            ["flows_failed: count==0", "http_req_duration: p(99)<50"]
        );
    }

    /// A flow counter named by a threshold but never counted means none
    /// completed; without flow counters, iterations are the flows.
    #[test]
    fn flows_without_counters() {
        let f = summary(
            r#"{"metrics": {"iterations": {"count": 7, "rate": 1.0},
                "flows_failed": {"count": 7, "rate": 1.0}}}"#,
        );
        assert_eq!((f.completed, f.abandoned), (0, 7));
        let f = summary(r#"{"metrics": {"iterations": {"count": 7, "rate": 1.0}}}"#);
        assert_eq!((f.completed, f.completed_per_s, f.abandoned), (7, 1.0, 0));
        assert!(f.failed_thresholds.is_empty());
    }
}

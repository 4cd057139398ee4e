//! Running a k6 scenario from `load/` and reading its figures.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;

/// The figures a run produced (from k6's summary export).
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Completed iterations (order flows, in `order-flow`).
    pub iterations: u64,
    pub iterations_per_s: f64,
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
    pub duration: Option<String>,
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
        if let Some(duration) = &self.duration {
            command
                .args(["--duration", duration])
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

/// The figures of a k6 `--summary-export` file.
pub fn read_summary(path: &PathBuf) -> anyhow::Result<Figures> {
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(path)
            .with_context(|| format!("k6 wrote no summary at {}", path.display()))?,
    )?;
    let metric = |name: &str, field: &str| summary["metrics"][name][field].as_f64().unwrap_or(0.0);
    Ok(Figures {
        iterations: metric("iterations", "count") as u64,
        iterations_per_s: metric("iterations", "rate"),
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
        k6_cpu_ms: 0.0,
    })
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.1} flows/s, {:.0} req/s ({} requests), latency avg {:.2} ms, p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, {} failed, {} 5xx",
            self.iterations_per_s,
            self.requests_per_s,
            self.requests,
            self.avg_ms,
            self.med_ms,
            self.p95_ms,
            self.p99_ms,
            self.failed,
            self.http_5xx
        )
    }
}

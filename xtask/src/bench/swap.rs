//! `cargo xtask bench swap`: time from a deploy's return to the first
//! response of the new version, and latency of steady traffic before vs
//! during swaps.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;

use super::verdict;
use crate::load::Run;
use crate::stack::{Stack, Topology};

/// `cargo xtask bench swap`.
#[derive(clap::Args)]
pub struct Args {
    /// Deploys of panier, alternating between two builds.
    #[arg(long, default_value_t = 8)]
    swaps: usize,
    /// Virtual users of the steady traffic.
    #[arg(long, default_value_t = 10)]
    vus: u32,
}

/// Deploys `panier` back and forth under steady order-flow traffic; reports
/// time to the new version and latency before vs during swaps.
pub fn swap(root: &Path, args: &Args) -> anyhow::Result<()> {
    crate::build_release()?;
    let (swaps, vus) = (args.swaps, args.vus);
    let out = root.join("target/load");
    let system = Stack::start(root, &out.join("work"), Topology::Single { replicas: 4 })?;
    let a = std::fs::read(root.join("target/wasm32-wasip2/release/panier.wasm"))?;
    let builds = [wasm_variant::variant(&a, "swap-bench"), a];

    let steady = |label: &str, seconds: u64| Run {
        scenario: "order-flow",
        label: label.to_owned(),
        base_url: &system.base_url,
        vus: Some(vus),
        duration: Some(Duration::from_secs(seconds)),
        env: vec![("BEARER".to_owned(), system.bearer.clone())],
        out: &out,
    };
    eprintln!("\x1b[1m==> steady traffic, no swaps\x1b[0m");
    let (before, _) = steady("swap-before", 15).execute(root)?;

    eprintln!("\x1b[1m==> same traffic, {swaps} swaps of panier\x1b[0m");
    let during_secs = 4 + swaps as u64 * 2;
    let base = system.base_url.clone();
    let admin = system.admin_url.clone();
    let token = system.token.clone();
    let swapper = std::thread::spawn(move || -> anyhow::Result<Vec<f64>> {
        std::thread::sleep(Duration::from_secs(2));
        let mut to_new = Vec::new();
        let http = crate::http();
        let probe_url = format!("{base}/panier/00000000-0000-0000-0000-000000000000");
        for i in 0..swaps {
            let mut response = http
                .put(format!("{admin}/admin/components/panier"))
                .header("Authorization", format!("Bearer {token}"))
                .send(&builds[i % 2])?;
            let returned = Instant::now();
            let body = response.body_mut().read_to_string()?;
            if response.status() != 200 {
                bail!("swap {i} failed: {} {body}", response.status());
            }
            let done: serde_json::Value = serde_json::from_str(&body)?;
            let version = done["version"].as_str().unwrap_or_default().to_owned();
            // Probed back to back: the figure is how soon it answers.
            let answered = crate::wait::poll(Duration::from_secs(5), Duration::ZERO, || {
                let probe = http.get(&probe_url).call()?;
                let component = probe.headers().get("comptoir-component");
                Ok(
                    (component.and_then(|v| v.to_str().ok()) == Some(version.as_str()))
                        .then(|| returned.elapsed()),
                )
            })?;
            let Some(elapsed) = answered else {
                bail!("swap {i}: the new version never answered");
            };
            to_new.push(elapsed.as_secs_f64() * 1000.0);
            std::thread::sleep(Duration::from_millis(1800));
        }
        Ok(to_new)
    });
    let (during, _) = steady("swap-during", during_secs).execute(root)?;
    let mut to_new = swapper
        .join()
        .map_err(|_| anyhow::anyhow!("swapper panicked"))??;
    to_new.sort_by(f64::total_cmp);
    let median = to_new[to_new.len() / 2];
    let max = to_new.last().copied().unwrap_or_default();
    let table = format!(
        "Hot swap of panier under order-flow traffic ({vus} VUs, 4 replicas), {} swaps.\n\n\
         | | p50 ms | p99 ms | failed | 5xx |\n| --- | ---: | ---: | ---: | ---: |\n\
         | steady, no swaps | {:.2} | {:.2} | {} | {} |\n| during swaps | {:.2} | {:.2} | {} | {} |\n\n\
         Time from the deploy's response to the first response of the new version: median {median:.1} ms, max {max:.1} ms.\n\n{}{}{}",
        to_new.len(),
        before.med_ms,
        before.p99_ms,
        before.failed,
        before.http_5xx,
        during.med_ms,
        during.p99_ms,
        during.failed,
        during.http_5xx,
        verdict(
            "new version serves < 250 ms after the upload returns",
            max < 250.0,
            format!("max {max:.1} ms")
        ),
        verdict(
            "p99 during swaps ≤ 2 × steady p99",
            during.p99_ms <= 2.0 * before.p99_ms,
            format!("{:.2} vs {:.2} ms", during.p99_ms, before.p99_ms)
        ),
        verdict(
            "0 failed requests",
            during.failed == 0,
            format!("{} failed", during.failed)
        ),
    );
    println!("\n{table}");
    std::fs::write(out.join("bench-swap.md"), &table)?;
    Ok(())
}

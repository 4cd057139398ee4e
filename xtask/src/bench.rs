//! `cargo xtask bench`: the side-by-side benchmarks of DESIGN.md §8, all
//! in one run on this machine.
//!
//! - `flows` (default): the order flow at 1, 10 and 50 VUs for (a) 1
//!   replica, (b) N replicas round-robin, (c) 2 processes behind NGINX, and
//!   (d) the PostgreSQL floor: pgbench running the same SQL statements at the
//!   same concurrency. Prints a markdown table (also written to
//!   `target/load/bench.md`).
//! - `swap`: time from a deploy's return to the first response of the new
//!   version, and latency of steady traffic before vs during swaps.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::load::{Figures, Run};
use crate::stack::{Stack, Topology};
use crate::{flag, http};

pub fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    match args.first().map(String::as_str) {
        None | Some("flows") | Some("--vus") | Some("--duration") | Some("--replicas") => {
            flows(root, args)
        }
        Some("swap") => swap(root, args),
        Some(other) => bail!("unknown benchmark {other:?}: flows or swap"),
    }
}

struct Row {
    setup: String,
    vus: u32,
    figures: Figures,
}

fn flows(root: &Path, args: &[String]) -> anyhow::Result<()> {
    crate::build_release()?;
    let levels: Vec<u32> = flag(args, "--vus")
        .unwrap_or("1,10,50")
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let duration = flag(args, "--duration").unwrap_or("20s");
    let replicas: u32 = flag(args, "--replicas")
        .map(str::parse)
        .transpose()?
        .unwrap_or(4);
    let out = root.join("target/load");
    let work = out.join("work");
    let mut rows = Vec::new();
    let mut floor = Vec::new();
    let mut rss = None;
    let topologies = [
        ("(a) 1 replica", Topology::Single { replicas: 1 }),
        ("(b) round-robin", Topology::Single { replicas }),
        (
            "(c) 2 × comptoir + NGINX",
            Topology::Nginx {
                replicas: replicas.div_ceil(2),
            },
        ),
    ];
    for (i, (name, topology)) in topologies.into_iter().enumerate() {
        eprintln!("\x1b[1m==> {name}: {topology}\x1b[0m");
        let system = Stack::start(root, &work, topology)?;
        for &vus in &levels {
            let run = Run {
                scenario: "order-flow",
                label: format!("bench-{}-{vus}vu", name.chars().nth(1).unwrap_or('x')),
                base_url: &system.base_url,
                vus: Some(vus),
                duration: Some(duration.to_owned()),
                env: vec![],
                out: &out,
            };
            let (figures, _) = run.execute(root)?;
            eprintln!("    {vus} VUs: {figures}");
            rows.push(Row {
                setup: format!("{name} ({topology})"),
                vus,
                figures,
            });
        }
        if i == 1 {
            rss = system.rss_bytes();
        }
        if i == 0 {
            // The floor, on the same PostgreSQL, before this cluster stops.
            for &vus in &levels {
                let tps = pgbench(root, &system.state_dir, vus, duration)?;
                eprintln!("    pgbench {vus} clients: {tps:.1} flows/s");
                floor.push((vus, tps));
            }
        }
    }
    let table = render(&rows, &floor, replicas, rss);
    println!("\n{table}");
    std::fs::write(out.join("bench.md"), &table)?;
    eprintln!("written to {}", out.join("bench.md").display());
    Ok(())
}

/// pgbench running `load/pgbench/order-flow.sql` with `clients` connections
/// for `duration` on a database holding all three services' tables.
fn pgbench(root: &Path, state_dir: &Path, clients: u32, duration: &str) -> anyhow::Result<f64> {
    let admin = crate::stack::superuser_url(state_dir, "postgres")?;
    let bench = crate::stack::superuser_url(state_dir, "bench")?;
    let psql = |url: &str, args: &[&str]| -> anyhow::Result<()> {
        let status = Command::new("psql")
            .args(["-q", "-v", "ON_ERROR_STOP=1", url])
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
            .context("psql is needed for the PostgreSQL floor")?;
        if !status.success() {
            bail!("psql {args:?} failed");
        }
        Ok(())
    };
    psql(
        &admin,
        &[
            "-c",
            "DROP DATABASE IF EXISTS bench",
            "-c",
            "CREATE DATABASE bench",
        ],
    )?;
    for service in ["clients", "panier", "commande"] {
        let mut files: Vec<_> =
            std::fs::read_dir(root.join("db").join(service).join("migrations"))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .collect();
        files.sort();
        for file in files {
            psql(&bench, &["-f", file.to_str().unwrap_or_default()])?;
        }
    }
    let seconds = duration.trim_end_matches('s').parse::<u32>().unwrap_or(20);
    let output = Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-f"])
        .arg(root.join("load/pgbench/order-flow.sql"))
        .args([
            "-c",
            &clients.to_string(),
            "-j",
            &clients.min(2).to_string(),
            "-T",
            &seconds.to_string(),
        ])
        .arg(&bench)
        .output()
        .context("pgbench is needed for the PostgreSQL floor")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "pgbench failed: {}{}",
            text,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    text.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2)?.parse().ok())
        .context("no tps in pgbench output")
}

fn render(rows: &[Row], floor: &[(u32, f64)], replicas: u32, rss: Option<u64>) -> String {
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
    let mut t = format!(
        "Order flow (7 requests: create client, 3 × add item, read cart, place order, read order), k6 on the same machine ({cores} cores, {cpu}).\n\n\
         | setup | VUs | flows/s | req/s | avg ms | p50 ms | p95 ms | p99 ms | 5xx | failed | ÷ PostgreSQL floor |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    );
    for row in rows {
        let f = &row.figures;
        let ratio = floor
            .iter()
            .find(|(v, _)| *v == row.vus)
            .map(|(_, tps)| format!("{:.2}", f.iterations_per_s / tps))
            .unwrap_or_default();
        t += &format!(
            "| {} | {} | {:.1} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} |\n",
            row.setup,
            row.vus,
            f.iterations_per_s,
            f.requests_per_s,
            f.avg_ms,
            f.med_ms,
            f.p95_ms,
            f.p99_ms,
            f.http_5xx,
            f.failed,
            ratio
        );
    }
    for (vus, tps) in floor {
        t += &format!(
            "| (d) PostgreSQL floor (pgbench, same SQL) | {vus} | {tps:.1} | | | | | | | | 1.00 |\n"
        );
    }
    t += "\nTargets (DESIGN.md §8), for (b):\n\n";
    let b = |vus: u32| {
        rows.iter()
            .find(|r| r.vus == vus && r.setup.starts_with("(b)"))
            .map(|r| &r.figures)
    };
    let floor_at = |vus: u32| floor.iter().find(|(v, _)| *v == vus).map(|(_, t)| *t);
    if let (Some(f), Some(tps)) = (b(10), floor_at(10)) {
        let ratio = f.iterations_per_s / tps;
        t += &verdict(
            "10 VUs: flows/s ≥ 0.5 × floor",
            ratio >= 0.5,
            format!("{ratio:.2} × floor"),
        );
        t += &verdict(
            "10 VUs: p99 < 5 ms",
            f.p99_ms < 5.0,
            format!("{:.2} ms", f.p99_ms),
        );
        t += &verdict(
            "10 VUs: 0 failed requests",
            f.failed == 0,
            format!("{} failed", f.failed),
        );
    }
    if let Some(f) = b(1) {
        t += &verdict(
            "1 VU: p50 < 1 ms",
            f.med_ms < 1.0,
            format!("{:.2} ms", f.med_ms),
        );
    }
    if let Some(rss) = rss {
        let mib = rss as f64 / 1048576.0;
        t += &verdict(
            &format!("RSS < 150 MB with 3 components × {replicas} replicas after load"),
            mib < 143.05,
            format!("{mib:.1} MiB"),
        );
    }
    t += "\nThe seed's FastAPI system, for scale: 43.43 ms average per request without load balancing, 33.89 ms with NGINX.\n";
    t
}

fn verdict(target: &str, met: bool, figure: String) -> String {
    format!(
        "- {target}: **{}** ({figure})\n",
        if met { "met" } else { "missed" }
    )
}

/// Deploys `panier` back and forth under steady order-flow traffic; reports
/// time to the new version and latency before vs during swaps.
fn swap(root: &Path, args: &[String]) -> anyhow::Result<()> {
    crate::build_release()?;
    let swaps: usize = flag(args, "--swaps")
        .map(str::parse)
        .transpose()?
        .unwrap_or(8);
    let vus: u32 = flag(args, "--vus")
        .map(str::parse)
        .transpose()?
        .unwrap_or(10);
    let out = root.join("target/load");
    let system = Stack::start(root, &out.join("work"), Topology::Single { replicas: 4 })?;
    let a = std::fs::read(root.join("target/wasm32-wasip2/release/panier.wasm"))?;
    let builds = [crate::variant(&a, "swap-bench"), a];

    let steady = |label: &str, seconds: u64| Run {
        scenario: "order-flow",
        label: label.to_owned(),
        base_url: &system.base_url,
        vus: Some(vus),
        duration: Some(format!("{seconds}s")),
        env: vec![],
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
        for i in 0..swaps {
            let response = http::request(
                "PUT",
                &format!("{admin}/admin/components/panier"),
                &[("Authorization", &format!("Bearer {token}"))],
                &builds[i % 2],
            )?;
            let returned = Instant::now();
            if response.status != 200 {
                bail!(
                    "swap {i} failed: {} {}",
                    response.status,
                    String::from_utf8_lossy(&response.body)
                );
            }
            let done: serde_json::Value = serde_json::from_slice(&response.body)?;
            let version = done["version"].as_str().unwrap_or_default().to_owned();
            loop {
                let probe = http::request(
                    "GET",
                    &format!("{base}/panier/00000000-0000-0000-0000-000000000000"),
                    &[],
                    &[],
                )?;
                if probe.header("comptoir-component") == Some(version.as_str()) {
                    to_new.push(returned.elapsed().as_secs_f64() * 1000.0);
                    break;
                }
                if returned.elapsed() > Duration::from_secs(5) {
                    bail!("swap {i}: the new version never answered");
                }
            }
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

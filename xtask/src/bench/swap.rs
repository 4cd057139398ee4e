//! `cargo xtask bench swap`: time from a deploy's return to the first
//! response of the new version, and latency of steady traffic before vs
//! during swaps, over `--runs` rounds (steady, then swaps, each round):
//! every figure a median with its min–max.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;

use super::Runs;
use super::spread::{Spread, judge};
use crate::load::{Figures, Run};
use crate::stack::{Stack, Topology};

/// `cargo xtask bench swap`.
#[derive(clap::Args)]
pub struct Args {
    /// Deploys of panier in each round, alternating between two builds.
    #[arg(long, default_value_t = 8)]
    swaps: usize,
    /// Virtual users of the steady traffic.
    #[arg(long, default_value_t = 10)]
    vus: u32,
    #[command(flatten)]
    runs: Runs,
}

/// The target: the new version serves this soon after the upload returns.
const TO_NEW_MS: f64 = 250.0;

/// One round: steady traffic, then the same traffic with swaps.
struct Round {
    before: Figures,
    during: Figures,
    /// ms from each deploy's response to the new version's first answer.
    to_new: Vec<f64>,
}

/// Deploys `panier` back and forth under steady order-flow traffic; reports
/// time to the new version and latency before vs during swaps.
pub fn swap(root: &Path, args: &Args) -> anyhow::Result<()> {
    crate::build_release()?;
    let out = root.join("target/load");
    let system = Stack::start(root, &out.join("work"), Topology::Single { replicas: 4 })?;
    let a = std::fs::read(root.join("target/wasm32-wasip2/release/panier.wasm"))?;
    let builds = [wasm_variant::variant(&a, "swap-bench"), a];
    let mut rounds = Vec::new();
    for round in 1..=args.runs.runs {
        rounds.push(self::round(root, &out, &system, &builds, args, round)?);
    }
    let table = render(&rounds, args);
    println!("\n{table}");
    std::fs::write(out.join("bench-swap.md"), &table)?;
    Ok(())
}

/// Round `round`: 15 s of steady traffic, then the same with `args.swaps`
/// deploys of `builds` (taking turns), each probed until it answers.
fn round(
    root: &Path,
    out: &Path,
    system: &Stack,
    builds: &[Vec<u8>; 2],
    args: &Args,
    round: u32,
) -> anyhow::Result<Round> {
    let (swaps, vus) = (args.swaps, args.vus);
    let steady = |label: String, seconds: u64| Run {
        scenario: "order-flow",
        label,
        base_url: &system.base_url,
        vus: Some(vus),
        duration: Some(Duration::from_secs(seconds)),
        env: vec![("BEARER".to_owned(), system.bearer.clone())],
        out,
    };
    eprintln!("\x1b[1m==> round {round}: steady traffic, no swaps\x1b[0m");
    let (before, _) = steady(format!("swap-before-{round}"), 15).execute(root)?;

    eprintln!("\x1b[1m==> round {round}: same traffic, {swaps} swaps of panier\x1b[0m");
    let during_secs = 4 + swaps as u64 * 2;
    let (during, to_new) = std::thread::scope(|scope| {
        let swapper = scope.spawn(|| swap_under_traffic(system, builds, swaps));
        let during = steady(format!("swap-during-{round}"), during_secs).execute(root);
        let to_new = swapper
            .join()
            .map_err(|_| anyhow::anyhow!("swapper panicked"))?;
        anyhow::Ok((during?.0, to_new?))
    })?;
    Ok(Round {
        before,
        during,
        to_new,
    })
}

/// `swaps` deploys of panier, 2 s apart after 2 s: for each, the ms from
/// the deploy's response to the first response of the new version.
fn swap_under_traffic(
    system: &Stack,
    builds: &[Vec<u8>; 2],
    swaps: usize,
) -> anyhow::Result<Vec<f64>> {
    std::thread::sleep(Duration::from_secs(2));
    let mut to_new = Vec::new();
    let http = crate::http();
    let probe_url = format!(
        "{}/panier/00000000-0000-0000-0000-000000000000",
        system.base_url
    );
    for i in 0..swaps {
        let mut response = http
            .put(format!("{}/admin/components/panier", system.admin_url))
            .header("Authorization", format!("Bearer {}", system.token))
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
}

/// The rounds' table and the targets' verdicts, judged on the medians.
fn render(rounds: &[Round], args: &Args) -> String {
    let mut t = format!(
        "Hot swap of panier under order-flow traffic ({} VUs, 4 replicas), {} swaps per round, \
         {} round(s), each steady traffic then the same with swaps.\n\n\
         | round | steady p50 ms | steady p99 ms | during p50 ms | during p99 ms | failed during | 5xx during | to new version: median ms | max ms |\n\
         | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        args.vus,
        args.swaps,
        rounds.len()
    );
    for (i, r) in rounds.iter().enumerate() {
        let to_new = Spread::of(r.to_new.iter().copied());
        t += &format!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {:.1} | {:.1} |\n",
            i + 1,
            r.before.med_ms,
            r.before.p99_ms,
            r.during.med_ms,
            r.during.p99_ms,
            r.during.failed,
            r.during.http_5xx,
            to_new.map_or(f64::NAN, |s| s.median),
            to_new.map_or(f64::NAN, |s| s.max),
        );
    }
    let over = |figure: fn(&Round) -> f64| Spread::of(rounds.iter().map(figure)).ok_or("no round");
    let worst = |r: &Round| r.to_new.iter().copied().fold(f64::NAN, f64::max);
    let all_swaps = Spread::of(rounds.iter().flat_map(|r| r.to_new.iter().copied()));
    if let Some(s) = all_swaps {
        t += &format!(
            "\nEvery swap of every round: {} swaps, to the new version median {:.1} ms, max {:.1} ms.\n\n",
            s.runs, s.median, s.max
        );
    }
    t += &judge(
        &format!(
            "new version serves < {TO_NEW_MS:.0} ms after the upload returns (each round's slowest swap)"
        ),
        over(worst),
        |v| v < TO_NEW_MS,
        |s| format!("{} ms", s.show(1)),
    );
    t += &judge(
        "p99 during swaps ≤ 2 × steady p99 (round by round)",
        Spread::of_ratios(rounds.iter().map(|r| (r.during.p99_ms, r.before.p99_ms)))
            .ok_or("no round"),
        |v| v <= 2.0,
        |s| format!("{} ×", s.show(2)),
    );
    t += &judge(
        "0 failed requests during swaps",
        over(|r| r.during.failed as f64),
        |v| v == 0.0,
        |s| format!("{} failed", s.show(0)),
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(before_p99: f64, during_p99: f64, failed: u64, to_new: &[f64]) -> Round {
        let figures = |p99_ms, failed| Figures {
            med_ms: 1.0,
            p99_ms,
            failed,
            ..Figures::default()
        };
        Round {
            before: figures(before_p99, 0),
            during: figures(during_p99, failed),
            to_new: to_new.to_vec(),
        }
    }

    /// Each target is judged on the median over rounds: the slowest swap
    /// of each round, the p99 ratio round by round, the failures.
    #[test]
    fn verdicts_on_the_rounds_medians() {
        let args = Args {
            swaps: 2,
            vus: 10,
            runs: Runs { runs: 3 },
        };
        let rounds = [
            round(20.0, 30.0, 0, &[3.0, 9.0]),
            round(20.0, 50.0, 2, &[4.0, 300.0]),
            round(20.0, 20.0, 0, &[2.0, 5.0]),
        ];
        let text = render(&rounds, &args);
        assert!(
            text.contains("| 2 | 1.00 | 20.00 | 1.00 | 50.00 | 2 | 0 | 152.0 | 300.0 |"),
            "{text}"
        );
        assert!(
            text.contains("6 swaps, to the new version median 4.5 ms, max 300.0 ms"),
            "{text}"
        );
        assert!(
            text.contains("(each round's slowest swap): **met** — 9.0 (5.0–300.0) ms"),
            "{text}"
        );
        assert!(text.contains("≤ 2 × steady p99 (round by round): **met** — 1.50 (1.00–2.50) ×"));
        assert!(text.contains("0 failed requests during swaps: **met** — 0 (0–2) failed"));
    }
}

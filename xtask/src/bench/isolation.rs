//! `cargo xtask bench isolation`: what `--isolation request` (one request
//! per instance at a time) costs against `--isolation instance` (up to 16
//! requests share one), in one run: both up together, taking turns at 10
//! VUs and at the fixed rate, CPU per flow and latency side by side
//! (medians, min–max).

use std::path::Path;
use std::time::Duration;

use super::spread::{Spread, shown};
use super::{FIXED_RATE, Load, Row, Runs, Session, Target};
use crate::Replicas;
use crate::stack::{Stack, Topology};

/// `cargo xtask bench isolation`.
#[derive(clap::Args)]
pub struct Args {
    /// Each k6 run, e.g. 20s or 1m.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "20s")]
    duration: Duration,
    #[command(flatten)]
    replicas: Replicas,
    #[command(flatten)]
    runs: Runs,
}

const LOADS: [Load; 2] = [Load::Vus(10), Load::Rate(FIXED_RATE)];

pub fn isolation(root: &Path, args: &Args) -> anyhow::Result<()> {
    crate::build_release()?;
    let out = root.join("target/load");
    let session = Session {
        root,
        out: &out,
        duration: args.duration,
        runs: args.runs.runs,
    };
    let topology = Topology::Single {
        replicas: args.replicas.replicas,
    };
    let mut systems = Vec::new();
    for isolation in ["instance", "request"] {
        eprintln!("\x1b[1m==> --isolation {isolation}: {topology}\x1b[0m");
        let work = out.join("work").join(format!("isolation-{isolation}"));
        let flags = ["--isolation", isolation];
        systems.push((
            isolation,
            Stack::start_flags(root, &work, topology, &flags)?,
        ));
    }
    let targets: Vec<Target> = systems
        .iter()
        .map(|(isolation, system)| {
            let setup = format!("--isolation {isolation} ({topology})");
            Target::comptoir(system, setup, isolation)
        })
        .collect();
    let entries: Vec<_> = targets.iter().map(|t| (t, LOADS.to_vec())).collect();
    let (rows, _) = session.alternate(&entries, None)?;
    let text = render(&rows);
    println!("\n{text}");
    std::fs::write(out.join("isolation.md"), &text)?;
    eprintln!("written to {}", out.join("isolation.md").display());
    Ok(())
}

fn render(rows: &[Row]) -> String {
    let mut t = String::from(
        "Medians (min–max) of the runs, the two modes taking turns.\n\n\
         | isolation | load | flows/s | p50 ms | p99 ms | failed requests | failed flows | server CPU-ms/flow | PostgreSQL CPU-ms/flow |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for row in rows {
        t += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            row.setup,
            row.load,
            shown(row.k6(|f| f.completed_per_s), 1),
            shown(row.k6(|f| f.med_ms), 2),
            shown(row.k6(|f| f.p99_ms), 2),
            shown(row.k6(|f| f.failed as f64), 0),
            shown(row.k6(|f| f.abandoned as f64), 0),
            shown(row.spread(|s| s.server_ms), 2),
            shown(row.spread(|s| s.postgres_ms), 2),
        );
    }
    t.push('\n');
    for load in LOADS {
        let of = |tag: &str| rows.iter().find(|r| r.tag == tag && r.load == load);
        let (Some(instance), Some(request)) = (of("instance"), of("request")) else {
            continue;
        };
        let ratio = |figure: fn(&super::Sample) -> Option<f64>| {
            Spread::of_ratios(
                request
                    .runs
                    .iter()
                    .zip(&instance.runs)
                    .filter_map(|(r, i)| Some((figure(r)?, figure(i)?))),
            )
        };
        t += &format!(
            "- {load}: request ÷ instance, run by run: CPU per flow {} ×, p99 {} ×\n",
            shown(ratio(|s| s.server_ms), 2),
            shown(ratio(|s| Some(s.figures.p99_ms)), 2),
        );
    }
    t
}

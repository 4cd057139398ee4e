//! `cargo xtask bench isolation`: what `--isolation request` (one request
//! per instance at a time) costs against `--isolation instance` (up to 16
//! requests share one), in one run: the order flow at 10 VUs and at the
//! fixed rate, CPU per flow and latency side by side.

use std::path::Path;
use std::time::Duration;

use super::{FIXED_RATE, Load, Row, Target, table};
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
}

pub fn isolation(root: &Path, args: &Args) -> anyhow::Result<()> {
    crate::build_release()?;
    let duration = args.duration;
    let replicas = args.replicas.replicas;
    let out = root.join("target/load");
    let work = out.join("work");
    let mut rows = Vec::new();
    for (tag, isolation) in [("instance", "instance"), ("request", "request")] {
        let topology = Topology::Single { replicas };
        eprintln!("\x1b[1m==> --isolation {isolation}: {topology}\x1b[0m");
        let system = Stack::start_flags(root, &work, topology, &["--isolation", isolation])?;
        let target = Target::comptoir(
            &system,
            format!("--isolation {isolation} ({topology})"),
            tag,
        );
        rows.push(target.measure(root, &out, Load::Vus(10), duration)?);
        rows.push(target.measure(root, &out, Load::Rate(FIXED_RATE), duration)?);
    }
    let text = render(&rows);
    println!("\n{text}");
    std::fs::write(out.join("isolation.md"), &text)?;
    eprintln!("written to {}", out.join("isolation.md").display());
    Ok(())
}

fn render(rows: &[Row]) -> String {
    let mut t = String::from(
        "| isolation | load | flows/s | p50 ms | p99 ms | failed | server CPU-ms/flow | PostgreSQL CPU-ms/flow |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for row in rows {
        let f = &row.figures;
        t += &format!(
            "| {} | {} | {:.1} | {:.2} | {:.2} | {} | {} | {} |\n",
            row.setup,
            row.load,
            f.iterations_per_s,
            f.med_ms,
            f.p99_ms,
            f.failed,
            table::ms(row.server_ms),
            table::ms(row.postgres_ms)
        );
    }
    t.push('\n');
    for load in [Load::Vus(10), Load::Rate(FIXED_RATE)] {
        let of = |tag: &str| rows.iter().find(|r| r.tag == tag && r.load == load);
        if let (Some(instance), Some(request)) = (of("instance"), of("request"))
            && let (Some(a), Some(b)) = (instance.server_ms, request.server_ms)
        {
            t += &format!(
                "- {load}: request ÷ instance: CPU per flow {:.2}×, p99 {:.2}×\n",
                b / a,
                request.figures.p99_ms / instance.figures.p99_ms
            );
        }
    }
    t
}

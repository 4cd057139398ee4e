//! The PostgreSQL floor: pgbench running the order flow's SQL statements
//! (`load/pgbench/order-flow.sql`) at the same concurrency as k6.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};

/// pgbench running `load/pgbench/order-flow.sql` with `clients` connections
/// for `duration` on a database holding all three services' tables.
pub fn pgbench(root: &Path, state_dir: &Path, clients: u32, duration: &str) -> anyhow::Result<f64> {
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

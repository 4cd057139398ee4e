//! The PostgreSQL floor: pgbench running the order flow's SQL statements
//! (`load/pgbench/order-flow.sql`, the catalogue's included) at the same
//! concurrency as k6, and what PostgreSQL and pgbench spent per flow
//! meanwhile.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::cpu::Meter;
use crate::stack::Stack;

/// One pgbench run: a row of the floor.
pub struct Floor {
    pub clients: u32,
    /// Order flows (pgbench transactions) per second.
    pub tps: f64,
    /// CPU-ms per flow of PostgreSQL: the postmaster and every backend.
    pub postgres_ms: Option<f64>,
    /// CPU-ms per flow of pgbench itself (the floor's k6).
    pub client_ms: Option<f64>,
}

/// The products the floor's flows order (as many as k6's flows pick from:
/// the catalogue's first page less its scarce ones), with more stock than
/// any run takes: `order-flow.sql` picks three at random per flow.
const FLOOR_PRODUCTS: &str = "INSERT INTO products (sku, name, price_cents, stock) \
     SELECT 'BENCH-' || i, 'Produit d''exemple ' || i, 100 + (i * 37) % 2000, 1000000000 \
     FROM generate_series(1001, 1096) AS i";

/// pgbench running `load/pgbench/order-flow.sql` with `clients` connections
/// for `duration` on a database holding all four services' tables and
/// [`FLOOR_PRODUCTS`], in `system`'s PostgreSQL.
pub fn pgbench(
    root: &Path,
    system: &Stack,
    clients: u32,
    duration: Duration,
) -> anyhow::Result<Floor> {
    let state_dir = system.state_dir.as_path();
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
    for service in ["clients", "panier", "commande", "catalogue"] {
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
    psql(&bench, &["-c", FLOOR_PRODUCTS])?;
    // pgbench runs whole seconds, at least one.
    let seconds = duration.as_secs().max(1);
    let postgres = system.postgres_pid().map(|pid| Meter::start(&[pid]));
    let mut command = Command::new("pgbench");
    command
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
        .arg(&bench);
    let (output, client_ms) = crate::cpu::reaped_children_ms(|| command.output());
    let postgres_ms = postgres.map(Meter::stop);
    let output = output.context("pgbench is needed for the PostgreSQL floor")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "pgbench failed: {}{}",
            text,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let figure = |prefix: &str, nth: usize| -> anyhow::Result<f64> {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(nth)?.parse().ok())
            .with_context(|| format!("no {prefix:?} in pgbench output"))
    };
    let flows = figure("number of transactions actually processed:", 5)?;
    let per_flow = |ms: f64| (flows > 0.0).then(|| ms / flows);
    Ok(Floor {
        clients,
        tps: figure("tps = ", 2)?,
        postgres_ms: postgres_ms.and_then(per_flow),
        client_ms: per_flow(client_ms),
    })
}

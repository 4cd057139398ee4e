//! The PostgreSQL floor: pgbench running the order flow's SQL statements
//! (`load/pgbench/order-flow.sql`, the catalogue's included) at the same
//! concurrency as k6, and what PostgreSQL and pgbench spent per flow
//! meanwhile: a database of its own, made once, run as often as asked.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};

use super::spread::Spread;
use crate::cpu::Meter;
use crate::stack::Stack;

/// One pgbench run.
pub struct Floor {
    /// Order flows (pgbench transactions) per second.
    pub tps: f64,
    /// CPU-ms per flow of PostgreSQL: the postmaster and every backend.
    pub postgres_ms: Option<f64>,
    /// CPU-ms per flow of pgbench itself (the floor's k6).
    pub client_ms: Option<f64>,
}

/// Every run at one number of clients: a row of the floor.
pub struct FloorRow {
    pub clients: u32,
    pub runs: Vec<Floor>,
}

impl FloorRow {
    pub fn new(clients: u32) -> Self {
        Self {
            clients,
            runs: Vec::new(),
        }
    }

    /// `figure` over the runs that have it.
    pub fn spread(&self, figure: impl Fn(&Floor) -> Option<f64>) -> Option<Spread> {
        Spread::of(self.runs.iter().filter_map(figure))
    }
}

/// The products the floor's flows order (as many as k6's flows pick from:
/// the catalogue's first page less its scarce ones), with more stock than
/// any run takes: `order-flow.sql` picks three at random per flow.
const FLOOR_PRODUCTS: &str = "INSERT INTO products (sku, name, price_cents, stock) \
     SELECT 'BENCH-' || i, 'Produit d''exemple ' || i, 100 + (i * 37) % 2000, 1000000000 \
     FROM generate_series(1001, 1096) AS i";

/// pgbench's database in a stack's PostgreSQL, ready to run.
pub struct Pgbench {
    script: PathBuf,
    /// The `bench` database's URL.
    url: String,
    postgres: Option<u32>,
}

impl Pgbench {
    /// A `bench` database in `system`'s PostgreSQL holding all four
    /// services' tables and [`FLOOR_PRODUCTS`].
    pub fn prepare(root: &Path, system: &Stack) -> anyhow::Result<Self> {
        let state_dir = system.state_dir.as_path();
        let admin = crate::stack::superuser_url(state_dir, "postgres")?;
        let url = crate::stack::superuser_url(state_dir, "bench")?;
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
                psql(&url, &["-f", file.to_str().unwrap_or_default()])?;
            }
        }
        psql(&url, &["-c", FLOOR_PRODUCTS])?;
        Ok(Self {
            script: root.join("load/pgbench/order-flow.sql"),
            url,
            postgres: system.postgres_pid(),
        })
    }

    /// pgbench running the flow's statements with `clients` connections
    /// for `duration` (whole seconds, at least one).
    pub fn run(&self, clients: u32, duration: Duration) -> anyhow::Result<Floor> {
        let seconds = duration.as_secs().max(1);
        let postgres = self.postgres.map(|pid| Meter::start(&[pid]));
        let mut command = Command::new("pgbench");
        command
            .args(["-n", "-M", "prepared", "-f"])
            .arg(&self.script)
            .args([
                "-c",
                &clients.to_string(),
                "-j",
                &clients.min(2).to_string(),
                "-T",
                &seconds.to_string(),
            ])
            .arg(&self.url);
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
        let floor = Floor {
            tps: figure("tps = ", 2)?,
            postgres_ms: postgres_ms.and_then(per_flow),
            client_ms: per_flow(client_ms),
        };
        eprintln!(
            "    pgbench {clients} clients: {:.1} flows/s; CPU-ms/flow: PostgreSQL {}, pgbench {}",
            floor.tps,
            super::table::ms(floor.postgres_ms),
            super::table::ms(floor.client_ms)
        );
        Ok(floor)
    }
}

/// `psql` on `url` with `args`, stopping at the first error.
fn psql(url: &str, args: &[&str]) -> anyhow::Result<()> {
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
}

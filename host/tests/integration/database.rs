//! PostgreSQL for the tests. Every test gets fresh databases (one per
//! service, each with its own role, under names no other test uses) on one
//! cluster the whole test binary shares; a test that stops or restarts
//! PostgreSQL under the system gets a cluster of its own instead
//! ([`TestDb::own_cluster`]).
//!
//! The shared cluster is started on first use, under the run's directory
//! ([`run_dir`]), and stopped (fast shutdown) when the test process exits.
//! A test binary killed by a signal leaves it running, as it would have
//! left any test's own cluster: `pg_ctl stop -D /tmp/comptoir-test-*/pg/data`
//! stops it. It runs without fsync (durability is not what its tests
//! check), and its 300 connections (the embedded cluster's) serve every
//! test running at once: a comptoir opens at most `--db-pool-size` (32)
//! per service, and only as many as its concurrent requests need.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use comptoir::Cluster;

use crate::harness::{run_dir, temp_dir};

/// The cluster every test shares, once started.
static SHARED: OnceLock<Shared> = OnceLock::new();

struct Shared {
    /// Behind a lock: creating databases updates the cluster's secrets.
    cluster: tokio::sync::Mutex<Cluster>,
    /// Its directory (`<run dir>/pg`).
    pg: PathBuf,
}

/// The shared cluster, started by the first test that asks for it.
fn shared() -> &'static Shared {
    SHARED.get_or_init(|| {
        let pg = run_dir().join("pg");
        let dir = pg.clone();
        // The caller runs inside its test's runtime, which cannot block on
        // another future: start the cluster from a thread of its own.
        let cluster = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to start PostgreSQL")
                .block_on(Cluster::start(&dir))
        })
        .join()
        .expect("the thread starting PostgreSQL")
        .expect("PostgreSQL starts");
        // Durability is not what the tests sharing it check: without
        // fsync, creating their databases and every commit cost less.
        // (Reloaded: these settings need no restart.)
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(pg.join("data/postgresql.conf"))
            .unwrap();
        std::io::Write::write_all(
            &mut conf,
            b"fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n",
        )
        .unwrap();
        assert!(pg_ctl(&pg, &["reload"]).status().unwrap().success());
        Shared {
            cluster: tokio::sync::Mutex::new(cluster),
            pg,
        }
    })
}

/// Stops the shared cluster, if it was started (at process exit: nothing
/// here may panic).
pub fn stop_shared() {
    if let Some(shared) = SHARED.get() {
        let _ = pg_ctl(&shared.pg, &["stop", "-m", "fast", "-w", "-t", "30"]).status();
    }
}

/// `pg_ctl -D <pg>/data <args>`, as the OS user the server runs as (as
/// root, `postgres`: see `comptoir::cluster`), from a directory that user
/// may enter.
fn pg_ctl(pg: &Path, args: &[&str]) -> std::process::Command {
    let pg_ctl = std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("pg_ctl"))
                .find(|candidate| candidate.is_file())
        })
        .expect("pg_ctl on PATH");
    let mut command = if nix::unistd::Uid::effective().is_root() {
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(pg_ctl);
        c
    } else {
        std::process::Command::new(pg_ctl)
    };
    command
        .arg("-D")
        .arg(pg.join("data"))
        .args(args)
        .current_dir(pg)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    command
}

/// Runs `command` without blocking the test's other tasks; panics with
/// what it printed unless it succeeds.
async fn run(command: std::process::Command, what: &str) {
    let output = tokio::process::Command::from(command)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Fresh databases for one test, one per service.
pub struct TestDb {
    /// Each service's connection URL (its own role and database).
    pub urls: BTreeMap<String, String>,
    pub port: u16,
    /// The cluster's directory (`<dir>/pg`) when it is this test's own.
    own: Option<(PathBuf, tempfile::TempDir)>,
}

impl TestDb {
    /// Fresh databases for `services` on the cluster the tests share.
    pub async fn start(services: &[&str]) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let test = NEXT.fetch_add(1, Ordering::Relaxed);
        let names: Vec<String> = services.iter().map(|s| format!("{s}_{test}")).collect();
        let mut cluster = shared().cluster.lock().await;
        let mut urls = cluster
            .ensure_databases(&names)
            .await
            .expect("databases created");
        Self {
            urls: services
                .iter()
                .zip(&names)
                .map(|(service, name)| (service.to_string(), urls.remove(name).unwrap()))
                .collect(),
            port: cluster.port(),
            own: None,
        }
    }

    /// Fresh databases for `services` on a cluster of the test's own, for
    /// a test that stops it ([`TestDb::pause`]).
    pub async fn own_cluster(services: &[&str]) -> Self {
        let dir = temp_dir();
        let pg = dir.path().join("pg");
        let mut cluster = Cluster::start(&pg).await.expect("PostgreSQL starts");
        let names: Vec<String> = services.iter().map(|s| s.to_string()).collect();
        let urls = cluster
            .ensure_databases(&names)
            .await
            .expect("databases created");
        Self {
            urls,
            port: cluster.port(),
            own: Some((pg, dir)),
        }
    }

    /// The directory of the test's own cluster.
    fn own_pg(&self) -> &Path {
        let (pg, _) = self
            .own
            .as_ref()
            .expect("only a cluster of the test's own (TestDb::own_cluster) may be stopped");
        pg
    }

    /// Stops the server (fast shutdown) for an outage drill.
    pub async fn pause(&self) {
        let stop = pg_ctl(self.own_pg(), &["stop", "-m", "fast", "-w", "-t", "30"]);
        run(stop, "PostgreSQL stops").await;
    }

    /// Brings the server back on the same port: `pg_ctl restart` of a
    /// stopped server starts it with the options it last ran with.
    pub async fn resume(&self) {
        let pg = self.own_pg();
        let log = pg.join("postgres.log").display().to_string();
        let restart = pg_ctl(pg, &["restart", "-w", "-t", "60", "-l", &log]);
        run(restart, "PostgreSQL starts again").await;
    }

    /// A pool on `service`'s database, for checking what was written.
    pub async fn pool(&self, service: &str) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.urls[service]).await.unwrap()
    }

    /// Rows in `table` of `service`'s database.
    pub async fn count(&self, service: &str, table: &str) -> i64 {
        let pool = self.pool(service).await;
        let n = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        n
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // The shared cluster's databases stay until it stops at exit.
        if let Some((pg, _)) = &self.own {
            let _ = pg_ctl(pg, &["stop", "-m", "fast", "-w", "-t", "30"]).status();
        }
    }
}

//! The embedded PostgreSQL cluster `comptoir up` runs when no database URL
//! is configured: initdb once under `<state>/pg`, start on a free loopback
//! port, one database and one role per service, stop cleanly at exit.
//!
//! PostgreSQL refuses to run as root, so as root the server runs as the
//! `postgres` OS user (which must own the cluster directory). When that user
//! cannot reach `<state>/pg` (a checkout under root's 0700 home, a
//! `mktemp -d`), PostgreSQL's files go to `/var/lib/comptoir/<hash of the
//! state directory>` instead, with `<state>/pg/data` a link to them; the
//! passwords and the port stay under `<state>/pg`.
//!
//! - [`user`]: the OS user PostgreSQL runs as, and where its files go.

mod user;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context as _, bail};
use sqlx::Connection as _;
use tokio::process::Command;

/// Superuser role of the embedded cluster.
const SUPERUSER: &str = "comptoir";

/// A running embedded cluster.
pub struct Cluster {
    /// The directory PostgreSQL's own files live in (data, socket, log):
    /// `<state>/pg`, or its relocated home when the server's user cannot
    /// reach that.
    home: PathBuf,
    data: PathBuf,
    port: u16,
    run_as: Option<nix::unistd::User>,
    secrets: Secrets,
    /// Where the role passwords are kept (mode 0600).
    secrets_path: PathBuf,
}

/// Passwords of the cluster's roles, kept beside it (mode 0600).
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Secrets {
    superuser: String,
    roles: BTreeMap<String, String>,
}

/// `name` found on `PATH`.
fn binary(name: &str) -> anyhow::Result<PathBuf> {
    which::which(name).with_context(|| format!("{name} not found on PATH: install PostgreSQL (initdb, pg_ctl, postgres) or set SPIN_VARIABLE_*_DB_URL"))
}

impl Cluster {
    /// Starts the cluster under `dir`, creating it on first use.
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        let run_as = user::server_user()?;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        let dir = dir.canonicalize()?;
        let home = user::home(&dir, run_as.as_ref())?;
        let data = home.join("data");
        let secrets_path = dir.join("secrets.json");
        let secrets: Secrets = match std::fs::read(&secrets_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).context("corrupt secrets.json")?,
            Err(_) => Secrets::default(),
        };
        let mut cluster = Self {
            home: home.clone(),
            data,
            port: 0,
            run_as,
            secrets,
            secrets_path,
        };
        if !cluster.data.join("PG_VERSION").exists() {
            tracing::info!(dir = %cluster.data.display(), "initialising the embedded PostgreSQL cluster (first start)");
            cluster.secrets.superuser = crate::secret::random_hex(18)?;
            cluster.secrets.roles.clear();
            cluster.own(&home)?;
            let pwfile = home.join("initdb.pw");
            crate::secret::write_private(&pwfile, cluster.secrets.superuser.as_bytes())?;
            cluster.own(&pwfile)?;
            let result = cluster
                .run(
                    "initdb",
                    &[
                        "-D".as_ref(),
                        cluster.data.as_os_str(),
                        "-U".as_ref(),
                        SUPERUSER.as_ref(),
                        "--auth=scram-sha-256".as_ref(),
                        "--encoding=UTF8".as_ref(),
                        "--locale=C".as_ref(),
                        format!("--pwfile={}", pwfile.display()).as_ref(),
                    ],
                )
                .await;
            let _ = std::fs::remove_file(&pwfile);
            result?;
        }
        if cluster.data.join("postmaster.pid").exists() {
            tracing::info!("stopping a PostgreSQL left running by an earlier comptoir");
            let _ = cluster.pg_ctl(&["stop", "-m", "fast", "-w"]).await;
        }
        cluster.port = free_port()?;
        let socket_dir = home.join("run");
        std::fs::create_dir_all(&socket_dir)?;
        cluster.own(&socket_dir)?;
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c max_connections=300 -k {} -c timezone=UTC",
            cluster.port,
            socket_dir.display()
        );
        let log = home.join("postgres.log");
        if cluster.run_as.is_some() && !log.exists() {
            crate::secret::write_private(&log, b"")?;
            cluster.own(&log)?;
        }
        tracing::info!(port = cluster.port, "starting the embedded PostgreSQL");
        cluster
            .pg_ctl(&[
                "start",
                "-w",
                "-t",
                "60",
                "-l",
                &log.display().to_string(),
                "-o",
                &options,
            ])
            .await
            .with_context(|| format!("PostgreSQL did not start; see {}", log.display()))?;
        // Where it listens, for tools that share the cluster (load tests
        // running two comptoir processes, pgbench).
        std::fs::write(dir.join("port"), cluster.port.to_string())?;
        Ok(cluster)
    }

    /// Makes sure each of `services` has its own role and database (only
    /// that role may connect to it); returns each one's connection URL.
    pub async fn ensure_databases(
        &mut self,
        services: &[String],
    ) -> anyhow::Result<BTreeMap<String, String>> {
        let admin_url = format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/postgres",
            self.secrets.superuser, self.port
        );
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .context("failed to connect to the embedded PostgreSQL as its superuser")?;
        let mut urls = BTreeMap::new();
        for service in services {
            if !service
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                bail!("component id {service:?} cannot name a database (use a-z, 0-9, _)");
            }
            let password = match self.secrets.roles.get(service) {
                Some(p) => p.clone(),
                None => crate::secret::random_hex(18)?,
            };
            self.secrets.roles.insert(service.clone(), password.clone());
            crate::secret::write_private(
                &self.secrets_path,
                &serde_json::to_vec_pretty(&self.secrets)?,
            )?;
            // Identifiers are checked above and passwords are hex: safe to
            // inline (DDL takes no bind parameters).
            let role_exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
                    .bind(service)
                    .fetch_one(&mut admin)
                    .await?;
            let verb = if role_exists { "ALTER" } else { "CREATE" };
            sqlx::raw_sql(&format!(
                "{verb} ROLE {service} LOGIN PASSWORD '{password}'"
            ))
            .execute(&mut admin)
            .await?;
            let db_exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                    .bind(service)
                    .fetch_one(&mut admin)
                    .await?;
            if !db_exists {
                sqlx::raw_sql(&format!("CREATE DATABASE {service} OWNER {service}"))
                    .execute(&mut admin)
                    .await?;
            }
            sqlx::raw_sql(&format!(
                "REVOKE CONNECT, TEMPORARY ON DATABASE {service} FROM PUBLIC; \
                 GRANT CONNECT ON DATABASE {service} TO {service}"
            ))
            .execute(&mut admin)
            .await?;
            urls.insert(
                service.clone(),
                format!(
                    "postgres://{service}:{password}@127.0.0.1:{}/{service}",
                    self.port
                ),
            );
        }
        admin.close().await?;
        Ok(urls)
    }

    /// The loopback port the cluster listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (fast shutdown: open sessions are rolled back).
    pub async fn stop(self) -> anyhow::Result<()> {
        tracing::info!("stopping the embedded PostgreSQL");
        self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "30"]).await
    }

    async fn pg_ctl(&self, args: &[&str]) -> anyhow::Result<()> {
        let mut all: Vec<&std::ffi::OsStr> = vec!["-D".as_ref(), self.data.as_os_str()];
        all.extend(args.iter().map(|a| std::ffi::OsStr::new(*a)));
        self.run("pg_ctl", &all).await
    }

    /// Gives `path` to the server's OS user (when running as root).
    fn own(&self, path: &Path) -> anyhow::Result<()> {
        user::give(path, self.run_as.as_ref())
    }

    fn command(
        &self,
        program: &str,
        args: &[&std::ffi::OsStr],
    ) -> anyhow::Result<std::process::Command> {
        let mut command = user::command(&binary(program)?, self.run_as.as_ref());
        // PostgreSQL's tools change back to the working directory, which the
        // server's user may not be allowed into: run them from its home.
        command
            .args(args)
            .current_dir(&self.home)
            .stdin(Stdio::null());
        Ok(command)
    }

    async fn run(&self, program: &str, args: &[&std::ffi::OsStr]) -> anyhow::Result<()> {
        let output = Command::from(self.command(program, args)?)
            .output()
            .await
            .with_context(|| format!("failed to run {program}"))?;
        if !output.status.success() {
            bail!(
                "{program} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }

    /// [`Cluster::stop`] for synchronous contexts (the unit tests' `Drop`).
    #[cfg(test)]
    pub fn stop_blocking(self) -> anyhow::Result<()> {
        let data = self.data.clone();
        let status = self
            .command(
                "pg_ctl",
                &[
                    "-D".as_ref(),
                    data.as_os_str(),
                    "stop".as_ref(),
                    "-m".as_ref(),
                    "fast".as_ref(),
                    "-w".as_ref(),
                ],
            )?
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            bail!("pg_ctl stop failed ({status})");
        }
        Ok(())
    }
}

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

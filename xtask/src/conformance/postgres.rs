//! The `postgres` precondition: a throwaway PostgreSQL cluster as the
//! suite's test expects it (superuser `postgres` with password
//! `postgres`, database `spin_dev` loaded with the suite's
//! `postgres-init` scripts) on a free loopback port, removed when dropped.
//!
//! PostgreSQL refuses to run as root: as root its server and tools run as
//! the `postgres` OS user (through `runuser`, as comptoir's embedded
//! cluster does), in a directory under the system's temporary one, which
//! that user can always reach.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail, ensure};

/// The role, password and database the suite's test connects with.
const USER: &str = "postgres";
const PASSWORD: &str = "postgres";
const DATABASE: &str = "spin_dev";

/// A running throwaway cluster.
pub struct Postgres {
    /// Everything of the cluster: `data/`, its socket, its log.
    dir: PathBuf,
    port: u16,
    /// The OS user the server runs as (`postgres` when xtask is root).
    run_as: Option<nix::unistd::User>,
}

impl Postgres {
    /// Whether PostgreSQL's programs are on `PATH`.
    pub fn available() -> bool {
        ["initdb", "pg_ctl", "psql"]
            .iter()
            .all(|p| which::which(p).is_ok())
    }

    /// Starts a fresh cluster with `spin_dev` loaded from the `*.sql` in
    /// `init` (in name order); its log is copied to `work` if it fails.
    pub fn start(init: &Path, work: &Path) -> anyhow::Result<Self> {
        let run_as = if nix::unistd::Uid::effective().is_root() {
            Some(
                nix::unistd::User::from_name(USER)?
                    .context("running as root needs an OS user `postgres` for PostgreSQL")?,
            )
        } else {
            None
        };
        let dir = tempdir()?;
        let mut cluster = Self {
            dir,
            port: 0,
            run_as,
        };
        cluster.give(&cluster.dir)?;
        let pwfile = cluster.dir.join("pw");
        std::fs::write(&pwfile, PASSWORD)?;
        cluster.give(&pwfile)?;
        let data = cluster.dir.join("data");
        let log = cluster.dir.join("postgres.log");
        let started = (|| {
            cluster.run_as_server(
                "initdb",
                &[
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-U".as_ref(),
                    USER.as_ref(),
                    "--auth=scram-sha-256".as_ref(),
                    "--encoding=UTF8".as_ref(),
                    "--locale=C".as_ref(),
                    format!("--pwfile={}", pwfile.display()).as_ref(),
                ],
            )?;
            cluster.port = crate::free_port()?;
            let options = format!(
                "-p {} -c listen_addresses=localhost -k {} -c fsync=off",
                cluster.port,
                cluster.dir.display()
            );
            cluster.run_as_server(
                "pg_ctl",
                &[
                    "start".as_ref(),
                    "-w".as_ref(),
                    "-t".as_ref(),
                    "60".as_ref(),
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-l".as_ref(),
                    log.as_os_str(),
                    "-o".as_ref(),
                    options.as_ref(),
                ],
            )
        })();
        if let Err(error) = started {
            let _ = std::fs::copy(&log, work.join("postgres.log"));
            return Err(error);
        }
        cluster.psql("postgres", &["-c", &format!("CREATE DATABASE {DATABASE}")])?;
        let mut scripts: Vec<PathBuf> = std::fs::read_dir(init)
            .with_context(|| format!("reading {}", init.display()))?
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .collect();
        scripts.sort();
        ensure!(!scripts.is_empty(), "no *.sql in {}", init.display());
        for script in &scripts {
            let path = script.to_str().context("a script path that is not UTF-8")?;
            cluster
                .psql(DATABASE, &["-f", path])
                .with_context(|| format!("loading {}", script.display()))?;
        }
        Ok(cluster)
    }

    /// Where it listens (loopback, IPv4 and IPv6 where there is one).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs `psql` on `database` as the suite's user.
    fn psql(&self, database: &str, args: &[&str]) -> anyhow::Result<()> {
        let mut c = Command::new("psql");
        c.args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-U",
            USER,
        ])
        .args(["-p", &self.port.to_string(), "-d", database])
        .args(args)
        .env("PGPASSWORD", PASSWORD)
        .stdin(Stdio::null());
        output(c)
    }

    /// Runs PostgreSQL's `program` as the server's user.
    fn run_as_server(&self, program: &str, args: &[&std::ffi::OsStr]) -> anyhow::Result<()> {
        let mut c = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.arg("-u").arg(&user.name).arg("--").arg(program);
                c
            }
            None => Command::new(program),
        };
        c.args(args).current_dir(&self.dir).stdin(Stdio::null());
        output(c)
    }

    /// Gives `path` to the server's user, if it is not xtask's.
    fn give(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(user) = &self.run_as {
            std::os::unix::fs::chown(path, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                .with_context(|| format!("giving {} to {USER}", path.display()))?;
        }
        Ok(())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.port != 0 {
            let data = self.dir.join("data");
            let _ = self.run_as_server(
                "pg_ctl",
                &[
                    "stop".as_ref(),
                    "-m".as_ref(),
                    "immediate".as_ref(),
                    "-w".as_ref(),
                    "-D".as_ref(),
                    data.as_os_str(),
                ],
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A new directory under the system's temporary one.
fn tempdir() -> anyhow::Result<PathBuf> {
    let suffix = getrandom::u64().map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let dir = std::env::temp_dir().join(format!("comptoir-conformance-pg-{suffix:016x}"));
    std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Runs `command`, failing with its output if it fails.
fn output(mut command: Command) -> anyhow::Result<()> {
    let out = command
        .output()
        .with_context(|| format!("running {:?}", command.get_program()))?;
    if !out.status.success() {
        bail!(
            "{:?} failed ({}): {}{}",
            command.get_program(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cluster takes the suite's user, password and database, with
    /// the init scripts loaded in name order, and is gone once dropped.
    #[test]
    fn a_cluster_as_the_suite_expects() {
        if !Postgres::available() {
            eprintln!("skipped: PostgreSQL is not on PATH");
            return;
        }
        let init = tempdir().unwrap();
        std::fs::write(init.join("b.sql"), "INSERT INTO t VALUES (2);").unwrap();
        std::fs::write(init.join("a.sql"), "CREATE TABLE t (id int);").unwrap();
        std::fs::write(init.join("notes.txt"), "not SQL").unwrap();
        let cluster = Postgres::start(&init, &init).unwrap();
        let out = Command::new("psql")
            .args(["-X", "-At", "-h", "localhost", "-U", USER, "-d", DATABASE])
            .args(["-p", &cluster.port().to_string(), "-c", "SELECT id FROM t"])
            .env("PGPASSWORD", PASSWORD)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2");
        let dir = cluster.dir.clone();
        drop(cluster);
        assert!(!dir.exists());
        std::fs::remove_dir_all(init).unwrap();
    }
}

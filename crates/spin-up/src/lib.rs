//! `spin up` serving a manifest on a free loopback port, waited for until
//! it serves: the one launcher behind xtask's benchmarks (their Spin
//! column) and the host's contract tests under `COMPTOIR_TEST_RUNTIME=spin`.
//!
//! Spin serves from a child process of `spin up`, so `spin up` leads its
//! own process group, and the whole group is stopped (SIGTERM, then
//! SIGKILL after [`STOP_GRACE`]) when a [`SpinUp`] is dropped; or handed
//! over, still running, with [`SpinUp::into_child`].
//!
//! ```no_run
//! let mut launch = spin_up::Launch::new("spin", "spin.toml", "target/spin");
//! launch.env.push(("SPIN_VARIABLE_DB_PORT".into(), "5432".into()));
//! let spin = launch.start()?;
//! println!("serving on {}", spin.base_url());
//! # anyhow::Ok(())
//! ```

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// What `spin up` prints on stdout once it serves (`Serving http://…`).
pub const READY_LINE: &str = "Serving http://";

/// How long `spin up` may take to serve, unless told otherwise (it
/// compiles every component first).
pub const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// How long a dropped [`SpinUp`]'s group has to exit after SIGTERM before
/// it gets SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(15);

/// Ports tried, unless told otherwise: a port found free can be taken
/// before Spin binds it.
pub const PORT_TRIES: usize = 3;

/// How to start `spin up`.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The Spin binary.
    pub spin: PathBuf,
    /// The manifest it serves (`--from`).
    pub manifest: PathBuf,
    /// Where its log (`spin.log`: its stderr) and its state (`.spin/`:
    /// `--state-dir`) go; created if missing.
    pub dir: PathBuf,
    /// Environment added to this process's. Inherited `SPIN_VARIABLE_*`
    /// are removed first: these are the only Spin variables it sees.
    pub env: Vec<(String, String)>,
    /// Its working directory (`None`: this process's).
    pub current_dir: Option<PathBuf>,
    /// Ports tried before giving up (one when 0).
    pub port_tries: usize,
    /// How long it may take to print [`READY_LINE`].
    pub ready_timeout: Duration,
}

impl Launch {
    /// `spin up --from manifest` with its log and state under `dir`, no
    /// Spin variables, [`PORT_TRIES`] ports and [`READY_TIMEOUT`].
    pub fn new(
        spin: impl Into<PathBuf>,
        manifest: impl Into<PathBuf>,
        dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            spin: spin.into(),
            manifest: manifest.into(),
            dir: dir.into(),
            env: Vec::new(),
            current_dir: None,
            port_tries: PORT_TRIES,
            ready_timeout: READY_TIMEOUT,
        }
    }

    /// Where `spin up` writes its stderr.
    pub fn log(&self) -> PathBuf {
        self.dir.join("spin.log")
    }

    /// Starts `spin up` on a free loopback port and waits until it
    /// serves. Fails when it exits first (other than for a port taken in
    /// the meantime: then another port is tried), or when it is not
    /// serving within [`Self::ready_timeout`] (it is stopped then).
    pub fn start(&self) -> anyhow::Result<SpinUp> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let log = self.log();
        let tries = self.port_tries.max(1);
        for _ in 0..tries {
            let port = free_port()?;
            let child = self
                .command(port, &log)?
                .spawn()
                .with_context(|| format!("failed to start {}", self.spin.display()))?;
            // From here on, dropping `spin` stops the group, on every path.
            let mut spin = SpinUp {
                base_url: format!("http://127.0.0.1:{port}"),
                log: log.clone(),
                child: Some(child),
            };
            if spin.wait_serving(self.ready_timeout)? {
                return Ok(spin);
            }
            drop(spin);
            let printed = std::fs::read_to_string(&log).unwrap_or_default();
            if !printed.contains("in use") {
                bail!("spin up exited before serving; see {}", log.display());
            }
        }
        bail!("spin up found no free port in {tries} tries")
    }

    /// The `spin up` command on `port`, writing its stderr to `log`.
    fn command(&self, port: u16, log: &Path) -> anyhow::Result<Command> {
        let mut command = Command::new(&self.spin);
        if let Some(dir) = &self.current_dir {
            command.current_dir(dir);
        }
        command
            .arg("up")
            .arg("--from")
            .arg(&self.manifest)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--state-dir")
            .arg(self.dir.join(".spin"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(
                std::fs::File::create(log)
                    .with_context(|| format!("creating {}", log.display()))?,
            );
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SPIN_VARIABLE_") {
                command.env_remove(key);
            }
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        // Its own process group: `spin up` runs the app in a child
        // process, and stopping it must stop both.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        Ok(command)
    }
}

/// A running `spin up`, leader of its own process group; stopped with its
/// group when dropped.
#[derive(Debug)]
pub struct SpinUp {
    base_url: String,
    log: PathBuf,
    /// `None` once handed over by [`Self::into_child`].
    child: Option<Child>,
}

impl SpinUp {
    /// Where it serves: `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Its stderr.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The `spin up` process: the root of the tree that serves, and the id
    /// of its process group.
    pub fn pid(&self) -> u32 {
        self.child().id()
    }

    /// The running `spin up`, no longer stopped on drop: the caller stops
    /// it, signalling its process group (e.g. with [`stop_group`]).
    pub fn into_child(mut self) -> Child {
        self.child.take().expect("a SpinUp holds its child")
    }

    fn child(&self) -> &Child {
        self.child.as_ref().expect("a SpinUp holds its child")
    }

    /// Whether Spin printed [`READY_LINE`] within `timeout` (false: it
    /// closed its stdout, i.e. exited, first).
    fn wait_serving(&mut self, timeout: Duration) -> anyhow::Result<bool> {
        let stdout = self
            .child
            .as_mut()
            .and_then(|child| child.stdout.take())
            .context("spin up's stdout")?;
        let (ready, serving) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            let found = lines.by_ref().any(|l| l.starts_with(READY_LINE));
            let _ = ready.send(found);
            // Keep draining so Spin never blocks on a full pipe.
            lines.for_each(drop);
        });
        match serving.recv_timeout(timeout) {
            Ok(found) => Ok(found),
            Err(mpsc::RecvTimeoutError::Disconnected) => Ok(false),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                bail!("spin up not serving after {} s", timeout.as_secs())
            }
        }
    }
}

impl Drop for SpinUp {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            stop_group(child, STOP_GRACE);
        }
    }
}

/// Stops `child`, the leader of its own process group, with the group:
/// SIGTERM, up to `grace` for the leader to exit, then SIGKILL to whatever
/// is left of the group (a child of the leader may outlive it); reaped
/// either way.
pub fn stop_group(child: &mut Child, grace: Duration) {
    let Ok(pid) = i32::try_from(child.id()).map(Pid::from_raw) else {
        return;
    };
    let _ = killpg(pid, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // An error once the group is empty, ignored.
    let _ = killpg(pid, Signal::SIGKILL);
    // Once reaped, `kill` is a no-op: no other process can be hit.
    let _ = child.kill();
    let _ = child.wait();
}

/// What `spin --version` prints, to name the Spin a result came from.
pub fn version(spin: &Path) -> String {
    Command::new(spin)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "version unknown".to_owned())
}

/// A loopback port free right now.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

//! `spin up` serving the same `spin.toml` and `.wasm` files as comptoir,
//! against databases comptoir already migrated: the benchmark's Spin
//! column. It runs in its own process group (Spin serves from a child
//! process), and the whole group is stopped when dropped.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context as _, bail};

/// How long `spin up` may take to print `Serving http://…` (it compiles
/// every component first).
const READY_TIMEOUT: Duration = Duration::from_secs(180);
/// How long the group has to exit after SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// A port found free can be taken before Spin binds it: tries before
/// giving up.
const PORT_TRIES: usize = 3;

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

/// A running `spin up`.
pub struct SpinUp {
    pub base_url: String,
    /// The `spin up` process, leader of its own process group.
    child: Child,
}

impl SpinUp {
    /// `spin up --from spin.toml` on a free loopback port, with the
    /// `SPIN_VARIABLE_*` of `env` only; its log and state under `dir`.
    pub fn start(
        root: &Path,
        spin: &Path,
        dir: &Path,
        env: &[(String, String)],
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let log = dir.join("spin.log");
        for _ in 0..PORT_TRIES {
            let port = crate::free_port()?;
            let mut command = Command::new(spin);
            command
                .current_dir(root)
                .arg("up")
                .arg("--from")
                .arg(root.join("spin.toml"))
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .arg("--state-dir")
                .arg(dir.join(".spin"))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(std::fs::File::create(&log)?);
            crate::stack::with_variables(&mut command, env);
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
            let child = command
                .spawn()
                .with_context(|| format!("failed to start {}", spin.display()))?;
            // From here on, dropping `spin` stops the group, on every path.
            let mut spin = Self {
                base_url: format!("http://127.0.0.1:{port}"),
                child,
            };
            if spin.wait_serving()? {
                return Ok(spin);
            }
            drop(spin);
            let printed = std::fs::read_to_string(&log).unwrap_or_default();
            if !printed.contains("in use") {
                bail!("spin up exited before serving; see {}", log.display());
            }
        }
        bail!("spin up found no free port in {PORT_TRIES} tries")
    }

    /// The `spin up` process: the root of the tree that serves.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether Spin printed `Serving http://…` (false: it exited first).
    fn wait_serving(&mut self) -> anyhow::Result<bool> {
        let stdout = self.child.stdout.take().context("spin up's stdout")?;
        let (ready, serving) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            let found = lines.by_ref().any(|l| l.starts_with("Serving http://"));
            let _ = ready.send(found);
            // Keep draining so Spin never blocks on a full pipe.
            lines.for_each(drop);
        });
        match serving.recv_timeout(READY_TIMEOUT) {
            Ok(found) => Ok(found),
            Err(mpsc::RecvTimeoutError::Disconnected) => Ok(false),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                bail!("spin up not serving after {} s", READY_TIMEOUT.as_secs())
            }
        }
    }
}

impl Drop for SpinUp {
    fn drop(&mut self) {
        crate::wait::stop(&mut self.child, crate::wait::Target::Group, STOP_TIMEOUT);
    }
}

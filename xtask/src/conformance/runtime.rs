//! The runtimes a conformance test runs on: `comptoir up` (the host built
//! by xtask, with no comptoir-only response header) and, when given,
//! `spin up`; each serving one test's `spin.toml` on free ports until
//! dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Runtime {
    Comptoir,
    Spin,
}

impl Runtime {
    pub const ALL: [Runtime; 2] = [Runtime::Comptoir, Runtime::Spin];

    pub fn name(self) -> &'static str {
        match self {
            Self::Comptoir => "comptoir",
            Self::Spin => "spin",
        }
    }
}

/// A runtime serving one test's application; stopped when dropped (a
/// `SpinUp` stops its group itself).
pub struct Server {
    /// Where requests go (`http://127.0.0.1:PORT`).
    pub base: String,
    comptoir: Option<Child>,
    _spin: Option<spin_up::SpinUp>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.comptoir {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `runtime` serving `manifest`, with its state and logs under `dir`.
pub fn serve(
    runtime: Runtime,
    root: &Path,
    manifest: &Path,
    dir: &Path,
    release: bool,
    spin: Option<&Path>,
) -> anyhow::Result<Server> {
    match runtime {
        Runtime::Comptoir => {
            let (base, child) = start_comptoir(root, manifest, dir, release)?;
            Ok(Server {
                base,
                comptoir: Some(child),
                _spin: None,
            })
        }
        Runtime::Spin => {
            let spin = spin.context("no Spin")?;
            let running = spin_up::Launch::new(spin, manifest, dir.join("spin")).start()?;
            Ok(Server {
                base: running.base_url().to_owned(),
                comptoir: None,
                _spin: Some(running),
            })
        }
    }
}

/// `comptoir up` on `manifest`, with no comptoir-only response header, on
/// free ports; its public URL once it serves.
fn start_comptoir(
    root: &Path,
    manifest: &Path,
    dir: &Path,
    release: bool,
) -> anyhow::Result<(String, Child)> {
    let ready = dir.join("ready.json");
    let log = std::fs::File::create(dir.join("comptoir.log"))?;
    let mut child = Command::new(crate::host_binary(release))
        .arg("up")
        .arg("--manifest")
        .arg(manifest)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .args(["--replicas", "1", "--no-version-header"])
        .arg("--ready-file")
        .arg(&ready)
        .env_remove("COMPTOIR_CONTROL_URL")
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting comptoir")?;
    let started = crate::wait::poll(Duration::from_secs(60), Duration::from_millis(100), || {
        if let Some(status) = child.try_wait()? {
            bail!(
                "comptoir exited ({status}): {}",
                std::fs::read_to_string(dir.join("comptoir.log")).unwrap_or_default()
            );
        }
        Ok(std::fs::read(&ready)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok()))
    })?;
    let Some(ready) = started else {
        let _ = child.kill();
        bail!("comptoir did not serve within 60 s");
    };
    let base = ready["public"]
        .as_str()
        .context("no public URL")?
        .to_owned();
    Ok((base, child))
}

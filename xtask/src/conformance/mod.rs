//! `cargo xtask conformance`: Spin's runtime conformance suite (its data,
//! not part of this repository: `SPIN_CONFORMANCE_DIR`, else
//! `../shared/spin-conformance` beside the checkout) against comptoir and,
//! when a Spin is given (`SPIN_BIN`), against `spin up`, with the suite's
//! own matching rules. Each test runs with comptoir's own guest for it
//! (`components/testing/conformance/<guest>/`: [`GUESTS`]) and the
//! services its preconditions name; a test that cannot run here is listed
//! as skipped, with why — never counted as passed.
//!
//! - [`check`]: one invocation sent and its answer matched;
//! - [`runtime`]: `comptoir up` and `spin up` serving a test;
//! - [`services`]: the preconditions (echo services, PostgreSQL, Redis)
//!   and the `%{port=N}` they stand for; [`postgres`], [`redis`]: the
//!   PostgreSQL and Redis ones.

mod check;
mod postgres;
mod redis;
mod runtime;
mod services;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail, ensure};
use serde_json::Value;

use runtime::Runtime;
use services::Services;

/// Where the suite's data is: `SPIN_CONFORMANCE_DIR`, else
/// `../shared/spin-conformance` beside the checkout (`tests/` and
/// `services/` in it).
fn suite_dir(root: &Path) -> PathBuf {
    std::env::var_os("SPIN_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/spin-conformance"))
}

/// The guest of each test comptoir has one for: (test, package, target).
/// Those of the suite's kind are `wasm32-wasip1` core modules exporting
/// `wasi:http/incoming-handler@0.2.0`; two are spin-sdk components.
const GUESTS: &[(&str, &str, &str)] = &[
    (
        "request-shape",
        "conformance-request-shape",
        crate::WASM_TARGET,
    ),
    ("variables", "conformance-variables", crate::WASM_TARGET),
    ("key-value", "conformance-key-value", P1),
    ("key-value-no-permission", "conformance-key-value", P1),
    ("sqlite", "conformance-sqlite", P1),
    ("sqlite-no-permission", "conformance-sqlite", P1),
    (
        "outbound-wasi-http-v0.2.0",
        "conformance-outbound-wasi-http",
        P1,
    ),
    (
        "outbound-wasi-http-v0.2.0-no-perms",
        "conformance-outbound-wasi-http",
        P1,
    ),
    ("postgres", "conformance-postgres", P1),
    ("outbound-redis", "conformance-outbound-redis", P1),
    (
        "outbound-redis-no-permission",
        "conformance-outbound-redis",
        P1,
    ),
    (
        "outbound-redis-variable-permission",
        "conformance-outbound-redis",
        P1,
    ),
    ("tcp-sockets", "conformance-tcp-sockets", P1),
    ("tcp-sockets-ip-range", "conformance-tcp-sockets", P1),
    (
        "tcp-sockets-ip-range-variable-permission",
        "conformance-tcp-sockets",
        P1,
    ),
    (
        "tcp-sockets-no-ip-permission",
        "conformance-tcp-sockets",
        P1,
    ),
    (
        "tcp-sockets-no-port-permission",
        "conformance-tcp-sockets",
        P1,
    ),
];
const P1: &str = crate::MODULE_TARGET;

/// Why a test without a guest cannot run.
fn missing(test: &str) -> &'static str {
    match test {
        t if t.starts_with("outbound-mqtt") => {
            "needs fermyon:spin/mqtt@2.0.0 (not provided) and an MQTT broker"
        }
        _ => "no guest written yet",
    }
}

/// How one test ended on one runtime.
enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

/// One test of the suite, as the runner needs it.
struct Test {
    name: String,
    /// Its directory in the suite (`spin.toml`, `test.json5`).
    dir: PathBuf,
    /// `test.json5`, with `%{port=N}` still in it.
    config: String,
    preconditions: Vec<Value>,
    /// The guest's `.wasm`, if comptoir has one for the test.
    wasm: Option<PathBuf>,
}

pub fn run(root: &Path, release: bool, only: &[String]) -> anyhow::Result<()> {
    let suite = suite_dir(root);
    if !suite.join("tests").is_dir() {
        eprintln!(
            "skipped: Spin's conformance data is not at {} (set SPIN_CONFORMANCE_DIR to the suite's directory)",
            suite.display()
        );
        return Ok(());
    }
    let tests = read_tests(root, &suite, only)?;
    crate::build_host(release)?;
    for target in [crate::WASM_TARGET, P1] {
        let mut packages: Vec<&str> = GUESTS
            .iter()
            .filter(|(test, _, t)| *t == target && tests.iter().any(|x| x.name == *test))
            .map(|(_, package, _)| *package)
            .collect();
        packages.dedup();
        if !packages.is_empty() {
            crate::build_wasm_for(target, &packages)?;
        }
    }
    let spin = crate::tools::spin_binary();
    let work = root.join("target/conformance");
    let _ = std::fs::remove_dir_all(&work);

    let mut rows = Vec::new();
    for test in &tests {
        let mut outcomes = Vec::new();
        for runtime in Runtime::ALL {
            let skipped = match (&test.wasm, runtime, &spin) {
                (None, _, _) => Some(missing(&test.name)),
                (_, Runtime::Spin, None) => Some("no Spin (SPIN_BIN unset)"),
                _ => services::unavailable(&test.preconditions),
            };
            let outcome = match skipped {
                Some(why) => Outcome::Skipped(why.to_owned()),
                None => {
                    let dir = work.join(&test.name).join(runtime.name());
                    eprintln!("==> {} on {}", test.name, runtime.name());
                    match run_test(root, &suite, test, &dir, runtime, release, spin.as_deref()) {
                        Ok(()) => Outcome::Passed,
                        Err(error) => Outcome::Failed(format!("{error:#}")),
                    }
                }
            };
            outcomes.push(outcome);
        }
        rows.push((test.name.clone(), outcomes));
    }
    report(&rows)
}

/// The suite's tests (only those in `only`, if any), each with its guest.
fn read_tests(root: &Path, suite: &Path, only: &[String]) -> anyhow::Result<Vec<Test>> {
    let dir = suite.join("tests");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("test.json5").is_file())
        .filter_map(|e| Some(e.file_name().to_str()?.to_owned()))
        .filter(|t| only.is_empty() || only.contains(t))
        .collect();
    names.sort();
    ensure!(!names.is_empty(), "no such test: {only:?}");
    names
        .into_iter()
        .map(|name| {
            let dir = dir.join(&name);
            let config = std::fs::read_to_string(dir.join("test.json5"))?;
            let parsed: Value =
                json5::from_str(&config).with_context(|| format!("{name}/test.json5"))?;
            let preconditions = parsed["preconditions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let wasm =
                GUESTS
                    .iter()
                    .find(|(test, _, _)| *test == name)
                    .map(|(_, package, target)| {
                        root.join(format!(
                            "target/{target}/release/{}.wasm",
                            package.replace('-', "_")
                        ))
                    });
            Ok(Test {
                name,
                dir,
                config,
                preconditions,
                wasm,
            })
        })
        .collect()
}

/// Runs `test`'s invocations against `runtime`, in `dir`: its services
/// started, `%{port=N}` replaced by theirs in its `spin.toml` and
/// `test.json5`, its guest as `component.wasm`.
fn run_test(
    root: &Path,
    suite: &Path,
    test: &Test,
    dir: &Path,
    runtime: Runtime,
    release: bool,
    spin: Option<&Path>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let services = Services::start(&test.preconditions, suite, dir)?;
    let manifest = dir.join("spin.toml");
    let toml = std::fs::read_to_string(test.dir.join("spin.toml"))?;
    std::fs::write(&manifest, services.substitute(&toml).context("spin.toml")?)?;
    let wasm = test.wasm.as_deref().context("no guest")?;
    std::fs::copy(wasm, dir.join("component.wasm"))
        .with_context(|| format!("{} (the guest)", wasm.display()))?;
    let config: Value = json5::from_str(&services.substitute(&test.config)?)?;
    let server = runtime::serve(runtime, root, &manifest, dir, release, spin)?;
    for (i, invocation) in config["invocations"]
        .as_array()
        .context("no invocations")?
        .iter()
        .enumerate()
    {
        check::invocation(
            &server.base,
            &invocation["request"],
            &invocation["response"],
        )
        .with_context(|| format!("invocation {}", i + 1))?;
    }
    Ok(())
}

/// Prints each test's outcome on each runtime and the totals; fails if
/// any run failed.
fn report(rows: &[(String, Vec<Outcome>)]) -> anyhow::Result<()> {
    println!("\n{:<42} {:<10} spin", "test", "comptoir");
    let cell = |o: &Outcome| match o {
        Outcome::Passed => "passed",
        Outcome::Failed(_) => "FAILED",
        Outcome::Skipped(_) => "skipped",
    };
    let mut failed = 0;
    for (test, outcomes) in rows {
        println!(
            "{test:<42} {:<10} {}",
            cell(&outcomes[0]),
            cell(&outcomes[1])
        );
        for (runtime, outcome) in Runtime::ALL.iter().zip(outcomes) {
            match outcome {
                Outcome::Failed(why) => {
                    failed += 1;
                    println!("    {}: {why}", runtime.name());
                }
                Outcome::Skipped(why) if *runtime == Runtime::Comptoir => {
                    println!("    skipped: {why}")
                }
                _ => {}
            }
        }
    }
    for (i, runtime) in Runtime::ALL.iter().enumerate() {
        let count = |f: fn(&Outcome) -> bool| rows.iter().filter(|(_, o)| f(&o[i])).count();
        println!(
            "{}: {} passed, {} failed, {} skipped",
            runtime.name(),
            count(|o| matches!(o, Outcome::Passed)),
            count(|o| matches!(o, Outcome::Failed(_))),
            count(|o| matches!(o, Outcome::Skipped(_))),
        );
    }
    if failed > 0 {
        bail!("{failed} conformance runs failed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every guest is a workspace member built for a known target, and
    /// each test has at most one.
    #[test]
    fn guests_are_workspace_members() {
        let workspace = std::fs::read_to_string(crate::root().join("Cargo.toml")).unwrap();
        for (test, package, target) in GUESTS {
            assert!([crate::WASM_TARGET, P1].contains(target), "{test}");
            let dir = package.strip_prefix("conformance-").unwrap();
            let member = format!("\"components/testing/conformance/{dir}\"");
            assert!(workspace.contains(&member), "{package} is not a member");
            assert_eq!(GUESTS.iter().filter(|(t, _, _)| t == test).count(), 1);
        }
    }
}

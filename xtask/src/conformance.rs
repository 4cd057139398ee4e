//! `cargo xtask conformance`: Spin's runtime conformance suite (its data,
//! not part of this repository: `SPIN_CONFORMANCE_DIR`, else
//! `../shared/spin-conformance` beside the checkout) against comptoir and, when a
//! Spin is given (`SPIN_BIN`), against `spin up`, with the suite's own
//! matching rules: the status, then the exact body, then the headers (each
//! expected one present unless optional, values compared lowercased, and
//! no other header). Each test runs with comptoir's own guest for it
//! (`components/testing/conformance/<test>/`); a test with none yet is
//! listed as skipped, with what it needs — never counted as passed.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use serde_json::Value;

/// Where the suite's data is: `SPIN_CONFORMANCE_DIR`, else
/// `../shared/spin-conformance` beside the checkout.
fn suite_dir(root: &Path) -> std::path::PathBuf {
    std::env::var_os("SPIN_CONFORMANCE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/spin-conformance"))
        .join("tests")
}

/// Tests comptoir has a guest for: (test, guest package).
const GUESTS: &[(&str, &str)] = &[
    ("request-shape", "conformance-request-shape"),
    ("variables", "conformance-variables"),
];

/// Why a test without a guest cannot run yet.
fn missing(test: &str) -> &'static str {
    match test {
        "key-value" | "key-value-no-permission" => {
            "needs fermyon:spin/key-value@2.0.0 (not provided yet)"
        }
        "sqlite" | "sqlite-no-permission" => "needs fermyon:spin/sqlite@2.0.0 (not provided yet)",
        t if t.starts_with("outbound-mqtt") => {
            "needs fermyon:spin/mqtt@2.0.0 (not provided) and an MQTT broker"
        }
        t if t.starts_with("outbound-redis") => {
            "needs fermyon:spin/redis@2.0.0 (not provided) and Redis"
        }
        t if t.starts_with("outbound-wasi-http") => {
            "needs a wasi:http@0.2.0 guest (p2 components not loaded yet)"
        }
        t if t.starts_with("tcp-sockets") => {
            "needs wasi:sockets@0.2.0 (outside the platform world)"
        }
        "postgres" => "needs spin:postgres@4.0.0 from a p2 guest (p2 components not loaded yet)",
        _ => "no guest written yet",
    }
}

/// How one test ended on one runtime.
enum Outcome {
    Passed,
    Failed(String),
    Skipped(&'static str),
}

pub fn run(root: &Path, release: bool, only: &[String]) -> anyhow::Result<()> {
    let suite = suite_dir(root);
    if !suite.is_dir() {
        eprintln!(
            "skipped: Spin's conformance data is not at {} (set SPIN_CONFORMANCE_DIR to the suite's directory)",
            suite.display()
        );
        return Ok(());
    }
    let mut tests: Vec<String> = std::fs::read_dir(&suite)
        .with_context(|| format!("reading {}", suite.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("test.json5").is_file())
        .filter_map(|e| Some(e.file_name().to_str()?.to_owned()))
        .filter(|t| only.is_empty() || only.contains(t))
        .collect();
    tests.sort();
    ensure!(!tests.is_empty(), "no such test: {only:?}");
    crate::build_host(release)?;
    let packages: Vec<&str> = GUESTS.iter().map(|(_, p)| *p).collect();
    crate::build_wasm(&packages)?;
    let spin = crate::tools::spin_binary();
    let work = root.join("target/conformance");
    let _ = std::fs::remove_dir_all(&work);

    let mut rows = Vec::new();
    for test in &tests {
        let guest = GUESTS.iter().find(|(t, _)| t == test).map(|(_, p)| *p);
        let mut outcomes = Vec::new();
        for runtime in [Runtime::Comptoir, Runtime::Spin] {
            let outcome = match (guest, runtime, &spin) {
                (None, _, _) => Outcome::Skipped(missing(test)),
                (Some(_), Runtime::Spin, None) => Outcome::Skipped("no Spin (SPIN_BIN unset)"),
                (Some(guest), runtime, spin) => {
                    let dir = work.join(test).join(runtime.name());
                    let wasm = root.join(format!(
                        "target/{}/release/{}.wasm",
                        crate::WASM_TARGET,
                        guest.replace('-', "_")
                    ));
                    match run_test(
                        root,
                        &suite.join(test),
                        &dir,
                        &wasm,
                        runtime,
                        release,
                        spin.as_deref(),
                    ) {
                        Ok(()) => Outcome::Passed,
                        Err(error) => Outcome::Failed(format!("{error:#}")),
                    }
                }
            };
            outcomes.push(outcome);
        }
        rows.push((test.clone(), outcomes));
    }

    println!("\n{:<42} {:<10} spin", "test", "comptoir");
    let mut failed = 0;
    for (test, outcomes) in &rows {
        let cell = |o: &Outcome| match o {
            Outcome::Passed => "passed",
            Outcome::Failed(_) => "FAILED",
            Outcome::Skipped(_) => "skipped",
        };
        println!(
            "{test:<42} {:<10} {}",
            cell(&outcomes[0]),
            cell(&outcomes[1])
        );
        for (runtime, outcome) in ["comptoir", "spin"].iter().zip(outcomes) {
            match outcome {
                Outcome::Failed(why) => {
                    failed += 1;
                    println!("    {runtime}: {why}");
                }
                Outcome::Skipped(why) if *runtime == "comptoir" => println!("    skipped: {why}"),
                _ => {}
            }
        }
    }
    let count = |runtime: usize, f: fn(&Outcome) -> bool| {
        rows.iter().filter(|(_, o)| f(&o[runtime])).count()
    };
    for (i, runtime) in ["comptoir", "spin"].iter().enumerate() {
        println!(
            "{runtime}: {} passed, {} failed, {} skipped",
            count(i, |o| matches!(o, Outcome::Passed)),
            count(i, |o| matches!(o, Outcome::Failed(_))),
            count(i, |o| matches!(o, Outcome::Skipped(_))),
        );
    }
    if failed > 0 {
        bail!("{failed} conformance runs failed");
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Runtime {
    Comptoir,
    Spin,
}

impl Runtime {
    fn name(self) -> &'static str {
        match self {
            Self::Comptoir => "comptoir",
            Self::Spin => "spin",
        }
    }
}

/// A runtime serving one test's application; stopped when dropped (a
/// `SpinUp` stops its group itself).
struct Server {
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

/// Runs one test's invocations against `runtime`, serving the test's
/// `spin.toml` with `wasm` as its `component.wasm`.
fn run_test(
    root: &Path,
    test: &Path,
    dir: &Path,
    wasm: &Path,
    runtime: Runtime,
    release: bool,
    spin: Option<&Path>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::copy(test.join("spin.toml"), dir.join("spin.toml"))?;
    std::fs::copy(wasm, dir.join("component.wasm"))
        .with_context(|| format!("{} (the guest)", wasm.display()))?;
    let config: Value = json5::from_str(&std::fs::read_to_string(test.join("test.json5"))?)
        .context("test.json5")?;
    let manifest = dir.join("spin.toml");
    let (base, _server) = match runtime {
        Runtime::Comptoir => {
            let (base, child) = start_comptoir(root, &manifest, dir, release)?;
            let server = Server {
                comptoir: Some(child),
                _spin: None,
            };
            (base, server)
        }
        Runtime::Spin => {
            let spin = spin.context("no Spin")?;
            let running = spin_up::Launch::new(spin, &manifest, dir.join("spin")).start()?;
            let base = running.base_url().to_owned();
            let server = Server {
                comptoir: None,
                _spin: Some(running),
            };
            (base, server)
        }
    };
    for (i, invocation) in config["invocations"]
        .as_array()
        .context("no invocations")?
        .iter()
        .enumerate()
    {
        check(&base, &invocation["request"], &invocation["response"])
            .with_context(|| format!("invocation {}", i + 1))?;
    }
    Ok(())
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

/// Sends `request` and checks the answer against `expected` by the
/// suite's rules.
fn check(base: &str, request: &Value, expected: &Value) -> anyhow::Result<()> {
    let method = request["method"].as_str().unwrap_or("GET");
    let path = request["path"].as_str().context("no path")?;
    let mut builder = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"));
    for header in request["headers"].as_array().into_iter().flatten() {
        let (Some(name), Some(value)) = (header["name"].as_str(), header["value"].as_str()) else {
            bail!("a request header without name or value: {header}");
        };
        builder = builder.header(name, value);
    }
    let body = request["body"]
        .as_str()
        .unwrap_or_default()
        .as_bytes()
        .to_vec();
    let mut response = crate::http().run(builder.body(body)?)?;

    let status = response.status().as_u16();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_lowercase(),
                v.to_str().unwrap_or_default().to_lowercase(),
            )
        })
        .collect();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    let want_status = expected["status"].as_u64().unwrap_or(200);
    ensure!(
        u64::from(status) == want_status,
        "status {status}, expected {want_status}; body: {body}"
    );
    let want_body = expected["body"].as_str().unwrap_or_default();
    ensure!(body == want_body, "body {body:?}, expected {want_body:?}");
    let mut left: std::collections::HashMap<String, String> = headers.into_iter().collect();
    for header in expected["headers"].as_array().into_iter().flatten() {
        let name = header["name"]
            .as_str()
            .context("a header without name")?
            .to_lowercase();
        let optional = header["optional"].as_bool().unwrap_or(false);
        match (left.remove(&name), header["value"].as_str()) {
            (None, _) if optional => {}
            (None, _) => bail!("expected header {name} not in the response"),
            (Some(actual), Some(value)) if actual != value.to_lowercase() => {
                bail!("header {name}: {actual:?}, expected {value:?}")
            }
            (Some(_), _) => {}
        }
    }
    ensure!(left.is_empty(), "unexpected headers: {left:?}");
    Ok(())
}

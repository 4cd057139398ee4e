//! Which runtime serves the contract tests: comptoir (the default), or a
//! real Spin (`COMPTOIR_TEST_RUNTIME=spin`, with `SPIN_BIN` or `spin` on
//! `PATH`) running the same `.wasm` files and manifest against a database
//! migrated by `comptoir migrate`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{App, Launch, TestDb};

/// The runtime the tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Comptoir,
    Spin,
}

/// `COMPTOIR_TEST_RUNTIME`: `spin`, or comptoir when unset.
pub fn current() -> Runtime {
    match std::env::var("COMPTOIR_TEST_RUNTIME").as_deref() {
        Ok("spin") => Runtime::Spin,
        Ok("comptoir") | Err(_) => Runtime::Comptoir,
        Ok(other) => panic!("COMPTOIR_TEST_RUNTIME={other}: expected spin or comptoir"),
    }
}

/// Whether a test of gateway-only behaviour (the `comptoir-component`
/// header, 413, the admin API…) should stop here: under Spin it says so
/// and returns `true`.
pub fn gateway_only(what: &str) -> bool {
    let skip = current() == Runtime::Spin;
    if skip {
        eprintln!("gateway-only, not checked under Spin: {what}");
    }
    skip
}

/// The Spin binary: `SPIN_BIN`, else `spin` on `PATH`.
pub fn spin_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("SPIN_BIN") {
        return bin.into();
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("spin"))
                .find(|candidate| candidate.is_file())
        })
        .expect("COMPTOIR_TEST_RUNTIME=spin needs SPIN_BIN or spin on PATH")
}

/// Migrates `db` with `comptoir migrate`, then serves `manifest` with
/// `spin up` on a free loopback port (the `spin-up` crate), as a user of
/// Spin would; its log is `state_dir/spin.log`, its state `state_dir/.spin`.
pub async fn spin_up(
    manifest: &Path,
    state_dir: &Path,
    db: &TestDb,
    extra: &[(String, String)],
) -> App {
    let mut env = Launch::db_env(db);
    env.extend(crate::tokens::variables());
    // Later entries win: `extra` replaces the run's own settings.
    env.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    env.extend(extra.iter().cloned());
    let migrated = Command::new(env!("CARGO_BIN_EXE_comptoir"))
        .arg("migrate")
        .arg("--manifest")
        .arg(manifest)
        .arg("--state-dir")
        .arg(state_dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("comptoir migrate runs");
    assert!(
        migrated.status.success(),
        "comptoir migrate failed:\n{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    serve(manifest, state_dir, env).await
}

/// Serves `manifest` with `spin up` on a free loopback port, with `env`
/// (its only Spin variables); its log is `state_dir/spin.log`, its state
/// `state_dir/.spin` (the same directory again: the same stores).
pub async fn serve(manifest: &Path, state_dir: &Path, env: Vec<(String, String)>) -> App {
    // The launcher xtask's benchmarks use too; a few ports (one found free
    // can be taken before Spin binds it), and as long to serve as comptoir
    // may take.
    let mut launch = spin_up::Launch::new(spin_binary(), manifest, state_dir);
    launch.env = env;
    launch.port_tries = 5;
    launch.ready_timeout = crate::harness::STARTUP;
    let log = launch.log();
    let started = tokio::task::spawn_blocking(move || launch.start())
        .await
        .unwrap();
    match started {
        Ok(spin) => App::with_child(spin.base_url().to_owned(), spin.into_child(), log, true),
        Err(error) => panic!(
            "{error:#}:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        ),
    }
}

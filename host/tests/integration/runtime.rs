//! Which runtime serves the contract tests: comptoir (the default), or a
//! real Spin (`COMPTOIR_TEST_RUNTIME=spin`, with `SPIN_BIN` or `spin` on
//! `PATH`) running the same `.wasm` files and manifest against a database
//! migrated by `comptoir migrate`.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
/// `spin up` on a free loopback port, as a user of Spin would.
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
    let log = state_dir.join("spin.log");
    // A port picked free can be taken before Spin binds it: try a few.
    for _ in 0..5 {
        let port = comptoir::free_port().unwrap();
        let mut command = Command::new(spin_binary());
        command
            .arg("up")
            .arg("--from")
            .arg(manifest)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--state-dir")
            .arg(state_dir.join(".spin"))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        for (key, _) in std::env::vars() {
            if key.starts_with("SPIN_VARIABLE_") && !env.iter().any(|(k, _)| *k == key) {
                command.env_remove(key);
            }
        }
        // Its own process group: `spin up` runs the app in a child process,
        // and stopping the test must stop both.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command.spawn().expect("spin up starts");
        let stdout = child.stdout.take().unwrap();
        let serving = tokio::task::spawn_blocking(move || {
            let mut lines = BufReader::new(stdout).lines();
            let found = lines
                .by_ref()
                .map_while(Result::ok)
                .any(|l| l.starts_with("Serving http://"));
            // Keep draining so Spin never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            found
        })
        .await
        .unwrap();
        if serving {
            return App::with_child(format!("http://127.0.0.1:{port}"), child, log, true);
        }
        let _ = child.kill();
        let _ = child.wait();
        let printed = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            printed.contains("in use"),
            "spin up did not start:\n{printed}"
        );
    }
    panic!("spin up found no free port in 5 tries");
}

//! Spin apps of the kinds people run today, written with Spin's SDKs and
//! nothing of comptoir's: `testing-sdk5-app` (spin-sdk 5, its own
//! `Router`) as a p2 component and as a `wasm32-wasip1` module side by
//! side in one `spin.toml`, and the componentize-py app when it was built.
//! Key-value, SQLite, variables, a store the manifest does not declare and
//! route parameters answer as under Spin; the default store is the app's,
//! shared by its components; its data and the SQLite database's survive a
//! SIGKILL and a start on the same state directory. The same checks run
//! under `spin up` when `SPIN_BIN` names a Spin.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::harness::{App, Launch, module, spawn, temp_dir, wasm, workspace};

/// Where `cargo xtask build` puts the componentize-py app (only when
/// componentize-py is installed).
const PY_APP: &str = "target/py-app/py_app.wasm";

/// The componentize-py app, when it was built.
fn py_app() -> Option<PathBuf> {
    let path = workspace().join(PY_APP);
    if !path.exists() {
        eprintln!(
            "{} is missing (componentize-py not installed when `cargo xtask build` ran): \
             the Python app is not checked",
            path.display()
        );
    }
    path.exists().then_some(path)
}

/// The spin-sdk 5 app at `/p2/...` (component) and `/p1/...` (module),
/// both with the default store and database and the `greeting` variable;
/// the Python app at `/py/...` when given.
fn manifest(py: Option<&Path>) -> String {
    let mut toml = r#"spin_manifest_version = 2
[application]
name = "outside-apps"

[variables]
greeting = { default = "bonjour" }
"#
    .to_owned();
    let sdk5 = [
        ("sdk5-p2", wasm("testing_sdk5_app")),
        ("sdk5-p1", module("testing_sdk5_app")),
    ];
    for (name, source) in sdk5 {
        let route = &name[5..];
        toml += &format!(
            r#"
[[trigger.http]]
route = "/{route}/..."
component = "{name}"
[component.{name}]
source = "{source}"
key_value_stores = ["default"]
sqlite_databases = ["default"]
[component.{name}.variables]
greeting = "{{{{ greeting }}}}"
"#,
            source = source.display()
        );
    }
    if let Some(py) = py {
        toml += &format!(
            r#"
[[trigger.http]]
route = "/py/..."
component = "py-app"
[component.py-app]
source = "{}"
key_value_stores = ["default"]
"#,
            py.display()
        );
    }
    toml
}

/// Where the app runs.
#[derive(Clone, Copy)]
enum Runner {
    Comptoir,
    Spin,
}

/// `runner` serving the manifest in `dir` with its state there.
async fn start(runner: Runner, dir: &Path) -> App {
    let manifest = dir.join("spin.toml");
    match runner {
        Runner::Comptoir => {
            spawn(Launch {
                manifest: &manifest,
                state_dir: dir,
                env: Vec::new(),
                args: Vec::new(),
            })
            .await
        }
        Runner::Spin => crate::runtime::serve(&manifest, dir, Vec::new()).await,
    }
}

async fn call(app: &App, method: reqwest::Method, path: &str, body: &str) -> (u16, String) {
    let response = app
        .http
        .request(method, app.url(path))
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

async fn get(app: &App, path: &str) -> (u16, String) {
    call(app, reqwest::Method::GET, path, "").await
}

async fn get_json(app: &App, path: &str) -> Value {
    let (status, body) = get(app, path).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

async fn put(app: &App, path: &str, body: &str) {
    let answer = call(app, reqwest::Method::PUT, path, body).await;
    assert_eq!(answer.0, 200, "PUT {path}: {}", answer.1);
}

/// Every check on a fresh state directory, then again after the runner
/// is killed (SIGKILL) and started on the same one.
async fn check(runner: Runner) {
    let dir = temp_dir();
    let py = py_app();
    std::fs::write(dir.path().join("spin.toml"), manifest(py.as_deref())).unwrap();
    let app = start(runner, dir.path()).await;

    for kind in ["p2", "p1"] {
        // Route parameters, from the app's own router under `.../`.
        let hello = get(&app, &format!("/{kind}/hello/marie")).await;
        assert_eq!(hello, (200, "hello marie\n".to_owned()), "{kind}");
        let greeting = get(&app, &format!("/{kind}/var/greeting")).await;
        assert_eq!(greeting, (200, "bonjour".to_owned()), "{kind}");
        let undefined = get(&app, &format!("/{kind}/var/undefined")).await;
        assert_eq!(undefined.0, 404, "{kind}: {}", undefined.1);
        let denied = get(&app, &format!("/{kind}/kv-denied")).await;
        assert_eq!(denied, (403, "AccessDenied\n".to_owned()), "{kind}");
        let missing = get(&app, &format!("/{kind}/route/not/in/the/app")).await;
        assert_eq!(missing.0, 404, "{kind}: {}", missing.1);
    }

    // One default store for the app: what one kind sets, the other reads,
    // lists and deletes.
    assert_eq!(get_json(&app, "/p2/kv").await, json!([]));
    put(&app, "/p2/kv/colour", "blue").await;
    assert_eq!(get(&app, "/p1/kv/colour").await, (200, "blue".to_owned()));
    put(&app, "/p1/kv/size", "L").await;
    put(&app, "/p2/kv/scratch", "gone soon").await;
    assert_eq!(
        get_json(&app, "/p2/kv").await,
        json!(["colour", "scratch", "size"])
    );
    let deleted = call(&app, reqwest::Method::DELETE, "/p1/kv/scratch", "").await;
    assert_eq!(deleted.0, 200, "{}", deleted.1);
    assert_eq!(get(&app, "/p2/kv/scratch").await.0, 404);
    put(&app, "/p1/kv/colour", "green").await;

    // One default database too.
    for (kind, note) in [("p2", "first"), ("p1", "second")] {
        let added = call(&app, reqwest::Method::POST, &format!("/{kind}/sql"), note).await;
        assert_eq!(added, (201, "noted\n".to_owned()), "{kind}");
    }
    let notes = json!([{"id": 1, "body": "first"}, {"id": 2, "body": "second"}]);
    assert_eq!(get_json(&app, "/p1/sql").await, notes);

    // The Python app shares the default store.
    if py.is_some() {
        assert_eq!(get(&app, "/py/kv/colour").await, (200, "green".to_owned()));
        put(&app, "/py/kv/from-python", "hello").await;
        assert_eq!(
            get(&app, "/p1/kv/from-python").await,
            (200, "hello".to_owned())
        );
    }

    // Killed outright, then started again on the same state directory.
    app.kill();
    drop(app);
    let app = start(runner, dir.path()).await;
    let mut keys = vec!["colour", "size"];
    if py.is_some() {
        keys.insert(1, "from-python");
    }
    for kind in ["p2", "p1"] {
        assert_eq!(get_json(&app, &format!("/{kind}/kv")).await, json!(keys));
        assert_eq!(
            get(&app, &format!("/{kind}/kv/colour")).await,
            (200, "green".to_owned())
        );
        assert_eq!(get_json(&app, &format!("/{kind}/sql")).await, notes);
    }
    if let Runner::Comptoir = runner {
        // Where docs/operations.md says the defaults live.
        for file in ["sqlite_key_value.db", "sqlite_db.db"] {
            assert!(dir.path().join(file).is_file(), "{file}");
        }
    }
}

/// A spin-sdk 5 app built as a p2 component and as a core module, and
/// the Python app when built, served side by side by comptoir:
/// key-value, SQLite, variables, a denied store and route parameters,
/// one default store and database for the app, both kept across a
/// SIGKILL.
#[tokio::test]
async fn spin_sdk_apps_run_unchanged_and_keep_their_data() {
    check(Runner::Comptoir).await;
}

/// The same checks under `spin up`, when `SPIN_BIN` names a Spin.
#[tokio::test]
async fn the_same_checks_pass_under_spin() {
    if std::env::var_os("SPIN_BIN").is_none() {
        eprintln!("SPIN_BIN is not set: outside apps not checked under spin up");
        return;
    }
    check(Runner::Spin).await;
}

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

use crate::database::TestDb;
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
    start_with(runner, dir, Vec::new()).await
}

/// [`start`] with `env` added to the runner's environment.
async fn start_with(runner: Runner, dir: &Path, env: Vec<(String, String)>) -> App {
    let manifest = dir.join("spin.toml");
    match runner {
        Runner::Comptoir => {
            spawn(Launch {
                manifest: &manifest,
                state_dir: dir,
                env,
                args: Vec::new(),
            })
            .await
        }
        Runner::Spin => crate::runtime::serve(&manifest, dir, env).await,
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

/// The spin-sdk 5 app at `/p2/...` and `/p1/...`, allowed to reach the
/// PostgreSQL on `port`, its address in the `pg_address` variable.
fn postgres_manifest(port: u16) -> String {
    let mut toml = r#"spin_manifest_version = 2
[application]
name = "outside-postgres"

[variables]
pg_address = { required = true, secret = true }
"#
    .to_owned();
    for (route, source) in [
        ("p2", wasm("testing_sdk5_app")),
        ("p1", module("testing_sdk5_app")),
    ] {
        toml += &format!(
            r#"
[[trigger.http]]
route = "/{route}/..."
component = "sdk5-{route}"
[component.sdk5-{route}]
source = "{source}"
allowed_outbound_hosts = ["postgres://127.0.0.1:{port}"]
[component.sdk5-{route}.variables]
pg_address = "{{{{ pg_address }}}}"
"#,
            source = source.display()
        );
    }
    toml
}

/// What the app reads of one row through each interface: 4.0 carries
/// every type; 3.0 has no `numeric` or `uuid` (`unsupported`, column type
/// `other`); 2.0 has no dates or times either (Spin's conversions).
fn expected_shapes(version: &str) -> Value {
    let (columns, row) = match version {
        "v4" => (
            json!([
                "label DbDataType::Str",
                "answer DbDataType::Int32",
                "at DbDataType::Datetime",
                "day DbDataType::Date",
                "price DbDataType::Decimal",
                "id DbDataType::Uuid",
                "nothing DbDataType::Int64"
            ]),
            json!([
                "DbValue::Str(\"hello\")",
                "DbValue::Int32(42)",
                "DbValue::Datetime((2024, 5, 6, 7, 8, 9, 0))",
                "DbValue::Date((2024, 5, 6))",
                "DbValue::Decimal(\"12.50\")",
                "DbValue::Uuid(\"6a2f41a3-c54c-fce8-32d2-0324e1c32e22\")",
                "DbValue::DbNull"
            ]),
        ),
        "v3" => (
            json!([
                "label DbDataType::Str",
                "answer DbDataType::Int32",
                "at DbDataType::Datetime",
                "day DbDataType::Date",
                "price DbDataType::Other",
                "id DbDataType::Other",
                "nothing DbDataType::Int64"
            ]),
            json!([
                "DbValue::Str(\"hello\")",
                "DbValue::Int32(42)",
                "DbValue::Datetime((2024, 5, 6, 7, 8, 9, 0))",
                "DbValue::Date((2024, 5, 6))",
                "DbValue::Unsupported",
                "DbValue::Unsupported",
                "DbValue::DbNull"
            ]),
        ),
        _ => (
            json!([
                "label DbDataType::Str",
                "answer DbDataType::Int32",
                "at DbDataType::Other",
                "day DbDataType::Other",
                "price DbDataType::Other",
                "id DbDataType::Other",
                "nothing DbDataType::Int64"
            ]),
            json!([
                "DbValue::Str(\"hello\")",
                "DbValue::Int32(42)",
                "DbValue::Unsupported",
                "DbValue::Unsupported",
                "DbValue::Unsupported",
                "DbValue::Unsupported",
                "DbValue::DbNull"
            ]),
        ),
    };
    json!({"columns": columns, "row": row, "inserted": 1})
}

/// spin-sdk 5's three PostgreSQL interfaces, from a component and from a
/// module: the same row read as each converts it, a row inserted through
/// each, a failing statement's error as text (3.0, 2.0) or PostgreSQL's
/// report (4.0), and 2.0's unsigned parameter refused.
async fn check_postgres(runner: Runner) {
    let db = TestDb::start(&["outside"]).await;
    let dir = temp_dir();
    std::fs::write(dir.path().join("spin.toml"), postgres_manifest(db.port)).unwrap();
    let env = vec![(
        "SPIN_VARIABLE_PG_ADDRESS".into(),
        db.urls["outside"].clone(),
    )];
    let app = start_with(runner, dir.path(), env).await;
    for kind in ["p2", "p1"] {
        for version in ["v4", "v3", "v2"] {
            let mut shapes = get_json(&app, &format!("/{kind}/pg/{version}")).await;
            let error = shapes["error"].take();
            let error = error.as_str().unwrap_or_default();
            assert!(
                error.contains("QueryFailed") && error.contains("no_such_table"),
                "{kind} {version}: {error}"
            );
            // 4.0 keeps PostgreSQL's report, with its SQLSTATE.
            assert_eq!(
                error.contains("42P01"),
                version == "v4",
                "{kind} {version}: {error}"
            );
            shapes.as_object_mut().unwrap().remove("error");
            assert_eq!(shapes, expected_shapes(version), "{kind} {version}");
        }
        let (status, body) = get(&app, &format!("/{kind}/pg/v2-unsigned")).await;
        assert_eq!(status, 400, "{kind}: {body}");
        assert!(
            body.contains("ValueConversionFailed") && body.contains("unsigned"),
            "{kind}: {body}"
        );
    }
}

/// spin-sdk 5 apps reach PostgreSQL through `fermyon:spin/postgres@2.0.0`,
/// `spin:postgres@3.0.0` and 4.0.0, each converting as Spin does.
#[tokio::test]
async fn older_postgres_interfaces_convert_as_spin_does() {
    check_postgres(Runner::Comptoir).await;
}

/// The same under `spin up`, when `SPIN_BIN` names a Spin.
#[tokio::test]
async fn older_postgres_interfaces_under_spin() {
    if std::env::var_os("SPIN_BIN").is_none() {
        eprintln!("SPIN_BIN is not set: older postgres interfaces not checked under spin up");
        return;
    }
    check_postgres(Runner::Spin).await;
}

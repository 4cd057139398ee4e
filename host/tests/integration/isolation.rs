//! What a component may not do: open another service's database, reach
//! the network, read the host's files, or import anything outside the
//! platform world.

use crate::harness::{
    Component, Launch, TestDb, spawn_failing, stack, temp_dir, wasm, write_manifest,
};

/// A component opens its own database but is refused any other address,
/// by the host (exact `db_url` match) and by PostgreSQL (one role per
/// database), and the refusal is logged without the password.
#[tokio::test]
async fn a_component_reaches_only_its_own_database() {
    let s = stack(vec![Component::clients(), Component::fault()], &[]).await;
    let own = s.app.get("/fault/own-db").await;
    assert_eq!(own.status(), 200, "control: its own database opens");

    let clients_url = s.db.urls["clients"].clone();
    let fault_url = s.db.urls["fault"].clone();
    let localhost_alias = fault_url.replace("127.0.0.1", "localhost");
    for (what, address) in [
        ("another service's database", clients_url.as_str()),
        (
            "its own database under another name",
            localhost_alias.as_str(),
        ),
        (
            "an unlisted server",
            "postgres://fault:x@10.1.2.3:5432/fault",
        ),
    ] {
        let response = s.app.post_text("/fault/open-db", address.to_owned()).await;
        assert_eq!(response.status(), 403, "{what}");
        let body = response.text().await.unwrap();
        assert!(body.contains("refused"), "{what}: {body}");
        let password = clients_url
            .split(':')
            .nth(2)
            .unwrap()
            .split('@')
            .next()
            .unwrap();
        assert!(
            !body.contains(password),
            "{what}: the password leaked: {body}"
        );
    }
    let log = std::fs::read_to_string(&s.app.stderr_log).unwrap();
    assert!(
        log.contains("refused a database connection"),
        "refusals are logged"
    );
    for url in s.db.urls.values() {
        let password = url.split(':').nth(2).unwrap().split('@').next().unwrap();
        assert!(
            !log.contains(password),
            "a database password reached the log"
        );
    }
    assert!(
        !log.contains(&s.app.token),
        "the admin token reached the log"
    );

    // Even with the right password, a service role cannot connect to another
    // service's database: CONNECT is granted to its owner only.
    let clients_database = clients_url.rsplit_once('/').unwrap().1;
    let cross = format!(
        "{}/{clients_database}",
        fault_url.rsplit_once('/').unwrap().0
    );
    let err = sqlx::PgPool::connect(&cross)
        .await
        .expect_err("role fault must not connect to clients");
    assert!(err.to_string().contains("permission denied"), "{err}");
}

/// Outbound HTTP is refused unless it is chaining to an allowed component.
#[tokio::test]
async fn outbound_requests_are_refused() {
    let s = stack(vec![Component::clients(), Component::fault()], &[]).await;
    for url in [
        "http://example.com/",
        "http://127.0.0.1:1/",
        // Chaining is allowed only to hosts in allowed_outbound_hosts.
        "http://clients.spin.internal/clients",
    ] {
        let response = s.app.post_text("/fault/outbound", url).await;
        assert_eq!(response.status(), 403, "{url} must be refused");
    }
    let log = std::fs::read_to_string(&s.app.stderr_log).unwrap();
    assert!(log.contains("refused an outbound request"));
}

/// A component that imports an interface comptoir does not provide
/// (here Spin's MQTT) and nothing else.
fn mqtt_component(dir: &std::path::Path) -> std::path::PathBuf {
    let bytes = wat::parse_str(
        r#"(component
            (import "fermyon:spin/mqtt@2.0.0" (instance))
        )"#,
    )
    .unwrap();
    let path = dir.join("mqtt.wasm");
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A component importing an interface outside the platform world is
/// rejected when comptoir loads it, with an error naming the interface.
#[tokio::test]
async fn a_component_outside_the_platform_world_is_rejected_at_load() {
    let db = TestDb::start(&["clients"]).await;
    let dir = temp_dir();
    let outside = Component {
        id: "mqtt",
        wasm: mqtt_component(dir.path()),
        routes: &["/mqtt/..."],
        db: false,
        chains: &[],
    };
    let manifest = write_manifest(dir.path(), &[Component::clients(), outside]);
    let stderr = spawn_failing(Launch {
        manifest: &manifest,
        state_dir: dir.path(),
        env: Launch::db_env(&db),
        args: vec![],
    });
    assert!(
        stderr.contains("outside the comptoir platform world"),
        "{stderr}"
    );
    assert!(stderr.contains("fermyon:spin/mqtt@2.0.0"), "{stderr}");
}

/// A component may import `wasi:filesystem` (a Spin app's `files`), but
/// without `files` it sees no file at all: the host's are out of reach.
#[tokio::test]
async fn a_component_without_files_reads_no_file() {
    let escape = Component {
        id: "escape",
        wasm: wasm("testing_escape"),
        routes: &["/escape/..."],
        db: false,
        chains: &[],
    };
    let s = stack(vec![Component::clients(), escape], &[]).await;
    let response = s.app.get("/escape/").await;
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, 500, "{body}");
    assert!(!body.contains("root:"), "{body}");
}

/// Every service component the workspace builds fits the platform world
/// (checked with the same code comptoir loads components with).
#[test]
fn every_service_component_fits_the_platform_world() {
    let dir = temp_dir();
    let engine = comptoir::build_engine(
        &comptoir::EngineSettings {
            max_instances: 4,
            max_instance_memory: 64 << 20,
            perf_map: false,
        },
        &dir.path().join("cache"),
    )
    .unwrap();
    for name in ["clients", "testing_fault"] {
        let component = wasmtime::component::Component::from_file(&engine, wasm(name)).unwrap();
        comptoir::check_platform(&engine, &component).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    }
    let mqtt =
        wasmtime::component::Component::from_file(&engine, mqtt_component(dir.path())).unwrap();
    assert!(comptoir::check_platform(&engine, &mqtt).is_err());
}

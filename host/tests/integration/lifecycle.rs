//! Starting, stopping and restarting: the embedded database keeps its data
//! and is stopped cleanly; health endpoints tell the truth.

use serde_json::{Value, json};

use crate::harness::{Launch, spawn, temp_dir, workspace};

/// With no database URL configured, comptoir runs its own PostgreSQL under
/// the state directory; a client created before a restart is still there
/// after it, and each shutdown is clean (exit 0, PostgreSQL stopped).
#[tokio::test]
async fn data_survives_a_restart_with_the_embedded_database() {
    let state = temp_dir();
    let manifest = workspace().join("spin.toml");
    let launch = || Launch {
        manifest: &manifest,
        state_dir: state.path(),
        env: vec![],
        args: vec![],
    };

    let app = spawn(launch()).await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["databases"][0]["up"], true);
    assert_eq!(app.get("/healthz").await.status(), 200);
    let created: Value = app
        .post_json(
            "/clients",
            &json!({"name": "Grace", "email": "grace@example.com"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let status = app.stop();
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    let pid_file = state.path().join("pg/data/postmaster.pid");
    assert!(!pid_file.exists(), "PostgreSQL was stopped");

    let app = spawn(launch()).await;
    let fetched = app
        .get(&format!("/clients/{}", created["id"].as_str().unwrap()))
        .await;
    assert_eq!(fetched.status(), 200);
    let fetched: Value = fetched.json().await.unwrap();
    assert_eq!(fetched, created);
    assert!(app.stop().success());
    assert!(!pid_file.exists());
}

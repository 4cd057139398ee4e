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

/// SIGTERM while order flows run: requests in flight complete (no 5xx),
/// new ones are refused, the process exits cleanly within 10 s, and no
/// order is half-written.
#[tokio::test]
async fn shutdown_under_load_finishes_in_flight_work() {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use crate::harness::{Component, stack};

    let s = stack(Component::all_services(), &[]).await;
    let crate::harness::Stack { app, db, .. } = s;
    app.product("A", 5, 1_000_000).await;
    let app = Arc::new(app);
    let mut workers = Vec::new();
    for w in 0..8 {
        let app = app.clone();
        workers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut placed = Vec::new();
            for i in 0.. {
                let created = match app
                    .http
                    .post(app.url("/clients"))
                    .json(&json!({"name": "S", "email": format!("s{w}-{i}@example.com")}))
                    .send()
                    .await
                {
                    Ok(r) => r,
                    Err(_) => break, // refused: the server is going away
                };
                answers.push(created.status().as_u16());
                let Ok(client) = created.json::<Value>().await else {
                    break;
                };
                let id = client["id"].as_str().unwrap_or_default().to_owned();
                let add = app
                    .http
                    .post(app.url(&format!("/panier/{id}/items")))
                    .json(&json!({"product_id": "A", "quantity": 2}))
                    .send()
                    .await;
                let Ok(add) = add else { break };
                answers.push(add.status().as_u16());
                let order = app
                    .http
                    .post(app.url("/commandes"))
                    .header("Idempotency-Key", format!("s{w}-{i}"))
                    .json(&json!({"client_id": id}))
                    .send()
                    .await;
                let Ok(order) = order else { break };
                answers.push(order.status().as_u16());
                if order.status() == 201 {
                    let order: Value = order.json().await.unwrap_or_default();
                    placed.push(order["id"].as_str().unwrap_or_default().to_owned());
                }
            }
            (answers, placed)
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let signalled = Instant::now();
    let status = {
        let app = app.clone();
        tokio::task::spawn_blocking(move || app.terminate())
            .await
            .unwrap()
    };
    let took = signalled.elapsed();
    assert!(status.success(), "clean exit: {status}");
    assert!(took < Duration::from_secs(10), "exit took {took:?}");

    let mut placed = Vec::new();
    for worker in workers {
        let (answers, orders) = worker.await.unwrap();
        assert!(
            answers.iter().all(|s| *s < 500),
            "a request failed during shutdown: {answers:?}"
        );
        placed.extend(orders);
    }
    assert!(!placed.is_empty(), "orders were being placed");
    let pool = db.pool("commande").await;
    let half_written: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.id)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(half_written, 0, "an order without lines");
    for id in placed {
        let found: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE id = $1::uuid")
            .bind(&id)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(found, 1, "acknowledged order {id} is missing");
    }
}

/// As root, with a state directory the `postgres` OS user cannot reach (a
/// checkout under root's 0700 home, a `mktemp -d`), comptoir keeps the
/// embedded cluster where that user can reach it, says where, and serves.
#[tokio::test]
async fn embedded_database_works_from_a_private_directory_as_root() {
    use std::os::unix::fs::PermissionsExt as _;
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: needs root (the postgres user is what cannot reach the directory)");
        return;
    }
    let private = tempfile::Builder::new()
        .prefix("comptoir-private-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let state = private.path().join("checkout/.comptoir");
    std::fs::create_dir_all(&state).unwrap();
    let manifest = workspace().join("spin.toml");
    let app = spawn(Launch {
        manifest: &manifest,
        state_dir: &state,
        env: vec![],
        args: vec![],
    })
    .await;
    let created = app
        .post_json(
            "/clients",
            &json!({"name": "Root", "email": "root@example.com"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let log = std::fs::read_to_string(&app.stderr_log).unwrap();
    assert!(app.stop().success());
    let home = std::fs::read_link(state.join("pg/data")).expect("pg/data links to the cluster");
    assert!(home.starts_with("/var/lib/comptoir/"), "{}", home.display());
    assert!(
        log.contains(&home.parent().unwrap().display().to_string()),
        "the log says where the cluster is:\n{log}"
    );
    assert!(
        !home.join("postmaster.pid").exists(),
        "PostgreSQL was stopped"
    );
    std::fs::remove_dir_all(home.parent().unwrap()).unwrap();
}

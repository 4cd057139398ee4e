//! A service's database going away under load: its requests get 503 +
//! Retry-After quickly, other services keep working, the host recovers
//! without a restart, and no acknowledged write is lost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{
    Component, Launch, TestDb, eventually, spawn, temp_dir, write_manifest_allowing,
};

/// Clients and panier each on their own PostgreSQL (clients on the shared
/// one); panier's stops for a few seconds while both are written to.
#[tokio::test]
async fn a_database_outage_is_contained_and_loses_no_acknowledged_write() {
    let clients_db = TestDb::start(&["clients", "catalogue"]).await;
    let panier_db = TestDb::own_cluster(&["panier"]).await;
    let dir = temp_dir();
    let manifest = write_manifest_allowing(
        dir.path(),
        &[
            Component::clients(),
            Component::panier(),
            Component::catalogue(),
        ],
        "postgres://127.0.0.1:*",
    );
    let mut env = Launch::db_env(&clients_db);
    env.extend(Launch::db_env(&panier_db));
    let app = Arc::new(
        spawn(Launch {
            manifest: &manifest,
            state_dir: dir.path(),
            env,
            args: vec!["--replicas".into(), "2".into()],
        })
        .await,
    );
    let mut clients = Vec::new();
    for i in 0..10 {
        let c: Value = app
            .post_json(
                "/clients",
                &json!({"name": "O", "email": format!("o{i}@example.com")}),
            )
            .await
            .json()
            .await
            .unwrap();
        clients.push(c["id"].as_str().unwrap().to_owned());
    }
    let clients = Arc::new(clients);
    app.product("AFTER", 1, 10).await;

    // Writers: cart items (panier's database) and clients (still up).
    let stop_at = Instant::now() + Duration::from_secs(9);
    let mut writers = Vec::new();
    for w in 0..4 {
        let (app, clients) = (app.clone(), clients.clone());
        writers.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            let mut i = 0;
            while Instant::now() < stop_at {
                i += 1;
                let client = &clients[(w * 7 + i) % clients.len()];
                let sku = format!("W{w}-{i}");
                // The catalogue's database stays up: only panier's stops.
                app.product(&sku, 1, 10).await;
                let sent = Instant::now();
                let response = app.add_item(client, &sku, 1).await;
                let status = response.status().as_u16();
                let retry_after = response.headers().contains_key("retry-after");
                outcomes.push((client.clone(), sku, status, retry_after, sent.elapsed()));
                let other = app
                    .post_json(
                        "/clients",
                        &json!({"name": "During", "email": format!("d{w}-{i}@example.com")}),
                    )
                    .await;
                assert_eq!(other.status(), 201, "the clients service is unaffected");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            outcomes
        }));
    }

    tokio::time::sleep(Duration::from_secs(2)).await;
    panier_db.pause().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    panier_db.resume().await;
    let resumed = Instant::now();

    let mut outcomes = Vec::new();
    for writer in writers {
        outcomes.extend(writer.await.unwrap());
    }
    let refused = outcomes.iter().filter(|o| o.2 == 503).count();
    assert!(refused > 0, "the outage was observed");
    for (_, sku, status, retry_after, took) in &outcomes {
        assert!(
            *status == 200 || *status == 503,
            "{sku}: {status} (only 200 or 503 + Retry-After)"
        );
        if *status == 503 {
            assert!(retry_after, "{sku}: 503 without Retry-After");
        }
        assert!(
            *took < Duration::from_secs(5),
            "{sku}: took {took:?}: bounded, no hang"
        );
    }
    // Recovery without restart: writes succeed again after the database returns.
    eventually(
        Duration::from_secs(10).saturating_sub(resumed.elapsed()),
        "panier recovering once its database was back",
        async || {
            let probe = app.add_item(&clients[0], "AFTER", 1).await;
            match probe.status().as_u16() {
                200 => Ok(()),
                status => Err(status),
            }
        },
    )
    .await;
    // Every acknowledged write is there.
    let pool = panier_db.pool("panier").await;
    for (client, sku, status, _, _) in outcomes.iter().filter(|o| o.2 == 200) {
        let found: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM cart_items WHERE client_id = $1::uuid AND product_id = $2",
        )
        .bind(client)
        .bind(sku)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(found, 1, "acknowledged {sku} ({status}) was lost");
    }
}

/// A database restart fails no request once the server is back: the pool's
/// connections from before the restart (all dead) are checked and replaced
/// before a guest gets one, instead of failing a request each.
#[tokio::test]
async fn after_a_database_restart_no_request_fails_on_a_dead_pooled_connection() {
    let db = TestDb::own_cluster(&["clients"]).await;
    let dir = temp_dir();
    let manifest = write_manifest_allowing(
        dir.path(),
        &[Component::clients()],
        "postgres://127.0.0.1:*",
    );
    let app = spawn(Launch {
        manifest: &manifest,
        state_dir: dir.path(),
        env: Launch::db_env(&db),
        args: vec!["--replicas".into(), "2".into()],
    })
    .await;
    let create = |round: &'static str| {
        let app = &app;
        futures::future::join_all((0..16).map(move |i| async move {
            app.post_json(
                "/clients",
                &json!({"name": "R", "email": format!("{round}{i}@example.com")}),
            )
            .await
            .status()
            .as_u16()
        }))
    };
    // Concurrent requests leave several connections in the pool.
    assert!(create("before").await.iter().all(|s| *s == 201));

    db.pause().await;
    db.resume().await;

    let after = create("after").await;
    assert!(
        after.iter().all(|s| *s == 201),
        "requests failed after the restart: {after:?}"
    );
    assert_eq!(db.count("clients", "clients").await, 32);
}

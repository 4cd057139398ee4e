//! Faults and hostile input: deadlines, memory bombs, backpressure, request
//! limits, CORS, injection and traversal attempts. Each is contained with a
//! clear answer and touches nothing else.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{App, Component, eventually, problem, stack};

/// Runs `n` GET `path` concurrently; returns their statuses.
async fn concurrent_gets(
    app: &Arc<App>,
    path: &'static str,
    n: usize,
) -> Vec<tokio::task::JoinHandle<u16>> {
    (0..n)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { app.get(path).await.status().as_u16() })
        })
        .collect()
}

async fn traps_of(app: &App, component: &str) -> u64 {
    let inventory = app.inventory().await;
    inventory["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == component)
        .unwrap()["traps"]
        .as_u64()
        .unwrap()
}

/// A request that loops forever gets a 504 at the deadline, its instance is
/// dropped and replaced, and requests beside it are unaffected.
#[tokio::test]
async fn an_endless_loop_hits_the_deadline() {
    let s = stack(
        vec![Component::fault()],
        // Instances shared by requests: the ones the loop starves are
        // re-run elsewhere.
        &[
            "--request-timeout",
            "1s",
            "--replicas",
            "2",
            "--isolation",
            "instance",
        ],
    )
    .await;
    let app = Arc::new(s.app);
    let beside = concurrent_gets(&app, "/fault/ok", 20).await;
    let started = Instant::now();
    let looping = app.get("/fault/loop").await;
    let waited = started.elapsed();
    let body = problem(looping, 504).await;
    assert!(
        body["detail"].as_str().unwrap().contains("did not answer"),
        "{body}"
    );
    assert!(
        waited < Duration::from_secs(5),
        "the deadline held ({waited:?})"
    );
    let mut statuses = Vec::new();
    for task in beside {
        statuses.push(task.await.unwrap());
    }
    if statuses.iter().any(|s| *s != 200) {
        eprintln!(
            "{}",
            std::fs::read_to_string(&app.stderr_log).unwrap_or_default()
        );
    }
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    // The looping instance is dropped shortly after the deadline.
    eventually(
        Duration::from_secs(5),
        "the looping instance dropped",
        async || match traps_of(&app, "fault").await {
            0 => Err("no trap counted"),
            _ => Ok(()),
        },
    )
    .await;
    for _ in 0..6 {
        assert_eq!(app.get("/fault/ok").await.status(), 200);
    }
}

/// A component allocating without bound traps at the instance memory limit:
/// a 500 for that request only.
#[tokio::test]
async fn a_memory_bomb_stops_at_the_limit() {
    let s = stack(
        vec![Component::fault()],
        &["--max-instance-memory", "32", "--replicas", "2"],
    )
    .await;
    let app = Arc::new(s.app);
    let beside = concurrent_gets(&app, "/fault/ok", 20).await;
    let bomb = app.get("/fault/alloc").await;
    problem(bomb, 500).await;
    for task in beside {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert!(traps_of(&app, "fault").await >= 1);
    assert_eq!(app.get("/fault/ok").await.status(), 200);
}

/// Beyond replicas × concurrency + queue, requests get 503 + Retry-After
/// at once instead of waiting without bound; the rest are served.
#[tokio::test]
async fn overload_is_refused_with_retry_after() {
    let s = stack(
        vec![Component::fault()],
        &[
            "--replicas",
            "1",
            "--max-concurrency",
            "1",
            "--max-queue",
            "1",
        ],
    )
    .await;
    let app = Arc::new(s.app);
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                let response = app.get("/fault/sleep").await;
                let retry_after = response.headers().get("retry-after").is_some();
                (response.status().as_u16(), retry_after)
            })
        })
        .collect();
    let mut served = 0;
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            (200, _) => served += 1,
            (503, true) => refused += 1,
            other => panic!("unexpected answer under overload: {other:?}"),
        }
    }
    assert!(served >= 2, "capacity 1 + queue 1 is served ({served})");
    assert!(refused >= 1, "the excess is refused ({refused})");
    assert_eq!(
        app.get("/fault/ok").await.status(),
        200,
        "and the system recovers"
    );
}

/// Oversized bodies, URIs and headers are refused by the gateway before any
/// component runs.
#[tokio::test]
async fn request_limits() {
    let s = stack(vec![Component::clients()], &["--max-body", "4096"]).await;
    let app = &s.app;
    let big = format!(
        r#"{{"name": "{}", "email": "big@example.com"}}"#,
        "a".repeat(8000)
    );
    let declared = app
        .http
        .post(app.url("/clients"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    problem(declared, 413).await;
    let chunks: Vec<Result<String, std::io::Error>> =
        vec![Ok(big[..4000].to_owned()), Ok(big[4000..].to_owned())];
    let streamed = app
        .http
        .post(app.url("/clients"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    problem(streamed, 413).await;
    let long_uri = app
        .get(&format!("/clients?cursor={}", "s".repeat(10_000)))
        .await;
    problem(long_uri, 414).await;
    let huge_header = app
        .http
        .get(app.url("/clients"))
        .header("x-padding", "p".repeat(100_000))
        .send()
        .await
        .unwrap();
    assert_eq!(huge_header.status(), 431);
    assert_eq!(s.db.count("clients", "clients").await, 0);
}

/// Only allow-listed origins get CORS headers; never `*`, never credentials.
#[tokio::test]
async fn cors_is_an_allow_list() {
    let s = stack(
        vec![Component::clients()],
        &["--cors-origin", "https://shop.example.com"],
    )
    .await;
    let app = &s.app;
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/clients"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, idempotency-key",
            )
            .send()
    };
    let allowed = preflight("https://shop.example.com").await.unwrap();
    assert_eq!(allowed.status(), 204);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://shop.example.com"
    );
    assert!(
        allowed.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("idempotency-key")
    );
    assert!(
        allowed
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    let denied = preflight("https://evil.example.com").await.unwrap();
    assert_eq!(denied.status(), 403);
    assert!(
        denied
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let from = |origin: &'static str| {
        app.http
            .get(app.url("/clients"))
            .header("origin", origin)
            .send()
    };
    let ok = from("https://shop.example.com").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://shop.example.com"
    );
    let other = from("https://evil.example.com").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

/// SQL injection payloads in every text field are stored literally, and in
/// query parameters and paths they are rejected; never a 5xx. Path
/// traversal and oversized ids are refused.
#[tokio::test]
async fn injection_and_traversal_are_inert() {
    let s = stack(Component::all_services(), &[]).await;
    let app = &s.app;
    let payload = "Robert'); DROP TABLE clients; --";
    let created = app
        .post_json(
            "/clients",
            &json!({"name": payload, "email": "bobby.tables@example.com", "phone": "+1 (555) 0100", "address": "' OR '1'='1"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let client: Value = created.json().await.unwrap();
    let id = client["id"].as_str().unwrap();
    let fetched: Value = app
        .get(&format!("/clients/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["name"], payload);
    assert_eq!(fetched["address"], "' OR '1'='1");
    let product = app
        .put_json(
            "/catalogue/SKU-1",
            &json!({"name": "x'); DELETE FROM cart_items; --", "price_cents": 1, "stock": 5, "description": "' OR '1'='1"}),
        )
        .await;
    assert_eq!(product.status(), 201);
    let item = app.add_item(id, "SKU-1", 1).await;
    assert_eq!(item.status(), 200);
    let cart: Value = item.json().await.unwrap();
    assert_eq!(cart["items"][0]["name"], "x'); DELETE FROM cart_items; --");

    for path in [
        "/clients?limit=1;DROP%20TABLE%20clients".to_owned(),
        "/clients?cursor=%27%20OR%20%271%27=%271".to_owned(),
        "/commandes?client_id=%27%20OR%201=1%20--".to_owned(),
        "/catalogue?cursor=%27%20OR%20%271%27=%271".to_owned(),
        "/catalogue/%27%20OR%20%271%27=%271".to_owned(),
        "/clients/%27%20OR%20%271%27=%271".to_owned(),
        "/clients/..%2F..%2Fetc%2Fpasswd".to_owned(),
        "/panier/..%2Fclients".to_owned(),
        format!("/panier/{id}/items/..%2F..%2Fclients"),
        format!("/clients/{}", "9".repeat(4000)),
    ] {
        let response = app.get(&path).await;
        let status = response.status().as_u16();
        assert!((400..500).contains(&status), "{path} answered {status}");
    }
    assert_eq!(
        s.db.count("clients", "clients").await,
        1,
        "nothing dropped, nothing added"
    );
    assert_eq!(s.db.count("panier", "cart_items").await, 1);
}

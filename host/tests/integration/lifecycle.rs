//! Starting, stopping and restarting: the embedded database keeps its data
//! and is stopped cleanly; health endpoints tell the truth.

use serde_json::{Value, json};

use crate::harness::{App, Launch, TestDb, spawn, temp_dir, workspace};

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

/// SIGTERM while order flows run. A request comptoir accepted (read) is
/// answered (no 5xx, no reset, no cut-off answer): one it was still reading
/// when told to stop is answered after the listener closed. One it did not
/// accept goes unanswered without having run: a connection attempted once
/// the listener is closed is refused; a request that reached the server
/// just as it stopped (not accepted from the listener's backlog yet, or
/// not read from its connection) is cut off with its connection, and what
/// it would have written is not there. The process exits cleanly within
/// 10 s, and no order is half-written.
#[tokio::test]
async fn shutdown_under_load_finishes_in_flight_work() {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use crate::harness::{Component, eventually, stack};

    let s = stack(Component::all_services(), &[]).await;
    let crate::harness::Stack { app, db, .. } = s;
    app.product("A", 5, 1_000_000).await;
    let app = Arc::new(app);
    let mut workers = Vec::new();
    for w in 0..8 {
        let app = app.clone();
        workers.push(tokio::spawn(async move {
            let (mut answers, mut placed) = (Vec::new(), Vec::new());
            let mut i = 0;
            loop {
                match order_flow(&app, &format!("s{w}-{i}"), &mut answers).await {
                    Ok(order) => placed.extend(order),
                    Err(unanswered) => return (answers, placed, unanswered),
                }
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let email = "accepted-in-flight@example.com";
    let accepted = Accepted::post(
        &app,
        "/clients",
        json!({"name": "Late", "email": email}).to_string(),
    )
    .await;
    let signalled = Instant::now();
    let exited = {
        let app = app.clone();
        tokio::task::spawn_blocking(move || app.terminate())
    };
    // The listener closes: a connection attempted from then on is refused
    // (not accepted, then reset).
    let address = listener(&app);
    eventually(
        Duration::from_secs(10),
        "the listener refusing connections",
        async || match tokio::net::TcpStream::connect(address).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Ok(()),
            Err(e) => panic!("a connection attempt failed but was not refused: {e}"),
            Ok(_) => Err("still accepting connections"),
        },
    )
    .await;
    let answer = accepted.finish().await;
    assert!(
        answer.starts_with("HTTP/1.1 201 ") && answer.contains(email),
        "the request accepted before SIGTERM completes with its answer:\n{answer}"
    );
    let status = exited.await.unwrap();
    let took = signalled.elapsed();
    assert!(status.success(), "clean exit: {status}");
    assert!(took < Duration::from_secs(10), "exit took {took:?}");

    // Every request comptoir read ran to its end: none was still running
    // when the grace period ran out.
    let log = std::fs::read_to_string(&app.stderr_log).unwrap();
    assert!(!log.contains("grace period over"), "{log}");

    let mut placed = Vec::new();
    let mut dropped = Vec::new();
    for worker in workers {
        let (answers, orders, unanswered) = worker.await.unwrap();
        assert!(
            answers.iter().all(|s| *s < 500),
            "a request failed during shutdown: {answers:?}"
        );
        placed.extend(orders);
        // Refused at connect, or cut off: then whether it ran tells an
        // accepted request dropped in flight from one never accepted.
        if let Unanswered::Cut { write, error } = unanswered
            && write.done(&db).await
        {
            dropped.push(format!("{write:?}: {error}"));
        }
    }
    assert!(
        dropped.is_empty(),
        "requests that ran but whose answer was dropped: {dropped:#?}"
    );
    assert!(!placed.is_empty(), "orders were being placed");
    let clients = db.pool("clients").await;
    let late: i64 = sqlx::query_scalar("SELECT count(*) FROM clients WHERE email = $1")
        .bind(email)
        .fetch_one(&clients)
        .await
        .unwrap();
    assert_eq!(late, 1, "the answered request's client was written");
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

/// How a request sent while comptoir shuts down went without its answer.
#[derive(Debug)]
enum Unanswered {
    /// Its connection was refused: the listener was closed.
    Refused,
    /// Its connection was reset or closed before the whole answer came.
    /// Whether `write` was done tells a request dropped in flight (it ran)
    /// from one that was never accepted.
    Cut { write: Write, error: String },
}

impl Unanswered {
    /// How the request that would do `write` failed with `error`.
    fn of(write: Write) -> impl FnOnce(reqwest::Error) -> Self {
        move |error| {
            if error.is_connect() {
                Self::Refused
            } else {
                Self::Cut {
                    write,
                    error: format!("{error:?}"),
                }
            }
        }
    }
}

/// What a request of an order flow writes.
#[derive(Debug, Clone)]
enum Write {
    /// The client with this email.
    Client(String),
    /// A cart line of this client.
    CartLine(String),
    /// The order with this idempotency key.
    Order(String),
}

impl Write {
    /// Whether it is in the database: the request ran.
    async fn done(&self, db: &TestDb) -> bool {
        let (service, sql, key) = match self {
            Self::Client(email) => (
                "clients",
                "SELECT count(*) FROM clients WHERE email = $1",
                email,
            ),
            Self::CartLine(client) => (
                "panier",
                "SELECT count(*) FROM cart_items WHERE client_id = $1::uuid",
                client,
            ),
            Self::Order(key) => (
                "commande",
                "SELECT count(*) FROM orders WHERE idempotency_key = $1",
                key,
            ),
        };
        let pool = db.pool(service).await;
        let found: i64 = sqlx::query_scalar(sql)
            .bind(key)
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        found > 0
    }
}

/// One order flow (a client, a cart line, an order; `flow` names the
/// client and keys the order), each answer read whole, its status pushed
/// to `answers`. The order's id when it was placed.
async fn order_flow(
    app: &App,
    flow: &str,
    answers: &mut Vec<u16>,
) -> Result<Option<String>, Unanswered> {
    let email = format!("{flow}@example.com");
    let write = Write::Client(email.clone());
    let created = app
        .http
        .post(app.url("/clients"))
        .json(&json!({"name": "S", "email": email}))
        .send()
        .await
        .map_err(Unanswered::of(write.clone()))?;
    answers.push(created.status().as_u16());
    let client = created.bytes().await.map_err(Unanswered::of(write))?;
    let client: Value = serde_json::from_slice(&client).unwrap_or_default();
    let Some(id) = client["id"].as_str() else {
        return Ok(None);
    };
    let write = Write::CartLine(id.to_owned());
    let add = app
        .http
        .post(app.url(&format!("/panier/{id}/items")))
        .json(&json!({"product_id": "A", "quantity": 2}))
        .send()
        .await
        .map_err(Unanswered::of(write.clone()))?;
    answers.push(add.status().as_u16());
    add.bytes().await.map_err(Unanswered::of(write))?;
    let write = Write::Order(flow.to_owned());
    let order = app
        .http
        .post(app.url("/commandes"))
        .header("Idempotency-Key", flow)
        .json(&json!({"client_id": id}))
        .send()
        .await
        .map_err(Unanswered::of(write.clone()))?;
    answers.push(order.status().as_u16());
    let placed = order.status() == 201;
    let order = order.bytes().await.map_err(Unanswered::of(write))?;
    let order: Value = serde_json::from_slice(&order).unwrap_or_default();
    Ok(placed.then(|| order["id"].as_str().unwrap_or_default().to_owned()))
}

/// The public listener's address (`127.0.0.1:<port>`).
fn listener(app: &App) -> std::net::SocketAddr {
    app.base.trim_start_matches("http://").parse().unwrap()
}

/// A request comptoir has accepted and is reading: it answered the head
/// `100 Continue`; the body is not sent yet.
struct Accepted {
    stream: tokio::net::TcpStream,
    body: String,
}

impl Accepted {
    /// Sends the head of a staff `POST path` of `body` (a JSON text) and
    /// waits for its `100 Continue`.
    async fn post(app: &App, path: &str, body: String) -> Self {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let address = listener(app);
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {}\r\n\
             content-type: application/json\r\ncontent-length: {}\r\n\
             expect: 100-continue\r\nconnection: close\r\n\r\n",
            crate::tokens::staff(),
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut interim = Vec::new();
        while !interim.ends_with(b"\r\n\r\n") {
            interim.push(stream.read_u8().await.unwrap());
        }
        assert!(
            interim.starts_with(b"HTTP/1.1 100 "),
            "{}",
            String::from_utf8_lossy(&interim)
        );
        Self { stream, body }
    }

    /// Sends the body; the whole answer (status line, head and body), as
    /// text.
    async fn finish(mut self) -> String {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        self.stream.write_all(self.body.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        self.stream
            .read_to_end(&mut answer)
            .await
            .expect("the accepted request's answer, not a reset");
        String::from_utf8_lossy(&answer).into_owned()
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

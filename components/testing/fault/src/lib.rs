//! A component that misbehaves on purpose, for the host's fault tests.
//!
//! `/fault/ok` answers; `/fault/sleep` blocks its instance for 600 ms;
//! `/fault/db-wait` waits 600 ms in PostgreSQL (an async call: other
//! requests run in the instance meanwhile); `/fault/trap` traps; `/fault/loop` never returns;
//! `/fault/alloc` allocates without bound; `POST /fault/open-db` opens the
//! database address in its body; `POST /fault/outbound` fetches the URL in
//! its body; `/fault/headers/...` answers the `spin-*` request headers it
//! was given, as a JSON object. It is never routed by the real `spin.toml`.

use comptoir_kit::reply::{self, Reply};
use spin_sdk::http::body::IncomingBodyExt as _;
use spin_sdk::http::{Request, StatusCode};
use spin_sdk::http_service;

#[http_service]
async fn handle(req: Request) -> Reply {
    let path = req.uri().path().to_owned();
    match path.as_str() {
        "/fault/ok" => text(StatusCode::OK, "ok".into()),
        p if p.starts_with("/fault/headers") => {
            let spin: std::collections::BTreeMap<&str, &str> = req
                .headers()
                .iter()
                .filter(|(name, _)| name.as_str().starts_with("spin-"))
                .map(|(name, value)| (name.as_str(), value.to_str().unwrap_or("?")))
                .collect();
            reply::json(StatusCode::OK, &spin)
        }
        "/fault/sleep" => {
            // Blocks this instance for a moment: something to observe in flight.
            std::thread::sleep(std::time::Duration::from_millis(600));
            text(StatusCode::OK, "slept".into())
        }
        "/fault/db-wait" => match comptoir_kit::db::open().await {
            Ok(db) => match db.execute("SELECT pg_sleep(0.6)", vec![]).await {
                Ok(_) => text(StatusCode::OK, "waited".into()),
                Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            },
            Err(p) => text(StatusCode::SERVICE_UNAVAILABLE, p.detail),
        },
        "/fault/trap" => std::process::abort(),
        "/fault/loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "/fault/alloc" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        "/fault/own-db" => open(
            comptoir_kit::db::open()
                .await
                .map(|_| ())
                .map_err(|p| p.detail),
        ),
        "/fault/open-db" => {
            let address = body(req).await;
            open(
                spin_sdk::pg::Connection::open(address)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            )
        }
        "/fault/outbound" => {
            let url = body(req).await;
            match spin_sdk::http::get(url).await {
                Ok(response) => text(StatusCode::OK, format!("fetched: {}", response.status())),
                Err(e) => text(StatusCode::FORBIDDEN, format!("refused: {e:?}")),
            }
        }
        _ => text(StatusCode::NOT_FOUND, format!("no route {path}")),
    }
}

fn open(result: Result<(), String>) -> Reply {
    match result {
        Ok(()) => text(StatusCode::OK, "opened".into()),
        Err(e) => text(StatusCode::FORBIDDEN, format!("refused: {e}")),
    }
}

async fn body(req: Request) -> String {
    let bytes = req.into_body().bytes().await.unwrap_or_default();
    String::from_utf8_lossy(&bytes).trim().to_owned()
}

fn text(status: StatusCode, body: String) -> Reply {
    reply::with_body(status, "text/plain", body.into_bytes())
}

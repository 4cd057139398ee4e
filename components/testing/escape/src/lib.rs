//! A component that tries to read the host's files: it imports
//! `wasi:filesystem`, and without `files` in its manifest comptoir gives it
//! no directory, so the read fails. Never routed by the real `spin.toml`.

use spin_sdk::http::{Request, StatusCode};
use spin_sdk::http_service;

#[http_service]
async fn handle(_req: Request) -> (StatusCode, String) {
    match std::fs::read_to_string("/etc/passwd") {
        Ok(text) => (StatusCode::OK, text),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

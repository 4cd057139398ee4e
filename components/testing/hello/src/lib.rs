//! The smallest spin-sdk 7 HTTP component: 200 "hello" to every request.
//! `cargo xtask bench hello` serves it under comptoir and under
//! `wasmtime serve` to compare what each gateway costs per request.

use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

#[http_service]
async fn handle(_req: Request) -> impl IntoResponse {
    "hello"
}

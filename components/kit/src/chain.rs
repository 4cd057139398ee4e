//! Calls to other services through Spin's local service chaining
//! (`http://<component>.spin.internal/...`; comptoir dispatches them in
//! process, Spin does the same). A call made on a caller's behalf carries
//! its token, so that the callee checks it again; a call to a private
//! endpoint carries none (see [`serve_internal`](crate::serve_internal)).

use serde::de::DeserializeOwned;
use spin_sdk::http::body::IncomingBodyExt as _;
use spin_sdk::http::{EmptyBody, FullBody, Method, Request, Response, StatusCode};

use crate::{Caller, Problem};

/// The component serving panier's service-only routes (checkout after an
/// order, forget after a client's deletion): the same `panier.wasm` behind
/// a private endpoint (`route = { private = true }` in `spin.toml`), which
/// no request from outside reaches.
pub const PANIER_INTERNAL: &str = "panier-internal";

/// The component serving the catalogue's stock reservations (commande
/// reserves an order's lines, and gives them back on a cancellation): the
/// same `catalogue.wasm` behind a private endpoint.
pub const CATALOGUE_INTERNAL: &str = "catalogue-internal";

/// The address of `component`'s `path` for chaining.
pub fn url(component: &str, path: &str) -> String {
    format!("http://{component}.spin.internal{path}")
}

/// What a peer service answered a chained call: status and body (the
/// response this component sends is a [`Reply`](crate::Reply)).
pub struct Answer {
    pub status: StatusCode,
    pub body: bytes::Bytes,
}

impl Answer {
    /// The body as JSON, or a 503 naming `service` (a broken peer is a
    /// dependency failure, not the caller's fault).
    pub fn json<T: DeserializeOwned>(&self, service: &str) -> Result<T, Problem> {
        serde_json::from_slice(&self.body).map_err(|_| {
            Problem::unavailable(format!("{service} answered with an unreadable body"))
        })
    }
}

async fn finish(
    response: Result<Response, impl std::fmt::Debug>,
    service: &str,
) -> Result<Answer, Problem> {
    let response = response.map_err(|e| {
        eprintln!("chained call to {service} failed: {e:?}");
        Problem::unavailable(format!("the {service} service is unavailable"))
    })?;
    let status = response.status();
    let body = response.into_body().bytes().await.map_err(|_| {
        Problem::unavailable(format!("the {service} service did not finish its answer"))
    })?;
    Ok(Answer { status, body })
}

/// `GET` on `service`'s `path`, as `caller`.
pub async fn get(service: &str, path: &str, caller: &Caller) -> Result<Answer, Problem> {
    let request = Request::builder()
        .method(Method::GET)
        .uri(url(service, path))
        .header("authorization", caller.authorization())
        .body(EmptyBody::new())
        .map_err(|e| Problem::internal(format!("invalid chained request: {e}")))?;
    finish(spin_sdk::http::send(request).await, service).await
}

/// A request with a JSON body (or none) on `service`'s `path`: as
/// `caller`, or with no token (a private endpoint) when `None`.
pub async fn call(
    service: &str,
    method: Method,
    path: &str,
    json: Option<&serde_json::Value>,
    caller: Option<&Caller>,
) -> Result<Answer, Problem> {
    let body = json.map(|j| j.to_string()).unwrap_or_default();
    let mut request = Request::builder()
        .method(method)
        .uri(url(service, path))
        .header("content-type", "application/json");
    if let Some(caller) = caller {
        request = request.header("authorization", caller.authorization());
    }
    let request = request
        .body(FullBody::new(bytes::Bytes::from(body)))
        .map_err(|e| Problem::internal(format!("invalid chained request: {e}")))?;
    finish(spin_sdk::http::send(request).await, service).await
}

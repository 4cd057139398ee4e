//! The admin listener: `GET /metrics`, and under `/admin/` (bearer token)
//! the component inventory, hot-swap deploys, rollbacks and canaries.
//!
//! The token comes from `COMPTOIR_ADMIN_TOKEN` or is generated at start and
//! written to `<state>/admin-token` (mode 0600), which the CLI reads. It is
//! compared in constant time and never logged. Uploads are held in memory
//! (never written to disk) and limited in size.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use http::{Method, StatusCode, header};
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use serde_json::json;
use subtle::ConstantTimeEq as _;
use wasmtime_wasi_http::WasiBody;

use crate::deploy::{self, DeployError};
use crate::problem;
use crate::router::Services;

/// Largest `.wasm` an upload may be.
pub const MAX_UPLOAD: usize = 50 * 1024 * 1024;
/// Name of the token file in the state directory.
pub const TOKEN_FILE: &str = "admin-token";

/// The admin bearer token (never printed).
#[derive(Clone)]
pub struct Token(Arc<str>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

impl Token {
    /// `COMPTOIR_ADMIN_TOKEN` if set, else a fresh random token written to
    /// `<state_dir>/admin-token` with mode 0600.
    pub fn load_or_create(from_env: Option<String>, state_dir: &Path) -> anyhow::Result<Self> {
        if let Some(token) = from_env.filter(|t| !t.trim().is_empty()) {
            return Ok(Self(token.trim().into()));
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let token = hex::encode(bytes);
        std::fs::create_dir_all(state_dir)?;
        let path = state_dir.join(TOKEN_FILE);
        let _ = std::fs::remove_file(&path);
        {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("failed to write {}", path.display()))?;
            file.write_all(token.as_bytes())?;
        }
        Ok(Self(token.into()))
    }

    /// Whether `Authorization` carries this token (constant-time compare).
    fn accepts(&self, authorization: Option<&http::HeaderValue>) -> bool {
        let Some(given) = authorization
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        given.as_bytes().ct_eq(self.0.as_bytes()).into()
    }
}

/// Everything the admin handlers need.
pub struct Admin {
    pub services: Arc<Services>,
    pub token: Token,
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// Answers one admin request.
pub async fn handle(admin: &Admin, request: http::Request<Incoming>) -> http::Response<WasiBody> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    if method == Method::GET && path == "/metrics" {
        return admin.metrics.render(&admin.services);
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.first() != Some(&"admin") {
        return problem::problem(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no admin route {path}"),
        );
    }
    if !admin
        .token
        .accepts(request.headers().get(header::AUTHORIZATION))
    {
        let mut response = problem::problem(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid `Authorization: Bearer <token>` is required",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer"),
        );
        return response;
    }
    match (method, segments.as_slice()) {
        (Method::GET, ["admin", "components"]) => {
            problem::json(StatusCode::OK, &inventory(&admin.services))
        }
        (Method::PUT, ["admin", "components", name]) => {
            let name = (*name).to_owned();
            // The share is checked once the body is read: answering early
            // would cut the client off in the middle of its upload.
            let share = canary_share(request.uri().query());
            let bytes = match upload(request).await {
                Ok(bytes) => bytes,
                Err(response) => return response,
            };
            let canary = match share {
                Ok(share) => share,
                Err(response) => return response,
            };
            match canary {
                None => outcome(
                    StatusCode::OK,
                    deploy::deploy(&admin.services, &name, &bytes).await,
                ),
                Some(share) => outcome(
                    StatusCode::ACCEPTED,
                    deploy::start_canary(&admin.services, &name, &bytes, share).await,
                ),
            }
        }
        (Method::POST, ["admin", "components", name, "rollback"]) => outcome(
            StatusCode::OK,
            deploy::rollback(&admin.services, name).await,
        ),
        (Method::POST, ["admin", "components", name, "promote"]) => {
            outcome(StatusCode::OK, deploy::promote(&admin.services, name).await)
        }
        (Method::POST, ["admin", "components", name, "abort"]) => {
            outcome(StatusCode::OK, deploy::abort(&admin.services, name).await)
        }
        _ => problem::problem(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no admin route {path}"),
        ),
    }
}

/// The request body, at most [`MAX_UPLOAD`] bytes.
async fn upload(
    request: http::Request<Incoming>,
) -> Result<bytes::Bytes, http::Response<WasiBody>> {
    let too_large = || {
        problem::problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            format!("uploads are limited to {MAX_UPLOAD} bytes"),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_UPLOAD) {
        return Err(too_large());
    }
    match Limited::new(request.into_body(), MAX_UPLOAD)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(_) => Err(too_large()),
    }
}

/// `?canary=N` (1–99, percent of the requests), if given.
#[expect(
    clippy::result_large_err,
    reason = "the error is the 400 to answer, built once here"
)]
fn canary_share(query: Option<&str>) -> Result<Option<u8>, http::Response<WasiBody>> {
    let Some(raw) = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("canary="))
    else {
        return Ok(None);
    };
    match raw.parse::<u8>() {
        Ok(share @ 1..=99) => Ok(Some(share)),
        _ => Err(problem::problem(
            StatusCode::BAD_REQUEST,
            "invalid-canary-share",
            format!("canary={raw:?}: the share is a percentage of requests from 1 to 99"),
        )),
    }
}

/// The answer to a deploy-type request: `success` with what was done, or
/// the problem saying why nothing changed.
fn outcome<T: serde::Serialize>(
    success: StatusCode,
    result: Result<T, DeployError>,
) -> http::Response<WasiBody> {
    match result {
        Ok(done) => problem::json(success, &json!(done)),
        Err(error) => {
            let (status, slug) = match &error {
                DeployError::UnknownComponent(_) => (StatusCode::NOT_FOUND, "unknown-component"),
                DeployError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid-component"),
                DeployError::NoPrevious(_) => (StatusCode::CONFLICT, "no-previous-version"),
                DeployError::CanaryRunning(_) => (StatusCode::CONFLICT, "canary-running"),
                DeployError::NoCanary(_) => (StatusCode::CONFLICT, "no-canary"),
            };
            problem::problem(status, slug, error.to_string())
        }
    }
}

pub fn rfc3339(time: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `GET /admin/components`: every component, its version and replicas.
pub fn inventory(services: &Services) -> serde_json::Value {
    let components: Vec<_> = services
        .components
        .values()
        .map(|set| {
            let current = set.current();
            json!({
                "name": set.name(),
                "version": current.label(),
                "sha256": current.sha256,
                "loaded_at": rfc3339(current.loaded_at),
                "previous": set.previous().map(|p| p.label()),
                "traps": set.traps(),
                "canary": services.canary(set.name()).and_then(|c| c.report()),
                "replicas": set.replicas().iter().enumerate().map(|(slot, r)| json!({
                    "slot": slot,
                    "version": r.version().label(),
                    "in_flight": r.in_flight(),
                    "served": r.served(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "components": components })
}

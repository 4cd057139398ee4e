//! The admin listener: `GET /metrics`, and under `/admin/` (bearer token)
//! the component inventory, hot-swap deploys, rollbacks and canaries.
//!
//! The token comes from `COMPTOIR_ADMIN_TOKEN` or is generated at start and
//! written to `<state>/admin-token` (mode 0600), which the CLI reads. It is
//! compared in constant time and never logged. Uploads are held in memory
//! (never written to disk) and limited in size.

use std::path::Path;
use std::sync::Arc;

use http::{Method, StatusCode, header};
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use subtle::ConstantTimeEq as _;
use wasmtime_wasi_http::WasiBody;

use crate::api::{ComponentStatus, Inventory, ReplicaStatus, TOKEN_FILE, rfc3339};
use crate::deploy::{self, DeployError, JudgedBy};
use crate::fleet::artifacts::ArtifactError;
use crate::fleet::{Fleet, FleetError};
use crate::metrics::LiveReplicas;
use crate::response;
use crate::router::Services;
use crate::{problem, secret};

/// Largest `.wasm` an upload may be.
pub const MAX_UPLOAD: usize = 50 * 1024 * 1024;

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
        let token = secret::random_hex(32)?;
        std::fs::create_dir_all(state_dir)?;
        secret::write_private(&state_dir.join(TOKEN_FILE), token.as_bytes())?;
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
    /// The fleet this gateway belongs to: changes go through it.
    pub fleet: Option<Arc<Fleet>>,
}

/// Why an admin request changed nothing: the admin listener's errors,
/// mapped to problem+json here.
#[derive(Debug, thiserror::Error)]
enum Problem {
    #[error("no admin route {0}")]
    NoRoute(String),
    #[error("a valid `Authorization: Bearer <token>` is required")]
    Unauthorized,
    #[error("uploads are limited to {0} bytes")]
    UploadTooLarge(usize),
    #[error("canary={0:?}: the share is a percentage of requests from 1 to 99")]
    InvalidCanaryShare(String),
    #[error(transparent)]
    Deploy(#[from] DeployError),
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error("gateway {0} refused the version (nothing changed): {1}")]
    RefusedBy(String, String),
    #[error("this gateway is not part of a fleet (no --control-url)")]
    NoFleet,
    #[error("deploying by reference needs a fleet (--control-url): {0}")]
    ReferenceWithoutFleet(String),
}

impl From<FleetError> for Problem {
    fn from(error: FleetError) -> Self {
        match error {
            FleetError::Deploy(e) => Self::Deploy(e),
            FleetError::Artifact(e) => Self::Artifact(e),
            FleetError::RefusedBy { gateway, reason } => Self::RefusedBy(gateway, reason),
        }
    }
}

impl Problem {
    fn response(&self) -> http::Response<WasiBody> {
        let (status, slug) = match self {
            Self::NoRoute(_) => (StatusCode::NOT_FOUND, "not-found"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::UploadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large"),
            Self::InvalidCanaryShare(_) => (StatusCode::BAD_REQUEST, "invalid-canary-share"),
            Self::Deploy(error) => match error {
                DeployError::UnknownComponent(_) => (StatusCode::NOT_FOUND, "unknown-component"),
                DeployError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid-component"),
                DeployError::NoPrevious(_) => (StatusCode::CONFLICT, "no-previous-version"),
                DeployError::CanaryRunning(_) => (StatusCode::CONFLICT, "canary-running"),
                DeployError::NoCanary(_) => (StatusCode::CONFLICT, "no-canary"),
            },
            Self::Artifact(error) => match error {
                ArtifactError::Mismatch(_) => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "artifact-digest-mismatch")
                }
                ArtifactError::Missing(_) => (StatusCode::NOT_FOUND, "unknown-artifact"),
                ArtifactError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid-artifact"),
                ArtifactError::Registry(_) => (StatusCode::BAD_GATEWAY, "registry-unavailable"),
                ArtifactError::Store(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "control-database-unavailable",
                ),
            },
            Self::RefusedBy(..) => (StatusCode::CONFLICT, "refused-by-gateway"),
            Self::NoFleet => (StatusCode::NOT_FOUND, "no-fleet"),
            Self::ReferenceWithoutFleet(_) => (StatusCode::CONFLICT, "no-fleet"),
        };
        let mut response = problem::problem(status, slug, &self.to_string());
        if let Self::Unauthorized = self {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// Answers one admin request.
pub async fn handle(admin: &Admin, request: http::Request<Incoming>) -> http::Response<WasiBody> {
    route(admin, request)
        .await
        .unwrap_or_else(|problem| problem.response())
}

async fn route(
    admin: &Admin,
    request: http::Request<Incoming>,
) -> Result<http::Response<WasiBody>, Problem> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    if method == Method::GET && path == "/metrics" {
        return Ok(admin.metrics.render(&live_replicas(&admin.services)));
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.first() != Some(&"admin") {
        return Err(Problem::NoRoute(path));
    }
    if !admin
        .token
        .accepts(request.headers().get(header::AUTHORIZATION))
    {
        return Err(Problem::Unauthorized);
    }
    let services = &admin.services;
    let fleet = admin.fleet.as_deref();
    match (method, segments.as_slice()) {
        (Method::GET, ["admin", "components"]) => {
            Ok(response::json(StatusCode::OK, &inventory(services)))
        }
        (Method::GET, ["admin", "fleet"]) => match fleet {
            Some(fleet) => done(StatusCode::OK, fleet.status().await),
            None => Err(Problem::NoFleet),
        },
        (Method::PUT, ["admin", "components", name]) => {
            let name = (*name).to_owned();
            // The query is checked once the body is read: answering early
            // would cut the client off in the middle of its upload.
            let query = request.uri().query().map(str::to_owned);
            let share = canary_share(query.as_deref());
            let reference = query_value(query.as_deref(), "artifact");
            let bytes = upload(request).await?;
            match (share?, reference, fleet) {
                (None, Some(reference), Some(fleet)) => done(
                    StatusCode::OK,
                    fleet.deploy_reference(&name, &reference).await,
                ),
                (_, Some(reference), None) => Err(Problem::ReferenceWithoutFleet(reference)),
                (None, None, Some(fleet)) => {
                    done(StatusCode::OK, fleet.deploy(&name, &bytes).await)
                }
                (None, None, None) => done(
                    StatusCode::OK,
                    deploy::deploy(services, &name, &bytes).await,
                ),
                (Some(share), _, Some(fleet)) => done(
                    StatusCode::ACCEPTED,
                    fleet.start_canary(&name, &bytes, share).await,
                ),
                (Some(share), None, None) => done(
                    StatusCode::ACCEPTED,
                    deploy::start_canary(services, &name, &bytes, share, JudgedBy::Here).await,
                ),
            }
        }
        (Method::POST, ["admin", "components", name, "rollback"]) => match fleet {
            Some(fleet) => done(StatusCode::OK, fleet.rollback(name).await),
            None => done(StatusCode::OK, deploy::rollback(services, name).await),
        },
        (Method::POST, ["admin", "components", name, action @ ("promote" | "abort")]) => {
            let promote = *action == "promote";
            match (fleet, promote) {
                (Some(fleet), _) => done(StatusCode::OK, fleet.decide(name, promote).await),
                (None, true) => done(StatusCode::OK, deploy::promote(services, name).await),
                (None, false) => done(StatusCode::OK, deploy::abort(services, name).await),
            }
        }
        _ => Err(Problem::NoRoute(path)),
    }
}

/// The value of `key` in `query`, if given (percent-decoded).
fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The request body, at most [`MAX_UPLOAD`] bytes.
async fn upload(request: http::Request<Incoming>) -> Result<bytes::Bytes, Problem> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_UPLOAD) {
        return Err(Problem::UploadTooLarge(MAX_UPLOAD));
    }
    match Limited::new(request.into_body(), MAX_UPLOAD)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(_) => Err(Problem::UploadTooLarge(MAX_UPLOAD)),
    }
}

/// `?canary=N` (1–99, percent of the requests), if given.
fn canary_share(query: Option<&str>) -> Result<Option<u8>, Problem> {
    let Some(raw) = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("canary="))
    else {
        return Ok(None);
    };
    match raw.parse::<u8>() {
        Ok(share @ 1..=99) => Ok(Some(share)),
        _ => Err(Problem::InvalidCanaryShare(raw.to_owned())),
    }
}

/// The answer to a deploy-type request: `success` with what was done, or
/// the problem saying why nothing changed.
fn done<T: serde::Serialize, E: Into<Problem>>(
    success: StatusCode,
    result: Result<T, E>,
) -> Result<http::Response<WasiBody>, Problem> {
    Ok(response::json(success, &result.map_err(Into::into)?))
}

/// Every component's live replicas (its canary's included), for the gauges.
fn live_replicas(services: &Services) -> Vec<LiveReplicas> {
    services
        .components
        .values()
        .map(|set| {
            let mut replicas = set.replicas();
            if let Some(canary) = services.canary(set.name()).and_then(|c| c.running()) {
                replicas.extend(canary.replicas());
            }
            LiveReplicas {
                component: set.name().to_owned(),
                versions: replicas.iter().map(|r| r.version().label()).collect(),
                in_flight: replicas.iter().map(|r| r.in_flight()).sum(),
            }
        })
        .collect()
}

/// `GET /admin/components`: every component, its version and replicas.
fn inventory(services: &Services) -> Inventory {
    let components = services
        .components
        .values()
        .map(|set| {
            let current = set.current();
            ComponentStatus {
                name: set.name().to_owned(),
                version: current.label(),
                sha256: current.sha256.clone(),
                kind: current.kind.as_str().to_owned(),
                loaded_at: rfc3339(current.loaded_at),
                previous: set.previous().map(|p| p.label()),
                traps: set.traps(),
                canary: services.canary(set.name()).and_then(|c| c.report()),
                replicas: set
                    .replicas()
                    .iter()
                    .enumerate()
                    .map(|(slot, r)| ReplicaStatus {
                        slot,
                        version: r.version().label(),
                        in_flight: r.in_flight(),
                        served: r.served(),
                    })
                    .collect(),
            }
        })
        .collect();
    Inventory { components }
}

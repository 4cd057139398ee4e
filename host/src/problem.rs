//! The errors the gateway answers itself on the public listener, as one
//! enum mapped to RFC 9457 problem+json in this one place, and the
//! problem+json writer the admin listener's errors use too.

use std::time::Duration;

use http::{HeaderValue, StatusCode, header};
use wasmtime_wasi_http::WasiBody;

use crate::pool::DispatchError;
use crate::response;

/// Why the host answers a public request itself with an error.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("request URIs are limited to {0} bytes")]
    UriTooLong(usize),
    #[error("use {allow} on {path}")]
    MethodNotAllowed { path: String, allow: &'static str },
    #[error("no route for {0}")]
    NoRoute(String),
    #[error("request bodies are limited to {0} bytes")]
    BodyTooLarge(usize),
    #[error("the request body could not be read")]
    UnreadableBody,
    #[error("the body was not received within {0:?}")]
    BodyTimeout(Duration),
    #[error("this origin may not call the API")]
    OriginNotAllowed,
    #[error("no component {0}")]
    NoComponent(String),
    #[error(transparent)]
    Dispatch(#[from] DispatchError),
}

impl Problem {
    /// The status and the `type` slug of this problem.
    fn kind(&self) -> (StatusCode, &'static str) {
        match self {
            Self::UriTooLong(_) => (StatusCode::URI_TOO_LONG, "uri-too-long"),
            Self::MethodNotAllowed { .. } => (StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed"),
            Self::NoRoute(_) | Self::NoComponent(_) => (StatusCode::NOT_FOUND, "not-found"),
            Self::BodyTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large"),
            Self::UnreadableBody => (StatusCode::BAD_REQUEST, "bad-request"),
            Self::BodyTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "request-timeout"),
            Self::OriginNotAllowed => (StatusCode::FORBIDDEN, "cors-origin-not-allowed"),
            Self::Dispatch(error) => match error {
                DispatchError::Overloaded { .. } => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
                DispatchError::Timeout { .. } | DispatchError::Expired { .. } => {
                    (StatusCode::GATEWAY_TIMEOUT, "timeout")
                }
                DispatchError::Interrupted { .. } | DispatchError::Failed { .. } => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "component-failed")
                }
            },
        }
    }

    /// What the client is told: a component's failure is logged here with
    /// its reason, and the client only learns that it failed.
    fn detail(&self) -> String {
        match self {
            Self::Dispatch(DispatchError::Interrupted { component }) => {
                tracing::warn!(%component, "request lost with its replica");
                format!("{component} failed while handling the request")
            }
            Self::Dispatch(DispatchError::Failed { component, reason }) => {
                tracing::error!(%component, %reason, "component failed");
                format!("{component} failed while handling the request")
            }
            other => other.to_string(),
        }
    }

    /// The `application/problem+json` response (with `Allow` on a 405).
    pub fn response(&self) -> http::Response<WasiBody> {
        let (status, slug) = self.kind();
        let mut response = problem(status, slug, &self.detail());
        if let Self::MethodNotAllowed { allow, .. } = self {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

impl From<Problem> for http::Response<WasiBody> {
    fn from(problem: Problem) -> Self {
        problem.response()
    }
}

/// An `application/problem+json` response: `type` from `slug`, `title`
/// from the status, and `Retry-After` on a 503.
pub fn problem(status: StatusCode, slug: &str, detail: &str) -> http::Response<WasiBody> {
    let value = serde_json::json!({
        "type": format!("https://comptoir.dev/problems/{slug}"),
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut response = response::with_type(status, "application/problem+json", value.to_string());
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

//! Host-made responses: RFC 9457 problem+json for every error the gateway
//! itself answers (no route, overload, timeout, component failure), mapped
//! in this one place.

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use wasmtime_wasi_http::WasiBody;

use crate::pool::DispatchError;

/// A body from bytes, in the type every response shares.
pub fn body(bytes: impl Into<Bytes>) -> WasiBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A JSON response.
pub fn json(status: StatusCode, value: &serde_json::Value) -> http::Response<WasiBody> {
    let mut response = http::Response::new(body(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// An `application/problem+json` response.
pub fn problem(
    status: StatusCode,
    slug: &str,
    detail: impl Into<String>,
) -> http::Response<WasiBody> {
    let value = serde_json::json!({
        "type": format!("https://comptoir.dev/problems/{slug}"),
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail.into(),
    });
    let mut response = json(status, &value);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// The answer to a request the component could not serve.
pub fn dispatch_error(error: &DispatchError) -> http::Response<WasiBody> {
    match error {
        DispatchError::Overloaded { .. } => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            error.to_string(),
        ),
        DispatchError::Timeout { .. } | DispatchError::Expired { .. } => {
            problem(StatusCode::GATEWAY_TIMEOUT, "timeout", error.to_string())
        }
        DispatchError::Interrupted { component } => {
            tracing::warn!(%component, "request lost with its replica");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "component-failed",
                format!("{component} failed while handling the request"),
            )
        }
        DispatchError::Failed { component, reason } => {
            tracing::error!(%component, %reason, "component failed");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "component-failed",
                format!("{component} failed while handling the request"),
            )
        }
    }
}

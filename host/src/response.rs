//! The body type every response and forwarded request shares, and the
//! plain (non-error) responses the host makes: JSON, text, empty.

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use wasmtime_wasi_http::WasiBody;

/// A body from bytes, in the type every response shares.
pub fn body(bytes: impl Into<Bytes>) -> WasiBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A response of `status` with no body.
pub fn empty(status: StatusCode) -> http::Response<WasiBody> {
    let mut response = http::Response::new(body(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// A response of `status` with `content` typed `content_type`.
pub fn with_type(
    status: StatusCode,
    content_type: &'static str,
    content: impl Into<Bytes>,
) -> http::Response<WasiBody> {
    let mut response = http::Response::new(body(content));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A JSON response.
pub fn json(status: StatusCode, value: &impl serde::Serialize) -> http::Response<WasiBody> {
    let content = serde_json::to_vec(value).unwrap_or_else(|error| {
        // Only a map with non-string keys fails to serialize; none is sent.
        tracing::error!(%error, "failed to serialize a response");
        b"null".to_vec()
    });
    with_type(status, "application/json", content)
}

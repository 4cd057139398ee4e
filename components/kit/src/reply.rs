//! Responses: the one [`Reply`] type every handler answers with (JSON,
//! embedded bytes, `204`; problems become one through
//! [`Problem::into_reply`](crate::Problem::into_reply)).

use bytes::Bytes;
use http_body_util::Full;
use spin_sdk::http::{HeaderValue, Response, StatusCode};

/// A complete response with an in-memory body: what a component sends.
/// (What a peer service sent back to a chained call is a
/// [`chain::Answer`](crate::chain::Answer).)
pub type Reply = Response<Full<Bytes>>;

/// A response with `status`, a `content-type` and `body` (owned, or a
/// `&'static [u8]` embedded in the component, which is not copied).
pub fn with_body(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        spin_sdk::http::HeaderName::from_static("content-type"),
        HeaderValue::from_static(content_type),
    );
    response
}

/// `value` serialised as JSON with `status`.
pub fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Reply {
    // Serialising our own plain data types (strings, numbers, vectors) cannot
    // fail: serde_json only errors on non-string map keys or failing
    // `Serialize` impls, neither of which our response types have.
    let body = serde_json::to_vec(value).expect("response types serialise");
    with_body(status, "application/json", body)
}

/// `reply` marked reusable by any cache — browsers, CDNs, comptoir's
/// cache of chained reads — for `seconds` (`Cache-Control: public,
/// max-age=…`).
pub fn public_for(mut reply: Reply, seconds: u32) -> Reply {
    reply.headers_mut().insert(
        spin_sdk::http::HeaderName::from_static("cache-control"),
        HeaderValue::from_str(&format!("public, max-age={seconds}"))
            .expect("digits make a valid header value"),
    );
    reply
}

/// `204 No Content`.
pub fn no_content() -> Reply {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

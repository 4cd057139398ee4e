//! RFC 9457 problem details: the one shape every comptoir error takes.

use serde::Serialize;
use spin_sdk::http::{HeaderName, HeaderValue, StatusCode};

use crate::reply::{self, Reply};

/// One rejected field of a request body, listed in a 422 problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// An error answer: status, a stable `type` slug, a title (the status's
/// reason phrase, as the host's own problems have) and a detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// Field-level reasons of a validation failure (422 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// The header the status calls for, if any.
    #[serde(skip)]
    pub header: Header,
}

/// The one header a problem adds to its response (one enum, so that a
/// `Problem` stays small enough to return by value everywhere).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Header {
    #[default]
    None,
    /// `Retry-After`: seconds after which a retry may succeed (503).
    RetryAfter(u32),
    /// `Allow`: the methods the resource supports (405).
    Allow(&'static str),
    /// `WWW-Authenticate`: the bearer challenge (401, 403).
    Challenge(Box<str>),
}

impl Problem {
    fn new(status: StatusCode, slug: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("https://comptoir.dev/problems/{slug}"),
            // The same title as host/src/problem.rs gives the same status;
            // `type` is what tells two problems of one status apart.
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            header: Header::None,
        }
    }

    /// 400: the request could not be read (malformed JSON, wrong types, bad parameter).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    /// 401 with `challenge` (`WWW-Authenticate`): no access token, or one
    /// that was refused.
    pub fn unauthorized(challenge: String, detail: impl Into<String>) -> Self {
        let mut problem = Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail);
        problem.header = Header::Challenge(challenge.into());
        problem
    }

    /// 403 with `challenge`: a valid token whose caller may not do this.
    pub fn forbidden(challenge: String, detail: impl Into<String>) -> Self {
        let mut problem = Self::new(StatusCode::FORBIDDEN, "forbidden", detail);
        problem.header = Header::Challenge(challenge.into());
        problem
    }

    /// 404: no such resource.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// 405: the route exists but not with this method; `allow` lists the
    /// methods it has (sent as the `Allow` header).
    pub fn method_not_allowed(allow: &'static str) -> Self {
        let mut problem = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            format!("allowed methods: {allow}"),
        );
        problem.header = Header::Allow(allow);
        problem
    }

    /// 409: the request conflicts with the current state (duplicate, wrong status).
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", detail)
    }

    /// 409 whose `type` says which state refused the request (e.g.
    /// `out-of-stock`, `price-changed`), for a client to act on.
    pub fn conflict_with(slug: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, slug, detail)
    }

    /// 415: the body is not JSON.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            detail,
        )
    }

    /// 422: well-formed input that breaks a rule; `errors` says which fields.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        let mut problem = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", detail);
        problem.errors = errors;
        problem
    }

    /// 422: a business rule refused the request (e.g. ordering an empty cart).
    pub fn rule(slug: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, slug, detail)
    }

    /// 503 with `Retry-After`: a dependency (database, another service) is down.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        let mut problem = Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail);
        problem.header = Header::RetryAfter(1);
        problem
    }

    /// 500: a fault of ours; `detail` must not leak internals.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
    }

    /// The `application/problem+json` response.
    pub fn into_reply(self) -> Reply {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).expect("problem serialises");
        let mut response = reply::with_body(status, "application/problem+json", body);
        let header = match &self.header {
            Header::None => None,
            Header::RetryAfter(seconds) => Some(("retry-after", HeaderValue::from(*seconds))),
            Header::Allow(allow) => Some(("allow", HeaderValue::from_static(allow))),
            Header::Challenge(challenge) => HeaderValue::from_str(challenge)
                .ok()
                .map(|v| ("www-authenticate", v)),
        };
        if let Some((name, value)) = header {
            response
                .headers_mut()
                .insert(HeaderName::from_static(name), value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_lists_every_field_in_the_detail() {
        let problem = Problem::validation(vec![
            FieldError::new("name", "must not be empty"),
            FieldError::new("email", "is not an email address"),
        ]);
        assert_eq!(problem.status, 422);
        assert_eq!(
            problem.detail,
            "name: must not be empty; email: is not an email address"
        );
    }

    /// Titles are the HTTP reason phrases, as in the host's own problems
    /// (`host/src/problem.rs`); the `type` slug tells apart problems of one status.
    #[test]
    fn titles_are_reason_phrases_like_the_hosts() {
        assert_eq!(Problem::not_found("x").title, "Not Found");
        assert_eq!(Problem::bad_request("x").title, "Bad Request");
        assert_eq!(Problem::unavailable("x").title, "Service Unavailable");
        assert_eq!(Problem::internal("x").title, "Internal Server Error");
        let rule = Problem::rule("empty-cart", "x");
        let invalid = Problem::validation(vec![FieldError::new("name", "x")]);
        assert_eq!(rule.title, "Unprocessable Entity");
        assert_eq!(invalid.title, rule.title);
        assert_ne!(invalid.kind, rule.kind);
    }

    #[test]
    fn unavailable_carries_retry_after() {
        let reply = Problem::unavailable("database down").into_reply();
        assert_eq!(reply.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(reply.headers()["retry-after"], "1");
        assert_eq!(reply.headers()["content-type"], "application/problem+json");
    }
}

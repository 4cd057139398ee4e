//! CORS: an explicit allow-list of origins (`--cors-origin`), never `*`,
//! never credentials. A request from another origin gets no CORS headers
//! (the browser then refuses it); a preflight from one is a 403.

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use wasmtime_wasi_http::WasiBody;

use crate::problem::Problem;
use crate::response;

const ALLOWED_METHODS: &str = "GET, POST, PUT, DELETE, OPTIONS";
const ALLOWED_HEADERS: &str = "content-type, idempotency-key, authorization";
const EXPOSED_HEADERS: &str = "comptoir-component, location, retry-after";

/// The origins allowed to call the API from a browser.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    origins: Vec<String>,
}

impl Cors {
    /// Validates each origin (`scheme://host[:port]`, no path, no `*`).
    pub fn new(origins: &[String]) -> anyhow::Result<Self> {
        for origin in origins {
            let valid = (origin.starts_with("http://") || origin.starts_with("https://"))
                && !origin.contains('*')
                && origin
                    .split("://")
                    .nth(1)
                    .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'));
            if !valid {
                anyhow::bail!(
                    "--cors-origin {origin:?} must be scheme://host[:port] (no wildcard, no path)"
                );
            }
        }
        Ok(Self {
            origins: origins.to_vec(),
        })
    }

    fn allowed<'a>(&self, origin: Option<&'a HeaderValue>) -> Option<&'a HeaderValue> {
        let origin = origin?;
        self.origins
            .iter()
            .any(|o| o.as_bytes() == origin.as_bytes())
            .then_some(origin)
    }

    /// The answer to a CORS preflight (`OPTIONS` with
    /// `Access-Control-Request-Method`), if `method`/`headers` are one.
    pub fn preflight(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Option<Result<http::Response<WasiBody>, Problem>> {
        if method != Method::OPTIONS || !headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return None;
        }
        let Some(origin) = self.allowed(headers.get(header::ORIGIN)) else {
            return Some(Err(Problem::OriginNotAllowed));
        };
        let mut response = response::empty(StatusCode::NO_CONTENT);
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOWED_METHODS),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOWED_HEADERS),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        Some(Ok(response))
    }

    /// Adds CORS headers to `response` when the request's `Origin` is allowed.
    pub fn decorate(&self, origin: Option<&HeaderValue>, response: &mut http::Response<WasiBody>) {
        if let Some(origin) = self.allowed(origin) {
            let h = response.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSED_HEADERS),
            );
            h.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_paths_are_refused() {
        assert!(Cors::new(&["*".into()]).is_err());
        assert!(Cors::new(&["https://*.example.com".into()]).is_err());
        assert!(Cors::new(&["https://shop.example.com/app".into()]).is_err());
        assert!(
            Cors::new(&[
                "https://shop.example.com".into(),
                "http://localhost:3000".into()
            ])
            .is_ok()
        );
    }

    #[test]
    fn only_listed_origins_get_headers() {
        let cors = Cors::new(&["https://shop.example.com".into()]).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example.com"),
        );
        let mut response = http::Response::new(response::body(bytes::Bytes::new()));
        cors.decorate(headers.get(header::ORIGIN), &mut response);
        assert!(
            !response
                .headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://shop.example.com"),
        );
        cors.decorate(headers.get(header::ORIGIN), &mut response);
        assert_eq!(
            response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://shop.example.com"
        );
        assert!(
            !response
                .headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
        );
    }
}

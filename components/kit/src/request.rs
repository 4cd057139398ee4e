//! Reading requests: JSON bodies, path segments and query parameters.

use serde::de::DeserializeOwned;
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http::{Request, Uri};

use crate::Problem;

/// The body of `request` parsed as JSON into `T`.
///
/// A body that is not JSON (by `content-type`) is a 415; malformed JSON,
/// missing fields and wrong types are a 400 naming what is wrong.
pub async fn json_body<T: DeserializeOwned>(request: Request) -> Result<T, Problem> {
    if let Some(content_type) = request.headers().get("content-type") {
        let content_type = content_type.to_str().unwrap_or_default();
        if !is_json(content_type) {
            return Err(Problem::unsupported_media_type(format!(
                "expected application/json, got {content_type}"
            )));
        }
    }
    let bytes = request
        .into_body()
        .bytes()
        .await
        .map_err(|e| Problem::bad_request(format!("could not read the request body: {e:?}")))?;
    parse_json(&bytes)
}

/// `bytes` parsed as a JSON object into `T`, with a 400 problem on failure.
///
/// Only an object is a request body: serde's derived structs would also
/// accept an array of the fields in order (`["Bob", "bob@example.com"]`),
/// which no client means and the API does not document.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let first = bytes
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(&b'{') && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
        return Err(Problem::bad_request(
            "invalid request body: expected a JSON object",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        if e.is_data() {
            Problem::bad_request(format!("invalid request body: {e}"))
        } else {
            Problem::bad_request(format!("malformed JSON: {e}"))
        }
    })
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// The value of header `name`, if present and text.
pub fn header(request: &Request, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The non-empty segments of the request path: `/clients/42` → `["clients", "42"]`.
pub fn segments(uri: &Uri) -> Vec<&str> {
    uri.path().split('/').filter(|s| !s.is_empty()).collect()
}

/// Decoded query parameters of a request.
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn of(uri: &Uri) -> Self {
        let pairs = uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        Self(pairs)
    }

    /// The first value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Deserializes a JSON integer, accepting integral floats (`3.0`), which
/// JSON Schema's `integer` also accepts; `3.5` or `"3"` are errors.
pub fn integer<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let number = <serde_json::Number as serde::Deserialize>::deserialize(deserializer)?;
    if let Some(n) = number.as_i64() {
        return Ok(n);
    }
    match number.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        _ => Err(serde::de::Error::custom(format!(
            "expected an integer, got {number}"
        ))),
    }
}

/// `raw` as a UUID, or a 400 naming `what` it should have been.
pub fn parse_uuid(raw: &str, what: &str) -> Result<uuid::Uuid, Problem> {
    if raw.len() > 36 {
        return Err(Problem::bad_request(format!("{what} must be a UUID")));
    }
    uuid::Uuid::try_parse(raw).map_err(|_| Problem::bad_request(format!("{what} must be a UUID")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Body {
        #[expect(dead_code, reason = "only its presence and type are checked")]
        name: String,
    }

    #[test]
    fn malformed_json_and_wrong_types_are_400() {
        let p = parse_json::<Body>(b"{not json").unwrap_err();
        assert_eq!(p.status, 400);
        assert!(p.detail.starts_with("malformed JSON"), "{}", p.detail);
        let p = parse_json::<Body>(br#"{"name": 3}"#).unwrap_err();
        assert_eq!(p.status, 400);
        assert!(p.detail.starts_with("invalid request body"), "{}", p.detail);
    }

    /// Valid JSON that is not an object is refused, even when serde would
    /// read it as the struct's fields in order.
    #[test]
    fn only_objects_are_bodies() {
        for body in [
            &br#"["Bob"]"#[..],
            b" \n[]",
            b"\"Bob\"",
            b"3",
            b"null",
            b"true",
        ] {
            let p = parse_json::<Body>(body).unwrap_err();
            assert_eq!(p.status, 400);
            assert_eq!(p.detail, "invalid request body: expected a JSON object");
        }
        assert!(parse_json::<Body>(b" {\"name\": \"Bob\"}").is_ok());
        let p = parse_json::<Body>(b"[").unwrap_err();
        assert!(p.detail.starts_with("malformed JSON"), "{}", p.detail);
    }

    #[derive(Debug, serde::Deserialize)]
    struct Quantity {
        #[serde(deserialize_with = "integer")]
        quantity: i64,
    }

    #[test]
    fn integers_accept_integral_floats_only() {
        assert_eq!(
            parse_json::<Quantity>(br#"{"quantity": 3}"#)
                .unwrap()
                .quantity,
            3
        );
        assert_eq!(
            parse_json::<Quantity>(br#"{"quantity": 696.0}"#)
                .unwrap()
                .quantity,
            696
        );
        assert_eq!(
            parse_json::<Quantity>(br#"{"quantity": 1.5}"#)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            parse_json::<Quantity>(br#"{"quantity": "3"}"#)
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
    }

    #[test]
    fn path_segments_and_query() {
        let uri: Uri = "/clients/abc/?limit=5&cursor=a%20b".parse().unwrap();
        assert_eq!(segments(&uri), ["clients", "abc"]);
        let q = Query::of(&uri);
        assert_eq!(q.get("limit"), Some("5"));
        assert_eq!(q.get("cursor"), Some("a b"));
        assert_eq!(q.get("missing"), None);
    }

    #[test]
    fn uuids_are_checked() {
        assert!(parse_uuid("6f1c1a4e-8a7e-4a8e-9a55-0e2e7c1f2b3a", "id").is_ok());
        assert_eq!(parse_uuid("../etc/passwd", "id").unwrap_err().status, 400);
        assert_eq!(parse_uuid(&"a".repeat(5000), "id").unwrap_err().status, 400);
    }
}

//! One invocation of a conformance test: the request sent, and the answer
//! matched by the suite's rules — the status, then the exact body, then
//! the headers (each expected one present unless optional, values
//! compared lowercased, and no other header).

use anyhow::{Context as _, bail, ensure};
use serde_json::Value;

/// Sends `request` to `base` and checks the answer against `expected`.
pub fn invocation(base: &str, request: &Value, expected: &Value) -> anyhow::Result<()> {
    let method = request["method"].as_str().unwrap_or("GET");
    let path = request["path"].as_str().context("no path")?;
    let mut builder = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"));
    for header in request["headers"].as_array().into_iter().flatten() {
        let (Some(name), Some(value)) = (header["name"].as_str(), header["value"].as_str()) else {
            bail!("a request header without name or value: {header}");
        };
        builder = builder.header(name, value);
    }
    let body = request["body"]
        .as_str()
        .unwrap_or_default()
        .as_bytes()
        .to_vec();
    let mut response = crate::http().run(builder.body(body)?)?;

    let status = response.status().as_u16();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_lowercase(),
                v.to_str().unwrap_or_default().to_lowercase(),
            )
        })
        .collect();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    matches(status, &headers, &body, expected)
}

/// Whether an answer is what `expected` says, by the suite's rules.
fn matches(
    status: u16,
    headers: &[(String, String)],
    body: &str,
    expected: &Value,
) -> anyhow::Result<()> {
    let want_status = expected["status"].as_u64().unwrap_or(200);
    ensure!(
        u64::from(status) == want_status,
        "status {status}, expected {want_status}; body: {body}"
    );
    let want_body = expected["body"].as_str().unwrap_or_default();
    ensure!(body == want_body, "body {body:?}, expected {want_body:?}");
    let mut left: std::collections::HashMap<String, String> = headers.iter().cloned().collect();
    for header in expected["headers"].as_array().into_iter().flatten() {
        let name = header["name"]
            .as_str()
            .context("a header without name")?
            .to_lowercase();
        let optional = header["optional"].as_bool().unwrap_or(false);
        match (left.remove(&name), header["value"].as_str()) {
            (None, _) if optional => {}
            (None, _) => bail!("expected header {name} not in the response"),
            (Some(actual), Some(value)) if actual != value.to_lowercase() => {
                bail!("header {name}: {actual:?}, expected {value:?}")
            }
            (Some(_), _) => {}
        }
    }
    ensure!(left.is_empty(), "unexpected headers: {left:?}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Status, body and every required header must match; optional ones
    /// may be absent; any other header fails.
    #[test]
    fn answers_match_by_the_suite_rules() {
        let expected = json!({
            "status": 500,
            "body": "Error::AccessDenied",
            "headers": [
                { "name": "Content-Length", "value": "19" },
                { "name": "Date", "optional": true },
            ],
        });
        let ok = headers(&[("content-length", "19")]);
        assert!(matches(500, &ok, "Error::AccessDenied", &expected).is_ok());
        assert!(matches(200, &ok, "Error::AccessDenied", &expected).is_err());
        assert!(matches(500, &ok, "Error::AccessDenied\n", &expected).is_err());
        assert!(matches(500, &[], "Error::AccessDenied", &expected).is_err());
        let extra = headers(&[("content-length", "19"), ("x-served-by", "comptoir")]);
        assert!(matches(500, &extra, "Error::AccessDenied", &expected).is_err());
        let chunked = headers(&[("content-length", "20")]);
        assert!(matches(500, &chunked, "Error::AccessDenied", &expected).is_err());
        // No status and no body expected: 200 and an empty body.
        assert!(matches(200, &[], "", &json!({})).is_ok());
    }
}

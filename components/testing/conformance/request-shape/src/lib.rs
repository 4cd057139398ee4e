//! Spin's conformance test `request-shape`, guest side: the request for
//! `GET http://example.com/base/path/end/rest?key=value`, routed by
//! `/base/:path_segment/:path_end/...`, must arrive with that method,
//! authority, path and query, and exactly the `spin-*` headers Spin sets.
//! 200 with an empty body when it does; 500 saying what differs otherwise.

use spin_sdk::http::{Request, Response, StatusCode};
use spin_sdk::http_service;

#[http_service]
async fn handle(req: Request) -> Response<String> {
    let (status, body) = match check(&req) {
        Ok(()) => (StatusCode::OK, String::new()),
        Err(why) => (StatusCode::INTERNAL_SERVER_ERROR, why),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}

/// The `spin-*` headers the suite expects, each with its allowed values.
const EXPECTED: [(&str, &[&str]); 8] = [
    (
        "spin-raw-component-route",
        &["/base/:path_segment/:path_end/..."],
    ),
    (
        "spin-full-url",
        &[
            "http://example.com/base/path/end/rest?key=value",
            "https://example.com/base/path/end/rest?key=value",
        ],
    ),
    ("spin-path-info", &["/rest"]),
    ("spin-base-path", &["/"]),
    ("spin-component-route", &["/base/:path_segment/:path_end"]),
    ("spin-path-match-path-segment", &["path"]),
    ("spin-path-match-path-end", &["end"]),
    ("spin-matched-route", &["/base/:path_segment/:path_end/..."]),
];

fn check(req: &Request) -> Result<(), String> {
    if req.method() != spin_sdk::http::Method::GET {
        return Err(format!("method {} is not GET", req.method()));
    }
    let uri = req.uri();
    if uri.authority().map(|a| a.as_str()) != Some("example.com") {
        return Err(format!(
            "authority {:?} is not example.com",
            uri.authority()
        ));
    }
    let path = uri.path_and_query().map(|p| p.as_str());
    if path != Some("/base/path/end/rest?key=value") {
        return Err(format!("path and query {path:?}"));
    }
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(format!("scheme {:?}", uri.scheme_str()));
    }
    let headers = req.headers();
    for (name, allowed) in EXPECTED {
        let values: Vec<_> = headers.get_all(name).iter().collect();
        let [value] = values.as_slice() else {
            return Err(format!("{} {name} headers", values.len()));
        };
        let value = value.to_str().map_err(|_| format!("{name} is not UTF-8"))?;
        if !allowed.contains(&value) {
            return Err(format!("{name}: {value:?} is not one of {allowed:?}"));
        }
    }
    let addresses: Vec<_> = headers.get_all("spin-client-addr").iter().collect();
    match addresses.as_slice() {
        [] => {}
        [one] => {
            one.to_str()
                .ok()
                .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
                .ok_or("spin-client-addr is not an address")?;
        }
        more => return Err(format!("{} spin-client-addr headers", more.len())),
    }
    for name in headers.keys() {
        let name = name.as_str();
        let expected = name == "spin-client-addr" || EXPECTED.iter().any(|(n, _)| *n == name);
        if (name.starts_with("spin-") || name.starts_with("spin_")) && !expected {
            return Err(format!("unexpected header {name}"));
        }
    }
    Ok(())
}

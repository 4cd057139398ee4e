//! The docs service: the OpenAPI 3.1 document of the whole API
//! (`GET /openapi.json`) and Swagger UI (`GET /docs`), whose assets are
//! vendored from npm's `swagger-ui-dist` and embedded so the page works
//! offline, under `spin up` as under comptoir.

use comptoir_kit::{HandlerResult, Problem, Reply, reply};
use spin_sdk::http::{Method, Request, StatusCode};
use spin_sdk::http_service;

/// The methods every documentation path answers.
const ALLOW: &str = "GET, HEAD";

/// An embedded file served at a documentation path.
#[derive(Debug)]
struct Asset {
    content_type: &'static str,
    bytes: &'static [u8],
}

/// The file served at `path`, if there is one.
fn asset(path: &str) -> Option<Asset> {
    let (content_type, bytes): (&str, &'static [u8]) = match path {
        // Kept true by the host's integration tests (`tests/integration/docs.rs`).
        "/openapi.json" => ("application/json", include_bytes!("../openapi.json")),
        // The page itself, not a redirect: every link in it is absolute.
        "/docs" | "/docs/" => (
            "text/html; charset=utf-8",
            include_bytes!("../assets/index.html"),
        ),
        "/docs/swagger-ui-bundle.js" => (
            "text/javascript",
            include_bytes!("../assets/swagger-ui/swagger-ui-bundle.js"),
        ),
        "/docs/swagger-ui.css" => (
            "text/css",
            include_bytes!("../assets/swagger-ui/swagger-ui.css"),
        ),
        "/docs/favicon-32x32.png" => (
            "image/png",
            include_bytes!("../assets/swagger-ui/favicon-32x32.png"),
        ),
        _ => return None,
    };
    Some(Asset {
        content_type,
        bytes,
    })
}

#[http_service]
async fn handle(request: Request) -> Reply {
    answer(request.method(), request.uri().path()).unwrap_or_else(Problem::into_reply)
}

/// The answer to `method` on `path`: the file (headers only for `HEAD`),
/// 404 for a path with no file, 405 for any other method.
fn answer(method: &Method, path: &str) -> HandlerResult {
    let asset =
        asset(path).ok_or_else(|| Problem::not_found(format!("no documentation at {path}")))?;
    let body: &'static [u8] = match *method {
        Method::GET => asset.bytes,
        Method::HEAD => &[],
        _ => return Err(Problem::method_not_allowed(ALLOW)),
    };
    Ok(reply::public_for(
        reply::with_body(StatusCode::OK, asset.content_type, body),
        3600,
    ))
}

#[cfg(test)]
mod tests {
    use http_body::Body as _;

    use super::*;

    fn body_len(reply: &Reply) -> u64 {
        // `Full` always knows its exact length.
        reply.body().size_hint().exact().unwrap()
    }

    /// `/openapi.json` is the embedded OpenAPI 3.1 document, which lists the docs paths too.
    #[test]
    fn the_openapi_document_is_json_and_documents_itself() {
        let reply = answer(&Method::GET, "/openapi.json").unwrap();
        assert_eq!(reply.headers()["content-type"], "application/json");
        let doc: serde_json::Value =
            serde_json::from_slice(asset("/openapi.json").unwrap().bytes).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["paths"]["/openapi.json"]["get"].is_object());
        assert!(doc["paths"]["/docs"]["get"].is_object());
    }

    /// `/docs` and `/docs/` are the Swagger UI page, and everything it loads is embedded.
    #[test]
    fn docs_serves_the_page_and_every_asset_it_loads() {
        for path in ["/docs", "/docs/"] {
            let reply = answer(&Method::GET, path).unwrap();
            assert_eq!(reply.status(), StatusCode::OK);
            assert!(
                reply.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html")
            );
        }
        let page = std::str::from_utf8(asset("/docs").unwrap().bytes).unwrap();
        let loaded: Vec<&str> = page.split('"').filter(|s| s.starts_with('/')).collect();
        assert!(loaded.len() >= 4, "{loaded:?}");
        for path in loaded {
            assert!(asset(path).is_some(), "the page loads {path}, not embedded");
        }
        assert!(!page.contains("https://"), "no external assets");
    }

    /// `HEAD` answers the headers of `GET` with an empty body.
    #[test]
    fn head_sends_the_headers_without_the_body() {
        let get = answer(&Method::GET, "/docs/swagger-ui.css").unwrap();
        let head = answer(&Method::HEAD, "/docs/swagger-ui.css").unwrap();
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(head.headers(), get.headers());
        assert_eq!(body_len(&head), 0);
        assert!(body_len(&get) > 10_000);
    }

    /// A path under `/docs/` with no file is a 404 problem.
    #[test]
    fn an_unknown_asset_is_404_problem_json() {
        let problem = answer(&Method::GET, "/docs/missing.js").unwrap_err();
        assert_eq!(problem.status, 404);
        let reply = problem.into_reply();
        assert_eq!(reply.headers()["content-type"], "application/problem+json");
    }

    /// Any method but `GET` and `HEAD` is a 405 listing them in `Allow`.
    #[test]
    fn other_methods_are_405_with_allow() {
        for path in ["/openapi.json", "/docs", "/docs/swagger-ui-bundle.js"] {
            let reply = answer(&Method::POST, path).unwrap_err().into_reply();
            assert_eq!(reply.status(), StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(reply.headers()["allow"], ALLOW);
        }
    }
}

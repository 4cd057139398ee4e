//! The API's own documentation: the OpenAPI 3.1 document (`openapi.json`,
//! kept true by an integration test) and Swagger UI, whose assets are
//! vendored from npm's `swagger-ui-dist` and embedded so `/docs` works
//! offline.

use http::{HeaderValue, StatusCode, header};
use wasmtime_wasi_http::WasiBody;

use crate::problem;

/// The OpenAPI document of the whole public API.
pub const OPENAPI: &str = include_str!("../openapi.json");

const PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>comptoir API</title>
  <link rel="icon" href="/docs/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
  </script>
</body>
</html>
"##;

/// The response for a documentation path, if `path` is one.
pub fn serve(path: &str) -> Option<http::Response<WasiBody>> {
    let (content_type, bytes): (&str, &'static [u8]) = match path {
        "/openapi.json" => ("application/json", OPENAPI.as_bytes()),
        "/docs" | "/docs/" => ("text/html; charset=utf-8", PAGE.as_bytes()),
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
    let mut response = http::Response::new(problem::body(bytes));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    Some(response)
}

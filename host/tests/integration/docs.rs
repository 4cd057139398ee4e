//! The OpenAPI document tells the truth: every documented operation exists
//! and answers with a documented status, every routed path is documented,
//! and `/docs` serves Swagger UI from the binary.

use serde_json::{Value, json};

use crate::harness::{Component, stack, workspace};

/// Parameters and bodies that make each documented operation reachable.
fn request_for(
    app: &crate::harness::App,
    method: &str,
    path: &str,
    op: &str,
) -> reqwest::RequestBuilder {
    let unknown = "6f1c1a4e-8a7e-4a8e-9a55-0e2e7c1f2b3a";
    let path = path
        .replace("{id}", unknown)
        .replace("{client_id}", unknown)
        .replace("{product_id}", "SKU-1");
    let builder = app
        .http
        .request(method.to_uppercase().parse().unwrap(), app.url(&path));
    match op {
        "createClient" => builder.json(&json!({"name": "Doc", "email": "doc@example.com"})),
        "replaceClient" => builder.json(&json!({"name": "Doc", "email": "doc2@example.com"})),
        "addCartItem" => builder.json(
            &json!({"product_id": "SKU-1", "name": "x", "unit_price_cents": 1, "quantity": 1}),
        ),
        "setCartItemQuantity" => builder.json(&json!({"quantity": 1})),
        "placeOrder" => builder
            .header("Idempotency-Key", "doc-1")
            .json(&json!({"client_id": unknown})),
        _ => builder,
    }
}

/// Every operation in `openapi.json` answers on the running system with a
/// status the document lists for it (never "no route"), and an undocumented
/// method on a documented path is a 405 (or 404 for host paths).
#[tokio::test]
async fn every_documented_operation_exists_and_answers_as_documented() {
    let s = stack(Component::all_services(), &[]).await;
    let app = &s.app;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut checked = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            let op = operation["operationId"].as_str().unwrap();
            let response = request_for(app, method, path, op).send().await.unwrap();
            let status = response.status().as_u16().to_string();
            let body = response.text().await.unwrap();
            assert!(
                operation["responses"].get(&status).is_some(),
                "{method} {path} ({op}) answered {status}, which is not documented: {body}"
            );
            assert!(
                !body.contains("no route for"),
                "{method} {path} is not routed: {body}"
            );
            checked += 1;
        }
        if !matches!(
            path.as_str(),
            "/healthz" | "/readyz" | "/openapi.json" | "/docs"
        ) {
            let patch = request_for(app, "patch", path, "").send().await.unwrap();
            assert_eq!(
                patch.status(),
                405,
                "PATCH {path} should be 405: the document lists every method"
            );
        }
    }
    assert!(checked >= 18, "only {checked} operations documented");
}

/// Every route of `spin.toml` has documented paths, and every documented
/// path is served by a route or by the host.
#[test]
fn every_routed_path_is_documented() {
    let doc: Value = serde_json::from_str(comptoir::docs::OPENAPI).unwrap();
    let documented: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    let manifest = comptoir::manifest::Manifest::load(
        &workspace().join("spin.toml"),
        &comptoir::variables::Variables::resolve(
            &comptoir::manifest::Manifest::declared_variables(&workspace().join("spin.toml"))
                .unwrap(),
            |name| match name {
                "SPIN_VARIABLE_DB_HOST" => Some("127.0.0.1".into()),
                "SPIN_VARIABLE_DB_PORT" => Some("5432".into()),
                _ => Some("postgres://u:p@127.0.0.1:5432/x".into()),
            },
            &Default::default(),
        )
        .unwrap(),
    )
    .unwrap();
    for route in &manifest.routes {
        assert!(
            documented.iter().any(|p| route.matches(p)),
            "route {} ({}) has no documented path",
            route.template,
            route.component
        );
    }
    for path in documented {
        let host = matches!(
            path.as_str(),
            "/healthz" | "/readyz" | "/openapi.json" | "/docs"
        );
        assert!(
            host || manifest.route(path).is_some(),
            "documented {path} is not routed"
        );
    }
}

/// `/docs` is Swagger UI served from the binary: the page and its assets
/// load with no network beyond comptoir itself.
#[tokio::test]
async fn swagger_ui_is_served_offline() {
    let s = stack(vec![Component::clients()], &[]).await;
    let page = s.app.get("/docs").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("/openapi.json"));
    for asset in ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"] {
        assert!(html.contains(asset), "the page loads {asset} from comptoir");
        let response = s.app.get(asset).await;
        assert_eq!(response.status(), 200, "{asset}");
        assert!(
            response.bytes().await.unwrap().len() > 10_000,
            "{asset} is the real bundle"
        );
    }
    assert!(!html.contains("https://"), "no external assets");
}

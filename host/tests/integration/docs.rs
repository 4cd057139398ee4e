//! The OpenAPI document tells the truth: every documented operation exists
//! and answers with a documented status, every routed path is documented,
//! and the `docs` component serves it and Swagger UI offline.

use comptoir::HOST_ENDPOINTS;
use serde_json::{Value, json};

use crate::harness::{Component, problem, stack, workspace};

/// The OpenAPI document the `docs` component embeds.
const OPENAPI: &str = include_str!("../../../components/docs/openapi.json");

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
        .replace("{product_id}", "SKU-1")
        .replace("{sku}", "SKU-1");
    let builder = app
        .http
        .request(method.to_uppercase().parse().unwrap(), app.url(&path));
    match op {
        "createClient" => builder.json(&json!({"name": "Doc", "email": "doc@example.com"})),
        "replaceClient" => builder.json(&json!({"name": "Doc", "email": "doc2@example.com"})),
        "addCartItem" => builder.json(&json!({"product_id": "SKU-1", "quantity": 1})),
        "putProduct" => builder.json(&json!({"name": "Doc", "price_cents": 1, "stock": 1})),
        "setCartItemQuantity" => builder.json(&json!({"quantity": 1})),
        "checkoutCart" => builder
            .json(&json!({"order_id": unknown, "lines": [{"product_id": "SKU-1", "quantity": 1}]})),
        "placeOrder" => builder
            .header("Idempotency-Key", "doc-1")
            .json(&json!({"client_id": unknown})),
        _ => builder,
    }
}

/// Every operation in `openapi.json` answers on the running system with a
/// status the document lists for it (never "no route"), and an undocumented
/// method on a documented component path is a 405.
#[tokio::test]
async fn every_documented_operation_exists_and_answers_as_documented() {
    let mut components = Component::all_services();
    components.push(Component::docs());
    let s = stack(components, &[]).await;
    let app = &s.app;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut checked = 0;
    for (path, item) in paths {
        if HOST_ENDPOINTS.contains(&path.as_str())
            && crate::runtime::gateway_only(&format!("{path}, answered by the gateway"))
        {
            continue;
        }
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
        if !HOST_ENDPOINTS.contains(&path.as_str()) {
            let patch = request_for(app, "patch", path, "").send().await.unwrap();
            assert_eq!(
                patch.status(),
                405,
                "PATCH {path} should be 405: the document lists every method"
            );
        }
    }
    let expected = match crate::runtime::current() {
        crate::runtime::Runtime::Comptoir => 18,
        crate::runtime::Runtime::Spin => 18 - HOST_ENDPOINTS.len(),
    };
    assert!(checked >= expected, "only {checked} operations checked");
}

/// Every route of `spin.toml` has documented paths, and every documented
/// path is served by a route or by the host.
#[test]
fn every_routed_path_is_documented() {
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    let documented: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    let file = comptoir::ManifestFile::read(&workspace().join("spin.toml")).unwrap();
    let manifest = file
        .resolve(
            &comptoir::Variables::resolve(
                file.declared_variables(),
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
    for route in manifest.routes.iter() {
        assert!(
            documented.iter().any(|p| route.matches(p)),
            "route {} ({}) has no documented path",
            route.template,
            route.component
        );
    }
    for path in documented {
        assert!(
            HOST_ENDPOINTS.contains(&path.as_str()) || manifest.routes.find(path).is_some(),
            "documented {path} is not routed"
        );
    }
}

/// `/docs` is Swagger UI served by the `docs` component: the page and its
/// assets load with no network beyond comptoir itself; an unknown asset is a
/// 404 problem and another method a 405 naming `GET, HEAD`.
#[tokio::test]
async fn swagger_ui_is_served_offline() {
    let s = stack(vec![Component::docs()], &[]).await;
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

    let doc = s.app.get("/openapi.json").await;
    assert_eq!(doc.headers()["content-type"], "application/json");
    assert_eq!(doc.text().await.unwrap(), OPENAPI);
    problem(s.app.get("/docs/missing.js").await, 404).await;
    let post = s.app.post_raw("/openapi.json", "{}").await;
    assert_eq!(post.headers()["allow"], "GET, HEAD");
    problem(post, 405).await;
}

//! `/metrics` exposes every metric of DESIGN.md §6 with samples after
//! traffic, labelled by route template (bounded cardinality).

use std::sync::Arc;

use reqwest::Method;
use serde_json::json;

use crate::harness::{Component, stack, wasm};

/// The value of the first sample of `name` whose labels contain all of `labels`.
pub fn sample(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse().ok())
        .next()
}

/// After requests, chaining, a trap, a swap and database work, every
/// metric named in the design has a non-zero sample.
#[tokio::test]
async fn metrics_cover_the_design_after_traffic() {
    let mut components = Component::all_services();
    components.push(Component::fault());
    let s = stack(components, &["--replicas", "2"]).await;
    let app = Arc::new(s.app);
    let client: serde_json::Value = app
        .post_json("/clients", &json!({"name": "M", "email": "m@example.com"}))
        .await
        .json()
        .await
        .unwrap();
    let id = client["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/clients/{id}")).await.status(), 200);
    assert_eq!(app.get(&format!("/panier/{id}")).await.status(), 200);
    assert_eq!(app.get("/fault/trap").await.status(), 500);
    let swap = app
        .admin_request(Method::PUT, "/admin/components/fault")
        .body(std::fs::read(wasm("testing_fault")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(swap.status(), 200);
    let slow = {
        let app = app.clone();
        tokio::spawn(async move { app.get("/fault/sleep").await.status() })
    };
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    let metrics = app
        .http
        .get(format!("{}/metrics", app.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let metrics = metrics.text().await.unwrap();
    assert_eq!(slow.await.unwrap(), 200);

    for (name, labels) in [
        (
            "comptoir_http_requests_total",
            &[
                "service=\"clients\"",
                "route=\"/clients/...\"",
                "status=\"200\"",
            ][..],
        ),
        (
            "comptoir_http_requests_total",
            &["service=\"fault\"", "status=\"500\""],
        ),
        (
            "comptoir_http_request_duration_seconds_count",
            &["service=\"panier\"", "status=\"2xx\""],
        ),
        (
            "comptoir_http_request_duration_seconds_bucket",
            &["le=\"0.001\""],
        ),
        (
            "comptoir_component_instances",
            &["component=\"clients\"", "version=\"clients@"],
        ),
        ("comptoir_component_in_flight", &["component=\"fault\""]),
        ("comptoir_component_traps_total", &["component=\"fault\""]),
        (
            "comptoir_component_swaps_total",
            &["component=\"fault\"", "outcome=\"success\""],
        ),
        ("comptoir_instantiation_duration_seconds_count", &[]),
        (
            "comptoir_db_query_duration_seconds_count",
            &["database=\"clients\""],
        ),
        (
            "comptoir_db_query_duration_seconds_count",
            &["database=\"panier\""],
        ),
        ("process_resident_memory_bytes", &[]),
    ] {
        let value = sample(&metrics, name, labels)
            .unwrap_or_else(|| panic!("no {name} {labels:?} in:\n{metrics}"));
        if name != "comptoir_http_request_duration_seconds_bucket" {
            assert!(value > 0.0, "{name} {labels:?} is {value}");
        }
    }
    assert!(!metrics.contains(id), "raw paths must not become labels");
}

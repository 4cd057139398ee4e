//! Requests and responses as Spin shapes them: `:param` route segments,
//! the `spin-*` request headers a component is given (the values Spin's
//! conformance suite expects), and responses with no comptoir-only header
//! when asked.

use serde_json::{Value, json};

use crate::harness::{Component, stack, wasm};

/// The fault-test component behind a route with two `:param` segments and
/// a trailing `...` (it answers the `spin-*` headers it was given).
fn echo() -> Component {
    Component {
        id: "fault",
        wasm: wasm("testing_fault"),
        routes: &["/fault/headers/:first/:second_part/..."],
        db: true,
        chains: &[],
    }
}

#[tokio::test]
async fn components_get_the_spin_headers_spin_sets() {
    let s = stack(vec![echo()], &["--replicas", "1"]).await;
    let response = s
        .app
        .http
        .get(s.app.url("/fault/headers/a/b/rest/more?key=value"))
        .header("host", "example.com")
        // A client cannot pass for another address.
        .header("spin-client-addr", "203.0.113.9:1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("comptoir-component"));
    let mut headers: Value = response.json().await.unwrap();
    let client = headers["spin-client-addr"].as_str().unwrap().to_owned();
    assert!(
        client
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .ip()
            .is_loopback(),
        "{client}"
    );
    headers.as_object_mut().unwrap().remove("spin-client-addr");
    assert_eq!(
        headers,
        json!({
            "spin-base-path": "/",
            "spin-component-route": "/fault/headers/:first/:second_part",
            "spin-full-url": "http://example.com/fault/headers/a/b/rest/more?key=value",
            "spin-matched-route": "/fault/headers/:first/:second_part/...",
            "spin-path-info": "/rest/more",
            "spin-path-match-first": "a",
            "spin-path-match-second-part": "b",
            "spin-raw-component-route": "/fault/headers/:first/:second_part/...",
        })
    );
}

/// `--no-version-header`: no `comptoir-component` on responses; metrics
/// still know which version answered.
#[tokio::test]
async fn the_version_header_can_be_left_out() {
    let s = stack(vec![echo()], &["--replicas", "1", "--no-version-header"]).await;
    let response = s.app.get("/fault/headers/a/b").await;
    assert_eq!(response.status(), 200);
    assert!(
        !response.headers().contains_key("comptoir-component"),
        "{:?}",
        response.headers()
    );
    let metrics = s.app.scrape().await;
    let versioned = metrics
        .samples("comptoir_http_requests_total", &[("service", "fault")])
        .any(|s| s.labels.get("version").is_some_and(|v| v.len() == 12));
    assert!(versioned, "the version label is still set");
}

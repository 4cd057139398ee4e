//! `/metrics` exposes every metric docs/operations.md lists with samples after
//! traffic, labelled by route template (bounded cardinality).

use std::sync::Arc;

use reqwest::Method;
use serde_json::json;

use crate::harness::{App, Component, Metrics, stack, wasm};
use crate::runtime::gateway_only;

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

    let parsed = Metrics::parse(&metrics);
    for (name, labels) in [
        (
            "comptoir_http_requests_total",
            &[
                ("service", "clients"),
                ("route", "/clients/..."),
                ("status", "200"),
            ][..],
        ),
        (
            "comptoir_http_requests_total",
            &[("service", "fault"), ("status", "500")],
        ),
        (
            "comptoir_http_request_duration_seconds_count",
            &[("service", "panier"), ("status", "2xx")],
        ),
        (
            "comptoir_http_request_duration_seconds_bucket",
            &[("le", "0.001")],
        ),
        ("comptoir_component_in_flight", &[("component", "fault")]),
        ("comptoir_component_traps_total", &[("component", "fault")]),
        (
            "comptoir_component_swaps_total",
            &[("component", "fault"), ("outcome", "success")],
        ),
        ("comptoir_instantiation_duration_seconds_count", &[]),
        (
            "comptoir_db_query_duration_seconds_count",
            &[("database", "clients")],
        ),
        (
            "comptoir_db_query_duration_seconds_count",
            &[("database", "panier")],
        ),
        ("process_resident_memory_bytes", &[]),
    ] {
        let value = parsed
            .get(name, labels)
            .unwrap_or_else(|| panic!("no {name} {labels:?} in:\n{metrics}"));
        if name != "comptoir_http_request_duration_seconds_bucket" {
            assert!(value > 0.0, "{name} {labels:?} is {value}");
        }
    }
    // Instances are labelled by version: `clients@<sha256 prefix>`.
    let instances: f64 = parsed
        .samples("comptoir_component_instances", &[("component", "clients")])
        .filter(|s| s.labels["version"].starts_with("clients@"))
        .map(|s| s.value)
        .sum();
    assert!(instances > 0.0, "no clients@… instances in:\n{metrics}");
    assert!(!metrics.contains(id), "raw paths must not become labels");
}

/// Component invocations, every label (comptoir counts one per request a
/// component runs, public or chained).
const INVOCATIONS: &str = "comptoir_component_invocations_total";
/// SQL statements run by components: the query histogram's count.
const STATEMENTS: &str = "comptoir_db_query_duration_seconds_count";
/// Chained `GET`s answered from the gateway's cache instead of running the
/// component.
const CACHE_HITS: &str = "comptoir_chain_cache_hits_total";

/// The products every flow orders, as the load test's flows order a few
/// products of the catalogue, and the quantity of each.
const FLOW_PRODUCTS: [(&str, i64); 3] = [("FLOW-A", 1250), ("FLOW-B", 499), ("FLOW-C", 120)];
const FLOW_QUANTITY: i64 = 2;

/// One order flow as the k6 `order-flow` scenario runs it
/// (`load/lib/flow.js`, 7 requests): create a client, add 3 products,
/// read the cart, place the order, read the order; each step checked as
/// k6 checks it.
async fn order_flow(app: &App, n: usize) {
    let client = app.new_client(&format!("flow-{n}@example.com")).await;
    for (sku, _) in FLOW_PRODUCTS {
        let added = app.add_item(&client, sku, FLOW_QUANTITY).await;
        assert_eq!(added.status(), 200, "flow {n}: add {sku}");
    }
    let cart = app.get(&format!("/panier/{client}")).await;
    assert_eq!(cart.status(), 200, "flow {n}: read the cart");
    let cart: serde_json::Value = cart.json().await.unwrap();
    let total: i64 = FLOW_PRODUCTS
        .iter()
        .map(|(_, price)| FLOW_QUANTITY * price)
        .sum();
    assert_eq!(cart["total_cents"], total, "flow {n}: {cart}");
    let placed = app.place_order(&client, &format!("flow-{n}")).await;
    assert_eq!(placed.status(), 201, "flow {n}: place the order");
    let order: serde_json::Value = placed.json().await.unwrap();
    assert_eq!(order["status"], "validated", "flow {n}: {order}");
    let id = order["id"].as_str().unwrap();
    let read = app.get(&format!("/commandes/{id}")).await;
    assert_eq!(read.status(), 200, "flow {n}: read the order");
}

/// Flows counted (after one warm-up flow).
const COUNTED_FLOWS: usize = 6;

/// What an order flow costs in component invocations and SQL statements,
/// from comptoir's own counters (the figures `cargo xtask load` and the
/// benchmarks report): at most 12 invocations and 18 statements per flow
/// (the README's aims; measured 11.4 and 14.4 under k6).
///
/// Deterministic: counts, not timing. Uncached, a flow costs 14
/// invocations and 17 statements; the gateway's chain cache saves one of
/// each per add whose product was read in the last 30 s, as in a steady
/// state, so a flow costs 11 and 14. One uncounted flow reads the three
/// products first. Whatever the speed of the machine, the counted flows
/// read each product at most once more while they take under 60 s (a read
/// stays fresh 30 s after the warm-up's, the next after that read): at most
/// 3 extra invocations and statements over 6 flows, 11.5 and 14.5 per flow,
/// still within the aims (42 requests in a minute: only a broken system is
/// slower; a failure says how long the flows took). Statements stay within
/// 18 even with no cache at all.
#[tokio::test]
async fn an_order_flow_costs_at_most_12_invocations_and_18_statements() {
    if gateway_only("comptoir's counters of invocations and statements") {
        return;
    }
    let s = stack(Component::all_services(), &["--replicas", "2"]).await;
    let app = &s.app;
    for (sku, price) in FLOW_PRODUCTS {
        app.product(sku, price, 1_000_000).await;
    }
    order_flow(app, 0).await;

    // Nothing runs between flows: one scrape per counter reads one state.
    let counts = async || {
        [
            app.metric(INVOCATIONS, &[]).await,
            app.metric(STATEMENTS, &[]).await,
            app.metric(CACHE_HITS, &[]).await,
        ]
    };
    let before = counts().await;
    let started = std::time::Instant::now();
    for n in 1..=COUNTED_FLOWS {
        order_flow(app, n).await;
    }
    let elapsed = started.elapsed();
    let after = counts().await;
    let [invocations, statements, hits] =
        [0, 1, 2].map(|i| (after[i] - before[i]) / COUNTED_FLOWS as f64);
    let counted = format!(
        "per flow over {COUNTED_FLOWS} flows in {elapsed:.1?}: {invocations} invocations, \
         {statements} statements, {hits} chained reads from the cache"
    );
    eprintln!("{counted}");
    assert!(
        invocations > 0.0 && statements > 0.0,
        "nothing counted: {counted}"
    );
    assert!(invocations <= 12.0, "more than 12 invocations: {counted}");
    assert!(statements <= 18.0, "more than 18 statements: {counted}");
}

//! The catalogue: who may set prices and stock, and the stock an order
//! reserves across two databases (catalogue's and commande's) — never sold
//! twice, never negative, given back once, and exact after a crash.
//!
//! The invariant every test ends on, per SKU, once the system is quiet:
//! stock set by staff = stock left + units in live (not cancelled) orders.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Component, Stack, eventually, problem, stack};
use crate::runtime::gateway_only;
use crate::tokens;

async fn services() -> Stack {
    stack(Component::all_services(), &["--replicas", "2"]).await
}

/// Units of each SKU in live (pending or validated) orders, read from
/// commande's database.
async fn sold(s: &Stack) -> BTreeMap<String, i64> {
    let pool = s.db.pool("commande").await;
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT l.product_id, sum(l.quantity)::int8 FROM order_lines l \
         JOIN orders o ON o.id = l.order_id WHERE o.status <> 'cancelled' \
         GROUP BY l.product_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    rows.into_iter().collect()
}

/// Asserts the invariant for each `(sku, stock set by staff)`.
async fn assert_exact(s: &Stack, set: &[(&str, i64)]) {
    let sold = sold(s).await;
    for (sku, initial) in set {
        let left = s.app.stock(sku).await;
        assert!(left >= 0, "{sku}: negative stock {left}");
        let in_orders = sold.get(*sku).copied().unwrap_or(0);
        assert_eq!(
            *initial,
            left + in_orders,
            "{sku}: set {initial}, left {left}, in live orders {in_orders}"
        );
    }
}

/// Reads are public; writes are staff's: a customer gets 403 and no token
/// 401, and neither changes anything; a customer cannot send a price.
#[tokio::test]
async fn only_staff_sets_prices_and_stock() {
    let s = stack(
        vec![
            Component::clients(),
            Component::panier(),
            Component::catalogue(),
        ],
        &[],
    )
    .await;
    let app = &s.app;
    let created = app
        .put_json(
            "/catalogue/CAFE-250",
            &json!({"name": "Café 250 g", "price_cents": 1250, "stock": 7, "description": "Arabica"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["location"], "/catalogue/CAFE-250");
    let product: Value = created.json().await.unwrap();
    assert_eq!(
        (
            &product["price_cents"],
            &product["stock"],
            &product["currency"]
        ),
        (&json!(1250), &json!(7), &json!("EUR"))
    );
    let replaced = app
        .put_json(
            "/catalogue/CAFE-250",
            &json!({"name": "Café 250 g", "price_cents": 1300, "stock": 9}),
        )
        .await;
    assert_eq!(replaced.status(), 200);

    let customer = tokens::customer("eve");
    let body = json!({"name": "Free", "price_cents": 0, "stock": 1_000_000});
    for token in [Some(customer.as_str()), None] {
        let attempt = app
            .as_caller(Method::PUT, "/catalogue/CAFE-250", token)
            .json(&body)
            .send()
            .await
            .unwrap();
        problem(attempt, if token.is_some() { 403 } else { 401 }).await;
    }
    let anonymous = app
        .as_caller(Method::GET, "/catalogue/CAFE-250", None)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 200, "reads need no token");
    let seen: Value = anonymous.json().await.unwrap();
    assert_eq!(
        (&seen["price_cents"], &seen["stock"]),
        (&json!(1300), &json!(9))
    );
    let listed: Value = app
        .as_caller(Method::GET, "/catalogue?limit=10", None)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["sku"], "CAFE-250");

    for (what, body, status) in [
        (
            "a currency",
            json!({"name": "x", "price_cents": 1, "stock": 1, "currency": "USD"}),
            400,
        ),
        (
            "a negative price",
            json!({"name": "x", "price_cents": -1, "stock": 1}),
            422,
        ),
        (
            "a negative stock",
            json!({"name": "x", "price_cents": 1, "stock": -1}),
            422,
        ),
        ("no name", json!({"price_cents": 1, "stock": 1}), 400),
    ] {
        let response = app.put_json("/catalogue/BAD-1", &body).await;
        assert_eq!(response.status().as_u16(), status, "{what}");
        problem(response, status).await;
    }
    problem(app.get("/catalogue/BAD-1").await, 404).await;

    // The customer's cart takes the catalogue's price; a price in the body
    // is refused; an inactive product is not for sale.
    let client = app
        .as_caller(Method::POST, "/clients", Some(&customer))
        .json(&json!({"name": "Eve", "email": "eve@example.com"}))
        .send()
        .await
        .unwrap();
    let client: Value = client.json().await.unwrap();
    let items = format!("/panier/{}/items", client["id"].as_str().unwrap());
    let add = |body: Value| {
        app.as_caller(Method::POST, &items, Some(&customer))
            .json(&body)
            .send()
    };
    let priced = add(json!({"product_id": "CAFE-250", "quantity": 1, "unit_price_cents": 1}));
    problem(priced.await.unwrap(), 400).await;
    let cart: Value = add(json!({"product_id": "CAFE-250", "quantity": 2}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cart["items"][0]["unit_price_cents"], 1300);
    assert_eq!(cart["items"][0]["name"], "Café 250 g");
    assert_eq!(cart["total_cents"], 2600);
    app.put_json(
        "/catalogue/OLD-1",
        &json!({"name": "Old", "price_cents": 5, "stock": 5, "active": false}),
    )
    .await;
    let inactive = add(json!({"product_id": "OLD-1", "quantity": 1}))
        .await
        .unwrap();
    let body = problem(inactive, 422).await;
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .ends_with("/product-inactive")
    );
    problem(
        add(json!({"product_id": "NONE-1", "quantity": 1}))
            .await
            .unwrap(),
        404,
    )
    .await;
}

/// 40 customers race for the last 10 units: exactly 10 orders, the rest
/// 409 `out-of-stock` naming the SKU, stock 0, never negative.
#[tokio::test]
async fn forty_buyers_race_for_ten_units() {
    let s = services().await;
    let app = &s.app;
    app.product("LAST-10", 999, 10).await;
    let mut clients = Vec::new();
    for n in 0..40 {
        let client = app.new_client(&format!("buyer{n}@example.com")).await;
        assert_eq!(app.add_item(&client, "LAST-10", 1).await.status(), 200);
        clients.push(client);
    }
    let racers = clients.iter().enumerate().map(|(n, client)| async move {
        let response = app.place_order(client, &format!("race-{n}")).await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        (status, body)
    });
    let mut placed = 0;
    for (status, body) in futures::future::join_all(racers).await {
        match status {
            201 => placed += 1,
            409 => {
                assert!(
                    body["type"].as_str().unwrap().ends_with("/out-of-stock"),
                    "{body}"
                );
                assert!(
                    body["detail"].as_str().unwrap().contains("LAST-10"),
                    "{body}"
                );
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(placed, 10, "exactly the stock was sold");
    assert_eq!(s.app.stock("LAST-10").await, 0);
    assert_exact(&s, &[("LAST-10", 10)]).await;
}

/// A price changed between add and placement: 409 `price-changed`, no
/// order, nothing reserved, the cart shows the new price; ordering again
/// accepts it.
#[tokio::test]
async fn a_changed_price_is_confirmed_before_it_is_charged() {
    let s = services().await;
    let app = &s.app;
    app.product("TEA-1", 500, 20).await;
    app.product("SUGAR-1", 120, 20).await;
    let client = app.new_client("buyer0@example.com").await;
    app.add_item(&client, "TEA-1", 2).await;
    app.add_item(&client, "SUGAR-1", 1).await;
    app.product("TEA-1", 650, 20).await;

    let refused = problem(app.place_order(&client, "price-1").await, 409).await;
    assert!(
        refused["type"]
            .as_str()
            .unwrap()
            .ends_with("/price-changed")
    );
    assert!(refused["detail"].as_str().unwrap().contains("TEA-1"));
    let orders: Value = app.get("/commandes").await.json().await.unwrap();
    assert_eq!(orders["items"], json!([]), "no order");
    assert_exact(&s, &[("TEA-1", 20), ("SUGAR-1", 20)]).await;
    let cart: Value = app
        .get(&format!("/panier/{client}"))
        .await
        .json()
        .await
        .unwrap();
    let tea = cart["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["product_id"] == "TEA-1")
        .unwrap();
    assert_eq!(tea["unit_price_cents"], 650, "the cart shows the new price");

    let placed = app.place_order(&client, "price-1").await;
    assert_eq!(placed.status(), 201, "the same key, once the price is seen");
    let order: Value = placed.json().await.unwrap();
    assert_eq!(order["total_cents"], 2 * 650 + 120);
    assert_eq!(order["status"], "validated");
    assert_exact(&s, &[("TEA-1", 20), ("SUGAR-1", 20)]).await;
    assert_eq!(app.stock("TEA-1").await, 18);
}

/// Replays of one key, sequential and concurrent, reserve once; a cancel
/// gives the stock back once (a second cancel is 409).
#[tokio::test]
async fn replays_reserve_once_and_cancels_give_back_once() {
    let s = services().await;
    let app = &s.app;
    app.product("MUG-1", 800, 50).await;
    let client = app.new_client("buyer0@example.com").await;
    app.add_item(&client, "MUG-1", 3).await;
    let replays = (0..8).map(|_| async {
        let response = app.place_order(&client, "once").await;
        assert_eq!(response.status(), 201);
        let order: Value = response.json().await.unwrap();
        order["id"].as_str().unwrap().to_owned()
    });
    let mut ids = futures::future::join_all(replays).await;
    ids.dedup();
    assert_eq!(ids.len(), 1, "one order for one key");
    let again = app.place_order(&client, "once").await;
    assert_eq!(again.status(), 201);
    assert_eq!(app.stock("MUG-1").await, 47, "reserved once");

    let cancel = format!("/commandes/{}/cancel", ids[0]);
    let cancelled = app.post_json(&cancel, &json!({})).await;
    assert_eq!(cancelled.status(), 200);
    problem(app.post_json(&cancel, &json!({})).await, 409).await;
    assert_eq!(app.stock("MUG-1").await, 50, "given back once");
    assert_exact(&s, &[("MUG-1", 50)]).await;
}

/// SIGKILL the gateway while orders are placed and cancelled, start it
/// again, let later placements take up what the crash left: the
/// invariant holds for every SKU.
#[tokio::test]
async fn a_crash_during_placements_leaves_stock_exact() {
    if gateway_only("SIGKILL of the gateway") {
        return;
    }
    let mut s = services().await;
    let skus: Vec<String> = (0..5).map(|n| format!("CRASH-{n}")).collect();
    for sku in &skus {
        s.app.product(sku, 100, 60).await;
    }
    let mut clients = Vec::new();
    for n in 0..12 {
        let client = s.app.new_client(&format!("buyer{n}@example.com")).await;
        for sku in skus.iter().skip(n % 3).take(3) {
            assert_eq!(s.app.add_item(&client, sku, 1).await.status(), 200);
        }
        clients.push(client);
    }
    let app = &s.app;
    let workers = clients.iter().enumerate().map(|(n, client)| {
        let skus = &skus;
        async move {
            for i in 0.. {
                let key = format!("crash-{n}-{i}");
                let Ok(placed) = app
                    .http
                    .post(app.url("/commandes"))
                    .header("Idempotency-Key", &key)
                    .json(&json!({"client_id": client}))
                    .send()
                    .await
                else {
                    return;
                };
                if placed.status() == 201
                    && i % 2 == 0
                    && let Ok(order) = placed.json::<Value>().await
                {
                    let id = order["id"].as_str().unwrap_or_default();
                    let path = format!("/commandes/{id}/cancel");
                    if app.http.post(app.url(&path)).send().await.is_err() {
                        return;
                    }
                }
                // Refill the cart for the next order.
                for sku in skus.iter().skip(n % 3).take(3) {
                    let body = json!({"product_id": sku, "quantity": 1});
                    let path = format!("/panier/{client}/items");
                    if app
                        .http
                        .post(app.url(&path))
                        .json(&body)
                        .send()
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    });
    let crash = async {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        app.kill();
    };
    tokio::join!(futures::future::join_all(workers), crash);
    s.crash_and_restart().await;

    // Later placements take up pending orders and queued releases older
    // than a few seconds: keep placing until nothing is left over.
    let extra = s.app.new_client("buyer99@example.com").await;
    s.app.product("RECOVERY-1", 1, 1_000_000).await;
    let commande = s.db.pool("commande").await;
    let mut attempt = 0;
    eventually(
        Duration::from_secs(60),
        "the crash's leftovers taken up",
        async || {
            attempt += 1;
            s.app.add_item(&extra, "RECOVERY-1", 1).await;
            let _ = s
                .app
                .place_order(&extra, &format!("after-crash-{attempt}"))
                .await;
            let left: i64 = sqlx::query_scalar(
                "SELECT (SELECT count(*) FROM orders WHERE status = 'pending') \
                  + (SELECT count(*) FROM stock_releases)",
            )
            .fetch_one(&commande)
            .await
            .unwrap();
            if left == 0 { Ok(()) } else { Err(left) }
        },
    )
    .await;
    let set: Vec<(&str, i64)> = skus.iter().map(|sku| (sku.as_str(), 60)).collect();
    assert_exact(&s, &set).await;
}

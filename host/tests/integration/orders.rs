//! Carts and orders across the three services: chaining, totals,
//! idempotent placement, and the cart clear that must never lose an order.

use serde_json::{Value, json};

use crate::harness::{App, Component, Stack, problem, stack};
use crate::runtime::gateway_only;

/// Puts `sku` in the catalogue at `price` (plenty of stock), then adds
/// `quantity` of it to `client`'s cart.
async fn add_item(
    app: &App,
    client: &str,
    sku: &str,
    price: i64,
    quantity: i64,
) -> reqwest::Response {
    app.product(sku, price, 1_000_000).await;
    app.add_item(client, sku, quantity).await
}

async fn services() -> Stack {
    stack(Component::all_services(), &[]).await
}

/// The three services and a new client with `email`.
async fn services_with_client(email: &str) -> (Stack, String) {
    let s = services().await;
    let client = s.app.new_client(email).await;
    (s, client)
}

/// The whole flow: client, cart, order, listing, cancellation.
#[tokio::test]
async fn full_order_flow() {
    let (s, client) = services_with_client("flow@example.com").await;
    let app = &s.app;

    let empty: Value = app
        .get(&format!("/panier/{client}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        empty["items"],
        json!([]),
        "an existing client without a cart has an empty cart"
    );
    assert_eq!(empty["total_cents"], 0);

    assert_eq!(
        add_item(app, &client, "CAFE-250", 1250, 2).await.status(),
        200
    );
    assert_eq!(
        add_item(app, &client, "THE-100", 499, 1).await.status(),
        200
    );
    let cart: Value = add_item(app, &client, "CAFE-250", 1250, 1)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        cart["items"][0]["quantity"], 3,
        "adding a SKU again adds to its quantity"
    );
    assert_eq!(
        add_item(app, &client, "SUCRE-1", 120, 10).await.status(),
        200
    );
    let changed = app
        .put_json(
            &format!("/panier/{client}/items/SUCRE-1"),
            &json!({"quantity": 4}),
        )
        .await;
    assert_eq!(changed.status(), 200);
    let cart: Value = changed.json().await.unwrap();
    assert_eq!(cart["items"].as_array().unwrap().len(), 3);
    assert_eq!(cart["total_cents"], 3 * 1250 + 499 + 4 * 120);
    assert_eq!(cart["items"][2]["line_total_cents"], 480);

    let placed = app.place_order(&client, "flow-1").await;
    assert_eq!(placed.status(), 201);
    if !gateway_only("the comptoir-component header") {
        assert!(
            placed.headers()["comptoir-component"]
                .to_str()
                .unwrap()
                .starts_with("commande@")
        );
    }
    let order: Value = placed.json().await.unwrap();
    assert_eq!(order["status"], "validated");
    assert_eq!(order["client_id"], client.as_str());
    assert_eq!(order["total_cents"], cart["total_cents"]);
    assert_eq!(order["currency"], "EUR");
    assert_eq!(
        order["lines"], cart["items"],
        "order lines are the cart's lines"
    );

    let after: Value = app
        .get(&format!("/panier/{client}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["items"], json!([]), "the cart was cleared");
    assert_eq!(
        s.db.count("commande", "cart_clears").await,
        0,
        "nothing left to clear"
    );

    let id = order["id"].as_str().unwrap();
    let fetched: Value = app
        .get(&format!("/commandes/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, order);
    let listed: Value = app
        .get(&format!("/commandes?client_id={client}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"], json!([order]));
    assert_eq!(listed["next_cursor"], Value::Null);

    let cancelled = app
        .http
        .post(app.url(&format!("/commandes/{id}/cancel")))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);
    let cancelled: Value = cancelled.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["cancelled_at"].is_string());
    let again = app
        .http
        .post(app.url(&format!("/commandes/{id}/cancel")))
        .send()
        .await
        .unwrap();
    problem(again, 409).await;
    let unknown = app
        .http
        .post(app.url("/commandes/6f1c1a4e-8a7e-4a8e-9a55-0e2e7c1f2b3a/cancel"))
        .send()
        .await
        .unwrap();
    problem(unknown, 404).await;
}

/// A replayed Idempotency-Key returns the same order and status and
/// creates nothing, sequentially and with 20 concurrent replays.
#[tokio::test]
async fn order_placement_is_idempotent() {
    let (s, client) = services_with_client("idem@example.com").await;
    let app = &s.app;
    add_item(app, &client, "A", 100, 1).await;

    let first = app.place_order(&client, "same-key").await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let replay = app.place_order(&client, "same-key").await;
    assert_eq!(replay.status(), 201, "same status on replay");
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay, first, "same order on replay");
    assert_eq!(s.db.count("commande", "orders").await, 1);

    // The same key for another client's order is refused.
    let other = app.new_client("other@example.com").await;
    problem(app.place_order(&other, "same-key").await, 422).await;

    // 20 concurrent placements with one new key: exactly one order.
    add_item(app, &client, "B", 200, 2).await;
    let attempts = (0..20).map(|_| app.place_order(&client, "burst-key"));
    let responses = futures::future::join_all(attempts).await;
    let mut ids = std::collections::BTreeSet::new();
    for response in responses {
        assert_eq!(response.status(), 201);
        let order: Value = response.json().await.unwrap();
        ids.insert(order["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "every concurrent replay got the same order");
    assert_eq!(s.db.count("commande", "orders").await, 2);
    assert_eq!(s.db.count("commande", "order_lines").await, 2);
}

/// An empty cart cannot be ordered; unknown clients are 404 everywhere.
#[tokio::test]
async fn empty_carts_and_unknown_clients() {
    let (s, client) = services_with_client("empty@example.com").await;
    let app = &s.app;
    let body = problem(app.place_order(&client, "empty-1").await, 422).await;
    assert!(body["detail"].as_str().unwrap().contains("empty"));
    assert_eq!(s.db.count("commande", "orders").await, 0);

    let ghost = "6f1c1a4e-8a7e-4a8e-9a55-0e2e7c1f2b3a";
    problem(app.get(&format!("/panier/{ghost}")).await, 404).await;
    problem(add_item(app, ghost, "A", 100, 1).await, 404).await;
    problem(app.delete(&format!("/panier/{ghost}")).await, 404).await;
    problem(app.place_order(ghost, "ghost-1").await, 404).await;
    assert_eq!(s.db.count("panier", "cart_items").await, 0);
    assert_eq!(s.db.count("commande", "orders").await, 0);
}

/// Bad cart and order input is a 4xx and changes nothing.
#[tokio::test]
async fn bad_cart_and_order_input_changes_nothing() {
    let (s, client) = services_with_client("bad@example.com").await;
    let app = &s.app;
    add_item(app, &client, "KEEP", 100, 1).await;
    let before: Value = app
        .get(&format!("/panier/{client}"))
        .await
        .json()
        .await
        .unwrap();

    // Each case changes one field of a valid line (null: leaves it out).
    app.product("A", 1, 1_000_000).await;
    let valid = json!({"product_id": "A", "quantity": 1});
    for (what, change, status) in [
        ("a price in the body", json!({"unit_price_cents": 0}), 400),
        ("a name in the body", json!({"name": "Free"}), 400),
        ("quantity 0 on add", json!({"quantity": 0}), 422),
        ("10^6 quantity", json!({"quantity": 1_000_000}), 422),
        ("fractional quantity", json!({"quantity": 1.5}), 400),
        ("missing quantity", json!({"quantity": null}), 400),
        ("bad SKU", json!({"product_id": "a/b"}), 422),
        (
            "a product the catalogue lacks",
            json!({"product_id": "NOPE"}),
            404,
        ),
        (
            "over the line limit",
            json!({"product_id": "KEEP", "quantity": 1000}),
            422,
        ),
    ] {
        let mut body = valid.clone();
        for (field, value) in change.as_object().unwrap() {
            match value {
                Value::Null => body.as_object_mut().unwrap().remove(field),
                value => body
                    .as_object_mut()
                    .unwrap()
                    .insert(field.clone(), value.clone()),
            };
        }
        let response = app
            .post_json(&format!("/panier/{client}/items"), &body)
            .await;
        assert_eq!(response.status().as_u16(), status, "{what}");
        problem(response, status).await;
    }
    let put = |quantity: Value| {
        app.http
            .put(app.url(&format!("/panier/{client}/items/KEEP")))
            .json(&json!({ "quantity": quantity }))
            .send()
    };
    problem(put(json!(-1)).await.unwrap(), 422).await;
    problem(put(json!(1001)).await.unwrap(), 422).await;
    problem(put(json!("two")).await.unwrap(), 400).await;
    let missing_item = app
        .put_json(
            &format!("/panier/{client}/items/NOPE"),
            &json!({"quantity": 2}),
        )
        .await;
    problem(missing_item, 404).await;
    problem(app.get("/panier/not-a-uuid").await, 400).await;

    let no_key = app
        .post_json("/commandes", &json!({"client_id": client}))
        .await;
    problem(no_key, 400).await;
    let wrong_type = app
        .http
        .post(app.url("/commandes"))
        .header("Idempotency-Key", "wt")
        .json(&json!({"client_id": 12}))
        .send()
        .await
        .unwrap();
    problem(wrong_type, 400).await;
    problem(app.get("/commandes?client_id=nope").await, 400).await;

    let after: Value = app
        .get(&format!("/panier/{client}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after, before, "the cart is unchanged");
    assert_eq!(s.db.count("commande", "orders").await, 0);
}

/// If clearing the cart fails after the order committed, the order stands
/// (exactly one), and the clear is retried until the cart is empty.
#[tokio::test]
async fn a_failed_cart_clear_keeps_the_order_and_is_retried() {
    let (s, client) = services_with_client("outbox@example.com").await;
    let app = &s.app;
    add_item(app, &client, "A", 300, 2).await;

    // Make the panier database refuse to take lines off carts (the panier
    // role owns its tables, so it may add a trigger to them).
    let panier = s.db.pool("panier").await;
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'cart clears are failing'; END $$; \
         CREATE TRIGGER refuse_delete BEFORE DELETE OR UPDATE ON cart_items FOR EACH ROW EXECUTE FUNCTION refuse_delete();",
    )
    .execute(&panier)
    .await
    .unwrap();

    let placed = app.place_order(&client, "outbox-1").await;
    assert_eq!(
        placed.status(),
        201,
        "the order is acknowledged even though the clear failed"
    );
    let order: Value = placed.json().await.unwrap();
    assert_eq!(s.db.count("commande", "orders").await, 1);
    assert_eq!(
        s.db.count("commande", "cart_clears").await,
        1,
        "the clear is queued"
    );
    let cart: Value = app
        .get(&format!("/panier/{client}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        cart["items"].as_array().unwrap().len(),
        1,
        "not cleared yet"
    );

    // Recovery: the database accepts deletes again; the client retries.
    sqlx::raw_sql("DROP TRIGGER refuse_delete ON cart_items")
        .execute(&panier)
        .await
        .unwrap();
    let retried = app.place_order(&client, "outbox-1").await;
    assert_eq!(retried.status(), 201);
    let retried: Value = retried.json().await.unwrap();
    assert_eq!(retried["id"], order["id"]);
    assert_eq!(
        s.db.count("commande", "orders").await,
        1,
        "still exactly one order"
    );
    assert_eq!(s.db.count("commande", "cart_clears").await, 0);
    let cart: Value = app
        .get(&format!("/panier/{client}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cart["items"], json!([]), "the cart is empty after recovery");
}

/// An add is one statement that changes the cart and returns it, each
/// column cast to the type the component decodes: a column whose type
/// drifted (here `name`, which the runtime's `spin:postgres` does not
/// decode as text) still reads back, so the item added is never hidden
/// behind a 5xx; a statement that fails writes nothing.
#[tokio::test]
async fn a_write_answers_with_the_types_it_pins() {
    let s = services().await;
    let client = s.app.new_client("atomic@example.com").await;
    let panier = s.db.pool("panier").await;
    // Text parameters still bind to `name`; both runtimes read it as raw bytes.
    sqlx::raw_sql("ALTER TABLE cart_items ALTER COLUMN name TYPE name")
        .execute(&panier)
        .await
        .unwrap();
    let added = add_item(&s.app, &client, "A", 300, 1).await;
    assert_eq!(added.status(), 200);
    let cart: Value = added.json().await.unwrap();
    assert_eq!(cart["items"][0]["name"], "Product A");
    assert_eq!(cart["total_cents"], 300);
    // Over the line limit: the statement fails, nothing changes.
    problem(add_item(&s.app, &client, "A", 300, 1000).await, 422).await;
    let read: Value = s
        .app
        .get(&format!("/panier/{client}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read, cart);
    assert_eq!(s.db.count("panier", "cart_items").await, 1);
}

/// Cart rows of `client` that are not a tombstone, and its lines.
async fn live_cart_rows(s: &Stack, client: &str) -> (i64, i64) {
    let pool = s.db.pool("panier").await;
    let id = uuid::Uuid::parse_str(client).unwrap();
    let carts = sqlx::query_scalar(
        "SELECT count(*) FROM carts WHERE client_id = $1 AND client_status <> 'gone'",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();
    let items = sqlx::query_scalar("SELECT count(*) FROM cart_items WHERE client_id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    (carts, items)
}

/// Every cart and placement route of a deleted client is a 404.
async fn assert_gone_everywhere(app: &App, client: &str, key: &str) {
    problem(app.get(&format!("/panier/{client}")).await, 404).await;
    problem(add_item(app, client, "B", 100, 1).await, 404).await;
    let put = app
        .put_json(
            &format!("/panier/{client}/items/A"),
            &json!({"quantity": 2}),
        )
        .await;
    problem(put, 404).await;
    let remove = app.delete(&format!("/panier/{client}/items/A")).await;
    problem(remove, 404).await;
    let clear = app.delete(&format!("/panier/{client}")).await;
    problem(clear, 404).await;
    problem(app.place_order(client, key).await, 404).await;
}

/// Deleting a client who has a cart removes the cart (clients tells panier
/// through chaining): every cart route and placing an order answer 404
/// afterwards, and panier's database keeps no line of it.
#[tokio::test]
async fn a_deleted_clients_cart_is_gone() {
    let (s, client) = services_with_client("leaving@example.com").await;
    let app = &s.app;
    assert_eq!(add_item(app, &client, "A", 300, 2).await.status(), 200);
    assert_eq!(add_item(app, &client, "B", 100, 1).await.status(), 200);
    assert_eq!(live_cart_rows(&s, &client).await, (1, 2));

    let deleted = app.delete(&format!("/clients/{client}")).await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        live_cart_rows(&s, &client).await,
        (0, 0),
        "the cart is gone"
    );
    assert_eq!(
        s.db.count("clients", "cart_forgets").await,
        0,
        "panier confirmed"
    );
    assert_gone_everywhere(app, &client, "leaving-1").await;
    assert_eq!(live_cart_rows(&s, &client).await, (0, 0), "and stays gone");
    assert_eq!(s.db.count("commande", "orders").await, 0);
}

/// A client deleted while adds race to (re)create its cart: whichever
/// order they run in, no cart survives the deletion.
#[tokio::test]
async fn a_client_deleted_during_adds_keeps_no_cart() {
    let s = services().await;
    let app = &s.app;
    for round in 0..4 {
        let client = app.new_client(&format!("race-{round}@example.com")).await;
        if round % 2 == 1 {
            // Half the rounds start with a verified cart, half without.
            assert_eq!(add_item(app, &client, "A", 100, 1).await.status(), 200);
        }
        let adds = futures::future::join_all(
            (0..6).map(|k| add_item(app, &client, if k % 2 == 0 { "A" } else { "B" }, 100, 1)),
        );
        let delete = app
            .http
            .delete(app.url(&format!("/clients/{client}")))
            .send();
        let (deleted, adds) = futures::join!(delete, adds);
        assert_eq!(deleted.unwrap().status(), 204);
        for added in adds {
            assert!(
                [200, 404].contains(&added.status().as_u16()),
                "an add answered {}",
                added.status()
            );
        }
        assert_eq!(live_cart_rows(&s, &client).await, (0, 0), "round {round}");
        assert_gone_everywhere(app, &client, &format!("race-key-{round}")).await;
    }
}

/// `forget` is no route from outside (only the clients service reaches it,
/// through panier's private endpoint): a live client's cart keeps its lines.
#[tokio::test]
async fn a_live_clients_cart_cannot_be_forgotten() {
    let (s, client) = services_with_client("staying@example.com").await;
    let app = &s.app;
    add_item(app, &client, "A", 300, 2).await;
    // Forget is panier-internal's (the private endpoint): from outside, no route.
    let forget = app
        .http
        .post(app.url(&format!("/panier/{client}/forget")))
        .send()
        .await
        .unwrap();
    problem(forget, 404).await;
    assert_eq!(live_cart_rows(&s, &client).await, (1, 1));
    assert_eq!(app.place_order(&client, "staying-1").await.status(), 201);
}

/// A client deleted while panier's database is down: the deletion stands,
/// and clients' call to panier to forget the cart fails and stays in its
/// outbox (`cart_forgets`); the cart is still there once panier is back.
/// The next deletion retries it: that cart is forgotten too, the outbox is
/// empty, and the cart of a client still there keeps its lines.
#[tokio::test]
async fn a_cart_forget_that_failed_is_retried_once_panier_is_back() {
    use crate::harness::stack_with_own_cluster;
    if gateway_only("an outage of panier's database (a PostgreSQL of the test's own)") {
        return;
    }
    let (s, panier_db) = stack_with_own_cluster(Component::all_services(), &["panier"], &[]).await;
    let app = &s.app;
    let cart_of = async |client: &str| -> (u16, Value) {
        let response = app.get(&format!("/panier/{client}")).await;
        (response.status().as_u16(), response.json().await.unwrap())
    };
    let mut clients = Vec::new();
    for name in ["leaving", "next", "staying"] {
        let client = app.new_client(&format!("{name}@example.com")).await;
        assert_eq!(add_item(app, &client, "A", 300, 2).await.status(), 200);
        clients.push(client);
    }
    let [leaving, next, staying] = &clients[..] else {
        unreachable!()
    };

    panier_db.pause().await;
    let deleted = app.delete(&format!("/clients/{leaving}")).await;
    assert_eq!(deleted.status(), 204, "the deletion stands without panier");
    assert_eq!(
        s.db.count("clients", "cart_forgets").await,
        1,
        "the failed forget is queued"
    );
    panier_db.resume().await;
    // panier serves again, and the deleted client's cart was not forgotten.
    let (status, cart) = cart_of(leaving).await;
    assert_eq!(status, 200, "{cart}");
    assert_eq!(cart["items"][0]["quantity"], 2, "{cart}");

    // The next deletion retries the queued forget beside its own.
    let deleted = app.delete(&format!("/clients/{next}")).await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        s.db.count("clients", "cart_forgets").await,
        0,
        "panier confirmed both forgets"
    );
    assert_gone_everywhere(app, leaving, "outbox-leaving").await;
    assert_gone_everywhere(app, next, "outbox-next").await;
    assert_eq!(
        panier_db.count("panier", "cart_items").await,
        1,
        "only the remaining client's line is left"
    );
    let (status, cart) = cart_of(staying).await;
    assert_eq!((status, &cart["items"][0]["quantity"]), (200, &json!(2)));
    assert_eq!(
        app.place_order(staying, "outbox-staying").await.status(),
        201
    );
}

/// Every route that takes a body refuses valid JSON that is not an object
/// (an array of the fields in order, a string, a number, null) with a 400,
/// and writes nothing.
#[tokio::test]
async fn bodies_must_be_json_objects() {
    let (s, client) = services_with_client("objects@example.com").await;
    let app = &s.app;
    add_item(app, &client, "A", 100, 1).await;
    let routes = [
        (reqwest::Method::POST, "/clients".to_owned()),
        (reqwest::Method::PUT, format!("/clients/{client}")),
        (reqwest::Method::POST, format!("/panier/{client}/items")),
        (reqwest::Method::PUT, format!("/panier/{client}/items/A")),
        (reqwest::Method::POST, "/commandes".to_owned()),
    ];
    let bodies = [
        r#"["Bob", "bob@example.com"]"#.to_owned(),
        format!(r#"["{client}"]"#),
        r#"["B", "Bob", 100, 2]"#.to_owned(),
        "[5]".to_owned(),
        r#""Bob""#.to_owned(),
        "42".to_owned(),
        "null".to_owned(),
    ];
    for (method, path) in &routes {
        for body in &bodies {
            let response = app
                .http
                .request(method.clone(), app.url(path))
                .header("content-type", "application/json")
                .header("Idempotency-Key", "objects-1")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let problem = problem(response, 400).await;
            assert!(
                problem["detail"].as_str().unwrap().contains("JSON object"),
                "{method} {path} {body}: {problem}"
            );
        }
    }
    assert_eq!(s.db.count("clients", "clients").await, 1);
    let cart: Value = app
        .get(&format!("/panier/{client}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cart["items"][0]["quantity"], 1, "the cart is unchanged");
    assert_eq!(s.db.count("commande", "orders").await, 0);
}

/// Items added while orders are being placed are never lost: every unit
/// added is either in an order or still in the cart, because the clear
/// after an order removes only what that order took (once per order).
#[tokio::test]
async fn items_added_during_placements_are_ordered_or_kept() {
    let (s, client) = services_with_client("race@example.com").await;
    let app = &s.app;
    let mut added: std::collections::BTreeMap<String, i64> = Default::default();
    for round in 0..8 {
        let skus: Vec<String> = (0..4)
            .map(|k| {
                if k % 2 == 0 {
                    "COMMON".to_owned()
                } else {
                    format!("S{round}-{k}")
                }
            })
            .collect();
        let key = format!("race-{round}");
        let adds =
            futures::future::join_all(skus.iter().map(|sku| add_item(app, &client, sku, 100, 1)));
        let (placed, adds) = futures::join!(app.place_order(&client, &key), adds);
        assert!(
            [201, 422].contains(&placed.status().as_u16()),
            "placing answered {}",
            placed.status()
        );
        for (sku, response) in skus.iter().zip(adds) {
            assert_eq!(response.status(), 200, "adding {sku}");
            *added.entry(sku.clone()).or_default() += 1;
        }
    }
    let mut kept: std::collections::BTreeMap<String, i64> = Default::default();
    let orders: Value = app
        .get(&format!("/commandes?client_id={client}&limit=100"))
        .await
        .json()
        .await
        .unwrap();
    for order in orders["items"].as_array().unwrap() {
        for line in order["lines"].as_array().unwrap() {
            *kept
                .entry(line["product_id"].as_str().unwrap().to_owned())
                .or_default() += line["quantity"].as_i64().unwrap();
        }
    }
    let cart: Value = app
        .get(&format!("/panier/{client}"))
        .await
        .json()
        .await
        .unwrap();
    for line in cart["items"].as_array().unwrap() {
        *kept
            .entry(line["product_id"].as_str().unwrap().to_owned())
            .or_default() += line["quantity"].as_i64().unwrap();
    }
    assert_eq!(kept, added, "ordered + still in the cart = added, per SKU");
    assert_eq!(
        s.db.count("commande", "cart_clears").await,
        0,
        "every clear applied"
    );
}

/// A cart holds at most 100 lines (what one order takes): a new SKU in a
/// full cart is a 422 `cart-full` that changes nothing; more of a SKU
/// already there is still fine; the full cart orders.
#[tokio::test]
async fn carts_hold_at_most_what_one_order_takes() {
    let (s, client) = services_with_client("full@example.com").await;
    let app = &s.app;
    for i in 0..100 {
        let added = add_item(app, &client, &format!("SKU-{i}"), 100, 1).await;
        assert_eq!(added.status(), 200, "line {i}");
    }
    let before: Value = app
        .get(&format!("/panier/{client}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(before["items"].as_array().unwrap().len(), 100);
    let refused = problem(add_item(app, &client, "SKU-100", 100, 1).await, 422).await;
    assert!(
        refused["type"].as_str().unwrap().ends_with("/cart-full"),
        "{refused}"
    );
    let after: Value = app
        .get(&format!("/panier/{client}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after, before, "a refused add changed the cart");
    let more = add_item(app, &client, "SKU-7", 100, 2).await;
    assert_eq!(more.status(), 200);
    let order = app.place_order(&client, "full-cart-1").await;
    assert_eq!(order.status(), 201);
    let order: Value = order.json().await.unwrap();
    assert_eq!(order["lines"].as_array().unwrap().len(), 100);
}

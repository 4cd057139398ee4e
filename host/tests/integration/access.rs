//! Who may do what, on both runtimes: every service route needs a bearer
//! token that verifies (401 with a Bearer challenge otherwise); a customer
//! reaches only its own client record, cart and orders (another's is a 404
//! and stays unchanged); staff reaches all; panier's service-only routes
//! answer no one from outside.

use std::time::Duration;

use dev_issuer::{Issuer, Signer, now};
use jsonwebtoken::{Algorithm, Header};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{App, Component, problem, stack};
use crate::tokens::{self, customer, keys};

/// The run issuer's claims for customer `ada`, valid ten minutes.
fn claims() -> Value {
    Issuer::claims("ada", false, Duration::from_secs(600))
}

fn signer() -> &'static Signer {
    &keys().issuer.signer
}

fn with(key: &str, value: Value) -> String {
    let mut c = claims();
    c[key] = value;
    signer().sign(&c)
}

fn without(key: &str) -> String {
    let mut c = claims();
    c.as_object_mut().unwrap().remove(key);
    signer().sign(&c)
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Every token a verifier must refuse, named.
fn refused_tokens() -> Vec<(&'static str, String)> {
    let good = signer().sign(&claims());
    let parts: Vec<&str> = good.split('.').collect();
    let mut tampered_claims = claims();
    tampered_claims["roles"] = json!(["staff"]);
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(tampered_claims.to_string().as_bytes()),
        parts[2]
    );
    let none_header = json!({"alg": "none", "typ": "JWT", "kid": signer().kid()});
    let alg_none = format!(
        "{}.{}.",
        b64(none_header.to_string().as_bytes()),
        b64(claims().to_string().as_bytes())
    );
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some(signer().kid().to_owned());
    let public = serde_json::to_vec(signer().jwk()).unwrap();
    let hs256 = jsonwebtoken::encode(
        &hs_header,
        &claims(),
        &jsonwebtoken::EncodingKey::from_secret(&public).unwrap(),
    )
    .unwrap();
    let mut forged_header = Header::new(Algorithm::EdDSA);
    forged_header.kid = Some(signer().kid().to_owned());
    let forged = Signer::ed25519(&[9u8; 32])
        .unwrap()
        .sign_with(&forged_header, &claims());
    let unknown_kid = Signer::ed25519(&[8u8; 32]).unwrap().sign(&claims());
    vec![
        ("expired", with("exp", json!(now() - 300))),
        ("not yet valid", with("nbf", json!(now() + 300))),
        (
            "wrong issuer",
            with("iss", json!("https://elsewhere.example")),
        ),
        ("wrong audience", with("aud", json!("another-api"))),
        ("missing exp", without("exp")),
        ("unknown kid", unknown_kid),
        ("forged signature", forged),
        ("alg none", alg_none),
        ("HS256 keyed with the public key", hs256),
        ("tampered payload", tampered),
        ("not a JWT", "not-a-jwt".to_owned()),
    ]
}

/// No token, and each bad one, is a 401 problem with a Bearer challenge
/// (naming `invalid_token` once a token was sent), on every service.
#[tokio::test]
async fn bad_or_missing_tokens_are_401_with_a_challenge() {
    let s = stack(Component::all_services(), &[]).await;
    let app = &s.app;
    for path in [
        "/clients/me",
        "/panier/7d3c1b0e-3f4a-4c7e-9a2b-1c2d3e4f5a6b",
        "/commandes",
    ] {
        let response = app.as_caller(Method::GET, path, None).send().await.unwrap();
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(challenge, "Bearer realm=\"comptoir\"", "{path}");
        problem(response, 401).await;
    }
    for (what, token) in refused_tokens() {
        let response = app
            .as_caller(Method::GET, "/clients/me", Some(&token))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{what}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.starts_with("Bearer realm=\"comptoir\", error=\"invalid_token\""),
            "{what}: {challenge}"
        );
        let body = problem(response, 401).await;
        assert!(
            !body.to_string().contains(&token),
            "{what}: the token is echoed"
        );
    }
}

/// Tokens signed with each accepted algorithm (EdDSA, RS256, ES256) work.
#[tokio::test]
async fn eddsa_rs256_and_es256_tokens_are_accepted() {
    let s = stack(vec![Component::clients()], &[]).await;
    for (signer, sub) in [
        (&keys().issuer.signer, "alg-eddsa"),
        (&keys().rs256, "alg-rs256"),
        (&keys().es256, "alg-es256"),
    ] {
        let token = signer.sign(&Issuer::claims(sub, false, Duration::from_secs(600)));
        let response = s
            .app
            .as_caller(Method::POST, "/clients", Some(&token))
            .json(&json!({"name": sub, "email": format!("{sub}@example.com")}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{sub}");
    }
}

/// `method path` as `token`, with an optional JSON body.
async fn call(
    app: &App,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let request = app.as_caller(method, path, Some(token));
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    request.send().await.unwrap()
}

/// A customer's own record, cart and order.
struct Customer {
    token: String,
    client: String,
    order: String,
}

async fn customer_with_order(app: &App, sub: &str) -> Customer {
    for sku in ["A-1", "B-2", "C-3", "X-9"] {
        app.product(sku, 100, 1_000_000).await;
    }
    let token = customer(sub);
    let created = call(
        app,
        &token,
        Method::POST,
        "/clients",
        Some(json!({"name": sub, "email": format!("{sub}@example.com")})),
    )
    .await;
    assert_eq!(created.status(), 201);
    let client: Value = created.json().await.unwrap();
    let client = client["id"].as_str().unwrap().to_owned();
    for sku in ["A-1", "B-2"] {
        let added = call(
            app,
            &token,
            Method::POST,
            &format!("/panier/{client}/items"),
            Some(json!({"product_id": sku, "quantity": 1})),
        )
        .await;
        assert_eq!(added.status(), 200);
    }
    let placed = app
        .as_caller(Method::POST, "/commandes", Some(&token))
        .header("Idempotency-Key", format!("order-of-{sub}"))
        .json(&json!({"client_id": client}))
        .send()
        .await
        .unwrap();
    assert_eq!(placed.status(), 201);
    let order: Value = placed.json().await.unwrap();
    // A line left in the cart, to see whether anyone else could change it.
    let added = call(
        app,
        &token,
        Method::POST,
        &format!("/panier/{client}/items"),
        Some(json!({"product_id": "C-3", "quantity": 2})),
    )
    .await;
    assert_eq!(added.status(), 200);
    Customer {
        token,
        client,
        order: order["id"].as_str().unwrap().to_owned(),
    }
}

/// What `who` sees of `owner`'s data (as staff sees it), to compare before
/// and after an attempt.
async fn snapshot(app: &App, owner: &Customer) -> Value {
    let staff = tokens::staff();
    let mut seen = Vec::new();
    for path in [
        format!("/clients/{}", owner.client),
        format!("/panier/{}", owner.client),
        format!("/commandes/{}", owner.order),
    ] {
        let response = call(app, staff, Method::GET, &path, None).await;
        assert_eq!(response.status(), 200, "{path}");
        let mut body: Value = response.json().await.unwrap();
        body.as_object_mut().unwrap().remove("updated_at");
        seen.push(body);
    }
    json!(seen)
}

/// Two customers cannot read, change, delete or order from each other's
/// records, carts and orders: each attempt is a 404 and changes nothing;
/// their own work; staff reaches both; customers list only their orders.
#[tokio::test]
async fn customers_reach_only_their_own_records() {
    let s = stack(Component::all_services(), &[]).await;
    let app = &s.app;
    let ada = customer_with_order(app, "ada").await;
    let bob = customer_with_order(app, "bob").await;

    let before = snapshot(app, &ada).await;
    let a = &ada.client;
    let attempts: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/clients/{a}"), None),
        (
            Method::PUT,
            format!("/clients/{a}"),
            Some(json!({"name": "Mallory", "email": "mallory@example.com"})),
        ),
        (Method::DELETE, format!("/clients/{a}"), None),
        (Method::GET, format!("/panier/{a}"), None),
        (Method::DELETE, format!("/panier/{a}"), None),
        (
            Method::POST,
            format!("/panier/{a}/items"),
            Some(json!({"product_id": "X-9", "quantity": 1})),
        ),
        (
            Method::PUT,
            format!("/panier/{a}/items/C-3"),
            Some(json!({"quantity": 7})),
        ),
        (Method::DELETE, format!("/panier/{a}/items/C-3"), None),
        (Method::GET, format!("/commandes/{}", ada.order), None),
        (
            Method::POST,
            format!("/commandes/{}/cancel", ada.order),
            None,
        ),
    ];
    for (method, path, body) in attempts {
        let response = call(app, &bob.token, method.clone(), &path, body).await;
        assert_eq!(response.status(), 404, "bob: {method} {path}");
    }
    let ordered = app
        .as_caller(Method::POST, "/commandes", Some(&bob.token))
        .header("Idempotency-Key", "bob-orders-ada")
        .json(&json!({"client_id": a}))
        .send()
        .await
        .unwrap();
    assert_eq!(ordered.status(), 404, "bob orders from ada's cart");
    // Bob replays Ada's key with Ada's client id: not her order.
    let replay = app
        .as_caller(Method::POST, "/commandes", Some(&bob.token))
        .header("Idempotency-Key", "order-of-ada")
        .json(&json!({"client_id": a}))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 422, "bob replays ada's key");
    assert_eq!(snapshot(app, &ada).await, before, "ada's data changed");

    // Listing: a customer sees its own orders only, and no client list.
    let listed: Value = call(app, &bob.token, Method::GET, "/commandes", None)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [bob.order.as_str()]);
    let filtered: Value = call(
        app,
        &bob.token,
        Method::GET,
        &format!("/commandes?client_id={a}"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(filtered["items"], json!([]));
    let clients = call(app, &bob.token, Method::GET, "/clients", None).await;
    assert_eq!(clients.status(), 403);
    let challenge = clients.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );

    // Their own: GET /clients/me, a second record refused.
    let me: Value = call(app, &ada.token, Method::GET, "/clients/me", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], ada.client.as_str());
    let again = call(
        app,
        &ada.token,
        Method::POST,
        "/clients",
        Some(json!({"name": "Ada 2", "email": "ada2@example.com"})),
    )
    .await;
    assert_eq!(again.status(), 409);
    let cancelled = call(
        app,
        &ada.token,
        Method::POST,
        &format!("/commandes/{}/cancel", ada.order),
        None,
    )
    .await;
    assert_eq!(cancelled.status(), 200);

    // Staff reaches both.
    let staff = tokens::staff();
    for customer in [&ada, &bob] {
        let cart = call(
            app,
            staff,
            Method::GET,
            &format!("/panier/{}", customer.client),
            None,
        )
        .await;
        assert_eq!(cart.status(), 200);
    }
    let all: Value = call(app, staff, Method::GET, "/commandes", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let deleted = call(
        app,
        staff,
        Method::DELETE,
        &format!("/clients/{}", bob.client),
        None,
    )
    .await;
    assert_eq!(deleted.status(), 204);
}

/// panier's checkout and forget are not routes from outside, for anyone:
/// staff included, a 404, and the cart keeps its lines.
#[tokio::test]
async fn service_only_routes_are_not_public() {
    let s = stack(Component::all_services(), &[]).await;
    let app = &s.app;
    let ada = customer_with_order(app, "ada").await;
    let before = snapshot(app, &ada).await;
    let checkout = json!({"order_id": "0b7f0c3e-5b6a-4f0e-9a6b-2c3d4e5f6a7b",
                          "lines": [{"product_id": "C-3", "quantity": 2}]});
    for token in [tokens::staff(), ada.token.as_str()] {
        let response = call(
            app,
            token,
            Method::POST,
            &format!("/panier/{}/checkout", ada.client),
            Some(checkout.clone()),
        )
        .await;
        assert_eq!(response.status(), 404);
        let response = call(
            app,
            token,
            Method::POST,
            &format!("/panier/{}/forget", ada.client),
            None,
        )
        .await;
        assert_eq!(response.status(), 404);
    }
    assert_eq!(snapshot(app, &ada).await, before);
}

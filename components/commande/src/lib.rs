//! The commande service: orders placed from a client's cart.
//!
//! Routes (see DESIGN.md §4): `POST /commandes` (`{client_id}` +
//! `Idempotency-Key`), `GET /commandes?client_id=`, `GET /commandes/{id}`,
//! `POST /commandes/{id}/cancel`.
//!
//! Placing an order: check the client (clients service), read the cart
//! (panier service), compute lines and total from it, then store the order,
//! its lines, its idempotency key and a "clear this cart" outbox row in one
//! transaction; only then clear the cart. A clear that fails leaves the
//! outbox row, retried on later placements (and on a replay of the same
//! key): the order is never rolled back, lost or duplicated.

pub mod domain;
mod store;

use comptoir_kit::page::PageRequest;
use comptoir_kit::reply::Reply;
use comptoir_kit::request::{self, Query};
use comptoir_kit::{HandlerResult, Problem, chain, db, reply};
use serde_json::json;
use spin_sdk::http::{Method, Request, StatusCode};
use spin_sdk::http_service;
use spin_sdk::pg::Connection;
use uuid::Uuid;

use crate::domain::{CartView, Draft, Order, PlaceOrderBody};
use crate::store::Placed;

/// Outbox rows retried per placement, besides the new order's own.
const CLEARS_PER_REQUEST: i64 = 5;

#[http_service]
async fn handle(request: Request) -> Reply {
    route(request).await.unwrap_or_else(Problem::into_reply)
}

async fn route(request: Request) -> HandlerResult {
    let uri = request.uri().clone();
    let method = request.method().clone();
    match (method, request::segments(&uri).as_slice()) {
        (Method::POST, ["commandes"]) => place(request).await,
        (Method::GET, ["commandes"]) => list(&Query::of(&uri)).await,
        (_, ["commandes"]) => Err(Problem::method_not_allowed("GET, POST")),
        (Method::GET, ["commandes", id]) => get(request::parse_uuid(id, "order id")?).await,
        (_, ["commandes", _]) => Err(Problem::method_not_allowed("GET")),
        (Method::POST, ["commandes", id, "cancel"]) => {
            cancel(request::parse_uuid(id, "order id")?).await
        }
        (_, ["commandes", _, "cancel"]) => Err(Problem::method_not_allowed("POST")),
        _ => Err(Problem::not_found(format!("no route for {}", uri.path()))),
    }
}

fn created(order: &Order) -> Reply {
    let mut reply = reply::json(StatusCode::CREATED, order);
    if let Ok(location) = format!("/commandes/{}", order.id).parse() {
        reply.headers_mut().insert("location", location);
    }
    reply
}

async fn place(request: Request) -> HandlerResult {
    let key = request::header(&request, "idempotency-key");
    let key = domain::parse_idempotency_key(key.as_deref())?;
    let body: PlaceOrderBody = request::json_body(request).await?;
    let client = body.client_id;
    let db = db::open().await?;

    if let Some(order) = store::by_idempotency_key(&db, &key).await? {
        return replay(&db, order, client).await;
    }
    if !chain::client_exists(client).await? {
        return Err(Problem::not_found(format!("no client {client}")));
    }
    let cart = chain::get("panier", &format!("/panier/{client}")).await?;
    let cart: CartView = match cart.status {
        StatusCode::OK => cart.json("panier")?,
        StatusCode::NOT_FOUND => return Err(Problem::not_found(format!("no client {client}"))),
        status => {
            return Err(Problem::unavailable(format!(
                "the panier service answered {status}"
            )));
        }
    };
    let draft = match Draft::from_cart(cart) {
        Ok(draft) => draft,
        Err(problem) => {
            // A concurrent request with the same key may have placed the
            // order and cleared the cart since we looked: answer as a replay.
            return match store::by_idempotency_key(&db, &key).await? {
                Some(order) => replay(&db, order, client).await,
                None => Err(problem),
            };
        }
    };
    match store::place(&db, client, &key, &draft).await? {
        Placed::Created(order) => {
            flush_clears(&db, Some(order.id)).await;
            flush_clears(&db, None).await;
            Ok(created(&order))
        }
        Placed::AlreadyPlaced => {
            let order = store::by_idempotency_key(&db, &key)
                .await?
                .ok_or_else(|| Problem::internal("a concurrent order vanished"))?;
            replay(&db, order, client).await
        }
    }
}

/// The answer to a repeated `Idempotency-Key`: the same order and status,
/// after retrying its cart clear if that is still pending.
async fn replay(db: &Connection, order: Order, client: Uuid) -> HandlerResult {
    if order.client_id != client {
        return Err(Problem::rule(
            "idempotency-key-reused",
            "this Idempotency-Key was used for another client's order",
        ));
    }
    flush_clears(db, Some(order.id)).await;
    Ok(created(&order))
}

/// Clears carts whose order committed (best effort: failures stay queued).
async fn flush_clears(db: &Connection, order: Option<Uuid>) {
    let limit = if order.is_some() {
        1
    } else {
        CLEARS_PER_REQUEST
    };
    let Ok(pending) = store::pending_clears(db, order, limit).await else {
        return;
    };
    for pending in pending {
        // Only what the order took leaves the cart (once per order), so an
        // item added since the order read the cart stays in it.
        let lines: Vec<_> = pending
            .product_ids
            .iter()
            .zip(&pending.quantities)
            .map(|(product_id, quantity)| json!({"product_id": product_id, "quantity": quantity}))
            .collect();
        let body = json!({"order_id": pending.order, "lines": lines});
        let path = format!("/panier/{}/checkout", pending.client);
        let cleared = matches!(
            chain::call("panier", Method::POST, &path, Some(&body)).await,
            Ok(reply) if reply.status == StatusCode::NO_CONTENT || reply.status == StatusCode::NOT_FOUND
        );
        if !cleared {
            eprintln!(
                "clearing the cart of order {} failed; will retry",
                pending.order
            );
        }
        let _ = store::clear_outcome(db, pending.order, cleared).await;
    }
}

async fn list(query: &Query) -> HandlerResult {
    let client = query
        .get("client_id")
        .map(|raw| request::parse_uuid(raw, "client_id"))
        .transpose()?;
    let page = PageRequest::parse(query)?;
    let db = db::open().await?;
    Ok(reply::json(
        StatusCode::OK,
        &store::list(&db, client, page).await?,
    ))
}

async fn get(id: Uuid) -> HandlerResult {
    let db = db::open().await?;
    let order = store::get(&db, id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no order {id}")))?;
    Ok(reply::json(StatusCode::OK, &order))
}

async fn cancel(id: Uuid) -> HandlerResult {
    let db = db::open().await?;
    let order = store::cancel(&db, id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no order {id}")))?;
    Ok(reply::json(StatusCode::OK, &order))
}

//! The commande service: orders placed from a client's cart.
//!
//! Routes (see DESIGN.md §4): `POST /commandes` (`{client_id}` +
//! `Idempotency-Key`), `GET /commandes?client_id=`, `GET /commandes/{id}`,
//! `POST /commandes/{id}/cancel`.
//!
//! Placing an order: read the cart from the panier service (whose 404 says
//! the client is unknown or deleted: clients is not asked), compute lines
//! and total from it, then store the order, its lines, its idempotency key
//! and a "clear this cart" outbox row in one statement; only then clear the
//! cart. A clear that fails leaves the outbox row, retried by later
//! placements (the statement recording a successful clear returns stale
//! queued ones, so an empty outbox costs nothing) and by a replay of the
//! same key: the order is never rolled back, lost or duplicated.

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
use crate::store::{PendingClear, Placed};

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

    // No separate key lookup and no question to clients: panier's answer
    // says whether the client exists (404), and the insert below is what
    // detects a replay. A replay whose cart is gone or emptied (by the
    // order it placed) is recognised on those error paths.
    let draft = match read_cart(client).await.and_then(Draft::from_cart) {
        Ok(draft) => draft,
        Err(problem) => return replay_or(&db, &key, client, problem).await,
    };
    match store::place(&db, client, &key, &draft).await? {
        Placed::Created(order) => {
            let cleared = clear_cart(order.id, client, &draft_clear(&draft)).await;
            // The statement recording this clear also returns any stale
            // clear still queued: nothing else is read when none is.
            if let Ok(stale) =
                store::clear_outcome(&db, order.id, cleared, CLEARS_PER_REQUEST).await
            {
                retry_clears(&db, stale).await;
            }
            Ok(created(&order))
        }
        Placed::AlreadyPlaced => {
            replay_or(
                &db,
                &key,
                client,
                Problem::internal("a concurrent order vanished"),
            )
            .await
        }
    }
}

/// The client's cart, from panier (which answers 404 for an unknown or
/// deleted client).
async fn read_cart(client: Uuid) -> Result<CartView, Problem> {
    let cart = chain::get("panier", &format!("/panier/{client}")).await?;
    match cart.status {
        StatusCode::OK => cart.json("panier"),
        StatusCode::NOT_FOUND => Err(Problem::not_found(format!("no client {client}"))),
        status => Err(Problem::unavailable(format!(
            "the panier service answered {status}"
        ))),
    }
}

/// The order placed with `key` if there is one (a replay), else `problem`.
async fn replay_or(db: &Connection, key: &str, client: Uuid, problem: Problem) -> HandlerResult {
    match store::by_idempotency_key(db, key).await? {
        Some((order, pending)) => replay(db, order, pending, client).await,
        None => Err(problem),
    }
}

/// The answer to a repeated `Idempotency-Key`: the same order and status,
/// after retrying its cart clear if that is still pending.
async fn replay(db: &Connection, order: Order, pending: bool, client: Uuid) -> HandlerResult {
    if order.client_id != client {
        return Err(Problem::rule(
            "idempotency-key-reused",
            "this Idempotency-Key was used for another client's order",
        ));
    }
    if pending {
        let lines = domain::ordered_lines(&order.lines);
        let cleared = clear_cart(order.id, client, &lines).await;
        let _ = store::clear_outcome(db, order.id, cleared, 0).await;
    }
    Ok(created(&order))
}

/// What the checkout of `draft` takes off the cart.
fn draft_clear(draft: &Draft) -> Vec<(String, i32)> {
    domain::ordered_lines(&draft.lines)
}

/// Asks panier to take `lines` (what `order` took) off the client's cart,
/// once per order; whether it confirmed.
async fn clear_cart(order: Uuid, client: Uuid, lines: &[(String, i32)]) -> bool {
    // Only what the order took leaves the cart (once per order), so an item
    // added since the order read the cart stays in it.
    let lines: Vec<_> = lines
        .iter()
        .map(|(product_id, quantity)| json!({"product_id": product_id, "quantity": quantity}))
        .collect();
    let body = json!({"order_id": order, "lines": lines});
    let path = format!("/panier/{client}/checkout");
    let cleared = matches!(
        chain::call("panier", Method::POST, &path, Some(&body)).await,
        Ok(reply) if reply.status == StatusCode::NO_CONTENT || reply.status == StatusCode::NOT_FOUND
    );
    if !cleared {
        eprintln!("clearing the cart of order {order} failed; will retry");
    }
    cleared
}

/// Retries other orders' queued cart clears (best effort: failures stay
/// queued).
async fn retry_clears(db: &Connection, stale: Vec<PendingClear>) {
    for pending in stale {
        let lines: Vec<_> = pending
            .product_ids
            .into_iter()
            .zip(pending.quantities)
            .collect();
        let cleared = clear_cart(pending.order, pending.client, &lines).await;
        let _ = store::clear_outcome(db, pending.order, cleared, 0).await;
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

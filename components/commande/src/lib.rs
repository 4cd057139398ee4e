//! The commande service: orders placed from a client's cart.
//!
//! Routes (docs/api.md): `POST /commandes` (`{client_id}` +
//! `Idempotency-Key`), `GET /commandes?client_id=`, `GET /commandes/{id}`,
//! `POST /commandes/{id}/cancel`. A customer orders from its own cart and
//! reaches its own orders only (another's is a 404); staff reaches all.
//!
//! Placing an order: read the cart from the panier service, as the caller
//! (whose 404 says the client is unknown, deleted or not the caller's:
//! clients is not asked), compute lines and total from it, then store the
//! order, pending, with its lines and idempotency key in one statement.
//! Then reserve its stock at the prices the customer saw, through the
//! catalogue's private endpoint (all or nothing, once per order): held, the
//! order is validated and a "clear this cart" outbox row queued in one
//! statement; refused (`price-changed`, `out-of-stock`: 409), the order is
//! deleted and a release of whatever it may hold queued in one statement.
//! A pending order a crash left is settled by a replay of its key or by a
//! later placement; a cancellation queues the release of its stock. Only
//! then clear the
//! cart, through panier's private endpoint (as the service: the outbox
//! clears other customers' carts too). A clear that fails leaves the outbox row, retried by later
//! placements (the statement recording a successful clear returns stale
//! queued ones, so an empty outbox costs nothing) and by a replay of the
//! same key: the order is never rolled back, lost or duplicated.
//!
//! This file is the thin spin-sdk adapter (routing, chaining, statements);
//! [`placement`] decides what a placement answers and what the outbox
//! does, [`domain`] holds the order rules and `store` the SQL.

pub mod domain;
pub mod placement;
mod store;

use comptoir_kit::page::PageRequest;
use comptoir_kit::request::{self, Query};
use comptoir_kit::{Caller, HandlerResult, Problem, Reply, chain, db, reply};
use spin_sdk::http::{Method, Request, StatusCode};
use spin_sdk::http_service;
use spin_sdk::pg::Connection;
use uuid::Uuid;

use comptoir_kit::product::{Current, Reservation};

use crate::domain::{CartView, Draft, Order, OrderStatus, PlaceOrderBody};
use crate::placement::{CLEARS_PER_REQUEST, Clear, Decision, Found, Outbox, Settlement, Stale};

#[http_service]
async fn handle(request: Request) -> Reply {
    comptoir_kit::serve(request, route).await
}

async fn route(method: Method, path: &[&str], request: Request, caller: Caller) -> HandlerResult {
    match (method, path) {
        (Method::POST, ["commandes"]) => place(request, &caller).await,
        (Method::GET, ["commandes"]) => list(&Query::of(request.uri()), &caller).await,
        (_, ["commandes"]) => Err(Problem::method_not_allowed("GET, POST")),
        (Method::GET, ["commandes", id]) => {
            get(request::parse_uuid(id, "order id")?, &caller).await
        }
        (_, ["commandes", _]) => Err(Problem::method_not_allowed("GET")),
        (Method::POST, ["commandes", id, "cancel"]) => {
            cancel(request::parse_uuid(id, "order id")?, &caller).await
        }
        (_, ["commandes", _, "cancel"]) => Err(Problem::method_not_allowed("POST")),
        _ => Err(comptoir_kit::no_route(&request)),
    }
}

fn created(order: &Order) -> Reply {
    let mut reply = reply::json(StatusCode::CREATED, order);
    if let Ok(location) = format!("/commandes/{}", order.id).parse() {
        reply.headers_mut().insert("location", location);
    }
    reply
}

/// Reads what [`placement::decide`] needs, in as few statements as it
/// takes, then does what it decided.
async fn place(request: Request, caller: &Caller) -> HandlerResult {
    let key = request::header(&request, "idempotency-key");
    let key = domain::parse_idempotency_key(key.as_deref())?;
    let body: PlaceOrderBody = request::json_body(request).await?;
    let client = body.client_id;
    let db = db::open().await?;

    // No separate key lookup and no question to clients: panier's answer
    // says whether the client exists (404), and the insert below is what
    // detects a replay; the key is read only when one of them stops the
    // placement.
    let found = match read_cart(client, caller).await.and_then(Draft::from_cart) {
        Ok(draft) => match store::place(&db, client, &key, &draft, draft.owner).await? {
            Some(order) => Found::Inserted(order),
            None => Found::KeyTaken {
                prior: store::by_idempotency_key(&db, &key).await?,
            },
        },
        Err(problem) => Found::NoDraft {
            problem,
            prior: store::by_idempotency_key(&db, &key).await?,
        },
    };
    match placement::decide(client, caller.scope(), found) {
        Decision::Answer { order, clear } => {
            if let Some(clear) = clear {
                flush_clears(&db, &clear).await;
            }
            Ok(created(&order))
        }
        Decision::Settle(order) => {
            let (order, stale) = settle(&db, order).await?;
            if order.status == OrderStatus::Validated {
                flush_clears(&db, &Clear::of(&order, CLEARS_PER_REQUEST)).await;
            }
            take_up(&db, stale).await;
            Ok(created(&order))
        }
        Decision::Refuse(problem) => Err(problem),
    }
}

/// Reserves pending `order`'s stock and validates it, or refuses it
/// (deleted, whatever it may hold given back): the order as it now stands,
/// with the stale work its validation found.
async fn settle(db: &Connection, order: Order) -> Result<(Order, Stale), Problem> {
    match placement::settle(reserve(&order).await) {
        Settlement::Validate => {
            match store::validate(db, &order).await? {
                Some(settled) => Ok(settled),
                // Settled meanwhile by a concurrent attempt: answer as it stands.
                None => settled_elsewhere(db, order.id, placement::given_up).await,
            }
        }
        Settlement::Refuse { problem, reprice } => {
            if !store::refuse(db, order.id).await? {
                return settled_elsewhere(db, order.id, || problem).await;
            }
            release(db, order.id).await;
            if !reprice.is_empty() {
                show_prices(order.client_id, &reprice).await;
            }
            Err(problem)
        }
        Settlement::Unknown(problem) => Err(problem),
    }
}

/// Order `id` as a concurrent attempt left it, if that validated it;
/// `otherwise` if it is gone.
async fn settled_elsewhere(
    db: &Connection,
    id: Uuid,
    otherwise: impl FnOnce() -> Problem,
) -> Result<(Order, Stale), Problem> {
    match store::get(db, id, None).await? {
        Some(order) if order.status != OrderStatus::Pending => Ok((order, Stale::default())),
        _ => Err(otherwise()),
    }
}

/// The catalogue's answer to reserving `order`'s lines (`None`: none).
async fn reserve(order: &Order) -> Option<Reservation> {
    let body = serde_json::to_value(placement::reservation(order)).ok()?;
    let path = format!("/reservations/{}", order.id);
    let answer = chain::call(
        chain::CATALOGUE_INTERNAL,
        Method::PUT,
        &path,
        Some(&body),
        None,
    )
    .await
    .ok()?;
    if answer.status != StatusCode::OK {
        eprintln!(
            "the catalogue answered {} to reserving order {}",
            answer.status, order.id
        );
        return None;
    }
    answer.json("catalogue").ok()
}

/// Asks the catalogue to give back what order `id` holds, and records it
/// when confirmed (a release not confirmed stays queued: retried later).
async fn release(db: &Connection, id: Uuid) {
    let path = format!("/reservations/{id}");
    let answer = chain::call(chain::CATALOGUE_INTERNAL, Method::DELETE, &path, None, None).await;
    if matches!(&answer, Ok(a) if a.status == StatusCode::OK) {
        let _ = store::released(db, id).await;
    } else {
        eprintln!("releasing the stock of order {id} failed; will retry");
    }
}

/// Shows the catalogue's new prices in the client's cart (best effort: the
/// next add or placement shows them anyway).
async fn show_prices(client: Uuid, lines: &[Current]) {
    let lines: Vec<_> = lines
        .iter()
        .filter_map(|l| {
            Some(serde_json::json!({
                "product_id": l.sku,
                "name": l.name.as_deref()?,
                "unit_price_cents": l.price_cents?,
            }))
        })
        .collect();
    let body = serde_json::json!({ "lines": lines });
    let path = format!("/panier/{client}/prices");
    if chain::call(
        chain::PANIER_INTERNAL,
        Method::POST,
        &path,
        Some(&body),
        None,
    )
    .await
    .is_err()
    {
        eprintln!("showing new prices in the cart of client {client} failed");
    }
}

/// Takes up what dead placements left: settles their pending orders (and
/// clears their carts), retries unconfirmed releases. Best effort: what
/// fails stays for a later placement.
async fn take_up(db: &Connection, stale: Stale) {
    for id in stale.releases {
        release(db, id).await;
    }
    for id in stale.pending {
        let Ok(Some(order)) = store::get(db, id, None).await else {
            continue;
        };
        if order.status != OrderStatus::Pending {
            continue;
        }
        if let Ok((order, _)) = settle(db, order).await
            && order.status == OrderStatus::Validated
        {
            flush_clears(db, &Clear::of(&order, 0)).await;
        }
    }
}

/// The client's cart, from panier, as `caller` (panier answers 404 for an
/// unknown or deleted client, or one the caller does not reach).
async fn read_cart(client: Uuid, caller: &Caller) -> Result<CartView, Problem> {
    let cart = chain::get("panier", &format!("/panier/{client}"), caller).await?;
    match cart.status {
        StatusCode::OK => cart.json("panier"),
        StatusCode::NOT_FOUND => Err(Problem::not_found(format!("no client {client}"))),
        status => Err(Problem::unavailable(format!(
            "the panier service answered {status}"
        ))),
    }
}

/// Runs `clear`, then the stale clears of other orders its confirmation
/// brought back (best effort: a clear that fails stays queued, the order
/// stands).
async fn flush_clears(db: &Connection, clear: &Clear) {
    for stale in run_clear(db, clear).await {
        run_clear(db, &stale).await;
    }
}

/// Asks panier for `clear`'s checkout and records the outcome in the
/// outbox; the stale clears that record returned.
async fn run_clear(db: &Connection, clear: &Clear) -> Vec<Clear> {
    let answer = chain::call(
        chain::PANIER_INTERNAL,
        Method::POST,
        &clear.path(),
        Some(&clear.body()),
        None,
    )
    .await;
    let step = placement::after_checkout(clear, answer.ok().map(|a| a.status));
    if step == Outbox::Keep {
        eprintln!(
            "clearing the cart of order {} failed; will retry",
            clear.order
        );
    }
    store::record_clear(db, clear.order, step)
        .await
        .unwrap_or_default()
}

async fn list(query: &Query, caller: &Caller) -> HandlerResult {
    let client = query
        .get("client_id")
        .map(|raw| request::parse_uuid(raw, "client_id"))
        .transpose()?;
    let page = PageRequest::parse(query)?;
    let db = db::open().await?;
    Ok(reply::json(
        StatusCode::OK,
        &store::list(&db, client, caller.scope(), page).await?,
    ))
}

async fn get(id: Uuid, caller: &Caller) -> HandlerResult {
    let db = db::open().await?;
    let order = store::get(&db, id, caller.scope())
        .await?
        .ok_or_else(|| Problem::not_found(format!("no order {id}")))?;
    Ok(reply::json(StatusCode::OK, &order))
}

/// Cancels the order, then gives its stock back (queued in the same
/// transaction as the cancellation: a release that fails is retried by
/// later placements, never lost nor done twice).
async fn cancel(id: Uuid, caller: &Caller) -> HandlerResult {
    let db = db::open().await?;
    let order = store::cancel(&db, id, caller.scope())
        .await?
        .ok_or_else(|| Problem::not_found(format!("no order {id}")))?;
    release(&db, order.id).await;
    Ok(reply::json(StatusCode::OK, &order))
}

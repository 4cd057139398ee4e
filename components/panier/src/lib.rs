//! The panier service: each client's shopping cart.
//!
//! Routes (see DESIGN.md §4): `GET|DELETE /panier/{client_id}`,
//! `POST /panier/{client_id}/items`, `PUT|DELETE
//! /panier/{client_id}/items/{product_id}`, and two routes other services
//! call: `POST /panier/{client_id}/checkout` (commande, after an order) and
//! `POST /panier/{client_id}/forget` (clients, after deleting a client).
//!
//! The clients service is asked whether a client exists once per cart, not
//! on every operation: a cart row records that its client was verified
//! (when the cart was first written), and a deleted client's cart row
//! becomes a tombstone when clients calls `forget`. Each operation is one
//! statement that checks that record, changes the cart and returns it; only
//! when panier cannot tell (no cart yet) does it ask clients.
//! [`domain`] holds the rules, `store` the SQL.

pub mod domain;
mod store;

use comptoir_kit::request;
use comptoir_kit::{HandlerResult, Problem, Reply, chain, db, reply};
use spin_sdk::http::{Method, Request, StatusCode};
use spin_sdk::http_service;
use spin_sdk::pg::Connection;
use uuid::Uuid;

use crate::domain::{AddItemBody, Checkout, CheckoutBody, ClientStatus, NewItem, SetQuantityBody};
use crate::store::Outcome;

#[http_service]
async fn handle(request: Request) -> Reply {
    #[cfg(feature = "fault-injection")]
    if injected_fault() {
        return Problem::internal("injected fault (a fault-injection build)").into_reply();
    }
    comptoir_kit::serve(request, route).await
}

/// One request in five, at random (the keys of `RandomState` come from
/// the host's randomness).
#[cfg(feature = "fault-injection")]
fn injected_fault() -> bool {
    use std::hash::BuildHasher as _;
    std::collections::hash_map::RandomState::new().hash_one(0u8) % 5 == 0
}

async fn route(method: Method, path: &[&str], request: Request) -> HandlerResult {
    match (method, path) {
        (Method::GET, ["panier", client]) => get(parse_client(client)?).await,
        (Method::DELETE, ["panier", client]) => clear(parse_client(client)?).await,
        (_, ["panier", _]) => Err(Problem::method_not_allowed("GET, DELETE")),
        (Method::POST, ["panier", client, "items"]) => {
            let client = parse_client(client)?;
            add(client, request).await
        }
        (_, ["panier", _, "items"]) => Err(Problem::method_not_allowed("POST")),
        (Method::POST, ["panier", client, "checkout"]) => {
            let client = parse_client(client)?;
            checkout(client, request).await
        }
        (_, ["panier", _, "checkout"]) => Err(Problem::method_not_allowed("POST")),
        (Method::POST, ["panier", client, "forget"]) => forget(parse_client(client)?).await,
        (_, ["panier", _, "forget"]) => Err(Problem::method_not_allowed("POST")),
        (Method::PUT, ["panier", client, "items", product]) => {
            let (client, product) = (parse_client(client)?, parse_product(product)?);
            set_quantity(client, &product, request).await
        }
        (Method::DELETE, ["panier", client, "items", product]) => {
            let (client, product) = (parse_client(client)?, parse_product(product)?);
            change_quantity(client, &product, 0).await
        }
        (_, ["panier", _, "items", _]) => Err(Problem::method_not_allowed("PUT, DELETE")),
        _ => Err(comptoir_kit::no_route(&request)),
    }
}

fn parse_client(raw: &str) -> Result<Uuid, Problem> {
    request::parse_uuid(raw, "client id")
}

fn parse_product(raw: &str) -> Result<String, Problem> {
    if domain::is_sku(raw) {
        Ok(raw.to_owned())
    } else {
        Err(Problem::bad_request(
            "product id must be 1 to 64 letters, digits, '.', '_' or '-'",
        ))
    }
}

fn no_client(client: Uuid) -> Problem {
    Problem::not_found(format!("no client {client}"))
}

/// 404 unless the clients service knows `client`.
async fn ensure_client(client: Uuid) -> Result<(), Problem> {
    if chain::client_exists(client).await? {
        Ok(())
    } else {
        Err(no_client(client))
    }
}

/// Runs `op` (its argument: whether clients was just asked) on a cart
/// whose client panier knows: when the cart's statement cannot tell, asks
/// the clients service once and runs `op` again, told so.
async fn on_known_client<T>(
    client: Uuid,
    op: impl AsyncFn(bool) -> Result<Outcome<T>, Problem>,
) -> Result<T, Problem> {
    let outcome = match op(false).await? {
        Outcome::Unverified => {
            ensure_client(client).await?;
            op(true).await?
        }
        known => known,
    };
    match outcome {
        Outcome::Done(value) => Ok(value),
        Outcome::Unverified | Outcome::Gone => Err(no_client(client)),
    }
}

/// Records that clients confirmed `client` when `checked`; `false` when
/// the client is gone meanwhile.
async fn record_check(db: &Connection, client: Uuid, checked: bool) -> Result<bool, Problem> {
    if checked {
        store::verify(db, client).await
    } else {
        Ok(true)
    }
}

async fn get(client: Uuid) -> HandlerResult {
    let db = db::open().await?;
    let (status, cart) = store::load(&db, client).await?;
    match status {
        ClientStatus::Gone => return Err(no_client(client)),
        ClientStatus::Unknown => ensure_client(client).await?,
        ClientStatus::Verified => {}
    }
    Ok(reply::json(StatusCode::OK, &cart))
}

async fn add(client: Uuid, request: Request) -> HandlerResult {
    let body: AddItemBody = request::json_body(request).await?;
    let item = NewItem::parse(body).map_err(Problem::validation)?;
    let db = db::open().await?;
    // The first add creates the cart, verified, once clients confirmed.
    let cart = on_known_client(client, async |checked| {
        store::add(&db, client, &item, checked).await
    })
    .await?;
    Ok(reply::json(StatusCode::OK, &cart))
}

async fn set_quantity(client: Uuid, product: &str, request: Request) -> HandlerResult {
    let body: SetQuantityBody = request::json_body(request).await?;
    let quantity = domain::parse_quantity(body).map_err(Problem::validation)?;
    change_quantity(client, product, quantity).await
}

async fn change_quantity(client: Uuid, product: &str, quantity: i32) -> HandlerResult {
    let db = db::open().await?;
    let cart = on_known_client(client, async |checked| {
        if !record_check(&db, client, checked).await? {
            return Ok(Outcome::Gone);
        }
        store::set_quantity(&db, client, product, quantity).await
    })
    .await?
    .ok_or_else(|| Problem::not_found(format!("the cart has no item {product}")))?;
    Ok(reply::json(StatusCode::OK, &cart))
}

/// Removes what an order took from the cart (commande's cart clear). No
/// client check: commande read this cart (which checked) before ordering,
/// and a deleted client's cart has no lines left to remove.
async fn checkout(client: Uuid, request: Request) -> HandlerResult {
    let body: CheckoutBody = request::json_body(request).await?;
    let checkout = Checkout::parse(body).map_err(Problem::validation)?;
    let db = db::open().await?;
    store::checkout(&db, client, &checkout).await?;
    Ok(reply::no_content())
}

async fn clear(client: Uuid) -> HandlerResult {
    let db = db::open().await?;
    on_known_client(client, async |checked| {
        if !record_check(&db, client, checked).await? {
            return Ok(Outcome::Gone);
        }
        store::clear(&db, client).await
    })
    .await?;
    Ok(reply::no_content())
}

/// The clients service deleted `client`: remove its cart for good. Only
/// once clients confirms the client is gone (409 otherwise), so calling
/// this route for a live client changes nothing.
async fn forget(client: Uuid) -> HandlerResult {
    if chain::client_exists(client).await? {
        return Err(Problem::conflict(format!(
            "client {client} still exists: only a deleted client's cart is forgotten"
        )));
    }
    let db = db::open().await?;
    store::forget(&db, client).await?;
    Ok(reply::no_content())
}

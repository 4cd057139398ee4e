//! The panier service: each client's shopping cart.
//!
//! Routes (see DESIGN.md §4): `GET|DELETE /panier/{client_id}`,
//! `POST /panier/{client_id}/items`, `POST /panier/{client_id}/checkout`,
//! `PUT|DELETE /panier/{client_id}/items/{product_id}`. Every operation
//! first asks the clients service (service chaining) whether the client
//! exists. [`domain`] holds the rules, `store` the SQL.

pub mod domain;
mod store;

use comptoir_kit::reply::Reply;
use comptoir_kit::request;
use comptoir_kit::{HandlerResult, Problem, chain, db, reply};
use spin_sdk::http::{Method, Request, StatusCode};
use spin_sdk::http_service;
use uuid::Uuid;

use crate::domain::{AddItemBody, Checkout, CheckoutBody, NewItem, SetQuantityBody};

#[http_service]
async fn handle(request: Request) -> Reply {
    route(request).await.unwrap_or_else(Problem::into_reply)
}

async fn route(request: Request) -> HandlerResult {
    let uri = request.uri().clone();
    let method = request.method().clone();
    match (method, request::segments(&uri).as_slice()) {
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
        (Method::PUT, ["panier", client, "items", product]) => {
            let (client, product) = (parse_client(client)?, parse_product(product)?);
            set_quantity(client, &product, request).await
        }
        (Method::DELETE, ["panier", client, "items", product]) => {
            let (client, product) = (parse_client(client)?, parse_product(product)?);
            change_quantity(client, &product, 0).await
        }
        (_, ["panier", _, "items", _]) => Err(Problem::method_not_allowed("PUT, DELETE")),
        _ => Err(Problem::not_found(format!("no route for {}", uri.path()))),
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

/// 404 unless the clients service knows `client`.
async fn ensure_client(client: Uuid) -> Result<(), Problem> {
    if chain::client_exists(client).await? {
        Ok(())
    } else {
        Err(Problem::not_found(format!("no client {client}")))
    }
}

async fn cart_reply(db: &spin_sdk::pg::Connection, client: Uuid) -> HandlerResult {
    Ok(reply::json(StatusCode::OK, &store::load(db, client).await?))
}

async fn get(client: Uuid) -> HandlerResult {
    ensure_client(client).await?;
    let db = db::open().await?;
    cart_reply(&db, client).await
}

async fn add(client: Uuid, request: Request) -> HandlerResult {
    let body: AddItemBody = request::json_body(request).await?;
    let item = NewItem::parse(body).map_err(Problem::validation)?;
    ensure_client(client).await?;
    let db = db::open().await?;
    // One transaction: an item is added only if the answer can be built.
    db::transaction(&db, async |db| {
        store::add(db, client, &item).await?;
        cart_reply(db, client).await
    })
    .await
}

async fn set_quantity(client: Uuid, product: &str, request: Request) -> HandlerResult {
    let body: SetQuantityBody = request::json_body(request).await?;
    let quantity = domain::parse_quantity(body).map_err(Problem::validation)?;
    change_quantity(client, product, quantity).await
}

async fn change_quantity(client: Uuid, product: &str, quantity: i32) -> HandlerResult {
    ensure_client(client).await?;
    let db = db::open().await?;
    db::transaction(&db, async |db| {
        if !store::set_quantity(db, client, product, quantity).await? {
            return Err(Problem::not_found(format!(
                "the cart has no item {product}"
            )));
        }
        cart_reply(db, client).await
    })
    .await
}

/// Removes what an order took from the cart (commande's cart clear).
async fn checkout(client: Uuid, request: Request) -> HandlerResult {
    let body: CheckoutBody = request::json_body(request).await?;
    let checkout = Checkout::parse(body).map_err(Problem::validation)?;
    ensure_client(client).await?;
    let db = db::open().await?;
    store::checkout(&db, client, &checkout).await?;
    Ok(reply::no_content())
}

async fn clear(client: Uuid) -> HandlerResult {
    ensure_client(client).await?;
    let db = db::open().await?;
    store::clear(&db, client).await?;
    Ok(reply::no_content())
}

//! The panier service: each client's shopping cart.
//!
//! Routes (docs/api.md): `GET|DELETE /panier/{client_id}`,
//! `POST /panier/{client_id}/items`, `PUT|DELETE
//! /panier/{client_id}/items/{product_id}`, for the client's owner and
//! staff (another customer's cart is a 404). Two routes only other
//! services call, `POST /panier/{client_id}/checkout` (commande, after an
//! order) and `POST /panier/{client_id}/forget` (clients, after deleting a
//! client), are served only by the `panier-internal` component: the same
//! `.wasm` behind a private endpoint (its variable `internal` is `true`),
//! which nothing outside the app reaches; the public component answers
//! them 404, whoever asks (with or without a token).
//!
//! Prices and names come from the catalogue service (its public read),
//! asked on each add: a customer names a product and a quantity, never a
//! price. A third service-only route, `POST /panier/{client_id}/prices`,
//! shows the catalogue's new price of lines an order was refused for.
//!
//! The clients service is asked whether a client exists (as the caller, so
//! that it checks who owns it) once per cart, not on every operation: a
//! cart row records that its client was verified, and its owner (when the
//! cart was first written), and a deleted client's cart row
//! becomes a tombstone when clients calls `forget`. Each operation is one
//! statement that checks that record, changes the cart and returns it; only
//! when panier cannot tell (no cart yet) does it ask clients.
//! [`domain`] holds the rules, `store` the SQL.

pub mod domain;
mod store;

use comptoir_kit::request;
use comptoir_kit::{Caller, HandlerResult, Problem, Reply, chain, db, reply};
use spin_sdk::http::{Method, Request, StatusCode};
use spin_sdk::http_service;
use spin_sdk::pg::Connection;
use uuid::Uuid;

use comptoir_kit::product::Product;

use crate::domain::{
    AddItemBody, Checkout, CheckoutBody, ClientStatus, NewItem, NotForSale, RepriceBody,
    SetQuantityBody, Wanted,
};
use crate::store::{Access, Outcome};

#[http_service]
async fn handle(request: Request) -> Reply {
    #[cfg(feature = "fault-injection")]
    if injected_fault() {
        return Problem::internal("injected fault (a fault-injection build)").into_reply();
    }
    #[cfg(feature = "slow")]
    spin_sdk::wasip3::clocks::monotonic_clock::wait_for(SLOW.as_nanos() as u64).await;
    // Only a service-only path asks which component this is: the public
    // routes pay no variable read for it.
    if !is_service_only(&request) {
        return comptoir_kit::serve(request, route).await;
    }
    if is_internal().await {
        comptoir_kit::serve_internal(request, internal_route).await
    } else {
        comptoir_kit::no_route(&request).into_reply()
    }
}

/// Whether `request` is for checkout, forget or prices
/// (`/panier/{id}/checkout`, `/forget`, `/prices`), which only
/// `panier-internal` serves.
fn is_service_only(request: &Request) -> bool {
    matches!(
        request::segments(request.uri()).as_slice(),
        ["panier", _, "checkout" | "forget" | "prices"]
    )
}

/// Whether this component is `panier-internal` (variable `internal`).
async fn is_internal() -> bool {
    spin_sdk::variables::get("internal")
        .await
        .is_ok_and(|v| v == "true")
}

/// One request in five, at random (the keys of `RandomState` come from
/// the host's randomness).
#[cfg(feature = "fault-injection")]
fn injected_fault() -> bool {
    use std::hash::BuildHasher as _;
    std::collections::hash_map::RandomState::new().hash_one(0u8) % 5 == 0
}

/// How long each request of a `slow` build waits before it is served.
#[cfg(feature = "slow")]
const SLOW: std::time::Duration = std::time::Duration::from_millis(300);

/// The public routes: a caller's cart.
async fn route(method: Method, path: &[&str], request: Request, caller: Caller) -> HandlerResult {
    match (method, path) {
        (Method::GET, ["panier", client]) => get(parse_client(client)?, &caller).await,
        (Method::DELETE, ["panier", client]) => clear(parse_client(client)?, &caller).await,
        (_, ["panier", _]) => Err(Problem::method_not_allowed("GET, DELETE")),
        (Method::POST, ["panier", client, "items"]) => {
            let client = parse_client(client)?;
            add(client, request, &caller).await
        }
        (_, ["panier", _, "items"]) => Err(Problem::method_not_allowed("POST")),
        (Method::PUT, ["panier", client, "items", product]) => {
            let (client, product) = (parse_client(client)?, parse_product(product)?);
            set_quantity(client, &product, request, &caller).await
        }
        (Method::DELETE, ["panier", client, "items", product]) => {
            let (client, product) = (parse_client(client)?, parse_product(product)?);
            change_quantity(client, &product, 0, &caller).await
        }
        (_, ["panier", _, "items", _]) => Err(Problem::method_not_allowed("PUT, DELETE")),
        _ => Err(comptoir_kit::no_route(&request)),
    }
}

/// The service-only routes, on the private endpoint.
async fn internal_route(method: Method, path: &[&str], request: Request) -> HandlerResult {
    match (method, path) {
        (Method::POST, ["panier", client, "checkout"]) => {
            let client = parse_client(client)?;
            checkout(client, request).await
        }
        (Method::POST, ["panier", client, "forget"]) => forget(parse_client(client)?).await,
        (Method::POST, ["panier", client, "prices"]) => {
            let client = parse_client(client)?;
            reprice(client, request).await
        }
        (_, ["panier", _, "checkout" | "forget" | "prices"]) => {
            Err(Problem::method_not_allowed("POST"))
        }
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

/// The owner of `client` (`None`: a client staff made), asked of the
/// clients service as `caller`: 404 unless it exists and `caller` reaches it.
async fn ensure_client(client: Uuid, caller: &Caller) -> Result<Option<Uuid>, Problem> {
    #[derive(serde::Deserialize)]
    struct Found {
        owner_id: Option<Uuid>,
    }
    let answer = chain::get("clients", &format!("/clients/{client}"), caller).await?;
    match answer.status {
        StatusCode::OK => Ok(answer.json::<Found>("clients")?.owner_id),
        StatusCode::NOT_FOUND => Err(no_client(client)),
        status => Err(Problem::unavailable(format!(
            "the clients service answered {status} when checking a client"
        ))),
    }
}

/// Runs `op` on a cart whose client panier knows: first within `caller`'s
/// scope; when the cart's statement cannot tell, asks the clients service
/// once and runs `op` again with the owner it confirmed.
async fn on_known_client<T>(
    client: Uuid,
    caller: &Caller,
    op: impl AsyncFn(Access) -> Result<Outcome<T>, Problem>,
) -> Result<T, Problem> {
    let outcome = match op(Access::Scope(caller.scope())).await? {
        Outcome::Unverified => {
            let owner = ensure_client(client, caller).await?;
            op(Access::Confirmed { owner }).await?
        }
        known => known,
    };
    match outcome {
        Outcome::Done(value) => Ok(value),
        Outcome::Unverified | Outcome::Gone => Err(no_client(client)),
    }
}

/// Records the owner clients confirmed (with [`Access::Confirmed`]), so
/// that the statement after it runs within the scope that owner has;
/// `None` when the client is gone meanwhile.
async fn record_check(
    db: &Connection,
    client: Uuid,
    access: Access,
    caller: &Caller,
) -> Result<Option<Option<Uuid>>, Problem> {
    match access {
        Access::Scope(scope) => Ok(Some(scope)),
        Access::Confirmed { owner } => Ok(store::verify(db, client, owner)
            .await?
            .then(|| caller.scope())),
    }
}

async fn get(client: Uuid, caller: &Caller) -> HandlerResult {
    let db = db::open().await?;
    let (status, mut cart) = store::load(&db, client, caller.scope()).await?;
    match status {
        ClientStatus::Gone => return Err(no_client(client)),
        ClientStatus::Unknown => {
            let owner = ensure_client(client, caller).await?;
            store::verify(&db, client, owner).await?;
            cart.owner_id = owner;
        }
        ClientStatus::Verified => {}
    }
    Ok(reply::json(StatusCode::OK, &cart))
}

async fn add(client: Uuid, request: Request, caller: &Caller) -> HandlerResult {
    let body: AddItemBody = request::json_body(request).await?;
    let wanted = Wanted::parse(body).map_err(Problem::validation)?;
    let shown = product(&wanted.product_id).await?;
    let item = NewItem::priced(wanted, &shown).map_err(|why| match why {
        NotForSale::Inactive => Problem::rule(
            "product-inactive",
            format!("product {} is no longer sold", shown.sku),
        ),
        NotForSale::Unfit => Problem::unavailable(format!(
            "the catalogue's product {} does not fit in a cart",
            shown.sku
        )),
    })?;
    let db = db::open().await?;
    // The first add creates the cart, verified, once clients confirmed.
    let cart = on_known_client(client, caller, async |access| {
        store::add(&db, client, &item, access).await
    })
    .await?;
    Ok(reply::json(StatusCode::OK, &cart))
}

/// Product `sku` as the catalogue shows it now (a public route: no token).
async fn product(sku: &str) -> Result<Product, Problem> {
    let answer = chain::call(
        "catalogue",
        Method::GET,
        &format!("/catalogue/{sku}"),
        None,
        None,
    )
    .await?;
    match answer.status {
        StatusCode::OK => answer.json("catalogue"),
        StatusCode::NOT_FOUND => Err(Problem::not_found(format!("no product {sku}"))),
        status => Err(Problem::unavailable(format!(
            "the catalogue service answered {status}"
        ))),
    }
}

async fn set_quantity(
    client: Uuid,
    product: &str,
    request: Request,
    caller: &Caller,
) -> HandlerResult {
    let body: SetQuantityBody = request::json_body(request).await?;
    let quantity = domain::parse_quantity(body).map_err(Problem::validation)?;
    change_quantity(client, product, quantity, caller).await
}

async fn change_quantity(
    client: Uuid,
    product: &str,
    quantity: i32,
    caller: &Caller,
) -> HandlerResult {
    let db = db::open().await?;
    let cart = on_known_client(client, caller, async |access| {
        let Some(scope) = record_check(&db, client, access, caller).await? else {
            return Ok(Outcome::Gone);
        };
        store::set_quantity(&db, client, product, quantity, scope).await
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

/// Shows the catalogue's current price of lines an order was refused for
/// (commande, after a `price-changed`), so that the customer confirms it.
async fn reprice(client: Uuid, request: Request) -> HandlerResult {
    let body: RepriceBody = request::json_body(request).await?;
    let lines = body.parse().map_err(Problem::validation)?;
    let db = db::open().await?;
    store::reprice(&db, client, &lines).await?;
    Ok(reply::no_content())
}

async fn clear(client: Uuid, caller: &Caller) -> HandlerResult {
    let db = db::open().await?;
    on_known_client(client, caller, async |access| {
        let Some(scope) = record_check(&db, client, access, caller).await? else {
            return Ok(Outcome::Gone);
        };
        store::clear(&db, client, scope).await
    })
    .await?;
    Ok(reply::no_content())
}

/// The clients service deleted `client`: remove its cart for good. Only
/// the clients service calls it (the private endpoint), once the client is
/// deleted, so the client is not asked about again.
async fn forget(client: Uuid) -> HandlerResult {
    let db = db::open().await?;
    store::forget(&db, client).await?;
    Ok(reply::no_content())
}

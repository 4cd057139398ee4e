//! The catalogue service: what is sold, at what price, and how many are
//! left.
//!
//! Public routes (no token): `GET /catalogue` (active products, paginated)
//! and `GET /catalogue/{sku}`. Staff only: `PUT /catalogue/{sku}` creates
//! (201) or replaces (200) a product; its `stock` is the quantity
//! available now. Two routes only commande calls are served by the
//! `catalogue-internal` component (the same `.wasm` behind a private
//! endpoint, variable `internal = "true"`): `PUT /reservations/{order_id}`
//! reserves an order's lines at the prices its customer was shown, all or
//! nothing and once per order; `DELETE /reservations/{order_id}` gives
//! them back, once (a cancelled or refused order). The public component
//! answers those paths 404.
//!
//! This file is the thin spin-sdk adapter; [`domain`] holds the rules and
//! `store` the SQL (the reservation itself is a database function).

pub mod domain;
mod store;

use comptoir_kit::page::PageRequest;
use comptoir_kit::request::{self, Query};
use comptoir_kit::{Caller, HandlerResult, Problem, Reply, db, reply};
use spin_sdk::http::{Method, Request, StatusCode};
use spin_sdk::http_service;

use crate::domain::{ProductBody, ProductFields, ReserveBody};

#[http_service]
async fn handle(request: Request) -> Reply {
    let segments = request::segments(request.uri());
    if segments.first() == Some(&"reservations") {
        return if is_internal().await {
            comptoir_kit::serve_internal(request, internal_route).await
        } else {
            comptoir_kit::no_route(&request).into_reply()
        };
    }
    if *request.method() == Method::GET {
        comptoir_kit::serve_anonymous(request, read_route).await
    } else {
        comptoir_kit::serve(request, write_route).await
    }
}

/// Whether this component is `catalogue-internal` (variable `internal`).
async fn is_internal() -> bool {
    spin_sdk::variables::get("internal")
        .await
        .is_ok_and(|v| v == "true")
}

/// The public reads: anyone may browse the catalogue.
async fn read_route(method: Method, path: &[&str], request: Request) -> HandlerResult {
    match (method, path) {
        (Method::GET, ["catalogue"]) => list(&Query::of(request.uri())).await,
        (Method::GET, ["catalogue", sku]) => get(parse_sku(sku)?).await,
        _ => Err(comptoir_kit::no_route(&request)),
    }
}

/// Every other method needs a token: staff writes the catalogue.
async fn write_route(
    method: Method,
    path: &[&str],
    request: Request,
    caller: Caller,
) -> HandlerResult {
    match (method, path) {
        (_, ["catalogue"]) => Err(Problem::method_not_allowed("GET")),
        (Method::PUT, ["catalogue", sku]) => {
            let sku = parse_sku(sku)?;
            caller.require_staff()?;
            put(sku, request).await
        }
        (_, ["catalogue", _]) => Err(Problem::method_not_allowed("GET, PUT")),
        _ => Err(comptoir_kit::no_route(&request)),
    }
}

/// The service-only routes, on the private endpoint.
async fn internal_route(method: Method, path: &[&str], request: Request) -> HandlerResult {
    match (method, path) {
        (Method::PUT, ["reservations", order]) => {
            let order = request::parse_uuid(order, "order id")?;
            reserve(order, request).await
        }
        (Method::DELETE, ["reservations", order]) => {
            let order = request::parse_uuid(order, "order id")?;
            release(order).await
        }
        (_, ["reservations", _]) => Err(Problem::method_not_allowed("PUT, DELETE")),
        _ => Err(comptoir_kit::no_route(&request)),
    }
}

fn parse_sku(raw: &str) -> Result<&str, Problem> {
    domain::check_sku(raw)
        .map_err(|e| Problem::bad_request(format!("{} {}", e.field, e.message)))?;
    Ok(raw)
}

async fn list(query: &Query) -> HandlerResult {
    let page = PageRequest::parse(query)?;
    let db = db::open().await?;
    Ok(reply::json(StatusCode::OK, &store::list(&db, page).await?))
}

async fn get(sku: &str) -> HandlerResult {
    let db = db::open().await?;
    let product = store::get(&db, sku)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no product {sku}")))?;
    Ok(reply::public_for(
        reply::json(StatusCode::OK, &product),
        PRODUCT_MAX_AGE_SECONDS,
    ))
}

/// How long a product read may be reused: by browsers and CDNs, and by
/// comptoir's cache of chained reads (panier's adds). A price shown stale
/// is caught at placement (`price-changed`); a `PUT` through the same
/// gateway drops its cached reads at once.
const PRODUCT_MAX_AGE_SECONDS: u32 = 30;

async fn put(sku: &str, request: Request) -> HandlerResult {
    let body: ProductBody = request::json_body(request).await?;
    let fields = ProductFields::parse(body).map_err(Problem::validation)?;
    let db = db::open().await?;
    let (product, created) = store::put(&db, sku, &fields).await?;
    if !created {
        return Ok(reply::json(StatusCode::OK, &product));
    }
    let mut reply = reply::json(StatusCode::CREATED, &product);
    if let Ok(location) = format!("/catalogue/{sku}").parse() {
        reply.headers_mut().insert("location", location);
    }
    Ok(reply)
}

async fn reserve(order: uuid::Uuid, request: Request) -> HandlerResult {
    let body: ReserveBody = request::json_body(request).await?;
    domain::check_lines(&body.lines).map_err(Problem::validation)?;
    let db = db::open().await?;
    Ok(reply::json(
        StatusCode::OK,
        &store::reserve(&db, order, &body.lines).await?,
    ))
}

async fn release(order: uuid::Uuid) -> HandlerResult {
    let db = db::open().await?;
    Ok(reply::json(
        StatusCode::OK,
        &store::release(&db, order).await?,
    ))
}

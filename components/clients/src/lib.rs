//! The clients service: comptoir's customers.
//!
//! Routes (under `/clients`, docs/api.md): `POST /clients`,
//! `GET /clients` (staff), `GET /clients/me`, `GET|PUT|DELETE
//! /clients/{id}`. A customer's `POST` creates its own record (one per
//! identity); a customer reaches only that record, another one is a 404.
//! Deleting a client tells the panier service (its private endpoint) to
//! forget its cart, through an outbox so that a failed call is retried.
//! This file is the thin
//! spin-sdk adapter: it routes, reads JSON and turns results into HTTP;
//! [`domain`] holds the rules and [`store`] the SQL.

pub mod domain;
mod store;

use comptoir_kit::page::PageRequest;
use comptoir_kit::request::{self, Query};
use comptoir_kit::{Caller, HandlerResult, Problem, Reply, chain, db, reply};
use spin_sdk::http::{Method, Request, StatusCode};
use spin_sdk::http_service;

use crate::domain::{ClientBody, ClientFields};

#[http_service]
async fn handle(request: Request) -> Reply {
    comptoir_kit::serve(request, route).await
}

async fn route(method: Method, path: &[&str], request: Request, caller: Caller) -> HandlerResult {
    match (method, path) {
        (Method::POST, ["clients"]) => create(request, &caller).await,
        (Method::GET, ["clients"]) => {
            caller.require_staff()?;
            list(&Query::of(request.uri())).await
        }
        (_, ["clients"]) => Err(Problem::method_not_allowed("GET, POST")),
        (Method::GET, ["clients", "me"]) => me(&caller).await,
        (_, ["clients", "me"]) => Err(Problem::method_not_allowed("GET")),
        (Method::GET, ["clients", id]) => get(parse_id(id)?, &caller).await,
        (Method::PUT, ["clients", id]) => replace(parse_id(id)?, request, &caller).await,
        (Method::DELETE, ["clients", id]) => delete(parse_id(id)?, &caller).await,
        (_, ["clients", _]) => Err(Problem::method_not_allowed("GET, PUT, DELETE")),
        _ => Err(comptoir_kit::no_route(&request)),
    }
}

fn parse_id(raw: &str) -> Result<uuid::Uuid, Problem> {
    request::parse_uuid(raw, "client id")
}

async fn parse_fields(request: Request) -> Result<ClientFields, Problem> {
    let body: ClientBody = request::json_body(request).await?;
    ClientFields::parse(body).map_err(Problem::validation)
}

/// A customer's record, bound to its identity; staff's, bound to none
/// (a record staff keeps for a customer without an account).
async fn create(request: Request, caller: &Caller) -> HandlerResult {
    let fields = parse_fields(request).await?;
    let db = db::open().await?;
    let client = store::insert(&db, &fields, caller.scope()).await?;
    let mut reply = reply::json(StatusCode::CREATED, &client);
    if let Ok(location) = format!("/clients/{}", client.id).parse() {
        reply.headers_mut().insert("location", location);
    }
    Ok(reply)
}

async fn list(query: &Query) -> HandlerResult {
    let page = PageRequest::parse(query)?;
    let db = db::open().await?;
    Ok(reply::json(StatusCode::OK, &store::list(&db, page).await?))
}

fn not_found(id: uuid::Uuid) -> Problem {
    Problem::not_found(format!("no client {id}"))
}

/// The caller's own record.
async fn me(caller: &Caller) -> HandlerResult {
    let db = db::open().await?;
    let client = store::of_owner(&db, caller.owner())
        .await?
        .ok_or_else(|| Problem::not_found("you have no client record yet (POST /clients)"))?;
    Ok(reply::json(StatusCode::OK, &client))
}

async fn get(id: uuid::Uuid, caller: &Caller) -> HandlerResult {
    let db = db::open().await?;
    let client = store::get(&db, id, caller.scope())
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(reply::json(StatusCode::OK, &client))
}

async fn replace(id: uuid::Uuid, request: Request, caller: &Caller) -> HandlerResult {
    let fields = parse_fields(request).await?;
    let db = db::open().await?;
    let client = store::replace(&db, id, &fields, caller.scope())
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(reply::json(StatusCode::OK, &client))
}

/// Deletes the client, then tells panier to forget its cart (and retries
/// earlier forgets that failed). A forget that fails stays queued in the
/// outbox (`cart_forgets`) and is retried by later deletions; the deletion
/// itself stands.
async fn delete(id: uuid::Uuid, caller: &Caller) -> HandlerResult {
    let db = db::open().await?;
    let deletion = store::delete(&db, id, caller.scope()).await?;
    let mut forgotten = Vec::new();
    for client in &deletion.to_forget {
        if forget_cart(*client).await {
            forgotten.push(*client);
        }
    }
    let _ = store::forgotten(&db, &forgotten).await;
    if deletion.deleted {
        Ok(reply::no_content())
    } else {
        Err(not_found(id))
    }
}

/// Asks panier (its private endpoint, as the service: the forgets of the
/// outbox act for other callers too) to forget `client`'s cart; whether it
/// confirmed.
async fn forget_cart(client: uuid::Uuid) -> bool {
    let path = format!("/panier/{client}/forget");
    let done = matches!(
        chain::call(chain::PANIER_INTERNAL, Method::POST, &path, None, None).await,
        Ok(reply) if reply.status == StatusCode::NO_CONTENT
    );
    if !done {
        eprintln!("panier did not forget the cart of client {client}; will retry");
    }
    done
}

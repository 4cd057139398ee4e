//! The clients service: comptoir's customers.
//!
//! Routes (under `/clients`, see DESIGN.md §4): `POST /clients`,
//! `GET /clients`, `GET|PUT|DELETE /clients/{id}`. Deleting a client tells
//! the panier service (service chaining) to forget its cart, through an
//! outbox so that a failed call is retried. This file is the thin
//! spin-sdk adapter: it routes, reads JSON and turns results into HTTP;
//! [`domain`] holds the rules and [`store`] the SQL.

pub mod domain;
mod store;

use comptoir_kit::page::PageRequest;
use comptoir_kit::request::{self, Query};
use comptoir_kit::{HandlerResult, Problem, Reply, chain, db, reply};
use spin_sdk::http::{Method, Request, StatusCode};
use spin_sdk::http_service;

use crate::domain::{ClientBody, ClientFields};

#[http_service]
async fn handle(request: Request) -> Reply {
    comptoir_kit::serve(request, route).await
}

async fn route(method: Method, path: &[&str], request: Request) -> HandlerResult {
    match (method, path) {
        (Method::POST, ["clients"]) => create(request).await,
        (Method::GET, ["clients"]) => list(&Query::of(request.uri())).await,
        (_, ["clients"]) => Err(Problem::method_not_allowed("GET, POST")),
        (Method::GET, ["clients", id]) => get(request::parse_uuid(id, "client id")?).await,
        (Method::PUT, ["clients", id]) => {
            let id = request::parse_uuid(id, "client id")?;
            replace(id, request).await
        }
        (Method::DELETE, ["clients", id]) => delete(request::parse_uuid(id, "client id")?).await,
        (_, ["clients", _]) => Err(Problem::method_not_allowed("GET, PUT, DELETE")),
        _ => Err(comptoir_kit::no_route(&request)),
    }
}

async fn parse_fields(request: Request) -> Result<ClientFields, Problem> {
    let body: ClientBody = request::json_body(request).await?;
    ClientFields::parse(body).map_err(Problem::validation)
}

async fn create(request: Request) -> HandlerResult {
    let fields = parse_fields(request).await?;
    let db = db::open().await?;
    let client = store::insert(&db, &fields).await?;
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

async fn get(id: uuid::Uuid) -> HandlerResult {
    let db = db::open().await?;
    let client = store::get(&db, id).await?.ok_or_else(|| not_found(id))?;
    Ok(reply::json(StatusCode::OK, &client))
}

async fn replace(id: uuid::Uuid, request: Request) -> HandlerResult {
    let fields = parse_fields(request).await?;
    let db = db::open().await?;
    let client = store::replace(&db, id, &fields)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(reply::json(StatusCode::OK, &client))
}

/// Deletes the client, then tells panier to forget its cart (and retries
/// earlier forgets that failed). A forget that fails stays queued in the
/// outbox (`cart_forgets`) and is retried by later deletions; the deletion
/// itself stands.
async fn delete(id: uuid::Uuid) -> HandlerResult {
    let db = db::open().await?;
    let deletion = store::delete(&db, id).await?;
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

/// Asks panier to forget `client`'s cart; whether it confirmed.
async fn forget_cart(client: uuid::Uuid) -> bool {
    let path = format!("/panier/{client}/forget");
    let done = matches!(
        chain::call("panier", Method::POST, &path, None).await,
        Ok(reply) if reply.status == StatusCode::NO_CONTENT
    );
    if !done {
        eprintln!("panier did not forget the cart of client {client}; will retry");
    }
    done
}

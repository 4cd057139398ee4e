//! The entry point every service shares: split the request into what routes
//! match on (method, path segments), run the service's router, and turn a
//! problem into its problem+json answer in this one place.

use spin_sdk::http::{Method, Request};

use crate::reply::Reply;
use crate::{Problem, request};

/// What every route returns: a response, or a problem that becomes one.
pub type HandlerResult = Result<Reply, Problem>;

/// Answers `request` with `route`, which gets the method, the non-empty
/// path segments (`/clients/42` → `["clients", "42"]`) and the request.
pub async fn serve(
    request: Request,
    route: impl AsyncFnOnce(Method, &[&str], Request) -> HandlerResult,
) -> Reply {
    let uri = request.uri().clone();
    let method = request.method().clone();
    route(method, &request::segments(&uri), request)
        .await
        .unwrap_or_else(Problem::into_reply)
}

/// The 404 of a path no route of the service matches.
pub fn no_route(request: &Request) -> Problem {
    Problem::not_found(format!("no route for {}", request.uri().path()))
}

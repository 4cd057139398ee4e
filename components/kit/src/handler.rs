//! The entry point every service shares: authenticate the caller, split
//! the request into what routes match on (method, path segments), run the
//! service's router, and turn a problem into its problem+json answer in
//! this one place.

use spin_sdk::http::{Method, Request};

use crate::auth::{self, Caller};
use crate::reply::Reply;
use crate::{Problem, request};

/// What every route returns: a response, or a problem that becomes one.
pub type HandlerResult = Result<Reply, Problem>;

/// Answers `request` with `route`, which gets the method, the non-empty
/// path segments (`/clients/42` → `["clients", "42"]`), the request and
/// its caller: only a request whose bearer token verifies reaches it
/// (401 otherwise, whatever the path).
pub async fn serve(
    request: Request,
    route: impl AsyncFnOnce(Method, &[&str], Request, Caller) -> HandlerResult,
) -> Reply {
    let caller = match auth::authenticate(&request).await {
        Ok(caller) => caller,
        Err(problem) => return problem.into_reply(),
    };
    let uri = request.uri().clone();
    let method = request.method().clone();
    route(method, &request::segments(&uri), request, caller)
        .await
        .unwrap_or_else(Problem::into_reply)
}

/// Answers a request made through a component's private endpoint (no
/// route from outside reaches it, only service chaining from the other
/// components of the app) with `route`, without a token: reaching it is
/// the proof that another component of the app called.
pub async fn serve_internal(
    request: Request,
    route: impl AsyncFnOnce(Method, &[&str], Request) -> HandlerResult,
) -> Reply {
    serve_anonymous(request, route).await
}

/// Answers a public route that needs no token (the catalogue's reads)
/// with `route`.
pub async fn serve_anonymous(
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

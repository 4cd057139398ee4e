//! Shared plumbing for comptoir's service components.
//!
//! Each service (clients, panier, commande, catalogue) is a thin spin-sdk adapter over
//! plain domain functions; this crate holds what the adapters have in common
//! so that every service answers errors, pages and JSON the same way.
//!
//! # Layout
//!
//! - [`handler`]: the entry point ([`serve`]): authentication, routing input, errors to problem+json.
//! - [`auth`]: bearer tokens, the [`Caller`](auth::Caller) they name, who may do what.
//! - [`problem`]: RFC 9457 `application/problem+json` errors.
//! - [`reply`]: JSON success responses.
//! - [`request`]: reading JSON bodies, path segments and query parameters.
//! - [`page`]: keyset pagination (`?limit=`, `?cursor=`, `next_cursor`).
//! - [`chain`]: calls to other services (`http://<service>.spin.internal`).
//! - [`db`]: opening the service's own database and reading row values.
//! - [`product`]: what a product is to every service (SKU, bounds, the catalogue's view).

pub mod auth;
pub mod chain;
pub mod db;
pub mod handler;
pub mod page;
pub mod problem;
pub mod product;
pub mod reply;
pub mod request;

pub use auth::Caller;
pub use handler::{HandlerResult, no_route, serve, serve_anonymous, serve_internal};
pub use problem::{FieldError, Problem};
pub use reply::Reply;

/// Whether `text` holds a control character (NUL included), which no text
/// field of the API accepts; `allow_newlines` lets line breaks and tabs
/// through (addresses).
pub fn has_control_chars(text: &str, allow_newlines: bool) -> bool {
    text.chars()
        .any(|c| c.is_control() && !(allow_newlines && matches!(c, '\n' | '\r' | '\t')))
}

//! Outbound `wasi:http` from components: Spin's local service chaining.
//!
//! A request to `http://<component>.spin.internal/...` is dispatched inside
//! the process to that component's replicas (no TCP), if the caller's
//! `allowed_outbound_hosts` allows it. A request to any other host goes out
//! over the network when the allow-list names it, as under Spin (comptoir's
//! own services allow only `*.spin.internal`), and is refused otherwise.

use std::sync::{Arc, OnceLock, Weak};

use futures::future::BoxFuture;
use tracing::Instrument as _;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::allowed_hosts::AllowedHosts;

/// The host suffix Spin uses for local service chaining.
pub const INTERNAL_SUFFIX: &str = ".spin.internal";

type Request = http::Request<WasiBody>;
type Response = http::Response<WasiBody>;

/// Where chained requests go: the running application.
pub trait Dispatch: Send + Sync {
    /// Runs `request` from `caller` on a replica of `target`.
    fn chained<'a>(
        &'a self,
        caller: &'a str,
        target: &'a str,
        request: Request,
    ) -> BoxFuture<'a, anyhow::Result<Response>>;
}

/// How instances reach the running application: set once it is built, and
/// weak, because the application owns the components, not the other way
/// round.
pub type Application = Arc<OnceLock<Weak<dyn Dispatch>>>;

/// The `wasi:http` hooks of one instance of `caller`.
pub struct OutboundHooks {
    caller: Arc<str>,
    allowed_hosts: Arc<AllowedHosts>,
    application: Application,
}

impl OutboundHooks {
    pub fn new(
        caller: Arc<str>,
        allowed_hosts: Arc<AllowedHosts>,
        application: Application,
    ) -> Self {
        Self {
            caller,
            allowed_hosts,
            application,
        }
    }
}

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = Result<(), Error>> + Send>,
            )>,
        > + Send,
>;

/// Where an outbound request goes.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    /// In-process, to this component's replicas.
    Chained(String),
    /// Over the network.
    Outside,
}

/// Where a request from `caller` goes, if `allowed` lets it reach it.
fn route(caller: &str, allowed: &AllowedHosts, uri: &http::Uri) -> Result<Route, String> {
    let scheme = uri.scheme_str().unwrap_or("http");
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    if !allowed.allows(scheme, authority) {
        return Err(format!(
            "{scheme}://{authority} is not in allowed_outbound_hosts of {caller}"
        ));
    }
    let host = uri.host().unwrap_or_default();
    match host.strip_suffix(INTERNAL_SUFFIX) {
        Some(target) if scheme == "http" && !target.is_empty() => {
            Ok(Route::Chained(target.to_owned()))
        }
        Some(_) => Err(format!(
            "service chaining is http://<component>{INTERNAL_SUFFIX}, not {scheme}://{authority}"
        )),
        None => Ok(Route::Outside),
    }
}

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        let caller = self.caller.clone();
        let route = route(&caller, &self.allowed_hosts, request.uri());
        let application = self.application.get().and_then(Weak::upgrade);
        Box::new(async move {
            let target = match route {
                Ok(Route::Chained(target)) => target,
                Ok(Route::Outside) => return send_outside(request, options).await,
                Err(reason) => {
                    tracing::warn!(component = %caller, %reason, "refused an outbound request");
                    return Err(Error::HttpRequestDenied);
                }
            };
            let application =
                application.ok_or_else(|| Error::InternalError(Some("shutting down".into())))?;
            let response = application
                .chained(&caller, &target, request)
                .instrument(tracing::debug_span!("chained", component = %caller, %target))
                .await
                .map_err(|e| Error::InternalError(Some(e.to_string())))?;
            let done: Box<dyn Future<Output = Result<(), Error>> + Send> =
                Box::new(std::future::ready(Ok(())));
            Ok((response, done))
        })
    }
}

/// Sends `request` over the network (wasmtime-wasi-http's client: HTTP/1.1,
/// TLS with the webpki roots).
async fn send_outside(
    request: Request,
    options: Option<RequestOptions>,
) -> wasmtime_wasi_http::Result<(Response, Box<dyn Future<Output = Result<(), Error>> + Send>)> {
    use http_body_util::BodyExt;
    let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
    Ok((response.map(BodyExt::boxed_unsync), Box::new(io)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(allowed: &[&str], uri: &str) -> Result<Route, String> {
        let allowed: Vec<String> = allowed.iter().map(|h| (*h).to_owned()).collect();
        route(
            "commande",
            &AllowedHosts::parse(&allowed).unwrap(),
            &uri.parse().unwrap(),
        )
    }

    #[test]
    fn an_allowed_internal_host_names_the_target_component() {
        let allowed = ["http://panier.spin.internal"];
        assert_eq!(
            target(&allowed, "http://panier.spin.internal/panier/1"),
            Ok(Route::Chained("panier".to_owned()))
        );
        let wildcard = ["http://*.spin.internal"];
        assert_eq!(
            target(&wildcard, "http://clients.spin.internal/clients/1"),
            Ok(Route::Chained("clients".to_owned()))
        );
    }

    #[test]
    fn hosts_outside_the_allow_list_are_refused_and_others_go_out() {
        let allowed = ["http://panier.spin.internal"];
        let refused = target(&allowed, "http://clients.spin.internal/clients/1").unwrap_err();
        assert!(
            refused.contains("not in allowed_outbound_hosts of commande"),
            "{refused}"
        );
        assert!(target(&allowed, "https://example.com/").is_err());
        let everything = ["*://*:*"];
        assert_eq!(
            target(&everything, "https://example.com/"),
            Ok(Route::Outside)
        );
        let refused = target(&everything, "https://panier.spin.internal/").unwrap_err();
        assert!(refused.contains("service chaining is http://"), "{refused}");
    }
}

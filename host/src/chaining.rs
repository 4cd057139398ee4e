//! Outbound `wasi:http` from components: Spin's local service chaining.
//!
//! A request to `http://<component>.spin.internal/...` is dispatched inside
//! the process to that component's replicas (no TCP), if the caller's
//! `allowed_outbound_hosts` allows it. Every other outbound request is
//! refused: comptoir components talk to their database and to each other,
//! nothing else.

use std::sync::Arc;

use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::instance::ComponentEnv;

/// The host suffix Spin uses for local service chaining.
pub const INTERNAL_SUFFIX: &str = ".spin.internal";

/// The `wasi:http` hooks of one instance.
pub struct OutboundHooks {
    env: Arc<ComponentEnv>,
}

impl OutboundHooks {
    pub fn new(env: Arc<ComponentEnv>) -> Self {
        Self { env }
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

/// The component a chained request targets, if the caller may reach it.
fn chained_target(env: &ComponentEnv, uri: &http::Uri) -> Result<String, String> {
    let scheme = uri.scheme_str().unwrap_or("http");
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    if !env.allowed_hosts.allows(scheme, authority) {
        return Err(format!(
            "{scheme}://{authority} is not in allowed_outbound_hosts of {}",
            env.id
        ));
    }
    let host = uri.host().unwrap_or_default();
    match host.strip_suffix(INTERNAL_SUFFIX) {
        Some(target) if scheme == "http" && !target.is_empty() => Ok(target.to_owned()),
        _ => Err(format!(
            "only service chaining (http://<component>{INTERNAL_SUFFIX}) is permitted, not {scheme}://{authority}"
        )),
    }
}

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        let env = self.env.clone();
        Box::new(async move {
            let target = chained_target(&env, request.uri()).map_err(|reason| {
                tracing::warn!(component = %env.id, %reason, "refused an outbound request");
                Error::HttpRequestDenied
            })?;
            let services = env
                .services
                .get()
                .and_then(std::sync::Weak::upgrade)
                .ok_or_else(|| Error::InternalError(Some("shutting down".into())))?;
            let response = services
                .dispatch_chained(&env.id, &target, request)
                .await
                .map_err(|e| Error::InternalError(Some(e.to_string())))?;
            let done: Box<dyn Future<Output = Result<(), Error>> + Send> =
                Box::new(std::future::ready(Ok(())));
            Ok((response, done))
        })
    }
}

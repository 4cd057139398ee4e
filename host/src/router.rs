//! The running application: which component serves which path, and the
//! replica set of each component. Public requests and chained calls both
//! go through [`Services`].

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime_wasi_http::WasiBody;

use futures::future::BoxFuture;

use crate::canary::{Policy, Slot};
use crate::chain_cache::{ChainCache, Key};
use crate::chaining;
use crate::instance::ComponentVersion;
use crate::pool::{DispatchError, ReplicaSet};
use crate::postgres::Database;
use crate::problem::Problem;
use crate::routes::Routes;

/// Every component's replicas and databases, and the route table.
pub struct Services {
    pub routes: Routes,
    pub components: BTreeMap<String, Arc<ReplicaSet>>,
    pub databases: BTreeMap<String, Arc<Database>>,
    /// What new component versions are compiled and linked with.
    pub engine: wasmtime::Engine,
    pub linker: wasmtime::component::Linker<crate::instance::InstanceState>,
    /// One deploy or rollback at a time.
    pub deploying: tokio::sync::Mutex<()>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Each component's canary slot.
    pub canaries: BTreeMap<String, Slot>,
    /// When canaries are judged and how much worse they may be.
    pub canary_policy: Policy,
    /// Chained `GET` answers their component marked fresh.
    pub chain_cache: ChainCache,
}

/// The response header naming the component version that answered.
pub const COMPONENT_HEADER: &str = "comptoir-component";

impl Services {
    /// Runs `request` on a replica of `component` — of its canary for the
    /// canary's share while one runs — and returns the version it went to.
    /// A request with an unsafe method drops the cached `GET`s of its path.
    async fn dispatch(
        &self,
        caller: &str,
        component: &str,
        request: http::Request<WasiBody>,
    ) -> Option<(
        Arc<ComponentVersion>,
        Result<http::Response<WasiBody>, DispatchError>,
    )> {
        let set = self.components.get(component)?;
        self.metrics.invocation(component, caller);
        let canary = self.canaries.get(component).and_then(Slot::running);
        let changes = (!request.method().is_safe()).then(|| request.uri().path().to_owned());
        if let Some(path) = &changes {
            self.chain_cache.invalidate(component, path);
        }
        let answer = match canary {
            Some(canary) => canary.dispatch(set, request).await,
            None => set.dispatch(request).await,
        };
        if let Some(path) = &changes {
            self.chain_cache.invalidate(component, path);
        }
        Some(answer)
    }

    /// Answers a public request routed to `component`: the component's
    /// response, or the problem saying why there is none, tagged with the
    /// version that served it.
    pub async fn serve(
        &self,
        component: &str,
        request: http::Request<WasiBody>,
    ) -> http::Response<WasiBody> {
        let Some((version, result)) = self.dispatch("public", component, request).await else {
            return Problem::NoComponent(component.to_owned()).response();
        };
        let mut response = result.unwrap_or_else(|error| Problem::from(error).response());
        tag(&mut response, &version);
        response
    }

    /// A chained call from `caller` to `target` (`http://target.spin.internal`),
    /// answered from [`ChainCache`] while what it holds is fresh.
    async fn dispatch_chained(
        &self,
        caller: &str,
        target: &str,
        request: http::Request<WasiBody>,
    ) -> anyhow::Result<http::Response<WasiBody>> {
        let Some(set) = self.components.get(target) else {
            anyhow::bail!("{caller} chained to unknown component {target}");
        };
        let miss = match Key::of(target, &request) {
            Some(key) if self.canary(target).and_then(Slot::running).is_none() => {
                let current = set.current();
                match self.chain_cache.lookup(key, &current) {
                    Ok(mut hit) => {
                        self.metrics.chain_cache_hit(target, caller);
                        tag(&mut hit, &current);
                        return Ok(hit);
                    }
                    Err(miss) => Some(miss),
                }
            }
            _ => None,
        };
        let Some((version, result)) = self.dispatch(caller, target, request).await else {
            anyhow::bail!("{caller} chained to unknown component {target}");
        };
        let mut response = match miss {
            Some(miss) => self.chain_cache.store(miss, &version, result?).await,
            None => result?,
        };
        tag(&mut response, &version);
        Ok(response)
    }

    /// The canary slot of `component`.
    pub fn canary(&self, component: &str) -> Option<&Slot> {
        self.canaries.get(component)
    }

    /// Whether every database answers.
    pub async fn databases_ready(&self) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        for (name, db) in &self.databases {
            out.push((name.clone(), db.ping().await));
        }
        out
    }
}

impl chaining::Dispatch for Services {
    fn chained<'a>(
        &'a self,
        caller: &'a str,
        target: &'a str,
        request: http::Request<WasiBody>,
    ) -> BoxFuture<'a, anyhow::Result<http::Response<WasiBody>>> {
        Box::pin(self.dispatch_chained(caller, target, request))
    }
}

/// Marks `response` with the version that gave it: the header, and the
/// kind as an extension (how the server sends its body).
fn tag(response: &mut http::Response<WasiBody>, version: &ComponentVersion) {
    response
        .headers_mut()
        .insert(COMPONENT_HEADER, version.header().clone());
    response.extensions_mut().insert(version.kind);
}

//! The running application: which component serves which path, and the
//! replica set of each component. Public requests and chained calls both
//! go through [`Services`].

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime_wasi_http::WasiBody;

use crate::instance::ComponentVersion;
use crate::manifest::Route;
use crate::pool::{DispatchError, ReplicaSet};
use crate::postgres::Database;

/// Every component's replicas and databases, and the route table.
pub struct Services {
    pub routes: Vec<Route>,
    pub components: BTreeMap<String, Arc<ReplicaSet>>,
    pub databases: BTreeMap<String, Arc<Database>>,
    /// What new component versions are compiled and linked with.
    pub engine: wasmtime::Engine,
    pub linker: wasmtime::component::Linker<crate::instance::InstanceState>,
    /// One deploy or rollback at a time.
    pub deploying: tokio::sync::Mutex<()>,
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// How components reach the running application: set once it is built.
pub type ServicesHandle = Arc<std::sync::OnceLock<std::sync::Weak<Services>>>;

/// The response header naming the component version that answered.
pub const COMPONENT_HEADER: &str = "comptoir-component";

impl Services {
    /// The route serving `path`, if any.
    pub fn route(&self, path: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.matches(path))
    }

    /// Runs `request` on a replica of `component`, tagging the response
    /// with the version that served it.
    pub async fn dispatch(
        &self,
        component: &str,
        request: http::Request<WasiBody>,
    ) -> Result<http::Response<WasiBody>, DispatchError> {
        let set = self
            .components
            .get(component)
            .ok_or_else(|| DispatchError::Failed {
                component: component.to_owned(),
                reason: "no such component".into(),
            })?;
        let (mut response, version) = set.dispatch(request).await?;
        tag(&mut response, &version);
        Ok(response)
    }

    /// A chained call from `caller` to `target` (`http://target.spin.internal`).
    pub async fn dispatch_chained(
        &self,
        caller: &str,
        target: &str,
        request: http::Request<WasiBody>,
    ) -> anyhow::Result<http::Response<WasiBody>> {
        if !self.components.contains_key(target) {
            anyhow::bail!("{caller} chained to unknown component {target}");
        }
        Ok(self.dispatch(target, request).await?)
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

fn tag(response: &mut http::Response<WasiBody>, version: &ComponentVersion) {
    if let Ok(value) = http::HeaderValue::from_str(&version.label()) {
        response.headers_mut().insert(COMPONENT_HEADER, value);
    }
}

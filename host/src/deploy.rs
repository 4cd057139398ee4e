//! Hot swap: replacing a component's `.wasm` while traffic flows.
//!
//! A new version is validated (a component, fitting the platform world,
//! linkable, instantiable) and pre-instantiated before anything changes;
//! then new requests go to it atomically while requests already running
//! finish on the old one. The previous version is kept for rollback.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::instance::ComponentVersion;
use crate::router::Services;

/// Why a deploy or rollback did not happen (nothing changed).
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("no component named {0:?}")]
    UnknownComponent(String),
    #[error("invalid component: {0}")]
    Invalid(String),
    #[error("{0} has no previous version to roll back to")]
    NoPrevious(String),
}

/// What a deploy or rollback did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Deployed {
    pub component: String,
    pub version: String,
    pub sha256: String,
    pub previous: String,
    /// Validation + compilation + trial instantiation.
    pub prepare_ms: f64,
}

/// Counts a swap's outcome in `comptoir_component_swaps_total`, whoever
/// asked for it (the admin API or `--watch`).
fn counted(
    services: &Services,
    name: &str,
    result: Result<Deployed, DeployError>,
) -> Result<Deployed, DeployError> {
    match &result {
        Ok(_) => services.metrics.swap(name, "success"),
        Err(DeployError::Invalid(_) | DeployError::NoPrevious(_)) => {
            services.metrics.swap(name, "rejected")
        }
        // No such component: no series to count it in.
        Err(DeployError::UnknownComponent(_)) => {}
    }
    result
}

/// Validates `wasm` as the new version of `name` and swaps it in.
pub async fn deploy(services: &Services, name: &str, wasm: &[u8]) -> Result<Deployed, DeployError> {
    counted(services, name, swap_in(services, name, wasm).await)
}

async fn swap_in(services: &Services, name: &str, wasm: &[u8]) -> Result<Deployed, DeployError> {
    let set = services
        .components
        .get(name)
        .ok_or_else(|| DeployError::UnknownComponent(name.to_owned()))?;
    let _one_at_a_time = services.deploying.lock().await;
    let started = Instant::now();
    let env = set.current().env.clone();
    let (version, _) = ComponentVersion::load(&services.engine, &services.linker, env, wasm)
        .await
        .map_err(|e| DeployError::Invalid(format!("{e:#}")))?;
    let prepare = started.elapsed();
    let version = Arc::new(version);
    let old = set.swap(version.clone());
    tracing::info!(component = %name, from = %old.label(), to = %version.label(), prepare = ?prepare, "deployed");
    Ok(Deployed {
        component: name.to_owned(),
        version: version.label(),
        sha256: version.sha256.clone(),
        previous: old.label(),
        prepare_ms: millis(prepare),
    })
}

/// Swaps `name` back to the version before the last deploy.
pub async fn rollback(services: &Services, name: &str) -> Result<Deployed, DeployError> {
    counted(services, name, swap_back(services, name).await)
}

async fn swap_back(services: &Services, name: &str) -> Result<Deployed, DeployError> {
    let set = services
        .components
        .get(name)
        .ok_or_else(|| DeployError::UnknownComponent(name.to_owned()))?;
    let _one_at_a_time = services.deploying.lock().await;
    let from = set.current();
    let to = set
        .rollback()
        .ok_or_else(|| DeployError::NoPrevious(name.to_owned()))?;
    tracing::info!(component = %name, from = %from.label(), to = %to.label(), "rolled back");
    Ok(Deployed {
        component: name.to_owned(),
        version: to.label(),
        sha256: to.sha256.clone(),
        previous: from.label(),
        prepare_ms: 0.0,
    })
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `comptoir up --watch`: deploys a component whenever its `.wasm` changes
/// on disk (so `cargo build` of one component updates the running system).
pub async fn watch(services: Arc<Services>, sources: Vec<(String, std::path::PathBuf)>) {
    let stamp = |path: &std::path::Path| {
        std::fs::metadata(path)
            .ok()
            .map(|m| (m.modified().ok(), m.len()))
    };
    let mut seen: Vec<_> = sources.iter().map(|(_, p)| stamp(p)).collect();
    let mut interval = tokio::time::interval(Duration::from_millis(500));
    loop {
        interval.tick().await;
        for (i, (name, path)) in sources.iter().enumerate() {
            let now = stamp(path);
            if now == seen[i] || now.is_none() {
                continue;
            }
            // Let the writer finish: the file must be stable for a moment.
            tokio::time::sleep(Duration::from_millis(300)).await;
            if stamp(path) != now {
                continue;
            }
            seen[i] = now;
            let Ok(bytes) = std::fs::read(path) else {
                continue;
            };
            if services.components.get(name).is_some_and(|s| {
                s.current().sha256 == hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))
            }) {
                continue;
            }
            match deploy(&services, name, &bytes).await {
                Ok(done) => {
                    tracing::info!(component = %name, version = %done.version, "watch: deployed")
                }
                Err(error) => tracing::warn!(component = %name, %error, "watch: not deployed"),
            }
        }
    }
}

//! Hot swap: replacing a component's `.wasm` while traffic flows.
//!
//! A new version is validated (a component, fitting the platform world,
//! linkable, instantiable) and pre-instantiated before anything changes;
//! then new requests go to it atomically while requests already running
//! finish on the old one. The previous version is kept for rollback.
//!
//! A canary deploy prepares the new version the same way, then gives it a
//! share of the requests beside the stable version until it is judged
//! (see [`crate::canary`]): promoted means swapped in as above, rolled back
//! means its replicas are retired and nothing else changed.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::canary::{Canary, Report, Slot, State, Verdict};
use crate::instance::ComponentVersion;
use crate::pool::ReplicaSet;
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
    #[error("a canary of {0} is running: promote or abort it first")]
    CanaryRunning(String),
    #[error("no canary of {0} is running")]
    NoCanary(String),
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
        Err(
            DeployError::Invalid(_) | DeployError::NoPrevious(_) | DeployError::CanaryRunning(_),
        ) => services.metrics.swap(name, "rejected"),
        // No such component: no series to count it in; no canary: no swap.
        Err(DeployError::UnknownComponent(_) | DeployError::NoCanary(_)) => {}
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
    refuse_during_canary(services, name)?;
    let (version, prepare) = prepare(services, set, wasm).await?;
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
    refuse_during_canary(services, name)?;
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

/// Compiles, validates and pre-instantiates `wasm` as a version of `set`'s
/// component; returns it with the time that took.
async fn prepare(
    services: &Services,
    set: &ReplicaSet,
    wasm: &[u8],
) -> Result<(Arc<ComponentVersion>, Duration), DeployError> {
    let started = Instant::now();
    let env = set.current().env.clone();
    let (version, _) = ComponentVersion::load(&services.engine, &services.linker, env, wasm)
        .await
        .map_err(|e| DeployError::Invalid(format!("{e:#}")))?;
    Ok((Arc::new(version), started.elapsed()))
}

/// A plain deploy or rollback waits for the running canary to be decided.
fn refuse_during_canary(services: &Services, name: &str) -> Result<(), DeployError> {
    match services.canary(name).and_then(Slot::running) {
        Some(_) => Err(DeployError::CanaryRunning(name.to_owned())),
        None => Ok(()),
    }
}

/// A canary that started.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CanaryStarted {
    pub component: String,
    pub version: String,
    pub sha256: String,
    pub stable: String,
    pub share: u8,
    pub min_requests: u64,
    pub window_s: f64,
    pub prepare_ms: f64,
}

/// Validates `wasm` as a new version of `name` and starts it as a canary
/// taking `share` % of the requests; a task judges it until it is decided.
pub async fn start_canary(
    services: &Arc<Services>,
    name: &str,
    wasm: &[u8],
    share: u8,
) -> Result<CanaryStarted, DeployError> {
    let (set, slot) = services
        .components
        .get(name)
        .zip(services.canary(name))
        .ok_or_else(|| DeployError::UnknownComponent(name.to_owned()))?;
    let _one_at_a_time = services.deploying.lock().await;
    refuse_during_canary(services, name)?;
    let (version, prepare) = prepare(services, set, wasm).await?;
    let policy = services.canary_policy.clone();
    let canary = Arc::new(Canary::new(set, version.clone(), share, policy.clone()));
    if slot.start(canary.clone()).is_err() {
        canary.retire();
        return Err(DeployError::CanaryRunning(name.to_owned()));
    }
    services.metrics.canary_state(name, State::Running);
    tracing::info!(component = %name, canary = %version.label(), stable = %set.current().label(), share, "canary started");
    tokio::spawn(judge(Arc::downgrade(services), name.to_owned(), canary));
    Ok(CanaryStarted {
        component: name.to_owned(),
        version: version.label(),
        sha256: version.sha256.clone(),
        stable: set.current().label(),
        share,
        min_requests: policy.min_requests,
        window_s: policy.window.as_secs_f64(),
        prepare_ms: millis(prepare),
    })
}

/// Watches `canary` until the judge decides or someone else ends it.
async fn judge(services: Weak<Services>, name: String, canary: Arc<Canary>) {
    loop {
        tokio::time::sleep(crate::canary::JUDGE_EVERY).await;
        let Some(services) = services.upgrade() else {
            return;
        };
        let still_running = services
            .canary(&name)
            .and_then(Slot::running)
            .is_some_and(|running| Arc::ptr_eq(&running, &canary));
        if !still_running {
            return;
        }
        if let Some(verdict) = canary.verdict() {
            let _ = decide(&services, &name, &canary, verdict, false).await;
            return;
        }
    }
}

/// `comptoir promote NAME`: swaps the running canary in now.
pub async fn promote(services: &Services, name: &str) -> Result<Report, DeployError> {
    let canary = running_canary(services, name)?;
    let reason = "promoted by hand".to_owned();
    decide(services, name, &canary, Verdict::Promote(reason), true).await
}

/// `comptoir abort NAME`: rolls the running canary back now.
pub async fn abort(services: &Services, name: &str) -> Result<Report, DeployError> {
    let canary = running_canary(services, name)?;
    let reason = "aborted by hand".to_owned();
    decide(services, name, &canary, Verdict::RollBack(reason), true).await
}

fn running_canary(services: &Services, name: &str) -> Result<Arc<Canary>, DeployError> {
    if !services.components.contains_key(name) {
        return Err(DeployError::UnknownComponent(name.to_owned()));
    }
    services
        .canary(name)
        .and_then(Slot::running)
        .ok_or_else(|| DeployError::NoCanary(name.to_owned()))
}

/// Carries out `verdict` on `canary`, unless it was already decided.
async fn decide(
    services: &Services,
    name: &str,
    canary: &Arc<Canary>,
    verdict: Verdict,
    manual: bool,
) -> Result<Report, DeployError> {
    let (Some(set), Some(slot)) = (services.components.get(name), services.canary(name)) else {
        return Err(DeployError::UnknownComponent(name.to_owned()));
    };
    let _one_at_a_time = services.deploying.lock().await;
    let (state, outcome, reason) = match verdict {
        Verdict::Promote(reason) => (State::Promoted, "promoted", reason),
        Verdict::RollBack(reason) => (State::RolledBack, "rolled_back", reason),
    };
    let report = slot
        .end(canary, state, reason.clone(), manual)
        .ok_or_else(|| DeployError::NoCanary(name.to_owned()))?;
    if state == State::Promoted {
        let old = set.swap(canary.version().clone());
        services.metrics.swap(name, "success");
        tracing::info!(component = %name, from = %old.label(), to = %canary.version().label(), manual, %reason, "canary promoted");
    } else {
        tracing::warn!(component = %name, canary = %canary.version().label(), stable = %set.current().label(), manual, %reason, "canary rolled back");
    }
    canary.retire();
    services.metrics.canary_state(name, state);
    services.metrics.canary_decided(name, outcome);
    Ok(report)
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

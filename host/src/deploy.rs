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

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use notify::Watcher as _;

use crate::api::{CanaryStarted, Deployed, Report, State};
use crate::canary::{Canary, Slot, Verdict};
use crate::instance::{self, ComponentVersion};
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
#[tracing::instrument(name = "deploy", skip_all, fields(component = name))]
pub async fn deploy(services: &Services, name: &str, wasm: &[u8]) -> Result<Deployed, DeployError> {
    counted(services, name, swap_in(services, name, wasm).await)
}

async fn swap_in(services: &Services, name: &str, wasm: &[u8]) -> Result<Deployed, DeployError> {
    let (set, _one_at_a_time) = exclusive(services, name).await?;
    let (version, prepare) = prepare(services, set, wasm).await?;
    Ok(swap(set, name, version, prepare))
}

fn swap(
    set: &Arc<ReplicaSet>,
    name: &str,
    version: Arc<ComponentVersion>,
    prepare: Duration,
) -> Deployed {
    let old = set.swap(version.clone());
    tracing::info!(component = %name, from = %old.label(), to = %version.label(), prepare = ?prepare, "deployed");
    deployed(&version, &old, prepare)
}

/// A version compiled, checked against the platform world, linked and
/// instantiated once: ready to be swapped in at once.
#[derive(Clone)]
pub struct Prepared {
    pub version: Arc<ComponentVersion>,
    pub took: Duration,
}

/// Prepares `wasm` as a version of `name` without deploying it (a fleet
/// prepares on every gateway before any swaps).
pub async fn prepare_version(
    services: &Services,
    name: &str,
    wasm: &[u8],
) -> Result<Prepared, DeployError> {
    let set = services
        .components
        .get(name)
        .ok_or_else(|| DeployError::UnknownComponent(name.to_owned()))?;
    let (version, took) = prepare(services, set, wasm).await?;
    Ok(Prepared { version, took })
}

/// Swaps in a version [`prepare_version`] made.
#[tracing::instrument(name = "deploy", skip_all, fields(component = name))]
pub async fn deploy_prepared(
    services: &Services,
    name: &str,
    prepared: Prepared,
) -> Result<Deployed, DeployError> {
    let result = async {
        let (set, _one_at_a_time) = exclusive(services, name).await?;
        Ok(swap(set, name, prepared.version, prepared.took))
    }
    .await;
    counted(services, name, result)
}

/// `name`'s replicas, with the deploy lock held (one deploy, rollback or
/// canary start at a time) and no canary of it running.
async fn exclusive<'a>(
    services: &'a Services,
    name: &str,
) -> Result<(&'a Arc<ReplicaSet>, tokio::sync::MutexGuard<'a, ()>), DeployError> {
    let set = services
        .components
        .get(name)
        .ok_or_else(|| DeployError::UnknownComponent(name.to_owned()))?;
    let guard = services.deploying.lock().await;
    refuse_during_canary(services, name)?;
    Ok((set, guard))
}

/// What swapping `from` for `to` did.
fn deployed(to: &ComponentVersion, from: &ComponentVersion, prepare: Duration) -> Deployed {
    Deployed {
        component: to.env.id.to_string(),
        version: to.label(),
        sha256: to.sha256.clone(),
        previous: from.label(),
        prepare_ms: millis(prepare),
        fleet: None,
    }
}

/// Swaps `name` back to the version before the last deploy.
#[tracing::instrument(name = "rollback", skip_all, fields(component = name))]
pub async fn rollback(services: &Services, name: &str) -> Result<Deployed, DeployError> {
    counted(services, name, swap_back(services, name).await)
}

async fn swap_back(services: &Services, name: &str) -> Result<Deployed, DeployError> {
    let (set, _one_at_a_time) = exclusive(services, name).await?;
    let from = set.current();
    let to = set
        .rollback()
        .ok_or_else(|| DeployError::NoPrevious(name.to_owned()))?;
    tracing::info!(component = %name, from = %from.label(), to = %to.label(), "rolled back");
    Ok(deployed(&to, &from, Duration::ZERO))
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

/// Who judges a canary: this gateway from its own counts, or the fleet
/// (see [`crate::fleet`]) from every gateway's, telling this one after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JudgedBy {
    Here,
    Fleet,
}

/// A plain deploy or rollback waits for the running canary to be decided.
fn refuse_during_canary(services: &Services, name: &str) -> Result<(), DeployError> {
    match services.canary(name).and_then(Slot::running) {
        Some(_) => Err(DeployError::CanaryRunning(name.to_owned())),
        None => Ok(()),
    }
}

/// Validates `wasm` as a new version of `name` and starts it as a canary
/// taking `share` % of the requests; a task judges it until it is decided.
#[tracing::instrument(name = "canary", skip_all, fields(component = name))]
pub async fn start_canary(
    services: &Arc<Services>,
    name: &str,
    wasm: &[u8],
    share: u8,
    judged_by: JudgedBy,
) -> Result<CanaryStarted, DeployError> {
    let (set, _one_at_a_time) = exclusive(services, name).await?;
    let slot = services
        .canary(name)
        .ok_or_else(|| DeployError::UnknownComponent(name.to_owned()))?;
    let (version, prepare) = prepare(services, set, wasm).await?;
    let policy = services.canary_policy.clone();
    let canary = Arc::new(Canary::new(set, version.clone(), share, policy.clone()));
    if slot.start(canary.clone()).is_err() {
        canary.retire(set);
        return Err(DeployError::CanaryRunning(name.to_owned()));
    }
    services.metrics.canary_state(name, State::Running as i64);
    tracing::info!(component = %name, canary = %version.label(), stable = %set.current().label(), share, "canary started");
    if judged_by == JudgedBy::Here {
        tokio::spawn(judge(Arc::downgrade(services), name.to_owned(), canary));
    }
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
#[tracing::instrument(name = "promote", skip_all, fields(component = name))]
pub async fn promote(services: &Services, name: &str) -> Result<Report, DeployError> {
    let reason = "promoted by hand".to_owned();
    end_canary(services, name, Verdict::Promote(reason), true).await
}

/// `comptoir abort NAME`: rolls the running canary back now.
#[tracing::instrument(name = "abort", skip_all, fields(component = name))]
pub async fn abort(services: &Services, name: &str) -> Result<Report, DeployError> {
    let reason = "aborted by hand".to_owned();
    end_canary(services, name, Verdict::RollBack(reason), true).await
}

/// Carries out `verdict` on `name`'s running canary (decided by hand, or
/// by the fleet for every gateway).
pub async fn end_canary(
    services: &Services,
    name: &str,
    verdict: Verdict,
    manual: bool,
) -> Result<Report, DeployError> {
    let canary = running_canary(services, name)?;
    decide(services, name, &canary, verdict, manual).await
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
    canary.retire(set);
    services.metrics.canary_state(name, state as i64);
    services.metrics.canary_decided(name, outcome);
    Ok(report)
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `comptoir up --watch`: deploys a component whenever its `.wasm` changes
/// on disk (so `cargo build` of one component updates the running system).
///
/// The directories holding the sources are watched (`notify`: inotify on
/// Linux), since builds replace files rather than rewrite them. Changes are
/// taken once the directory has been quiet for [`SETTLE`], and a file whose
/// content is the running version's is not deployed again.
pub async fn watch(services: Arc<Services>, sources: Vec<(String, PathBuf)>) {
    let (changed, mut changes) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        for path in event.map(|e| e.paths).unwrap_or_default() {
            let _ = changed.send(path);
        }
    });
    let mut watcher = match watcher {
        Ok(watcher) => watcher,
        Err(error) => {
            tracing::error!(%error, "watch: cannot watch the component sources");
            return;
        }
    };
    // Absolute paths, as the events name them.
    let sources: Vec<(String, PathBuf)> = sources
        .into_iter()
        .filter_map(|(name, path)| Some((name, std::fs::canonicalize(&path).ok()?)))
        .collect();
    let dirs: std::collections::BTreeSet<&Path> =
        sources.iter().filter_map(|(_, p)| p.parent()).collect();
    for dir in dirs {
        if let Err(error) = watcher.watch(dir, notify::RecursiveMode::NonRecursive) {
            tracing::error!(dir = %dir.display(), %error, "watch: cannot watch");
        }
    }
    tracing::info!(
        components = sources.len(),
        "watch: watching the component sources"
    );
    while let Some(first) = changes.recv().await {
        let mut paths = vec![first];
        // Let the writer finish: wait until nothing changed for a moment.
        loop {
            match tokio::time::timeout(SETTLE, changes.recv()).await {
                Ok(Some(path)) => paths.push(path),
                Ok(None) => return,
                Err(_) => break,
            }
        }
        for (name, source) in &sources {
            if paths.contains(source) {
                redeploy(&services, name, source).await;
            }
        }
    }
}

/// How long a watched directory must be quiet before its changes are read.
const SETTLE: Duration = Duration::from_millis(300);

/// Deploys `source` as `name`, unless it is the version already running.
async fn redeploy(services: &Services, name: &str, source: &Path) {
    let Ok(bytes) = std::fs::read(source) else {
        return;
    };
    let sha256 = instance::sha256_hex(&bytes);
    if services
        .components
        .get(name)
        .is_some_and(|s| s.current().sha256 == sha256)
    {
        return;
    }
    match deploy(services, name, &bytes).await {
        Ok(done) => tracing::info!(component = %name, version = %done.version, "watch: deployed"),
        Err(error) => tracing::warn!(component = %name, %error, "watch: not deployed"),
    }
}

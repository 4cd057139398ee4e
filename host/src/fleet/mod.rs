//! A fleet: gateways given the same `--control-url` run the same version of
//! every component. Each component's desired version and canary live in a
//! PostgreSQL control database; a deploy, rollback or canary sent to any
//! gateway is written there, and `NOTIFY` wakes every gateway to converge
//! (fetch, verify, prepare, swap: the same hot swap as one process).
//!
//! This module: joining, and deploys in two phases (every gateway
//! prepares, then the change is committed). Beside it:
//!
//! - [`converge`]: how a gateway follows the fleet;
//! - [`canary`]: canaries across the fleet, judged once;
//! - [`status`]: `GET /admin/fleet`;
//! - [`store`]: every statement on the control database;
//! - [`artifacts`]: versions by digest, in the database or a registry;
//! - [`oci`]: the registry client (Wasm OCI artifacts);
//! - [`verify`]: digests, and why a version is refused.

pub mod artifacts;
mod canary;
mod converge;
pub mod oci;
mod status;
pub mod store;
pub mod verify;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::api::{Convergence, Deployed};
use crate::deploy::{self, DeployError};
use crate::instance::label;
use crate::router::Services;
use artifacts::ArtifactError;
use oci::Registries;
use store::{Refusal, Refused, Store};

/// How a gateway joins a fleet (`comptoir up --control-url …`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub control_url: String,
    /// This gateway's name in the fleet.
    pub gateway: String,
    /// Where deploys are pushed (none: into the control database).
    pub registry: Option<String>,
    /// Registries reached over plain HTTP.
    pub insecure_registries: Vec<String>,
}

/// How often a gateway converges and reports without being woken.
const TICK: Duration = Duration::from_secs(1);
/// How often a gateway publishes its canary counts and tries to judge.
const JUDGE_EVERY: Duration = Duration::from_millis(200);
/// A gateway silent for longer is not counted as part of the fleet.
const LIVE_WITHIN_S: f64 = 5.0;
/// How long a deploy waits for every gateway to prepare a version, then to
/// serve it.
const WAIT_FOR_FLEET: Duration = Duration::from_secs(10);

/// Why a fleet change did not happen (nothing changed).
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error(transparent)]
    Deploy(#[from] DeployError),
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error("gateway {gateway} refused the version (nothing changed): {reason}")]
    RefusedBy { gateway: String, reason: String },
}

impl From<Refused> for FleetError {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::CanaryRunning(c) => DeployError::CanaryRunning(c).into(),
            Refused::NoPrevious(c) => DeployError::NoPrevious(c).into(),
            Refused::Database(e) => ArtifactError::from(e).into(),
        }
    }
}

impl From<sqlx::Error> for FleetError {
    fn from(error: sqlx::Error) -> Self {
        ArtifactError::from(error).into()
    }
}

/// This gateway's membership of a fleet.
pub struct Fleet {
    store: Store,
    registries: Registries,
    services: Arc<Services>,
    admin_url: String,
    started_at: chrono::DateTime<chrono::Utc>,
    /// The fleet canary each local canary belongs to, by component.
    canaries: Mutex<BTreeMap<String, i64>>,
    /// Desired versions this gateway would not run, by component.
    refused: Mutex<BTreeMap<String, Refusal>>,
    /// The version of each component this gateway prepared for a fleet
    /// deploy, to swap in at once when it becomes the desired one.
    staged: Mutex<BTreeMap<String, deploy::Prepared>>,
    /// One convergence at a time.
    converging: tokio::sync::Mutex<()>,
    /// Set once the gateway stops: it no longer reports itself.
    left: std::sync::atomic::AtomicBool,
}

/// A change committed to the control database, as a deploy waits for it.
struct Change {
    generation: i64,
    committed: Instant,
    /// Gateways that prepared the version in phase one.
    participants: Vec<String>,
}

/// Applies the control schema (`comptoir migrate --control-url …`).
pub async fn migrate(control_url: &str) -> anyhow::Result<()> {
    let store = Store::connect(control_url, String::new()).await?;
    let count = store.migrate().await?;
    tracing::info!(migrations = count, "control database ready");
    Ok(())
}

impl Fleet {
    /// Joins the fleet: publishes the versions this gateway loaded (so that
    /// a rollback can return to them), converges on the desired versions
    /// before serving, then follows the fleet in the background.
    pub async fn join(
        settings: &Settings,
        services: Arc<Services>,
        loaded: &[(String, Vec<u8>)],
        admin_url: String,
    ) -> anyhow::Result<Arc<Self>> {
        let store = Store::connect(&settings.control_url, settings.gateway.clone()).await?;
        store.migrate().await?;
        let registries =
            Registries::new(settings.registry.as_deref(), &settings.insecure_registries)?;
        for (component, wasm) in loaded {
            artifacts::publish(&store, &registries, component, wasm).await?;
        }
        let fleet = Arc::new(Self {
            store,
            registries,
            services,
            admin_url,
            started_at: chrono::Utc::now(),
            canaries: Mutex::default(),
            refused: Mutex::default(),
            staged: Mutex::default(),
            converging: tokio::sync::Mutex::new(()),
            left: std::sync::atomic::AtomicBool::new(false),
        });
        fleet.converge().await?;
        tracing::info!(gateway = %settings.gateway, "joined the fleet");
        tokio::spawn(converge::follow(Arc::downgrade(&fleet)));
        tokio::spawn(converge::heartbeat(Arc::downgrade(&fleet)));
        tokio::spawn(canary::judge_canaries(Arc::downgrade(&fleet)));
        Ok(fleet)
    }

    /// Leaves the fleet: deploys no longer wait for this gateway.
    pub async fn leave(&self) {
        self.left.store(true, std::sync::atomic::Ordering::Relaxed);
        let _one_at_a_time = self.converging.lock().await;
        if let Err(error) = self.store.leave().await {
            tracing::warn!(%error, "fleet: could not say goodbye (others will stop waiting in 5 s)");
        }
    }

    /// `PUT /admin/components/NAME`: prepares `wasm` here, publishes it,
    /// has every gateway prepare it, then makes it the fleet's desired
    /// version (unless a gateway refused it: then nothing changes).
    pub async fn deploy(&self, component: &str, wasm: &[u8]) -> Result<Deployed, FleetError> {
        let prepared = deploy::prepare_version(&self.services, component, wasm).await?;
        let digest = artifacts::publish(&self.store, &self.registries, component, wasm).await?;
        self.propose(component, &digest, prepared).await
    }

    /// Phase one of a fleet deploy: every live gateway prepares `digest`
    /// (this one already did: `prepared`); phase two, if none refused:
    /// it becomes the desired version and every gateway swaps it in.
    async fn propose(
        &self,
        component: &str,
        digest: &str,
        prepared: deploy::Prepared,
    ) -> Result<Deployed, FleetError> {
        let took = prepared.took;
        self.staged_mut().insert(component.to_owned(), prepared);
        self.store.stage(component, digest, None).await?;
        let started = Instant::now();
        let participants = loop {
            let answers = self.store.staged(component, digest).await?;
            if let Some((gateway, reason)) =
                answers.iter().find_map(|(g, r)| Some((g, r.as_ref()?)))
            {
                self.staged_mut().remove(component);
                return Err(FleetError::RefusedBy {
                    gateway: gateway.clone(),
                    reason: reason.clone(),
                });
            }
            let live = self.store.gateways(LIVE_WITHIN_S).await?;
            if live.iter().all(|g| answers.contains_key(&g.name))
                || started.elapsed() >= WAIT_FOR_FLEET
            {
                break answers.into_keys().collect::<Vec<_>>();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        self.make_desired(component, digest, took, participants)
            .await
    }

    /// `PUT /admin/components/NAME?artifact=oci://…@sha256:…`: pulls and
    /// verifies the artifact, validates it, and makes it the desired version.
    pub async fn deploy_reference(
        &self,
        component: &str,
        reference: &str,
    ) -> Result<Deployed, FleetError> {
        oci::parse_reference(reference)?;
        let wasm = self.registries.pull(reference).await?;
        let prepared = deploy::prepare_version(&self.services, component, &wasm).await?;
        let digest = artifacts::record_pulled(&self.store, reference, &wasm).await?;
        self.propose(component, &digest, prepared).await
    }

    /// Phase two: `digest` becomes the desired version; `participants`
    /// (the gateways that prepared it) are waited for even if they have
    /// not reported lately.
    async fn make_desired(
        &self,
        component: &str,
        digest: &str,
        prepare: Duration,
        participants: Vec<String>,
    ) -> Result<Deployed, FleetError> {
        let before = self.version_label(component)?;
        let running = self.running_digest(component).unwrap_or_default();
        let generation = self.store.set_desired(component, digest, &running).await?;
        let committed = Instant::now();
        self.converge().await?;
        let change = Change {
            generation,
            committed,
            participants,
        };
        Ok(self
            .answer(component, digest, before, prepare, change)
            .await)
    }

    /// `POST /admin/components/NAME/rollback`: the fleet's previous version.
    pub async fn rollback(&self, component: &str) -> Result<Deployed, FleetError> {
        let before = self.version_label(component)?;
        let desired = self.store.roll_back(component).await?;
        let committed = Instant::now();
        self.converge().await?;
        let change = Change {
            generation: desired.generation,
            committed,
            participants: Vec::new(),
        };
        Ok(self
            .answer(component, &desired.digest, before, Duration::ZERO, change)
            .await)
    }

    /// What a deploy or rollback answers, once the fleet ran it (or the
    /// wait ended).
    async fn answer(
        &self,
        component: &str,
        digest: &str,
        previous: String,
        prepare: Duration,
        change: Change,
    ) -> Deployed {
        let fleet = self.wait_for(component, digest, &change).await;
        let sha256 = digest.trim_start_matches("sha256:").to_owned();
        Deployed {
            component: component.to_owned(),
            version: label(component, &sha256),
            sha256,
            previous,
            prepare_ms: prepare.as_secs_f64() * 1000.0,
            fleet: Some(fleet),
        }
    }

    /// Waits until every live gateway (and every one that prepared the
    /// version) runs `digest` of `component` or refused it, for at most
    /// [`WAIT_FOR_FLEET`].
    async fn wait_for(&self, component: &str, digest: &str, change: &Change) -> Convergence {
        let started = Instant::now();
        let mut seconds = BTreeMap::new();
        loop {
            let mut outcome = Convergence {
                generation: change.generation,
                ..Convergence::default()
            };
            if let Ok(gateways) = self.store.gateways(LIVE_WITHIN_S * 6.0).await {
                let expected = gateways.into_iter().filter(|g| {
                    g.silent_s <= LIVE_WITHIN_S || change.participants.contains(&g.name)
                });
                for gateway in expected {
                    if gateway.running.get(component).map(String::as_str) == Some(digest) {
                        seconds
                            .entry(gateway.name.clone())
                            .or_insert_with(|| change.committed.elapsed().as_secs_f64());
                        outcome.converged.push(gateway.name);
                    } else if let Some(refusal) = gateway
                        .refused
                        .get(component)
                        .filter(|r| r.digest == digest)
                    {
                        outcome.refused.insert(gateway.name, refusal.reason.clone());
                    } else {
                        outcome.pending.push(gateway.name);
                    }
                }
            }
            outcome.waited_s = started.elapsed().as_secs_f64();
            outcome.seconds.clone_from(&seconds);
            if outcome.pending.is_empty() || started.elapsed() >= WAIT_FOR_FLEET {
                return outcome;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn running(&self) -> BTreeMap<String, String> {
        self.services
            .components
            .iter()
            .map(|(name, set)| (name.clone(), format!("sha256:{}", set.current().sha256)))
            .collect()
    }

    fn running_digest(&self, component: &str) -> Option<String> {
        let set = self.services.components.get(component)?;
        Some(format!("sha256:{}", set.current().sha256))
    }

    fn version_label(&self, component: &str) -> Result<String, DeployError> {
        self.services
            .components
            .get(component)
            .map(|set| set.current().label())
            .ok_or_else(|| DeployError::UnknownComponent(component.to_owned()))
    }

    fn canaries_mut(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, i64>> {
        self.canaries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn staged_mut(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, deploy::Prepared>> {
        self.staged.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn refused_mut(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Refusal>> {
        self.refused.lock().unwrap_or_else(|p| p.into_inner())
    }
}

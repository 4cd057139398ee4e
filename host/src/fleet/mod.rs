//! A fleet: gateways given the same `--control-url` run the same version of
//! every component. Each component's desired version and canary live in a
//! PostgreSQL control database; a deploy, rollback or canary sent to any
//! gateway is written there, and `NOTIFY` wakes every gateway to converge
//! (fetch, verify, prepare, swap: the same hot swap as one process).
//!
//! - [`store`]: every statement on the control database;
//! - [`artifacts`]: versions by digest, in the database or a registry;
//! - [`oci`]: the registry client (Wasm OCI artifacts);
//! - [`verify`]: digests, and why a version is refused.
//!
//! A gateway converges when it starts (before it serves), on every
//! notification, and every second (a notification missed while its
//! connection was down is caught up). A fleet canary runs on every
//! gateway at the same share; each publishes its counts, and whichever
//! gateway locks the canary first judges the summed counts, once.

pub mod artifacts;
pub mod oci;
pub mod store;
pub mod verify;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::api::{
    CanaryStarted, Convergence, Deployed, DesiredVersion, FleetCanary, FleetStatus, GatewayStatus,
    Report, State,
};
use crate::canary::{Slot, Verdict, judge};
use crate::deploy::{self, DeployError, JudgedBy};
use crate::instance::label;
use crate::router::Services;
use artifacts::ArtifactError;
use oci::Registries;
use store::{CanaryRow, Refusal, Refused, Store};

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
        tokio::spawn(follow(Arc::downgrade(&fleet)));
        tokio::spawn(judge_canaries(Arc::downgrade(&fleet)));
        Ok(fleet)
    }

    /// Brings this gateway to the fleet's desired state: canaries started
    /// or ended as decided, then every desired version swapped in; reports
    /// what it runs.
    pub async fn converge(&self) -> Result<(), sqlx::Error> {
        let _one_at_a_time = self.converging.lock().await;
        for (component, digest) in self.store.staging_requests().await? {
            self.stage(&component, &digest).await?;
        }
        for row in self.store.canaries().await? {
            self.apply_canary(&row).await;
        }
        let desired = self.store.desired().await?;
        let mut converged = true;
        for want in &desired {
            let here = self.running_digest(&want.component);
            if here.as_deref() == Some(want.digest.as_str()) {
                self.refused_mut().remove(&want.component);
                self.services.metrics.fleet_converged(&want.component, true);
                continue;
            }
            if here.is_none() {
                // A component this gateway's manifest does not have.
                continue;
            }
            let ok = self
                .swap_to(&want.component, &want.digest, want.age_s)
                .await;
            converged &= ok;
            self.services.metrics.fleet_converged(&want.component, ok);
        }
        if self.left.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        let running = self.running();
        let refused = self.refused_mut().clone();
        self.store
            .report(
                &self.admin_url,
                self.started_at,
                &running,
                &refused,
                converged,
            )
            .await?;
        let live = self.store.gateways(LIVE_WITHIN_S).await?.len();
        self.services.metrics.fleet_gateways(live);
        Ok(())
    }

    /// Leaves the fleet: deploys no longer wait for this gateway.
    pub async fn leave(&self) {
        self.left.store(true, std::sync::atomic::Ordering::Relaxed);
        let _one_at_a_time = self.converging.lock().await;
        if let Err(error) = self.store.leave().await {
            tracing::warn!(%error, "fleet: could not say goodbye (others will stop waiting in 5 s)");
        }
    }

    /// Swaps `component` to version `digest`, unless this gateway already
    /// refused that version (it is not fetched again until the fleet
    /// wants another). Whether it now runs it.
    async fn swap_to(&self, component: &str, digest: &str, age_s: f64) -> bool {
        if self
            .refused_mut()
            .get(component)
            .is_some_and(|r| r.digest == digest)
        {
            return false;
        }
        let staged = self
            .staged_mut()
            .remove(component)
            .filter(|p| digest.strip_prefix("sha256:") == Some(p.version.sha256.as_str()));
        let result = async {
            let prepared = match staged {
                Some(prepared) => prepared,
                None => {
                    let wasm = artifacts::fetch(&self.store, &self.registries, digest).await?;
                    deploy::prepare_version(&self.services, component, &wasm).await?
                }
            };
            deploy::deploy_prepared(&self.services, component, prepared).await?;
            Ok::<_, FleetError>(())
        }
        .await;
        match result {
            Ok(()) => {
                self.refused_mut().remove(component);
                self.services.metrics.fleet_convergence(age_s);
                tracing::info!(component, digest, after_s = age_s, "converged");
                true
            }
            Err(error) => {
                tracing::warn!(component, digest, %error, "cannot run the fleet's version");
                // Transient failures are retried at the next tick; a
                // version that does not verify or load is not.
                if !matches!(
                    error,
                    FleetError::Artifact(ArtifactError::Registry(_) | ArtifactError::Store(_))
                ) {
                    self.services.metrics.fleet_refusal(component);
                    self.refused_mut().insert(
                        component.to_owned(),
                        Refusal {
                            digest: digest.to_owned(),
                            reason: error.to_string(),
                        },
                    );
                }
                false
            }
        }
    }

    /// Starts, or ends as decided, this gateway's part of a fleet canary.
    async fn apply_canary(&self, row: &CanaryRow) {
        let component = row.component.as_str();
        let local = self.services.canary(component).and_then(Slot::running);
        let ours = self.canaries_mut().get(component).copied() == Some(row.id);
        match (row.state.as_str(), local) {
            ("running", None) if !ours => {
                let started = async {
                    let wasm = artifacts::fetch(&self.store, &self.registries, &row.digest).await?;
                    let share = u8::try_from(row.share).unwrap_or(1);
                    deploy::start_canary(&self.services, component, &wasm, share, JudgedBy::Fleet)
                        .await?;
                    Ok::<_, FleetError>(())
                }
                .await;
                match started {
                    Ok(()) => {
                        self.canaries_mut().insert(component.to_owned(), row.id);
                    }
                    Err(error) => {
                        tracing::warn!(component, canary = row.id, %error, "cannot run the fleet's canary");
                    }
                }
            }
            ("promoted" | "rolled_back", Some(_)) if ours => {
                let reason = row.reason.clone().unwrap_or_default();
                let verdict = if row.state == "promoted" {
                    Verdict::Promote(reason)
                } else {
                    Verdict::RollBack(reason)
                };
                if let Err(error) =
                    deploy::end_canary(&self.services, component, verdict, row.manual).await
                {
                    tracing::warn!(component, %error, "cannot end the fleet's canary");
                }
                self.canaries_mut().remove(component);
            }
            _ => {}
        }
    }

    /// Fetches, verifies and prepares a version another gateway asked
    /// the fleet to prepare, and answers whether it could.
    async fn stage(&self, component: &str, digest: &str) -> Result<(), sqlx::Error> {
        if !self.services.components.contains_key(component) {
            // Not in this gateway's manifest: nothing to prepare.
            return self.store.stage(component, digest, None).await;
        }
        let prepared = async {
            let wasm = artifacts::fetch(&self.store, &self.registries, digest).await?;
            Ok::<_, FleetError>(deploy::prepare_version(&self.services, component, &wasm).await?)
        }
        .await;
        match prepared {
            Ok(prepared) => {
                self.staged_mut().insert(component.to_owned(), prepared);
                self.store.stage(component, digest, None).await
            }
            Err(error) => {
                tracing::warn!(component, digest, %error, "fleet: cannot prepare the proposed version");
                self.store
                    .stage(component, digest, Some(&error.to_string()))
                    .await
            }
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
        loop {
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
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.make_desired(component, digest, took).await
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

    async fn make_desired(
        &self,
        component: &str,
        digest: &str,
        prepare: Duration,
    ) -> Result<Deployed, FleetError> {
        let before = self.version_label(component)?;
        let running = self.running_digest(component).unwrap_or_default();
        let generation = self.store.set_desired(component, digest, &running).await?;
        let committed = Instant::now();
        self.converge().await?;
        Ok(self
            .answer(component, digest, before, prepare, (generation, committed))
            .await)
    }

    /// `POST /admin/components/NAME/rollback`: the fleet's previous version.
    pub async fn rollback(&self, component: &str) -> Result<Deployed, FleetError> {
        let before = self.version_label(component)?;
        let desired = self.store.roll_back(component).await?;
        let committed = Instant::now();
        self.converge().await?;
        Ok(self
            .answer(
                component,
                &desired.digest,
                before,
                Duration::ZERO,
                (desired.generation, committed),
            )
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
        (generation, committed): (i64, Instant),
    ) -> Deployed {
        let fleet = self
            .wait_for(component, digest, generation, committed)
            .await;
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

    /// Waits until every live gateway runs `digest` of `component` or
    /// refused it, for at most [`WAIT_FOR_FLEET`].
    async fn wait_for(
        &self,
        component: &str,
        digest: &str,
        generation: i64,
        committed: Instant,
    ) -> Convergence {
        let started = Instant::now();
        let mut seconds = BTreeMap::new();
        loop {
            let mut outcome = Convergence {
                generation,
                ..Convergence::default()
            };
            if let Ok(gateways) = self.store.gateways(LIVE_WITHIN_S).await {
                for gateway in gateways {
                    if gateway.running.get(component).map(String::as_str) == Some(digest) {
                        seconds
                            .entry(gateway.name.clone())
                            .or_insert_with(|| committed.elapsed().as_secs_f64());
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

    /// `PUT /admin/components/NAME?canary=N`: a canary on every gateway.
    pub async fn start_canary(
        &self,
        component: &str,
        wasm: &[u8],
        share: u8,
    ) -> Result<CanaryStarted, FleetError> {
        let prepare = deploy::prepare_version(&self.services, component, wasm)
            .await?
            .took;
        let digest = artifacts::publish(&self.store, &self.registries, component, wasm).await?;
        let stable = self
            .running_digest(component)
            .ok_or_else(|| DeployError::UnknownComponent(component.to_owned()))?;
        let stable_label = self.version_label(component)?;
        self.store
            .start_canary(component, &digest, &stable, share)
            .await?;
        self.converge().await?;
        let policy = &self.services.canary_policy;
        let sha256 = digest.trim_start_matches("sha256:").to_owned();
        Ok(CanaryStarted {
            component: component.to_owned(),
            version: label(component, &sha256),
            sha256,
            stable: stable_label,
            share,
            min_requests: policy.min_requests,
            window_s: policy.window.as_secs_f64(),
            prepare_ms: prepare.as_secs_f64() * 1000.0,
        })
    }

    /// `comptoir promote` / `abort`: decides the fleet's canary by hand.
    pub async fn decide(&self, component: &str, promote: bool) -> Result<Report, FleetError> {
        self.version_label(component)?;
        let no_canary = || DeployError::NoCanary(component.to_owned());
        let id = self
            .store
            .running_canary(component)
            .await?
            .ok_or_else(no_canary)?;
        let (state, reason) = if promote {
            ("promoted", "promoted by hand")
        } else {
            ("rolled_back", "aborted by hand")
        };
        self.store
            .decide_canary(id, true, |_, _, _| Some((state, reason.to_owned())))
            .await?
            .ok_or_else(no_canary)?;
        self.converge().await?;
        self.services
            .canary(component)
            .and_then(Slot::report)
            .ok_or_else(|| no_canary().into())
    }

    /// `GET /admin/fleet`.
    pub async fn status(&self) -> Result<FleetStatus, FleetError> {
        let desired = self
            .store
            .desired()
            .await?
            .into_iter()
            .map(|d| DesiredVersion {
                version: digest_label(&d.component, &d.digest),
                previous: d.previous.map(|p| digest_label(&d.component, &p)),
                component: d.component,
                digest: d.digest,
                generation: d.generation,
            })
            .collect();
        let gateways = self
            .store
            .gateways(LIVE_WITHIN_S * 6.0)
            .await?
            .into_iter()
            .map(|g| GatewayStatus {
                running: g
                    .running
                    .iter()
                    .map(|(c, d)| (c.clone(), digest_label(c, d)))
                    .collect(),
                refused: g
                    .refused
                    .iter()
                    .map(|(c, r)| (c.clone(), r.reason.clone()))
                    .collect(),
                name: g.name,
                admin_url: g.admin_url,
                started_at: g
                    .started_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                last_seen_s: g.silent_s,
                converged_at: g
                    .converged_at
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            })
            .collect();
        let mut canaries = Vec::new();
        for row in self.store.canaries().await? {
            let (stable, canary) = self.store.summed_counts(row.id).await?;
            canaries.push(FleetCanary {
                version: digest_label(&row.component, &row.digest),
                stable_version: digest_label(&row.component, &row.stable),
                share: u8::try_from(row.share).unwrap_or(0),
                state: state_of(&row.state),
                elapsed_s: row.elapsed_s,
                reason: row.reason,
                manual: row.manual,
                stable: stable.snapshot(),
                canary: canary.snapshot(),
                component: row.component,
            });
        }
        Ok(FleetStatus {
            gateway: self.store.gateway.clone(),
            desired,
            gateways,
            canaries,
        })
    }

    /// Publishes this gateway's counts of each fleet canary it runs, then
    /// tries to judge it (whoever locks it first does, once).
    async fn judge_once(&self) -> Result<(), sqlx::Error> {
        let running: Vec<(String, i64)> = self
            .canaries_mut()
            .iter()
            .map(|(c, id)| (c.clone(), *id))
            .collect();
        let mut decided = false;
        for (component, id) in running {
            let Some(canary) = self.services.canary(&component).and_then(Slot::running) else {
                continue;
            };
            let (stable, counts) = canary.counts();
            self.store.publish_counts(id, &stable, &counts).await?;
            let policy = &self.services.canary_policy;
            let verdict = self
                .store
                .decide_canary(id, false, |stable, canary, elapsed_s| {
                    judge::judge(
                        &stable.snapshot(),
                        &canary.snapshot(),
                        Duration::from_secs_f64(elapsed_s.max(0.0)),
                        policy,
                    )
                    .map(|verdict| match verdict {
                        Verdict::Promote(reason) => ("promoted", reason),
                        Verdict::RollBack(reason) => ("rolled_back", reason),
                    })
                })
                .await?;
            if let Some(row) = verdict {
                tracing::info!(component, canary = id, state = %row.state, reason = ?row.reason, "fleet canary decided");
                decided = true;
            }
        }
        if decided {
            self.converge().await?;
        }
        Ok(())
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

/// Converges whenever the control database says something changed, and
/// every [`TICK`] (reporting this gateway alive).
async fn follow(fleet: Weak<Fleet>) {
    let mut listener = None;
    loop {
        let Some(strong) = fleet.upgrade() else {
            return;
        };
        if listener.is_none() {
            listener = listen(strong.store.pool()).await;
        }
        drop(strong);
        match listener.as_mut() {
            Some(l) => match tokio::time::timeout(TICK, l.recv()).await {
                Ok(Ok(_)) | Err(_) => {}
                Ok(Err(error)) => {
                    tracing::warn!(%error, "fleet: lost the control database's notifications");
                    listener = None;
                }
            },
            None => tokio::time::sleep(TICK).await,
        }
        let Some(strong) = fleet.upgrade() else {
            return;
        };
        if let Err(error) = strong.converge().await {
            tracing::warn!(%error, "fleet: cannot converge (will retry)");
        }
    }
}

async fn listen(pool: &sqlx::PgPool) -> Option<sqlx::postgres::PgListener> {
    let result = async {
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen(store::CHANNEL).await?;
        Ok::<_, sqlx::Error>(listener)
    }
    .await;
    result
        .inspect_err(|error| tracing::warn!(%error, "fleet: cannot LISTEN (polling instead)"))
        .ok()
}

/// Publishes counts and judges this gateway's fleet canaries.
async fn judge_canaries(fleet: Weak<Fleet>) {
    loop {
        tokio::time::sleep(JUDGE_EVERY).await;
        let Some(fleet) = fleet.upgrade() else {
            return;
        };
        if let Err(error) = fleet.judge_once().await {
            tracing::warn!(%error, "fleet: cannot judge canaries (will retry)");
        }
    }
}

fn digest_label(component: &str, digest: &str) -> String {
    label(component, digest.trim_start_matches("sha256:"))
}

fn state_of(state: &str) -> State {
    match state {
        "promoted" => State::Promoted,
        "rolled_back" => State::RolledBack,
        _ => State::Running,
    }
}

//! Converging: bringing this gateway to the fleet's desired state —
//! versions proposed by other gateways prepared, canaries started or ended
//! as decided, desired versions swapped in — when it joins, on every
//! notification, and every [`TICK`] (a notification missed while the
//! connection was down is caught up).

use std::sync::Weak;

use super::artifacts;
use super::store::{self, CanaryRow, Refusal};
use super::verify::ArtifactError;
use super::{Fleet, FleetError, LIVE_WITHIN_S, TICK};
use crate::canary::{Slot, Verdict};
use crate::deploy::{self, JudgedBy};

impl Fleet {
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
}

/// Converges whenever the control database says something changed, and
/// every [`TICK`] (reporting this gateway alive).
pub(super) async fn follow(fleet: Weak<Fleet>) {
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

/// Says every [`TICK`] that this gateway is alive, apart from converging
/// (which can take seconds when it prepares a version): a deploy waits for
/// the gateways alive.
pub(super) async fn heartbeat(fleet: Weak<Fleet>) {
    loop {
        tokio::time::sleep(TICK).await;
        let Some(fleet) = fleet.upgrade() else {
            return;
        };
        if fleet.left.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        if let Err(error) = fleet.store.heartbeat().await {
            tracing::warn!(%error, "fleet: cannot report alive (will retry)");
        }
    }
}

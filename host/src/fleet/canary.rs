//! Fleet canaries: one canary on every gateway at the same share, judged
//! once on the counts every gateway publishes (summed, histograms too).

use std::sync::Weak;
use std::time::Duration;

use super::artifacts;
use super::{Fleet, FleetError, JUDGE_EVERY};
use crate::api::{CanaryStarted, Report};
use crate::canary::{Slot, Verdict, judge};
use crate::deploy::{self, DeployError};
use crate::instance::label;

impl Fleet {
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
}

/// Publishes counts and judges this gateway's fleet canaries.
pub(super) async fn judge_canaries(fleet: Weak<Fleet>) {
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

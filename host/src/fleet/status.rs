//! `GET /admin/fleet`: the fleet as the control database sees it.

use super::{Fleet, FleetError, LIVE_WITHIN_S};
use crate::api::{DesiredVersion, FleetCanary, FleetStatus, GatewayStatus, State};
use crate::instance::label;

impl Fleet {
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

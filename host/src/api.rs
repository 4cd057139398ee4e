//! The admin API's wire types: what the admin listener answers and the CLI
//! (`comptoir deploy | rollback | promote | abort | status`) reads.

use serde::{Deserialize, Serialize};

/// Name of the admin token file in the state directory.
pub const TOKEN_FILE: &str = "admin-token";

/// What a deploy or rollback did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deployed {
    pub component: String,
    pub version: String,
    pub sha256: String,
    pub previous: String,
    /// Validation + compilation + trial instantiation.
    pub prepare_ms: f64,
    /// With `--control-url`: how the change reached the other gateways.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<Convergence>,
}

/// A canary that started.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// `GET /admin/components`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Inventory {
    pub components: Vec<ComponentStatus>,
}

/// One component: its version, the one a rollback restores, its canary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ComponentStatus {
    pub name: String,
    pub version: String,
    pub sha256: String,
    /// `p3-component`, `p2-component` or `p1-module` (componentized at load).
    #[serde(default)]
    pub kind: String,
    /// RFC 3339, milliseconds, UTC.
    pub loaded_at: String,
    pub previous: Option<String>,
    pub traps: u64,
    pub canary: Option<Report>,
    pub replicas: Vec<ReplicaStatus>,
}

/// One live replica of a component.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicaStatus {
    pub slot: usize,
    pub version: String,
    pub in_flight: usize,
    pub served: u64,
}

/// Where a canary stands (`comptoir_canary_state`'s values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Running = 1,
    Promoted = 2,
    RolledBack = 3,
}

/// A canary as the admin API reports it: running, or how it ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub state: State,
    pub version: String,
    pub stable_version: String,
    pub share: u8,
    pub started_at: String,
    pub elapsed_s: f64,
    /// Until the window ends (running canaries only).
    pub time_left_s: Option<f64>,
    pub min_requests: u64,
    pub stable: Snapshot,
    pub canary: Snapshot,
    /// Why it was promoted or rolled back.
    pub reason: Option<String>,
    /// Decided by `comptoir promote` / `abort` rather than by the judge.
    pub manual: bool,
}

/// What one version answered during a canary, as the judge reads it and
/// `comptoir status` shows it (a reading of the canary's counters).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub requests: u64,
    /// 5xx answers, traps, deadline kills and overloads included.
    pub server_errors: u64,
    pub client_errors: u64,
    pub traps: u64,
    pub deadline_kills: u64,
    /// Time to the response head, 99th percentile (upper bucket bound).
    pub p99_ms: Option<f64>,
}

impl Snapshot {
    /// `count` as a share of the requests (0 when there were none).
    pub fn share(&self, count: u64) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            count as f64 / self.requests as f64
        }
    }
}

/// `time` as RFC 3339 with milliseconds, UTC.
pub fn rfc3339(time: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// How a fleet change spread to the gateways (`Deployed::fleet`), once
/// every live gateway ran it, refused it, or the wait ended.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Convergence {
    pub generation: i64,
    /// Gateways serving the new version.
    pub converged: Vec<String>,
    /// Gateways not serving it yet when the wait ended.
    pub pending: Vec<String>,
    /// Gateways that would not run it, and why.
    pub refused: std::collections::BTreeMap<String, String>,
    /// Per converged gateway: seconds from the change being committed to
    /// the gateway reporting that it serves it (polled every 50 ms).
    pub seconds: std::collections::BTreeMap<String, f64>,
    pub waited_s: f64,
}

/// `GET /admin/fleet`: the fleet as its control database sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetStatus {
    /// The gateway that answered.
    pub gateway: String,
    pub desired: Vec<DesiredVersion>,
    pub gateways: Vec<GatewayStatus>,
    /// Running canaries, and each component's last decided one.
    pub canaries: Vec<FleetCanary>,
}

/// The version every gateway should run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DesiredVersion {
    pub component: String,
    pub version: String,
    pub digest: String,
    pub previous: Option<String>,
    pub generation: i64,
}

/// One gateway, as it last reported itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GatewayStatus {
    pub name: String,
    pub admin_url: Option<String>,
    pub started_at: String,
    /// Seconds since it last reported (every second while it runs).
    pub last_seen_s: f64,
    /// When it last came to run every desired version (none: it does not).
    pub converged_at: Option<String>,
    /// Component → the version it serves.
    pub running: std::collections::BTreeMap<String, String>,
    /// Component → why it does not run the desired version.
    pub refused: std::collections::BTreeMap<String, String>,
}

/// A canary across the fleet, with every gateway's counts summed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetCanary {
    pub component: String,
    pub version: String,
    pub stable_version: String,
    pub share: u8,
    pub state: State,
    pub elapsed_s: f64,
    pub reason: Option<String>,
    pub manual: bool,
    pub stable: Snapshot,
    pub canary: Snapshot,
}

//! Fleets: gateways given the same `--control-url` run the same versions.
//! A deploy, rollback or canary sent to one reaches all; a gateway that
//! starts later comes up on the desired version; a version a gateway
//! cannot trust is refused and said so.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::database::TestDb;
use crate::harness::{
    App, Component, Launch, comptoir_cli, deploy, eventually, problem, spawn, temp_dir, variant,
    version_of, wasm, write_manifest,
};

/// Gateways serving one manifest on shared service databases, each with a
/// state directory of its own, joined by one control database.
pub struct Fleet {
    pub gateways: Vec<Option<App>>,
    pub control: TestDb,
    _db: TestDb,
    manifest: PathBuf,
    dirs: Vec<tempfile::TempDir>,
    env: Vec<(String, String)>,
    args: Vec<String>,
    _manifest_dir: tempfile::TempDir,
}

impl Fleet {
    pub async fn start(size: usize, components: Vec<Component>, args: &[&str]) -> Self {
        let ids: Vec<&str> = components.iter().filter(|c| c.db).map(|c| c.id).collect();
        let db = TestDb::start(&ids).await;
        let control = TestDb::start(&["control"]).await;
        let manifest_dir = temp_dir();
        let manifest = write_manifest(manifest_dir.path(), &components);
        let mut env = Launch::db_env(&db);
        env.push((
            "COMPTOIR_CONTROL_URL".into(),
            control.urls["control"].clone(),
        ));
        let mut fleet = Self {
            gateways: Vec::new(),
            control,
            _db: db,
            manifest,
            dirs: (0..size).map(|_| temp_dir()).collect(),
            env,
            args: args.iter().map(|a| a.to_string()).collect(),
            _manifest_dir: manifest_dir,
        };
        for i in 0..size {
            let gateway = fleet.launch(i).await;
            fleet.gateways.push(Some(gateway));
        }
        fleet
    }

    /// Gateway `i`'s name in the fleet.
    pub fn name(i: usize) -> String {
        format!("gateway-{i}")
    }

    async fn launch(&self, i: usize) -> App {
        let mut env = self.env.clone();
        env.push(("COMPTOIR_GATEWAY_NAME".into(), Self::name(i)));
        spawn(Launch {
            manifest: &self.manifest,
            state_dir: self.dirs[i].path(),
            env,
            args: self.args.clone(),
        })
        .await
    }

    pub fn gateway(&self, i: usize) -> &App {
        self.gateways[i].as_ref().expect("a running gateway")
    }

    /// Kills gateway `i` (SIGKILL: no goodbye to the fleet).
    pub fn kill(&mut self, i: usize) {
        if let Some(gateway) = self.gateways[i].take() {
            gateway.kill();
        }
    }

    pub async fn restart(&mut self, i: usize) {
        self.kill(i);
        let gateway = self.launch(i).await;
        self.gateways[i] = Some(gateway);
    }

    pub async fn status(&self, i: usize) -> Value {
        let response = self
            .gateway(i)
            .admin_request(Method::GET, "/admin/fleet")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    pub async fn control(&self) -> sqlx::PgPool {
        self.control.pool("control").await
    }
}

async fn admin_post(app: &App, path: &str) -> reqwest::Response {
    app.admin_request(Method::POST, path).send().await.unwrap()
}

/// The version that `app` serves `path` with now.
pub async fn serves(app: &App, path: &str) -> String {
    let response = app.get(path).await;
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    version_of(&response)
}

pub fn clients_variant(tag: &str) -> Vec<u8> {
    variant(&std::fs::read(wasm("clients")).unwrap(), tag)
}

/// A deploy sent to one gateway is served by every gateway when it
/// answers (its answer says which gateways serve it); a rollback sent to
/// another gateway brings all back. Metrics and status say so.
#[tokio::test]
async fn a_deploy_sent_to_one_gateway_reaches_every_gateway() {
    let fleet = Fleet::start(2, vec![Component::clients()], &["--replicas", "1"]).await;
    let (a, b) = (fleet.gateway(0), fleet.gateway(1));
    let original = serves(b, "/clients").await;
    assert_eq!(serves(a, "/clients").await, original);

    let response = deploy(a, "clients", clients_variant("fleet-1")).await;
    assert_eq!(response.status(), 200);
    let done: Value = response.json().await.unwrap();
    let version = done["version"].as_str().unwrap().to_owned();
    assert_ne!(version, original);
    assert_eq!(done["previous"], original.as_str());
    let mut converged: Vec<&str> = done["fleet"]["converged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    converged.sort();
    assert_eq!(converged, ["gateway-0", "gateway-1"], "{done}");
    assert_eq!(done["fleet"]["pending"], Value::Array(vec![]), "{done}");
    assert_eq!(
        done["fleet"]["seconds"].as_object().unwrap().len(),
        2,
        "{done}"
    );
    for gateway in [a, b] {
        assert_eq!(serves(gateway, "/clients").await, version);
    }
    // Both prepared it before either swapped (phase one of the deploy).
    let prepared: Vec<(String, bool)> =
        sqlx::query_as("SELECT gateway, ok FROM staging WHERE digest = $1 ORDER BY gateway")
            .bind(format!("sha256:{}", done["sha256"].as_str().unwrap()))
            .fetch_all(&fleet.control().await)
            .await
            .unwrap();
    assert_eq!(
        prepared,
        [
            ("gateway-0".to_owned(), true),
            ("gateway-1".to_owned(), true)
        ]
    );

    // A rollback sent to the other gateway: every gateway goes back.
    let back = admin_post(b, "/admin/components/clients/rollback").await;
    assert_eq!(back.status(), 200);
    let back: Value = back.json().await.unwrap();
    assert_eq!(back["version"], original.as_str(), "{back}");
    assert_eq!(back["fleet"]["converged"].as_array().unwrap().len(), 2);
    for gateway in [a, b] {
        assert_eq!(serves(gateway, "/clients").await, original);
    }

    let status = fleet.status(0).await;
    assert_eq!(status["gateways"].as_array().unwrap().len(), 2, "{status}");
    for gateway in status["gateways"].as_array().unwrap() {
        assert_eq!(gateway["running"]["clients"], original.as_str(), "{status}");
        assert!(gateway["converged_at"].is_string(), "{status}");
    }
    let desired = &status["desired"][0];
    assert_eq!(
        (
            &desired["component"],
            &desired["version"],
            &desired["generation"]
        ),
        (
            &Value::from("clients"),
            &Value::from(original.as_str()),
            &Value::from(2)
        ),
        "{status}"
    );
    for gateway in [a, b] {
        let metrics = gateway.scrape().await;
        assert_eq!(
            metrics.get("comptoir_fleet_converged", &[("component", "clients")]),
            Some(1.0)
        );
        assert_eq!(metrics.get("comptoir_fleet_gateways", &[]), Some(2.0));
    }
    // `comptoir status` shows the fleet: both gateways, what they run.
    let out = comptoir_cli(&a.admin, fleet.dirs[0].path(), &["status"]);
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("FLEET (answered by gateway-0)"),
        "{printed}"
    );
    for name in ["gateway-0", "gateway-1"] {
        let line = printed
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("{name} in:\n{printed}"));
        assert!(line.contains(&original), "{line}");
    }
    // Gateway b swapped twice on a's word (deploy, then its own rollback
    // counts too): every swap it made by converging is timed.
    assert!(
        b.metric("comptoir_fleet_convergence_seconds_count", &[])
            .await
            >= 1.0
    );
}

/// A gateway that was down while the fleet changed comes up on the desired
/// version, not its manifest's, before it serves its first request.
#[tokio::test]
async fn a_gateway_started_after_a_deploy_serves_the_desired_version() {
    let mut fleet = Fleet::start(2, vec![Component::clients()], &["--replicas", "1"]).await;
    let original = serves(fleet.gateway(1), "/clients").await;
    fleet.kill(1);
    let response = deploy(fleet.gateway(0), "clients", clients_variant("while-down")).await;
    assert_eq!(response.status(), 200);
    let done: Value = response.json().await.unwrap();
    let version = done["version"].as_str().unwrap().to_owned();
    assert_ne!(version, original);

    fleet.restart(1).await;
    assert_eq!(serves(fleet.gateway(1), "/clients").await, version);
    // And one restarted without warning during the next deploy, too.
    let response = deploy(fleet.gateway(0), "clients", clients_variant("next")).await;
    let next: Value = response.json().await.unwrap();
    fleet.restart(1).await;
    assert_eq!(
        serves(fleet.gateway(1), "/clients").await,
        next["version"].as_str().unwrap()
    );
}

/// A stored version whose bytes no longer match its digest is refused by a
/// gateway fetching it: that gateway keeps what it runs and says why, in
/// its report to the fleet and in its metrics.
#[tokio::test]
async fn a_tampered_version_is_refused_and_reported() {
    let mut fleet = Fleet::start(2, vec![Component::clients()], &["--replicas", "1"]).await;
    let original = serves(fleet.gateway(1), "/clients").await;
    fleet.kill(1);
    let response = deploy(fleet.gateway(0), "clients", clients_variant("tampered")).await;
    let done: Value = response.json().await.unwrap();
    let digest = format!("sha256:{}", done["sha256"].as_str().unwrap());
    // Someone with access to the control database changes the bytes.
    let pool = fleet.control().await;
    let changed =
        sqlx::query("UPDATE artifacts SET content = content || '\\x00'::bytea WHERE digest = $1")
            .bind(&digest)
            .execute(&pool)
            .await
            .unwrap();
    assert_eq!(changed.rows_affected(), 1);

    fleet.restart(1).await;
    let b = fleet.gateway(1);
    assert_eq!(serves(b, "/clients").await, original);
    let status = fleet.status(1).await;
    let me = status["gateways"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == Fleet::name(1))
        .unwrap()
        .clone();
    let reason = me["refused"]["clients"].as_str().unwrap();
    assert!(reason.contains("digest mismatch"), "{me}");
    assert!(me["converged_at"].is_null(), "{me}");
    let metrics = b.scrape().await;
    assert_eq!(
        metrics.get("comptoir_fleet_converged", &[("component", "clients")]),
        Some(0.0)
    );
    assert_eq!(
        metrics.get("comptoir_fleet_refusals_total", &[("component", "clients")]),
        Some(1.0)
    );
}

/// A canary sent to one gateway runs on every gateway at the same share;
/// the fleet's judge decides once on every gateway's counts, and both
/// gateways act on it. A canary that lost its routes is rolled back on
/// both; a good one is promoted on both with no failed request.
#[tokio::test]
async fn a_fleet_canary_is_judged_once_and_applied_everywhere() {
    let fleet = Fleet::start(
        2,
        vec![Component::clients()],
        &["--replicas", "1", "--canary-min-requests", "40"],
    )
    .await;
    let (a, b) = (fleet.gateway(0), fleet.gateway(1));
    let stable = serves(a, "/clients").await;
    let start = |app: &App, bytes: Vec<u8>| {
        app.admin_request(Method::PUT, "/admin/components/clients?canary=25")
            .body(bytes)
            .send()
    };

    // One that lost every route (the fault-test component).
    let lost = std::fs::read(wasm("testing_fault")).unwrap();
    let started = start(a, lost).await.unwrap();
    assert_eq!(started.status(), 202);
    // One canary at a time across the fleet: the other gateway refuses.
    let again = start(b, clients_variant("second")).await.unwrap();
    problem(again, 409).await;
    let plain = deploy(b, "clients", clients_variant("plain")).await;
    problem(plain, 409).await;

    let decided = eventually(Duration::from_secs(60), "a fleet decision", async || {
        // Traffic through both gateways.
        for _ in 0..5 {
            let _ = a.get("/clients").await;
            let _ = b.get("/clients").await;
        }
        let canary = fleet.status(1).await["canaries"][0].clone();
        if canary["state"] == "running" {
            return Err(canary);
        }
        Ok(canary)
    })
    .await;
    assert_eq!(decided["state"], "rolled_back", "{decided}");
    assert!(
        decided["reason"].as_str().unwrap().contains("4xx"),
        "{decided}"
    );
    // The summed counts are the fleet's: more than either gateway's alone.
    assert!(
        decided["canary"]["requests"].as_u64().unwrap() >= 40,
        "{decided}"
    );
    // Both gateways ended it (how long that takes is measured by `cargo
    // xtask compose test`, not asserted here).
    for gateway in [a, b] {
        let ended = eventually(
            Duration::from_secs(10),
            "the canary ended here",
            async || {
                let inventory = gateway.inventory().await;
                let report = inventory["components"][0]["canary"].clone();
                if report["state"] == "rolled_back" {
                    Ok(report)
                } else {
                    Err(report)
                }
            },
        )
        .await;
        assert_eq!(ended["state"], "rolled_back");
        for _ in 0..10 {
            assert_eq!(serves(gateway, "/clients").await, stable);
        }
    }

    // A good one: promoted on both, with no failed request meanwhile.
    let good = clients_variant("good");
    let started = start(b, good).await.unwrap();
    assert_eq!(started.status(), 202);
    let started: Value = started.json().await.unwrap();
    let version = started["version"].as_str().unwrap().to_owned();
    let mut failed = 0;
    eventually(Duration::from_secs(60), "a promotion", async || {
        for gateway in [a, b] {
            for _ in 0..5 {
                failed += u32::from(!gateway.get("/clients").await.status().is_success());
            }
        }
        let canary = fleet.status(0).await["canaries"][0].clone();
        if canary["state"] == "running" || canary["version"] != version.as_str() {
            return Err(canary);
        }
        Ok(canary)
    })
    .await;
    assert_eq!(failed, 0);
    for gateway in [a, b] {
        eventually(
            Duration::from_secs(10),
            "the promoted version here",
            async || {
                let now = serves(gateway, "/clients").await;
                if now == version { Ok(()) } else { Err(now) }
            },
        )
        .await;
    }
    let status = fleet.status(0).await;
    assert_eq!(
        status["desired"][0]["version"],
        version.as_str(),
        "{status}"
    );
}

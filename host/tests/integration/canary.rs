//! Canary deploys: a share of a component's requests (public and chained)
//! to a new version, judged against the stable one, then promoted or rolled
//! back — automatically or by hand — with the decision in status and metrics.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{
    App, Component, Metrics, comptoir_cli, deploy, eventually, problem, stack, variant, version_of,
    wasm,
};

/// One replica, and a canary the judge never decides (by count or by
/// time) during a test: the test decides it, or looks at it running.
const NEVER_JUDGED: &[&str] = &[
    "--replicas",
    "1",
    "--canary-min-requests",
    "100000",
    "--canary-window",
    "10m",
];

/// Starts a canary of `component` taking `share` %.
async fn canary(app: &App, component: &str, bytes: Vec<u8>, share: &str) -> reqwest::Response {
    app.admin_request(
        Method::PUT,
        &format!("/admin/components/{component}?canary={share}"),
    )
    .body(bytes)
    .send()
    .await
    .unwrap()
}

async fn admin_post(app: &App, path: &str) -> reqwest::Response {
    app.admin_request(Method::POST, path).send().await.unwrap()
}

/// The inventory entry of `component`.
async fn component(app: &App, name: &str) -> Value {
    let inventory = app.inventory().await;
    inventory["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()
        .clone()
}

/// A canary that lost the component's routes (it answers 404 where the
/// stable version answers 200) is rolled back by itself; only its own share
/// of the requests saw it, and afterwards every request is served by stable.
#[tokio::test]
async fn a_canary_that_lost_its_routes_is_rolled_back_automatically() {
    let s = stack(
        vec![Component::clients()],
        &["--replicas", "2", "--canary-min-requests", "40"],
    )
    .await;
    let stable = component(&s.app, "clients").await["version"]
        .as_str()
        .unwrap()
        .to_owned();
    // Any valid component fits the platform world: the fault-test one has
    // none of clients' routes.
    let lost = std::fs::read(wasm("testing_fault")).unwrap();
    let started = canary(&s.app, "clients", lost.clone(), "25").await;
    assert_eq!(started.status(), 202);
    let started: Value = started.json().await.unwrap();
    let canary_version = started["version"].as_str().unwrap().to_owned();
    assert_ne!(canary_version, stable);
    assert_eq!(started["stable"], stable.as_str());

    // One canary at a time, and no plain deploy or rollback meanwhile.
    let again = canary(&s.app, "clients", variant(&lost, "2"), "10").await;
    assert_eq!(
        problem(again, 409).await["type"],
        "https://comptoir.dev/problems/canary-running"
    );
    let plain = deploy(&s.app, "clients", variant(&lost, "3")).await;
    problem(plain, 409).await;
    problem(
        admin_post(&s.app, "/admin/components/clients/rollback").await,
        409,
    )
    .await;

    let mut by_version: std::collections::BTreeMap<(String, u16), u32> = Default::default();
    let report = eventually(Duration::from_secs(60), "a decision", async || {
        // Traffic to judge the canary on, then a look at the verdict.
        for _ in 0..10 {
            let response = s.app.get("/clients").await;
            *by_version
                .entry((version_of(&response), response.status().as_u16()))
                .or_default() += 1;
        }
        let report = component(&s.app, "clients").await["canary"].clone();
        if report["state"] == "running" {
            return Err(report);
        }
        Ok(report)
    })
    .await;
    assert_eq!(report["state"], "rolled_back", "{report}");
    assert_eq!(report["manual"], false);
    let reason = report["reason"].as_str().unwrap();
    assert!(reason.contains("4xx share"), "{reason}");
    // Every 404 came from the canary, every answer of stable was a 200.
    for ((version, status), n) in &by_version {
        match status {
            200 => assert_eq!(version, &stable, "{by_version:?}"),
            404 => assert_eq!(version, &canary_version, "{by_version:?}"),
            other => panic!("{n} × {other} from {version}"),
        }
    }
    let canary_requests = report["canary"]["requests"].as_u64().unwrap();
    assert!(canary_requests >= 40, "{report}");
    assert_eq!(report["canary"]["client_errors"], canary_requests);

    // Rolled back: stable serves everything, and nothing else changed.
    for _ in 0..20 {
        let response = s.app.get("/clients").await;
        assert_eq!(response.status(), 200);
        assert_eq!(version_of(&response), stable);
    }
    let after = component(&s.app, "clients").await;
    assert_eq!(after["version"], stable.as_str());
    assert!(
        after["previous"].is_null(),
        "a rolled-back canary is no previous version"
    );
    let metrics = s.app.metrics().await;
    assert_eq!(
        Metrics::parse(&metrics).get("comptoir_canary_state", &[("component", "clients")]),
        Some(3.0)
    );
    assert_eq!(
        Metrics::parse(&metrics).get(
            "comptoir_canary_decisions_total",
            &[("component", "clients"), ("outcome", "rolled_back")]
        ),
        Some(1.0)
    );
    let canary_sha = canary_version.split_once('@').unwrap().1;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("comptoir_http_requests_total")
                && l.contains(&format!(r#"version="{canary_sha}""#))
                && l.contains(r#"status="404""#)),
        "requests are counted by version"
    );
}

/// Canary requests from which the judge compares p99 latencies (the
/// host's `P99_MIN_REQUESTS`): the canary below is judged at exactly that.
const P99_MIN_REQUESTS: u64 = 100;

/// panier's `slow` build (every request waits 300 ms, then answers as
/// usual), built once into a directory of its own.
async fn slow_panier() -> std::path::PathBuf {
    let workspace = crate::harness::workspace();
    tokio::task::spawn_blocking(move || {
        wasm_variant::with_features(&workspace, "panier", &["slow"])
    })
    .await
    .unwrap()
    .expect("panier's slow build")
}

/// A canary of a slower panier (its `slow` build: every request waits
/// 300 ms, then answers as usual) fails no request, but once it has served
/// enough requests for its p99 to be judged it is rolled back for it, the
/// reason naming p99; afterwards every request is served by stable.
#[tokio::test]
async fn a_slower_canary_is_rolled_back_for_its_p99() {
    let slow = slow_panier().await;
    let s = stack(
        vec![Component::clients(), Component::panier()],
        &[
            "--replicas",
            "4",
            "--canary-min-requests",
            &P99_MIN_REQUESTS.to_string(),
            // Judged by its request count, never by the time it ran.
            "--canary-window",
            "10m",
        ],
    )
    .await;
    let client = s.app.new_client("slow-canary@example.com").await;
    let cart = format!("/panier/{client}");
    // Eight at a time: during the canary four to each version, one per
    // replica (none waits for another's 300 ms).
    let gets = || futures::future::join_all((0..8).map(|_| s.app.get(&cart)));
    // The cart exists, verified, before the canary; every stable replica
    // has served.
    for _ in 0..5 {
        for response in gets().await {
            assert_eq!(response.status(), 200);
        }
    }
    let stable = component(&s.app, "panier").await["version"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = canary(&s.app, "panier", std::fs::read(slow).unwrap(), "50").await;
    assert_eq!(started.status(), 202);
    let canary_version = started.json::<Value>().await.unwrap()["version"]
        .as_str()
        .unwrap()
        .to_owned();

    // Traffic until the canary has served enough requests to be judged…
    let mut by_version: std::collections::BTreeMap<(String, u16), u32> = Default::default();
    eventually(
        Duration::from_secs(120),
        "the canary serving enough requests to be judged",
        async || {
            for response in gets().await {
                *by_version
                    .entry((version_of(&response), response.status().as_u16()))
                    .or_default() += 1;
            }
            let report = component(&s.app, "panier").await["canary"].clone();
            match report["canary"]["requests"].as_u64() {
                Some(n) if n >= P99_MIN_REQUESTS => Ok(()),
                _ => Err(report),
            }
        },
    )
    .await;
    // …then none while the judge decides: it decides on exactly those, and
    // no request is on its way to the canary as it is retired.
    let report = eventually(Duration::from_secs(10), "a decision", async || {
        let report = component(&s.app, "panier").await["canary"].clone();
        if report["state"] == "running" {
            return Err(report);
        }
        Ok(report)
    })
    .await;
    assert_eq!(report["state"], "rolled_back", "{report}");
    assert_eq!(report["manual"], false);
    let reason = report["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("p99 ") && reason.ends_with("on stable"),
        "rolled back for its latency only: {reason}"
    );
    // Slower, not failing: every answer of either version was a 200.
    assert_eq!(report["canary"]["server_errors"], 0, "{report}");
    assert_eq!(report["canary"]["client_errors"], 0, "{report}");
    assert!(
        by_version.keys().all(|(_, status)| *status == 200),
        "{by_version:?}"
    );
    assert!(
        by_version.contains_key(&(canary_version.clone(), 200)),
        "the canary served: {by_version:?}"
    );
    assert!(
        report["canary"]["requests"].as_u64().unwrap() >= P99_MIN_REQUESTS,
        "{report}"
    );
    let (canary_p99, stable_p99) = (
        report["canary"]["p99_ms"].as_f64().unwrap(),
        report["stable"]["p99_ms"].as_f64().unwrap(),
    );
    assert!(
        canary_p99 >= 300.0 && canary_p99 > stable_p99 * 1.5,
        "{report}"
    );

    // Rolled back: stable serves everything again.
    for _ in 0..5 {
        for response in gets().await {
            assert_eq!(response.status(), 200);
            assert_eq!(version_of(&response), stable);
        }
    }
    let after = component(&s.app, "panier").await;
    assert_eq!(after["version"], stable.as_str());
    assert!(after["previous"].is_null(), "{after}");
    assert_eq!(
        Metrics::parse(&s.app.metrics().await).get(
            "comptoir_canary_decisions_total",
            &[("component", "panier"), ("outcome", "rolled_back")]
        ),
        Some(1.0)
    );
}

/// Under concurrent writes and reads, a canary of an equivalent build is
/// promoted by itself: no request fails, both versions served, and then
/// the canary is the version and the old one the rollback target.
#[tokio::test]
async fn a_good_canary_is_promoted_automatically_with_no_failed_request() {
    let s = stack(
        vec![Component::clients()],
        &["--replicas", "2", "--canary-min-requests", "60"],
    )
    .await;
    let app = Arc::new(s.app);
    let stable = component(&app, "clients").await["version"]
        .as_str()
        .unwrap()
        .to_owned();
    let original = std::fs::read(wasm("clients")).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for worker in 0..6 {
        let (app, stop) = (app.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut seen = std::collections::BTreeSet::new();
            let mut failures = Vec::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let created = app
                    .post_json(
                        "/clients",
                        &json!({"name": "Canary", "email": format!("c{worker}-{i}@example.com")}),
                    )
                    .await;
                seen.insert(version_of(&created));
                if created.status() != 201 {
                    failures.push(format!("POST {}", created.status()));
                    continue;
                }
                let id = created.json::<Value>().await.unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                let fetched = app.get(&format!("/clients/{id}")).await;
                seen.insert(version_of(&fetched));
                if fetched.status() != 200 {
                    failures.push(format!("GET {}", fetched.status()));
                }
            }
            (seen, failures)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = canary(&app, "clients", variant(&original, "canary"), "20").await;
    assert_eq!(started.status(), 202);
    let started: Value = started.json().await.unwrap();
    let canary_version = started["version"].as_str().unwrap().to_owned();
    let report = eventually(Duration::from_secs(90), "a decision", async || {
        let report = component(&app, "clients").await["canary"].clone();
        if report["state"] == "running" {
            return Err(report);
        }
        Ok(report)
    })
    .await;
    // A little traffic after the promotion, then stop.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut seen = std::collections::BTreeSet::new();
    for worker in workers {
        let (versions, failures) = worker.await.unwrap();
        assert!(failures.is_empty(), "failed requests: {failures:?}");
        seen.extend(versions);
    }
    assert_eq!(report["state"], "promoted", "{report}");
    assert_eq!(report["manual"], false);
    assert!(
        report["canary"]["requests"].as_u64().unwrap() >= 60,
        "{report}"
    );
    assert!(
        seen.contains(&stable) && seen.contains(&canary_version),
        "{seen:?}"
    );
    let after = component(&app, "clients").await;
    assert_eq!(after["version"], canary_version.as_str());
    assert_eq!(after["previous"], stable.as_str());
    assert!(
        after["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["version"] == canary_version.as_str()),
        "{after}"
    );
    let metrics = app.metrics().await;
    assert_eq!(
        Metrics::parse(&metrics).get("comptoir_canary_state", &[("component", "clients")]),
        Some(2.0)
    );
    assert_eq!(
        Metrics::parse(&metrics).get(
            "comptoir_canary_decisions_total",
            &[("component", "clients"), ("outcome", "promoted")]
        ),
        Some(1.0)
    );
    assert_eq!(
        Metrics::parse(&metrics).get(
            "comptoir_component_swaps_total",
            &[("component", "clients"), ("outcome", "success")]
        ),
        Some(1.0)
    );
}

/// `promote` and `abort` decide at once; the canary's share is checked;
/// with nothing running both are 409.
#[tokio::test]
async fn canaries_can_be_promoted_and_aborted_by_hand() {
    let s = stack(vec![Component::clients()], NEVER_JUDGED).await;
    let original = std::fs::read(wasm("clients")).unwrap();
    let b = variant(&original, "by-hand");
    for share in ["0", "100", "ten", ""] {
        let refused = canary(&s.app, "clients", b.clone(), share).await;
        assert_eq!(
            problem(refused, 400).await["type"],
            "https://comptoir.dev/problems/invalid-canary-share"
        );
    }
    assert!(component(&s.app, "clients").await["canary"].is_null());
    for action in ["promote", "abort"] {
        let none = admin_post(&s.app, &format!("/admin/components/clients/{action}")).await;
        assert_eq!(
            problem(none, 409).await["type"],
            "https://comptoir.dev/problems/no-canary"
        );
        let unknown = admin_post(&s.app, &format!("/admin/components/nope/{action}")).await;
        problem(unknown, 404).await;
    }

    let stable = component(&s.app, "clients").await["version"].clone();
    assert_eq!(
        canary(&s.app, "clients", b.clone(), "50").await.status(),
        202
    );
    let running = component(&s.app, "clients").await["canary"].clone();
    assert_eq!(running["state"], "running");
    assert_eq!(running["share"], 50);
    assert!(running["time_left_s"].as_f64().unwrap() > 500.0);
    for _ in 0..10 {
        assert_eq!(s.app.get("/clients").await.status(), 200);
    }
    let running = component(&s.app, "clients").await["canary"].clone();
    assert_eq!(running["canary"]["requests"], 5, "exactly half: {running}");
    assert_eq!(running["stable"]["requests"], 5);

    let promoted = admin_post(&s.app, "/admin/components/clients/promote").await;
    assert_eq!(promoted.status(), 200);
    let promoted: Value = promoted.json().await.unwrap();
    assert_eq!(promoted["state"], "promoted");
    assert_eq!(promoted["manual"], true);
    let now = component(&s.app, "clients").await;
    assert_eq!(now["version"], promoted["version"]);
    assert_eq!(now["previous"], stable);

    // A canary of the original build, aborted: the promoted one stays.
    assert_eq!(
        canary(&s.app, "clients", original, "10").await.status(),
        202
    );
    let aborted = admin_post(&s.app, "/admin/components/clients/abort").await;
    assert_eq!(aborted.status(), 200);
    let aborted: Value = aborted.json().await.unwrap();
    assert_eq!(aborted["state"], "rolled_back");
    assert_eq!(aborted["reason"], "aborted by hand");
    let after = component(&s.app, "clients").await;
    assert_eq!(after["version"], promoted["version"]);
    assert_eq!(after["canary"]["state"], "rolled_back");
    let response = s.app.get("/clients").await;
    assert_eq!(version_of(&response), promoted["version"].as_str().unwrap());
}

/// Chained calls are a component's requests too: panier's calls to clients
/// are shared between clients' stable version and its canary.
#[tokio::test]
async fn chained_calls_reach_the_canary_too() {
    let s = stack(
        vec![Component::clients(), Component::panier()],
        NEVER_JUDGED,
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..10 {
        let created = s
            .app
            .post_json(
                "/clients",
                &json!({"name": "Chain", "email": format!("chain-{i}@example.com")}),
            )
            .await;
        assert_eq!(created.status(), 201);
        let id = created.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        ids.push(id);
    }
    let b = variant(&std::fs::read(wasm("clients")).unwrap(), "chained");
    assert_eq!(canary(&s.app, "clients", b, "50").await.status(), 202);
    // panier asks clients once per cart (then remembers): one new cart each.
    for id in &ids {
        assert_eq!(s.app.get(&format!("/panier/{id}")).await.status(), 200);
    }
    let report = component(&s.app, "clients").await["canary"].clone();
    let (canary_n, stable_n) = (
        report["canary"]["requests"].as_u64().unwrap(),
        report["stable"]["requests"].as_u64().unwrap(),
    );
    assert!(canary_n > 0 && stable_n > 0, "{report}");
}

/// The CLI: `deploy --canary N --wait` returns once the canary is decided
/// (non-zero when it was rolled back), `status` shows the canary, `abort`
/// decides by hand.
#[tokio::test]
async fn the_cli_deploys_canaries_and_waits_for_the_decision() {
    let s = stack(
        vec![Component::clients()],
        // The CLI is under test, not the judge: with 20 requests a side,
        // p99 is the slowest request, which a busy machine can make 1.5 ×
        // the other side's; only errors decide here.
        &[
            "--replicas",
            "1",
            "--canary-min-requests",
            "20",
            "--canary-max-p99-ratio",
            "1000",
        ],
    )
    .await;
    let state_dir = s.state_dir().to_path_buf();
    let app = Arc::new(s.app);
    let original = std::fs::read(wasm("clients")).unwrap();
    let good = state_dir.join("good.wasm");
    std::fs::write(&good, variant(&original, "cli-canary")).unwrap();
    let next = state_dir.join("next.wasm");
    std::fs::write(&next, variant(&original, "cli-canary-2")).unwrap();
    let lost = wasm("testing_fault");
    // Traffic for the canaries to be judged on, until the test ends.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic = {
        let (app, stop) = (app.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                app.get("/clients").await;
            }
        })
    };
    // `--wait` blocks: run it off the runtime that drives the traffic.
    let waited = |file: &std::path::Path| {
        let (admin, state, file) = (app.admin.clone(), state_dir.clone(), file.to_owned());
        tokio::task::spawn_blocking(move || {
            let file = file.to_str().unwrap();
            comptoir_cli(
                &admin,
                &state,
                &["deploy", "clients", file, "--canary", "50", "--wait"],
            )
        })
    };

    let out = waited(&good).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("takes 50 %") && stdout.contains("promoted"),
        "{stdout}"
    );

    let out = waited(&lost).await.unwrap();
    assert!(
        !out.status.success(),
        "a rolled-back canary fails the deploy"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rolled back") && stderr.contains("4xx share"),
        "{stderr}"
    );

    let status = comptoir_cli(&app.admin, &state_dir, &["status"]);
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.contains("rolled back") && status.contains("canary:"),
        "{status}"
    );

    // Abort by hand: a 1 % canary, far from its 20 requests.
    let next = next.to_str().unwrap();
    let started = comptoir_cli(
        &app.admin,
        &state_dir,
        &["deploy", "clients", next, "--canary", "1"],
    );
    assert!(started.status.success());
    let aborted = comptoir_cli(&app.admin, &state_dir, &["abort", "clients"]);
    assert!(aborted.status.success());
    assert!(String::from_utf8_lossy(&aborted.stdout).contains("aborted by hand"));
    let none = comptoir_cli(&app.admin, &state_dir, &["promote", "clients"]);
    assert!(!none.status.success(), "nothing left to promote");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    traffic.await.unwrap();
}

/// Requests routed to a canary but still waiting for its one busy replica
/// when it is decided are served by stable, not left hanging.
#[tokio::test]
async fn requests_waiting_for_a_decided_canary_go_to_stable() {
    let slow = slow_panier().await;
    let s = stack(
        vec![Component::clients(), Component::panier()],
        NEVER_JUDGED,
    )
    .await;
    let client = s.app.new_client("waiting@example.com").await;
    let cart = format!("/panier/{client}");
    assert_eq!(s.app.get(&cart).await.status(), 200);
    let started = canary(&s.app, "panier", std::fs::read(slow).unwrap(), "50").await;
    assert_eq!(started.status(), 202);
    // Eight at once: four go to the canary's one replica, which serves
    // them 300 ms apart; the canary is aborted while they wait.
    let gets = futures::future::join_all((0..8).map(|_| {
        let app = &s.app;
        let cart = &cart;
        async move { tokio::time::timeout(Duration::from_secs(20), app.get(cart)).await }
    }));
    let abort = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        admin_post(&s.app, "/admin/components/panier/abort").await
    };
    let (answers, aborted) = tokio::join!(gets, abort);
    assert_eq!(aborted.status(), 200);
    for answer in answers {
        let response = answer.expect("a request waiting for the aborted canary was never answered");
        assert_eq!(response.status(), 200);
    }
}

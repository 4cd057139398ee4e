//! Every kind of HTTP component Spin runs, served side by side from one
//! `spin.toml`: a `wasi:http@0.3` component (spin-sdk 7), a
//! `wasi:http/incoming-handler@0.2` component (spin-sdk 3 to 5), and a
//! `wasm32-wasip1` core module comptoir componentizes at load — with the
//! manifest's `environment`, a fresh instance per request for the 0.2
//! guests, deadlines, chaining between kinds, and hot swaps and canaries
//! across kinds under load with no failed request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use serde_json::Value;

use crate::harness::{App, Launch, deploy, module, spawn, temp_dir, variant, version_of, wasm};

/// A manifest serving the three kinds: `/p3/...`, `/p2/...`, `/p1/...`.
fn kinds_manifest() -> String {
    format!(
        r#"spin_manifest_version = 2
[application]
name = "kinds"

[[trigger.http]]
route = "/p3/..."
component = "hello-p3"
[component.hello-p3]
source = "{p3}"

[[trigger.http]]
route = "/p2/..."
component = "hello-p2"
[component.hello-p2]
source = "{p2}"
environment = {{ GREETING = "a p2 component" }}
allowed_outbound_hosts = ["http://hello-p1.spin.internal"]

[[trigger.http]]
route = "/p1/..."
component = "hello-p1"
[component.hello-p1]
source = "{p1}"
environment = {{ GREETING = "a p1 module" }}
allowed_outbound_hosts = ["http://hello-p3.spin.internal"]
"#,
        p3 = wasm("testing_hello").display(),
        p2 = wasm("testing_hello_p2").display(),
        p1 = module("testing_hello_p2").display(),
    )
}

async fn start(dir: &tempfile::TempDir, args: &[&str]) -> App {
    let manifest = dir.path().join("spin.toml");
    std::fs::write(&manifest, kinds_manifest()).unwrap();
    spawn(Launch {
        manifest: &manifest,
        state_dir: dir.path(),
        env: Vec::new(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
    })
    .await
}

async fn text(app: &App, path: &str) -> (u16, String, Option<String>) {
    let response = app.get(path).await;
    let status = response.status().as_u16();
    let served = response
        .headers()
        .get("x-instance-requests")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, response.text().await.unwrap(), served)
}

#[tokio::test]
async fn the_three_kinds_are_served_side_by_side() {
    let dir = temp_dir();
    let app = start(&dir, &["--replicas", "2", "--request-timeout", "1s"]).await;

    assert_eq!(text(&app, "/p3/").await.0, 200);
    assert_eq!(text(&app, "/p3/").await.1, "hello");
    for (path, greeting) in [("/p2/", "a p2 component"), ("/p1/", "a p1 module")] {
        for _ in 0..6 {
            let (status, body, served) = text(&app, path).await;
            assert_eq!(status, 200, "{path}: {body}");
            assert_eq!(body, format!("hello from {greeting}\n"));
            // A wasi:http@0.2 guest gets a fresh instance per request.
            assert_eq!(served.as_deref(), Some("1"), "{path}");
        }
    }

    // Chaining from a 0.2 guest to another kind, and refused off the list.
    let (status, body, _) = text(&app, "/p1/chain/hello-p3").await;
    assert_eq!((status, body.as_str()), (200, "hello"));
    let (status, body, _) = text(&app, "/p2/chain/hello-p1").await;
    assert_eq!((status, body.as_str()), (200, "hello from a p1 module\n"));
    let (status, body, _) = text(&app, "/p2/chain/hello-p3").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("HttpRequestDenied"), "{body}");

    // A 0.2 guest past its deadline gets a 504, and the next request a
    // fresh instance, as a p3 one does.
    for path in ["/p2/spin", "/p1/spin"] {
        assert_eq!(app.get(path).await.status(), 504, "{path}");
    }
    assert_eq!(text(&app, "/p2/").await.0, 200);
    assert_eq!(text(&app, "/p1/").await.0, 200);

    // The inventory says what each one is.
    let inventory = app.inventory().await;
    let kinds: Vec<(String, String)> = inventory["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["kind"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for (name, kind) in [
        ("hello-p1", "p1-module"),
        ("hello-p2", "p2-component"),
        ("hello-p3", "p3-component"),
    ] {
        assert!(
            kinds.contains(&(name.to_owned(), kind.to_owned())),
            "{kinds:?}"
        );
    }
}

/// 8 clients call the p2 component while it is swapped to the p1 module,
/// to a p3 component and back, and while a p1 canary takes half its
/// traffic and is promoted: no request fails.
#[tokio::test]
async fn swaps_and_canaries_across_kinds_fail_no_request() {
    let dir = temp_dir();
    let app = Arc::new(
        start(
            &dir,
            &[
                "--replicas",
                "2",
                "--canary-min-requests",
                "20",
                "--canary-window",
                "2s",
                // Latency differs between kinds; this test is about mechanics.
                "--canary-max-p99-ratio",
                "100",
            ],
        )
        .await,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (app, stop) = (app.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let (mut served, mut failures) = (0u32, Vec::new());
            while !stop.load(Relaxed) {
                let response = app.get("/p2/").await;
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                if status == 200 && body.starts_with("hello") {
                    served += 1;
                } else {
                    failures.push(format!("{status}: {body}"));
                }
            }
            (served, failures)
        }));
    }

    let p2 = std::fs::read(wasm("testing_hello_p2")).unwrap();
    let p1 = std::fs::read(module("testing_hello_p2")).unwrap();
    let p3 = std::fs::read(wasm("testing_hello")).unwrap();
    for (bytes, kind) in [
        (p1.clone(), "p1-module"),
        (p3, "p3-component"),
        (variant(&p2, "b"), "p2-component"),
    ] {
        let response = deploy(&app, "hello-p2", bytes).await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        let deployed: Value = response.json().await.unwrap();
        let version = deployed["version"].as_str().unwrap().to_owned();
        let answer = app.get("/p2/").await;
        assert_eq!(version_of(&answer), version, "{kind}");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }

    // A canary of the module at 50 %, promoted by the judge.
    let started = app
        .admin_request(reqwest::Method::PUT, "/admin/components/hello-p2?canary=50")
        .body(variant(&p1, "canary"))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202, "{}", started.text().await.unwrap());
    crate::harness::eventually(
        std::time::Duration::from_secs(60),
        "the canary promoted",
        async || {
            let inventory = app.inventory().await;
            let component = inventory["components"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == "hello-p2")
                .unwrap()
                .clone();
            let decided = component["canary"]["state"].as_str();
            match (component["kind"].as_str(), decided) {
                (Some("p1-module"), Some("promoted")) => Ok(()),
                _ => Err(format!("{component}")),
            }
        },
    )
    .await;

    stop.store(true, Relaxed);
    let mut total = 0;
    for worker in workers {
        let (served, failures) = worker.await.unwrap();
        assert!(failures.is_empty(), "failed requests: {failures:?}");
        total += served;
    }
    assert!(total > 100, "only {total} requests were served");
}

//! Replicas and hot swap: round-robin, deploys under load with no failed
//! request, invalid uploads refused, traps contained, admin auth.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{
    Component, comptoir_cli, deploy, eventually, problem, stack, variant, version_of, wasm,
};

/// With 4 replicas, sequential requests are shared evenly (±1).
#[tokio::test]
async fn requests_are_round_robined_across_replicas() {
    let s = stack(vec![Component::clients()], &["--replicas", "4"]).await;
    for _ in 0..41 {
        assert_eq!(s.app.get("/clients").await.status(), 200);
    }
    let inventory = s.app.inventory().await;
    let replicas = inventory["components"][0]["replicas"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(replicas.len(), 4);
    let served: Vec<u64> = replicas
        .iter()
        .map(|r| r["served"].as_u64().unwrap())
        .collect();
    assert_eq!(served.iter().sum::<u64>(), 41);
    let (min, max) = (served.iter().min().unwrap(), served.iter().max().unwrap());
    assert!(max - min <= 1, "uneven share: {served:?}");
}

/// 16 clients hammer the API while the component is swapped 6 times
/// between two builds (about 10 s): no request fails, and every request
/// sent after a swap returned is served by the new version.
#[tokio::test]
async fn hot_swaps_under_load_fail_no_request() {
    let s = stack(vec![Component::clients()], &["--replicas", "2"]).await;
    let app = Arc::new(s.app);
    let original = std::fs::read(wasm("clients")).unwrap();
    let builds = [variant(&original, "b"), original.clone()];

    // The load runs until the swaps are done, however long they take on a
    // busy machine.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for worker in 0..16 {
        let app = app.clone();
        let stop = stop.clone();
        workers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut failures = Vec::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let sent = Instant::now();
                let created = app
                    .post_json(
                        "/clients",
                        &json!({"name": "Load", "email": format!("w{worker}-{i}@example.com")}),
                    )
                    .await;
                if created.status() != 201 {
                    failures.push(format!("POST {}", created.status()));
                    continue;
                }
                seen.push((sent, Instant::now(), version_of(&created)));
                let id = created.json::<Value>().await.unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                let sent = Instant::now();
                let fetched = app.get(&format!("/clients/{id}")).await;
                if fetched.status() != 200 {
                    failures.push(format!("GET {}", fetched.status()));
                    continue;
                }
                seen.push((sent, Instant::now(), version_of(&fetched)));
            }
            (seen, failures)
        }));
    }

    let mut swaps = Vec::new();
    tokio::time::sleep(Duration::from_millis(700)).await;
    for n in 0..6 {
        let started = Instant::now();
        let response = deploy(&app, "clients", builds[n % 2].clone()).await;
        let returned = Instant::now();
        assert_eq!(response.status(), 200, "swap {n}");
        let done: Value = response.json().await.unwrap();
        swaps.push((
            started,
            returned,
            done["version"].as_str().unwrap().to_owned(),
        ));
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);

    let mut total = 0;
    for worker in workers {
        let (seen, failures) = worker.await.unwrap();
        assert!(failures.is_empty(), "failed requests: {failures:?}");
        total += seen.len();
        for (sent, done, version) in seen {
            // A request sent after swap i returned and answered before swap
            // i+1 started can only have been served by swap i's version.
            let Some(i) = swaps.iter().rposition(|(_, returned, _)| *returned <= sent) else {
                continue;
            };
            if swaps
                .get(i + 1)
                .is_none_or(|(next_started, _, _)| done < *next_started)
            {
                assert_eq!(
                    version, swaps[i].2,
                    "a request sent after swap {i} returned was served by another version"
                );
            }
        }
    }
    assert!(total > 500, "too little traffic to prove anything: {total}");
    let swaps = app
        .metric(
            "comptoir_component_swaps_total",
            &[("component", "clients"), ("outcome", "success")],
        )
        .await;
    assert!(swaps >= 1.0, "{swaps} swaps counted");
}

/// Garbage, a core module with no handler, a component outside the platform world and one
/// that traps while instantiating are refused with 400; the old version keeps
/// serving. Rollback restores the version before a deploy.
#[tokio::test]
async fn invalid_uploads_are_refused_and_rollback_works() {
    let s = stack(vec![Component::clients()], &[]).await;
    let before = version_of(&s.app.get("/clients").await);
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    for (what, bytes, reason) in [
        (
            "garbage",
            b"definitely not wasm".to_vec(),
            "not a loadable WebAssembly component",
        ),
        (
            "a core module with no HTTP handler",
            core_module,
            "does not export",
        ),
        (
            "outside the platform world",
            wat::parse_str(r#"(component (import "fermyon:spin/mqtt@2.0.0" (instance)))"#).unwrap(),
            "fermyon:spin/mqtt@2.0.0",
        ),
        (
            "needing more memory than an instance may have",
            std::fs::read(wasm("testing_bad_init")).unwrap(),
            "exceeds the limit",
        ),
    ] {
        let response = deploy(&s.app, "clients", bytes).await;
        assert_eq!(response.status(), 400, "{what}");
        let body = problem(response, 400).await;
        assert!(
            body["detail"].as_str().unwrap().contains(reason),
            "{what}: {body}"
        );
        assert_eq!(
            version_of(&s.app.get("/clients").await),
            before,
            "{what}: old version untouched"
        );
    }
    problem(deploy(&s.app, "nope", vec![1]).await, 404).await;
    let no_previous = s
        .app
        .admin_request(Method::POST, "/admin/components/clients/rollback")
        .send()
        .await
        .unwrap();
    problem(no_previous, 409).await;

    let b = variant(&std::fs::read(wasm("clients")).unwrap(), "rollback");
    let deployed: Value = deploy(&s.app, "clients", b).await.json().await.unwrap();
    assert_ne!(deployed["version"].as_str().unwrap(), before);
    assert_eq!(
        version_of(&s.app.get("/clients").await),
        deployed["version"].as_str().unwrap()
    );
    let rolled = s
        .app
        .admin_request(Method::POST, "/admin/components/clients/rollback")
        .send()
        .await
        .unwrap();
    assert_eq!(rolled.status(), 200);
    assert_eq!(version_of(&s.app.get("/clients").await), before);
    let inventory = s.app.inventory().await;
    assert_eq!(inventory["components"][0]["previous"], deployed["version"]);
}

/// A request that traps gets a 500 problem; requests running beside it on
/// other paths are unaffected (with shared instances: re-run elsewhere,
/// being idempotent), and the replica is replaced.
#[tokio::test]
async fn a_trap_is_contained() {
    let s = stack(
        vec![Component::clients(), Component::fault()],
        &["--replicas", "2", "--isolation", "instance"],
    )
    .await;
    let app = Arc::new(s.app);
    let mut normal = Vec::new();
    for _ in 0..40 {
        let app = app.clone();
        normal.push(tokio::spawn(async move {
            app.get("/fault/ok").await.status().as_u16()
        }));
    }
    let trapped = app.get("/fault/trap").await;
    let body = problem(trapped, 500).await;
    assert!(
        !body["detail"].as_str().unwrap().contains("abort"),
        "no internals leak: {body}"
    );
    for task in normal {
        assert_eq!(task.await.unwrap(), 200, "a request beside the trap failed");
    }
    for _ in 0..10 {
        assert_eq!(
            app.get("/fault/ok").await.status(),
            200,
            "replacement replicas serve"
        );
    }
    let inventory = app.inventory().await;
    let fault = inventory["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "fault")
        .unwrap()
        .clone();
    assert!(fault["traps"].as_u64().unwrap() >= 1);
    assert_eq!(fault["replicas"].as_array().unwrap().len(), 2);
}

/// The admin API needs the token; the token file is private.
#[tokio::test]
async fn the_admin_api_needs_the_token() {
    let s = stack(vec![Component::clients()], &[]).await;
    let url = format!("{}/admin/components", s.app.admin);
    let none = s.app.http.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let wrong = s
        .app
        .http
        .get(&url)
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let prefix = s
        .app
        .http
        .get(&url)
        .bearer_auth(&s.app.token[..10])
        .send()
        .await
        .unwrap();
    assert_eq!(prefix.status(), 401);
    let upload = s
        .app
        .http
        .put(format!("{}/admin/components/clients", s.app.admin))
        .body(vec![0u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 401);
    assert_eq!(s.app.inventory().await["components"][0]["name"], "clients");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(s.state_dir().join("admin-token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(s.app.token.len(), 64);
}

/// `comptoir deploy`, `status` and `rollback` drive the admin API.
#[tokio::test]
async fn the_cli_deploys_and_rolls_back() {
    let s = stack(vec![Component::clients()], &[]).await;
    let before = version_of(&s.app.get("/clients").await);
    let file = s.state_dir().join("next.wasm");
    std::fs::write(
        &file,
        variant(&std::fs::read(wasm("clients")).unwrap(), "cli"),
    )
    .unwrap();
    let cli = |args: &[&str]| {
        let output = comptoir_cli(&s.app.admin, s.state_dir(), args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let out = cli(&["deploy", "clients", file.to_str().unwrap()]);
    assert!(out.contains(&before), "{out}");
    let after = version_of(&s.app.get("/clients").await);
    assert_ne!(after, before);
    let status = cli(&["status"]);
    assert!(
        status.contains("COMPONENT") && status.contains(&after),
        "{status}"
    );
    cli(&["rollback", "clients"]);
    assert_eq!(version_of(&s.app.get("/clients").await), before);
}

/// `comptoir up --watch` deploys a component when its `.wasm` changes on
/// disk, and leaves it alone when the new file is not a valid component:
/// each time the test waits until the watcher has acted on that very file
/// (the refusal counted, then that file's sha256 served and reported).
#[tokio::test]
async fn watch_deploys_a_rebuilt_component() {
    use crate::harness::{Launch, TestDb, spawn, temp_dir, write_manifest};
    use sha2::Digest as _;

    let db = TestDb::start(&["clients"]).await;
    let dir = temp_dir();
    let source = dir.path().join("clients.wasm");
    let original = std::fs::read(wasm("clients")).unwrap();
    std::fs::write(&source, &original).unwrap();
    let mut component = Component::clients();
    component.wasm = source.clone();
    let manifest = write_manifest(dir.path(), &[component]);
    let app = spawn(Launch {
        manifest: &manifest,
        state_dir: dir.path(),
        env: Launch::db_env(&db),
        args: vec!["--watch".into()],
    })
    .await;
    let sha256 = |bytes: &[u8]| hex::encode(sha2::Sha256::digest(bytes));
    let label = |bytes: &[u8]| format!("clients@{}", &sha256(bytes)[..12]);
    assert_eq!(version_of(&app.get("/clients").await), label(&original));

    // Swaps made by --watch are counted like the admin API's.
    let swaps = async |outcome: &str| {
        let swaps = app
            .metric(
                "comptoir_component_swaps_total",
                &[("component", "clients"), ("outcome", outcome)],
            )
            .await;
        swaps as u32
    };

    // A broken build is seen, refused (and counted), and not deployed.
    std::fs::write(&source, b"half-written garbage").unwrap();
    eventually(
        Duration::from_secs(10),
        "the broken build refused",
        async || match swaps("rejected").await {
            0 => Err(0),
            n => Ok(n),
        },
    )
    .await;
    assert_eq!(version_of(&app.get("/clients").await), label(&original));

    // A rebuilt component is deployed: that file's version is served, and
    // reported by status.
    let rebuilt = variant(&original, "watch");
    std::fs::write(&source, &rebuilt).unwrap();
    eventually(
        Duration::from_secs(10),
        "the rebuilt component served",
        async || {
            let served = version_of(&app.get("/clients").await);
            if served == label(&rebuilt) {
                Ok(())
            } else {
                Err(served)
            }
        },
    )
    .await;
    let inventory = app.inventory().await;
    assert_eq!(
        inventory["components"][0]["sha256"],
        sha256(&rebuilt).as_str(),
        "{inventory}"
    );
    // The swap is counted once it is done, a moment after it serves.
    let swapped = eventually(
        Duration::from_secs(10),
        "the watcher's swap counted",
        async || match swaps("success").await {
            0 => Err(0),
            n => Ok(n),
        },
    )
    .await;
    assert_eq!(swapped, 1, "one swap from the watcher");
    assert_eq!(swaps("rejected").await, 1, "one refusal from the watcher");
}

/// With `--isolation request` a trap fails only its own request, even among
/// concurrent requests that can never be replayed (POSTs with a body, here
/// waiting in PostgreSQL): every instance serves one request at a time, the
/// others wait for one. (With `--isolation instance` the trap would end
/// the requests waiting in its instance.)
#[tokio::test]
async fn with_request_isolation_a_trap_fails_only_its_own_request() {
    let s = stack(
        vec![Component::fault()],
        &["--replicas", "2", "--isolation", "request"],
    )
    .await;
    let app = Arc::new(s.app);
    let mut neighbours = Vec::new();
    for _ in 0..6 {
        let app = app.clone();
        neighbours.push(tokio::spawn(async move {
            app.post_json("/fault/db-wait", &json!({}))
                .await
                .status()
                .as_u16()
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let trapped = app.post_json("/fault/trap", &json!({})).await;
    assert_eq!(trapped.status(), 500);
    let statuses: Vec<u16> = futures::future::join_all(neighbours)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(statuses, [200; 6], "a request beside the trap failed");
    // The trap is counted when its replica's task ends, a moment after the
    // 500 went out.
    let traps = eventually(
        Duration::from_secs(10),
        "the trap counted",
        async || match app.inventory().await["components"][0]["traps"].as_u64() {
            Some(0) | None => Err(0),
            Some(n) => Ok(n),
        },
    )
    .await;
    assert_eq!(traps, 1, "{}", app.inventory().await);
}

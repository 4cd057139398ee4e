//! The Compose stack as one fleet: its two gateways share a control
//! database and the stack's OCI registry. Checked from outside: fleet
//! deploys and a rollback under k6 load through NGINX (no failed request,
//! every gateway serving each version, how long that took), a gateway
//! killed during a deploy, a faulty and a good canary across both, and a
//! deploy by OCI digest beside a tampered artifact.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use serde_json::Value;

use super::Stack;

/// Fleet deploys during the k6 run (then one rollback).
const DEPLOYS: usize = 6;
/// A fleet change must reach every gateway within this (issue 27).
const CONVERGENCE_BUDGET_S: f64 = 2.0;

/// One gateway of the stack, reached directly on the stack network.
struct Gateway {
    name: String,
    public: String,
    admin: String,
}

fn gateways(stack: &Stack) -> [Gateway; 2] {
    [1, 2].map(|n| {
        let address = stack.comptoir_address(n);
        Gateway {
            name: format!("comptoir-{n}"),
            public: format!("http://{address}:8080"),
            admin: format!("http://{address}:8081"),
        }
    })
}

pub fn check(root: &Path, stack: &Stack, release: bool) -> anyhow::Result<()> {
    let token = stack
        .variable("COMPTOIR_ADMIN_TOKEN")
        .context("the stack's admin token")?
        .to_owned();
    let gateways = gateways(stack);
    let clients = std::fs::read(root.join("target/wasm32-wasip2/release/clients.wasm"))?;
    let admin = Admin { token: &token };

    crate::step(
        &format!("{DEPLOYS} fleet deploys and a rollback under k6 load through NGINX"),
        || {
            let mut k6 = stack.compose();
            k6.args(["--profile", "load", "run", "--rm", "-e"])
                .arg(format!(
                    "P99_MS={}",
                    if release { 0 } else { super::DEBUG_P99_MS }
                ))
                .args(["k6", "run", "--vus", "4", "--duration", "40s"])
                .arg("/load/order-flow.js")
                .stdout(std::process::Stdio::null());
            let mut load = k6.spawn().context("starting k6")?;
            // Let the load settle before the first deploy.
            std::thread::sleep(Duration::from_secs(3));
            let mut seconds = Vec::new();
            let mut versions = Vec::new();
            for i in 0..DEPLOYS {
                let to = &gateways[i % 2];
                let wasm = wasm_variant::variant(&clients, &format!("fleet-{i}"));
                let done = admin.put(to, "/admin/components/clients", wasm)?;
                let version = converged_everywhere(&done, &gateways, stack, &mut seconds)?;
                versions.push(version);
            }
            let back = admin.post(&gateways[1], "/admin/components/clients/rollback")?;
            let version = converged_everywhere(&back, &gateways, stack, &mut seconds)?;
            ensure!(
                version == versions[DEPLOYS - 2],
                "the rollback went to {version}, not {}",
                versions[DEPLOYS - 2]
            );
            let status = load.wait()?;
            ensure!(
                status.success(),
                "k6 through NGINX failed during the fleet deploys ({status})"
            );
            seconds.sort_by(f64::total_cmp);
            let (p50, p99) = (percentile(&seconds, 0.5), percentile(&seconds, 0.99));
            eprintln!(
                "    {} convergences (2 gateways × {} changes): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; k6: no failed request",
                seconds.len(),
                DEPLOYS + 1,
                p50 * 1000.0,
                p99 * 1000.0,
                seconds.last().copied().unwrap_or_default() * 1000.0
            );
            Ok(())
        },
    )?;

    crate::step(
        "the dashboard's fleet row against the stack's Prometheus",
        || {
            let api = format!("http://127.0.0.1:{}", stack.settings.prometheus_port);
            let queries: Vec<_> = crate::dashboards::queries(root)?
                .into_iter()
                .filter(|(_, e)| crate::dashboards::is_fleet(e))
                .collect();
            ensure!(!queries.is_empty(), "the dashboard has no fleet row");
            // Prometheus scrapes every 5 s: the deploys above are in by then.
            let mut last = Vec::new();
            let all = crate::wait::poll(Duration::from_secs(30), Duration::from_secs(5), || {
                last = queries
                    .iter()
                    .filter_map(|(panel, expr)| crate::dashboards::query(&api, panel, expr).err())
                    .map(|e| e.to_string())
                    .collect();
                Ok(last.is_empty().then_some(()))
            })?;
            ensure!(all.is_some(), "fleet queries without data: {last:?}");
            eprintln!("    {} fleet queries return data", queries.len());
            Ok(())
        },
    )?;

    crate::step(
        "a gateway killed during a deploy comes back on the desired version",
        || {
            let wasm = wasm_variant::variant(&clients, "while-killed");
            let deploying = {
                let (admin_url, token) = (gateways[0].admin.clone(), token.clone());
                std::thread::spawn(move || {
                    Admin { token: &token }.put_to(&admin_url, "/admin/components/clients", wasm)
                })
            };
            let mut kill = stack.compose();
            kill.args(["kill", "comptoir-2"]);
            crate::run(kill)?;
            let done = deploying.join().expect("the deploy thread")?;
            let version = done["version"].as_str().context("no version")?.to_owned();
            let mut start = stack.compose();
            start.args(["start", "comptoir-2"]);
            crate::run(start)?;
            let serving =
                crate::wait::poll(Duration::from_secs(120), Duration::from_millis(200), || {
                    Ok(serves(stack, &gateways[1]).ok())
                })?
                .context("comptoir-2 did not serve again")?;
            ensure!(
                serving == version,
                "comptoir-2 came back on {serving}, not the desired {version}"
            );
            eprintln!("    comptoir-2, killed during the deploy, came back serving {version}");
            Ok(())
        },
    )?;

    crate::step("canaries at 10 % across both gateways", || {
        let fault = root.join("target/wasm32-wasip2/release/testing_fault.wasm");
        if !fault.exists() {
            crate::build_wasm(&["testing-fault"])?;
        }
        // The fault-test component has none of clients' routes: 404s.
        let lost = std::fs::read(&fault)?;
        let (decided, traffic) = canary(stack, &admin, &gateways[1], lost)?;
        ensure!(
            decided["state"] == "rolled_back",
            "the faulty canary was not rolled back: {decided}"
        );
        let failed_share = traffic.failed as f64 / traffic.total as f64;
        ensure!(
            failed_share <= 0.11,
            "{} of {} requests failed ({:.1} %) with a 10 % canary",
            traffic.failed,
            traffic.total,
            failed_share * 100.0
        );
        eprintln!(
            "    faulty canary rolled back on both ({}); {} of {} requests failed ({:.1} %)",
            decided["reason"].as_str().unwrap_or_default(),
            traffic.failed,
            traffic.total,
            failed_share * 100.0
        );
        let good = wasm_variant::variant(&clients, "good-canary");
        let (decided, traffic) = canary(stack, &admin, &gateways[0], good)?;
        ensure!(
            decided["state"] == "promoted",
            "the good canary was not promoted: {decided}"
        );
        ensure!(traffic.failed == 0, "{} requests failed", traffic.failed);
        let version = decided["version"].as_str().unwrap_or_default();
        for gateway in &gateways {
            let serving =
                crate::wait::poll(Duration::from_secs(2), Duration::from_millis(50), || {
                    Ok(serves(stack, gateway).ok().filter(|v| v == version))
                })?;
            ensure!(
                serving.is_some(),
                "{} does not serve the promoted {version}",
                gateway.name
            );
        }
        eprintln!(
            "    good canary promoted on both; {} requests, none failed",
            traffic.total
        );
        Ok(())
    })?;

    crate::step(
        "a deploy by OCI digest; a tampered artifact refused",
        || {
            // The first version of clients pushed to the stack's registry (the
            // image's, published when the fleet started).
            let row = stack.sql(
                "control",
                "SELECT digest || '|' || reference FROM artifacts \
             WHERE reference LIKE '%/comptoir/clients@%' ORDER BY created_at LIMIT 1",
            )?;
            let (layer, reference) = row.split_once('|').context("no pushed artifact")?;
            let done = admin.put(
                &gateways[1],
                &format!("/admin/components/clients?artifact={}", encode(reference)),
                Vec::new(),
            )?;
            let mut seconds = Vec::new();
            let version = converged_everywhere(&done, &gateways, stack, &mut seconds)?;
            eprintln!("    {reference} deployed on both ({version})");
            // The same artifact with one byte of its layer changed in the
            // registry's storage: refused, nothing changed.
            let blob = format!(
                "/var/lib/registry/docker/registry/v2/blobs/sha256/{}/{}/data",
                &layer[7..9],
                &layer[7..]
            );
            let mut tamper = stack.compose();
            tamper.args(["exec", "-T", "registry", "sh", "-c"]).arg(format!(
            "size=$(stat -c %s {blob}) && printf '\\001' | dd of={blob} bs=1 seek=$((size - 1)) conv=notrunc 2>/dev/null"
        ));
            crate::run(tamper)?;
            let refused = admin.put_raw(
                &gateways[0].admin,
                &format!("/admin/components/clients?artifact={}", encode(reference)),
                Vec::new(),
            )?;
            ensure!(
                refused.0 == 422
                    && refused.1["type"]
                        .as_str()
                        .is_some_and(|t| t.ends_with("/artifact-digest-mismatch")),
                "a tampered artifact: {} {}",
                refused.0,
                refused.1
            );
            for gateway in &gateways {
                let serving = serves(stack, gateway)?;
                ensure!(serving == version, "{} now serves {serving}", gateway.name);
            }
            eprintln!(
                "    the tampered artifact was refused (422 artifact-digest-mismatch); both still serve {version}"
            );
            Ok(())
        },
    )
}

/// The admin API of the stack's gateways.
struct Admin<'a> {
    token: &'a str,
}

impl Admin<'_> {
    fn put(&self, to: &Gateway, path: &str, body: Vec<u8>) -> anyhow::Result<Value> {
        self.put_to(&to.admin, path, body)
    }

    fn put_to(&self, admin: &str, path: &str, body: Vec<u8>) -> anyhow::Result<Value> {
        let (status, body) = self.put_raw(admin, path, body)?;
        ensure!((200..300).contains(&status), "PUT {path}: {status} {body}");
        Ok(body)
    }

    fn put_raw(&self, admin: &str, path: &str, body: Vec<u8>) -> anyhow::Result<(u16, Value)> {
        let mut response = crate::http()
            .put(format!("{admin}{path}"))
            .header("authorization", format!("Bearer {}", self.token))
            .send(&body[..])?;
        let status = response.status().as_u16();
        Ok((status, response.body_mut().read_json()?))
    }

    fn post(&self, to: &Gateway, path: &str) -> anyhow::Result<Value> {
        let mut response = crate::http()
            .post(format!("{}{path}", to.admin))
            .header("authorization", format!("Bearer {}", self.token))
            .send_empty()?;
        let status = response.status().as_u16();
        let body: Value = response.body_mut().read_json()?;
        ensure!((200..300).contains(&status), "POST {path}: {status} {body}");
        Ok(body)
    }

    fn get(&self, to: &Gateway, path: &str) -> anyhow::Result<Value> {
        let mut response = crate::http()
            .get(format!("{}{path}", to.admin))
            .header("authorization", format!("Bearer {}", self.token))
            .call()?;
        Ok(response.body_mut().read_json()?)
    }
}

/// `comptoir deploy clients <variant tagged tag>` sent to gateway `n`'s
/// admin API (the drill deploys while the other gateway is down); returns
/// the version.
pub fn deploy_clients_variant(
    root: &Path,
    stack: &Stack,
    n: usize,
    tag: &str,
) -> anyhow::Result<String> {
    let token = stack
        .variable("COMPTOIR_ADMIN_TOKEN")
        .context("the stack's admin token")?;
    let clients = std::fs::read(root.join("target/wasm32-wasip2/release/clients.wasm"))?;
    let done = Admin { token }.put(
        &gateways(stack)[n - 1],
        "/admin/components/clients",
        wasm_variant::variant(&clients, tag),
    )?;
    Ok(done["version"].as_str().context("no version")?.to_owned())
}

/// The version of clients gateway `n` serves, once it answers (or why not
/// after `timeout`).
pub fn clients_version(stack: &Stack, n: usize, timeout: Duration) -> anyhow::Result<String> {
    let gateway = &gateways(stack)[n - 1];
    let mut last = None;
    let version = crate::wait::poll(timeout, Duration::from_millis(200), || {
        let result = serves(stack, gateway);
        let version = result.as_ref().ok().cloned();
        last = Some(result);
        Ok(version)
    })?;
    match (version, last) {
        (Some(version), _) => Ok(version),
        (None, Some(Err(error))) => Err(error),
        (None, _) => bail!("{} did not answer", gateway.name),
    }
}

/// Checks that a deploy's answer says both gateways serve it, that both
/// do, and collects the convergence times; returns the version.
fn converged_everywhere(
    done: &Value,
    gateways: &[Gateway],
    stack: &Stack,
    seconds: &mut Vec<f64>,
) -> anyhow::Result<String> {
    let version = done["version"].as_str().context("no version")?.to_owned();
    let fleet = &done["fleet"];
    let converged = fleet["converged"].as_array().map_or(0, Vec::len);
    ensure!(
        converged == gateways.len() && fleet["refused"].as_object().is_some_and(|r| r.is_empty()),
        "not every gateway serves {version}: {fleet}"
    );
    for (gateway, s) in fleet["seconds"].as_object().into_iter().flatten() {
        let s = s.as_f64().unwrap_or(f64::INFINITY);
        ensure!(
            s <= CONVERGENCE_BUDGET_S,
            "{gateway} served {version} {s:.2} s after the change (budget {CONVERGENCE_BUDGET_S} s)"
        );
        seconds.push(s);
    }
    for gateway in gateways {
        let serving = serves(stack, gateway)?;
        ensure!(
            serving == version,
            "{} serves {serving}, not {version}",
            gateway.name
        );
    }
    Ok(version)
}

/// The version of clients that `gateway` serves (its own port, not NGINX).
fn serves(stack: &Stack, gateway: &Gateway) -> anyhow::Result<String> {
    let response = crate::http()
        .get(format!("{}/clients", gateway.public))
        .header("authorization", stack.authorization())
        .call()?;
    ensure!(
        response.status() == 200,
        "GET {}/clients: {}",
        gateway.name,
        response.status()
    );
    Ok(response
        .headers()
        .get("comptoir-component")
        .and_then(|v| v.to_str().ok())
        .context("no comptoir-component header")?
        .to_owned())
}

/// Requests sent through NGINX during a canary, and how many failed.
struct Traffic {
    total: u64,
    failed: u64,
}

/// Starts a 10 % canary of `wasm` through `via`, sends requests through
/// NGINX until the fleet decides, and returns the decision (as `GET
/// /admin/fleet` reports it, counts summed over both gateways).
fn canary(
    stack: &Stack,
    admin: &Admin,
    via: &Gateway,
    wasm: Vec<u8>,
) -> anyhow::Result<(Value, Traffic)> {
    let started = admin.put(via, "/admin/components/clients?canary=10", wasm)?;
    let version = started["version"]
        .as_str()
        .context("no version")?
        .to_owned();
    let mut traffic = Traffic {
        total: 0,
        failed: 0,
    };
    let http = crate::http();
    let began = Instant::now();
    loop {
        for _ in 0..50 {
            let response = http
                .get(stack.url("/clients"))
                .header("authorization", stack.authorization())
                .call()?;
            traffic.total += 1;
            traffic.failed += u64::from(response.status() != 200);
        }
        let status = admin.get(via, "/admin/fleet")?;
        let decided = status["canaries"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["component"] == "clients" && c["version"] == version.as_str())
            .filter(|c| c["state"] != "running")
            .cloned();
        if let Some(decided) = decided {
            return Ok((decided, traffic));
        }
        if began.elapsed() > Duration::from_secs(180) {
            bail!("the canary {version} was not decided in 180 s: {status}");
        }
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64) * q).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// `reference` as a query value.
fn encode(reference: &str) -> String {
    url_escape(reference)
}

fn url_escape(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

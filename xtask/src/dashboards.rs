//! `cargo xtask check-dashboards`: every query of the Grafana dashboard is
//! evaluated by a real Prometheus scraping a real comptoir under load, and
//! must be valid and return at least one series.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::stack::{Stack, Topology};
use crate::tools;

/// Grafana's `$__rate_interval` as Grafana would expand it for a 5 s scrape
/// (at least four scrape intervals).
const RATE_INTERVAL: &str = "1m";

struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        crate::wait::stop(
            &mut self.0,
            crate::wait::Target::Process,
            Duration::from_secs(15),
        );
    }
}

/// Whether `expr` reads a fleet's metrics: those panels have data only
/// where gateways share a control database, and `cargo xtask compose test`
/// checks them against the stack's Prometheus (see [`query`]).
pub fn is_fleet(expr: &str) -> bool {
    expr.contains("comptoir_fleet_")
}

/// Every `expr` of the dashboard JSON, with its panel title.
pub fn queries(root: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let path = root.join("observability/grafana/dashboards/comptoir.json");
    let dashboard: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().context("no panels")? {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().context("target without expr")?;
            out.push((
                panel["title"].as_str().unwrap_or("?").to_owned(),
                expr.replace("$__rate_interval", RATE_INTERVAL),
            ));
        }
    }
    Ok(out)
}

/// Runs one dashboard query on the Prometheus at `api`: fails unless it
/// succeeds with at least one series.
pub fn query(api: &str, panel: &str, expr: &str) -> anyhow::Result<()> {
    // ureq percent-encodes the query parameter.
    let mut response = crate::http()
        .get(format!("{api}/api/v1/query"))
        .query("query", expr)
        .call()?;
    let body: serde_json::Value = response.body_mut().read_json().unwrap_or_default();
    let series = body["data"]["result"].as_array().map_or(0, Vec::len);
    let ok = response.status() == 200 && body["status"] == "success" && series > 0;
    println!(
        "{} {panel}: {series} series  ← {expr}",
        if ok { "ok  " } else { "FAIL" }
    );
    if !ok {
        bail!(
            "{panel}: {expr} ({})",
            body["error"].as_str().unwrap_or("no series")
        );
    }
    Ok(())
}

/// Drives order flows and reads for `seconds` (plain HTTP, no k6 needed),
/// as staff (`bearer`): the product in the catalogue first, then orders of
/// it.
fn drive(base: &str, bearer: &str, seconds: u64) -> anyhow::Result<()> {
    let http = crate::http();
    let auth = format!("Bearer {bearer}");
    let mut product = http
        .put(format!("{base}/catalogue/DASH-A"))
        .header("authorization", &auth)
        .send_json(serde_json::json!({"name": "a", "price_cents": 100, "stock": 1_000_000}))?;
    let status = product.status();
    if status != 201 && status != 200 {
        let body = product.body_mut().read_to_string().unwrap_or_default();
        bail!("PUT /catalogue/DASH-A (staff): {status} {body}");
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut i = 0;
    while Instant::now() < deadline {
        i += 1;
        let email = format!("dash-{i}-{}@example.com", std::process::id());
        let client: serde_json::Value = http
            .post(format!("{base}/clients"))
            .header("authorization", &auth)
            .send_json(serde_json::json!({"name": "Dash", "email": email}))?
            .body_mut()
            .read_json()?;
        let id = client["id"].as_str().context("no client id")?;
        http.post(format!("{base}/panier/{id}/items"))
            .header("authorization", &auth)
            .send_json(serde_json::json!({"product_id": "DASH-A", "quantity": 1}))?;
        http.post(format!("{base}/commandes"))
            .header("Idempotency-Key", format!("dash-{id}"))
            .header("authorization", &auth)
            .send_json(serde_json::json!({"client_id": id}))?;
        http.get(format!("{base}/catalogue/DASH-A")).call()?;
        http.get(format!("{base}/healthz")).call()?;
    }
    Ok(())
}

pub fn check(root: &Path, release: bool) -> anyhow::Result<()> {
    let prometheus =
        tools::ensure_debian_binary("prometheus", "prometheus", &["/usr/bin/prometheus"])?;
    crate::build_host(release)?;
    let work = root.join("target/dashboards");
    // observability/prometheus.yml as shipped scrapes 127.0.0.1:8081 (and
    // 8091, the NGINX pair's second process, which is simply down here).
    if std::net::TcpListener::bind("127.0.0.1:8081").is_err() {
        bail!(
            "127.0.0.1:8081 is busy: stop the running comptoir first (the check serves its admin API there)"
        );
    }
    let system = Stack::start_with(
        root,
        &crate::host_binary(release),
        &work,
        Topology::Single { replicas: 2 },
        Some(8081),
    )?;
    let config_path = root.join("observability/prometheus.yml");
    let port = crate::free_port()?;
    let _ = std::fs::remove_dir_all(work.join("tsdb"));
    let mut server = Prometheus(
        Command::new(prometheus)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                work.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(work.join("prometheus.log"))?)
            .spawn()
            .context("failed to start prometheus")?,
    );
    let api = format!("http://127.0.0.1:{port}");
    crate::wait::serving(
        &mut server.0,
        &format!("{api}/-/ready"),
        Duration::from_secs(30),
        "prometheus",
        &work.join("prometheus.log"),
    )?;
    eprintln!("==> driving load for 25 s while Prometheus scrapes every 5 s");
    drive(&system.base_url, &system.bearer, 25)?;
    std::thread::sleep(Duration::from_secs(6));

    let mut failures = Vec::new();
    let (fleet, queries): (Vec<_>, Vec<_>) =
        queries(root)?.into_iter().partition(|(_, e)| is_fleet(e));
    for (panel, expr) in &queries {
        if let Err(error) = query(&api, panel, expr) {
            failures.push(error.to_string());
        }
    }
    println!(
        "{} fleet queries (one gateway here): checked by `cargo xtask compose test`",
        fleet.len()
    );
    drop(server);
    drop(system);
    if !failures.is_empty() {
        bail!(
            "{} of {} dashboard queries failed:\n{}",
            failures.len(),
            queries.len(),
            failures.join("\n")
        );
    }
    println!("all {} dashboard queries return data", queries.len());
    Ok(())
}

//! `cargo xtask check-dashboards`: every query of the Grafana dashboard is
//! evaluated by a real Prometheus scraping a real comptoir under load, and
//! must be valid and return at least one series.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::stack::{Stack, Topology, free_port};
use crate::{http, tools};

/// Grafana's `$__rate_interval` as Grafana would expand it for a 5 s scrape
/// (at least four scrape intervals).
const RATE_INTERVAL: &str = "1m";

struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn encode(query: &str) -> String {
    query
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every `expr` of the dashboard JSON, with its panel title.
fn queries(root: &Path) -> anyhow::Result<Vec<(String, String)>> {
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

/// Drives order flows and reads for `seconds` (plain HTTP, no k6 needed).
fn drive(base: &str, seconds: u64) -> anyhow::Result<()> {
    let json = [("Content-Type", "application/json")];
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut i = 0;
    while Instant::now() < deadline {
        i += 1;
        let created = http::request(
            "POST",
            &format!("{base}/clients"),
            &json,
            format!(
                r#"{{"name":"Dash","email":"dash-{i}-{}@example.com"}}"#,
                std::process::id()
            )
            .as_bytes(),
        )?;
        let client: serde_json::Value = serde_json::from_slice(&created.body)?;
        let id = client["id"].as_str().context("no client id")?;
        http::request(
            "POST",
            &format!("{base}/panier/{id}/items"),
            &json,
            br#"{"product_id":"A","name":"a","unit_price_cents":100,"quantity":1}"#,
        )?;
        http::request(
            "POST",
            &format!("{base}/commandes"),
            &[
                ("Content-Type", "application/json"),
                ("Idempotency-Key", &format!("dash-{id}")),
            ],
            format!(r#"{{"client_id":"{id}"}}"#).as_bytes(),
        )?;
        http::request("GET", &format!("{base}/healthz"), &[], &[])?;
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
    let port = free_port()?;
    let _ = std::fs::remove_dir_all(work.join("tsdb"));
    let server = Prometheus(
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
    let deadline = Instant::now() + Duration::from_secs(30);
    while http::status(&format!("{api}/-/ready")) != Some(200) {
        if Instant::now() > deadline {
            bail!(
                "prometheus did not start; see {}",
                work.join("prometheus.log").display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("==> driving load for 25 s while Prometheus scrapes every 5 s");
    drive(&system.base_url, 25)?;
    std::thread::sleep(Duration::from_secs(6));

    let mut failures = Vec::new();
    let queries = queries(root)?;
    for (panel, expr) in &queries {
        let response = http::request(
            "GET",
            &format!("{api}/api/v1/query?query={}", encode(expr)),
            &[],
            &[],
        )?;
        let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap_or_default();
        let series = body["data"]["result"].as_array().map_or(0, Vec::len);
        let ok = response.status == 200 && body["status"] == "success" && series > 0;
        println!(
            "{} {panel}: {series} series  ← {expr}",
            if ok { "ok  " } else { "FAIL" }
        );
        if !ok {
            failures.push(format!(
                "{panel}: {expr} ({})",
                body["error"].as_str().unwrap_or("no series")
            ));
        }
    }
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

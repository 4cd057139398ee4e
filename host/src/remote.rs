//! The CLI side of the admin API: `comptoir deploy | rollback | promote |
//! abort | status` talk to a running comptoir over HTTP with the admin token.

use std::path::Path;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::{Method, header};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;

use crate::api::{
    CanaryStarted, Deployed, FleetStatus, Inventory, Report, Snapshot, State, TOKEN_FILE,
};
use crate::cli::RemoteArgs;

/// The token to present: `COMPTOIR_ADMIN_TOKEN`, else the running
/// comptoir's token file.
fn token(state_dir: &Path) -> anyhow::Result<String> {
    if let Ok(token) = std::env::var("COMPTOIR_ADMIN_TOKEN")
        && !token.trim().is_empty()
    {
        return Ok(token.trim().to_owned());
    }
    let path = state_dir.join(TOKEN_FILE);
    Ok(std::fs::read_to_string(&path)
        .with_context(|| format!("no admin token: set COMPTOIR_ADMIN_TOKEN or run from where comptoir runs ({} not readable)", path.display()))?
        .trim()
        .to_owned())
}

/// The `host[:port]` of `--admin-url`, which must be `http://` (or a bare
/// `host:port`). This client speaks plain HTTP only, so an `https://` URL
/// is refused rather than served without TLS (the bearer token in clear,
/// to port 80 when no port is given); any other scheme is refused too.
fn admin_authority(admin_url: &str) -> anyhow::Result<http::uri::Authority> {
    let base: http::Uri = admin_url
        .parse()
        .with_context(|| format!("invalid --admin-url {admin_url:?}"))?;
    match base.scheme_str() {
        None => {}
        Some(scheme) if scheme.eq_ignore_ascii_case("http") => {}
        Some(scheme) if scheme.eq_ignore_ascii_case("https") => bail!(
            "--admin-url {admin_url}: https is not supported (this client speaks plain HTTP \
             only and would send the admin token unencrypted); use http:// to a listener \
             reached privately, e.g. through `kubectl port-forward` or an SSH tunnel"
        ),
        Some(scheme) => {
            bail!("--admin-url {admin_url}: unsupported scheme {scheme}:// (only http://)")
        }
    }
    base.authority()
        .cloned()
        .with_context(|| format!("--admin-url {admin_url} needs http://host:port"))
}

/// One request to the admin API; returns its typed answer or the problem's
/// detail as an error.
async fn call<T: serde::de::DeserializeOwned>(
    remote: &RemoteArgs,
    method: Method,
    path: &str,
    body: Bytes,
) -> anyhow::Result<T> {
    // Refused here, before any connection: nothing is sent to a URL this
    // client cannot honour.
    let authority = admin_authority(&remote.admin_url)?;
    let port = authority.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((authority.host(), port))
        .await
        .with_context(|| {
            format!(
                "cannot reach comptoir's admin API at {}; is `comptoir up` running?",
                remote.admin_url
            )
        })?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, authority.as_str())
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", token(&remote.state_dir)?),
        )
        .body(Full::new(body))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        #[derive(serde::Deserialize)]
        struct Problem {
            detail: String,
        }
        let detail = serde_json::from_slice::<Problem>(&bytes).map_or_else(
            |_| String::from_utf8_lossy(&bytes).into_owned(),
            |p| p.detail,
        );
        bail!("{status}: {detail}");
    }
    serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "unexpected answer from {path}: {}",
            String::from_utf8_lossy(&bytes)
        )
    })
}

/// `comptoir deploy <component> <file.wasm | oci://…@sha256:…>`.
pub async fn deploy(remote: &RemoteArgs, component: &str, file: &Path) -> anyhow::Result<()> {
    let (path, body) = match file.to_str().filter(|f| f.starts_with("oci://")) {
        Some(reference) => {
            eprintln!("deploying {reference} to {component}…");
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("artifact", reference)
                .finish();
            (
                format!("/admin/components/{component}?{query}"),
                Bytes::new(),
            )
        }
        None => {
            let wasm = std::fs::read(file)
                .with_context(|| format!("failed to read {}", file.display()))?;
            eprintln!(
                "deploying {} ({} KiB) to {component}…",
                file.display(),
                wasm.len() / 1024
            );
            (format!("/admin/components/{component}"), wasm.into())
        }
    };
    let done: Deployed = call(remote, Method::PUT, &path, body).await?;
    println!(
        "{component}: {} → {} (validated and prepared in {:.1} ms)",
        done.previous, done.version, done.prepare_ms
    );
    fleet_outcome(&done)
}

/// In a fleet: which gateways run the change, and a failure unless all do.
fn fleet_outcome(done: &Deployed) -> anyhow::Result<()> {
    let Some(fleet) = &done.fleet else {
        return Ok(());
    };
    println!(
        "fleet (generation {}): {} gateway(s) serve it after {:.2} s: {}",
        fleet.generation,
        fleet.converged.len(),
        fleet.waited_s,
        fleet.converged.join(", ")
    );
    for (gateway, reason) in &fleet.refused {
        println!("  {gateway} refused it: {reason}");
    }
    if !fleet.pending.is_empty() {
        println!("  not yet: {}", fleet.pending.join(", "));
    }
    if fleet.refused.is_empty() && fleet.pending.is_empty() {
        Ok(())
    } else {
        bail!(
            "{}: not every gateway serves {} (see `comptoir status`)",
            done.component,
            done.version
        )
    }
}

/// `comptoir rollback <component>`.
pub async fn rollback(remote: &RemoteArgs, component: &str) -> anyhow::Result<()> {
    let done: Deployed = call(
        remote,
        Method::POST,
        &format!("/admin/components/{component}/rollback"),
        Bytes::new(),
    )
    .await?;
    println!(
        "{component}: {} → {} (rolled back)",
        done.previous, done.version
    );
    fleet_outcome(&done)
}

/// `comptoir deploy <component> <file.wasm> --canary <share> [--wait]`.
pub async fn canary(
    remote: &RemoteArgs,
    component: &str,
    file: &Path,
    share: u8,
    wait: bool,
) -> anyhow::Result<()> {
    let wasm = std::fs::read(file).with_context(|| format!("failed to read {}", file.display()))?;
    let started: CanaryStarted = call(
        remote,
        Method::PUT,
        &format!("/admin/components/{component}?canary={share}"),
        wasm.into(),
    )
    .await?;
    println!(
        "{component}: canary {} takes {share} % of the requests beside {}; judged after {} canary requests or {:.0} s (prepared in {:.1} ms)",
        started.version, started.stable, started.min_requests, started.window_s, started.prepare_ms
    );
    if !wait {
        return Ok(());
    }
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let inventory: Inventory =
            call(remote, Method::GET, "/admin/components", Bytes::new()).await?;
        let report = inventory
            .components
            .into_iter()
            .find(|c| c.name == component)
            .and_then(|c| c.canary);
        let Some(report) = report.filter(|r| r.version == started.version) else {
            bail!("the canary of {component} is no longer reported");
        };
        match report.state {
            State::Running => continue,
            State::Promoted => {
                println!("{component}: {}", describe(&report));
                return Ok(());
            }
            State::RolledBack => bail!("{component}: {}", describe(&report)),
        }
    }
}

/// `comptoir promote | abort <component>`.
pub async fn decide(remote: &RemoteArgs, component: &str, action: &str) -> anyhow::Result<()> {
    let report: Report = call(
        remote,
        Method::POST,
        &format!("/admin/components/{component}/{action}"),
        Bytes::new(),
    )
    .await?;
    println!("{component}: {}", describe(&report));
    Ok(())
}

/// One line on a canary: where it stands and how each version did.
fn describe(report: &Report) -> String {
    let side = |s: &Snapshot| {
        format!(
            "{} requests, 5xx {:.1} %, 4xx {:.1} %, p99 {}",
            s.requests,
            s.share(s.server_errors) * 100.0,
            s.share(s.client_errors) * 100.0,
            s.p99_ms
                .map_or_else(|| "–".into(), |p| format!("{p:.1} ms"))
        )
    };
    let head = match report.state {
        State::Running => format!(
            "canary {} running ({} %, {:.0} s left)",
            report.version,
            report.share,
            report.time_left_s.unwrap_or_default()
        ),
        State::Promoted => format!("canary {} promoted", report.version),
        State::RolledBack => format!("canary {} rolled back", report.version),
    };
    let why = report
        .reason
        .as_deref()
        .map(|r| format!(" — {r}{}", if report.manual { "" } else { " (automatic)" }))
        .unwrap_or_default();
    format!(
        "{head}{why}\n    canary: {}\n    stable {}: {}",
        side(&report.canary),
        report.stable_version,
        side(&report.stable)
    )
}

/// `comptoir status`: a table of components and replicas.
pub async fn status(remote: &RemoteArgs) -> anyhow::Result<()> {
    let inventory: Inventory = call(remote, Method::GET, "/admin/components", Bytes::new()).await?;
    println!(
        "{:<10} {:<22} {:<24} {:>5} {:>9} {:>9} {:>6}  previous",
        "COMPONENT", "VERSION", "LOADED AT", "REPL", "IN FLIGHT", "SERVED", "TRAPS"
    );
    for c in &inventory.components {
        println!(
            "{:<10} {:<22} {:<24} {:>5} {:>9} {:>9} {:>6}  {}",
            c.name,
            c.version,
            c.loaded_at,
            c.replicas.len(),
            c.replicas.iter().map(|r| r.in_flight).sum::<usize>(),
            c.replicas.iter().map(|r| r.served).sum::<u64>(),
            c.traps,
            c.previous.as_deref().unwrap_or("-"),
        );
    }
    for c in &inventory.components {
        if let Some(report) = &c.canary {
            println!("{}: {}", c.name, describe(report));
        }
    }
    match call::<FleetStatus>(remote, Method::GET, "/admin/fleet", Bytes::new()).await {
        Ok(fleet) => print_fleet(&fleet),
        // Not a fleet: nothing more to show.
        Err(error) if error.to_string().starts_with("404") => {}
        Err(error) => return Err(error),
    }
    Ok(())
}

/// The fleet part of `comptoir status`.
fn print_fleet(fleet: &FleetStatus) {
    println!("\nFLEET (answered by {})", fleet.gateway);
    for d in &fleet.desired {
        println!(
            "  desired {:<10} {:<22} generation {:<4} previous {}",
            d.component,
            d.version,
            d.generation,
            d.previous.as_deref().unwrap_or("-")
        );
    }
    println!(
        "  {:<28} {:>9} {:<26} runs",
        "GATEWAY", "SEEN (s)", "CONVERGED AT"
    );
    for g in &fleet.gateways {
        let runs: Vec<String> = g.running.values().cloned().collect();
        println!(
            "  {:<28} {:>9.1} {:<26} {}",
            g.name,
            g.last_seen_s,
            g.converged_at.as_deref().unwrap_or("not converged"),
            runs.join(" ")
        );
        for (component, reason) in &g.refused {
            println!("    refused {component}: {reason}");
        }
    }
    for c in &fleet.canaries {
        let state = match c.state {
            State::Running => "running",
            State::Promoted => "promoted",
            State::RolledBack => "rolled back",
        };
        println!(
            "  canary {} {state} ({} % of the fleet, {:.0} s): {} canary / {} stable requests{}",
            c.version,
            c.share,
            c.elapsed_s,
            c.canary.requests,
            c.stable.requests,
            c.reason
                .as_deref()
                .map(|r| format!(" — {r}"))
                .unwrap_or_default()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `http://` and a bare `host:port` name the listener; no port is 80.
    #[test]
    fn admin_url_over_http_is_accepted() {
        let authority = admin_authority("http://127.0.0.1:8081").unwrap();
        assert_eq!(
            (authority.host(), authority.port_u16()),
            ("127.0.0.1", Some(8081))
        );
        assert_eq!(
            admin_authority("HTTP://admin.internal/")
                .unwrap()
                .port_u16(),
            None
        );
        assert_eq!(
            admin_authority("127.0.0.1:9000").unwrap().port_u16(),
            Some(9000)
        );
    }

    /// `https://` and every other scheme are refused, with the reason.
    #[test]
    fn admin_url_other_schemes_are_refused() {
        for url in ["https://127.0.0.1:8081", "HTTPS://comptoir.example.com"] {
            let error = admin_authority(url).unwrap_err().to_string();
            assert!(error.contains("https is not supported"), "{url}: {error}");
        }
        for url in ["ftp://127.0.0.1:8081", "ws://127.0.0.1:8081", "unix://x"] {
            let error = admin_authority(url).unwrap_err().to_string();
            assert!(error.contains("unsupported scheme"), "{url}: {error}");
        }
        assert!(admin_authority("http:///admin").is_err());
    }

    /// `comptoir status --admin-url https://…` fails before connecting: the
    /// listener it names never sees a connection, let alone the token.
    #[tokio::test]
    async fn status_over_https_sends_nothing() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state_dir = tempfile::tempdir().unwrap();
        std::fs::write(state_dir.path().join(TOKEN_FILE), "secret-token").unwrap();
        let remote = RemoteArgs {
            admin_url: format!("https://127.0.0.1:{port}"),
            state_dir: state_dir.path().to_owned(),
        };
        let error = status(&remote).await.unwrap_err().to_string();
        assert!(error.contains("https is not supported"), "{error}");
        // A connect that succeeded would already sit in the backlog.
        let accepted = listener.accept();
        assert!(
            matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "a connection reached the listener: {accepted:?}"
        );
    }
}

//! A real OpenID Connect provider end to end: glewlwyd (Debian's package),
//! started by `deploy/idp/glewlwyd.sh` with a customer (alice) and a staff
//! user (sam). comptoir (or Spin) trusts its issuer and the JWKS read from
//! its `jwks_uri`; tokens from its token endpoint work, with their roles.

use std::process::Command;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Component, stack_with_env, temp_dir, workspace};

/// A running glewlwyd, stopped when dropped.
struct Provider {
    base: String,
    pid: i32,
    _dir: tempfile::TempDir,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.pid);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    }
}

/// glewlwyd on a free port, or `None` (the test is skipped, saying so)
/// where it is not installed; CI installs it (`.ci/run`).
fn provider() -> Option<Provider> {
    if which::which("glewlwyd").is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "glewlwyd is not installed: CI must install it (apt-get install glewlwyd sqlite3)"
        );
        eprintln!("skipped: glewlwyd is not installed (apt-get install glewlwyd sqlite3)");
        return None;
    }
    let dir = temp_dir();
    let port = comptoir::free_port().unwrap();
    let output = Command::new("bash")
        .arg(workspace().join("deploy/idp/glewlwyd.sh"))
        .arg(dir.path())
        .arg(port.to_string())
        .env("GLEWLWYD_ALG", "ES256")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "glewlwyd did not start: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let pid = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap();
    Some(Provider {
        base: format!("http://127.0.0.1:{port}"),
        pid,
        _dir: dir,
    })
}

/// An access token for `user` from the provider's token endpoint (the
/// password grant, the `comptoir` scope: `aud` is `comptoir`).
async fn token(http: &reqwest::Client, endpoint: &str, user: &str, password: &str) -> String {
    let answer: Value = http
        .post(endpoint)
        .basic_auth("comptoir", Some("comptoir-secret"))
        .form(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
            ("scope", "comptoir"),
        ])
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"].as_str().unwrap().to_owned()
}

/// A token from glewlwyd's token endpoint is accepted end to end, its
/// `roles` claim read: the customer creates and reads its own record and
/// is refused the client list; the staff user lists clients.
#[tokio::test]
async fn a_token_from_a_real_provider_works_end_to_end() {
    let Some(idp) = provider() else { return };
    let http = reqwest::Client::new();
    let discovery: Value = http
        .get(format!(
            "{}/api/oidc/.well-known/openid-configuration",
            idp.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let issuer = discovery["issuer"].as_str().unwrap();
    let jwks = http
        .get(discovery["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let endpoint = discovery["token_endpoint"].as_str().unwrap();
    let alice = token(&http, endpoint, "alice", "alice-pass").await;
    let sam = token(&http, endpoint, "sam", "sam-pass").await;

    let s = stack_with_env(
        vec![Component::clients()],
        &[],
        vec![
            ("SPIN_VARIABLE_AUTH_ISSUER".into(), issuer.to_owned()),
            ("SPIN_VARIABLE_AUTH_JWKS".into(), jwks),
            ("SPIN_VARIABLE_AUTH_AUDIENCE".into(), "comptoir".into()),
            ("SPIN_VARIABLE_AUTH_ROLES_CLAIM".into(), "/roles".into()),
        ],
    )
    .await;
    let app = &s.app;
    let created = app
        .as_caller(Method::POST, "/clients", Some(&alice))
        .json(&json!({"name": "Alice", "email": "alice@example.test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let me: Value = app
        .as_caller(Method::GET, "/clients/me", Some(&alice))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["name"], "Alice");
    let listed = app
        .as_caller(Method::GET, "/clients", Some(&alice))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 403);
    let listed = app
        .as_caller(Method::GET, "/clients", Some(&sam))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    // The run's own dev-issuer tokens are not this provider's.
    let ours = app
        .as_caller(Method::GET, "/clients", Some(crate::tokens::staff()))
        .send()
        .await
        .unwrap();
    assert_eq!(ours.status(), 401);
}

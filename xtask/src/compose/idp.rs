//! The `idp` profile for real: the sample OpenID Connect provider
//! (glewlwyd from Debian's packages, `deploy/idp`) started beside the
//! stack, both comptoir containers re-created trusting its issuer and the
//! JWKS it publishes, and tokens from its token endpoint (its sample
//! customer and staff user) used end to end through NGINX.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use serde_json::{Value, json};

use super::Stack;
use crate::docker;

/// The image the profile runs (`IDP_IMAGE` in `compose.yaml`).
const IMAGE: &str = "comptoir-idp:0.1.0";
/// `comptoir:comptoir-secret`, the sample client, for HTTP Basic.
const CLIENT_BASIC: &str = "Basic Y29tcHRvaXI6Y29tcHRvaXItc2VjcmV0";

/// Builds the provider's image (if need be) on the local base.
pub fn build(root: &Path) -> anyhow::Result<()> {
    crate::step(&format!("building {IMAGE} (deploy/idp)"), || {
        docker::build(
            IMAGE,
            &root.join("deploy/idp"),
            None,
            &[("BASE_IMAGE", docker::BASE_IMAGE)],
        )
    })
}

/// Starts the profile on `stack`, makes comptoir trust it, and checks a
/// customer's and a staff user's tokens; leaves comptoir trusting it.
pub fn check(root: &Path, stack: &Stack) -> anyhow::Result<()> {
    build(root)?;
    let port = crate::free_port()?.to_string();
    let compose = || {
        let mut c = stack.compose();
        c.env("IDP_PORT", &port).args(["--profile", "idp"]);
        c
    };
    let mut up = compose();
    up.args(["up", "-d", "idp"]);
    crate::run(up)?;
    let base = format!("http://127.0.0.1:{port}/api/oidc");
    let http = crate::http();
    let discovery = crate::wait::poll(Duration::from_secs(60), Duration::from_millis(500), || {
        Ok(http
            .get(format!("{base}/.well-known/openid-configuration"))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_json::<Value>().ok()))
    })?
    .context("the idp profile's provider did not answer within 60 s")?;
    let issuer = discovery["issuer"]
        .as_str()
        .context("no issuer in the discovery document")?
        .to_owned();
    // Its jwks_uri names idp:4593, which only the stack's network resolves:
    // the same document through the published port.
    let jwks = http
        .get(format!("{base}/jwks"))
        .call()?
        .body_mut()
        .read_to_string()?;
    eprintln!("    the idp profile answers: issuer {issuer}");

    let mut trust = compose();
    trust
        .env("AUTH_ISSUER", &issuer)
        .env("AUTH_JWKS", &jwks)
        .args(["up", "-d", "comptoir-1", "comptoir-2"]);
    crate::run(trust)?;
    stack.wait_ready()?;

    let token = |user: &str, password: &str| -> anyhow::Result<String> {
        let answer: Value = http
            .post(format!("{base}/token"))
            .header("authorization", CLIENT_BASIC)
            .send_form([
                ("grant_type", "password"),
                ("username", user),
                ("password", password),
                ("scope", "comptoir"),
            ])?
            .body_mut()
            .read_json()?;
        Ok(answer["access_token"]
            .as_str()
            .with_context(|| format!("no access token for {user}: {answer}"))?
            .to_owned())
    };
    let (alice, sam) = (token("alice", "alice-pass")?, token("sam", "sam-pass")?);
    let created = http
        .post(stack.url("/clients"))
        .header("authorization", format!("Bearer {alice}"))
        .send_json(json!({"name": "Alice", "email": format!("alice-{port}@example.test")}))?
        .status();
    let status = |token: &str, path: &str| -> anyhow::Result<u16> {
        let response = http
            .get(stack.url(path))
            .header("authorization", format!("Bearer {token}"))
            .call()?;
        Ok(response.status().as_u16())
    };
    let put_product = |token: &str| -> anyhow::Result<u16> {
        let response = http
            .put(stack.url(&format!("/catalogue/IDP-{port}")))
            .header("authorization", format!("Bearer {token}"))
            .send_json(json!({"name": "Idp", "price_cents": 100, "stock": 1}))?;
        Ok(response.status().as_u16())
    };
    let (alice_put, sam_put) = (put_product(&alice)?, put_product(&sam)?);
    ensure!(
        sam_put == 201 || sam_put == 200,
        "PUT /catalogue/{{sku}} as sam (staff): {sam_put}, expected 201 or 200"
    );
    let catalogue = http.get(stack.url("/catalogue")).call()?.status().as_u16();
    let seen = [
        ("POST /clients as alice", created.as_u16(), 201),
        ("PUT /catalogue/{sku} as alice", alice_put, 403),
        ("GET /catalogue with no token", catalogue, 200),
        (
            "GET /clients/me as alice",
            status(&alice, "/clients/me")?,
            200,
        ),
        ("GET /clients as alice", status(&alice, "/clients")?, 403),
        (
            "GET /clients as sam (staff)",
            status(&sam, "/clients")?,
            200,
        ),
    ];
    for (what, got, expected) in seen {
        ensure!(got == expected, "{what}: {got}, expected {expected}");
    }
    eprintln!(
        "    comptoir trusts it: alice (customer) made and read her record, was refused the list and a product; sam (staff) listed clients and put a product"
    );
    let mut rm = compose();
    rm.args(["rm", "--stop", "--force", "-v", "idp"]);
    if let Err(error) = crate::run(rm) {
        bail!("could not remove the idp container: {error:#}");
    }
    Ok(())
}

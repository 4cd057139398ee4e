//! The dev issuer `comptoir up` trusts when no identity provider is
//! configured: with neither `SPIN_VARIABLE_AUTH_ISSUER` nor
//! `SPIN_VARIABLE_AUTH_JWKS` set, it provides the `auth_issuer` and
//! `auth_jwks` variables of the key in `<state dir>/dev-issuer.pem`
//! (created, mode 0600, on first start), whose tokens `cargo xtask token`
//! mints. Any explicit setting replaces it entirely; nothing turns
//! authentication off.

use std::collections::BTreeMap;
use std::path::Path;

use dev_issuer::{ISSUER, Issuer, KEY_FILE};

use crate::variables;

/// The variables the dev issuer of `state_dir` provides (none when an
/// issuer is configured).
pub fn provided(state_dir: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let configured = ["auth_issuer", "auth_jwks"]
        .iter()
        .any(|name| std::env::var_os(variables::env_name(name)).is_some());
    if configured {
        return Ok(BTreeMap::new());
    }
    let path = state_dir.join(KEY_FILE);
    let issuer = Issuer::load_or_create(&path)?;
    tracing::info!(
        key = %path.display(),
        "no identity provider configured: trusting the dev issuer (mint tokens with `cargo xtask token`)"
    );
    Ok(BTreeMap::from([
        ("auth_issuer".to_owned(), ISSUER.to_owned()),
        ("auth_jwks".to_owned(), issuer.jwks()),
    ]))
}

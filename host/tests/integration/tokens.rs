//! The identity provider of the test run: the dev issuer's Ed25519 key and
//! the test RS256 and ES256 keys, all in one JWKS that every comptoir and
//! `spin up` of the run trusts (`SPIN_VARIABLE_AUTH_*`), and the tokens
//! tests send: staff, or a customer named by its subject.

use std::sync::OnceLock;
use std::time::Duration;

use dev_issuer::{Issuer, Signer, SigningAlgorithm, test_signer};

/// How long the run's tokens live: longer than any test run.
const TTL: Duration = Duration::from_secs(4 * 3600);

/// The run's keys.
pub struct Keys {
    pub issuer: Issuer,
    pub rs256: Signer,
    pub es256: Signer,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        issuer: Issuer::generate().expect("a dev issuer key"),
        rs256: test_signer(SigningAlgorithm::RS256),
        es256: test_signer(SigningAlgorithm::ES256),
    })
}

/// The `SPIN_VARIABLE_AUTH_*` settings that trust the run's keys.
pub fn variables() -> Vec<(String, String)> {
    let keys = keys();
    keys.issuer.variables_trusting(&[&keys.rs256, &keys.es256])
}

/// A staff token (the `staff` role), the same for the whole run.
pub fn staff() -> &'static str {
    static STAFF: OnceLock<String> = OnceLock::new();
    STAFF.get_or_init(|| keys().issuer.token("test-staff", true, TTL))
}

/// A customer's token: subject `sub`, no role.
pub fn customer(sub: &str) -> String {
    keys().issuer.token(sub, false, TTL)
}

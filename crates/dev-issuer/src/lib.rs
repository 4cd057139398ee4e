//! comptoir's development issuer: what `comptoir up` trusts when no
//! identity provider is configured, and what the tests sign with.
//!
//! - [`Signer`]: one signing key (Ed25519, or any PEM key the tests bring),
//!   its public JWK and JWTs signed with it.
//! - [`Issuer`]: the dev issuer: an Ed25519 key kept in a file (mode 0600),
//!   its JWKS, and RFC 9068 access tokens for a subject, staff or not.
//!
//! A real deployment trusts its identity provider instead, through the
//! Spin variables `auth_issuer`, `auth_jwks`, `auth_audience` and
//! `auth_roles_claim` (see [`Issuer::variables`]).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub use jsonwebtoken::Algorithm as SigningAlgorithm;

/// The `iss` of the dev issuer's tokens.
pub const ISSUER: &str = "urn:comptoir:dev-issuer";
/// The audience comptoir expects by default (Spin variable `auth_audience`).
pub const AUDIENCE: &str = "comptoir";
/// The role that may do everything.
pub const STAFF_ROLE: &str = "staff";
/// The file, in comptoir's state directory, that holds the dev issuer's key.
pub const KEY_FILE: &str = "dev-issuer.pem";

/// The PKCS #8 prefix of an Ed25519 private key (RFC 8410): the key is
/// this, then its 32-byte seed.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// One signing key and its public JWK.
pub struct Signer {
    algorithm: Algorithm,
    key: EncodingKey,
    /// The public JWK, with `kid` (its RFC 7638 thumbprint), `alg` and `use`.
    jwk: Value,
    kid: String,
}

impl Signer {
    /// An Ed25519 (EdDSA) signer from its 32-byte seed.
    pub fn ed25519(seed: &[u8; 32]) -> anyhow::Result<Self> {
        let mut der = ED25519_PKCS8_PREFIX.to_vec();
        der.extend_from_slice(seed);
        Self::new(Algorithm::EdDSA, EncodingKey::from_ed_der(&der))
    }

    /// A signer from a PEM private key (`RS256`: RSA, `ES256`: P-256,
    /// `EdDSA`: Ed25519).
    pub fn from_pem(algorithm: Algorithm, pem: &[u8]) -> anyhow::Result<Self> {
        let key = match algorithm {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(pem)?,
            Algorithm::ES256 => EncodingKey::from_ec_pem(pem)?,
            Algorithm::EdDSA => EncodingKey::from_ed_pem(pem)?,
            other => bail!("no signer for {other:?}"),
        };
        Self::new(algorithm, key)
    }

    fn new(algorithm: Algorithm, key: EncodingKey) -> anyhow::Result<Self> {
        let mut jwk = Jwk::from_encoding_key(&key, algorithm)?;
        let kid = jwk.thumbprint(ThumbprintHash::SHA256)?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(Self {
            algorithm,
            key,
            jwk: serde_json::to_value(&jwk)?,
            kid,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The public key, as a JWK.
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// `claims` signed, with the header of an access token (`typ: at+jwt`,
    /// this key's `alg` and `kid`).
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.algorithm);
        header.typ = Some("at+jwt".into());
        header.kid = Some(self.kid.clone());
        self.sign_with(&header, claims)
    }

    /// `claims` signed under `header` as given (tests use it to send what
    /// a verifier must refuse).
    pub fn sign_with(&self, header: &Header, claims: &Value) -> String {
        // Our own keys and JSON values: signing cannot fail but for a key
        // of another family than `header.alg`, which is the caller's bug.
        jsonwebtoken::encode(header, claims, &self.key).expect("the key signs its algorithm")
    }
}

/// A test-only signer of `algorithm` (RS256, ES256 or EdDSA), from the
/// fixed keys in `testdata/`: never trust its JWKS outside tests.
pub fn test_signer(algorithm: Algorithm) -> Signer {
    let pem: &[u8] = match algorithm {
        Algorithm::RS256 => include_bytes!("../testdata/rs256.pem"),
        Algorithm::ES256 => include_bytes!("../testdata/es256.pem"),
        Algorithm::EdDSA => include_bytes!("../testdata/eddsa.pem"),
        other => panic!("no test key for {other:?}"),
    };
    Signer::from_pem(algorithm, pem).expect("the test keys parse")
}

/// A JWKS (`{"keys": [...]}`) of `signers`' public keys, as JSON text.
pub fn jwks(signers: &[&Signer]) -> String {
    json!({"keys": signers.iter().map(|s| s.jwk()).collect::<Vec<_>>()}).to_string()
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The dev issuer: `iss` [`ISSUER`], an Ed25519 key.
pub struct Issuer {
    pub signer: Signer,
}

impl Issuer {
    /// A dev issuer with a fresh key, kept nowhere (tests).
    pub fn generate() -> anyhow::Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        Ok(Self {
            signer: Signer::ed25519(&seed)?,
        })
    }

    /// The dev issuer whose key is in `path` (PKCS #8 PEM), created there
    /// (mode 0600) when missing.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        if let Ok(pem) = std::fs::read(path) {
            let signer = Signer::from_pem(Algorithm::EdDSA, &pem)
                .with_context(|| format!("{} is not an Ed25519 private key", path.display()))?;
            return Ok(Self { signer });
        }
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let mut der = ED25519_PKCS8_PREFIX.to_vec();
        der.extend_from_slice(&seed);
        let body = base64::engine::general_purpose::STANDARD.encode(&der);
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
        write_private(path, pem.as_bytes())?;
        Ok(Self {
            signer: Signer::ed25519(&seed)?,
        })
    }

    /// Its JWKS, as JSON text.
    pub fn jwks(&self) -> String {
        jwks(&[&self.signer])
    }

    /// The Spin variables that make comptoir (or Spin) trust this issuer,
    /// as `SPIN_VARIABLE_*` environment variables.
    pub fn variables(&self) -> Vec<(String, String)> {
        self.variables_trusting(&[])
    }

    /// [`Self::variables`] with `others`' keys in the JWKS too (tokens
    /// they sign with this issuer's claims are accepted as well).
    pub fn variables_trusting(&self, others: &[&Signer]) -> Vec<(String, String)> {
        let mut signers = vec![&self.signer];
        signers.extend_from_slice(others);
        vec![
            ("SPIN_VARIABLE_AUTH_ISSUER".into(), ISSUER.into()),
            ("SPIN_VARIABLE_AUTH_JWKS".into(), jwks(&signers)),
            ("SPIN_VARIABLE_AUTH_AUDIENCE".into(), AUDIENCE.into()),
            ("SPIN_VARIABLE_AUTH_ROLES_CLAIM".into(), "/roles".into()),
        ]
    }

    /// The claims of an access token for `subject` (with the `staff` role
    /// when `staff`), valid for `ttl` from now (RFC 9068: `iss`, `sub`,
    /// `aud`, `exp`, `iat`, `jti`, `client_id`).
    pub fn claims(subject: &str, staff: bool, ttl: Duration) -> Value {
        let now = now();
        let mut jti = [0u8; 12];
        // A token id only needs to be unlikely to repeat.
        let _ = getrandom::fill(&mut jti);
        let mut claims = json!({
            "iss": ISSUER,
            "sub": subject,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + ttl.as_secs(),
            "jti": hex::encode(jti),
            "client_id": "comptoir-dev",
        });
        if staff {
            claims["roles"] = json!([STAFF_ROLE]);
        }
        claims
    }

    /// A signed access token for `subject`.
    pub fn token(&self, subject: &str, staff: bool, ttl: Duration) -> String {
        self.signer.sign(&Self::claims(subject, staff, ttl))
    }
}

/// Writes `contents` to `path` with mode 0600 (its directory created).
fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("failed to write {}", path.display()))?;
    file.write_all(contents)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key file is created once, private, and read back as the same key.
    #[test]
    fn the_key_file_is_private_and_kept() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("dev-issuer-{}", std::process::id()));
        let path = dir.join(KEY_FILE);
        let first = Issuer::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = Issuer::load_or_create(&path).unwrap();
        assert_eq!(first.signer.kid(), again.signer.kid());
        assert_eq!(first.jwks(), again.jwks());
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Tokens carry the access-token header and the claims comptoir checks.
    #[test]
    fn tokens_carry_the_claims_comptoir_checks() {
        let issuer = Issuer::generate().unwrap();
        let token = issuer.token("ada", true, Duration::from_secs(600));
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.kid.as_deref(), Some(issuer.signer.kid()));
        let claims: Value = jsonwebtoken::dangerous::insecure_decode(&token)
            .unwrap()
            .claims;
        assert_eq!(claims["sub"], "ada");
        assert_eq!(claims["iss"], ISSUER);
        assert_eq!(claims["roles"], json!(["staff"]));
        assert!(claims["exp"].as_u64().unwrap() > now());
    }
}

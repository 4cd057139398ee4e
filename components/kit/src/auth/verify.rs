//! Verifying an access token: the issuer's key set, which keys and
//! algorithms are accepted, and the claims every token must carry. Plain
//! functions of the token, the settings and the key set (no I/O), so that
//! native unit tests reach every refusal.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

/// Seconds of clock difference allowed between the issuer and us when
/// checking `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 60;

/// What a deployment trusts: the Spin variables `auth_issuer`,
/// `auth_audience`, `auth_jwks` and `auth_roles_claim`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The exact `iss` every token must carry.
    pub issuer: String,
    /// A value that must appear in `aud`.
    pub audience: String,
    /// The issuer's JWKS, as JSON.
    pub jwks: String,
    /// A JSON pointer to the caller's roles in the claims (`/roles`,
    /// Keycloak's `/realm_access/roles`).
    pub roles_claim: String,
}

/// One signing key of the issuer's set and the one algorithm it verifies.
pub struct Key {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// The keys of a JWKS that can verify an accepted algorithm; the others
/// (encryption keys, HMAC secrets, other curves) are left out.
pub struct KeySet(Vec<Key>);

/// Why a key set could not be read.
#[derive(Debug, PartialEq, Eq)]
pub struct BadKeySet(pub String);

impl KeySet {
    /// Parses `jwks` (`{"keys": [...]}`); a set with no usable key is an
    /// error, since it would refuse every token.
    pub fn parse(jwks: &str) -> Result<Self, BadKeySet> {
        let set: Value = serde_json::from_str(jwks)
            .map_err(|e| BadKeySet(format!("auth_jwks is not JSON: {e}")))?;
        let keys = set
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| BadKeySet("auth_jwks has no \"keys\" array".into()))?;
        let usable: Vec<Key> = keys.iter().filter_map(usable_key).collect();
        if usable.is_empty() {
            return Err(BadKeySet(
                "auth_jwks holds no ES256, RS256 or EdDSA signing key".into(),
            ));
        }
        Ok(Self(usable))
    }

    /// The key a token header names: by `kid`; a token without one only
    /// when the set holds a single key.
    fn find(&self, kid: Option<&str>) -> Option<&Key> {
        match kid {
            Some(kid) => self.0.iter().find(|k| k.kid.as_deref() == Some(kid)),
            None if self.0.len() == 1 => self.0.first(),
            None => None,
        }
    }
}

/// `value` as a key that verifies one accepted algorithm, if it is one.
fn usable_key(value: &Value) -> Option<Key> {
    // Keys are read one by one: one key of a kind this crate cannot read
    // (a real provider's set may hold encryption keys) must not hide the
    // others.
    let mut jwk: Jwk = serde_json::from_value(value.clone()).ok()?;
    if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    let algorithm = match &mut jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            ec.x = full_width(&ec.x)?;
            ec.y = full_width(&ec.y)?;
            Algorithm::ES256
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        _ => return None,
    };
    // A key that names its algorithm verifies that one only.
    if let Some(named) = jwk.common.key_algorithm
        && named.to_string().parse::<Algorithm>().ok() != Some(algorithm)
    {
        return None;
    }
    Some(Key {
        kid: jwk.common.key_id.clone(),
        algorithm,
        key: DecodingKey::from_jwk(&jwk).ok()?,
    })
}

/// Bytes in a P-256 coordinate.
const P256_COORDINATE: usize = 32;

/// A P-256 coordinate (base64url) at its full width. RFC 7518 §6.2.1.2
/// asks for all 32 bytes, but some providers drop leading zero bytes
/// (glewlwyd 2.7 does, for about one key in 64); such a key is the same
/// point, so it is read as one rather than refusing every token it signs.
fn full_width(coordinate: &str) -> Option<String> {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let bytes = engine.decode(coordinate).ok()?;
    let pad = P256_COORDINATE.checked_sub(bytes.len())?;
    let mut padded = vec![0; pad];
    padded.extend_from_slice(&bytes);
    Some(engine.encode(padded))
}

/// Why a token was refused (the 401's `error_description`; never the
/// token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    Malformed,
    Algorithm,
    UnknownKey,
    Signature,
    Expired,
    NotYetValid,
    Issuer,
    Audience,
    MissingClaim(String),
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed => f.write_str("the token is not a well-formed JWT"),
            Self::Algorithm => f.write_str("the token's algorithm is not accepted"),
            Self::UnknownKey => f.write_str("the token's key is not the issuer's"),
            Self::Signature => f.write_str("the token's signature does not verify"),
            Self::Expired => f.write_str("the token has expired"),
            Self::NotYetValid => f.write_str("the token is not valid yet"),
            Self::Issuer => f.write_str("the token's issuer is not trusted"),
            Self::Audience => f.write_str("the token is not meant for this API"),
            Self::MissingClaim(claim) => write!(f, "the token has no valid {claim} claim"),
        }
    }
}

/// What a verified token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub issuer: String,
    pub subject: String,
    pub roles: Vec<String>,
    /// When the token expires (seconds since the epoch).
    pub expires: u64,
}

/// Verifies `token` against `keys` and `settings` at the current time:
/// signature (ES256, RS256 or EdDSA, by the key its `kid` names), `iss`,
/// `aud`, `exp` and `sub` required, `nbf` honoured, with
/// [`LEEWAY_SECONDS`] of leeway.
pub fn verify(token: &str, settings: &Settings, keys: &KeySet) -> Result<Verified, Invalid> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::Json(_) => Invalid::Algorithm,
        _ => Invalid::Malformed,
    })?;
    let key = keys
        .find(header.kid.as_deref())
        .ok_or(Invalid::UnknownKey)?;
    if header.alg != key.algorithm {
        return Err(Invalid::Algorithm);
    }
    let mut validation = Validation::new(key.algorithm);
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_nbf = true;
    validation.set_issuer(&[&settings.issuer]);
    validation.set_audience(&[&settings.audience]);
    validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
    let data = jsonwebtoken::decode::<Value>(token, &key.key, &validation).map_err(refusal)?;
    let claims = data.claims;
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Invalid::MissingClaim("sub".into()))?;
    let expires = claims
        .get("exp")
        .and_then(Value::as_u64)
        .ok_or_else(|| Invalid::MissingClaim("exp".into()))?;
    Ok(Verified {
        issuer: settings.issuer.clone(),
        subject: subject.to_owned(),
        roles: roles(&claims, &settings.roles_claim),
        expires,
    })
}

fn refusal(error: jsonwebtoken::errors::Error) -> Invalid {
    use jsonwebtoken::errors::ErrorKind as E;
    match error.into_kind() {
        E::InvalidSignature => Invalid::Signature,
        E::ExpiredSignature => Invalid::Expired,
        E::ImmatureSignature => Invalid::NotYetValid,
        E::InvalidIssuer => Invalid::Issuer,
        E::InvalidAudience => Invalid::Audience,
        E::MissingRequiredClaim(claim) | E::InvalidClaimFormat(claim) => {
            Invalid::MissingClaim(claim)
        }
        E::InvalidAlgorithm | E::MissingAlgorithm | E::UnsupportedAlgorithm => Invalid::Algorithm,
        _ => Invalid::Malformed,
    }
}

/// The roles at JSON pointer `pointer`: an array of strings, one string of
/// roles separated by spaces (an OAuth `scope`) or commas (glewlwyd's
/// additional claims), or an object whose keys are the roles (Zitadel's
/// `urn:zitadel:iam:org:project:roles`); none when absent.
pub fn roles(claims: &Value, pointer: &str) -> Vec<String> {
    match claims.pointer(pointer) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(text)) => text
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::Object(roles)) => roles.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dev_issuer::{Issuer, Signer, SigningAlgorithm as Alg, jwks, now, test_signer};
    use jsonwebtoken::Header;
    use serde_json::json;
    use std::time::Duration;

    fn settings(signers: &[&Signer]) -> (Settings, KeySet) {
        let jwks = jwks(signers);
        let settings = Settings {
            issuer: dev_issuer::ISSUER.into(),
            audience: dev_issuer::AUDIENCE.into(),
            jwks: jwks.clone(),
            roles_claim: "/roles".into(),
        };
        (settings, KeySet::parse(&jwks).unwrap())
    }

    fn claims() -> Value {
        Issuer::claims("ada", false, Duration::from_secs(600))
    }

    /// A token of each accepted algorithm verifies, by its `kid`.
    #[test]
    fn es256_rs256_and_eddsa_verify() {
        let signers: Vec<Signer> = [Alg::ES256, Alg::RS256, Alg::EdDSA]
            .into_iter()
            .map(test_signer)
            .collect();
        let (settings, keys) = settings(&signers.iter().collect::<Vec<_>>());
        for signer in &signers {
            let verified = verify(&signer.sign(&claims()), &settings, &keys).unwrap();
            assert_eq!(verified.subject, "ada");
            assert!(verified.roles.is_empty());
        }
    }

    /// Each way a token can be wrong is refused, with its reason.
    #[test]
    fn bad_tokens_are_refused() {
        let signer = test_signer(Alg::EdDSA);
        let other = test_signer(Alg::ES256);
        let (settings, keys) = settings(&[&signer]);
        let refused = |token: String| verify(&token, &settings, &keys).unwrap_err();
        let with = |key: &str, value: Value| {
            let mut c = claims();
            c[key] = value;
            signer.sign(&c)
        };
        let without = |key: &str| {
            let mut c = claims();
            c.as_object_mut().unwrap().remove(key);
            signer.sign(&c)
        };
        assert_eq!(refused(with("exp", json!(now() - 120))), Invalid::Expired);
        assert_eq!(
            refused(with("nbf", json!(now() + 120))),
            Invalid::NotYetValid
        );
        assert_eq!(
            refused(with("iss", json!("https://evil.example"))),
            Invalid::Issuer
        );
        assert_eq!(
            refused(with("aud", json!(["someone-else"]))),
            Invalid::Audience
        );
        assert!(matches!(refused(without("exp")), Invalid::MissingClaim(_)));
        assert!(matches!(refused(without("sub")), Invalid::MissingClaim(_)));
        assert!(matches!(
            refused(with("sub", json!(""))),
            Invalid::MissingClaim(_)
        ));
        // Signed by a key the issuer does not have, under the issuer's kid.
        let mut header = Header::new(Alg::ES256);
        header.kid = Some(signer.kid().into());
        assert_eq!(
            refused(other.sign_with(&header, &claims())),
            Invalid::Algorithm
        );
        let mut header = Header::new(Alg::EdDSA);
        header.kid = Some(signer.kid().into());
        let forged = test_signer_ed25519_other().sign_with(&header, &claims());
        assert_eq!(refused(forged), Invalid::Signature);
        // An unknown kid.
        assert_eq!(refused(other.sign(&claims())), Invalid::UnknownKey);
        // A payload changed after signing.
        let token = signer.sign(&claims());
        let parts: Vec<&str> = token.split('.').collect();
        let tampered = b64(&with_sub(parts[1], "root"));
        assert_eq!(
            refused(format!("{}.{tampered}.{}", parts[0], parts[2])),
            Invalid::Signature
        );
        // `alg: none`, unsigned.
        let none = b64(&json!({"alg": "none", "typ": "JWT", "kid": signer.kid()}).to_string());
        let body = b64(&claims().to_string());
        assert_eq!(refused(format!("{none}.{body}.")), Invalid::Algorithm);
        // HS256 keyed with the issuer's public key.
        let public = serde_json::to_vec(signer.jwk()).unwrap();
        let mut header = Header::new(Alg::HS256);
        header.kid = Some(signer.kid().into());
        let hs = jsonwebtoken::encode(
            &header,
            &claims(),
            &jsonwebtoken::EncodingKey::from_secret(&public).unwrap(),
        )
        .unwrap();
        assert_eq!(refused(hs), Invalid::Algorithm);
        assert_eq!(refused("not a token".into()), Invalid::Malformed);
    }

    fn test_signer_ed25519_other() -> Signer {
        Signer::ed25519(&[7u8; 32]).unwrap()
    }

    fn b64(text: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }

    /// The payload part `part` with its `sub` replaced.
    fn with_sub(part: &str, sub: &str) -> String {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap();
        let mut claims: Value = serde_json::from_slice(&bytes).unwrap();
        claims["sub"] = json!(sub);
        claims.to_string()
    }

    /// Roles come as an array, or a string of space- or comma-separated roles.
    #[test]
    fn roles_are_read_where_the_pointer_says() {
        let claims = json!({
            "roles": ["staff", 3],
            "realm_access": {"roles": ["staff", "offline"]},
            "scope": "openid staff",
            "glewlwyd": "staff,admin",
            "urn:zitadel:iam:org:project:roles": {"staff": {"1": "shop.example"}},
        });
        assert_eq!(roles(&claims, "/roles"), ["staff"]);
        assert_eq!(roles(&claims, "/realm_access/roles"), ["staff", "offline"]);
        assert_eq!(roles(&claims, "/scope"), ["openid", "staff"]);
        assert_eq!(roles(&claims, "/glewlwyd"), ["staff", "admin"]);
        assert_eq!(
            roles(&claims, "/urn:zitadel:iam:org:project:roles"),
            ["staff"]
        );
        assert!(roles(&claims, "/missing").is_empty());
    }

    /// A P-256 key whose `x` starts with a zero byte, published without
    /// it (as glewlwyd does for about one key in 64), still verifies.
    #[test]
    fn a_p256_coordinate_without_its_leading_zero_verifies() {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let pem = include_bytes!("../../testdata/es256-leading-zero.pem");
        let signer = Signer::from_pem(Alg::ES256, pem).unwrap();
        let mut jwk = signer.jwk().clone();
        let x = engine.decode(jwk["x"].as_str().unwrap()).unwrap();
        assert_eq!((x.len(), x[0]), (32, 0), "the test key's x starts with 0");
        jwk["x"] = json!(engine.encode(&x[1..]));
        let jwks = json!({"keys": [jwk]}).to_string();
        let (mut settings, _) = settings(&[&signer]);
        settings.jwks = jwks.clone();
        let keys = KeySet::parse(&jwks).unwrap();
        assert!(verify(&signer.sign(&claims()), &settings, &keys).is_ok());
        // Longer than the curve's 32 bytes is not a P-256 point: left out.
        jwk["x"] = json!(engine.encode([&[1u8][..], &x].concat()));
        let too_long = json!({"keys": [jwk]}).to_string();
        assert!(KeySet::parse(&too_long).is_err());
    }

    /// Keys the verifier cannot use (HMAC secrets, encryption keys, other
    /// curves) are left out; a set with none left is refused.
    #[test]
    fn only_signing_keys_of_accepted_algorithms_are_kept() {
        let signer = test_signer(Alg::RS256);
        let mut enc = signer.jwk().clone();
        enc["use"] = json!("enc");
        enc["kid"] = json!("enc");
        let set = json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            enc,
            {"kty": "weird"},
            signer.jwk(),
        ]});
        assert_eq!(KeySet::parse(&set.to_string()).unwrap().0.len(), 1);
        let none = json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}).to_string();
        assert!(KeySet::parse(&none).is_err());
        assert!(KeySet::parse("not json").is_err());
    }
}

//! What a gateway trusts: a version is named by the sha256 of its `.wasm`
//! and checked against it whenever fetched; and why one is refused.

/// Why a version could not be fetched or trusted (nothing changed).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ArtifactError {
    #[error("digest mismatch: {0}")]
    Mismatch(String),
    #[error("no such artifact: {0}")]
    Missing(String),
    #[error("invalid artifact: {0}")]
    Invalid(String),
    #[error("registry unavailable: {0}")]
    Registry(String),
    #[error("control database unavailable: {0}")]
    Store(String),
}

impl From<sqlx::Error> for ArtifactError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(error.to_string())
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", crate::instance::sha256_hex(bytes))
}

/// `sha256:` and 64 lowercase hex digits.
pub fn is_digest(raw: &str) -> bool {
    raw.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256_in_lowercase_hex() {
        let digest = digest_of(b"");
        assert_eq!(
            digest,
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(is_digest(&digest));
        assert!(!is_digest(&digest.to_uppercase()));
        assert!(!is_digest("sha256:abc"));
        assert!(!is_digest(&digest.replace("sha256", "sha512")));
    }
}

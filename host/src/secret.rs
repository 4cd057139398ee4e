//! Secrets the host makes (the admin token, the embedded cluster's role
//! passwords): random hex, in files only their owner may read; and
//! database addresses with their password hidden, for logs and errors.

use std::path::Path;

use anyhow::Context as _;

/// `bytes` random bytes from the OS, as hex.
pub fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(hex::encode(buffer))
}

/// Writes `contents` to `path` with mode 0600, replacing any file there.
pub fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    // Removed first: an existing file would keep its own, maybe wider, mode.
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("failed to write {}", path.display()))?;
    file.write_all(contents)?;
    Ok(())
}

/// `address` with any password replaced by `***`, for logs and errors.
pub fn redact(address: &str) -> String {
    match url::Url::parse(address) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) => "<unparseable address>".to_owned(),
    }
}

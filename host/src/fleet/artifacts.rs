//! Component versions every gateway of a fleet can fetch, named by the
//! sha256 of their `.wasm` and checked against it whenever fetched.
//!
//! Where the bytes live: with `--registry`, in the OCI registry (the
//! control database keeps the reference); without, in the control
//! database itself (`artifacts.content`). The control database is enough
//! for a stack without a registry, and components are small (1–3 MB); a
//! registry is what SpinKube and other tools read, and keeps large
//! histories out of the database.

use super::oci::Registries;
use super::store::Store;
pub use super::verify::{ArtifactError, digest_of};

/// Makes `wasm` fetchable by every gateway as a version of `component`:
/// pushed to the registry if there is one, else into the control database.
/// Returns its digest. A version already there is not stored again.
pub async fn publish(
    store: &Store,
    registries: &Registries,
    component: &str,
    wasm: &[u8],
) -> Result<String, ArtifactError> {
    let digest = digest_of(wasm);
    if store.has_artifact(&digest).await? {
        return Ok(digest);
    }
    if registries.pushes() {
        let reference = registries.push(component, wasm).await?;
        store
            .put_artifact(&digest, wasm.len(), None, Some(&reference))
            .await?;
    } else {
        store
            .put_artifact(&digest, wasm.len(), Some(wasm), None)
            .await?;
    }
    Ok(digest)
}

/// Records an artifact pulled from a registry by reference (already
/// verified), so other gateways pull it from there too.
pub async fn record_pulled(
    store: &Store,
    reference: &str,
    wasm: &[u8],
) -> Result<String, ArtifactError> {
    let digest = digest_of(wasm);
    store
        .put_artifact(&digest, wasm.len(), None, Some(reference))
        .await?;
    Ok(digest)
}

/// The `.wasm` of version `digest`, verified.
pub async fn fetch(
    store: &Store,
    registries: &Registries,
    digest: &str,
) -> Result<Vec<u8>, ArtifactError> {
    let stored = store
        .artifact(digest)
        .await?
        .ok_or_else(|| ArtifactError::Missing(digest.to_owned()))?;
    let wasm = match (stored.content, stored.reference) {
        (Some(content), _) => content,
        (None, Some(reference)) => registries.pull(&reference).await?,
        (None, None) => return Err(ArtifactError::Missing(digest.to_owned())),
    };
    let actual = digest_of(&wasm);
    if actual != digest {
        return Err(ArtifactError::Mismatch(format!(
            "{digest} fetched as {actual}"
        )));
    }
    Ok(wasm)
}

//! Component versions in an OCI registry, as Wasm OCI artifacts: pushed
//! by the gateway that receives a deploy, pulled by digest (and verified)
//! by every other.
//!
//! An artifact is an OCI image manifest with one layer, the component
//! (`application/wasm`, the CNCF Wasm OCI artifact layout that `wkg oci`
//! and `oci-wasm` write; `application/vnd.wasm.content.layer.v1+wasm`, the
//! layer type of `spin registry push`, is read too), and a
//! `application/vnd.wasm.config.v0+json` config.

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciImageManifest, WASM_LAYER_MEDIA_TYPE};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::verify::{ArtifactError, digest_of, is_digest};

/// The component layer's media type (Wasm OCI artifact layout).
pub const WASM_MEDIA_TYPE: &str = "application/wasm";
/// The config's media type (Wasm OCI artifact layout).
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// How a deploy names an artifact: `oci://REGISTRY/REPOSITORY@sha256:…`.
pub const SCHEME: &str = "oci://";

/// Makes ring the process's rustls crypto provider. oci-client's reqwest
/// is built without one of its own (no aws-lc-sys, no CMake in the
/// build), so whoever makes a client calls this first; the first install
/// wins and later calls do nothing.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The registries a gateway reaches: where it pushes (`--registry`), and
/// which ones it may reach over plain HTTP.
pub struct Registries {
    client: Client,
    push_to: Option<Repository>,
}

/// `--registry http://host:port/prefix`: repositories `prefix/<component>`.
#[derive(Debug, Clone, PartialEq)]
struct Repository {
    registry: String,
    prefix: String,
}

impl Repository {
    /// `[http[s]://]host[:port][/prefix]`; `http://` makes the registry one
    /// reached without TLS.
    fn parse(raw: &str) -> anyhow::Result<(Self, bool)> {
        let (plain, rest) = match raw.split_once("://") {
            Some(("http", rest)) => (true, rest),
            Some(("https", rest)) => (false, rest),
            Some((scheme, _)) => anyhow::bail!("--registry {raw}: unsupported scheme {scheme}://"),
            None => (false, raw),
        };
        let rest = rest.trim_end_matches('/');
        let (registry, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if registry.is_empty() {
            anyhow::bail!("--registry {raw}: no registry host");
        }
        Ok((
            Self {
                registry: registry.to_owned(),
                prefix: prefix.to_owned(),
            },
            plain,
        ))
    }

    fn reference(&self, component: &str, tag: &str) -> Reference {
        let repository = match self.prefix.as_str() {
            "" => component.to_owned(),
            prefix => format!("{prefix}/{component}"),
        };
        Reference::with_tag(self.registry.clone(), repository, tag.to_owned())
    }
}

impl Registries {
    /// `registry`: where deploys are pushed (none: artifacts stay in the
    /// control database); `insecure`: registries reached over plain HTTP.
    pub fn new(registry: Option<&str>, insecure: &[String]) -> anyhow::Result<Self> {
        let mut plain: Vec<String> = insecure.to_vec();
        let push_to = match registry {
            Some(raw) => {
                let (repository, http) = Repository::parse(raw)?;
                if http {
                    plain.push(repository.registry.clone());
                }
                Some(repository)
            }
            None => None,
        };
        install_crypto_provider();
        let client = Client::try_from(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(plain),
            use_monolithic_push: true,
            connect_timeout: Some(std::time::Duration::from_secs(5)),
            read_timeout: Some(std::time::Duration::from_secs(30)),
            ..Default::default()
        })
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot make the OCI registry client (are CA certificates installed?): {e}"
            )
        })?;
        Ok(Self { client, push_to })
    }

    /// Whether deploys are pushed to a registry.
    pub fn pushes(&self) -> bool {
        self.push_to.is_some()
    }

    /// Pushes `wasm` as `component`'s artifact; returns its reference by
    /// digest (`oci://registry/repository@sha256:…`).
    pub async fn push(&self, component: &str, wasm: &[u8]) -> Result<String, ArtifactError> {
        let Some(repository) = &self.push_to else {
            return Err(ArtifactError::Registry("no --registry to push to".into()));
        };
        let layer_digest = digest_of(wasm);
        let tag = layer_digest.replace(':', "-");
        let reference = repository.reference(component, &tag);
        let config = serde_json::to_vec(&serde_json::json!({
            "created": crate::api::rfc3339(std::time::SystemTime::now()),
            "architecture": "wasm",
            "os": "wasip2",
            "layerDigests": [layer_digest],
        }))
        .expect("a JSON value serialises");
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_IMAGE_MEDIA_TYPE,
            "artifactType": CONFIG_MEDIA_TYPE,
            "config": descriptor(CONFIG_MEDIA_TYPE, &config),
            "layers": [descriptor(WASM_MEDIA_TYPE, wasm)],
        }))
        .expect("a JSON value serialises");
        let registry = |e: oci_client::errors::OciDistributionError| {
            ArtifactError::Registry(format!("{}: {e}", reference.whole()))
        };
        self.client
            .store_auth_if_needed(reference.resolve_registry(), &auth())
            .await;
        self.client
            .push_blob(&reference, wasm.to_vec(), &layer_digest)
            .await
            .map_err(registry)?;
        self.client
            .push_blob(&reference, config.clone(), &digest_of(&config))
            .await
            .map_err(registry)?;
        let media_type = http::HeaderValue::from_static(OCI_IMAGE_MEDIA_TYPE);
        self.client
            .push_manifest_raw(&reference, manifest.clone(), media_type)
            .await
            .map_err(registry)?;
        Ok(format!(
            "{SCHEME}{}/{}@{}",
            reference.registry(),
            reference.repository(),
            digest_of(&manifest)
        ))
    }

    /// Pulls the component an `oci://…@sha256:…` reference names, checking
    /// the manifest against the reference's digest and the layer against
    /// the manifest's.
    pub async fn pull(&self, reference: &str) -> Result<Vec<u8>, ArtifactError> {
        let parsed = parse_reference(reference)?;
        let expected = parsed.digest().unwrap_or_default().to_owned();
        let pulled = self
            .client
            .pull_manifest_raw(&parsed, &auth(), &[OCI_IMAGE_MEDIA_TYPE])
            .await;
        let (manifest, _) = pulled.map_err(|e| pull_error(reference, e))?;
        let actual = digest_of(&manifest);
        if actual != expected {
            return Err(ArtifactError::Mismatch(format!(
                "{reference}: the registry's manifest has digest {actual}"
            )));
        }
        let manifest: OciImageManifest = serde_json::from_slice(&manifest).map_err(|e| {
            ArtifactError::Invalid(format!("{reference}: not an image manifest: {e}"))
        })?;
        let layers: Vec<_> = manifest
            .layers
            .iter()
            .filter(|l| [WASM_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE].contains(&l.media_type.as_str()))
            .collect();
        let [layer] = layers.as_slice() else {
            return Err(ArtifactError::Invalid(format!(
                "{reference}: {} Wasm layers; a component artifact has exactly one",
                layers.len()
            )));
        };
        let mut wasm = Vec::new();
        self.client
            .pull_blob(&parsed, *layer, &mut wasm)
            .await
            .map_err(|e| pull_error(reference, e))?;
        Ok(wasm)
    }
}

/// Registry credentials: `COMPTOIR_REGISTRY_USERNAME` and
/// `COMPTOIR_REGISTRY_PASSWORD`, else anonymous.
fn auth() -> RegistryAuth {
    match (
        std::env::var("COMPTOIR_REGISTRY_USERNAME"),
        std::env::var("COMPTOIR_REGISTRY_PASSWORD"),
    ) {
        (Ok(user), Ok(password)) if !user.is_empty() => RegistryAuth::Basic(user, password),
        _ => RegistryAuth::Anonymous,
    }
}

fn descriptor(media_type: &str, bytes: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "mediaType": media_type,
        "digest": digest_of(bytes),
        "size": bytes.len(),
    })
}

/// `oci://REGISTRY/REPOSITORY@sha256:<64 hex>`, pinned by digest.
pub fn parse_reference(raw: &str) -> Result<Reference, ArtifactError> {
    let invalid = |why: &str| {
        ArtifactError::Invalid(format!(
            "{raw:?}: {why} (expected oci://REGISTRY/REPOSITORY@sha256:<digest>)"
        ))
    };
    let rest = raw
        .strip_prefix(SCHEME)
        .ok_or_else(|| invalid("not an oci:// reference"))?;
    let reference: Reference = rest.parse().map_err(|_| invalid("not a reference"))?;
    match reference.digest() {
        Some(digest) if is_digest(digest) => Ok(reference),
        _ => Err(invalid("not pinned by a sha256 digest")),
    }
}

fn pull_error(reference: &str, error: oci_client::errors::OciDistributionError) -> ArtifactError {
    use oci_client::errors::OciDistributionError as E;
    match error {
        E::DigestError(e) => ArtifactError::Mismatch(format!("{reference}: {e}")),
        E::ImageManifestNotFoundError(_) => {
            ArtifactError::Missing(format!("{reference}: no such manifest"))
        }
        E::RegistryError { envelope, .. }
            if envelope.errors.iter().any(|e| {
                matches!(
                    e.code,
                    oci_client::errors::OciErrorCode::ManifestUnknown
                        | oci_client::errors::OciErrorCode::BlobUnknown
                        | oci_client::errors::OciErrorCode::NameUnknown
                )
            }) =>
        {
            ArtifactError::Missing(format!("{reference}: {envelope}"))
        }
        other => ArtifactError::Registry(format!("{reference}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_are_parsed_with_their_scheme() {
        let (repo, plain) = Repository::parse("http://127.0.0.1:5000/comptoir/").unwrap();
        assert!(plain);
        assert_eq!(repo.registry, "127.0.0.1:5000");
        assert_eq!(
            repo.reference("clients", "t").whole(),
            "127.0.0.1:5000/comptoir/clients:t"
        );
        let (repo, plain) = Repository::parse("registry.example").unwrap();
        assert!(!plain);
        assert_eq!(
            repo.reference("clients", "t").whole(),
            "registry.example/clients:t"
        );
        assert!(Repository::parse("ftp://x").is_err());
        assert!(Repository::parse("http:///x").is_err());
    }

    #[test]
    fn only_references_pinned_by_digest_are_deployed() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let ok =
            parse_reference(&format!("oci://127.0.0.1:5000/comptoir/clients@{digest}")).unwrap();
        assert_eq!(ok.digest(), Some(digest.as_str()));
        assert_eq!(ok.registry(), "127.0.0.1:5000");
        for bad in [
            "oci://127.0.0.1:5000/comptoir/clients:latest".to_owned(),
            format!("127.0.0.1:5000/comptoir/clients@{digest}"),
            "oci://127.0.0.1:5000/comptoir/clients@sha256:abc".to_owned(),
        ] {
            assert!(
                matches!(parse_reference(&bad), Err(ArtifactError::Invalid(_))),
                "{bad}"
            );
        }
    }
}

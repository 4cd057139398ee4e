//! Component versions as OCI artifacts in a real registry (Debian's
//! `docker-registry`, CNCF Distribution): a fleet deploy is pushed there
//! and pulled by every gateway; an artifact someone else pushed is
//! deployed by digest; one whose bytes do not match is refused.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use reqwest::Method;
use serde_json::Value;
use sha2::Digest as _;

use crate::fleet::{Fleet, clients_variant, serves};
use crate::harness::{App, Component, deploy, eventually, problem, temp_dir};

/// A registry on a free loopback port, storing into a directory of its own;
/// stopped when dropped.
pub struct Registry {
    child: Child,
    pub address: String,
    root: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// `docker-registry serve` on a free port, or `None` (the test is
    /// skipped, saying so) where it is not installed; CI installs it.
    pub async fn start() -> Option<Self> {
        if which::which("docker-registry").is_err() {
            assert!(
                std::env::var_os("CI").is_none(),
                "docker-registry is not installed: CI must install it (apt-get install docker-registry)"
            );
            eprintln!(
                "skipped: docker-registry is not installed (apt-get install docker-registry)"
            );
            return None;
        }
        let root = temp_dir();
        let port = comptoir::free_port().unwrap();
        let address = format!("127.0.0.1:{port}");
        let config = root.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: {address}\n",
                root.path().join("data").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(root.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry starts");
        let registry = Self {
            child,
            address,
            root,
        };
        let url = format!("http://{}/v2/", registry.address);
        eventually(
            Duration::from_secs(20),
            "the registry answering",
            async || reqwest::get(&url).await.map(|r| r.status()),
        )
        .await;
        Some(registry)
    }

    /// Where the registry keeps blob `digest` on disk.
    fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.root
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Pushes `wasm` as a Wasm OCI artifact the way other tools do (one
    /// `application/wasm` layer), not through comptoir; returns the
    /// `oci://…@sha256:…` reference and the layer's digest.
    pub async fn push(&self, repository: &str, wasm: &[u8]) -> (String, String) {
        comptoir::install_crypto_provider();
        let client = Client::new(ClientConfig {
            protocol: ClientProtocol::Http,
            ..Default::default()
        });
        let reference = Reference::with_tag(
            self.address.clone(),
            repository.to_owned(),
            "pushed-elsewhere".to_owned(),
        );
        client
            .store_auth_if_needed(reference.resolve_registry(), &RegistryAuth::Anonymous)
            .await;
        let config = br#"{"architecture":"wasm","os":"wasip2"}"#.to_vec();
        let (layer, config_digest) = (digest(wasm), digest(&config));
        client
            .push_blob(&reference, wasm.to_vec(), &layer)
            .await
            .unwrap();
        client
            .push_blob(&reference, config.clone(), &config_digest)
            .await
            .unwrap();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.wasm.config.v0+json",
                       "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/wasm", "digest": layer, "size": wasm.len()}],
        }))
        .unwrap();
        client
            .push_manifest_raw(
                &reference,
                manifest.clone(),
                http::HeaderValue::from_static("application/vnd.oci.image.manifest.v1+json"),
            )
            .await
            .unwrap();
        (
            format!("oci://{}/{repository}@{}", self.address, digest(&manifest)),
            layer,
        )
    }
}

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

async fn deploy_reference(app: &App, reference: &str) -> reqwest::Response {
    app.admin_request(Method::PUT, "/admin/components/clients")
        .query(&[("artifact", reference)])
        .send()
        .await
        .unwrap()
}

/// With `--registry`, a deploy is pushed to the registry (the control
/// database keeps only its reference) and every gateway pulls it from
/// there; an artifact pushed by another tool is deployed by its digest;
/// one whose layer was altered in the registry is refused, and nothing
/// changes anywhere.
#[tokio::test]
async fn versions_travel_through_the_registry_and_are_verified() {
    let Some(registry) = Registry::start().await else {
        return;
    };
    let push_to = format!("http://{}/comptoir", registry.address);
    let fleet = Fleet::start(
        2,
        vec![Component::clients()],
        &["--replicas", "1", "--registry", &push_to],
    )
    .await;
    let (a, b) = (fleet.gateway(0), fleet.gateway(1));

    let response = deploy(a, "clients", clients_variant("through-the-registry")).await;
    assert_eq!(response.status(), 200);
    let done: Value = response.json().await.unwrap();
    let version = done["version"].as_str().unwrap().to_owned();
    assert_eq!(
        done["fleet"]["converged"].as_array().unwrap().len(),
        2,
        "{done}"
    );
    assert_eq!(serves(b, "/clients").await, version);
    let (content, reference): (Option<Vec<u8>>, Option<String>) =
        sqlx::query_as("SELECT content, reference FROM artifacts WHERE digest = $1")
            .bind(format!("sha256:{}", done["sha256"].as_str().unwrap()))
            .fetch_one(&fleet.control().await)
            .await
            .unwrap();
    assert!(
        content.is_none(),
        "the bytes are in the registry, not the database"
    );
    let reference = reference.unwrap();
    assert!(
        reference.starts_with(&format!(
            "oci://{}/comptoir/clients@sha256:",
            registry.address
        )),
        "{reference}"
    );

    // Pushed by someone else, deployed by digest through the other gateway.
    let (elsewhere, _) = registry
        .push("team/clients", &clients_variant("pushed-elsewhere"))
        .await;
    let response = deploy_reference(b, &elsewhere).await;
    assert_eq!(response.status(), 200);
    let done: Value = response.json().await.unwrap();
    let pushed = done["version"].as_str().unwrap().to_owned();
    assert_ne!(pushed, version);
    assert_eq!(
        done["fleet"]["converged"].as_array().unwrap().len(),
        2,
        "{done}"
    );
    for gateway in [a, b] {
        assert_eq!(serves(gateway, "/clients").await, pushed);
    }

    // Tampered in the registry (same size, one byte changed): refused.
    let (tampered, layer) = registry
        .push("team/clients", &clients_variant("tampered"))
        .await;
    flip_last_byte(&registry.blob_path(&layer));
    let refused = problem(deploy_reference(a, &tampered).await, 422).await;
    assert_eq!(
        refused["type"],
        "https://comptoir.dev/problems/artifact-digest-mismatch"
    );
    // A digest the registry does not have, and a reference not pinned by one.
    let unknown = format!(
        "oci://{}/team/clients@sha256:{}",
        registry.address,
        "0".repeat(64)
    );
    problem(deploy_reference(a, &unknown).await, 404).await;
    let by_tag = format!("oci://{}/team/clients:pushed-elsewhere", registry.address);
    problem(deploy_reference(a, &by_tag).await, 400).await;
    // Nothing changed: same version everywhere, same desired generation.
    for gateway in [a, b] {
        assert_eq!(serves(gateway, "/clients").await, pushed);
    }
    let status = fleet.status(0).await;
    assert_eq!(status["desired"][0]["version"], pushed.as_str(), "{status}");
    assert_eq!(status["desired"][0]["generation"], 2, "{status}");
}

fn flip_last_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    *bytes.last_mut().unwrap() ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

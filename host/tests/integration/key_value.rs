//! Key-value stores and the runtime config: the PostgreSQL backend through
//! the host's own code on a real PostgreSQL, and `comptoir up` refusing a
//! runtime config or store labels it cannot serve.

use std::path::Path;

use comptoir::{KeyValueStores, RuntimeConfig};

use crate::database::TestDb;
use crate::harness::{Launch, spawn_failing, temp_dir};

/// A runtime config with two PostgreSQL stores on `url`.
fn postgres_config(url: &str, dir: &Path) -> RuntimeConfig {
    let text = format!(
        "[key_value_store.shared]\ntype = \"postgres\"\nurl = \"{url}\"\n\
         [key_value_store.other]\ntype = \"postgres\"\nurl = \"{url}\"\n"
    );
    RuntimeConfig::parse(&text, dir, dir, dir).expect("the runtime config parses")
}

/// Two gateways given the same URL share one store (what one sets, the
/// other reads and deletes); two labels on one database stay apart; the
/// rows are Spin's `spin_key_value` table's.
#[tokio::test]
async fn a_postgres_store_is_shared_by_gateways() {
    let db = TestDb::start(&["kv"]).await;
    let dir = temp_dir();
    let config = postgres_config(&db.urls["kv"], dir.path());
    let one = KeyValueStores::open(&config.key_value).await.unwrap();
    let two = KeyValueStores::open(&config.key_value).await.unwrap();
    let a = one.store("shared").await.unwrap();
    let b = two.store("shared").await.unwrap();

    assert_eq!(a.get("cart:1").await.unwrap(), None);
    a.set("cart:1", b"{\"items\":3}").await.unwrap();
    a.set("cart:2", b"").await.unwrap();
    assert_eq!(
        b.get("cart:1").await.unwrap().as_deref(),
        Some(&b"{\"items\":3}"[..])
    );
    b.set("cart:1", b"replaced").await.unwrap();
    assert_eq!(
        a.get("cart:1").await.unwrap().as_deref(),
        Some(&b"replaced"[..])
    );
    assert_eq!(b.keys().await.unwrap(), ["cart:1", "cart:2"]);
    assert!(b.exists("cart:2").await.unwrap());
    b.delete("cart:2").await.unwrap();
    b.delete("never-set").await.unwrap();
    assert!(!a.exists("cart:2").await.unwrap());

    let other = one.store("other").await.unwrap();
    assert!(other.keys().await.unwrap().is_empty());
    other.set("cart:1", b"elsewhere").await.unwrap();
    assert_eq!(
        a.get("cart:1").await.unwrap().as_deref(),
        Some(&b"replaced"[..])
    );

    let rows: Vec<(String, String, Vec<u8>)> =
        sqlx::query_as("SELECT store, key, value FROM spin_key_value ORDER BY store, key")
            .fetch_all(&db.pool("kv").await)
            .await
            .unwrap();
    assert_eq!(
        rows,
        [
            (
                "other".to_owned(),
                "cart:1".to_owned(),
                b"elsewhere".to_vec()
            ),
            (
                "shared".to_owned(),
                "cart:1".to_owned(),
                b"replaced".to_vec()
            ),
        ]
    );
}

/// A manifest of one component (never loaded: start-up stops before).
fn manifest(dir: &Path, component_fields: &str) -> std::path::PathBuf {
    let path = dir.join("spin.toml");
    std::fs::write(
        &path,
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"kv\"\n\
             [[trigger.http]]\nroute = \"/...\"\ncomponent = \"app\"\n\
             [component.app]\nsource = \"app.wasm\"\n{component_fields}\n"
        ),
    )
    .unwrap();
    path
}

/// A store type comptoir does not have, and a label no runtime config
/// defines, stop `comptoir up` with a message naming them.
#[tokio::test]
async fn up_refuses_what_it_cannot_serve() {
    let dir = temp_dir();
    let state_dir = dir.path().join("state");
    let config = dir.path().join("runtime-config.toml");
    std::fs::write(&config, "[key_value_store.cache]\ntype = \"redis\"\n").unwrap();
    let stderr = spawn_failing(Launch {
        manifest: &manifest(dir.path(), "key_value_stores = [\"cache\"]"),
        state_dir: &state_dir,
        env: Vec::new(),
        args: vec!["--runtime-config-file".into(), config.display().to_string()],
    });
    assert!(
        stderr.contains("runtime-config.toml") && stderr.contains("redis"),
        "{stderr}"
    );

    let stderr = spawn_failing(Launch {
        manifest: &manifest(
            dir.path(),
            "key_value_stores = [\"default\", \"cache\"]\nsqlite_databases = [\"analytics\"]",
        ),
        state_dir: &state_dir,
        env: Vec::new(),
        args: Vec::new(),
    });
    assert!(
        stderr.contains("key-value store \"cache\"")
            && stderr.contains("SQLite database \"analytics\"")
            && !stderr.contains("store \"default\""),
        "{stderr}"
    );
}

//! Spin's key-value stores (`fermyon:spin/key-value@2.0.0`,
//! `spin:key-value/key-value@3.0.0`): the application's stores by label,
//! which of them a component may open, and their two backends.
//!
//! - `sqlite`: Spin's own backend, the `spin_key_value` table of a SQLite
//!   file (the one `spin up` writes is read as it is).
//! - `postgres`: the same table in a PostgreSQL database, for stores that
//!   several gateways share.
//! - `host`: the WIT functions, errors mapped to the WIT variants.

mod host;
mod postgres;
mod sqlite;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::runtime_config::KeyValueBackend;

pub use host::{HasKeyValue, KeyValueHost};

/// Largest answer (one value, or all keys) the host holds for a guest:
/// Spin's `MAX_HOST_BUFFERED_BYTES`.
const MAX_BUFFERED_BYTES: usize = 128 << 20;

/// Why a key-value call failed; `host` maps it onto each WIT `error`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// Declared by the component, but no such store is configured.
    #[error("no such store")]
    NoSuchStore,
    /// Not in the component's `key_value_stores`.
    #[error("access denied")]
    AccessDenied,
    /// The backend failed (I/O, a limit).
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// A backend's error, logged (the guest gets its text).
    fn backend(error: impl std::fmt::Display) -> Self {
        tracing::warn!(%error, "key-value backend error");
        Self::Other(error.to_string())
    }

    /// An answer larger than [`MAX_BUFFERED_BYTES`].
    fn too_large() -> Self {
        Self::Other(format!(
            "query result exceeds limit of {MAX_BUFFERED_BYTES} bytes"
        ))
    }
}

/// Where a store's pairs live.
#[derive(Clone)]
enum Backend {
    Sqlite(Arc<sqlite::SqliteKv>),
    Postgres(Arc<postgres::PgKv>),
}

/// The application's stores by label, shared by every component.
#[derive(Clone, Default)]
pub struct Stores {
    by_label: BTreeMap<String, Backend>,
}

impl Stores {
    /// Opens the configured stores: SQLite files are opened at first use,
    /// PostgreSQL databases are reached now (and their table created), so
    /// that a wrong URL stops start-up.
    pub async fn open(config: &BTreeMap<String, KeyValueBackend>) -> anyhow::Result<Self> {
        let mut by_label = BTreeMap::new();
        // Labels on one database share its pool.
        let mut pools: BTreeMap<&str, Arc<postgres::PgKv>> = BTreeMap::new();
        for (label, backend) in config {
            let backend = match backend {
                KeyValueBackend::Spin { path } => {
                    Backend::Sqlite(Arc::new(sqlite::SqliteKv::new(path.clone())?))
                }
                KeyValueBackend::Postgres { url } => {
                    let kv = match pools.get(url.as_str()) {
                        Some(kv) => kv.clone(),
                        None => {
                            let kv =
                                Arc::new(postgres::PgKv::connect(url).await.map_err(|e| {
                                    e.context(format!("key-value store {label:?}"))
                                })?);
                            pools.insert(url.as_str(), kv.clone());
                            kv
                        }
                    };
                    Backend::Postgres(kv)
                }
            };
            by_label.insert(label.clone(), backend);
        }
        Ok(Self { by_label })
    }

    /// Store `label`, opened (Spin opens the backend here, so an unusable
    /// file fails `open`).
    pub async fn store(&self, label: &str) -> Result<Store, Error> {
        let backend = self.by_label.get(label).ok_or(Error::NoSuchStore)?;
        if let Backend::Sqlite(kv) = backend {
            kv.connection().await?;
        }
        Ok(Store {
            label: label.into(),
            backend: backend.clone(),
        })
    }
}

/// What one component may open: the labels its manifest declares, among
/// the application's stores.
pub struct KeyValueAccess {
    allowed: BTreeSet<String>,
    stores: Stores,
}

impl KeyValueAccess {
    pub fn new(declared: &[String], stores: Stores) -> Self {
        Self {
            allowed: declared.iter().cloned().collect(),
            stores,
        }
    }

    /// `Store::open(label)`, with Spin's answers: undeclared →
    /// `access-denied`, declared but not configured → `no-such-store`.
    pub async fn open(&self, label: &str) -> Result<Store, Error> {
        if !self.allowed.contains(label) {
            return Err(Error::AccessDenied);
        }
        self.stores.store(label).await
    }
}

/// An open store (the guest's `store` resource): a label on a backend.
#[derive(Clone)]
pub struct Store {
    label: Arc<str>,
    backend: Backend,
}

impl Store {
    /// The value of `key`, if any.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let value = match &self.backend {
            Backend::Sqlite(kv) => kv.get(&self.label, key).await?,
            Backend::Postgres(kv) => kv.get(&self.label, key).await?,
        };
        if value.as_ref().is_some_and(|v| v.len() > MAX_BUFFERED_BYTES) {
            return Err(Error::too_large());
        }
        Ok(value)
    }

    /// Sets `key` to `value`, replacing any value it had.
    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        match &self.backend {
            Backend::Sqlite(kv) => kv.set(&self.label, key, value).await,
            Backend::Postgres(kv) => kv.set(&self.label, key, value).await,
        }
    }

    /// Removes `key` (a missing key is no error).
    pub async fn delete(&self, key: &str) -> Result<(), Error> {
        match &self.backend {
            Backend::Sqlite(kv) => kv.delete(&self.label, key).await,
            Backend::Postgres(kv) => kv.delete(&self.label, key).await,
        }
    }

    /// Whether `key` has a value.
    pub async fn exists(&self, key: &str) -> Result<bool, Error> {
        match &self.backend {
            Backend::Sqlite(kv) => kv.exists(&self.label, key).await,
            Backend::Postgres(kv) => kv.exists(&self.label, key).await,
        }
    }

    /// Every key of the store.
    pub async fn keys(&self) -> Result<Vec<String>, Error> {
        let keys = match &self.backend {
            Backend::Sqlite(kv) => kv.keys(&self.label).await?,
            Backend::Postgres(kv) => kv.keys(&self.label).await?,
        };
        let size = keys
            .iter()
            .map(|k| std::mem::size_of::<String>() + k.len())
            .sum::<usize>();
        if size > MAX_BUFFERED_BYTES {
            return Err(Error::too_large());
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stores(dir: &std::path::Path) -> BTreeMap<String, KeyValueBackend> {
        BTreeMap::from([
            (
                "default".to_owned(),
                KeyValueBackend::Spin {
                    path: Some(dir.join("kv.db")),
                },
            ),
            ("memory".to_owned(), KeyValueBackend::Spin { path: None }),
        ])
    }

    #[tokio::test]
    async fn undeclared_is_access_denied_and_unconfigured_is_no_such_store() {
        let dir = tempfile::tempdir().unwrap();
        let stores = Stores::open(&stores(dir.path())).await.unwrap();
        let access = KeyValueAccess::new(&["default".into(), "elsewhere".into()], stores);
        assert!(access.open("default").await.is_ok());
        assert_eq!(access.open("memory").await.err(), Some(Error::AccessDenied));
        assert_eq!(
            access.open("elsewhere").await.err(),
            Some(Error::NoSuchStore)
        );
        let nothing = KeyValueAccess::new(&[], Stores::default());
        assert_eq!(
            nothing.open("default").await.err(),
            Some(Error::AccessDenied)
        );
    }

    #[tokio::test]
    async fn labels_are_separate_stores() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = stores(dir.path());
        config.insert(
            "other".into(),
            KeyValueBackend::Spin {
                path: Some(dir.path().join("kv.db")),
            },
        );
        let stores = Stores::open(&config).await.unwrap();
        let a = stores.store("default").await.unwrap();
        let b = stores.store("other").await.unwrap();
        a.set("k", b"a").await.unwrap();
        assert_eq!(b.get("k").await.unwrap(), None);
        b.set("k", b"b").await.unwrap();
        assert_eq!(a.get("k").await.unwrap(), Some(b"a".to_vec()));
        let memory = stores.store("memory").await.unwrap();
        assert!(memory.keys().await.unwrap().is_empty());
    }
}

//! The application's key-value stores and SQLite databases, opened once
//! from the runtime configuration and shared by every component, and the
//! check that every label a component declares exists.

use std::sync::Arc;

use anyhow::bail;

use crate::key_value::KeyValueAccess;
use crate::manifest::{ComponentSpec, Manifest};
use crate::runtime_config::RuntimeConfig;
use crate::sqlite::SqliteAccess;

/// Refuses, as `spin up` does, an application whose components declare
/// a store or database label that is not configured.
pub fn check(config: &RuntimeConfig, manifest: &Manifest) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    for spec in manifest.components.values() {
        for label in &spec.key_value_stores {
            if !config.key_value.contains_key(label) {
                missing.push(format!(
                    "component {} uses key-value store {label:?}",
                    spec.id
                ));
            }
        }
        for label in &spec.sqlite_databases {
            if !config.sqlite.contains_key(label) {
                missing.push(format!(
                    "component {} uses SQLite database {label:?}",
                    spec.id
                ));
            }
        }
    }
    if !missing.is_empty() {
        bail!(
            "labels not defined (only \"default\" exists unless --runtime-config-file \
             defines others): {}",
            missing.join("; ")
        );
    }
    Ok(())
}

/// The application's stores and databases, opened from a
/// [`RuntimeConfig`] once and shared by every component.
pub struct Backends {
    key_value: crate::key_value::Stores,
    sqlite: Arc<crate::sqlite::Databases>,
}

impl Backends {
    /// Opens what `config` names (a PostgreSQL store is reached now).
    pub async fn open(config: &RuntimeConfig) -> anyhow::Result<Self> {
        Ok(Self {
            key_value: crate::key_value::Stores::open(&config.key_value).await?,
            sqlite: Arc::new(crate::sqlite::Databases::new(&config.sqlite)?),
        })
    }

    /// `spin up --sqlite`: statements run against the `default` database
    /// before anything is served.
    pub async fn run_sqlite_statements(&self, statements: &[String]) -> anyhow::Result<()> {
        self.sqlite.run_at_start(statements).await
    }

    /// The stores `spec` may open.
    pub fn key_value_access(&self, spec: &ComponentSpec) -> Arc<KeyValueAccess> {
        Arc::new(KeyValueAccess::new(
            &spec.key_value_stores,
            self.key_value.clone(),
        ))
    }

    /// The databases `spec` may open.
    pub fn sqlite_access(&self, spec: &ComponentSpec) -> Arc<SqliteAccess> {
        Arc::new(SqliteAccess::new(
            &spec.sqlite_databases,
            self.sqlite.clone(),
        ))
    }
}

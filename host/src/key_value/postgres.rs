//! comptoir's shared key-value backend: Spin's `spin_key_value` table
//! (`store`, `key`, `value`) in a PostgreSQL database, so gateways given
//! the same URL see the same stores.

use std::time::Duration;

use anyhow::Context as _;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::Error;

/// Connections per key-value database (shared by its labels).
const MAX_CONNECTIONS: u32 = 8;
/// How long a call waits for a pooled connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// Serialises the table's creation among gateways starting together
/// (`CREATE TABLE IF NOT EXISTS` races otherwise): an arbitrary key.
const CREATE_LOCK: i64 = 0x636f_6d70_6b76;

/// One PostgreSQL database holding stores by label.
pub struct PgKv {
    pool: PgPool,
}

impl PgKv {
    /// Connects to `url` and creates the table if it is missing.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let shown = crate::secret::redact(url);
        let options: PgConnectOptions = url
            .parse()
            .with_context(|| format!("invalid PostgreSQL URL {shown}"))?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .idle_timeout(Duration::from_secs(300))
            .connect_lazy_with(options);
        let mut tx = pool
            .begin()
            .await
            .with_context(|| format!("cannot reach the key-value database {shown}"))?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CREATE_LOCK)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
               store TEXT NOT NULL,
               key   TEXT NOT NULL,
               value BYTEA NOT NULL,
               PRIMARY KEY (store, key)
             )",
        )
        .execute(&mut *tx)
        .await
        .with_context(|| format!("cannot create table spin_key_value in {shown}"))?;
        tx.commit().await?;
        Ok(Self { pool })
    }

    pub async fn get(&self, store: &str, key: &str) -> Result<Option<Vec<u8>>, Error> {
        sqlx::query_scalar("SELECT value FROM spin_key_value WHERE store = $1 AND key = $2")
            .bind(store)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(Error::backend)
    }

    pub async fn set(&self, store: &str, key: &str, value: &[u8]) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO spin_key_value (store, key, value) VALUES ($1, $2, $3)
             ON CONFLICT (store, key) DO UPDATE SET value = EXCLUDED.value",
        )
        .bind(store)
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(Error::backend)
    }

    pub async fn delete(&self, store: &str, key: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM spin_key_value WHERE store = $1 AND key = $2")
            .bind(store)
            .bind(key)
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(Error::backend)
    }

    pub async fn exists(&self, store: &str, key: &str) -> Result<bool, Error> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM spin_key_value WHERE store = $1 AND key = $2)",
        )
        .bind(store)
        .bind(key)
        .fetch_one(&self.pool)
        .await
        .map_err(Error::backend)
    }

    pub async fn keys(&self, store: &str) -> Result<Vec<String>, Error> {
        sqlx::query_scalar("SELECT key FROM spin_key_value WHERE store = $1 ORDER BY key")
            .bind(store)
            .fetch_all(&self.pool)
            .await
            .map_err(Error::backend)
    }
}

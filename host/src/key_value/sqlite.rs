//! Spin's key-value backend: table `spin_key_value` of a SQLite file, the
//! same table and statements as Spin's `key-value-spin`, so a store written
//! by `spin up` reads the same here. Every call runs on tokio's blocking
//! pool: SQLite blocks.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use rusqlite::Connection;
use tokio::sync::OnceCell;

use super::Error;

/// One SQLite file (or an in-memory database) holding stores by label.
pub struct SqliteKv {
    /// The file; `None` for a database in memory.
    path: Option<PathBuf>,
    /// Opened at first use, then shared by every store on this file.
    connection: OnceCell<Arc<Mutex<Connection>>>,
}

impl SqliteKv {
    /// A store on `path` (its directory created now, the file at first use).
    pub fn new(path: Option<PathBuf>) -> anyhow::Result<Self> {
        if let Some(parent) = path.as_deref().and_then(|p| p.parent())
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).with_context(|| {
                format!(
                    "failed to create the key-value store's directory {}",
                    parent.display()
                )
            })?;
        }
        Ok(Self {
            path,
            connection: OnceCell::new(),
        })
    }

    /// The connection, opened (and the table created) on first call.
    pub async fn connection(&self) -> Result<Arc<Mutex<Connection>>, Error> {
        self.connection
            .get_or_try_init(|| {
                let path = self.path.clone();
                blocking(move || {
                    let connection = match &path {
                        Some(path) => Connection::open(path)?,
                        None => Connection::open_in_memory()?,
                    };
                    connection.execute(
                        "CREATE TABLE IF NOT EXISTS spin_key_value (
                           store TEXT NOT NULL,
                           key   TEXT NOT NULL,
                           value BLOB NOT NULL,

                           PRIMARY KEY (store, key)
                        )",
                        [],
                    )?;
                    Ok(Arc::new(Mutex::new(connection)))
                })
            })
            .await
            .cloned()
    }

    /// Runs `work` on the connection, off the async workers.
    async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, Error> {
        let connection = self.connection().await?;
        blocking(move || {
            // A panic mid-statement leaves nothing half-done that SQLite
            // would not roll back: the lock's poison is no reason to fail.
            let connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
            work(&connection)
        })
        .await
    }

    pub async fn get(&self, store: &str, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let (store, key) = (store.to_owned(), key.to_owned());
        self.with(move |c| {
            c.prepare_cached("SELECT value FROM spin_key_value WHERE store=$1 AND key=$2")?
                .query_map([&store, &key], |row| row.get::<_, Vec<u8>>(0))?
                .next()
                .transpose()
        })
        .await
    }

    pub async fn set(&self, store: &str, key: &str, value: &[u8]) -> Result<(), Error> {
        let (store, key, value) = (store.to_owned(), key.to_owned(), value.to_owned());
        self.with(move |c| {
            c.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES ($1, $2, $3)
                 ON CONFLICT(store, key) DO UPDATE SET value=$3",
            )?
            .execute(rusqlite::params![store, key, value])
            .map(drop)
        })
        .await
    }

    pub async fn delete(&self, store: &str, key: &str) -> Result<(), Error> {
        let (store, key) = (store.to_owned(), key.to_owned());
        self.with(move |c| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store=$1 AND key=$2")?
                .execute([&store, &key])
                .map(drop)
        })
        .await
    }

    pub async fn exists(&self, store: &str, key: &str) -> Result<bool, Error> {
        Ok(self.get(store, key).await?.is_some())
    }

    pub async fn keys(&self, store: &str) -> Result<Vec<String>, Error> {
        let store = store.to_owned();
        self.with(move |c| {
            c.prepare_cached("SELECT key FROM spin_key_value WHERE store=$1")?
                .query_map([&store], |row| row.get::<_, String>(0))?
                .collect()
        })
        .await
    }
}

/// Runs `work` on tokio's blocking pool; its errors become [`Error::Other`].
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(Error::backend)?
        .map_err(Error::backend)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn get_set_delete_exists_keys() {
        let dir = tempfile::tempdir().unwrap();
        let kv = SqliteKv::new(Some(dir.path().join("nested/kv.db"))).unwrap();
        assert_eq!(kv.get("default", "a").await, Ok(None));
        kv.set("default", "a", b"1").await.unwrap();
        kv.set("default", "a", b"2").await.unwrap();
        kv.set("default", "b", b"").await.unwrap();
        assert_eq!(kv.get("default", "a").await, Ok(Some(b"2".to_vec())));
        assert_eq!(kv.exists("default", "b").await, Ok(true));
        let mut keys = kv.keys("default").await.unwrap();
        keys.sort();
        assert_eq!(keys, ["a", "b"]);
        kv.delete("default", "a").await.unwrap();
        kv.delete("default", "never-set").await.unwrap();
        assert_eq!(kv.exists("default", "a").await, Ok(false));
        assert_eq!(kv.keys("other").await, Ok(vec![]));
    }

    /// A file laid out by Spin (its table, its rows) reads as it is, and
    /// what comptoir writes lands in the same rows.
    #[tokio::test]
    async fn reads_and_writes_a_file_spin_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sqlite_key_value.db");
        {
            let spin = Connection::open(&path).unwrap();
            spin.execute_batch(
                "CREATE TABLE spin_key_value (store TEXT NOT NULL, key TEXT NOT NULL, \
                 value BLOB NOT NULL, PRIMARY KEY (store, key));
                 INSERT INTO spin_key_value VALUES ('default', 'greeting', x'6869');",
            )
            .unwrap();
        }
        let kv = SqliteKv::new(Some(path.clone())).unwrap();
        assert_eq!(
            kv.get("default", "greeting").await,
            Ok(Some(b"hi".to_vec()))
        );
        kv.set("default", "new", b"x").await.unwrap();
        drop(kv);
        let spin = Connection::open(&path).unwrap();
        let value: Vec<u8> = spin
            .query_row(
                "SELECT value FROM spin_key_value WHERE store='default' AND key='new'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(value, b"x");
    }

    #[tokio::test]
    async fn an_unopenable_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let kv = SqliteKv::new(Some(dir.path().to_owned())).unwrap();
        assert!(matches!(kv.connection().await, Err(Error::Other(_))));
    }
}

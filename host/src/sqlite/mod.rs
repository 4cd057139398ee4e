//! Spin's SQLite databases (`fermyon:spin/sqlite@2.0.0`,
//! `spin:sqlite/sqlite@3.x`): the application's databases by label, which
//! of them a component may open, and connections to them, as Spin's
//! `sqlite-inproc` makes them (a new SQLite connection per `open`, values
//! converted as `factor-sqlite` does). SQLite blocks: every call runs on
//! tokio's blocking pool.
//!
//! - `host`: the WIT functions of both versions.

mod host;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use rusqlite::types::ValueRef;

use crate::bindings::sqlite::v3::{Error, QueryResult, RowResult, Value};
use crate::runtime_config::SqliteDatabase;

pub use host::{HasSqlite, SqliteHost};

/// Largest result the host holds for a guest: Spin's `MAX_HOST_BUFFERED_BYTES`.
const MAX_BUFFERED_BYTES: usize = 128 << 20;

/// The application's databases by label, shared by every component.
#[derive(Default)]
pub struct Databases {
    by_label: BTreeMap<String, SqliteDatabase>,
}

impl Databases {
    /// The configured databases (their directories created now, as Spin does).
    pub fn new(config: &BTreeMap<String, SqliteDatabase>) -> anyhow::Result<Self> {
        for database in config.values() {
            if let Some(parent) = database.path.as_deref().and_then(|p| p.parent())
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).with_context(|| {
                    format!(
                        "failed to create sqlite database directory {}",
                        parent.display()
                    )
                })?;
            }
        }
        Ok(Self {
            by_label: config.clone(),
        })
    }
}

impl Databases {
    /// Runs `statements` against the `default` database, in order, as
    /// `spin up --sqlite` does: each is SQL, or `@path` of a file of SQL.
    pub async fn run_at_start(&self, statements: &[String]) -> anyhow::Result<()> {
        if statements.is_empty() {
            return Ok(());
        }
        let database = self
            .by_label
            .get("default")
            .context("--sqlite: no default SQLite database")?
            .clone();
        let mut batches = Vec::new();
        for statement in statements {
            batches.push(match statement.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("--sqlite: cannot read {path}"))?,
                None => statement.clone(),
            });
        }
        let done = blocking(move || {
            let connection = open(&database)?;
            for batch in &batches {
                connection
                    .execute_batch(batch)
                    .map_err(|e| Error::Io(format!("{e} (in: {batch})")))?;
            }
            Ok(())
        });
        done.await.map_err(|e| anyhow::anyhow!("--sqlite: {e:?}"))
    }
}

/// What one component may open: the labels its manifest declares.
pub struct SqliteAccess {
    allowed: BTreeSet<String>,
    databases: Arc<Databases>,
}

impl SqliteAccess {
    pub fn new(declared: &[String], databases: Arc<Databases>) -> Self {
        Self {
            allowed: declared.iter().cloned().collect(),
            databases,
        }
    }

    /// `connection.open(label)`, with Spin's answers: undeclared →
    /// `access-denied`, declared but not configured → `no-such-database`.
    pub async fn open(&self, label: &str) -> Result<Connection, Error> {
        if !self.allowed.contains(label) {
            return Err(Error::AccessDenied);
        }
        let database = self
            .databases
            .by_label
            .get(label)
            .ok_or(Error::NoSuchDatabase)?
            .clone();
        let connection = blocking(move || open(&database)).await?;
        Ok(Connection {
            inner: Arc::new(Mutex::new(connection)),
        })
    }
}

/// Opens `database`; unless allowed, `ATTACH` of another file is refused
/// (a temporary or in-memory one is fine), as in Spin.
fn open(database: &SqliteDatabase) -> Result<rusqlite::Connection, Error> {
    let connection = match &database.path {
        Some(path) => rusqlite::Connection::open(path),
        None => rusqlite::Connection::open_in_memory(),
    }
    .map_err(io)?;
    if !database.allow_attach_file {
        connection.authorizer(Some(|context: rusqlite::hooks::AuthContext<'_>| {
            use rusqlite::hooks::{AuthAction, Authorization};
            match context.action {
                AuthAction::Attach { filename } if !matches!(filename, "" | ":memory:") => {
                    Authorization::Deny
                }
                _ => Authorization::Allow,
            }
        }));
    }
    Ok(connection)
}

/// An open connection (the guest's `connection` resource): one SQLite
/// connection of its own, so `changes` and `last-insert-rowid` are its own.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Mutex<rusqlite::Connection>>,
}

/// A statement's outcome: its columns, the rows read, and how it ended (an
/// error after the rows read so far, or with none if it did not prepare).
pub struct Outcome {
    pub columns: Vec<String>,
    pub rows: Vec<RowResult>,
    pub end: Result<(), Error>,
}

impl Connection {
    /// Runs `work` on the connection, off the async workers.
    async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&rusqlite::Connection) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let inner = self.inner.clone();
        blocking(move || {
            // SQLite rolls back what a panicking statement left: the lock's
            // poison is no reason to fail.
            work(&inner.lock().unwrap_or_else(PoisonError::into_inner))
        })
        .await
    }

    /// Runs `statement` with `parameters`.
    pub async fn execute(&self, statement: String, parameters: Vec<Value>) -> Outcome {
        self.with(move |c| Ok(run(c, &statement, parameters)))
            .await
            .unwrap_or_else(|error| Outcome {
                columns: Vec::new(),
                rows: Vec::new(),
                end: Err(error),
            })
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE on this connection.
    pub async fn changes(&self) -> wasmtime::Result<u64> {
        Ok(self.with(|c| Ok(c.changes())).await?)
    }

    /// The rowid of the last INSERT on this connection (0 before any).
    pub async fn last_insert_rowid(&self) -> wasmtime::Result<i64> {
        Ok(self.with(|c| Ok(c.last_insert_rowid())).await?)
    }
}

impl Outcome {
    /// The whole result, or the error that ended it.
    pub fn into_result(self) -> Result<QueryResult, Error> {
        self.end.map(|()| QueryResult {
            columns: self.columns,
            rows: self.rows,
        })
    }
}

/// Prepares and runs `statement`, reading every row (Spin's `execute_query`).
fn run(connection: &rusqlite::Connection, statement: &str, parameters: Vec<Value>) -> Outcome {
    let mut outcome = Outcome {
        columns: Vec::new(),
        rows: Vec::new(),
        end: Ok(()),
    };
    let mut prepared = match connection.prepare_cached(statement) {
        Ok(prepared) => prepared,
        Err(e) => {
            outcome.end = Err(io(e));
            return outcome;
        }
    };
    outcome.columns = prepared
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let width = outcome.columns.len();
    let parameters = rusqlite::params_from_iter(parameters.into_iter().map(to_sql));
    let mut rows = match prepared.query(parameters) {
        Ok(rows) => rows,
        Err(e) => {
            outcome.end = Err(io(e));
            return outcome;
        }
    };
    let mut size = std::mem::size_of::<QueryResult>();
    outcome.end = loop {
        let row = match rows.next() {
            Ok(Some(row)) => row,
            Ok(None) => break Ok(()),
            Err(e) => break Err(io(e)),
        };
        let values: Result<Vec<Value>, Error> =
            (0..width).map(|i| from_sql(row.get_ref(i)?)).collect();
        let values = match values {
            Ok(values) => values,
            Err(e) => break Err(e),
        };
        size += values.iter().map(memory_size).sum::<usize>();
        if size > MAX_BUFFERED_BYTES {
            break Err(Error::Io(format!(
                "query result exceeds limit of {MAX_BUFFERED_BYTES} bytes"
            )));
        }
        outcome.rows.push(RowResult { values });
    };
    outcome
}

/// A guest's parameter as SQLite's.
fn to_sql(value: Value) -> rusqlite::types::Value {
    match value {
        Value::Null => rusqlite::types::Value::Null,
        Value::Integer(i) => rusqlite::types::Value::Integer(i),
        Value::Real(r) => rusqlite::types::Value::Real(r),
        Value::Text(t) => rusqlite::types::Value::Text(t),
        Value::Blob(b) => rusqlite::types::Value::Blob(b),
    }
}

/// A column's value as the guest's (TEXT that is not UTF-8 is an error:
/// Spin's conversion panics on it, which its host reports as an I/O error).
fn from_sql(value: ValueRef<'_>) -> Result<Value, Error> {
    Ok(match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(
            String::from_utf8(t.to_vec())
                .map_err(|_| Error::Io("a TEXT value is not valid UTF-8".into()))?,
        ),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    })
}

/// What a value costs the host (Spin's `Value::memory_size`).
fn memory_size(value: &Value) -> usize {
    std::mem::size_of::<Value>()
        + match value {
            Value::Text(t) => t.len(),
            Value::Blob(b) => b.len(),
            Value::Null | Value::Integer(_) | Value::Real(_) => 0,
        }
}

/// SQLite's error as the guest sees it.
fn io(error: rusqlite::Error) -> Error {
    Error::Io(error.to_string())
}

impl From<rusqlite::Error> for Error {
    fn from(error: rusqlite::Error) -> Self {
        io(error)
    }
}

/// Runs `work` on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Io(format!("internal runtime error: {e}")))?
}

#[cfg(test)]
mod tests;

//! The SQLite host functions: `fermyon:spin/sqlite@2.0.0` (spin-sdk 2 to
//! 5) and `spin:sqlite/sqlite@3.1.0` (3.0.0 guests link to it too; spin-sdk
//! 6+ calls its `*-async` functions), all on [`Connection`]. The 2.0 types
//! are converted to and from 3.x's here.

use std::sync::Arc;

use tracing::Instrument as _;
use wasmtime::component::{Accessor, FutureReader, HasData, Resource, ResourceTable, StreamReader};

use super::{Connection, Outcome, SqliteAccess};
use crate::bindings::sqlite::{v2, v3};

/// What the SQLite functions see of a store: its resource table and the
/// component's access.
pub struct SqliteHost<'a> {
    pub table: &'a mut ResourceTable,
    pub access: &'a Arc<SqliteAccess>,
}

/// Marker tying the generated bindings to [`SqliteHost`].
pub struct HasSqlite;

impl HasData for HasSqlite {
    type Data<'a> = SqliteHost<'a>;
}

/// The span of one SQLite call (debug level: free when off).
fn span(call: &'static str) -> tracing::Span {
    tracing::debug_span!("spin:sqlite", call)
}

/// A connection's handle to its SQLite connection, out of the table.
fn held(table: &ResourceTable, connection: &Resource<Connection>) -> wasmtime::Result<Connection> {
    Ok(table.get(connection)?.clone())
}

type V3<T> = wasmtime::Result<Result<T, v3::Error>>;

impl SqliteHost<'_> {
    async fn open(&mut self, database: String) -> V3<Resource<Connection>> {
        match self.access.open(&database).instrument(span("open")).await {
            Ok(connection) => Ok(Ok(self.table.push(connection)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        parameters: Vec<v3::Value>,
    ) -> V3<v3::QueryResult> {
        let connection = held(self.table, &connection)?;
        let outcome = connection
            .execute(statement, parameters)
            .instrument(span("execute"))
            .await;
        Ok(outcome.into_result())
    }
}

impl v3::Host for SqliteHost<'_> {}

impl v3::HostConnection for SqliteHost<'_> {
    async fn open(&mut self, database: String) -> V3<Resource<Connection>> {
        SqliteHost::open(self, database).await
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        parameters: Vec<v3::Value>,
    ) -> V3<v3::QueryResult> {
        SqliteHost::execute(self, connection, statement, parameters).await
    }

    async fn last_insert_rowid(
        &mut self,
        connection: Resource<Connection>,
    ) -> wasmtime::Result<i64> {
        held(self.table, &connection)?.last_insert_rowid().await
    }

    async fn changes(&mut self, connection: Resource<Connection>) -> wasmtime::Result<u64> {
        held(self.table, &connection)?.changes().await
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

impl<T> v3::HostConnectionWithStore<T> for HasSqlite {
    async fn open_async(
        accessor: &Accessor<T, Self>,
        database: String,
    ) -> V3<Resource<Connection>> {
        let access = accessor.with(|mut a| a.get().access.clone());
        match access.open(&database).instrument(span("open")).await {
            Ok(connection) => accessor.with(|mut a| Ok(Ok(a.get().table.push(connection)?))),
            Err(e) => Ok(Err(e)),
        }
    }

    /// The columns, the rows as a stream, then the outcome: as in Spin, a
    /// statement that fails (even to prepare) answers `ok` with no columns
    /// and its error in the future.
    async fn execute_async(
        accessor: &Accessor<T, Self>,
        connection: Resource<Connection>,
        statement: String,
        parameters: Vec<v3::Value>,
    ) -> V3<(
        Vec<String>,
        StreamReader<v3::RowResult>,
        FutureReader<Result<(), v3::Error>>,
    )> {
        let connection = accessor.with(|mut a| held(a.get().table, &connection))?;
        let Outcome { columns, rows, end } = connection
            .execute(statement, parameters)
            .instrument(span("execute"))
            .await;
        accessor.with(|mut a| {
            let rows = StreamReader::new(&mut a, rows)?;
            let end = FutureReader::new(
                &mut a,
                std::future::ready(wasmtime::Result::<Result<(), v3::Error>>::Ok(end)),
            )?;
            Ok(Ok((columns, rows, end)))
        })
    }

    async fn last_insert_rowid_async(
        accessor: &Accessor<T, Self>,
        connection: Resource<Connection>,
    ) -> wasmtime::Result<i64> {
        let connection = accessor.with(|mut a| held(a.get().table, &connection))?;
        connection.last_insert_rowid().await
    }

    async fn changes_async(
        accessor: &Accessor<T, Self>,
        connection: Resource<Connection>,
    ) -> wasmtime::Result<u64> {
        let connection = accessor.with(|mut a| held(a.get().table, &connection))?;
        connection.changes().await
    }
}

type V2<T> = wasmtime::Result<Result<T, v2::Error>>;

impl v2::Host for SqliteHost<'_> {}

impl v2::HostConnection for SqliteHost<'_> {
    async fn open(&mut self, database: String) -> V2<Resource<Connection>> {
        Ok(SqliteHost::open(self, database).await?.map_err(to_v2_error))
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        parameters: Vec<v2::Value>,
    ) -> V2<v2::QueryResult> {
        let parameters = parameters.into_iter().map(from_v2_value).collect();
        Ok(SqliteHost::execute(self, connection, statement, parameters)
            .await?
            .map(|result| v2::QueryResult {
                columns: result.columns,
                rows: result
                    .rows
                    .into_iter()
                    .map(|row| v2::RowResult {
                        values: row.values.into_iter().map(to_v2_value).collect(),
                    })
                    .collect(),
            })
            .map_err(to_v2_error))
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

fn to_v2_error(error: v3::Error) -> v2::Error {
    match error {
        v3::Error::NoSuchDatabase => v2::Error::NoSuchDatabase,
        v3::Error::AccessDenied => v2::Error::AccessDenied,
        v3::Error::InvalidConnection => v2::Error::InvalidConnection,
        v3::Error::DatabaseFull => v2::Error::DatabaseFull,
        v3::Error::Io(message) => v2::Error::Io(message),
    }
}

fn to_v2_value(value: v3::Value) -> v2::Value {
    match value {
        v3::Value::Integer(i) => v2::Value::Integer(i),
        v3::Value::Real(r) => v2::Value::Real(r),
        v3::Value::Text(t) => v2::Value::Text(t),
        v3::Value::Blob(b) => v2::Value::Blob(b),
        v3::Value::Null => v2::Value::Null,
    }
}

fn from_v2_value(value: v2::Value) -> v3::Value {
    match value {
        v2::Value::Integer(i) => v3::Value::Integer(i),
        v2::Value::Real(r) => v3::Value::Real(r),
        v2::Value::Text(t) => v3::Value::Text(t),
        v2::Value::Blob(b) => v3::Value::Blob(b),
        v2::Value::Null => v3::Value::Null,
    }
}

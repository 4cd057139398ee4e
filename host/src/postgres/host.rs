//! The `spin:postgres/postgres@4.2.0` host functions.
//!
//! spin-sdk 7 calls the `*-async` functions (through an `Accessor`); the
//! synchronous ones share the same code so older guests work too.

use std::sync::Arc;

use futures::TryStreamExt as _;
use sqlx::Executor as _;
use tokio::sync::Mutex;
use wasmtime::component::{Accessor, FutureReader, HasData, Resource, ResourceTable, StreamReader};

use super::{Connection, ConnectionBuilder, DatabaseAccess, Held, convert, transaction_effect};
use crate::bindings::postgres::{self as pg, Column, Error, ParameterValue, Row, RowSet};

/// What the postgres host functions see of a store: its resource table and
/// the component's database policy.
pub struct PgHost<'a> {
    pub table: &'a mut ResourceTable,
    pub access: &'a Arc<DatabaseAccess>,
}

/// Marker tying the generated bindings to [`PgHost`].
pub struct HasPg;

impl HasData for HasPg {
    type Data<'a> = PgHost<'a>;
}

type Outcome<T> = wasmtime::Result<Result<T, Error>>;

impl PgHost<'_> {
    fn held(&self, connection: &Resource<Connection>) -> wasmtime::Result<Arc<Mutex<Held>>> {
        Ok(self.table.get(connection)?.inner.clone())
    }
}

async fn open(access: Arc<DatabaseAccess>, address: String) -> Result<Connection, Error> {
    let database = access.authorize(&address).map_err(|reason| {
        tracing::warn!(component = %access.component, %reason, "refused a database connection");
        Error::ConnectionFailed(reason)
    })?;
    let conn = database.pool().acquire().await.map_err(convert::error)?;
    Ok(Connection::new(conn, database.timer.clone()))
}

async fn execute(
    held: Arc<Mutex<Held>>,
    statement: String,
    params: Vec<ParameterValue>,
) -> Result<u64, Error> {
    let args = convert::arguments(params)?;
    let mut held = held.lock().await;
    let effect = transaction_effect(&statement);
    let _timer = held.timer.start_timer();
    let conn = held
        .conn
        .as_mut()
        .ok_or_else(|| Error::ConnectionFailed("connection closed".into()))?;
    let done = match sqlx::query_with(&statement, args)
        .execute(&mut **conn)
        .await
    {
        Ok(done) => done,
        Err(error) => return Err(fail(&mut held, error)),
    };
    if let Some(open) = effect {
        held.in_transaction = open;
    }
    Ok(done.rows_affected())
}

async fn query(
    held: Arc<Mutex<Held>>,
    statement: String,
    params: Vec<ParameterValue>,
) -> Result<(Vec<Column>, Vec<Row>), Error> {
    let args = convert::arguments(params)?;
    let mut held = held.lock().await;
    let effect = transaction_effect(&statement);
    let timer = held.timer.start_timer();
    let conn = held
        .conn
        .as_mut()
        .ok_or_else(|| Error::ConnectionFailed("connection closed".into()))?;
    let mut columns = None;
    let mut rows = Vec::new();
    {
        let mut results = sqlx::query_with(&statement, args).fetch(&mut **conn);
        loop {
            match results.try_next().await {
                Ok(Some(item)) => {
                    if columns.is_none() {
                        columns = Some(convert::columns(&item));
                    }
                    rows.push(convert::row(&item)?);
                }
                Ok(None) => break,
                Err(error) => {
                    drop(results);
                    return Err(fail(&mut held, error));
                }
            }
        }
    }
    let columns = match columns {
        Some(columns) => columns,
        // No rows: take the columns from the (cached) prepared statement.
        None => match conn.prepare(statement.as_str()).await {
            Ok(prepared) => sqlx::Statement::columns(&prepared)
                .iter()
                .map(|c| Column {
                    name: sqlx::Column::name(c).to_owned(),
                    data_type: convert::data_type(sqlx::TypeInfo::name(sqlx::Column::type_info(c))),
                })
                .collect(),
            Err(_) => Vec::new(),
        },
    };
    drop(timer);
    if let Some(open) = effect {
        held.in_transaction = open;
    }
    Ok((columns, rows))
}

/// The interface error for `error`; a connection that failed as a
/// connection (server gone, I/O error) is closed instead of going back to
/// the pool, so the pool heals as soon as the server is back.
fn fail(held: &mut Held, error: sqlx::Error) -> Error {
    let broken = match &error {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    };
    if broken && let Some(conn) = held.conn.as_mut() {
        conn.close_on_drop();
    }
    convert::error(error)
}

impl pg::Host for PgHost<'_> {}

impl pg::HostConnection for PgHost<'_> {
    async fn open(&mut self, address: String) -> Outcome<Resource<Connection>> {
        match open(self.access.clone(), address).await {
            Ok(conn) => Ok(Ok(self.table.push(conn)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn query(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Outcome<RowSet> {
        let held = self.held(&connection)?;
        Ok(query(held, statement, params)
            .await
            .map(|(columns, rows)| RowSet { columns, rows }))
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Outcome<u64> {
        let held = self.held(&connection)?;
        Ok(execute(held, statement, params).await)
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

impl pg::HostConnectionBuilder for PgHost<'_> {
    async fn new(&mut self, address: String) -> wasmtime::Result<Resource<ConnectionBuilder>> {
        Ok(self.table.push(ConnectionBuilder { address })?)
    }

    async fn set_ca_root(
        &mut self,
        _builder: Resource<ConnectionBuilder>,
        _certificate: String,
    ) -> Outcome<()> {
        Ok(Err(Error::Other(
            "custom CA roots are not supported: comptoir's databases are local".into(),
        )))
    }

    async fn build(
        &mut self,
        builder: Resource<ConnectionBuilder>,
    ) -> Outcome<Resource<Connection>> {
        let address = self.table.get(&builder)?.address.clone();
        pg::HostConnection::open(self, address).await
    }

    async fn drop(&mut self, builder: Resource<ConnectionBuilder>) -> wasmtime::Result<()> {
        self.table.delete(builder)?;
        Ok(())
    }
}

impl<T> pg::HostConnectionWithStore<T> for HasPg {
    async fn open_async(
        accessor: &Accessor<T, Self>,
        address: String,
    ) -> Outcome<Resource<Connection>> {
        let access = accessor.with(|mut a| a.get().access.clone());
        match open(access, address).await {
            Ok(conn) => accessor.with(|mut a| Ok(Ok(a.get().table.push(conn)?))),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn query_async(
        accessor: &Accessor<T, Self>,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Outcome<(
        Vec<Column>,
        StreamReader<Row>,
        FutureReader<Result<(), Error>>,
    )> {
        let held = accessor.with(|mut a| a.get().held(&connection))?;
        let (columns, rows) = match query(held, statement, params).await {
            Ok(result) => result,
            Err(e) => return Ok(Err(e)),
        };
        accessor.with(|mut a| {
            let rows = StreamReader::new(&mut a, rows)?;
            let done = FutureReader::new(
                &mut a,
                std::future::ready(wasmtime::Result::<Result<(), Error>>::Ok(Ok(()))),
            )?;
            Ok(Ok((columns, rows, done)))
        })
    }

    async fn execute_async(
        accessor: &Accessor<T, Self>,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Outcome<u64> {
        let held = accessor.with(|mut a| a.get().held(&connection))?;
        Ok(execute(held, statement, params).await)
    }
}

impl<T> pg::HostConnectionBuilderWithStore<T> for HasPg {
    async fn build_async(
        accessor: &Accessor<T, Self>,
        builder: Resource<ConnectionBuilder>,
    ) -> Outcome<Resource<Connection>> {
        let (access, address) = accessor.with(|mut a| {
            let host = a.get();
            let address = host.table.get(&builder).map(|b| b.address.clone());
            address.map(|address| (host.access.clone(), address))
        })?;
        match open(access, address).await {
            Ok(conn) => accessor.with(|mut a| Ok(Ok(a.get().table.push(conn)?))),
            Err(e) => Ok(Err(e)),
        }
    }
}

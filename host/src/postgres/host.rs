//! The `spin:postgres/postgres@4.2.0` host functions.
//!
//! spin-sdk 7 calls the `*-async` functions (through an `Accessor`); the
//! synchronous ones share the same code so older guests work too.

use std::sync::Arc;

use tokio::sync::Mutex;
use tracing::Instrument as _;
use wasmtime::component::{Accessor, FutureReader, HasData, Resource, ResourceTable, StreamReader};

use super::statements::{Fetched, execute, query};
use super::{Connection, ConnectionBuilder, DatabaseAccess, Held, convert};
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
    /// The connection's state and who opened it.
    fn held(
        &self,
        connection: &Resource<Connection>,
    ) -> wasmtime::Result<(Arc<Mutex<Held>>, Arc<str>)> {
        let connection = self.table.get(connection)?;
        Ok((connection.inner.clone(), connection.component.clone()))
    }
}

/// The span of one `spin:postgres` call (debug level: free when off).
fn span(call: &'static str, component: &str) -> tracing::Span {
    tracing::debug_span!("spin:postgres", call, component)
}

async fn open(access: Arc<DatabaseAccess>, address: String) -> Result<Connection, Error> {
    let span = span("open", &access.component);
    connect(access, address).instrument(span).await
}

async fn connect(access: Arc<DatabaseAccess>, address: String) -> Result<Connection, Error> {
    let database = access.authorize(&address).map_err(|reason| {
        tracing::warn!(component = %access.component, %reason, "refused a database connection");
        Error::ConnectionFailed(reason)
    })?;
    let conn = database.pool().acquire().await.map_err(convert::error)?;
    Ok(Connection::new(conn, &database, access.component.clone()))
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
        let (held, component) = self.held(&connection)?;
        let fetched = query(held, statement, params)
            .instrument(span("query", &component))
            .await;
        Ok(fetched.and_then(|fetched| {
            fetched.end.map(|()| RowSet {
                columns: fetched.columns,
                rows: fetched.rows,
            })
        }))
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Outcome<u64> {
        let (held, component) = self.held(&connection)?;
        Ok(execute(held, statement, params)
            .instrument(span("execute", &component))
            .await)
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
        let (held, component) = accessor.with(|mut a| a.get().held(&connection))?;
        let fetched = query(held, statement, params)
            .instrument(span("query", &component))
            .await;
        let Fetched { columns, rows, end } = match fetched {
            Ok(fetched) => fetched,
            Err(e) => return Ok(Err(e)),
        };
        accessor.with(|mut a| {
            let rows = StreamReader::new(&mut a, rows)?;
            let done = FutureReader::new(
                &mut a,
                std::future::ready(wasmtime::Result::<Result<(), Error>>::Ok(end)),
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
        let (held, component) = accessor.with(|mut a| a.get().held(&connection))?;
        Ok(execute(held, statement, params)
            .instrument(span("execute", &component))
            .await)
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

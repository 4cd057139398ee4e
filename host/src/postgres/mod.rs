//! `spin:postgres/postgres@4.2.0` on sqlx: one `PgPool` per service database,
//! and the policy that a component reaches only its own database; a
//! component without one (another Spin app's) opens any address its
//! `allowed_outbound_hosts` allows, as under Spin, a pool per address.
//!
//! A `connection` resource holds one pooled connection for its whole life, so
//! `BEGIN … COMMIT` on it is a real transaction; a connection dropped
//! mid-transaction is rolled back before it goes back to the pool.

#![expect(
    clippy::result_large_err,
    reason = "the WIT `error` variant carries PostgreSQL's whole error report, as in Spin"
)]

mod address;
mod columns;
mod convert;
mod encode;
mod host;
mod oid;
mod older;
mod params;
#[cfg(test)]
mod parity;
mod staleness;
mod statements;
mod values;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, pool::PoolConnection};
use tokio::sync::Mutex;

use crate::bindings::postgres as pg;

pub use host::{HasPg, PgHost};

use crate::secret::redact;

/// How long a guest waits for a pooled connection before getting
/// `connection-failed` (which services turn into 503 + Retry-After).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// One service database: the address its component is configured with, and
/// the pool that serves it.
pub struct Database {
    /// The component's resolved `db_url` — the only address it may open.
    address: String,
    /// `host:port` as written in `allowed_outbound_hosts` terms.
    host_port: String,
    pool: PgPool,
    /// Which idle connections to ping before use.
    staleness: Arc<staleness::Staleness>,
    /// Statement durations on this database.
    timer: prometheus::Histogram,
}

impl Database {
    /// A lazily connected pool for `address` (a `postgres://` URL).
    pub fn new(
        address: &str,
        max_connections: u32,
        timer: prometheus::Histogram,
    ) -> anyhow::Result<Self> {
        let options: PgConnectOptions = address::parse(address)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("invalid database address for {}", redact(address)))?;
        let host_port = format!("{}:{}", options.get_host(), options.get_port());
        let staleness = Arc::new(staleness::Staleness::new());
        let check = staleness.clone();
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // Pinging on every acquire would add a round trip to every
            // request: only connections that may have died are pinged (a
            // failed ping closes it and the pool takes or opens another).
            .test_before_acquire(false)
            .before_acquire(move |conn, meta| {
                let ping = check.check(meta.idle_for);
                Box::pin(async move {
                    if ping {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .idle_timeout(Duration::from_secs(300))
            .connect_lazy_with(options.options([("timezone", "UTC")]));
        Ok(Self {
            address: address.to_owned(),
            host_port,
            pool,
            staleness,
            timer,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// `host:port` of the server, for allow-list checks and logs.
    pub fn host_port(&self) -> &str {
        &self.host_port
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

/// The database policy of one component: its own database (if it has one)
/// and the hosts its manifest allows.
pub struct DatabaseAccess {
    pub component: Arc<str>,
    pub database: Option<Arc<Database>>,
    pub allowed_hosts: Arc<crate::allowed_hosts::AllowedHosts>,
    /// The pools of the addresses it opened, when it has no database of
    /// its own.
    pub opened: Opened,
}

/// Pools by address, made on first use, for a component without a
/// database of its own.
pub struct Opened {
    pools: std::sync::Mutex<std::collections::HashMap<String, Arc<Database>>>,
    timer: prometheus::Histogram,
}

impl Opened {
    /// Connections per address (Spin keeps 64; comptoir's services 16).
    const POOL_SIZE: u32 = 16;

    pub fn new(timer: prometheus::Histogram) -> Self {
        Self {
            pools: Default::default(),
            timer,
        }
    }

    /// The pool of `address` if `allowed` lets it be reached.
    fn get(
        &self,
        address: &str,
        allowed: &crate::allowed_hosts::AllowedHosts,
        component: &str,
    ) -> Result<Arc<Database>, String> {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(database) = pools.get(address) {
            return Ok(database.clone());
        }
        let database = Database::new(address, Self::POOL_SIZE, self.timer.clone())
            .map_err(|e| format!("{e:#}"))?;
        if !allowed.allows("postgres", database.host_port()) {
            return Err(format!(
                "address postgres://{} is not in allowed_outbound_hosts of {component}",
                database.host_port(),
            ));
        }
        let database = Arc::new(database);
        pools.insert(address.to_owned(), database.clone());
        Ok(database)
    }
}

impl DatabaseAccess {
    /// The database `address` names, if this component may open it.
    ///
    /// Two rules, both required: the address is exactly the component's
    /// own `db_url`, and its host is in `allowed_outbound_hosts`.
    fn authorize(&self, address: &str) -> Result<Arc<Database>, String> {
        let Some(database) = &self.database else {
            return self
                .opened
                .get(address, &self.allowed_hosts, &self.component);
        };
        if address != database.address {
            return Err(format!(
                "component {} may only open its own database, not {}",
                self.component,
                redact(address)
            ));
        }
        if !self.allowed_hosts.allows("postgres", database.host_port()) {
            return Err(format!(
                "address postgres://{} is not in allowed_outbound_hosts of {}",
                database.host_port(),
                self.component
            ));
        }
        Ok(database.clone())
    }
}

/// A `connection` resource: one pooled connection, held until the guest
/// drops the resource.
pub struct Connection {
    inner: Arc<Mutex<Held>>,
    /// Who opened it, for the spans of its statements.
    component: Arc<str>,
}

impl Connection {
    fn new(conn: PoolConnection<Postgres>, database: &Database, component: Arc<str>) -> Self {
        Self {
            component,
            inner: Arc::new(Mutex::new(Held {
                conn: Some(conn),
                in_transaction: false,
                timer: database.timer.clone(),
                staleness: database.staleness.clone(),
            })),
        }
    }
}

/// The pooled connection and whether the guest left a transaction open.
struct Held {
    conn: Option<PoolConnection<Postgres>>,
    in_transaction: bool,
    timer: prometheus::Histogram,
    staleness: Arc<staleness::Staleness>,
}

impl Held {
    /// The connection, unless it was already given back.
    fn connection(&mut self) -> Result<&mut PoolConnection<Postgres>, pg::Error> {
        self.conn
            .as_mut()
            .ok_or_else(|| pg::Error::ConnectionFailed("connection closed".into()))
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let inner = self.inner.clone();
        // A connection left inside a transaction must not go back to the
        // pool as is: roll it back first (on a task, since drop is sync).
        if let Ok(mut held) = inner.try_lock()
            && !held.in_transaction
        {
            held.conn.take();
            return;
        }
        tokio::spawn(async move {
            let mut held = inner.lock().await;
            if let Some(mut conn) = held.conn.take()
                && held.in_transaction
                && sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err()
            {
                conn.close_on_drop();
            }
        });
    }
}

/// A `connection-builder` resource: just the address until `build`.
pub struct ConnectionBuilder {
    address: String,
}

/// Whether `statement` opens or closes a transaction block: `Some(true)` for
/// BEGIN / START TRANSACTION, `Some(false)` for COMMIT / ROLLBACK / END / ABORT.
fn transaction_effect(statement: &str) -> Option<bool> {
    let first = statement
        .trim_start()
        .split(|c: char| c.is_whitespace() || c == ';')
        .next()?
        .to_ascii_uppercase();
    match first.as_str() {
        "BEGIN" | "START" => Some(true),
        "COMMIT" | "ROLLBACK" | "END" | "ABORT" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_print() {
        assert_eq!(
            redact("postgres://clients:s3cret@127.0.0.1:5432/clients"),
            "postgres://clients:***@127.0.0.1:5432/clients"
        );
        assert!(!redact("host=x password=s3cret").contains("s3cret"));
    }

    #[test]
    fn transaction_statements_are_recognised() {
        assert_eq!(transaction_effect("  begin;"), Some(true));
        assert_eq!(
            transaction_effect("START TRANSACTION ISOLATION LEVEL SERIALIZABLE"),
            Some(true)
        );
        assert_eq!(transaction_effect("commit"), Some(false));
        assert_eq!(transaction_effect("ROLLBACK"), Some(false));
        assert_eq!(transaction_effect("SELECT 1"), None);
    }
}

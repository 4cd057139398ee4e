//! Running one statement on a guest's connection, as Spin does: values
//! converted and type-checked before anything is sent, a stale cached plan
//! prepared again once, rows read up to the first error, and a connection
//! that failed as a connection closed rather than pooled.

use std::sync::Arc;

use futures::TryStreamExt as _;
use sqlx::Either;
use sqlx::Executor as _;
use sqlx::postgres::PgArguments;
use tokio::sync::Mutex;

use super::{Held, columns, convert, params, transaction_effect, values};
use crate::bindings::postgres::{Column, Error, ParameterValue, QueryError, Row};

pub(super) async fn execute(
    held: Arc<Mutex<Held>>,
    statement: String,
    params: Vec<ParameterValue>,
) -> Result<u64, Error> {
    // As in Spin: a value that does not convert fails before anything is sent.
    let values = values::convert(params).map_err(Error::ValueConversionFailed)?;
    let mut held = held.lock().await;
    let effect = transaction_effect(&statement);
    let _timer = held.timer.start_timer();
    let in_transaction = held.in_transaction;
    let conn = held.connection()?;
    let mut retried = false;
    let done = loop {
        let args = match bind(conn, &statement, values.clone()).await {
            Ok(args) => args,
            Err(Refused::Database(error)) => return Err(fail(&mut held, error)),
            Err(Refused::Types(text)) => return Err(Error::QueryFailed(QueryError::Text(text))),
        };
        match sqlx::query_with(&statement, args)
            .execute(&mut **conn)
            .await
        {
            Ok(done) => break done,
            Err(error) if stale_plan(&error) => {
                let _ = sqlx::Connection::clear_cached_statements(&mut **conn).await;
                // Inside a transaction PostgreSQL has aborted it: no re-run.
                if retried || in_transaction {
                    return Err(fail(&mut held, error));
                }
                retried = true;
            }
            Err(error) => return Err(fail(&mut held, error)),
        }
    };
    if let Some(open) = effect {
        held.in_transaction = open;
    }
    Ok(done.rows_affected())
}

/// What a query gave: its columns, the rows read, and how reading ended.
///
/// As in Spin, an error found while reading rows (a constraint checked at
/// execution, a column type it refuses) comes after the rows before it,
/// through the query's result future, not as the call's error.
pub(super) struct Fetched {
    pub(super) columns: Vec<Column>,
    pub(super) rows: Vec<Row>,
    pub(super) end: Result<(), Error>,
}

pub(super) async fn query(
    held: Arc<Mutex<Held>>,
    statement: String,
    params: Vec<ParameterValue>,
) -> Result<Fetched, Error> {
    let values = values::convert(params).map_err(Error::BadParameter)?;
    let mut held = held.lock().await;
    let effect = transaction_effect(&statement);
    let timer = held.timer.start_timer();
    let in_transaction = held.in_transaction;
    let conn = held.connection()?;
    // Spin takes the columns from the first row: no rows, no columns.
    let mut columns = Vec::new();
    let mut rows = Vec::new();
    let mut refused = None;
    let mut failed = None;
    let mut retried = false;
    loop {
        let args = match bind(conn, &statement, values.clone()).await {
            Ok(args) => args,
            Err(Refused::Database(error)) => return Err(fail(&mut held, error)),
            Err(Refused::Types(text)) => return Err(Error::QueryFailed(QueryError::Text(text))),
        };
        let mut results = sqlx::query_with(&statement, args).fetch(&mut **conn);
        loop {
            match results.try_next().await {
                Ok(Some(item)) => {
                    if rows.is_empty() {
                        columns = columns::columns(&item);
                    }
                    match columns::row(&item) {
                        Ok(values) => rows.push(values),
                        Err(text) => {
                            refused = Some(Error::QueryFailed(QueryError::Text(text)));
                            break;
                        }
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    failed = Some(error);
                    break;
                }
            }
        }
        drop(results);
        if failed.as_ref().is_some_and(stale_plan) {
            let _ = sqlx::Connection::clear_cached_statements(&mut **conn).await;
            // Inside a transaction PostgreSQL has aborted it: no re-run.
            if !retried && !in_transaction && rows.is_empty() {
                retried = true;
                failed = None;
                continue;
            }
        }
        break;
    }
    drop(timer);
    let end = match (failed, refused) {
        (Some(error), _) => Err(fail(&mut held, error)),
        (None, Some(error)) => Err(error),
        (None, None) => {
            if let Some(open) = effect {
                held.in_transaction = open;
            }
            Ok(())
        }
    };
    Ok(Fetched { columns, rows, end })
}

/// Why a statement was refused before it ran.
pub(super) enum Refused {
    /// PostgreSQL refused to prepare it (syntax, unknown column…).
    Database(sqlx::Error),
    /// A parameter's count or type does not fit, by Spin's rules.
    Types(String),
}

/// Prepares `statement` (cached per connection, parameter types left to
/// PostgreSQL to infer, as tokio-postgres does) and binds `values` to the
/// types it inferred, by Spin's rules ([`params::bind`]).
pub(super) async fn bind(
    conn: &mut sqlx::PgConnection,
    statement: &str,
    values: Vec<values::Value>,
) -> Result<PgArguments, Refused> {
    let prepared = conn
        .prepare_with(statement, &[])
        .await
        .map_err(Refused::Database)?;
    let types = match sqlx::Statement::parameters(&prepared) {
        Some(Either::Left(types)) => types,
        _ => &[],
    };
    params::bind(values, types).map_err(Refused::Types)
}

/// Whether PostgreSQL refused a cached prepared statement because a schema
/// change altered its result type (`0A000`, "cached plan must not change
/// result type"). The statement did not run: it is prepared again and run
/// once more. (Spin does not cache statements, so it never sees this.)
fn stale_plan(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if db.code().as_deref() == Some("0A000") && db.message().contains("cached plan"))
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
        held.staleness.broken();
    }
    convert::error(error)
}

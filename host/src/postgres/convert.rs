//! sqlx errors → the interface's `error`, with PostgreSQL's report kept
//! in the fields Spin fills.

use sqlx::postgres::PgDatabaseError;

use crate::bindings::postgres::{DbError, Error, QueryError};

/// A sqlx error as the interface's `error`, keeping PostgreSQL's SQLSTATE.
pub fn error(error: sqlx::Error) -> Error {
    match error {
        sqlx::Error::Database(db) => match db.try_downcast::<PgDatabaseError>() {
            Ok(pg) => Error::QueryFailed(QueryError::DbError(DbError {
                as_text: pg.to_string(),
                severity: format!("{:?}", pg.severity()).to_uppercase(),
                code: pg.code().to_owned(),
                message: pg.message().to_owned(),
                detail: pg.detail().map(str::to_owned),
                // The fields Spin reports, in its order.
                extras: [
                    ("column", pg.column().map(str::to_owned)),
                    ("constraint", pg.constraint().map(str::to_owned)),
                    ("routine", pg.routine().map(str::to_owned)),
                    ("hint", pg.hint().map(str::to_owned)),
                    ("table", pg.table().map(str::to_owned)),
                    ("datatype", pg.data_type().map(str::to_owned)),
                    ("schema", pg.schema().map(str::to_owned)),
                    ("file", pg.file().map(str::to_owned)),
                    ("line", pg.line().map(|l| l.to_string())),
                    ("where_", pg.r#where().map(str::to_owned)),
                ]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
                .collect(),
            })),
            Err(other) => Error::QueryFailed(QueryError::Text(other.to_string())),
        },
        e @ (sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_)) => Error::ConnectionFailed(e.to_string()),
        other => Error::QueryFailed(QueryError::Text(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lost or unreachable server is a connection failure (the guest may
    /// reconnect); anything else is the statement's failure.
    #[test]
    fn connection_faults_and_statement_faults_are_told_apart() {
        for fault in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
            sqlx::Error::Protocol("unexpected message".into()),
        ] {
            assert!(
                matches!(error(fault), Error::ConnectionFailed(_)),
                "a connection fault"
            );
        }
        match error(sqlx::Error::RowNotFound) {
            Error::QueryFailed(QueryError::Text(text)) => assert!(text.contains("no rows")),
            other => panic!("a statement fault, not {other:?}"),
        }
    }
}

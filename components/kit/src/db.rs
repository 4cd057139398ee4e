//! The service's own database: opening it from the `db_url` variable,
//! mapping PostgreSQL errors to problems, and decoding row values.

use spin_sdk::pg::{self, Connection, DbValue, Decode, ParameterValue, PgError, QueryError, Row};

use crate::Problem;

/// SQLSTATE of a unique-constraint violation.
pub const UNIQUE_VIOLATION: &str = "23505";
/// SQLSTATE of a foreign-key violation.
pub const FOREIGN_KEY_VIOLATION: &str = "23503";

/// SQLSTATE class 08, connection exception.
const CONNECTION_EXCEPTION: &str = "08";
/// SQLSTATE subclass 57P of class 57 (operator intervention): the server is
/// shutting down or not accepting connections (`57P01` admin_shutdown to
/// `57P05`). Not all of class 57: `57014` is a cancelled statement.
const SERVER_GOING_AWAY: &str = "57P";
/// SQLSTATE class 22, data exception.
const DATA_EXCEPTION: &str = "22";

/// Whether `code` says the connection or server is gone, not the statement
/// wrong: the classes the host's `spin:postgres` (host/src/postgres) also
/// treats as a broken connection.
fn server_gone(code: &str) -> bool {
    code.starts_with(CONNECTION_EXCEPTION) || code.starts_with(SERVER_GOING_AWAY)
}

/// Opens a connection to the database named by the Spin variable `db_url`.
///
/// The address comes from the manifest (never a constant), and the host
/// refuses any other address than this component's own.
pub async fn open() -> Result<Connection, Problem> {
    let address = spin_sdk::variables::get("db_url")
        .await
        .map_err(|_| Problem::internal("the service's database address is not configured"))?;
    Connection::open(address).await.map_err(problem)
}

/// Runs `work` in one transaction, committed only when it succeeds.
///
/// A write and the read of its answer go through here together, so a write
/// whose answer cannot be built (a value that does not decode, a failed
/// read) is rolled back instead of being left behind, unseen by a caller
/// who then gets a 5xx. Should the connection fail before `ROLLBACK`, the
/// host rolls the transaction back when the connection is dropped.
pub async fn transaction<T>(
    db: &Connection,
    work: impl AsyncFnOnce(&Connection) -> Result<T, Problem>,
) -> Result<T, Problem> {
    db.execute("BEGIN", vec![]).await.map_err(problem)?;
    let result = work(db).await;
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = db.execute(end, vec![]).await.map_err(problem);
    let value = result?;
    ended?;
    Ok(value)
}

/// A timestamp column as every runtime's `spin:postgres` can read it.
///
/// Spin decodes both `timestamp` and `timestamptz` as a naive date-time and
/// refuses `timestamptz` columns outright, so columns stay `timestamptz`
/// (an instant, whatever the session's time zone) and are read as their
/// UTC wall-clock time: `created_at AT TIME ZONE 'UTC' AS created_at`.
pub fn utc(column: &str) -> String {
    format!("{column} AT TIME ZONE 'UTC' AS {column}")
}

/// The SQLSTATE of a failed statement, when PostgreSQL gave one.
pub fn sqlstate(error: &pg::Error) -> Option<&str> {
    match error {
        pg::Error::PgError(PgError::QueryFailed(QueryError::DbError(db))) => Some(&db.code),
        _ => None,
    }
}

/// The problem a database error becomes when the caller has no better answer.
///
/// An unreachable database is a 503 with `Retry-After` (the request changed
/// nothing and can be retried); anything else is a 500 whose detail does not
/// leak SQL or addresses.
pub fn problem(error: pg::Error) -> Problem {
    match &error {
        pg::Error::PgError(PgError::ConnectionFailed(_)) => {
            Problem::unavailable("the service's database is unavailable")
        }
        _ if sqlstate(&error).is_some_and(server_gone) => {
            Problem::unavailable("the service's database is unavailable")
        }
        // A value the database cannot store.
        _ if sqlstate(&error).is_some_and(|s| s.starts_with(DATA_EXCEPTION)) => Problem::rule(
            "invalid-value",
            "a value cannot be stored (out of range or malformed)",
        ),
        _ => {
            eprintln!("database error: {error}");
            Problem::internal("a database statement failed")
        }
    }
}

/// Every row `sql` returns; errors become problems by [`problem`].
pub async fn rows(
    db: &Connection,
    sql: impl Into<String>,
    params: Vec<ParameterValue>,
) -> Result<Vec<Row>, Problem> {
    rows_or(db, sql, params, problem).await
}

/// Every row `sql` returns; errors become problems by `error` (a statement
/// that reads some SQLSTATEs itself, falling back to [`problem`]).
pub async fn rows_or(
    db: &Connection,
    sql: impl Into<String>,
    params: Vec<ParameterValue>,
    error: impl Fn(pg::Error) -> Problem,
) -> Result<Vec<Row>, Problem> {
    db.query(sql, params)
        .await
        .map_err(&error)?
        .collect()
        .await
        .map_err(error)
}

/// Column `name` of `row` decoded as `T`.
pub fn column<T: Decode>(row: &Row, name: &str) -> Result<T, Problem> {
    row.get::<T>(name)
        .ok_or_else(|| Problem::internal(format!("column {name} is missing or mistyped")))
}

/// A `uuid` column.
pub struct DbUuid(pub uuid::Uuid);

impl Decode for DbUuid {
    fn decode(value: &DbValue) -> Result<Self, pg::Error> {
        match value {
            DbValue::Uuid(s) => uuid::Uuid::try_parse(s)
                .map(DbUuid)
                .map_err(|e| pg::Error::Decode(e.to_string())),
            other => Err(pg::Error::Decode(format!("expected uuid, got {other:?}"))),
        }
    }
}

/// A timestamp read with [`utc`], as an RFC 3339 UTC string (microsecond
/// precision).
pub struct DbTime(pub String);

impl Decode for DbTime {
    fn decode(value: &DbValue) -> Result<Self, pg::Error> {
        match value {
            DbValue::Datetime((y, mo, d, h, mi, s, ns)) => Ok(DbTime(format!(
                "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:06}Z",
                ns / 1000
            ))),
            other => Err(pg::Error::Decode(format!(
                "expected a UTC timestamp, got {other:?}"
            ))),
        }
    }
}

/// A `uuid` parameter.
pub fn uuid_param(id: uuid::Uuid) -> ParameterValue {
    ParameterValue::Uuid(id.to_string())
}

/// A `uuid` parameter that may be NULL.
pub fn opt_uuid_param(id: Option<uuid::Uuid>) -> ParameterValue {
    id.map_or(ParameterValue::DbNull, uuid_param)
}

/// A text parameter that may be NULL.
pub fn opt_text_param(value: Option<&str>) -> ParameterValue {
    value.map_or(ParameterValue::DbNull, |v| {
        ParameterValue::Str(v.to_owned())
    })
}

/// A text parameter.
pub fn text_param(value: &str) -> ParameterValue {
    ParameterValue::Str(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Connection exceptions and a server going away are a 503, as the
    /// host reads them; a cancelled statement (`57014`) is not.
    #[test]
    fn sqlstate_classes_match_the_hosts() {
        for code in [
            "08006", "08P01", "57P01", "57P02", "57P03", "57P04", "57P05",
        ] {
            assert!(server_gone(code), "{code}");
        }
        for code in ["57014", "57000", "23505", "22003", "40001"] {
            assert!(!server_gone(code), "{code}");
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = DbTime::decode(&DbValue::Datetime((2026, 11, 24, 9, 5, 7, 123_456_789))).unwrap();
        assert_eq!(t.0, "2026-11-24T09:05:07.123456Z");
    }

    #[test]
    fn timestamps_are_read_as_utc() {
        assert_eq!(
            utc("created_at"),
            "created_at AT TIME ZONE 'UTC' AS created_at"
        );
    }

    #[test]
    fn uuid_columns_decode() {
        let id = "6f1c1a4e-8a7e-4a8e-9a55-0e2e7c1f2b3a";
        assert_eq!(
            DbUuid::decode(&DbValue::Uuid(id.into()))
                .unwrap()
                .0
                .to_string(),
            id
        );
        assert!(DbUuid::decode(&DbValue::Str(id.into())).is_err());
    }
}

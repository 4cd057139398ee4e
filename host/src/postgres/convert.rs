//! Values across the boundary: `parameter-value` → sqlx arguments,
//! PostgreSQL rows → `db-value`s, sqlx errors → the interface's `error`.
#![expect(
    clippy::result_large_err,
    reason = "the WIT `error` variant carries PostgreSQL's whole error report, as in Spin"
)]

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use rust_decimal::Decimal;
use sqlx::postgres::types::{Oid, PgInterval};
use sqlx::postgres::{PgArguments, PgDatabaseError, PgRow, PgTypeInfo, PgValueFormat};
use sqlx::{Arguments, Column as _, Row as _, TypeInfo as _, ValueRef as _};

use crate::bindings::postgres::{
    Column, DbDataType, DbError, DbValue, Error, Interval, ParameterValue, QueryError,
};

/// A NULL whose type PostgreSQL infers from the statement (like Spin's),
/// so that `NULL` fits a `uuid`, `text` or any other column.
struct UntypedNull;

impl sqlx::Type<sqlx::Postgres> for UntypedNull {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(0))
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for UntypedNull {
    fn encode_by_ref(
        &self,
        _buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        Ok(sqlx::encode::IsNull::Yes)
    }
}

fn bad(message: impl std::fmt::Display) -> Error {
    Error::BadParameter(message.to_string())
}

/// The guest's parameters as sqlx arguments.
pub fn arguments(params: Vec<ParameterValue>) -> Result<PgArguments, Error> {
    let mut args = PgArguments::default();
    for (i, param) in params.into_iter().enumerate() {
        let added = match param {
            ParameterValue::Boolean(v) => args.add(v),
            ParameterValue::Int8(v) => args.add(i16::from(v)),
            ParameterValue::Int16(v) => args.add(v),
            ParameterValue::Int32(v) => args.add(v),
            ParameterValue::Int64(v) => args.add(v),
            ParameterValue::Floating32(v) => args.add(v),
            ParameterValue::Floating64(v) => args.add(v),
            ParameterValue::Str(v) => args.add(v),
            ParameterValue::Binary(v) => args.add(v),
            ParameterValue::Date((y, m, d)) => args.add(
                NaiveDate::from_ymd_opt(y, m.into(), d.into())
                    .ok_or_else(|| bad(format!("parameter {}: invalid date", i + 1)))?,
            ),
            ParameterValue::Time((h, mi, s, ns)) => args.add(
                NaiveTime::from_hms_nano_opt(h.into(), mi.into(), s.into(), ns)
                    .ok_or_else(|| bad(format!("parameter {}: invalid time", i + 1)))?,
            ),
            ParameterValue::Datetime((y, mo, d, h, mi, s, ns)) => {
                let naive = NaiveDate::from_ymd_opt(y, mo.into(), d.into())
                    .and_then(|date| date.and_hms_nano_opt(h.into(), mi.into(), s.into(), ns))
                    .ok_or_else(|| bad(format!("parameter {}: invalid datetime", i + 1)))?;
                args.add(DateTime::<Utc>::from_naive_utc_and_offset(naive, Utc))
            }
            ParameterValue::Timestamp(v) => args.add(v),
            ParameterValue::Uuid(v) => args.add(
                uuid::Uuid::try_parse(&v)
                    .map_err(|e| bad(format!("parameter {}: invalid uuid: {e}", i + 1)))?,
            ),
            ParameterValue::Jsonb(v) => args.add(sqlx::types::Json(
                serde_json::from_slice::<serde_json::Value>(&v)
                    .map_err(|e| bad(format!("parameter {}: invalid JSON: {e}", i + 1)))?,
            )),
            ParameterValue::Decimal(v) => args.add(decimal(&v, i)?),
            ParameterValue::ArrayInt32(v) => args.add(v),
            ParameterValue::ArrayInt64(v) => args.add(v),
            ParameterValue::ArrayStr(v) => args.add(v),
            ParameterValue::ArrayDecimal(v) => args.add(
                v.iter()
                    .map(|d| d.as_deref().map(|d| decimal(d, i)).transpose())
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            ParameterValue::Interval(v) => args.add(PgInterval {
                months: v.months,
                days: v.days,
                microseconds: v.micros,
            }),
            ParameterValue::DbNull => args.add(UntypedNull),
            ParameterValue::RangeInt32(_)
            | ParameterValue::RangeInt64(_)
            | ParameterValue::RangeDecimal(_) => {
                return Err(bad(format!(
                    "parameter {}: range parameters are not supported",
                    i + 1
                )));
            }
        };
        added.map_err(|e| bad(format!("parameter {}: {e}", i + 1)))?;
    }
    Ok(args)
}

fn decimal(raw: &str, i: usize) -> Result<Decimal, Error> {
    raw.parse()
        .map_err(|e| bad(format!("parameter {}: invalid decimal: {e}", i + 1)))
}

/// The interface's type for a PostgreSQL type name.
pub fn data_type(name: &str) -> DbDataType {
    match name {
        "BOOL" => DbDataType::Boolean,
        "\"CHAR\"" | "CHAR" => DbDataType::Int8,
        "INT2" => DbDataType::Int16,
        "INT4" => DbDataType::Int32,
        "INT8" => DbDataType::Int64,
        "FLOAT4" => DbDataType::Floating32,
        "FLOAT8" => DbDataType::Floating64,
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => DbDataType::Str,
        "BYTEA" => DbDataType::Binary,
        "DATE" => DbDataType::Date,
        "TIME" => DbDataType::Time,
        "TIMESTAMP" | "TIMESTAMPTZ" => DbDataType::Datetime,
        "UUID" => DbDataType::Uuid,
        "JSON" | "JSONB" => DbDataType::Jsonb,
        "NUMERIC" => DbDataType::Decimal,
        "INT4[]" => DbDataType::ArrayInt32,
        "INT8[]" => DbDataType::ArrayInt64,
        "NUMERIC[]" => DbDataType::ArrayDecimal,
        "TEXT[]" | "VARCHAR[]" => DbDataType::ArrayStr,
        "INTERVAL" => DbDataType::Interval,
        other => DbDataType::Other(other.to_owned()),
    }
}

/// The columns of a result, from its first row (or the statement's description).
pub fn columns(row: &PgRow) -> Vec<Column> {
    row.columns()
        .iter()
        .map(|c| Column {
            name: c.name().to_owned(),
            data_type: data_type(c.type_info().name()),
        })
        .collect()
}

fn datetime(t: NaiveDateTime) -> DbValue {
    DbValue::Datetime((
        t.year(),
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
        t.nanosecond(),
    ))
}

/// One row as `db-value`s.
pub fn row(row: &PgRow) -> Result<Vec<DbValue>, Error> {
    (0..row.len()).map(|i| value(row, i)).collect()
}

fn value(row: &PgRow, i: usize) -> Result<DbValue, Error> {
    fn get<'r, T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>>(
        row: &'r PgRow,
        i: usize,
    ) -> Result<Option<T>, Error> {
        row.try_get_unchecked::<Option<T>, _>(i)
            .map_err(|e| Error::ValueConversionFailed(e.to_string()))
    }
    let raw = row
        .try_get_raw(i)
        .map_err(|e| Error::ValueConversionFailed(e.to_string()))?;
    if raw.is_null() {
        return Ok(DbValue::DbNull);
    }
    let type_name = raw.type_info().name().to_owned();
    let value = match type_name.as_str() {
        "BOOL" => get::<bool>(row, i)?.map(DbValue::Boolean),
        "\"CHAR\"" | "CHAR" => get::<i8>(row, i)?.map(DbValue::Int8),
        "INT2" => get::<i16>(row, i)?.map(DbValue::Int16),
        "INT4" => get::<i32>(row, i)?.map(DbValue::Int32),
        "INT8" => get::<i64>(row, i)?.map(DbValue::Int64),
        "FLOAT4" => get::<f32>(row, i)?.map(DbValue::Floating32),
        "FLOAT8" => get::<f64>(row, i)?.map(DbValue::Floating64),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => get::<String>(row, i)?.map(DbValue::Str),
        "BYTEA" => get::<Vec<u8>>(row, i)?.map(DbValue::Binary),
        "DATE" => get::<NaiveDate>(row, i)?
            .map(|d| DbValue::Date((d.year(), d.month() as u8, d.day() as u8))),
        "TIME" => get::<NaiveTime>(row, i)?.map(|t| {
            DbValue::Time((
                t.hour() as u8,
                t.minute() as u8,
                t.second() as u8,
                t.nanosecond(),
            ))
        }),
        "TIMESTAMP" => get::<NaiveDateTime>(row, i)?.map(datetime),
        "TIMESTAMPTZ" => get::<DateTime<Utc>>(row, i)?.map(|t| datetime(t.naive_utc())),
        "UUID" => get::<uuid::Uuid>(row, i)?.map(|u| DbValue::Uuid(u.to_string())),
        "JSON" | "JSONB" => get::<serde_json::Value>(row, i)?
            .map(|v| DbValue::Jsonb(serde_json::to_vec(&v).unwrap_or_default())),
        "NUMERIC" => get::<Decimal>(row, i)?.map(|d| DbValue::Decimal(d.to_string())),
        "INT4[]" => get::<Vec<Option<i32>>>(row, i)?.map(DbValue::ArrayInt32),
        "INT8[]" => get::<Vec<Option<i64>>>(row, i)?.map(DbValue::ArrayInt64),
        "TEXT[]" | "VARCHAR[]" => get::<Vec<Option<String>>>(row, i)?.map(DbValue::ArrayStr),
        "NUMERIC[]" => get::<Vec<Option<Decimal>>>(row, i)?.map(|v| {
            DbValue::ArrayDecimal(v.into_iter().map(|d| d.map(|d| d.to_string())).collect())
        }),
        "INTERVAL" => get::<PgInterval>(row, i)?.map(|v| {
            DbValue::Interval(Interval {
                micros: v.microseconds,
                days: v.days,
                months: v.months,
            })
        }),
        _ => {
            let bytes = match raw.format() {
                PgValueFormat::Binary | PgValueFormat::Text => {
                    raw.as_bytes().map(<[u8]>::to_vec).unwrap_or_default()
                }
            };
            Some(DbValue::Unsupported(bytes))
        }
    };
    Ok(value.unwrap_or(DbValue::DbNull))
}

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
                extras: [
                    ("hint", pg.hint()),
                    ("table", pg.table()),
                    ("column", pg.column()),
                    ("constraint", pg.constraint()),
                ]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned())))
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

//! PostgreSQL result columns → `db-value`s and `db-data-type`s, exactly as
//! Spin's `spin:postgres` maps them (its `factor-outbound-pg` `types.rs`):
//! the same variant for each type, raw bytes (`unsupported`) for types it
//! does not map, and the same refusal where Spin's driver refuses a type.
//!
//! One refusal looks like a bug in Spin but is matched on purpose, so that
//! what works here works there: Spin reads `timestamptz` as a naive
//! date-time, which its driver refuses, so any `timestamptz` column (even a
//! NULL one) fails the query. Read such columns as
//! `col AT TIME ZONE 'UTC'` (a `timestamp`).

use std::ops::Bound;

use chrono::{Datelike as _, NaiveDate, NaiveDateTime, NaiveTime, Timelike as _};
use rust_decimal::Decimal;
use sqlx::postgres::types::{PgInterval, PgRange};
use sqlx::postgres::{PgRow, PgTypeInfo};
use sqlx::{Column as _, Row as _, TypeInfo as _, ValueRef as _};

use super::oid;
use crate::bindings::postgres::{Column, DbDataType, DbValue, Interval, RangeBoundKind};

/// The interface's type for a column type (Spin's `convert_data_type`).
pub fn data_type(ty: &PgTypeInfo) -> DbDataType {
    match ty.oid().map(|o| o.0) {
        Some(oid::BOOL) => DbDataType::Boolean,
        Some(oid::BYTEA) => DbDataType::Binary,
        Some(oid::FLOAT4) => DbDataType::Floating32,
        Some(oid::FLOAT8) => DbDataType::Floating64,
        Some(oid::INT2) => DbDataType::Int16,
        Some(oid::INT4) => DbDataType::Int32,
        Some(oid::INT8) => DbDataType::Int64,
        Some(oid::TEXT | oid::VARCHAR | oid::BPCHAR) => DbDataType::Str,
        Some(oid::TIMESTAMP | oid::TIMESTAMPTZ) => DbDataType::Datetime,
        Some(oid::DATE) => DbDataType::Date,
        Some(oid::TIME) => DbDataType::Time,
        Some(oid::UUID) => DbDataType::Uuid,
        Some(oid::JSONB) => DbDataType::Jsonb,
        Some(oid::NUMERIC) => DbDataType::Decimal,
        Some(oid::INT4RANGE) => DbDataType::RangeInt32,
        Some(oid::INT8RANGE) => DbDataType::RangeInt64,
        Some(oid::NUMRANGE) => DbDataType::RangeDecimal,
        Some(oid::INT4_ARRAY) => DbDataType::ArrayInt32,
        Some(oid::INT8_ARRAY) => DbDataType::ArrayInt64,
        Some(oid::NUMERIC_ARRAY) => DbDataType::ArrayDecimal,
        Some(oid::TEXT_ARRAY | oid::VARCHAR_ARRAY | oid::BPCHAR_ARRAY) => DbDataType::ArrayStr,
        Some(oid::INTERVAL) => DbDataType::Interval,
        _ => DbDataType::Other(pg_name(ty)),
    }
}

/// PostgreSQL's own name of a type (`pg_type.typname`: `json`, `_int2`),
/// which is what Spin reports for the types it does not map. sqlx shows
/// built-in types by display name (`JSON`, `INT2[]`); custom types by
/// their typname already.
pub fn pg_name(ty: &PgTypeInfo) -> String {
    let display = ty.name();
    let typname = |base: &str| match base {
        "\"CHAR\"" => "char".to_owned(),
        "CHAR" => "bpchar".to_owned(),
        other if other.bytes().any(|b| b.is_ascii_lowercase()) => other.to_owned(),
        other => other.to_ascii_lowercase(),
    };
    match display.strip_suffix("[]") {
        Some(element) => format!("_{}", typname(element)),
        None => typname(display),
    }
}

/// The columns of a result as Spin reports them: from its first row, so a
/// result with no rows has no columns.
pub fn columns(row: &PgRow) -> Vec<Column> {
    row.columns()
        .iter()
        .map(|c| Column {
            name: c.name().to_owned(),
            data_type: data_type(c.type_info()),
        })
        .collect()
}

/// One row as `db-value`s; the error is the text Spin's `query-failed`
/// carries for a column its driver refuses.
pub fn row(row: &PgRow) -> Result<Vec<DbValue>, String> {
    (0..row.len()).map(|i| value(row, i)).collect()
}

fn value(row: &PgRow, i: usize) -> Result<DbValue, String> {
    let ty = row.columns()[i].type_info();
    let Some(kind) = ty.oid().map(|o| o.0) else {
        return raw(row, i);
    };
    match kind {
        oid::BOOL => get(row, i, DbValue::Boolean),
        oid::BYTEA => get(row, i, DbValue::Binary),
        oid::FLOAT4 => get(row, i, DbValue::Floating32),
        oid::FLOAT8 => get(row, i, DbValue::Floating64),
        oid::INT2 => get(row, i, DbValue::Int16),
        oid::INT4 => get(row, i, DbValue::Int32),
        oid::INT8 => get(row, i, DbValue::Int64),
        oid::TEXT | oid::VARCHAR | oid::BPCHAR => get(row, i, DbValue::Str),
        oid::TIMESTAMP => get(row, i, |t: NaiveDateTime| {
            DbValue::Datetime((
                t.year(),
                t.month() as u8,
                t.day() as u8,
                t.hour() as u8,
                t.minute() as u8,
                t.second() as u8,
                t.nanosecond(),
            ))
        }),
        oid::TIMESTAMPTZ => Err(format!(
            "error deserializing column {i}\n\nCaused by:\n    cannot convert between the Rust \
             type `core::option::Option<chrono::naive::datetime::NaiveDateTime>` and the \
             Postgres type `timestamptz`"
        )),
        oid::DATE => get(row, i, |d: NaiveDate| {
            DbValue::Date((d.year(), d.month() as u8, d.day() as u8))
        }),
        oid::TIME => get(row, i, |t: NaiveTime| {
            DbValue::Time((
                t.hour() as u8,
                t.minute() as u8,
                t.second() as u8,
                t.nanosecond(),
            ))
        }),
        oid::UUID => get(row, i, |u: uuid::Uuid| DbValue::Uuid(u.to_string())),
        oid::JSONB => get(row, i, |v: serde_json::Value| {
            // Serialising a parsed JSON value cannot fail.
            DbValue::Jsonb(serde_json::to_vec(&v).unwrap_or_default())
        }),
        oid::NUMERIC => get(row, i, |d: Decimal| DbValue::Decimal(d.to_string())),
        oid::INT4RANGE => get(row, i, |r: PgRange<i32>| {
            DbValue::RangeInt32(range(r, |v| v))
        }),
        oid::INT8RANGE => get(row, i, |r: PgRange<i64>| {
            DbValue::RangeInt64(range(r, |v| v))
        }),
        oid::NUMRANGE => get(row, i, |r: PgRange<Decimal>| {
            DbValue::RangeDecimal(range(r, |d| d.to_string()))
        }),
        oid::INT4_ARRAY => get(row, i, DbValue::ArrayInt32),
        oid::INT8_ARRAY => get(row, i, DbValue::ArrayInt64),
        oid::NUMERIC_ARRAY => get(row, i, |v: Vec<Option<Decimal>>| {
            DbValue::ArrayDecimal(v.into_iter().map(|d| d.map(|d| d.to_string())).collect())
        }),
        oid::TEXT_ARRAY | oid::VARCHAR_ARRAY | oid::BPCHAR_ARRAY => get(row, i, DbValue::ArrayStr),
        oid::INTERVAL => get(row, i, |v: PgInterval| {
            DbValue::Interval(Interval {
                micros: v.microseconds,
                days: v.days,
                months: v.months,
            })
        }),
        _ => raw(row, i),
    }
}

/// Column `i` decoded as `T` (NULL → `db-null`).
fn get<'r, T>(row: &'r PgRow, i: usize, ctor: impl FnOnce(T) -> DbValue) -> Result<DbValue, String>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get_unchecked::<Option<T>, _>(i)
        .map(|v| v.map_or(DbValue::DbNull, ctor))
        .map_err(|e| format!("error deserializing column {i}\n\nCaused by:\n    {e}"))
}

/// A type Spin does not map: its raw (binary) bytes.
fn raw(row: &PgRow, i: usize) -> Result<DbValue, String> {
    let value = row.try_get_raw(i).map_err(|e| e.to_string())?;
    if value.is_null() {
        return Ok(DbValue::DbNull);
    }
    Ok(DbValue::Unsupported(
        value.as_bytes().map(<[u8]>::to_vec).unwrap_or_default(),
    ))
}

type WitRange<T> = (Option<(T, RangeBoundKind)>, Option<(T, RangeBoundKind)>);

fn range<T, W>(r: PgRange<T>, convert: impl Fn(T) -> W) -> WitRange<W> {
    let bound = |b: Bound<T>| match b {
        Bound::Included(v) => Some((convert(v), RangeBoundKind::Inclusive)),
        Bound::Excluded(v) => Some((convert(v), RangeBoundKind::Exclusive)),
        Bound::Unbounded => None,
    };
    (bound(r.start), bound(r.end))
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use sqlx::Type;
    use sqlx::postgres::Postgres;

    use super::*;

    fn ty<T: Type<Postgres>>() -> PgTypeInfo {
        T::type_info()
    }

    /// Spin's `convert_data_type`, type by type; unmapped types report
    /// PostgreSQL's typname (more, with `json` and `name`, in `parity`).
    #[test]
    fn data_types_follow_spin() {
        let cases = [
            (ty::<bool>(), DbDataType::Boolean),
            (ty::<i16>(), DbDataType::Int16),
            (ty::<i64>(), DbDataType::Int64),
            (ty::<DateTime<Utc>>(), DbDataType::Datetime),
            (ty::<NaiveDateTime>(), DbDataType::Datetime),
            (ty::<sqlx::types::Json<()>>(), DbDataType::Jsonb),
            (ty::<PgRange<Decimal>>(), DbDataType::RangeDecimal),
            (ty::<Vec<String>>(), DbDataType::ArrayStr),
            (ty::<i8>(), DbDataType::Other("char".into())),
            (ty::<Vec<uuid::Uuid>>(), DbDataType::Other("_uuid".into())),
            (ty::<Vec<bool>>(), DbDataType::Other("_bool".into())),
        ];
        for (ty, expected) in cases {
            assert_eq!(
                format!("{:?}", data_type(&ty)),
                format!("{expected:?}"),
                "{ty:?}"
            );
        }
    }
}

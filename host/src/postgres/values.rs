//! `parameter-value`s → the Rust values Spin binds for them, converted as
//! Spin's `spin:postgres` converts them (seconds for `timestamp`, exact
//! decimals, validated uuids and dates); [`super::params`] then checks each
//! against its parameter's type.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use rust_decimal::Decimal;
use sqlx::postgres::types::{PgInterval, PgRange};
use std::ops::Bound;

use crate::bindings::postgres::{ParameterValue, RangeBoundKind};

/// A parameter converted to the Rust value Spin binds for it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Text(String),
    Bytes(Vec<u8>),
    Date(NaiveDate),
    Time(NaiveTime),
    Datetime(NaiveDateTime),
    Timestamp(DateTime<Utc>),
    Uuid(uuid::Uuid),
    Json(serde_json::Value),
    Decimal(Decimal),
    RangeI32(PgRange<i32>),
    RangeI64(PgRange<i64>),
    RangeDecimal(PgRange<Decimal>),
    ArrayI32(Vec<Option<i32>>),
    ArrayI64(Vec<Option<i64>>),
    ArrayDecimal(Vec<Option<Decimal>>),
    ArrayText(Vec<Option<String>>),
    Interval(PgInterval),
    Null,
}

/// Converts the guest's parameters; the error is Spin's message for the
/// first value that does not convert (a malformed uuid, decimal, date…).
pub fn convert(params: Vec<ParameterValue>) -> Result<Vec<Value>, String> {
    params.into_iter().map(value).collect()
}

fn value(param: ParameterValue) -> Result<Value, String> {
    Ok(match param {
        ParameterValue::Boolean(v) => Value::Bool(v),
        ParameterValue::Int8(v) => Value::I8(v),
        ParameterValue::Int16(v) => Value::I16(v),
        ParameterValue::Int32(v) => Value::I32(v),
        ParameterValue::Int64(v) => Value::I64(v),
        ParameterValue::Floating32(v) => Value::F32(v),
        ParameterValue::Floating64(v) => Value::F64(v),
        ParameterValue::Str(v) => Value::Text(v),
        ParameterValue::Binary(v) => Value::Bytes(v),
        ParameterValue::Date((y, m, d)) => Value::Date(date(y, m, d)?),
        ParameterValue::Time((h, mi, s, ns)) => Value::Time(time(h, mi, s, ns)?),
        ParameterValue::Datetime((y, mo, d, h, mi, s, ns)) => {
            Value::Datetime(NaiveDateTime::new(date(y, mo, d)?, time(h, mi, s, ns)?))
        }
        // Seconds since the epoch, as Spin reads them.
        ParameterValue::Timestamp(v) => Value::Timestamp(
            DateTime::<Utc>::from_timestamp(v, 0)
                .ok_or_else(|| format!("invalid epoch timestamp {v}"))?,
        ),
        ParameterValue::Uuid(v) => {
            Value::Uuid(uuid::Uuid::parse_str(&v).map_err(|e| format!("invalid UUID {v}: {e}"))?)
        }
        ParameterValue::Jsonb(v) => Value::Json(
            serde_json::from_slice(&v)
                .map_err(|e| format!("invalid JSON {}: {e}", String::from_utf8_lossy(&v)))?,
        ),
        ParameterValue::Decimal(v) => Value::Decimal(decimal(&v)?),
        ParameterValue::RangeInt32((lower, upper)) => Value::RangeI32(range(lower, upper, Ok)?),
        ParameterValue::RangeInt64((lower, upper)) => Value::RangeI64(range(lower, upper, Ok)?),
        ParameterValue::RangeDecimal((lower, upper)) => {
            Value::RangeDecimal(range(lower, upper, |d: String| decimal(&d))?)
        }
        ParameterValue::ArrayInt32(v) => Value::ArrayI32(v),
        ParameterValue::ArrayInt64(v) => Value::ArrayI64(v),
        ParameterValue::ArrayDecimal(v) => Value::ArrayDecimal(
            v.iter()
                .map(|d| d.as_deref().map(decimal).transpose())
                .collect::<Result<_, _>>()?,
        ),
        ParameterValue::ArrayStr(v) => Value::ArrayText(v),
        ParameterValue::Interval(v) => Value::Interval(PgInterval {
            months: v.months,
            days: v.days,
            microseconds: v.micros,
        }),
        ParameterValue::DbNull => Value::Null,
    })
}

fn date(y: i32, m: u8, d: u8) -> Result<NaiveDate, String> {
    NaiveDate::from_ymd_opt(y, m.into(), d.into())
        .ok_or_else(|| format!("invalid date y={y}, m={m}, d={d}"))
}

fn time(h: u8, mi: u8, s: u8, ns: u32) -> Result<NaiveTime, String> {
    NaiveTime::from_hms_nano_opt(h.into(), mi.into(), s.into(), ns)
        .ok_or_else(|| format!("invalid time {h}:{mi}:{s}:{ns}"))
}

/// Spin parses decimals exactly (`Decimal::from_str_exact`): no rounding.
fn decimal(raw: &str) -> Result<Decimal, String> {
    Decimal::from_str_exact(raw).map_err(|e| format!("invalid decimal {raw}: {e}"))
}

type WitBound<T> = Option<(T, RangeBoundKind)>;

fn range<W, T>(
    lower: WitBound<W>,
    upper: WitBound<W>,
    convert: impl Fn(W) -> Result<T, String>,
) -> Result<PgRange<T>, String> {
    let bound = |b: WitBound<W>| -> Result<Bound<T>, String> {
        Ok(match b {
            None => Bound::Unbounded,
            Some((v, RangeBoundKind::Inclusive)) => Bound::Included(convert(v)?),
            Some((v, RangeBoundKind::Exclusive)) => Bound::Excluded(convert(v)?),
        })
    };
    Ok(PgRange {
        start: bound(lower)?,
        end: bound(upper)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values convert as Spin converts them: seconds for `timestamp`,
    /// exact decimals, validated uuids and dates.
    #[test]
    fn values_convert_as_spin_converts_them() {
        assert_eq!(
            value(ParameterValue::Timestamp(3_723)).unwrap(),
            Value::Timestamp(DateTime::<Utc>::from_timestamp(3_723, 0).unwrap())
        );
        assert!(value(ParameterValue::Uuid("not-a-uuid".into())).is_err());
        assert!(value(ParameterValue::Decimal("1.5e3".into())).is_err());
        assert_eq!(
            value(ParameterValue::Decimal("12.30".into())).unwrap(),
            Value::Decimal(Decimal::new(1230, 2))
        );
        assert!(value(ParameterValue::Date((2026, 2, 30))).is_err());
        assert!(value(ParameterValue::Jsonb(b"{".to_vec())).is_err());
        assert_eq!(
            value(ParameterValue::RangeInt32((
                Some((1, RangeBoundKind::Inclusive)),
                None
            )))
            .unwrap(),
            Value::RangeI32(PgRange {
                start: Bound::Included(1),
                end: Bound::Unbounded
            })
        );
    }
}

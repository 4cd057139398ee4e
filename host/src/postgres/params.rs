//! `parameter-value`s → sqlx arguments, converted and type-checked exactly
//! as Spin's `spin:postgres` does (its `factor-outbound-pg` `types.rs` on
//! tokio-postgres): a value is first converted to the Rust type Spin uses
//! for it, then bound only to a parameter whose type (as PostgreSQL infers
//! it from the statement) that Rust type accepts in tokio-postgres. So a
//! text bound to a `uuid` parameter, or an `int4` to an `int8` one, is
//! refused here as it is under Spin, instead of being coerced.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use rust_decimal::Decimal;
use sqlx::postgres::types::{Oid, PgInterval, PgRange};
use sqlx::postgres::{PgArguments, PgTypeInfo, PgTypeKind};
use sqlx::{Arguments as _, TypeInfo as _};
use std::ops::Bound;

use super::oid;
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

impl Value {
    /// Whether tokio-postgres binds this value's Rust type to a parameter
    /// of type `ty` (its `ToSql::accepts`).
    pub fn accepts(&self, ty: &PgTypeInfo) -> bool {
        let is = |oid: u32| ty.oid() == Some(Oid(oid));
        match self {
            Value::Bool(_) => is(oid::BOOL),
            Value::I8(_) => is(oid::CHAR),
            Value::I16(_) => is(oid::INT2),
            Value::I32(_) => is(oid::INT4),
            Value::I64(_) => is(oid::INT8),
            Value::F32(_) => is(oid::FLOAT4),
            Value::F64(_) => is(oid::FLOAT8),
            Value::Text(_) => text_accepts(ty),
            Value::Bytes(_) => is(oid::BYTEA),
            Value::Date(_) => is(oid::DATE),
            Value::Time(_) => is(oid::TIME),
            Value::Datetime(_) => is(oid::TIMESTAMP),
            Value::Timestamp(_) => is(oid::TIMESTAMPTZ),
            Value::Uuid(_) => is(oid::UUID),
            Value::Json(_) => is(oid::JSON) || is(oid::JSONB),
            Value::Decimal(_) => is(oid::NUMERIC),
            Value::RangeI32(_) => range_of(ty, oid::INT4),
            Value::RangeI64(_) => range_of(ty, oid::INT8),
            Value::RangeDecimal(_) => range_of(ty, oid::NUMERIC),
            Value::ArrayI32(_) => element(ty).is_some_and(|e| e.oid() == Some(Oid(oid::INT4))),
            Value::ArrayI64(_) => element(ty).is_some_and(|e| e.oid() == Some(Oid(oid::INT8))),
            Value::ArrayDecimal(_) => {
                element(ty).is_some_and(|e| e.oid() == Some(Oid(oid::NUMERIC)))
            }
            Value::ArrayText(_) => element(ty).is_some_and(|e| text_accepts(&e)),
            Value::Interval(_) => is(oid::INTERVAL),
            Value::Null => true,
        }
    }

    /// The Rust type Spin binds, as tokio-postgres names it in errors.
    pub fn rust_type(&self) -> &'static str {
        match self {
            Value::Bool(_) => "bool",
            Value::I8(_) => "i8",
            Value::I16(_) => "i16",
            Value::I32(_) => "i32",
            Value::I64(_) => "i64",
            Value::F32(_) => "f32",
            Value::F64(_) => "f64",
            Value::Text(_) => "alloc::string::String",
            Value::Bytes(_) => "alloc::vec::Vec<u8>",
            Value::Date(_) => "chrono::naive::date::NaiveDate",
            Value::Time(_) => "chrono::naive::time::NaiveTime",
            Value::Datetime(_) => "chrono::naive::datetime::NaiveDateTime",
            Value::Timestamp(_) => "chrono::datetime::DateTime<chrono::offset::utc::Utc>",
            Value::Uuid(_) => "uuid::Uuid",
            Value::Json(_) => "serde_json::value::Value",
            Value::Decimal(_) => "rust_decimal::decimal::Decimal",
            Value::RangeI32(_) => "postgres_range::Range<i32>",
            Value::RangeI64(_) => "postgres_range::Range<i64>",
            Value::RangeDecimal(_) => "postgres_range::Range<RangeableDecimal>",
            Value::ArrayI32(_) => "alloc::vec::Vec<core::option::Option<i32>>",
            Value::ArrayI64(_) => "alloc::vec::Vec<core::option::Option<i64>>",
            Value::ArrayDecimal(_) => {
                "alloc::vec::Vec<core::option::Option<rust_decimal::decimal::Decimal>>"
            }
            Value::ArrayText(_) => "alloc::vec::Vec<core::option::Option<alloc::string::String>>",
            Value::Interval(_) => "Interval",
            Value::Null => "PgNull",
        }
    }

    /// Adds the value, encoded for a parameter of type `ty`.
    fn add_to(
        self,
        ty: &PgTypeInfo,
        args: &mut PgArguments,
    ) -> Result<(), sqlx::error::BoxDynError> {
        match self {
            Value::Bool(v) => args.add(v),
            Value::I8(v) => args.add(v),
            Value::I16(v) => args.add(v),
            Value::I32(v) => args.add(v),
            Value::I64(v) => args.add(v),
            Value::F32(v) => args.add(v),
            Value::F64(v) => args.add(v),
            Value::Text(v) => args.add(v),
            Value::Bytes(v) => args.add(v),
            Value::Date(v) => args.add(v),
            Value::Time(v) => args.add(v),
            Value::Datetime(v) => args.add(v),
            Value::Timestamp(v) => args.add(v),
            Value::Uuid(v) => args.add(v),
            Value::Json(v) => args.add(sqlx::types::Json(v)),
            Value::Decimal(v) => args.add(v),
            Value::RangeI32(v) => args.add(v),
            Value::RangeI64(v) => args.add(v),
            Value::RangeDecimal(v) => args.add(v),
            Value::ArrayI32(v) => args.add(v),
            Value::ArrayI64(v) => args.add(v),
            Value::ArrayDecimal(v) => args.add(v),
            // The element type travels in an array's binary form: write the
            // parameter's own (varchar, name…), as tokio-postgres does.
            Value::ArrayText(values) => args.add(TextArray {
                element: element(ty).and_then(|e| e.oid()).unwrap_or(Oid(oid::TEXT)),
                values,
            }),
            Value::Interval(v) => args.add(v),
            Value::Null => args.add(UntypedNull),
        }
    }
}

/// tokio-postgres' `String` accepts the text types, `name`, `unknown` and
/// the extension types it knows are text.
fn text_accepts(ty: &PgTypeInfo) -> bool {
    matches!(
        ty.oid().map(|o| o.0),
        Some(oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME | oid::UNKNOWN)
    ) || matches!(ty.name(), "citext" | "ltree" | "lquery" | "ltxtquery")
}

/// OIDs from here on are user-defined (`FirstNormalObjectId`): only those
/// need their kind looked up; built-in types are known by OID.
const FIRST_USER_OID: u32 = 16_384;

fn user_defined(ty: &PgTypeInfo) -> bool {
    ty.oid().is_some_and(|o| o.0 >= FIRST_USER_OID)
}

/// The element type of an array type.
fn element(ty: &PgTypeInfo) -> Option<PgTypeInfo> {
    let builtin = match ty.oid()?.0 {
        oid::INT4_ARRAY => oid::INT4,
        oid::INT8_ARRAY => oid::INT8,
        oid::NUMERIC_ARRAY => oid::NUMERIC,
        oid::TEXT_ARRAY => oid::TEXT,
        oid::VARCHAR_ARRAY => oid::VARCHAR,
        oid::BPCHAR_ARRAY => oid::BPCHAR,
        oid::NAME_ARRAY => oid::NAME,
        _ if user_defined(ty) => {
            return match ty.kind() {
                PgTypeKind::Array(element) => Some(element.clone()),
                _ => None,
            };
        }
        _ => return None,
    };
    Some(PgTypeInfo::with_oid(Oid(builtin)))
}

/// Whether `ty` is a range over `subtype`.
fn range_of(ty: &PgTypeInfo, subtype: u32) -> bool {
    let builtin = match ty.oid().map(|o| o.0) {
        Some(oid::INT4RANGE) => oid::INT4,
        Some(oid::INT8RANGE) => oid::INT8,
        Some(oid::NUMRANGE) => oid::NUMERIC,
        _ if user_defined(ty) => {
            return matches!(ty.kind(), PgTypeKind::Range(sub) if sub.oid() == Some(Oid(subtype)));
        }
        _ => return false,
    };
    builtin == subtype
}

/// Binds `values` to a statement whose parameters PostgreSQL inferred as
/// `types`; the error is tokio-postgres' (as Spin reports it) when the count
/// differs or a value's type does not fit its parameter.
pub fn bind(values: Vec<Value>, types: &[PgTypeInfo]) -> Result<PgArguments, String> {
    if values.len() != types.len() {
        return Err(format!(
            "Error {{ kind: Parameters({}, {}), cause: None }}",
            values.len(),
            types.len()
        ));
    }
    if let Some((i, (v, ty))) = values
        .iter()
        .zip(types)
        .enumerate()
        .find(|(_, (v, ty))| !v.accepts(ty))
    {
        return Err(format!(
            "Error {{ kind: ToSql({i}), cause: Some(WrongType {{ postgres: {}, rust: \"{}\" }}) }}",
            super::columns::pg_name(ty),
            v.rust_type()
        ));
    }
    let mut args = PgArguments::default();
    for (i, (v, ty)) in values.into_iter().zip(types).enumerate() {
        v.add_to(ty, &mut args)
            .map_err(|e| format!("Error {{ kind: ToSql({i}), cause: Some({e}) }}"))?;
    }
    Ok(args)
}

/// A NULL of no particular type: it fits any parameter (Spin's `PgNull`).
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

/// A one-dimensional array of text values whose element type is `element`
/// (PostgreSQL refuses a binary array whose element type differs from the
/// parameter's, so a `text[]` encoding cannot feed a `varchar[]`).
struct TextArray {
    element: Oid,
    values: Vec<Option<String>>,
}

impl sqlx::Type<sqlx::Postgres> for TextArray {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(oid::TEXT_ARRAY))
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for TextArray {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        let len = i32::try_from(self.values.len())?;
        buf.extend_from_slice(&1_i32.to_be_bytes()); // dimensions
        buf.extend_from_slice(&i32::from(self.values.iter().any(Option::is_none)).to_be_bytes());
        buf.extend_from_slice(&self.element.0.to_be_bytes());
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(&1_i32.to_be_bytes()); // lower bound
        for value in &self.values {
            match value {
                None => buf.extend_from_slice(&(-1_i32).to_be_bytes()),
                Some(text) => {
                    buf.extend_from_slice(&i32::try_from(text.len())?.to_be_bytes());
                    buf.extend_from_slice(text.as_bytes());
                }
            }
        }
        Ok(sqlx::encode::IsNull::No)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(oid: u32) -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(oid))
    }

    /// Which parameter types each value binds to, from Spin's mapping
    /// (tokio-postgres' `ToSql::accepts` for the Rust type Spin uses).
    #[test]
    fn each_value_binds_only_to_the_types_spin_binds_it_to() {
        let text = Value::Text("x".into());
        for oid in [
            oid::TEXT,
            oid::VARCHAR,
            oid::BPCHAR,
            oid::NAME,
            oid::UNKNOWN,
        ] {
            assert!(text.accepts(&ty(oid)), "text → {oid}");
        }
        for oid in [
            oid::UUID,
            oid::INT4,
            oid::JSONB,
            oid::TIMESTAMPTZ,
            oid::DATE,
        ] {
            assert!(!text.accepts(&ty(oid)), "text must not bind to {oid}");
        }
        let cases: &[(Value, u32, &[u32])] = &[
            (Value::Bool(true), oid::BOOL, &[oid::INT4, oid::TEXT]),
            (Value::I8(1), oid::CHAR, &[oid::INT2]),
            (Value::I16(1), oid::INT2, &[oid::INT4, oid::INT8]),
            (
                Value::I32(1),
                oid::INT4,
                &[oid::INT2, oid::INT8, oid::NUMERIC],
            ),
            (Value::I64(1), oid::INT8, &[oid::INT4, oid::NUMERIC]),
            (Value::F32(1.0), oid::FLOAT4, &[oid::FLOAT8]),
            (Value::F64(1.0), oid::FLOAT8, &[oid::FLOAT4, oid::NUMERIC]),
            (Value::Bytes(vec![]), oid::BYTEA, &[oid::TEXT]),
            (
                Value::Datetime(NaiveDateTime::default()),
                oid::TIMESTAMP,
                &[oid::TIMESTAMPTZ],
            ),
            (
                Value::Timestamp(DateTime::<Utc>::default()),
                oid::TIMESTAMPTZ,
                &[oid::TIMESTAMP],
            ),
            (Value::Uuid(uuid::Uuid::nil()), oid::UUID, &[oid::TEXT]),
            (Value::Json(serde_json::json!({})), oid::JSONB, &[oid::TEXT]),
            (Value::Json(serde_json::json!({})), oid::JSON, &[]),
            (Value::Decimal(Decimal::ONE), oid::NUMERIC, &[oid::FLOAT8]),
            (Value::ArrayI32(vec![]), oid::INT4_ARRAY, &[oid::INT8_ARRAY]),
            (Value::ArrayI64(vec![]), oid::INT8_ARRAY, &[oid::INT4_ARRAY]),
            (
                Value::ArrayText(vec![]),
                oid::TEXT_ARRAY,
                &[oid::UUID_ARRAY, oid::TEXT],
            ),
            (Value::ArrayText(vec![]), oid::VARCHAR_ARRAY, &[]),
            (
                Value::ArrayDecimal(vec![]),
                oid::NUMERIC_ARRAY,
                &[oid::INT8_ARRAY],
            ),
            (
                Value::RangeI32(PgRange::from(1..2)),
                oid::INT4RANGE,
                &[oid::INT8RANGE],
            ),
            (
                Value::RangeI64(PgRange::from(1..2)),
                oid::INT8RANGE,
                &[oid::INT4RANGE],
            ),
            (
                Value::Interval(PgInterval::default()),
                oid::INTERVAL,
                &[oid::TIME],
            ),
        ];
        for (value, fits, refused) in cases {
            assert!(value.accepts(&ty(*fits)), "{value:?} → {fits}");
            for oid in *refused {
                assert!(
                    !value.accepts(&ty(*oid)),
                    "{value:?} must not bind to {oid}"
                );
            }
        }
        assert!(Value::Null.accepts(&ty(oid::UUID)) && Value::Null.accepts(&ty(oid::INT8)));
    }

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

    /// The count and every type are checked before anything is sent.
    #[test]
    fn binding_checks_count_and_types() {
        let err = bind(vec![Value::Text("x".into())], &[ty(oid::UUID)]).unwrap_err();
        assert!(err.contains("WrongType") && err.contains("String"), "{err}");
        let err = bind(vec![], &[ty(oid::INT4)]).unwrap_err();
        assert!(err.contains("Parameters(0, 1)"), "{err}");
        assert!(
            bind(
                vec![Value::I64(1), Value::Null],
                &[ty(oid::INT8), ty(oid::UUID)]
            )
            .is_ok()
        );
    }
}

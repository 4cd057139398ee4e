//! `parameter-value`s → sqlx arguments, converted and type-checked exactly
//! as Spin's `spin:postgres` does (its `factor-outbound-pg` `types.rs` on
//! tokio-postgres): a value is first converted to the Rust type Spin uses
//! for it, then bound only to a parameter whose type (as PostgreSQL infers
//! it from the statement) that Rust type accepts in tokio-postgres. So a
//! text bound to a `uuid` parameter, or an `int4` to an `int8` one, is
//! refused here as it is under Spin, instead of being coerced.

use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgArguments, PgTypeInfo, PgTypeKind};
use sqlx::{Arguments as _, TypeInfo as _};

use super::encode::{TextArray, UntypedNull};
use super::oid;
use super::values::Value;

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

#[cfg(test)]
mod tests {
    use chrono::{DateTime, NaiveDateTime, Utc};
    use rust_decimal::Decimal;
    use sqlx::postgres::types::{PgInterval, PgRange};

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

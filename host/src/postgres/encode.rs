//! Two encodings Spin's driver has and sqlx lacks: a NULL of no particular
//! type, and a text array whose element type is the parameter's own.

use sqlx::postgres::PgTypeInfo;
use sqlx::postgres::types::Oid;

use super::oid;

/// A NULL of no particular type: it fits any parameter (Spin's `PgNull`).
pub(super) struct UntypedNull;

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
pub(super) struct TextArray {
    pub(super) element: Oid,
    pub(super) values: Vec<Option<String>>,
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

//! `spin:postgres@3.0.0` and `fermyon:spin/postgres@2.0.0`, the PostgreSQL
//! interfaces of spin-sdk 2 to 5 guests: each call converted to 4.x,
//! served by the 4.x host functions, and its answer converted back, as
//! Spin's `spin-world` conversions do. A value or column type the older
//! interface cannot carry is `unsupported` / `other`; 2.0's unsigned
//! parameters are refused with `value-conversion-failed`.

use wasmtime::component::Resource;

use super::Connection;
use super::host::PgHost;
use crate::bindings::postgres as v4;
use crate::bindings::postgres_older::{v2, v2_types, v3};

type Outcome<T, E> = wasmtime::Result<Result<T, E>>;

impl v3::Host for PgHost<'_> {}

impl v3::HostConnection for PgHost<'_> {
    async fn open(&mut self, address: String) -> Outcome<Resource<Connection>, v3::Error> {
        Ok(v4::HostConnection::open(self, address)
            .await?
            .map_err(Into::into))
    }

    async fn query(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<v3::ParameterValue>,
    ) -> Outcome<v3::RowSet, v3::Error> {
        let params = params.into_iter().map(Into::into).collect();
        let rows = v4::HostConnection::query(self, connection, statement, params).await?;
        Ok(rows.map(Into::into).map_err(Into::into))
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<v3::ParameterValue>,
    ) -> Outcome<u64, v3::Error> {
        let params = params.into_iter().map(Into::into).collect();
        let count = v4::HostConnection::execute(self, connection, statement, params).await?;
        Ok(count.map_err(Into::into))
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        v4::HostConnection::drop(self, connection).await
    }
}

impl v2_types::Host for PgHost<'_> {}

impl v2::Host for PgHost<'_> {}

impl v2::HostConnection for PgHost<'_> {
    async fn open(&mut self, address: String) -> Outcome<Resource<Connection>, v2_types::Error> {
        Ok(v4::HostConnection::open(self, address)
            .await?
            .map_err(Into::into))
    }

    async fn query(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<v2_types::ParameterValue>,
    ) -> Outcome<v2_types::RowSet, v2_types::Error> {
        let params = match v2_params(params) {
            Ok(params) => params,
            Err(refused) => return Ok(Err(refused)),
        };
        let rows = v4::HostConnection::query(self, connection, statement, params).await?;
        Ok(rows.map(Into::into).map_err(Into::into))
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<v2_types::ParameterValue>,
    ) -> Outcome<u64, v2_types::Error> {
        let params = match v2_params(params) {
            Ok(params) => params,
            Err(refused) => return Ok(Err(refused)),
        };
        let count = v4::HostConnection::execute(self, connection, statement, params).await?;
        Ok(count.map_err(Into::into))
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        v4::HostConnection::drop(self, connection).await
    }
}

/// 2.0 parameters as 4.x ones; PostgreSQL has no unsigned integers.
fn v2_params(
    params: Vec<v2_types::ParameterValue>,
) -> Result<Vec<v4::ParameterValue>, v2_types::Error> {
    use v2_types::ParameterValue as P2;
    use v4::ParameterValue as P4;
    params
        .into_iter()
        .map(|param| {
            Ok(match param {
                P2::Boolean(b) => P4::Boolean(b),
                P2::Int8(i) => P4::Int8(i),
                P2::Int16(i) => P4::Int16(i),
                P2::Int32(i) => P4::Int32(i),
                P2::Int64(i) => P4::Int64(i),
                P2::Uint8(_) | P2::Uint16(_) | P2::Uint32(_) | P2::Uint64(_) => {
                    return Err(v2_types::Error::ValueConversionFailed(
                        "Postgres does not support unsigned integers".to_owned(),
                    ));
                }
                P2::Floating32(f) => P4::Floating32(f),
                P2::Floating64(f) => P4::Floating64(f),
                P2::Str(s) => P4::Str(s),
                P2::Binary(b) => P4::Binary(b),
                P2::DbNull => P4::DbNull,
            })
        })
        .collect()
}

impl From<v3::ParameterValue> for v4::ParameterValue {
    fn from(param: v3::ParameterValue) -> Self {
        use v3::ParameterValue as P3;
        match param {
            P3::Boolean(b) => Self::Boolean(b),
            P3::Int8(i) => Self::Int8(i),
            P3::Int16(i) => Self::Int16(i),
            P3::Int32(i) => Self::Int32(i),
            P3::Int64(i) => Self::Int64(i),
            P3::Floating32(f) => Self::Floating32(f),
            P3::Floating64(f) => Self::Floating64(f),
            P3::Str(s) => Self::Str(s),
            P3::Binary(b) => Self::Binary(b),
            P3::Date(d) => Self::Date(d),
            P3::Time(t) => Self::Time(t),
            P3::Datetime(dt) => Self::Datetime(dt),
            P3::Timestamp(t) => Self::Timestamp(t),
            P3::DbNull => Self::DbNull,
        }
    }
}

/// The text of a 4.x query error, where the older interfaces carry a string.
fn error_text(error: v4::QueryError) -> String {
    match error {
        v4::QueryError::Text(text) => text,
        v4::QueryError::DbError(report) => report.as_text,
    }
}

impl From<v4::Error> for v3::Error {
    fn from(error: v4::Error) -> Self {
        match error {
            v4::Error::ConnectionFailed(e) => Self::ConnectionFailed(e),
            v4::Error::BadParameter(e) => Self::BadParameter(e),
            v4::Error::QueryFailed(e) => Self::QueryFailed(error_text(e)),
            v4::Error::ValueConversionFailed(e) => Self::ValueConversionFailed(e),
            v4::Error::Other(e) => Self::Other(e),
        }
    }
}

impl From<v4::Error> for v2_types::Error {
    fn from(error: v4::Error) -> Self {
        match error {
            v4::Error::ConnectionFailed(e) => Self::ConnectionFailed(e),
            v4::Error::BadParameter(e) => Self::BadParameter(e),
            v4::Error::QueryFailed(e) => Self::QueryFailed(error_text(e)),
            v4::Error::ValueConversionFailed(e) => Self::ValueConversionFailed(e),
            v4::Error::Other(e) => Self::Other(e),
        }
    }
}

impl From<v4::RowSet> for v3::RowSet {
    fn from(set: v4::RowSet) -> Self {
        Self {
            columns: set.columns.into_iter().map(Into::into).collect(),
            rows: set
                .rows
                .into_iter()
                .map(|row| row.into_iter().map(Into::into).collect())
                .collect(),
        }
    }
}

impl From<v4::RowSet> for v2_types::RowSet {
    fn from(set: v4::RowSet) -> Self {
        Self {
            columns: set.columns.into_iter().map(Into::into).collect(),
            rows: set
                .rows
                .into_iter()
                .map(|row| row.into_iter().map(Into::into).collect())
                .collect(),
        }
    }
}

impl From<v4::Column> for v3::Column {
    fn from(column: v4::Column) -> Self {
        Self {
            name: column.name,
            data_type: column.data_type.into(),
        }
    }
}

impl From<v4::Column> for v2_types::Column {
    fn from(column: v4::Column) -> Self {
        Self {
            name: column.name,
            data_type: column.data_type.into(),
        }
    }
}

impl From<v4::DbDataType> for v3::DbDataType {
    fn from(data_type: v4::DbDataType) -> Self {
        use v4::DbDataType as T4;
        match data_type {
            T4::Boolean => Self::Boolean,
            T4::Int8 => Self::Int8,
            T4::Int16 => Self::Int16,
            T4::Int32 => Self::Int32,
            T4::Int64 => Self::Int64,
            T4::Floating32 => Self::Floating32,
            T4::Floating64 => Self::Floating64,
            T4::Str => Self::Str,
            T4::Binary => Self::Binary,
            T4::Date => Self::Date,
            T4::Time => Self::Time,
            T4::Datetime => Self::Datetime,
            T4::Timestamp => Self::Timestamp,
            _ => Self::Other,
        }
    }
}

impl From<v4::DbDataType> for v2_types::DbDataType {
    fn from(data_type: v4::DbDataType) -> Self {
        use v4::DbDataType as T4;
        match data_type {
            T4::Boolean => Self::Boolean,
            T4::Int8 => Self::Int8,
            T4::Int16 => Self::Int16,
            T4::Int32 => Self::Int32,
            T4::Int64 => Self::Int64,
            T4::Floating32 => Self::Floating32,
            T4::Floating64 => Self::Floating64,
            T4::Str => Self::Str,
            T4::Binary => Self::Binary,
            _ => Self::Other,
        }
    }
}

impl From<v4::DbValue> for v3::DbValue {
    fn from(value: v4::DbValue) -> Self {
        use v4::DbValue as V4;
        match value {
            V4::Boolean(b) => Self::Boolean(b),
            V4::Int8(i) => Self::Int8(i),
            V4::Int16(i) => Self::Int16(i),
            V4::Int32(i) => Self::Int32(i),
            V4::Int64(i) => Self::Int64(i),
            V4::Floating32(f) => Self::Floating32(f),
            V4::Floating64(f) => Self::Floating64(f),
            V4::Str(s) => Self::Str(s),
            V4::Binary(b) => Self::Binary(b),
            V4::Date(d) => Self::Date(d),
            V4::Time(t) => Self::Time(t),
            V4::Datetime(dt) => Self::Datetime(dt),
            V4::Timestamp(t) => Self::Timestamp(t),
            V4::DbNull => Self::DbNull,
            _ => Self::Unsupported,
        }
    }
}

impl From<v4::DbValue> for v2_types::DbValue {
    fn from(value: v4::DbValue) -> Self {
        use v4::DbValue as V4;
        match value {
            V4::Boolean(b) => Self::Boolean(b),
            V4::Int8(i) => Self::Int8(i),
            V4::Int16(i) => Self::Int16(i),
            V4::Int32(i) => Self::Int32(i),
            V4::Int64(i) => Self::Int64(i),
            V4::Floating32(f) => Self::Floating32(f),
            V4::Floating64(f) => Self::Floating64(f),
            V4::Str(s) => Self::Str(s),
            V4::Binary(b) => Self::Binary(b),
            V4::DbNull => Self::DbNull,
            _ => Self::Unsupported,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What 4.x reads that 3.0 cannot carry is `unsupported` (values) or
    /// `other` (column types); 2.0 loses dates and times too.
    #[test]
    fn values_the_older_interfaces_lack_are_unsupported() {
        let when = v4::DbValue::Datetime((2024, 5, 6, 7, 8, 9, 0));
        assert!(matches!(
            v3::DbValue::from(when.clone()),
            v3::DbValue::Datetime((2024, 5, 6, 7, 8, 9, 0))
        ));
        assert!(matches!(
            v2_types::DbValue::from(when),
            v2_types::DbValue::Unsupported
        ));
        let price = v4::DbValue::Decimal("12.50".into());
        assert!(matches!(v3::DbValue::from(price), v3::DbValue::Unsupported));
        assert!(matches!(
            v3::DbDataType::from(v4::DbDataType::Uuid),
            v3::DbDataType::Other
        ));
        assert!(matches!(
            v2_types::DbDataType::from(v4::DbDataType::Timestamp),
            v2_types::DbDataType::Other
        ));
    }

    /// 2.0's unsigned parameters are refused, the rest kept in order.
    #[test]
    fn unsigned_parameters_are_refused() {
        let refused = v2_params(vec![
            v2_types::ParameterValue::Str("a".into()),
            v2_types::ParameterValue::Uint32(7),
        ]);
        assert!(matches!(
            refused,
            Err(v2_types::Error::ValueConversionFailed(m)) if m.contains("unsigned")
        ));
        let kept = v2_params(vec![
            v2_types::ParameterValue::Int16(-3),
            v2_types::ParameterValue::DbNull,
        ])
        .unwrap();
        assert!(matches!(
            kept.as_slice(),
            [v4::ParameterValue::Int16(-3), v4::ParameterValue::DbNull]
        ));
    }

    /// A database's report reaches 3.0 and 2.0 guests as its text.
    #[test]
    fn query_errors_keep_their_text() {
        let report = v4::Error::QueryFailed(v4::QueryError::Text("relation missing".into()));
        assert!(matches!(
            v3::Error::from(report.clone()),
            v3::Error::QueryFailed(t) if t == "relation missing"
        ));
        assert!(matches!(
            v2_types::Error::from(report),
            v2_types::Error::QueryFailed(t) if t == "relation missing"
        ));
    }
}

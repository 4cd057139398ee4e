//! Spin parity against a real PostgreSQL: each type read and each value
//! bound as Spin's `spin:postgres` reads and binds it (its mapping, from
//! `factor-outbound-pg/src/types.rs`), through the same prepare, bind and
//! decode path the host functions use.

use futures::TryStreamExt as _;
use sqlx::Connection as _;
use sqlx::postgres::PgConnection;

use super::columns;
use super::statements::{Refused, bind};
use super::values::Value;
use crate::bindings::postgres::{DbDataType, DbValue, RangeBoundKind};
use crate::cluster::Cluster;

struct Db {
    _dir: tempfile::TempDir,
    cluster: Option<Cluster>,
    conn: PgConnection,
}

impl Db {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let mut cluster = Cluster::start(&dir.path().join("pg")).await.unwrap();
        let urls = cluster
            .ensure_databases(&["parity".to_owned()])
            .await
            .unwrap();
        let conn = PgConnection::connect(&urls["parity"]).await.unwrap();
        Self {
            _dir: dir,
            cluster: Some(cluster),
            conn,
        }
    }

    /// One query, as the host runs it: the columns and values of its first
    /// row, or the text of the error Spin would report.
    async fn one(
        &mut self,
        sql: &str,
        values: Vec<Value>,
    ) -> Result<Vec<(String, DbDataType, DbValue)>, String> {
        let args = match bind(&mut self.conn, sql, values).await {
            Ok(args) => args,
            Err(Refused::Types(text)) => return Err(text),
            Err(Refused::Database(e)) => return Err(e.to_string()),
        };
        let row = sqlx::query_with(sql, args)
            .fetch(&mut self.conn)
            .try_next()
            .await
            .map_err(|e| e.to_string())?
            .expect("one row");
        let values = columns::row(&row)?;
        Ok(columns::columns(&row)
            .into_iter()
            .zip(values)
            .map(|(c, v)| (c.name, c.data_type, v))
            .collect())
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some(cluster) = self.cluster.take() {
            let _ = cluster.stop_blocking();
        }
    }
}

fn dbg<T: std::fmt::Debug>(v: T) -> String {
    format!("{v:?}")
}

/// Every type Spin maps reads as the same `db-value` and `db-data-type`;
/// `json`, `name` and `"char"` are raw bytes (`unsupported`) as in Spin;
/// `timestamptz` is refused, even NULL, as Spin's driver refuses it.
#[tokio::test]
async fn reads_every_type_as_spin_does() {
    let mut db = Db::start().await;
    let row = db
        .one(
            "SELECT true AS b, 1::int2 AS i2, 2::int4 AS i4, 3::int8 AS i8, 1.5::float4 AS f4, \
             2.5::float8 AS f8, 'x'::text AS t, 'y'::varchar AS v, 'z'::char(2) AS c, \
             '\\x01ff'::bytea AS by, '2026-01-02'::date AS d, '03:04:05.5'::time AS tm, \
             '2026-01-02 03:04:05.25'::timestamp AS ts, \
             'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, '{\"a\": 1}'::jsonb AS jb, \
             '{\"a\": 1}'::json AS j, 12.30::numeric AS n, '[1,5)'::int4range AS r4, \
             '(,10]'::int8range AS r8, '{1,NULL}'::int4[] AS a4, '{a,b}'::text[] AS at, \
             '{1.5}'::numeric[] AS an, '1 day 2 hours'::interval AS iv, 'nm'::name AS nm, \
             'q'::\"char\" AS ch, NULL::text AS nl",
            vec![],
        )
        .await
        .unwrap();
    let expected: &[(&str, DbDataType, DbValue)] = &[
        ("b", DbDataType::Boolean, DbValue::Boolean(true)),
        ("i2", DbDataType::Int16, DbValue::Int16(1)),
        ("i4", DbDataType::Int32, DbValue::Int32(2)),
        ("i8", DbDataType::Int64, DbValue::Int64(3)),
        ("f4", DbDataType::Floating32, DbValue::Floating32(1.5)),
        ("f8", DbDataType::Floating64, DbValue::Floating64(2.5)),
        ("t", DbDataType::Str, DbValue::Str("x".into())),
        ("v", DbDataType::Str, DbValue::Str("y".into())),
        ("c", DbDataType::Str, DbValue::Str("z ".into())),
        ("by", DbDataType::Binary, DbValue::Binary(vec![1, 255])),
        ("d", DbDataType::Date, DbValue::Date((2026, 1, 2))),
        (
            "tm",
            DbDataType::Time,
            DbValue::Time((3, 4, 5, 500_000_000)),
        ),
        (
            "ts",
            DbDataType::Datetime,
            DbValue::Datetime((2026, 1, 2, 3, 4, 5, 250_000_000)),
        ),
        (
            "u",
            DbDataType::Uuid,
            DbValue::Uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
        ),
        (
            "jb",
            DbDataType::Jsonb,
            DbValue::Jsonb(br#"{"a":1}"#.to_vec()),
        ),
        (
            "j",
            DbDataType::Other("json".into()),
            DbValue::Unsupported(br#"{"a": 1}"#.to_vec()),
        ),
        ("n", DbDataType::Decimal, DbValue::Decimal("12.30".into())),
        (
            "r4",
            DbDataType::RangeInt32,
            DbValue::RangeInt32((
                Some((1, RangeBoundKind::Inclusive)),
                Some((5, RangeBoundKind::Exclusive)),
            )),
        ),
        (
            "r8",
            DbDataType::RangeInt64,
            DbValue::RangeInt64((None, Some((11, RangeBoundKind::Exclusive)))),
        ),
        (
            "a4",
            DbDataType::ArrayInt32,
            DbValue::ArrayInt32(vec![Some(1), None]),
        ),
        (
            "at",
            DbDataType::ArrayStr,
            DbValue::ArrayStr(vec![Some("a".into()), Some("b".into())]),
        ),
        (
            "an",
            DbDataType::ArrayDecimal,
            DbValue::ArrayDecimal(vec![Some("1.5".into())]),
        ),
        (
            "iv",
            DbDataType::Interval,
            DbValue::Interval(crate::bindings::postgres::Interval {
                micros: 7_200_000_000,
                days: 1,
                months: 0,
            }),
        ),
        (
            "nm",
            DbDataType::Other("name".into()),
            DbValue::Unsupported(b"nm".to_vec()),
        ),
        (
            "ch",
            DbDataType::Other("char".into()),
            DbValue::Unsupported(b"q".to_vec()),
        ),
        ("nl", DbDataType::Str, DbValue::DbNull),
    ];
    assert_eq!(row.len(), expected.len());
    for ((name, ty, value), (want_name, want_ty, want_value)) in row.iter().zip(expected) {
        assert_eq!(name, want_name);
        assert_eq!(dbg(ty), dbg(want_ty), "type of {name}");
        assert_eq!(dbg(value), dbg(want_value), "value of {name}");
    }
    for sql in ["SELECT now() AS t", "SELECT NULL::timestamptz AS t"] {
        let err = db.one(sql, vec![]).await.unwrap_err();
        assert!(err.contains("timestamptz"), "{sql}: {err}");
    }
    let ok = db
        .one("SELECT now() AT TIME ZONE 'UTC' AS t", vec![])
        .await
        .unwrap();
    assert!(matches!(ok[0].2, DbValue::Datetime(_)));
}

/// Each value binds to the parameter types PostgreSQL infers that Spin
/// binds it to, and is refused (before anything runs) elsewhere.
#[tokio::test]
async fn binds_values_as_spin_does() {
    use chrono::{DateTime, NaiveDateTime, Utc};
    let mut db = Db::start().await;
    let uuid = uuid::Uuid::parse_str("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").unwrap();
    let accepted: Vec<(&str, Value)> = vec![
        ("SELECT $1::uuid AS v", Value::Uuid(uuid)),
        ("SELECT $1::text AS v", Value::Text("x".into())),
        ("SELECT $1::varchar AS v", Value::Text("x".into())),
        (
            "SELECT $1::varchar[] AS v",
            Value::ArrayText(vec![Some("a".into()), None]),
        ),
        ("SELECT $1::name[]::text[] AS v", Value::ArrayText(vec![])),
        ("SELECT $1::name::text AS v", Value::Text("x".into())),
        ("SELECT $1::int8 AS v", Value::I64(1)),
        ("SELECT $1::\"char\"::text AS v", Value::I8(65)),
        (
            "SELECT $1::text[] AS v",
            Value::ArrayText(vec![Some("a".into()), None]),
        ),
        (
            "SELECT $1::text[]::uuid[]::text[] AS v",
            Value::ArrayText(vec![Some(uuid.to_string())]),
        ),
        (
            "SELECT $1::timestamptz AT TIME ZONE 'UTC' AS v",
            Value::Timestamp(DateTime::<Utc>::from_timestamp(60, 0).unwrap()),
        ),
        (
            "SELECT $1::timestamp AS v",
            Value::Datetime(NaiveDateTime::default()),
        ),
        (
            "SELECT $1::jsonb AS v",
            Value::Json(serde_json::json!({"a": 1})),
        ),
        (
            "SELECT $1::json::text AS v",
            Value::Json(serde_json::json!({"a": 1})),
        ),
        (
            "SELECT $1::int4range AS v",
            Value::RangeI32(sqlx::postgres::types::PgRange::from(1..3)),
        ),
        ("SELECT $1::uuid AS v", Value::Null),
    ];
    for (sql, value) in accepted {
        let shown = format!("{value:?}");
        db.one(sql, vec![value])
            .await
            .unwrap_or_else(|e| panic!("{sql} with {shown}: {e}"));
    }
    let refused: Vec<(&str, Value)> = vec![
        ("SELECT $1::uuid AS v", Value::Text(uuid.to_string())),
        ("SELECT $1::int8 AS v", Value::I32(1)),
        ("SELECT $1::int4 AS v", Value::I64(1)),
        (
            "SELECT $1::uuid[] AS v",
            Value::ArrayText(vec![Some(uuid.to_string())]),
        ),
        (
            "SELECT $1::timestamptz AS v",
            Value::Datetime(NaiveDateTime::default()),
        ),
        (
            "SELECT $1::timestamp AS v",
            Value::Timestamp(DateTime::<Utc>::default()),
        ),
        ("SELECT $1::numeric AS v", Value::F64(1.0)),
        ("SELECT $1::text AS v", Value::Json(serde_json::json!(1))),
        ("SELECT $1::int2 AS v", Value::I8(1)),
    ];
    for (sql, value) in refused {
        let shown = format!("{value:?}");
        let err = db
            .one(sql, vec![value])
            .await
            .expect_err(&format!("{sql} must refuse {shown}"));
        assert!(err.contains("WrongType"), "{sql} with {shown}: {err}");
    }
    let err = db
        .one("SELECT $1::int4 AS a, $2::int4 AS b", vec![Value::I32(1)])
        .await
        .unwrap_err();
    assert!(err.contains("Parameters(1, 2)"), "{err}");
}

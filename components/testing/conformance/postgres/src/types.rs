//! One check per table of the suite's `postgres-init` scripts: the row
//! the script inserted (values from those scripts) and one inserted here
//! (id 2), each read back in id order.

use anyhow::ensure;

use crate::bindings::spin::postgres::postgres::{
    Connection, DbValue as D, Interval, ParameterValue as P, RangeBoundKind as K,
};
use crate::select;

type Check = fn(&Connection) -> anyhow::Result<()>;

/// Every check, named after its table.
pub const CHECKS: [(&str, Check); 10] = [
    ("test_numeric_types", numeric),
    ("test_character_types", character),
    ("test_blob_types", blob),
    ("test_date_time_types", date_time),
    ("test_json_types", json),
    ("test_uuid_type", uuid),
    ("test_nullable", nullable),
    ("test_range_types", range),
    ("test_array_types", array),
    ("one session", session),
];

/// Fails with both values unless `got` is what `want` says.
macro_rules! expect {
    ($got:expr, $pattern:pat $(if $guard:expr)?, $what:expr) => {{
        let got = &$got;
        ensure!(
            matches!(got, $pattern $(if $guard)?),
            "{}: got {got:?}, expected {}",
            $what,
            stringify!($pattern $(if $guard)?)
        );
    }};
}

/// Two decimals written alike but for trailing fractional zeros.
fn same_decimal(a: &str, b: &str) -> bool {
    fn trim(s: &str) -> &str {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.')
        } else {
            s
        }
    }
    trim(a) == trim(b)
}

fn numeric(db: &Connection) -> anyhow::Result<()> {
    db.execute(
        "INSERT INTO test_numeric_types
            (id, rsmallint, rint2, rint, rint4, rbigint, rint8, rreal, rdouble, rnumeric)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            P::Int32(2),
            P::Int16(-7),
            P::Int16(300),
            P::Int32(-70_000),
            P::Int32(123_456),
            P::Int64(-9_000_000_000),
            P::Int64(42),
            P::Floating32(0.5),
            P::Floating64(-2.25),
            P::Decimal("98765.4321".into()),
        ],
    )?;
    let set = db.query(
        "SELECT rsmallserial, rsmallint, rint2, rserial, rint, rint4,
                rbigserial, rbigint, rint8, rreal, rdouble, rnumeric
         FROM test_numeric_types ORDER BY id",
        &[],
    )?;
    let names: Vec<&str> = set.columns.iter().map(|c| c.name.as_str()).collect();
    ensure!(
        names.first() == Some(&"rsmallserial") && names.last() == Some(&"rnumeric"),
        "column names {names:?}"
    );
    ensure!(set.rows.len() == 2, "{} rows, expected 2", set.rows.len());
    for row in &set.rows {
        ensure!(row.len() == 12, "a row of {} values", row.len());
        expect!(row[0], D::Int16(_), "smallserial");
        expect!(row[3], D::Int32(_), "serial");
        expect!(row[6], D::Int64(_), "bigserial");
    }
    let (seeded, mine) = (&set.rows[0], &set.rows[1]);
    expect!(seeded[1], D::Int16(1), "smallint");
    expect!(seeded[2], D::Int16(2), "int2");
    expect!(seeded[4], D::Int32(3), "int");
    expect!(seeded[5], D::Int32(4), "int4");
    expect!(seeded[7], D::Int64(5), "bigint");
    expect!(seeded[8], D::Int64(6), "int8");
    expect!(seeded[9], D::Floating32(v) if *v == 7.8, "real");
    expect!(seeded[10], D::Floating64(v) if *v == 9.1, "double precision");
    expect!(seeded[11], D::Decimal(d) if same_decimal(d, "0.123456789"), "numeric");
    expect!(mine[1], D::Int16(-7), "smallint parameter");
    expect!(mine[2], D::Int16(300), "int2 parameter");
    expect!(mine[4], D::Int32(-70_000), "int parameter");
    expect!(mine[5], D::Int32(123_456), "int4 parameter");
    expect!(mine[7], D::Int64(-9_000_000_000), "bigint parameter");
    expect!(mine[8], D::Int64(42), "int8 parameter");
    expect!(mine[9], D::Floating32(v) if *v == 0.5, "real parameter");
    expect!(mine[10], D::Floating64(v) if *v == -2.25, "double parameter");
    expect!(mine[11], D::Decimal(d) if same_decimal(d, "98765.4321"), "numeric parameter");
    Ok(())
}

fn character(db: &Connection) -> anyhow::Result<()> {
    db.execute(
        "INSERT INTO test_character_types (id, rvarchar, rtext, rchar) VALUES (2, $1, $2, $3)",
        &[
            P::Str("mûre".into()),
            P::Str("a longer text\nover two lines".into()),
            P::Str("fig".into()),
        ],
    )?;
    let rows = select(
        db,
        "SELECT rvarchar, rtext, rchar FROM test_character_types ORDER BY id",
        &[],
        3,
    )?;
    ensure!(rows.len() == 2, "{} rows, expected 2", rows.len());
    expect!(rows[0][0], D::Str(s) if s == "rvarchar", "varchar");
    expect!(rows[0][1], D::Str(s) if s == "rtext", "text");
    // char(10) comes back blank-padded to its width.
    expect!(rows[0][2], D::Str(s) if s == "rchar     ", "char(10)");
    expect!(rows[1][0], D::Str(s) if s == "mûre", "varchar parameter");
    expect!(rows[1][1], D::Str(s) if s == "a longer text\nover two lines", "text parameter");
    expect!(rows[1][2], D::Str(s) if s == "fig       ", "char(10) parameter");
    Ok(())
}

fn blob(db: &Connection) -> anyhow::Result<()> {
    let bytes = vec![0, 1, 2, 0xfe, 0xff];
    db.execute(
        "INSERT INTO test_blob_types (id, blob) VALUES (2, $1)",
        &[P::Binary(bytes.clone())],
    )?;
    let rows = select(db, "SELECT blob FROM test_blob_types ORDER BY id", &[], 1)?;
    ensure!(rows.len() == 2, "{} rows, expected 2", rows.len());
    expect!(rows[0][0], D::Binary(b) if b == b"abcdef", "bytea");
    expect!(rows[1][0], D::Binary(b) if *b == bytes, "bytea parameter");
    Ok(())
}

fn date_time(db: &Connection) -> anyhow::Result<()> {
    let date = (2000, 2, 29);
    let time = (23, 59, 58, 250_000_000);
    // timestamp keeps microseconds: nanoseconds in whole microseconds.
    let datetime = (2024, 1, 2, 3, 4, 5, 6_000);
    let interval = Interval {
        micros: 1_500_000,
        days: 2,
        months: 13,
    };
    db.execute(
        "INSERT INTO test_date_time_types (id, rdate, rtime, rtimestamp, rinterval)
         VALUES (2, $1, $2, $3, $4)",
        &[
            P::Date(date),
            P::Time(time),
            P::Datetime(datetime),
            P::Interval(interval),
        ],
    )?;
    let rows = select(
        db,
        "SELECT rdate, rtime, rtimestamp, rinterval FROM test_date_time_types ORDER BY id",
        &[],
        4,
    )?;
    ensure!(rows.len() == 2, "{} rows, expected 2", rows.len());
    expect!(rows[0][0], D::Date((2525, 12, 25)), "date");
    expect!(rows[0][1], D::Time((4, 5, 6, 789_000_000)), "time");
    expect!(
        rows[0][2],
        D::Datetime((1989, 11, 24, 1, 2, 3, 0)),
        "timestamp"
    );
    // P1Y2M3DT4H5M6.7S
    expect!(
        rows[0][3],
        D::Interval(Interval {
            months: 14,
            days: 3,
            micros: 14_706_700_000
        }),
        "interval"
    );
    expect!(rows[1][0], D::Date(d) if *d == date, "date parameter");
    expect!(rows[1][1], D::Time(t) if *t == time, "time parameter");
    expect!(rows[1][2], D::Datetime(t) if *t == datetime, "timestamp parameter");
    expect!(
        rows[1][3],
        D::Interval(i) if (i.months, i.days, i.micros) == (13, 2, 1_500_000),
        "interval parameter"
    );
    Ok(())
}

fn json(db: &Connection) -> anyhow::Result<()> {
    let mine = r#"{"fruit": ["apple", "pear"], "count": 2, "ripe": false, "note": null}"#;
    db.execute(
        "INSERT INTO test_json_types (id, j) VALUES (2, $1)",
        &[P::Jsonb(mine.as_bytes().to_vec())],
    )?;
    let rows = select(db, "SELECT j FROM test_json_types ORDER BY id", &[], 1)?;
    ensure!(rows.len() == 2, "{} rows, expected 2", rows.len());
    let same = |got: &[u8], want: &str| {
        serde_json::from_slice::<serde_json::Value>(got).ok()
            == serde_json::from_str::<serde_json::Value>(want).ok()
    };
    let seeded = r#"{"s": "hello", "n": 123, "b": true, "x": null}"#;
    expect!(rows[0][0], D::Jsonb(j) if same(j, seeded), "jsonb");
    expect!(rows[1][0], D::Jsonb(j) if same(j, mine), "jsonb parameter");
    Ok(())
}

fn uuid(db: &Connection) -> anyhow::Result<()> {
    let mine = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
    db.execute(
        "INSERT INTO test_uuid_type (id, u) VALUES (2, $1)",
        &[P::Uuid(mine.into())],
    )?;
    let rows = select(db, "SELECT u FROM test_uuid_type ORDER BY id", &[], 1)?;
    ensure!(rows.len() == 2, "{} rows, expected 2", rows.len());
    expect!(rows[0][0], D::Uuid(u) if u == "12345678-1234-1234-1234-123456789abc", "uuid");
    expect!(rows[1][0], D::Uuid(u) if u == mine, "uuid parameter");
    Ok(())
}

fn nullable(db: &Connection) -> anyhow::Result<()> {
    db.execute(
        "INSERT INTO test_nullable (id, rvarchar) VALUES (2, $1)",
        &[P::DbNull],
    )?;
    let rows = select(db, "SELECT rvarchar FROM test_nullable ORDER BY id", &[], 1)?;
    ensure!(rows.len() == 2, "{} rows, expected 2", rows.len());
    expect!(rows[0][0], D::DbNull, "NULL");
    expect!(rows[1][0], D::DbNull, "NULL parameter");
    Ok(())
}

fn range(db: &Connection) -> anyhow::Result<()> {
    db.execute(
        "INSERT INTO test_range_types (id, r4, r8, rnum) VALUES (2, $1, $2, $3)",
        &[
            P::RangeInt32((Some((5, K::Inclusive)), Some((10, K::Inclusive)))),
            P::RangeInt64((None, Some((-3, K::Exclusive)))),
            P::RangeDecimal((Some(("0.5".into(), K::Inclusive)), None)),
        ],
    )?;
    let rows = select(
        db,
        "SELECT r4, r8, rnum FROM test_range_types ORDER BY id",
        &[],
        3,
    )?;
    ensure!(rows.len() == 2, "{} rows, expected 2", rows.len());
    // Discrete ranges come back as [lower, upper): '(1, 40]' is [2, 41).
    expect!(
        rows[0][0],
        D::RangeInt32((Some((2, K::Inclusive)), Some((41, K::Exclusive)))),
        "int4range"
    );
    expect!(
        rows[0][1],
        D::RangeInt64((
            Some((123_456_789_012, K::Inclusive)),
            Some((234_567_890_123, K::Exclusive))
        )),
        "int8range"
    );
    expect!(
        rows[0][2],
        D::RangeDecimal((None, Some((d, K::Exclusive)))) if same_decimal(d, "100"),
        "numrange"
    );
    expect!(
        rows[1][0],
        D::RangeInt32((Some((5, K::Inclusive)), Some((11, K::Exclusive)))),
        "int4range parameter"
    );
    expect!(
        rows[1][1],
        D::RangeInt64((None, Some((-3, K::Exclusive)))),
        "int8range parameter"
    );
    // A continuous range keeps its bounds as given.
    expect!(
        rows[1][2],
        D::RangeDecimal((Some((d, K::Inclusive)), None)) if same_decimal(d, "0.5"),
        "numrange parameter"
    );
    let containing = |n: i32| -> anyhow::Result<Vec<D>> {
        let rows = select(
            db,
            "SELECT id FROM test_range_types WHERE $1::int4 <@ r4 ORDER BY id",
            &[P::Int32(n)],
            1,
        )?;
        Ok(rows.into_iter().flatten().collect())
    };
    expect!(containing(3)?[..], [D::Int32(1)], "rows whose r4 holds 3");
    expect!(
        containing(7)?[..],
        [D::Int32(1), D::Int32(2)],
        "rows whose r4 holds 7"
    );
    expect!(containing(41)?[..], [], "rows whose r4 holds 41");
    Ok(())
}

fn array(db: &Connection) -> anyhow::Result<()> {
    let i4 = vec![Some(7), None, Some(-1)];
    let i8 = vec![Some(1_i64 << 40), Some(0)];
    let num = vec![Some("0.001".to_owned()), None];
    let str = vec![Some("x".to_owned()), Some(String::new()), None];
    db.execute(
        "INSERT INTO test_array_types (id, i4arr, i8arr, numarr, strarr) VALUES (2, $1, $2, $3, $4)",
        &[
            P::ArrayInt32(i4.clone()),
            P::ArrayInt64(i8.clone()),
            P::ArrayDecimal(num.clone()),
            P::ArrayStr(str.clone()),
        ],
    )?;
    let rows = select(
        db,
        "SELECT i4arr, i8arr, numarr, strarr FROM test_array_types ORDER BY id",
        &[],
        4,
    )?;
    ensure!(rows.len() == 2, "{} rows, expected 2", rows.len());
    let decimals = |got: &[Option<String>], want: &[Option<&str>]| {
        got.len() == want.len()
            && got.iter().zip(want).all(|(g, w)| match (g, w) {
                (Some(g), Some(w)) => same_decimal(g, w),
                (g, w) => g.is_none() && w.is_none(),
            })
    };
    expect!(rows[0][0], D::ArrayInt32(v) if *v == [Some(1), Some(2), Some(3)], "int4[]");
    expect!(
        rows[0][1],
        D::ArrayInt64(v) if *v == [Some(101), Some(102), Some(103), Some(104)],
        "int8[]"
    );
    expect!(
        rows[0][2],
        D::ArrayDecimal(v) if decimals(v, &[Some("1.234"), Some("2.345")]),
        "numeric[]"
    );
    expect!(
        rows[0][3],
        D::ArrayStr(v) if *v == [Some("hello".to_owned()), Some("mum".to_owned())],
        "text[]"
    );
    expect!(rows[1][0], D::ArrayInt32(v) if *v == i4, "int4[] parameter");
    expect!(rows[1][1], D::ArrayInt64(v) if *v == i8, "int8[] parameter");
    expect!(
        rows[1][2],
        D::ArrayDecimal(v) if decimals(v, &[Some("0.001"), None]),
        "numeric[] parameter"
    );
    expect!(rows[1][3], D::ArrayStr(v) if *v == str, "text[] parameter");
    let holding = |n: i32| -> anyhow::Result<usize> {
        let sql = "SELECT id FROM test_array_types WHERE array_position(i4arr, $1) IS NOT NULL";
        Ok(select(db, sql, &[P::Int32(n)], 1)?.len())
    };
    ensure!(
        holding(7)? == 1,
        "rows whose i4arr holds 7: {}, expected 1",
        holding(7)?
    );
    ensure!(
        holding(2)? == 1,
        "rows whose i4arr holds 2: {}, expected 1",
        holding(2)?
    );
    ensure!(
        holding(5)? == 0,
        "rows whose i4arr holds 5: {}, expected 0",
        holding(5)?
    );
    Ok(())
}

/// Every call on one connection is one session: the same backend.
fn session(db: &Connection) -> anyhow::Result<()> {
    let pid = || select(db, "SELECT pg_backend_pid()", &[], 1);
    let (first, second) = (pid()?, pid()?);
    ensure!(first == second, "backend {first:?}, then {second:?}");
    Ok(())
}

//! The SQLite databases on real files: access rules, Spin's value
//! conversion, per-connection counters, `ATTACH`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::*;

fn databases(dir: &Path) -> Arc<Databases> {
    let config = BTreeMap::from([
        (
            "default".to_owned(),
            SqliteDatabase {
                path: Some(dir.join("state/sqlite_db.db")),
                allow_attach_file: false,
            },
        ),
        (
            "memory".to_owned(),
            SqliteDatabase {
                path: None,
                allow_attach_file: false,
            },
        ),
    ]);
    Arc::new(Databases::new(&config).unwrap())
}

async fn execute(c: &Connection, sql: &str, params: Vec<Value>) -> Result<QueryResult, Error> {
    c.execute(sql.to_owned(), params).await.into_result()
}

#[tokio::test]
async fn undeclared_is_access_denied_and_unconfigured_is_no_such_database() {
    let dir = tempfile::tempdir().unwrap();
    let access = SqliteAccess::new(&["default".into(), "other".into()], databases(dir.path()));
    assert!(access.open("default").await.is_ok());
    assert!(dir.path().join("state/sqlite_db.db").exists());
    assert!(matches!(
        access.open("memory").await,
        Err(Error::AccessDenied)
    ));
    assert!(matches!(
        access.open("other").await,
        Err(Error::NoSuchDatabase)
    ));
}

#[tokio::test]
async fn values_convert_as_in_spin() {
    let dir = tempfile::tempdir().unwrap();
    let access = SqliteAccess::new(&["default".into()], databases(dir.path()));
    let c = access.open("default").await.unwrap();
    execute(
        &c,
        "CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n)",
        vec![],
    )
    .await
    .unwrap();
    let params = vec![
        Value::Integer(-7),
        Value::Real(1.5),
        Value::Text("héllo".into()),
        Value::Blob(vec![0, 1, 255]),
        Value::Null,
    ];
    let inserted = execute(&c, "INSERT INTO t VALUES (?, ?, ?, ?, ?)", params.clone())
        .await
        .unwrap();
    assert!(inserted.columns.is_empty() && inserted.rows.is_empty());
    assert_eq!(c.changes().await.unwrap(), 1);
    assert_eq!(c.last_insert_rowid().await.unwrap(), 1);
    let result = execute(&c, "SELECT i, r, s, b, n AS absent FROM t", vec![])
        .await
        .unwrap();
    assert_eq!(result.columns, ["i", "r", "s", "b", "absent"]);
    assert_eq!(result.rows.len(), 1);
    let got = &result.rows[0].values;
    assert!(matches!(got[0], Value::Integer(-7)));
    assert!(matches!(got[1], Value::Real(r) if r == 1.5));
    assert!(matches!(&got[2], Value::Text(s) if s == "héllo"));
    assert!(matches!(&got[3], Value::Blob(b) if b == &[0, 1, 255]));
    assert!(matches!(got[4], Value::Null));
}

#[tokio::test]
async fn counters_belong_to_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let access = SqliteAccess::new(&["default".into()], databases(dir.path()));
    let a = access.open("default").await.unwrap();
    let b = access.open("default").await.unwrap();
    execute(&a, "CREATE TABLE t (x)", vec![]).await.unwrap();
    execute(&a, "INSERT INTO t VALUES (1), (2)", vec![])
        .await
        .unwrap();
    assert_eq!(a.changes().await.unwrap(), 2);
    assert_eq!(a.last_insert_rowid().await.unwrap(), 2);
    assert_eq!(b.last_insert_rowid().await.unwrap(), 0);
    // Both see the same file.
    let rows = execute(&b, "SELECT count(*) FROM t", vec![]).await.unwrap();
    assert!(matches!(rows.rows[0].values[0], Value::Integer(2)));
}

#[tokio::test]
async fn errors_are_io_and_come_after_the_rows_read() {
    let dir = tempfile::tempdir().unwrap();
    let access = SqliteAccess::new(&["memory".into()], databases(dir.path()));
    let c = access.open("memory").await.unwrap();
    let outcome = c.execute("SELEC 1".into(), vec![]).await;
    assert!(outcome.columns.is_empty());
    assert!(matches!(outcome.end, Err(Error::Io(m)) if m.contains("syntax")));
    let wrong_count = execute(&c, "SELECT ?", vec![]).await;
    assert!(matches!(wrong_count, Err(Error::Io(_))), "{wrong_count:?}");
    // Every connection to an in-memory database is a fresh one (Spin's).
    execute(&c, "CREATE TABLE t (x)", vec![]).await.unwrap();
    let other = access.open("memory").await.unwrap();
    assert!(execute(&other, "SELECT * FROM t", vec![]).await.is_err());
}

#[tokio::test]
async fn attaching_a_file_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let access = SqliteAccess::new(&["default".into()], databases(dir.path()));
    let c = access.open("default").await.unwrap();
    let other = dir.path().join("other.db").display().to_string();
    let attach = format!("ATTACH DATABASE '{other}' AS other");
    assert!(execute(&c, &attach, vec![]).await.is_err());
    execute(&c, "ATTACH DATABASE ':memory:' AS scratch", vec![])
        .await
        .unwrap();
}

/// `--sqlite`: statements and `@file`s run in order before anything is
/// served; a bad one stops the start with the statement named.
#[tokio::test]
async fn statements_run_at_start_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("seed.sql");
    std::fs::write(&file, "INSERT INTO t VALUES (1); INSERT INTO t VALUES (2);").unwrap();
    let databases = databases(dir.path());
    databases
        .run_at_start(&[
            "CREATE TABLE t (x INTEGER)".into(),
            format!("@{}", file.display()),
        ])
        .await
        .unwrap();
    let access = SqliteAccess::new(&["default".into()], databases.clone());
    let connection = access.open("default").await.unwrap();
    let rows = execute(&connection, "SELECT x FROM t ORDER BY x", vec![])
        .await
        .unwrap();
    assert_eq!(rows.rows.len(), 2);
    let error = databases
        .run_at_start(&["INSERT INTO missing VALUES (1)".into()])
        .await
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("INSERT INTO missing"),
        "{error:#}"
    );
}

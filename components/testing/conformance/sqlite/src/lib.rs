//! Spin's conformance tests `sqlite` and `sqlite-no-permission`, guest
//! side, through `fermyon:spin/sqlite@2.0.0`: a database the component is
//! not granted is refused (`access-denied`); in the `default` one a table
//! is created, a row inserted, and read back by a parameterised query with
//! its column names. Without `default` granted either, the answer is 500
//! `Error::AccessDenied` (that error as it prints).

use anyhow::{Context as _, bail, ensure};
use conformance_guest_kit::wasi::http::types::IncomingRequest;

mod bindings {
    wit_bindgen::generate!({
        inline: "package comptoir:conformance; world sqlite { import fermyon:spin/sqlite@2.0.0; }",
        path: "../../../../wit/deps/spin@2.0.0",
        // Bindings for the imported package (not this inline one).
        generate_all,
    });
}

use bindings::fermyon::spin::sqlite::{Connection, Error, QueryResult, Value};

struct Sqlite;

conformance_guest_kit::guest!(Sqlite);

impl conformance_guest_kit::Check for Sqlite {
    fn check(_request: &IncomingRequest) -> anyhow::Result<()> {
        match Connection::open("forbidden") {
            Err(Error::AccessDenied) => {}
            Err(other) => {
                bail!("opening an ungranted database: {other:?}, not Error::AccessDenied")
            }
            Ok(_) => bail!("an ungranted database opened"),
        }
        let db = Connection::open("default")?;
        db.execute(
            "CREATE TABLE IF NOT EXISTS pantry(item TEXT NOT NULL, shelf TEXT NOT NULL)",
            &[],
        )?;
        db.execute(
            "INSERT INTO pantry(item, shelf) VALUES(?, ?)",
            &[Value::Text("flour".into()), Value::Text("top".into())],
        )?;
        let found = db.execute(
            "SELECT shelf, item FROM pantry WHERE item = ?",
            &[Value::Text("flour".into())],
        )?;
        ensure!(
            found.rows.len() == 1,
            "{} rows, expected 1",
            found.rows.len()
        );
        let item = column(&found, "item")?;
        let shelf = column(&found, "shelf")?;
        ensure!(
            matches!(item, Value::Text(t) if t == "flour"),
            "item: {item:?}, expected Text(\"flour\")"
        );
        ensure!(
            matches!(shelf, Value::Text(t) if t == "top"),
            "shelf: {shelf:?}, expected Text(\"top\")"
        );
        Ok(())
    }
}

/// The first row's value in the column called `name`.
fn column<'a>(result: &'a QueryResult, name: &str) -> anyhow::Result<&'a Value> {
    ensure!(
        result.columns.len() == 2,
        "columns {:?}, expected 2",
        result.columns
    );
    let index = result
        .columns
        .iter()
        .position(|c| c == name)
        .with_context(|| format!("no column {name:?} in {:?}", result.columns))?;
    result.rows[0]
        .values
        .get(index)
        .with_context(|| format!("the row has no value for column {name:?}"))
}

//! Spin's conformance test `postgres`, guest side, through
//! `spin:postgres/postgres@4.0.0` (its synchronous API) on the connection
//! string in the request's `PG_CONNECTION_STRING` header: for each table
//! the suite's `postgres-init` scripts create, the row they insert decodes
//! to the expected `db-value`s, and a row inserted here with
//! `parameter-value`s reads back as it went in; range and array values
//! work in `WHERE` clauses; one connection is one session throughout.
//!
//! - [`types`]: the checks, one per table.

mod types;

use anyhow::Context as _;
use conformance_guest_kit::wasi::http::types::IncomingRequest;

mod bindings {
    wit_bindgen::generate!({
        inline: "package comptoir:conformance; world postgres { import spin:postgres/postgres@4.0.0; }",
        path: "wit",
        // Bindings for the imported package (not this inline one).
        generate_all,
        additional_derives: [PartialEq],
    });
}

use bindings::spin::postgres::postgres::{Connection, DbValue, ParameterValue};

struct Postgres;

conformance_guest_kit::guest!(Postgres);

impl conformance_guest_kit::Check for Postgres {
    fn check(request: &IncomingRequest) -> anyhow::Result<()> {
        let address = conformance_guest_kit::header(request, "PG_CONNECTION_STRING")
            .context("missing header: PG_CONNECTION_STRING")?;
        let db = Connection::open(&address)?;
        for (table, check) in types::CHECKS {
            check(&db).context(table)?;
        }
        Ok(())
    }
}

/// The rows `sql` selects, each as long as `width`.
fn select(
    db: &Connection,
    sql: &str,
    params: &[ParameterValue],
    width: usize,
) -> anyhow::Result<Vec<Vec<DbValue>>> {
    let set = db.query(sql, params)?;
    for row in &set.rows {
        anyhow::ensure!(
            row.len() == width,
            "a row of {} values, expected {width}: {row:?}",
            row.len()
        );
    }
    Ok(set.rows)
}

//! A Spin app written the way spin-sdk 5 apps are, to show comptoir runs
//! them unchanged (routes relative to the component's `.../` route, as
//! `Router::suffix` reads Spin's `spin-path-info`):
//!
//! - `GET /kv` the keys of the `default` store (a sorted JSON array);
//!   `GET`, `PUT`, `DELETE /kv/:key` one value (404 when missing).
//! - `GET /kv-denied` opens a store the manifest does not declare: 403
//!   when refused with `AccessDenied`, as under Spin.
//! - `POST /sql` adds the body as a note to the `default` SQLite database
//!   (creating its table); `GET /sql` the notes, in order.
//! - `GET /var/:name` a variable (404 when undefined).
//! - `GET /hello/:name` greets the route parameter.
//! - `GET /pg/v2`, `/pg/v3`, `/pg/v4`: one row of assorted PostgreSQL
//!   types read through `fermyon:spin/postgres@2.0.0`, `spin:postgres@3.0.0`
//!   or `@4.0.0` (the address in the `pg_address` variable), each column
//!   type and value as the interface gives it (`{:?}`), with a row
//!   inserted and a failing statement's error, so that runtimes'
//!   conversions can be compared; `GET /pg/v2-unsigned` sends 2.0's
//!   unsigned parameter, which PostgreSQL has no type for (400).

use spin_sdk::http::{IntoResponse, Params, Request, Response, Router};
use spin_sdk::http_component;
use spin_sdk::key_value::{self, Store};
use spin_sdk::sqlite::{Connection, Value};
use spin_sdk::variables;

#[http_component]
fn handle(request: Request) -> Response {
    let mut router = Router::suffix();
    router.get("/kv", list_keys);
    router.get("/kv/:key", get_key);
    router.put("/kv/:key", set_key);
    router.delete("/kv/:key", delete_key);
    router.get("/kv-denied", open_undeclared);
    router.post("/sql", add_note);
    router.get("/sql", notes);
    router.get("/var/:name", variable);
    router.get("/hello/:name", hello);
    router.get("/pg/v2-unsigned", unsigned);
    router.get("/pg/:version", postgres);
    router.handle(request)
}

fn list_keys(_: Request, _: Params) -> anyhow::Result<Response> {
    let mut keys = Store::open_default()?.get_keys()?;
    keys.sort();
    Ok(json(200, keys.into()))
}

fn get_key(_: Request, params: Params) -> anyhow::Result<Response> {
    let key = params.get("key").unwrap_or_default();
    Ok(match Store::open_default()?.get(key)? {
        Some(value) => Response::new(200, value),
        None => Response::new(404, format!("no key {key}\n")),
    })
}

fn set_key(request: Request, params: Params) -> anyhow::Result<Response> {
    let key = params.get("key").unwrap_or_default();
    Store::open_default()?.set(key, request.body())?;
    Ok(Response::new(200, format!("set {key}\n")))
}

fn delete_key(_: Request, params: Params) -> anyhow::Result<Response> {
    let key = params.get("key").unwrap_or_default();
    Store::open_default()?.delete(key)?;
    Ok(Response::new(200, format!("deleted {key}\n")))
}

fn open_undeclared(_: Request, _: Params) -> Response {
    match Store::open("not-declared") {
        Err(key_value::Error::AccessDenied) => Response::new(403, "AccessDenied\n"),
        Err(other) => Response::new(500, format!("{other:?}\n")),
        Ok(_) => Response::new(200, "opened a store the manifest does not declare\n"),
    }
}

/// The `default` database, with its `notes` table.
fn notes_db() -> anyhow::Result<Connection> {
    let db = Connection::open_default()?;
    db.execute(
        "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)",
        &[],
    )?;
    Ok(db)
}

fn add_note(request: Request, _: Params) -> anyhow::Result<Response> {
    let db = notes_db()?;
    let body = String::from_utf8_lossy(request.body()).into_owned();
    db.execute("INSERT INTO notes (body) VALUES (?)", &[Value::Text(body)])?;
    Ok(Response::new(201, "noted\n"))
}

fn notes(_: Request, _: Params) -> anyhow::Result<Response> {
    let result = notes_db()?.execute("SELECT id, body FROM notes ORDER BY id", &[])?;
    let rows: Vec<serde_json::Value> = result
        .rows()
        .map(|row| {
            serde_json::json!({
                "id": row.get::<i64>("id"),
                "body": row.get::<&str>("body"),
            })
        })
        .collect();
    Ok(json(200, rows.into()))
}

fn variable(_: Request, params: Params) -> Response {
    let name = params.get("name").unwrap_or_default();
    match variables::get(name) {
        Ok(value) => Response::new(200, value),
        Err(error) => Response::new(404, format!("{error:?}\n")),
    }
}

fn hello(_: Request, params: Params) -> impl IntoResponse {
    Response::new(
        200,
        format!("hello {}\n", params.get("name").unwrap_or("nobody")),
    )
}

/// One row of types each PostgreSQL interface converts its own way.
const SHAPES: &str = "SELECT $1::text AS label, 42::int4 AS answer, \
    TIMESTAMP '2024-05-06 07:08:09' AS at, DATE '2024-05-06' AS day, \
    12.50::numeric AS price, '6a2f41a3-c54c-fce8-32d2-0324e1c32e22'::uuid AS id, \
    NULL::int8 AS nothing";

/// [`SHAPES`], an insert and a failing statement through the interface
/// module `$pg` of spin-sdk (`pg`, `pg3`, `pg4`), as JSON.
macro_rules! read_shapes {
    ($pg:ident, $address:expr, $version:expr) => {{
        use spin_sdk::$pg as pg;
        let failed = |e: pg::PgError| anyhow::anyhow!("{e:?}");
        let db = pg::Connection::open($address).map_err(failed)?;
        db.execute(
            "CREATE TABLE IF NOT EXISTS pg_seen (version TEXT NOT NULL)",
            &[],
        )
        .map_err(failed)?;
        let inserted = db
            .execute(
                "INSERT INTO pg_seen (version) VALUES ($1)",
                &[pg::ParameterValue::Str($version.to_owned())],
            )
            .map_err(failed)?;
        let set = db
            .query(SHAPES, &[pg::ParameterValue::Str("hello".to_owned())])
            .map_err(failed)?;
        let error = db.query("SELECT * FROM no_such_table", &[]).err();
        serde_json::json!({
            "columns": set.columns.iter()
                .map(|c| format!("{} {:?}", c.name, c.data_type))
                .collect::<Vec<_>>(),
            "row": set.rows.first().map(|row| {
                row.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>()
            }),
            "inserted": inserted,
            "error": error.map(|e| format!("{e:?}")),
        })
    }};
}

fn postgres(_: Request, params: Params) -> anyhow::Result<Response> {
    let address = variables::get("pg_address")?;
    let version = params.get("version").unwrap_or_default();
    let shapes = match version {
        "v2" => read_shapes!(pg, &address, version),
        "v3" => read_shapes!(pg3, &address, version),
        "v4" => read_shapes!(pg4, &address, version),
        _ => return Ok(Response::new(404, format!("no interface {version}\n"))),
    };
    Ok(json(200, shapes))
}

fn unsigned(_: Request, _: Params) -> anyhow::Result<Response> {
    use spin_sdk::pg;
    let db = pg::Connection::open(&variables::get("pg_address")?)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(
        match db.query("SELECT $1", &[pg::ParameterValue::Uint8(7)]) {
            Ok(_) => Response::new(200, "an unsigned parameter was accepted\n"),
            Err(e) => Response::new(400, format!("{e:?}\n")),
        },
    )
}

fn json(status: u16, value: serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(value.to_string())
        .build()
}

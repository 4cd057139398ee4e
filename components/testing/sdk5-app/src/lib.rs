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

fn json(status: u16, value: serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(value.to_string())
        .build()
}

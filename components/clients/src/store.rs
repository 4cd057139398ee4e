//! The clients table: every statement the service runs, parameterised.

use comptoir_kit::Problem;
use comptoir_kit::db::{self, DbTime, DbUuid, column, opt_text_param, text_param, uuid_param};
use comptoir_kit::page::{Page, PageRequest};
use spin_sdk::pg::{Connection, ParameterValue, Row};
use uuid::Uuid;

use crate::domain::{Client, ClientFields};

fn columns() -> String {
    format!(
        "id, name, email, phone, address, {}, {}, seq",
        db::utc("created_at"),
        db::utc("updated_at")
    )
}

fn client(row: &Row) -> Result<(i64, Client), Problem> {
    Ok((
        column::<i64>(row, "seq")?,
        Client {
            id: column::<DbUuid>(row, "id")?.0,
            name: column(row, "name")?,
            email: column(row, "email")?,
            phone: column(row, "phone")?,
            address: column(row, "address")?,
            created_at: column::<DbTime>(row, "created_at")?.0,
            updated_at: column::<DbTime>(row, "updated_at")?.0,
        },
    ))
}

fn fields_params(fields: &ClientFields) -> [ParameterValue; 4] {
    [
        text_param(&fields.name),
        text_param(&fields.email),
        opt_text_param(fields.phone.as_deref()),
        opt_text_param(fields.address.as_deref()),
    ]
}

/// A duplicate email becomes 409; other errors the usual way.
fn write_error(error: spin_sdk::pg::Error) -> Problem {
    if db::sqlstate(&error) == Some(db::UNIQUE_VIOLATION) {
        Problem::conflict("a client with this email already exists")
    } else {
        db::problem(error)
    }
}

async fn one(
    db: &Connection,
    sql: &str,
    params: Vec<ParameterValue>,
) -> Result<Option<Client>, Problem> {
    let rows = db
        .query(sql, params)
        .await
        .map_err(write_error)?
        .collect()
        .await
        .map_err(write_error)?;
    rows.first().map(|r| client(r).map(|(_, c)| c)).transpose()
}

pub async fn insert(db: &Connection, fields: &ClientFields) -> Result<Client, Problem> {
    let sql = format!(
        "INSERT INTO clients (name, email, phone, address) VALUES ($1, $2, $3, $4) RETURNING {}",
        columns()
    );
    // The row is committed only once its answer decodes.
    db::transaction(db, async |db| {
        one(db, &sql, fields_params(fields).to_vec())
            .await?
            .ok_or_else(|| Problem::internal("insert returned no row"))
    })
    .await
}

pub async fn get(db: &Connection, id: Uuid) -> Result<Option<Client>, Problem> {
    let sql = format!("SELECT {} FROM clients WHERE id = $1", columns());
    one(db, &sql, vec![uuid_param(id)]).await
}

pub async fn replace(
    db: &Connection,
    id: Uuid,
    fields: &ClientFields,
) -> Result<Option<Client>, Problem> {
    let sql = format!(
        "UPDATE clients SET name = $2, email = $3, phone = $4, address = $5, updated_at = now() \
         WHERE id = $1 RETURNING {}",
        columns()
    );
    let mut params = vec![uuid_param(id)];
    params.extend(fields_params(fields));
    db::transaction(db, async |db| one(db, &sql, params).await).await
}

/// Deletes the client; `false` when there was none.
pub async fn delete(db: &Connection, id: Uuid) -> Result<bool, Problem> {
    let deleted = db
        .execute("DELETE FROM clients WHERE id = $1", vec![uuid_param(id)])
        .await
        .map_err(db::problem)?;
    Ok(deleted > 0)
}

pub async fn list(db: &Connection, page: PageRequest) -> Result<Page<Client>, Problem> {
    let sql = format!(
        "SELECT {} FROM clients WHERE seq > $1 ORDER BY seq LIMIT $2",
        columns()
    );
    let rows = db
        .query(
            sql,
            vec![
                ParameterValue::Int64(page.after),
                ParameterValue::Int64(page.fetch_limit()),
            ],
        )
        .await
        .map_err(db::problem)?
        .collect()
        .await
        .map_err(db::problem)?;
    let rows = rows.iter().map(client).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(page, rows))
}

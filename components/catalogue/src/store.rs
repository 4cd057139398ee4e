//! The products and reservations tables: every statement, parameterised.
//! A reservation and a release are one statement each (the functions of
//! `db/catalogue/migrations`), so each is one transaction.

use comptoir_kit::Problem;
use comptoir_kit::db::{self, DbTime, column, rows, text_param, uuid_param};
use comptoir_kit::page::{Page, PageRequest};
use spin_sdk::pg::{Connection, ParameterValue, Row};
use uuid::Uuid;

use crate::domain::{Current, Outcome, Product, ProductFields, Reservation, ReservedLine};

fn columns() -> String {
    format!(
        "sku, seq, name, description, price_cents, currency, stock, active, {}",
        db::utc("updated_at")
    )
}

fn product(row: &Row) -> Result<(i64, Product), Problem> {
    Ok((
        column(row, "seq")?,
        Product {
            sku: column(row, "sku")?,
            name: column(row, "name")?,
            description: column(row, "description")?,
            price_cents: column(row, "price_cents")?,
            currency: column(row, "currency")?,
            stock: column(row, "stock")?,
            active: column(row, "active")?,
            updated_at: column::<DbTime>(row, "updated_at")?.0,
        },
    ))
}

/// Active products, in the order they were first put in the catalogue.
pub async fn list(db: &Connection, page: PageRequest) -> Result<Page<Product>, Problem> {
    let found = rows(
        db,
        format!(
            "SELECT {} FROM products WHERE active AND seq > $1 ORDER BY seq LIMIT $2",
            columns()
        ),
        vec![
            ParameterValue::Int64(page.after),
            ParameterValue::Int64(page.fetch_limit()),
        ],
    )
    .await?
    .iter()
    .map(product)
    .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(page, found))
}

/// Product `sku`, active or not.
pub async fn get(db: &Connection, sku: &str) -> Result<Option<Product>, Problem> {
    let found = rows(
        db,
        format!("SELECT {} FROM products WHERE sku = $1", columns()),
        vec![text_param(sku)],
    )
    .await?;
    found
        .first()
        .map(|r| product(r).map(|(_, p)| p))
        .transpose()
}

/// Creates or replaces product `sku`; whether it was created.
pub async fn put(
    db: &Connection,
    sku: &str,
    fields: &ProductFields,
) -> Result<(Product, bool), Problem> {
    let found = rows(
        db,
        format!(
            "INSERT INTO products (sku, name, description, price_cents, stock, active) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (sku) DO UPDATE SET name = EXCLUDED.name, \
                 description = EXCLUDED.description, price_cents = EXCLUDED.price_cents, \
                 stock = EXCLUDED.stock, active = EXCLUDED.active, updated_at = now() \
             RETURNING {}, (xmax = 0) AS created",
            columns()
        ),
        vec![
            text_param(sku),
            text_param(&fields.name),
            text_param(&fields.description),
            ParameterValue::Int64(fields.price_cents),
            ParameterValue::Int32(fields.stock),
            ParameterValue::Boolean(fields.active),
        ],
    )
    .await?;
    let row = found
        .first()
        .ok_or_else(|| Problem::internal("the product was not written"))?;
    Ok((product(row)?.1, column(row, "created")?))
}

fn outcome(row: &Row) -> Result<Outcome, Problem> {
    let raw: String = column(row, "outcome")?;
    Outcome::parse(&raw).ok_or_else(|| Problem::internal(format!("unknown outcome {raw:?}")))
}

/// Reserves `lines` for `order` at their prices, all or nothing.
pub async fn reserve(
    db: &Connection,
    order: Uuid,
    lines: &[ReservedLine],
) -> Result<Reservation, Problem> {
    let found = rows(
        db,
        "SELECT outcome, sku, price_cents, stock, name FROM reserve_stock($1, $2, $3, $4)",
        vec![
            uuid_param(order),
            ParameterValue::ArrayStr(lines.iter().map(|l| Some(l.sku.clone())).collect()),
            ParameterValue::ArrayInt32(lines.iter().map(|l| Some(l.quantity)).collect()),
            ParameterValue::ArrayInt64(lines.iter().map(|l| Some(l.unit_price_cents)).collect()),
        ],
    )
    .await?;
    let first = found
        .first()
        .ok_or_else(|| Problem::internal("the reservation gave no outcome"))?;
    let mut refused = Vec::new();
    for row in &found {
        if let Some(sku) = column::<Option<String>>(row, "sku")? {
            refused.push(Current {
                sku,
                name: column(row, "name")?,
                price_cents: column(row, "price_cents")?,
                stock: column(row, "stock")?,
            });
        }
    }
    Ok(Reservation {
        order_id: order,
        outcome: outcome(first)?,
        lines: refused,
    })
}

/// Gives back what `order` holds, once.
pub async fn release(db: &Connection, order: Uuid) -> Result<Reservation, Problem> {
    let found = rows(
        db,
        "SELECT release_stock($1) AS outcome",
        vec![uuid_param(order)],
    )
    .await?;
    let first = found
        .first()
        .ok_or_else(|| Problem::internal("the release gave no outcome"))?;
    Ok(Reservation {
        order_id: order,
        outcome: outcome(first)?,
        lines: Vec::new(),
    })
}

//! The orders, order_lines and cart_clears tables: every statement,
//! parameterised; order placement is one transaction.

use std::collections::HashMap;

use comptoir_kit::Problem;
use comptoir_kit::db::{self, DbTime, DbUuid, column, text_param, uuid_param};
use comptoir_kit::page::{Page, PageRequest};
use spin_sdk::pg::{Connection, ParameterValue, Row};
use uuid::Uuid;

use crate::domain::{Draft, Order, OrderLine};

fn order_columns() -> String {
    format!(
        "id, seq, client_id, status, total_cents, currency, {}, {}",
        db::utc("created_at"),
        db::utc("cancelled_at")
    )
}

fn order_row(row: &Row) -> Result<(i64, Order), Problem> {
    Ok((
        column(row, "seq")?,
        Order {
            id: column::<DbUuid>(row, "id")?.0,
            client_id: column::<DbUuid>(row, "client_id")?.0,
            status: column(row, "status")?,
            lines: Vec::new(),
            total_cents: column(row, "total_cents")?,
            currency: column(row, "currency")?,
            created_at: column::<DbTime>(row, "created_at")?.0,
            cancelled_at: column::<Option<DbTime>>(row, "cancelled_at")?.map(|t| t.0),
        },
    ))
}

async fn rows(
    db: &Connection,
    sql: &str,
    params: Vec<ParameterValue>,
) -> Result<Vec<Row>, Problem> {
    db.query(sql, params)
        .await
        .map_err(db::problem)?
        .collect()
        .await
        .map_err(db::problem)
}

/// Fills in the lines of `orders`.
async fn with_lines(
    db: &Connection,
    mut orders: Vec<(i64, Order)>,
) -> Result<Vec<(i64, Order)>, Problem> {
    if orders.is_empty() {
        return Ok(orders);
    }
    let ids = orders.iter().map(|(_, o)| Some(o.id.to_string())).collect();
    let lines = rows(
        db,
        "SELECT order_id, product_id, name, unit_price_cents, quantity, line_total_cents \
         FROM order_lines WHERE order_id = ANY($1::text[]::uuid[]) ORDER BY order_id, position",
        vec![ParameterValue::ArrayStr(ids)],
    )
    .await?;
    let mut by_order: HashMap<Uuid, Vec<OrderLine>> = HashMap::new();
    for row in &lines {
        by_order
            .entry(column::<DbUuid>(row, "order_id")?.0)
            .or_default()
            .push(OrderLine {
                product_id: column(row, "product_id")?,
                name: column(row, "name")?,
                unit_price_cents: column(row, "unit_price_cents")?,
                quantity: column(row, "quantity")?,
                line_total_cents: column(row, "line_total_cents")?,
            });
    }
    for (_, order) in &mut orders {
        order.lines = by_order.remove(&order.id).unwrap_or_default();
    }
    Ok(orders)
}

async fn one(
    db: &Connection,
    sql: &str,
    params: Vec<ParameterValue>,
) -> Result<Option<Order>, Problem> {
    let found = rows(db, sql, params)
        .await?
        .iter()
        .map(order_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(with_lines(db, found).await?.pop().map(|(_, o)| o))
}

pub async fn get(db: &Connection, id: Uuid) -> Result<Option<Order>, Problem> {
    one(
        db,
        &format!(
            "SELECT {cols} FROM orders WHERE id = $1",
            cols = order_columns()
        ),
        vec![uuid_param(id)],
    )
    .await
}

pub async fn by_idempotency_key(db: &Connection, key: &str) -> Result<Option<Order>, Problem> {
    one(
        db,
        &format!(
            "SELECT {cols} FROM orders WHERE idempotency_key = $1",
            cols = order_columns()
        ),
        vec![text_param(key)],
    )
    .await
}

/// Orders (of one client, or all), oldest first.
pub async fn list(
    db: &Connection,
    client: Option<Uuid>,
    page: PageRequest,
) -> Result<Page<Order>, Problem> {
    let mut params = vec![
        ParameterValue::Int64(page.after),
        ParameterValue::Int64(page.fetch_limit()),
    ];
    let filter = match client {
        Some(client) => {
            params.push(uuid_param(client));
            "AND client_id = $3"
        }
        None => "",
    };
    let found = rows(
        db,
        &format!(
            "SELECT {cols} FROM orders WHERE seq > $1 {filter} ORDER BY seq LIMIT $2",
            cols = order_columns()
        ),
        params,
    )
    .await?
    .iter()
    .map(order_row)
    .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(page, with_lines(db, found).await?))
}

/// What an insert attempt found.
pub enum Placed {
    /// This request created the order.
    Created(Order),
    /// Another request with the same key got there first.
    AlreadyPlaced,
}

/// Inserts the order, its lines and its cart-clear outbox row in one
/// transaction, unless an order with `key` exists (then nothing is written).
pub async fn place(
    db: &Connection,
    client: Uuid,
    key: &str,
    draft: &Draft,
) -> Result<Placed, Problem> {
    db.execute("BEGIN", vec![]).await.map_err(db::problem)?;
    let result = place_in_transaction(db, client, key, draft).await;
    let end = match &result {
        Ok(Placed::Created(_)) => "COMMIT",
        _ => "ROLLBACK",
    };
    db.execute(end, vec![]).await.map_err(db::problem)?;
    result
}

async fn place_in_transaction(
    db: &Connection,
    client: Uuid,
    key: &str,
    draft: &Draft,
) -> Result<Placed, Problem> {
    let inserted = rows(
        db,
        &format!(
            "INSERT INTO orders (client_id, total_cents, currency, idempotency_key) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING {cols}",
            cols = order_columns()
        ),
        vec![
            uuid_param(client),
            ParameterValue::Int64(draft.total_cents),
            text_param(&draft.currency),
            text_param(key),
        ],
    )
    .await?;
    let Some(row) = inserted.first() else {
        return Ok(Placed::AlreadyPlaced);
    };
    let (_, mut order) = order_row(row)?;
    let n = draft.lines.len();
    let positions = (0..n).map(|i| i32::try_from(i).ok()).collect();
    db.execute(
        "INSERT INTO order_lines (order_id, position, product_id, name, unit_price_cents, quantity, line_total_cents) \
         SELECT $1::uuid, * FROM unnest($2::int4[], $3::text[], $4::text[], $5::int8[], $6::int4[], $7::int8[])",
        vec![
            uuid_param(order.id),
            ParameterValue::ArrayInt32(positions),
            ParameterValue::ArrayStr(draft.lines.iter().map(|l| Some(l.product_id.clone())).collect()),
            ParameterValue::ArrayStr(draft.lines.iter().map(|l| Some(l.name.clone())).collect()),
            ParameterValue::ArrayInt64(draft.lines.iter().map(|l| Some(l.unit_price_cents)).collect()),
            ParameterValue::ArrayInt32(draft.lines.iter().map(|l| Some(l.quantity)).collect()),
            ParameterValue::ArrayInt64(draft.lines.iter().map(|l| Some(l.line_total_cents)).collect()),
        ],
    )
    .await
    .map_err(db::problem)?;
    db.execute(
        "INSERT INTO cart_clears (order_id, client_id) VALUES ($1, $2)",
        vec![uuid_param(order.id), uuid_param(client)],
    )
    .await
    .map_err(db::problem)?;
    order.lines = draft.lines.clone();
    Ok(Placed::Created(order))
}

/// Cancels a validated order. `Ok(None)` when there is no such order; a
/// 409 when it is not `validated`.
pub async fn cancel(db: &Connection, id: Uuid) -> Result<Option<Order>, Problem> {
    // The update is committed only once its answer (with its lines) reads.
    let cancelled = db::transaction(db, async |db| {
        one(
            db,
            &format!(
                "UPDATE orders SET status = 'cancelled', cancelled_at = now() \
                 WHERE id = $1 AND status = 'validated' RETURNING {cols}",
                cols = order_columns()
            ),
            vec![uuid_param(id)],
        )
        .await
    })
    .await?;
    if cancelled.is_some() {
        return Ok(cancelled);
    }
    match get(db, id).await? {
        Some(order) => Err(Problem::conflict(format!(
            "order {id} is {}, only a validated order can be cancelled",
            order.status
        ))),
        None => Ok(None),
    }
}

/// A cart still to clear of what its order took.
pub struct PendingClear {
    pub order: Uuid,
    pub client: Uuid,
    /// The order's lines: product ids and quantities, in order.
    pub product_ids: Vec<String>,
    pub quantities: Vec<i32>,
}

/// Carts still to clear, oldest first. With `order`, only that order's.
pub async fn pending_clears(
    db: &Connection,
    order: Option<Uuid>,
    limit: i64,
) -> Result<Vec<PendingClear>, Problem> {
    let (filter, mut params) = match order {
        Some(id) => ("WHERE c.order_id = $2", vec![uuid_param(id)]),
        None => ("", vec![]),
    };
    params.insert(0, ParameterValue::Int64(limit));
    rows(
        db,
        &format!(
            "SELECT c.order_id, c.client_id, \
                    array_agg(l.product_id ORDER BY l.position) AS product_ids, \
                    array_agg(l.quantity ORDER BY l.position) AS quantities \
             FROM cart_clears c JOIN order_lines l USING (order_id) {filter} \
             GROUP BY c.order_id, c.client_id, c.created_at ORDER BY c.created_at LIMIT $1"
        ),
        params,
    )
    .await?
    .iter()
    .map(|r| {
        Ok(PendingClear {
            order: column::<DbUuid>(r, "order_id")?.0,
            client: column::<DbUuid>(r, "client_id")?.0,
            product_ids: column::<Vec<Option<String>>>(r, "product_ids")?
                .into_iter()
                .flatten()
                .collect(),
            quantities: column::<Vec<Option<i32>>>(r, "quantities")?
                .into_iter()
                .flatten()
                .collect(),
        })
    })
    .collect()
}

/// Records the outcome of clearing `order`'s cart.
pub async fn clear_outcome(db: &Connection, order: Uuid, cleared: bool) -> Result<(), Problem> {
    let sql = if cleared {
        "DELETE FROM cart_clears WHERE order_id = $1"
    } else {
        "UPDATE cart_clears SET attempts = attempts + 1 WHERE order_id = $1"
    };
    db.execute(sql, vec![uuid_param(order)])
        .await
        .map_err(db::problem)?;
    Ok(())
}

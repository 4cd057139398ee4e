//! The orders, order_lines and cart_clears tables: every statement,
//! parameterised; order placement is one transaction.

use std::collections::HashMap;

use comptoir_kit::Problem;
use comptoir_kit::db::{
    self, DbTime, DbUuid, column, opt_uuid_param, rows, text_param, uuid_param,
};
use comptoir_kit::page::{Page, PageRequest};
use spin_sdk::pg::{self, Connection, DbValue, Decode, ParameterValue, Row};
use uuid::Uuid;

use crate::domain::{Draft, Order, OrderLine, OrderStatus};
use crate::placement::{Clear, Outbox, Prior, Stale};

impl Decode for OrderStatus {
    fn decode(value: &DbValue) -> Result<Self, pg::Error> {
        match value {
            DbValue::Str(raw) => OrderStatus::parse(raw)
                .ok_or_else(|| pg::Error::Decode(format!("unknown order status {raw:?}"))),
            other => Err(pg::Error::Decode(format!("expected text, got {other:?}"))),
        }
    }
}

fn order_columns() -> String {
    format!(
        "id, seq, client_id, status, total_cents, currency, owner_id, {}, {}",
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
            owner_id: column::<Option<DbUuid>>(row, "owner_id")?.map(|o| o.0),
            created_at: column::<DbTime>(row, "created_at")?.0,
            cancelled_at: column::<Option<DbTime>>(row, "cancelled_at")?.map(|t| t.0),
        },
    ))
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

/// One order with its lines, in one statement (the order's columns
/// repeated on each line's row); with `pending`, whether its cart clear is
/// still queued.
async fn with_its_lines(
    db: &Connection,
    filter: &str,
    params: Vec<ParameterValue>,
    pending: bool,
) -> Result<Option<(Order, bool)>, Problem> {
    let pending_column = if pending {
        "EXISTS (SELECT 1 FROM cart_clears c WHERE c.order_id = o.id)"
    } else {
        "false"
    };
    let found = rows(
        db,
        &format!(
            "SELECT o.id, o.seq, o.client_id, o.status, o.total_cents, o.currency, o.owner_id, \
                    o.created_at AT TIME ZONE 'UTC' AS created_at, \
                    o.cancelled_at AT TIME ZONE 'UTC' AS cancelled_at, \
                    {pending_column} AS clear_pending, \
                    l.product_id, l.name, l.unit_price_cents, l.quantity, l.line_total_cents \
             FROM orders o LEFT JOIN order_lines l ON l.order_id = o.id \
             WHERE {filter} ORDER BY l.position"
        ),
        params,
    )
    .await?;
    let Some(first) = found.first() else {
        return Ok(None);
    };
    let (_, mut order) = order_row(first)?;
    for row in &found {
        if let Some(product_id) = column::<Option<String>>(row, "product_id")? {
            order.lines.push(OrderLine {
                product_id,
                name: column(row, "name")?,
                unit_price_cents: column(row, "unit_price_cents")?,
                quantity: column(row, "quantity")?,
                line_total_cents: column(row, "line_total_cents")?,
            });
        }
    }
    Ok(Some((order, column(first, "clear_pending")?)))
}

/// The condition that order row `o` is within scope parameter `$n`
/// (NULL: every order; else only that owner's).
fn reachable(n: usize) -> String {
    format!("(${n}::uuid IS NULL OR o.owner_id = ${n}::uuid)")
}

/// Order `id`, if `scope` reaches it (`None`: staff, every order).
pub async fn get(db: &Connection, id: Uuid, scope: Option<Uuid>) -> Result<Option<Order>, Problem> {
    let filter = format!("o.id = $1 AND {}", reachable(2));
    let params = vec![uuid_param(id), opt_uuid_param(scope)];
    Ok(with_its_lines(db, &filter, params, false)
        .await?
        .map(|(order, _)| order))
}

/// The order placed with `key`, and whether its cart clear is pending.
pub async fn by_idempotency_key(db: &Connection, key: &str) -> Result<Option<Prior>, Problem> {
    Ok(
        with_its_lines(db, "o.idempotency_key = $1", vec![text_param(key)], true)
            .await?
            .map(|(order, clear_pending)| Prior {
                order,
                clear_pending,
            }),
    )
}

/// Orders (of one client, or all) within `scope`, oldest first.
pub async fn list(
    db: &Connection,
    client: Option<Uuid>,
    scope: Option<Uuid>,
    page: PageRequest,
) -> Result<Page<Order>, Problem> {
    let mut params = vec![
        ParameterValue::Int64(page.after),
        ParameterValue::Int64(page.fetch_limit()),
    ];
    let mut filter = String::new();
    for (column, value) in [("client_id", client), ("owner_id", scope)] {
        if let Some(value) = value {
            params.push(uuid_param(value));
            filter += &format!(" AND {column} = ${}", params.len());
        }
    }
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

/// Inserts the order, pending (its stock not yet reserved), and its lines
/// in one statement (so one transaction), unless an order with `key`
/// exists (then nothing is written: `None`).
pub async fn place(
    db: &Connection,
    client: Uuid,
    key: &str,
    draft: &Draft,
    owner: Option<Uuid>,
) -> Result<Option<Order>, Problem> {
    let n = draft.lines.len();
    let positions = (0..n).map(|i| i32::try_from(i).ok()).collect();
    let inserted = rows(
        db,
        &format!(
            "WITH placed AS ( \
                 INSERT INTO orders (client_id, total_cents, currency, idempotency_key, owner_id, status) \
                 VALUES ($1, $2, $3, $4, $11, 'pending') \
                 ON CONFLICT (idempotency_key) DO NOTHING RETURNING {cols}), \
             lines AS ( \
                 INSERT INTO order_lines (order_id, position, product_id, name, unit_price_cents, quantity, line_total_cents) \
                 SELECT placed.id, l.* FROM placed, \
                     unnest($5::int4[], $6::text[], $7::text[], $8::int8[], $9::int4[], $10::int8[]) AS l) \
             SELECT * FROM placed",
            cols = order_columns()
        ),
        vec![
            uuid_param(client),
            ParameterValue::Int64(draft.total_cents),
            text_param(&draft.currency),
            text_param(key),
            ParameterValue::ArrayInt32(positions),
            ParameterValue::ArrayStr(draft.lines.iter().map(|l| Some(l.product_id.clone())).collect()),
            ParameterValue::ArrayStr(draft.lines.iter().map(|l| Some(l.name.clone())).collect()),
            ParameterValue::ArrayInt64(draft.lines.iter().map(|l| Some(l.unit_price_cents)).collect()),
            ParameterValue::ArrayInt32(draft.lines.iter().map(|l| Some(l.quantity)).collect()),
            ParameterValue::ArrayInt64(draft.lines.iter().map(|l| Some(l.line_total_cents)).collect()),
            opt_uuid_param(owner),
        ],
    )
    .await?;
    let Some(row) = inserted.first() else {
        return Ok(None);
    };
    let (_, mut order) = order_row(row)?;
    order.lines = draft.lines.clone();
    Ok(Some(order))
}

/// Cancels a validated order within `scope`, and queues the release of its
/// stock in the same transaction. `Ok(None)` when there is no such order
/// (or not the caller's); a 409 when it is not `validated`.
pub async fn cancel(
    db: &Connection,
    id: Uuid,
    scope: Option<Uuid>,
) -> Result<Option<Order>, Problem> {
    // The update is committed only once its answer (with its lines) reads.
    let cancelled = db::transaction(db, async |db| {
        one(
            db,
            &format!(
                "WITH cancelled AS ( \
                     UPDATE orders o SET status = 'cancelled', cancelled_at = now() \
                     WHERE id = $1 AND status = 'validated' AND {scope} RETURNING {cols}), \
                 queued AS (INSERT INTO stock_releases (order_id) SELECT id FROM cancelled) \
                 SELECT * FROM cancelled",
                scope = reachable(2),
                cols = order_columns()
            ),
            vec![uuid_param(id), opt_uuid_param(scope)],
        )
        .await
    })
    .await?;
    if cancelled.is_some() {
        return Ok(cancelled);
    }
    match get(db, id, scope).await? {
        Some(order) => Err(Problem::conflict(format!(
            "order {id} is {}, only a validated order can be cancelled",
            order.status
        ))),
        None => Ok(None),
    }
}

/// How old another placement's queued clear must be before this one
/// retries it: younger ones are most likely being cleared by their own
/// placement right now.
const STALE_CLEAR: &str = "5 seconds";

/// Records the outcome of clearing `order`'s cart. When the clear was
/// confirmed, the same statement returns up to `others` stale clears still
/// queued (other orders', oldest first), so nothing is scanned by another
/// statement when none is pending.
pub async fn record_clear(
    db: &Connection,
    order: Uuid,
    step: Outbox,
) -> Result<Vec<Clear>, Problem> {
    let Outbox::Done { others } = step else {
        db.execute(
            "UPDATE cart_clears SET attempts = attempts + 1 WHERE order_id = $1",
            vec![uuid_param(order)],
        )
        .await
        .map_err(db::problem)?;
        return Ok(Vec::new());
    };
    rows(
        db,
        &format!(
            "WITH done AS (DELETE FROM cart_clears WHERE order_id = $1) \
             SELECT c.order_id, c.client_id, \
                    array_agg(l.product_id ORDER BY l.position) AS product_ids, \
                    array_agg(l.quantity ORDER BY l.position) AS quantities \
             FROM cart_clears c JOIN order_lines l USING (order_id) \
             WHERE c.order_id <> $1 AND c.created_at < now() - interval '{STALE_CLEAR}' \
             GROUP BY c.order_id, c.client_id, c.created_at ORDER BY c.created_at LIMIT $2"
        ),
        vec![uuid_param(order), ParameterValue::Int64(others)],
    )
    .await?
    .iter()
    .map(|r| {
        let product_ids = column::<Vec<Option<String>>>(r, "product_ids")?;
        let quantities = column::<Vec<Option<i32>>>(r, "quantities")?;
        Ok(Clear {
            order: column::<DbUuid>(r, "order_id")?.0,
            client: column::<DbUuid>(r, "client_id")?.0,
            lines: product_ids
                .into_iter()
                .flatten()
                .zip(quantities.into_iter().flatten())
                .collect(),
            // A retried clear takes up no others: one placement retries a
            // bounded number of them.
            others: 0,
        })
    })
    .collect()
}

/// How old a pending order must be before another placement settles it
/// (its own placement most likely died), and a queued release before
/// another placement retries it.
const STALE_PENDING: &str = "10 seconds";
const STALE_RELEASE: &str = "5 seconds";
/// Stale pending orders and releases one placement takes up, of each.
const STALE_PER_REQUEST: i64 = 5;

fn uuids(row: &Row, name: &str) -> Result<Vec<Uuid>, Problem> {
    Ok(column::<Option<Vec<Option<String>>>>(row, name)?
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .filter_map(|id| id.parse().ok())
        .collect())
}

/// Validates pending `order` (its stock is held) and queues its cart
/// clear, in one statement that also returns the stale work a placement
/// takes up: pending orders a dead placement left, releases not yet
/// confirmed. `None` when the order is no longer pending.
pub async fn validate(db: &Connection, order: &Order) -> Result<Option<(Order, Stale)>, Problem> {
    let found = rows(
        db,
        &format!(
            "WITH validated AS ( \
                 UPDATE orders o SET status = 'validated' \
                 WHERE id = $1 AND status = 'pending' RETURNING {cols}), \
             queued AS ( \
                 INSERT INTO cart_clears (order_id, client_id) SELECT id, client_id FROM validated) \
             SELECT validated.*, \
                 (SELECT array_agg(order_id::text) FROM (SELECT order_id FROM stock_releases \
                     WHERE created_at < now() - interval '{STALE_RELEASE}' \
                     ORDER BY created_at LIMIT $2) r) AS stale_releases, \
                 (SELECT array_agg(id::text) FROM (SELECT id FROM orders \
                     WHERE status = 'pending' AND id <> $1 \
                     AND created_at < now() - interval '{STALE_PENDING}' \
                     ORDER BY created_at LIMIT $2) p) AS stale_pending \
             FROM validated",
            cols = order_columns()
        ),
        vec![uuid_param(order.id), ParameterValue::Int64(STALE_PER_REQUEST)],
    )
    .await?;
    let Some(row) = found.first() else {
        return Ok(None);
    };
    let (_, mut validated) = order_row(row)?;
    validated.lines = order.lines.clone();
    let stale = Stale {
        releases: uuids(row, "stale_releases")?,
        pending: uuids(row, "stale_pending")?,
    };
    Ok(Some((validated, stale)))
}

/// Deletes pending order `id` (refused: its key may be used again) and
/// queues the release of whatever stock it may hold, in one statement;
/// whether it was still pending.
pub async fn refuse(db: &Connection, id: Uuid) -> Result<bool, Problem> {
    let found = rows(
        db,
        "WITH gone AS (DELETE FROM orders WHERE id = $1 AND status = 'pending' RETURNING id), \
         queued AS (INSERT INTO stock_releases (order_id) SELECT id FROM gone \
                    ON CONFLICT (order_id) DO NOTHING) \
         SELECT count(*) AS gone FROM gone",
        vec![uuid_param(id)],
    )
    .await?;
    Ok(found
        .first()
        .map(|r| column::<i64>(r, "gone"))
        .transpose()?
        .unwrap_or(0)
        > 0)
}

/// The catalogue confirmed the release of order `id`'s stock.
pub async fn released(db: &Connection, id: Uuid) -> Result<(), Problem> {
    db.execute(
        "DELETE FROM stock_releases WHERE order_id = $1",
        vec![uuid_param(id)],
    )
    .await
    .map_err(db::problem)?;
    Ok(())
}

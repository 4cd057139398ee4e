//! The carts and cart_items tables: every statement, parameterised.

use comptoir_kit::Problem;
use comptoir_kit::db::{self, DbTime, column, text_param, uuid_param};
use spin_sdk::pg::{Connection, ParameterValue};
use uuid::Uuid;

use crate::domain::{CURRENCY, Cart, Checkout, Line, NewItem};

/// SQLSTATE of a CHECK violation (here: a quantity beyond 1000).
const CHECK_VIOLATION: &str = "23514";

/// The cart of `client_id` (empty when it has none).
pub async fn load(db: &Connection, client_id: Uuid) -> Result<Cart, Problem> {
    let rows = db
        .query(
            "SELECT c.currency, c.updated_at AT TIME ZONE 'UTC' AS updated_at, i.product_id, i.name, i.unit_price_cents, i.quantity \
             FROM carts c LEFT JOIN cart_items i USING (client_id) \
             WHERE c.client_id = $1 ORDER BY i.seq",
            vec![uuid_param(client_id)],
        )
        .await
        .map_err(db::problem)?
        .collect()
        .await
        .map_err(db::problem)?;
    let Some(first) = rows.first() else {
        return Ok(Cart::new(client_id, Vec::new(), CURRENCY.into(), None));
    };
    let currency: String = column(first, "currency")?;
    let updated_at = column::<DbTime>(first, "updated_at")?.0;
    let mut items = Vec::new();
    for row in &rows {
        let Some(product_id) = column::<Option<String>>(row, "product_id")? else {
            continue; // a cart row with no items
        };
        items.push(Line::new(
            product_id,
            column(row, "name")?,
            column(row, "unit_price_cents")?,
            column(row, "quantity")?,
        ));
    }
    Ok(Cart::new(client_id, items, currency, Some(updated_at)))
}

/// Adds `item`; a SKU already in the cart gets its quantity increased.
pub async fn add(db: &Connection, client_id: Uuid, item: &NewItem) -> Result<(), Problem> {
    db.execute(
        "WITH cart AS ( \
             INSERT INTO carts (client_id) VALUES ($1) \
             ON CONFLICT (client_id) DO UPDATE SET updated_at = now() \
             RETURNING client_id) \
         INSERT INTO cart_items (client_id, product_id, name, unit_price_cents, quantity) \
         SELECT client_id, $2, $3, $4, $5 FROM cart \
         ON CONFLICT (client_id, product_id) DO UPDATE SET \
             quantity = cart_items.quantity + EXCLUDED.quantity, \
             name = EXCLUDED.name, \
             unit_price_cents = EXCLUDED.unit_price_cents",
        vec![
            uuid_param(client_id),
            text_param(&item.product_id),
            text_param(&item.name),
            ParameterValue::Int64(item.unit_price_cents),
            ParameterValue::Int32(item.quantity),
        ],
    )
    .await
    .map_err(|e| {
        if db::sqlstate(&e) == Some(CHECK_VIOLATION) {
            Problem::rule(
                "quantity-limit",
                format!(
                    "a line may hold at most {} units",
                    crate::domain::QUANTITY_MAX
                ),
            )
        } else {
            db::problem(e)
        }
    })?;
    Ok(())
}

/// Sets the quantity of `product_id` (0 removes it); `false` when the cart
/// has no such line.
pub async fn set_quantity(
    db: &Connection,
    client_id: Uuid,
    product_id: &str,
    quantity: i32,
) -> Result<bool, Problem> {
    let change = if quantity == 0 {
        "DELETE FROM cart_items WHERE client_id = $1 AND product_id = $2"
    } else {
        "UPDATE cart_items SET quantity = $3 WHERE client_id = $1 AND product_id = $2"
    };
    let mut params = vec![uuid_param(client_id), text_param(product_id)];
    if quantity != 0 {
        params.push(ParameterValue::Int32(quantity));
    }
    let touched = db
        .execute(
            // The cart row is locked before the line, as an add does.
            format!(
                "WITH cart AS (SELECT client_id FROM carts WHERE client_id = $1 FOR UPDATE), \
                 item AS ({change} AND EXISTS (SELECT 1 FROM cart) RETURNING client_id) \
                 UPDATE carts SET updated_at = now() WHERE client_id IN (SELECT client_id FROM item)"
            ),
            params,
        )
        .await
        .map_err(db::problem)?;
    Ok(touched > 0)
}

/// Removes what order `checkout.order_id` took from the cart, once: a
/// replayed checkout of the same order changes nothing. A line is lowered
/// by the quantity ordered (removed when nothing is left), so an item
/// added since the order read the cart stays. `false` when this order's
/// checkout was already applied.
pub async fn checkout(
    db: &Connection,
    client_id: Uuid,
    checkout: &Checkout,
) -> Result<bool, Problem> {
    let rows = db
        .query(
            // Locks are taken cart first, then lines (the order an add
            // takes them in, so the two never deadlock); `took` computes
            // what is left of each ordered line from its latest version, so
            // a line changed concurrently is lowered from what it holds now.
            "WITH applied AS ( \
                 INSERT INTO applied_checkouts (order_id, client_id) VALUES ($1, $2) \
                 ON CONFLICT (order_id) DO NOTHING RETURNING order_id), \
             cart AS ( \
                 SELECT client_id FROM carts \
                 WHERE client_id = $2 AND EXISTS (SELECT 1 FROM applied) FOR UPDATE), \
             took AS ( \
                 SELECT i.product_id, i.quantity - o.quantity AS left_over \
                 FROM cart_items i \
                 JOIN unnest($3::text[], $4::int4[]) AS o(product_id, quantity) USING (product_id) \
                 WHERE i.client_id = $2 AND EXISTS (SELECT 1 FROM cart) \
                 FOR UPDATE OF i), \
             lowered AS ( \
                 UPDATE cart_items i SET quantity = t.left_over FROM took t \
                 WHERE i.client_id = $2 AND i.product_id = t.product_id AND t.left_over > 0 \
                 RETURNING i.product_id), \
             removed AS ( \
                 DELETE FROM cart_items i USING took t \
                 WHERE i.client_id = $2 AND i.product_id = t.product_id AND t.left_over <= 0 \
                 RETURNING i.product_id), \
             touched AS ( \
                 UPDATE carts SET updated_at = now() WHERE client_id = $2 \
                 AND EXISTS (SELECT 1 FROM lowered UNION ALL SELECT 1 FROM removed) \
                 RETURNING client_id) \
             SELECT count(*) AS applied FROM applied",
            vec![
                uuid_param(checkout.order_id),
                uuid_param(client_id),
                ParameterValue::ArrayStr(checkout.product_ids.iter().cloned().map(Some).collect()),
                ParameterValue::ArrayInt32(checkout.quantities.iter().copied().map(Some).collect()),
            ],
        )
        .await
        .map_err(db::problem)?
        .collect()
        .await
        .map_err(db::problem)?;
    let applied = rows
        .first()
        .map(|row| column::<i64>(row, "applied"))
        .transpose()?
        .unwrap_or(0);
    Ok(applied > 0)
}

/// Empties the cart (a no-op when there is none).
pub async fn clear(db: &Connection, client_id: Uuid) -> Result<(), Problem> {
    db.execute(
        "DELETE FROM carts WHERE client_id = $1",
        vec![uuid_param(client_id)],
    )
    .await
    .map_err(db::problem)?;
    Ok(())
}

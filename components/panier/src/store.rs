//! The carts and cart_items tables: every statement, parameterised.
//!
//! Each cart operation is one statement that changes the cart and returns
//! it (data-modifying CTEs), together with what panier knows of its client
//! (`carts.client_status`, see [`ClientStatus`]): only a cart whose client
//! was verified is served without asking the clients service. Every column
//! of an answer is cast to the type the component decodes, so a statement
//! either fails as a whole (nothing written) or its answer decodes.

use comptoir_kit::Problem;
use comptoir_kit::db::{self, DbTime, column, text_param, uuid_param};
use spin_sdk::pg::{Connection, ParameterValue, Row};
use uuid::Uuid;

use crate::domain::{self, CURRENCY, Cart, Checkout, ClientStatus, Line, NewItem};

/// SQLSTATE of a CHECK violation (here: a quantity beyond 1000).
const CHECK_VIOLATION: &str = "23514";

/// What a cart statement found.
pub enum Outcome<T> {
    /// The client is verified: the operation ran.
    Done(T),
    /// Panier cannot tell whether the client exists (no cart row, or one
    /// written before client checks were recorded): ask clients.
    Unverified,
    /// The client was deleted: 404, without asking.
    Gone,
}

/// The state of the client as one statement saw it: `verified` when the
/// statement's `shown` CTE holds the cart, else what the cart row says.
const STATE_OF_WRITE: &str = "CASE WHEN EXISTS (SELECT 1 FROM shown) THEN 'verified' \
     ELSE coalesce((SELECT client_status FROM carts WHERE client_id = $1), 'none') END";

/// The final `SELECT` of a cart statement: the client's state, then the
/// cart (`shown`: currency, updated_at) and its `lines`, one row per line.
fn answer(state: &str, extra: &str) -> String {
    format!(
        "SELECT s.state::text AS state, {extra} c.currency::text AS currency, \
                c.updated_at AT TIME ZONE 'UTC' AS updated_at, \
                l.product_id::text AS product_id, l.name::text AS name, \
                l.unit_price_cents::int8 AS unit_price_cents, l.quantity::int4 AS quantity \
         FROM (SELECT {state} AS state) s \
         LEFT JOIN shown c ON true \
         LEFT JOIN lines l ON c.currency IS NOT NULL \
         ORDER BY l.seq"
    )
}

/// The lines of the client's cart other than `$2`, as of the statement's
/// start, when `shown` holds the cart.
const OTHER_LINES: &str = "SELECT product_id, name, unit_price_cents, quantity, seq FROM cart_items \
     WHERE client_id = $1 AND product_id <> $2 AND EXISTS (SELECT 1 FROM shown)";

/// Every row of a cart statement, with [`write_error`]'s reading of errors.
async fn query(
    db: &Connection,
    sql: &str,
    params: Vec<ParameterValue>,
) -> Result<Vec<Row>, Problem> {
    db::rows_or(db, sql, params, write_error).await
}

/// A quantity beyond the limit is a 422; other errors the usual way.
fn write_error(e: spin_sdk::pg::Error) -> Problem {
    if db::sqlstate(&e) == Some(CHECK_VIOLATION) {
        Problem::rule(
            "quantity-limit",
            format!("a line may hold at most {} units", domain::QUANTITY_MAX),
        )
    } else {
        db::problem(e)
    }
}

/// The client's state as the first row of an [`answer`] gives it.
fn status(rows: &[Row]) -> Result<ClientStatus, Problem> {
    let state: String = match rows.first() {
        Some(row) => column(row, "state")?,
        None => "none".into(),
    };
    Ok(ClientStatus::parse(&state))
}

/// The cart of `client_id` from the rows of an [`answer`] (empty when the
/// statement saw no cart row).
fn cart(client_id: Uuid, rows: &[Row]) -> Result<Cart, Problem> {
    let Some(currency) = rows
        .first()
        .map(|row| column::<Option<String>>(row, "currency"))
        .transpose()?
        .flatten()
    else {
        return Ok(Cart::new(client_id, Vec::new(), CURRENCY.into(), None));
    };
    let updated_at = column::<DbTime>(&rows[0], "updated_at")?.0;
    let mut items = Vec::new();
    for row in rows {
        let Some(product_id) = column::<Option<String>>(row, "product_id")? else {
            continue; // a cart with no lines
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

/// The outcome of a statement that writes only to a verified client's
/// cart (`shown` empty otherwise).
fn outcome(client_id: Uuid, rows: &[Row]) -> Result<Outcome<Cart>, Problem> {
    Ok(match status(rows)? {
        ClientStatus::Verified => Outcome::Done(cart(client_id, rows)?),
        ClientStatus::Unknown => Outcome::Unverified,
        ClientStatus::Gone => Outcome::Gone,
    })
}

/// The cart of `client_id` (items included unless the client is gone).
pub async fn load(db: &Connection, client_id: Uuid) -> Result<(ClientStatus, Cart), Problem> {
    let sql = format!(
        "WITH shown AS ( \
             SELECT currency, updated_at FROM carts \
             WHERE client_id = $1 AND client_status <> 'gone'), \
         lines AS ( \
             SELECT product_id, name, unit_price_cents, quantity, seq FROM cart_items \
             WHERE client_id = $1 AND EXISTS (SELECT 1 FROM shown)) \
         {}",
        answer(
            "coalesce((SELECT client_status FROM carts WHERE client_id = $1), 'none')",
            ""
        )
    );
    let rows = query(db, &sql, vec![uuid_param(client_id)]).await?;
    Ok((status(&rows)?, cart(client_id, &rows)?))
}

/// Adds `item` (a SKU already in the cart gets its quantity increased) and
/// returns the cart. With `checked` (the clients service just confirmed
/// the client) the cart is created and marked verified unless the client
/// is gone; otherwise only a verified cart is written.
pub async fn add(
    db: &Connection,
    client_id: Uuid,
    item: &NewItem,
    checked: bool,
) -> Result<Outcome<Cart>, Problem> {
    let shown = if checked {
        // A tombstone is the same row: a concurrent forget either ran first
        // (the conflict's WHERE sees it) or waits for this row lock.
        "INSERT INTO carts (client_id, client_status) VALUES ($1, 'verified') \
         ON CONFLICT (client_id) DO UPDATE SET updated_at = now(), client_status = 'verified' \
         WHERE carts.client_status <> 'gone' \
         RETURNING currency, updated_at"
    } else {
        "UPDATE carts SET updated_at = now() \
         WHERE client_id = $1 AND client_status = 'verified' \
         RETURNING currency, updated_at"
    };
    let sql = format!(
        "WITH shown AS ({shown}), \
         item AS ( \
             INSERT INTO cart_items (client_id, product_id, name, unit_price_cents, quantity) \
             SELECT $1, $2, $3, $4, $5 FROM shown \
             ON CONFLICT (client_id, product_id) DO UPDATE SET \
                 quantity = cart_items.quantity + EXCLUDED.quantity, \
                 name = EXCLUDED.name, \
                 unit_price_cents = EXCLUDED.unit_price_cents \
             RETURNING product_id, name, unit_price_cents, quantity, seq), \
         lines AS (SELECT * FROM item UNION ALL {OTHER_LINES}) \
         {}",
        answer(STATE_OF_WRITE, "")
    );
    let rows = query(
        db,
        &sql,
        vec![
            uuid_param(client_id),
            text_param(&item.product_id),
            text_param(&item.name),
            ParameterValue::Int64(item.unit_price_cents),
            ParameterValue::Int32(item.quantity),
        ],
    )
    .await?;
    outcome(client_id, &rows)
}

/// Sets the quantity of `product_id` (0 removes it) in a verified cart and
/// returns the cart; `Done(None)` when the cart has no such line.
pub async fn set_quantity(
    db: &Connection,
    client_id: Uuid,
    product_id: &str,
    quantity: i32,
) -> Result<Outcome<Option<Cart>>, Problem> {
    let (change, kept) = if quantity == 0 {
        (
            "DELETE FROM cart_items",
            "SELECT * FROM changed WHERE false",
        )
    } else {
        (
            "UPDATE cart_items SET quantity = $3",
            "SELECT * FROM changed",
        )
    };
    let mut params = vec![uuid_param(client_id), text_param(product_id)];
    if quantity != 0 {
        params.push(ParameterValue::Int32(quantity));
    }
    // The cart row is locked before the line, as an add does.
    let sql = format!(
        "WITH cart AS ( \
             SELECT currency, updated_at FROM carts \
             WHERE client_id = $1 AND client_status = 'verified' FOR UPDATE), \
         changed AS ( \
             {change} WHERE client_id = $1 AND product_id = $2 AND EXISTS (SELECT 1 FROM cart) \
             RETURNING product_id, name, unit_price_cents, quantity, seq), \
         touched AS ( \
             UPDATE carts SET updated_at = now() \
             WHERE client_id = $1 AND EXISTS (SELECT 1 FROM changed) RETURNING updated_at), \
         shown AS ( \
             SELECT currency, coalesce((SELECT updated_at FROM touched), cart.updated_at) AS updated_at \
             FROM cart), \
         lines AS ({kept} UNION ALL {OTHER_LINES}) \
         {}",
        answer(
            STATE_OF_WRITE,
            "(SELECT count(*) FROM changed)::int8 AS changed,"
        )
    );
    let rows = query(db, &sql, params).await?;
    let changed = rows
        .first()
        .map(|row| column::<i64>(row, "changed"))
        .transpose()?
        .unwrap_or(0);
    Ok(match outcome(client_id, &rows)? {
        Outcome::Done(cart) => Outcome::Done((changed > 0).then_some(cart)),
        Outcome::Unverified => Outcome::Unverified,
        Outcome::Gone => Outcome::Gone,
    })
}

/// Empties a verified cart (a no-op when it has no lines).
pub async fn clear(db: &Connection, client_id: Uuid) -> Result<Outcome<()>, Problem> {
    let rows = query(
        db,
        &format!(
            "WITH shown AS ( \
                 SELECT client_id FROM carts \
                 WHERE client_id = $1 AND client_status = 'verified' FOR UPDATE), \
             removed AS ( \
                 DELETE FROM cart_items \
                 WHERE client_id = $1 AND EXISTS (SELECT 1 FROM shown) RETURNING 1), \
             touched AS ( \
                 UPDATE carts SET updated_at = now() \
                 WHERE client_id = $1 AND EXISTS (SELECT 1 FROM removed) RETURNING 1) \
             SELECT ({STATE_OF_WRITE})::text AS state"
        ),
        vec![uuid_param(client_id)],
    )
    .await?;
    Ok(match status(&rows)? {
        ClientStatus::Verified => Outcome::Done(()),
        ClientStatus::Unknown => Outcome::Unverified,
        ClientStatus::Gone => Outcome::Gone,
    })
}

/// Records that the clients service confirmed `client_id` (creating its
/// empty cart if need be); `false` when the client is gone.
pub async fn verify(db: &Connection, client_id: Uuid) -> Result<bool, Problem> {
    let touched = db
        .execute(
            "INSERT INTO carts (client_id, client_status) VALUES ($1, 'verified') \
             ON CONFLICT (client_id) DO UPDATE SET client_status = 'verified' \
             WHERE carts.client_status <> 'gone'",
            vec![uuid_param(client_id)],
        )
        .await
        .map_err(db::problem)?;
    Ok(touched > 0)
}

/// Forgets a deleted client: its cart row becomes a tombstone (every cart
/// route answers 404 from now on, and no add can recreate the cart), then
/// its lines and applied checkouts are deleted.
pub async fn forget(db: &Connection, client_id: Uuid) -> Result<(), Problem> {
    // Two statements, in this order: the upsert waits for any add holding
    // the cart row; the delete that follows (a new snapshot) then sees every
    // line such an add committed, and later adds meet the tombstone.
    db.execute(
        "INSERT INTO carts (client_id, client_status) VALUES ($1, 'gone') \
         ON CONFLICT (client_id) DO UPDATE SET client_status = 'gone', updated_at = now()",
        vec![uuid_param(client_id)],
    )
    .await
    .map_err(db::problem)?;
    db.execute(
        "WITH applied AS (DELETE FROM applied_checkouts WHERE client_id = $1) \
         DELETE FROM cart_items WHERE client_id = $1",
        vec![uuid_param(client_id)],
    )
    .await
    .map_err(db::problem)?;
    Ok(())
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
    let rows = db::rows(
        db,
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
    .await?;
    let applied = rows
        .first()
        .map(|row| column::<i64>(row, "applied"))
        .transpose()?
        .unwrap_or(0);
    Ok(applied > 0)
}

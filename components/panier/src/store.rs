//! The carts and cart_items tables: every statement, parameterised.
//!
//! Each cart operation is one statement that changes the cart and returns
//! it (data-modifying CTEs), together with what panier knows of its client
//! (`carts.client_status`, see [`ClientStatus`]): only a cart whose client
//! was verified is served without asking the clients service, and only to
//! its owner or staff (the caller's scope is a parameter of the same
//! statement: another customer's cart reads as a deleted client's). Every column
//! of an answer is cast to the type the component decodes, so a statement
//! either fails as a whole (nothing written) or its answer decodes.

use comptoir_kit::Problem;
use comptoir_kit::db::{self, DbTime, DbUuid, column, opt_uuid_param, text_param, uuid_param};
use spin_sdk::pg::{Connection, ParameterValue, Row};
use uuid::Uuid;

use crate::domain::{self, CURRENCY, Cart, Checkout, ClientStatus, Line, NewItem, Repriced};

/// SQLSTATE of a CHECK violation (here: a quantity beyond 1000).
const CHECK_VIOLATION: &str = "23514";

/// Most lines a cart holds: what one order takes.
pub const LINES_MAX: i64 = domain::CHECKOUT_LINES_MAX as i64;

/// How a statement may reach a cart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A verified cart within the caller's scope (`None`: staff, any cart;
    /// `Some(owner)`: that owner's only).
    Scope(Option<Uuid>),
    /// The clients service just confirmed the client to this caller: the
    /// cart is verified (created if need be) and `owner` recorded as its
    /// owner (the client's, `None` for a client staff made).
    Confirmed { owner: Option<Uuid> },
}

/// The condition that the row of `carts` (as `alias`) is within scope
/// parameter `$n` (NULL: every cart; else only that owner's).
fn owned(alias: &str, n: usize) -> String {
    format!("(${n}::uuid IS NULL OR coalesce({alias}.owner_id = ${n}::uuid, false))")
}

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
/// statement's `shown` CTE holds the cart, else what the cart row says,
/// where a verified cart outside scope `$n` reads `gone` (a 404, as for
/// an id that does not exist).
fn state_of_write(n: usize) -> String {
    format!(
        "CASE WHEN EXISTS (SELECT 1 FROM shown) THEN 'verified' ELSE {} END",
        state_of_row(n)
    )
}

/// What the cart row says of its client, for a caller of scope `$n`.
fn state_of_row(n: usize) -> String {
    format!(
        "coalesce((SELECT CASE WHEN r.client_status = 'verified' AND NOT {} THEN 'gone' \
                      ELSE r.client_status END \
                   FROM carts r WHERE r.client_id = $1), 'none')",
        owned("r", n)
    )
}

/// The final `SELECT` of a cart statement: the client's state, then the
/// cart (`shown`: currency, updated_at) and its `lines`, one row per line.
fn answer(state: &str, extra: &str) -> String {
    format!(
        "SELECT s.state::text AS state, {extra} c.currency::text AS currency, \
                c.updated_at AT TIME ZONE 'UTC' AS updated_at, c.owner_id AS owner_id, \
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
    let owner = column::<Option<DbUuid>>(&rows[0], "owner_id")?.map(|o| o.0);
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
    let mut cart = Cart::new(client_id, items, currency, Some(updated_at));
    cart.owner_id = owner;
    Ok(cart)
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

/// The cart of `client_id` for a caller of `scope` (items included unless
/// the client is gone, or the cart verified for another owner).
pub async fn load(
    db: &Connection,
    client_id: Uuid,
    scope: Option<Uuid>,
) -> Result<(ClientStatus, Cart), Problem> {
    let sql = format!(
        "WITH shown AS ( \
             SELECT currency, updated_at, owner_id FROM carts c \
             WHERE client_id = $1 AND client_status <> 'gone' \
             AND (client_status <> 'verified' OR {})), \
         lines AS ( \
             SELECT product_id, name, unit_price_cents, quantity, seq FROM cart_items \
             WHERE client_id = $1 AND EXISTS (SELECT 1 FROM shown)) \
         {}",
        owned("c", 2),
        answer(&state_of_row(2), "")
    );
    let rows = query(db, &sql, vec![uuid_param(client_id), opt_uuid_param(scope)]).await?;
    Ok((status(&rows)?, cart(client_id, &rows)?))
}

/// Adds `item` (a SKU already in the cart gets its quantity increased) and
/// returns the cart. With [`Access::Confirmed`] the cart is created (or
/// marked) verified with its owner unless the client is gone; otherwise
/// only a verified cart within scope is written. A new SKU in a cart of
/// [`LINES_MAX`] lines is refused (422), nothing written.
pub async fn add(
    db: &Connection,
    client_id: Uuid,
    item: &NewItem,
    access: Access,
) -> Result<Outcome<Cart>, Problem> {
    let (shown, who) = match access {
        // A tombstone is the same row: a concurrent forget either ran first
        // (the conflict's WHERE sees it) or waits for this row lock.
        Access::Confirmed { owner } => (
            "INSERT INTO carts (client_id, client_status, owner_id) \
             SELECT $1, 'verified', $7 FROM room WHERE room.ok \
             ON CONFLICT (client_id) DO UPDATE SET updated_at = now(), \
                 client_status = 'verified', owner_id = EXCLUDED.owner_id \
             WHERE carts.client_status <> 'gone' \
             RETURNING currency, updated_at, owner_id"
                .to_owned(),
            owner,
        ),
        Access::Scope(scope) => (
            format!(
                "UPDATE carts c SET updated_at = now() \
                 WHERE client_id = $1 AND client_status = 'verified' AND {} \
                 AND (SELECT ok FROM room) \
                 RETURNING currency, updated_at, owner_id",
                owned("c", 7)
            ),
            scope,
        ),
    };
    // `room`: whether the item fits (its SKU is in the cart, or fewer than
    // `$6` lines are); when it does not, nothing is written. With
    // `Confirmed`, `$7` is the owner just recorded: the row is within its
    // own scope.
    let sql = format!(
        "WITH room AS ( \
             SELECT $6 > (SELECT count(*) FROM cart_items \
                 WHERE client_id = $1 AND product_id <> $2) AS ok), \
         shown AS ({shown}), \
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
        answer(&state_of_write(7), "(SELECT ok FROM room) AS room,")
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
            ParameterValue::Int64(LINES_MAX),
            opt_uuid_param(who),
        ],
    )
    .await?;
    let outcome = outcome(client_id, &rows)?;
    let room = rows
        .first()
        .map(|row| column::<bool>(row, "room"))
        .transpose()?
        .unwrap_or(true);
    if matches!(outcome, Outcome::Done(_)) && !room {
        return Err(Problem::rule(
            "cart-full",
            format!("a cart holds at most {LINES_MAX} lines (what one order takes)"),
        ));
    }
    Ok(outcome)
}

/// Sets the quantity of `product_id` (0 removes it) in a verified cart and
/// returns the cart; `Done(None)` when the cart has no such line.
pub async fn set_quantity(
    db: &Connection,
    client_id: Uuid,
    product_id: &str,
    quantity: i32,
    scope: Option<Uuid>,
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
    params.push(opt_uuid_param(scope));
    let scope_n = params.len();
    // The cart row is locked before the line, as an add does.
    let sql = format!(
        "WITH cart AS ( \
             SELECT currency, updated_at, owner_id FROM carts c \
             WHERE client_id = $1 AND client_status = 'verified' AND {} FOR UPDATE), \
         changed AS ( \
             {change} WHERE client_id = $1 AND product_id = $2 AND EXISTS (SELECT 1 FROM cart) \
             RETURNING product_id, name, unit_price_cents, quantity, seq), \
         touched AS ( \
             UPDATE carts SET updated_at = now() \
             WHERE client_id = $1 AND EXISTS (SELECT 1 FROM changed) RETURNING updated_at), \
         shown AS ( \
             SELECT currency, coalesce((SELECT updated_at FROM touched), cart.updated_at) AS updated_at, \
                    owner_id \
             FROM cart), \
         lines AS ({kept} UNION ALL {OTHER_LINES}) \
         {}",
        owned("c", scope_n),
        answer(
            &state_of_write(scope_n),
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

/// Empties a verified cart within `scope` (a no-op when it has no lines).
pub async fn clear(
    db: &Connection,
    client_id: Uuid,
    scope: Option<Uuid>,
) -> Result<Outcome<()>, Problem> {
    let rows = query(
        db,
        &format!(
            "WITH shown AS ( \
                 SELECT client_id FROM carts c \
                 WHERE client_id = $1 AND client_status = 'verified' AND {} FOR UPDATE), \
             removed AS ( \
                 DELETE FROM cart_items \
                 WHERE client_id = $1 AND EXISTS (SELECT 1 FROM shown) RETURNING 1), \
             touched AS ( \
                 UPDATE carts SET updated_at = now() \
                 WHERE client_id = $1 AND EXISTS (SELECT 1 FROM removed) RETURNING 1) \
             SELECT ({})::text AS state",
            owned("c", 2),
            state_of_write(2)
        ),
        vec![uuid_param(client_id), opt_uuid_param(scope)],
    )
    .await?;
    Ok(match status(&rows)? {
        ClientStatus::Verified => Outcome::Done(()),
        ClientStatus::Unknown => Outcome::Unverified,
        ClientStatus::Gone => Outcome::Gone,
    })
}

/// Records that the clients service confirmed `client_id`, owned by
/// `owner` (creating its empty cart if need be); `false` when the client
/// is gone.
pub async fn verify(
    db: &Connection,
    client_id: Uuid,
    owner: Option<Uuid>,
) -> Result<bool, Problem> {
    let touched = db
        .execute(
            "INSERT INTO carts (client_id, client_status, owner_id) VALUES ($1, 'verified', $2) \
             ON CONFLICT (client_id) DO UPDATE SET client_status = 'verified', \
                 owner_id = EXCLUDED.owner_id \
             WHERE carts.client_status <> 'gone'",
            vec![uuid_param(client_id), opt_uuid_param(owner)],
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

/// Sets the name and price of `client_id`'s lines to the catalogue's
/// current ones (after an order was refused for a changed price); lines
/// no longer in the cart are left alone.
pub async fn reprice(db: &Connection, client_id: Uuid, lines: &[Repriced]) -> Result<(), Problem> {
    db.execute(
        "WITH changed AS ( \
             UPDATE cart_items i SET name = n.name, unit_price_cents = n.price \
             FROM unnest($2::text[], $3::text[], $4::int8[]) AS n(product_id, name, price) \
             WHERE i.client_id = $1 AND i.product_id = n.product_id \
             AND (i.unit_price_cents, i.name) IS DISTINCT FROM (n.price, n.name) \
             RETURNING i.client_id) \
         UPDATE carts SET updated_at = now() \
         WHERE client_id = $1 AND EXISTS (SELECT 1 FROM changed)",
        vec![
            uuid_param(client_id),
            ParameterValue::ArrayStr(lines.iter().map(|l| Some(l.product_id.clone())).collect()),
            ParameterValue::ArrayStr(lines.iter().map(|l| Some(l.name.clone())).collect()),
            ParameterValue::ArrayInt64(lines.iter().map(|l| Some(l.unit_price_cents)).collect()),
        ],
    )
    .await
    .map_err(db::problem)?;
    Ok(())
}

//! The order rules: what a placement request is, and how an order is made
//! from a cart (lines and totals recomputed here, never taken from the
//! request).

use comptoir_kit::Problem;
use serde::{Deserialize, Serialize};

pub const IDEMPOTENCY_KEY_MAX: usize = 255;

/// Body of `POST /commandes`.
#[derive(Debug, Deserialize)]
pub struct PlaceOrderBody {
    pub client_id: uuid::Uuid,
}

/// The `Idempotency-Key` header: required, 1–255 visible ASCII characters.
pub fn parse_idempotency_key(raw: Option<&str>) -> Result<String, Problem> {
    let key = raw
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| Problem::bad_request("the Idempotency-Key header is required"))?;
    if key.len() > IDEMPOTENCY_KEY_MAX || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Problem::bad_request(format!(
            "Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} visible ASCII characters"
        )));
    }
    Ok(key.to_owned())
}

/// A cart line as the panier service returns it.
#[derive(Debug, Clone, Deserialize)]
pub struct CartLine {
    pub product_id: String,
    pub name: String,
    pub unit_price_cents: i64,
    pub quantity: i32,
}

/// The cart as the panier service returns it (only what an order needs).
#[derive(Debug, Clone, Deserialize)]
pub struct CartView {
    pub items: Vec<CartLine>,
    pub currency: String,
    /// The identity the cart's client belongs to: the order's owner.
    #[serde(default)]
    pub owner_id: Option<uuid::Uuid>,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderLine {
    pub product_id: String,
    pub name: String,
    pub unit_price_cents: i64,
    pub quantity: i32,
    pub line_total_cents: i64,
}

/// What will be stored: the lines and their total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub lines: Vec<OrderLine>,
    pub total_cents: i64,
    pub currency: String,
    /// Whose order it will be: the cart's owner.
    pub owner: Option<uuid::Uuid>,
}

impl Draft {
    /// The order a cart makes; an empty cart (or one with impossible
    /// values) is a 422.
    pub fn from_cart(cart: CartView) -> Result<Self, Problem> {
        if cart.items.is_empty() {
            return Err(Problem::rule(
                "empty-cart",
                "the cart is empty: nothing to order",
            ));
        }
        let mut lines = Vec::with_capacity(cart.items.len());
        let mut total: i64 = 0;
        for item in cart.items {
            if item.unit_price_cents < 0 || item.quantity <= 0 {
                return Err(Problem::rule(
                    "invalid-cart",
                    format!("cart line {} is invalid", item.product_id),
                ));
            }
            let line_total = item
                .unit_price_cents
                .checked_mul(i64::from(item.quantity))
                .ok_or_else(|| Problem::rule("invalid-cart", "order total overflows"))?;
            total = total
                .checked_add(line_total)
                .ok_or_else(|| Problem::rule("invalid-cart", "order total overflows"))?;
            lines.push(OrderLine {
                product_id: item.product_id,
                name: item.name,
                unit_price_cents: item.unit_price_cents,
                quantity: item.quantity,
                line_total_cents: line_total,
            });
        }
        Ok(Self {
            lines,
            total_cents: total,
            currency: cart.currency,
            owner: cart.owner_id,
        })
    }
}

/// What an order's checkout takes off the cart: each line's SKU and
/// quantity, in order.
pub fn ordered_lines(lines: &[OrderLine]) -> Vec<(String, i32)> {
    lines
        .iter()
        .map(|l| (l.product_id.clone(), l.quantity))
        .collect()
}

/// Where an order stands: `pending` from its placement until its stock is
/// reserved (or the order refused and deleted: it never shows again),
/// `validated` once reserved, `cancelled` once cancelled (its stock given
/// back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Pending,
    Validated,
    Cancelled,
}

impl OrderStatus {
    /// The status as the API and the `orders.status` column spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Validated => "validated",
            Self::Cancelled => "cancelled",
        }
    }

    /// The status spelled `raw`, if it is one.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Validated, Self::Cancelled]
            .into_iter()
            .find(|status| status.as_str() == raw)
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An order as the API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Order {
    pub id: uuid::Uuid,
    pub client_id: uuid::Uuid,
    pub status: OrderStatus,
    pub lines: Vec<OrderLine>,
    pub total_cents: i64,
    pub currency: String,
    /// The identity the order belongs to (its cart's owner; `null`: staff's only).
    pub owner_id: Option<uuid::Uuid>,
    pub created_at: String,
    pub cancelled_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(sku: &str, price: i64, quantity: i32) -> CartLine {
        CartLine {
            product_id: sku.into(),
            name: sku.into(),
            unit_price_cents: price,
            quantity,
        }
    }

    #[test]
    fn totals_are_recomputed_from_the_cart() {
        let draft = Draft::from_cart(CartView {
            items: vec![line("A", 250, 4), line("B", 1999, 1)],
            currency: "EUR".into(),
            owner_id: None,
        })
        .unwrap();
        assert_eq!(draft.lines[0].line_total_cents, 1000);
        assert_eq!(draft.total_cents, 2999);
    }

    #[test]
    fn a_checkout_takes_what_the_order_took() {
        let draft = Draft::from_cart(CartView {
            items: vec![line("A", 250, 4), line("B", 1999, 1)],
            currency: "EUR".into(),
            owner_id: None,
        })
        .unwrap();
        assert_eq!(
            ordered_lines(&draft.lines),
            [("A".to_owned(), 4), ("B".to_owned(), 1)]
        );
    }

    #[test]
    fn an_empty_cart_is_a_rule_violation() {
        let problem = Draft::from_cart(CartView {
            items: vec![],
            currency: "EUR".into(),
            owner_id: None,
        })
        .unwrap_err();
        assert_eq!(problem.status, 422);
    }

    #[test]
    fn overflow_is_refused_not_wrapped() {
        let problem = Draft::from_cart(CartView {
            items: vec![line("A", i64::MAX / 2, 3)],
            currency: "EUR".into(),
            owner_id: None,
        })
        .unwrap_err();
        assert_eq!(problem.status, 422);
    }

    /// A status reads back as it is written, in the API and the column.
    #[test]
    fn statuses_round_trip() {
        for status in [OrderStatus::Validated, OrderStatus::Cancelled] {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.as_str())
            );
        }
        assert_eq!(OrderStatus::parse("Validated"), None);
        assert_eq!(OrderStatus::Cancelled.to_string(), "cancelled");
    }

    #[test]
    fn idempotency_keys() {
        assert_eq!(parse_idempotency_key(Some(" abc-123 ")).unwrap(), "abc-123");
        assert_eq!(parse_idempotency_key(None).unwrap_err().status, 400);
        assert_eq!(parse_idempotency_key(Some("  ")).unwrap_err().status, 400);
        assert_eq!(
            parse_idempotency_key(Some(&"k".repeat(256)))
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(parse_idempotency_key(Some("a b")).unwrap_err().status, 400);
    }
}

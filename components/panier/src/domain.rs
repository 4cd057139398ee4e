//! The cart rules: valid lines, quantities and prices, and totals computed
//! in integer cents.

use comptoir_kit::FieldError;
use serde::{Deserialize, Serialize};

pub const SKU_MAX: usize = 64;
pub const NAME_MAX: usize = 200;
pub const QUANTITY_MAX: i64 = 1000;
pub const PRICE_MAX_CENTS: i64 = 1_000_000_000;
pub const CURRENCY: &str = "EUR";

/// Body of `POST /panier/{client_id}/items`, as sent.
#[derive(Debug, Deserialize)]
pub struct AddItemBody {
    pub product_id: String,
    pub name: String,
    #[serde(deserialize_with = "comptoir_kit::request::integer")]
    pub unit_price_cents: i64,
    #[serde(deserialize_with = "comptoir_kit::request::integer")]
    pub quantity: i64,
}

/// Body of `PUT /panier/{client_id}/items/{product_id}`.
#[derive(Debug, Deserialize)]
pub struct SetQuantityBody {
    #[serde(deserialize_with = "comptoir_kit::request::integer")]
    pub quantity: i64,
}

/// A validated line to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewItem {
    pub product_id: String,
    pub name: String,
    pub unit_price_cents: i64,
    pub quantity: i32,
}

/// Whether `sku` is a product id: 1–64 letters, digits, `.`, `_` or `-`.
pub fn is_sku(sku: &str) -> bool {
    (1..=SKU_MAX).contains(&sku.len())
        && sku
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn check_quantity(quantity: i64, min: i64, errors: &mut Vec<FieldError>) {
    if !(min..=QUANTITY_MAX).contains(&quantity) {
        errors.push(FieldError::new(
            "quantity",
            format!("must be from {min} to {QUANTITY_MAX}"),
        ));
    }
}

impl NewItem {
    pub fn parse(body: AddItemBody) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        if !is_sku(&body.product_id) {
            errors.push(FieldError::new(
                "product_id",
                format!("must be 1 to {SKU_MAX} letters, digits, '.', '_' or '-'"),
            ));
        }
        let name = body.name.trim();
        if name.is_empty()
            || name.chars().count() > NAME_MAX
            || comptoir_kit::has_control_chars(name, false)
        {
            errors.push(FieldError::new(
                "name",
                format!("must be 1 to {NAME_MAX} characters, no control characters"),
            ));
        }
        if !(0..=PRICE_MAX_CENTS).contains(&body.unit_price_cents) {
            errors.push(FieldError::new(
                "unit_price_cents",
                format!("must be from 0 to {PRICE_MAX_CENTS}"),
            ));
        }
        check_quantity(body.quantity, 1, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            product_id: body.product_id,
            name: name.to_owned(),
            unit_price_cents: body.unit_price_cents,
            quantity: i32::try_from(body.quantity).expect("checked to be at most 1000"),
        })
    }
}

/// A quantity to set: 0 removes the line.
pub fn parse_quantity(body: SetQuantityBody) -> Result<i32, Vec<FieldError>> {
    let mut errors = Vec::new();
    check_quantity(body.quantity, 0, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(i32::try_from(body.quantity).expect("checked to be at most 1000"))
}

/// One line of a cart (and of an order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub product_id: String,
    pub name: String,
    pub unit_price_cents: i64,
    pub quantity: i32,
    pub line_total_cents: i64,
}

impl Line {
    pub fn new(product_id: String, name: String, unit_price_cents: i64, quantity: i32) -> Self {
        Self {
            line_total_cents: unit_price_cents * i64::from(quantity),
            product_id,
            name,
            unit_price_cents,
            quantity,
        }
    }
}

/// A client's cart as the API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Cart {
    pub client_id: uuid::Uuid,
    pub items: Vec<Line>,
    pub total_cents: i64,
    pub currency: String,
    pub updated_at: Option<String>,
    /// The identity the cart's client belongs to (`null`: a client staff
    /// made, or no cart yet); commande records it beside the order.
    pub owner_id: Option<uuid::Uuid>,
}

impl Cart {
    /// The cart of `client_id` with `items`, totals computed here.
    pub fn new(
        client_id: uuid::Uuid,
        items: Vec<Line>,
        currency: String,
        updated_at: Option<String>,
    ) -> Self {
        Self {
            client_id,
            total_cents: items.iter().map(|l| l.line_total_cents).sum(),
            items,
            currency,
            updated_at,
            owner_id: None,
        }
    }
}

/// What panier knows of a cart's client (`carts.client_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientStatus {
    /// The clients service confirmed the client when the cart row was
    /// written: served without asking again.
    Verified,
    /// No cart row, or one written before checks were recorded: ask the
    /// clients service.
    Unknown,
    /// The clients service deleted the client (a tombstone): 404.
    Gone,
}

impl ClientStatus {
    /// The status a statement reports (`verified`, `gone`; anything else,
    /// `unchecked` or `none`, is unknown).
    pub fn parse(state: &str) -> Self {
        match state {
            "verified" => Self::Verified,
            "gone" => Self::Gone,
            _ => Self::Unknown,
        }
    }

    /// Whether the clients service must be asked before serving the cart.
    pub fn needs_check(self) -> bool {
        self == Self::Unknown
    }
}

/// Most lines one order removes from a cart at once.
pub const CHECKOUT_LINES_MAX: usize = 100;

/// Body of `POST /panier/{client_id}/checkout`: the lines an order took.
#[derive(Debug, Deserialize)]
pub struct CheckoutBody {
    pub order_id: uuid::Uuid,
    pub lines: Vec<OrderedLine>,
}

/// One line of a placed order: which SKU and how many.
#[derive(Debug, Deserialize)]
pub struct OrderedLine {
    pub product_id: String,
    #[serde(deserialize_with = "comptoir_kit::request::integer")]
    pub quantity: i64,
}

/// A validated checkout: remove these quantities, once for `order_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    pub order_id: uuid::Uuid,
    pub product_ids: Vec<String>,
    pub quantities: Vec<i32>,
}

impl Checkout {
    /// Only what the order took leaves the cart: quantities are removed
    /// line by line, so an item added after the order read the cart stays.
    pub fn parse(body: CheckoutBody) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        if body.lines.is_empty() || body.lines.len() > CHECKOUT_LINES_MAX {
            errors.push(FieldError::new(
                "lines",
                format!("must hold 1 to {CHECKOUT_LINES_MAX} lines"),
            ));
        }
        let mut checkout = Checkout {
            order_id: body.order_id,
            product_ids: Vec::with_capacity(body.lines.len()),
            quantities: Vec::with_capacity(body.lines.len()),
        };
        for line in body.lines {
            if !is_sku(&line.product_id) || checkout.product_ids.contains(&line.product_id) {
                errors.push(FieldError::new(
                    "lines.product_id",
                    "must be distinct product ids".to_owned(),
                ));
            }
            check_quantity(line.quantity, 1, &mut errors);
            checkout.product_ids.push(line.product_id);
            checkout.quantities.push(line.quantity as i32);
        }
        if errors.is_empty() {
            Ok(checkout)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(product_id: &str, quantity: i64) -> OrderedLine {
        OrderedLine {
            product_id: product_id.into(),
            quantity,
        }
    }

    #[test]
    fn a_checkout_names_distinct_skus_and_positive_quantities() {
        let order_id = uuid::Uuid::nil();
        let ok = Checkout::parse(CheckoutBody {
            order_id,
            lines: vec![line("A", 2), line("B", 1)],
        })
        .unwrap();
        assert_eq!(ok.product_ids, ["A", "B"]);
        assert_eq!(ok.quantities, [2, 1]);
        for lines in [
            vec![],
            vec![line("A", 0)],
            vec![line("A", 1), line("A", 1)],
            vec![line("not a sku", 1)],
            vec![line("A", QUANTITY_MAX + 1)],
        ] {
            assert!(Checkout::parse(CheckoutBody { order_id, lines }).is_err());
        }
    }

    fn add(product_id: &str, price: i64, quantity: i64) -> AddItemBody {
        AddItemBody {
            product_id: product_id.into(),
            name: "Café".into(),
            unit_price_cents: price,
            quantity,
        }
    }

    #[test]
    fn only_unknown_clients_are_asked_about() {
        assert_eq!(ClientStatus::parse("verified"), ClientStatus::Verified);
        assert_eq!(ClientStatus::parse("gone"), ClientStatus::Gone);
        for state in ["unchecked", "none", ""] {
            assert_eq!(ClientStatus::parse(state), ClientStatus::Unknown);
        }
        assert!(ClientStatus::Unknown.needs_check());
        assert!(!ClientStatus::Verified.needs_check());
        assert!(!ClientStatus::Gone.needs_check());
    }

    #[test]
    fn accepts_bounds() {
        assert!(NewItem::parse(add("SKU-1", 0, 1)).is_ok());
        assert!(NewItem::parse(add(&"a".repeat(64), PRICE_MAX_CENTS, 1000)).is_ok());
    }

    #[test]
    fn rejects_out_of_range_values() {
        for (body, field) in [
            (add("SKU-1", -1, 1), "unit_price_cents"),
            (add("SKU-1", PRICE_MAX_CENTS + 1, 1), "unit_price_cents"),
            (add("SKU-1", 100, 0), "quantity"),
            (add("SKU-1", 100, 1_000_000), "quantity"),
            (add("", 100, 1), "product_id"),
            (add(&"a".repeat(65), 100, 1), "product_id"),
            (add("../etc/passwd", 100, 1), "product_id"),
            (add("a b", 100, 1), "product_id"),
        ] {
            let errors = NewItem::parse(body).unwrap_err();
            assert_eq!(errors[0].field, field);
        }
    }

    #[test]
    fn set_quantity_allows_zero() {
        assert_eq!(parse_quantity(SetQuantityBody { quantity: 0 }), Ok(0));
        assert!(parse_quantity(SetQuantityBody { quantity: -1 }).is_err());
        assert!(parse_quantity(SetQuantityBody { quantity: 1001 }).is_err());
    }

    #[test]
    fn totals_are_integer_cents() {
        let cart = Cart::new(
            uuid::Uuid::nil(),
            vec![
                Line::new("A".into(), "a".into(), 1999, 3),
                Line::new("B".into(), "b".into(), PRICE_MAX_CENTS, 1000),
            ],
            CURRENCY.into(),
            None,
        );
        assert_eq!(cart.items[0].line_total_cents, 5997);
        assert_eq!(cart.total_cents, 5997 + 1_000_000_000_000);
    }
}

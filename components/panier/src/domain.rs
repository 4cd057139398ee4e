//! The cart rules: valid lines, quantities and prices, and totals computed
//! in integer cents.

use comptoir_kit::FieldError;
use comptoir_kit::product::Product;
use serde::{Deserialize, Serialize};

pub use comptoir_kit::product::{CURRENCY, NAME_MAX, PRICE_MAX_CENTS, SKU_MAX, is_sku};

pub const QUANTITY_MAX: i64 = 1000;

/// Body of `POST /panier/{client_id}/items`, as sent: what to add, never
/// at what price (the catalogue says; a body with a name or a price is a
/// 400).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddItemBody {
    pub product_id: String,
    #[serde(deserialize_with = "comptoir_kit::request::integer")]
    pub quantity: i64,
}

/// Body of `PUT /panier/{client_id}/items/{product_id}`.
#[derive(Debug, Deserialize)]
pub struct SetQuantityBody {
    #[serde(deserialize_with = "comptoir_kit::request::integer")]
    pub quantity: i64,
}

/// A validated request to add `quantity` of `product_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub product_id: String,
    pub quantity: i32,
}

/// A line to add, priced as the catalogue showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewItem {
    pub product_id: String,
    pub name: String,
    pub unit_price_cents: i64,
    pub quantity: i32,
}

fn check_quantity(quantity: i64, min: i64, errors: &mut Vec<FieldError>) {
    if !(min..=QUANTITY_MAX).contains(&quantity) {
        errors.push(FieldError::new(
            "quantity",
            format!("must be from {min} to {QUANTITY_MAX}"),
        ));
    }
}

impl Wanted {
    pub fn parse(body: AddItemBody) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        if !is_sku(&body.product_id) {
            errors.push(FieldError::new(
                "product_id",
                format!("must be 1 to {SKU_MAX} letters, digits, '.', '_' or '-'"),
            ));
        }
        check_quantity(body.quantity, 1, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            product_id: body.product_id,
            quantity: i32::try_from(body.quantity).expect("checked to be at most 1000"),
        })
    }
}

/// Why the catalogue's product cannot go in a cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotForSale {
    Inactive,
    /// A name or price outside what a cart line holds.
    Unfit,
}

impl NewItem {
    /// The line `wanted` makes at the catalogue's name and price.
    pub fn priced(wanted: Wanted, shown: &Product) -> Result<Self, NotForSale> {
        if !shown.active {
            return Err(NotForSale::Inactive);
        }
        let name = shown.name.trim();
        if name.is_empty()
            || name.chars().count() > NAME_MAX
            || !(0..=PRICE_MAX_CENTS).contains(&shown.price_cents)
            || shown.currency != CURRENCY
        {
            return Err(NotForSale::Unfit);
        }
        Ok(Self {
            product_id: wanted.product_id,
            name: name.to_owned(),
            unit_price_cents: shown.price_cents,
            quantity: wanted.quantity,
        })
    }
}

/// Body of panier-internal's `POST /panier/{client_id}/prices`: the
/// catalogue's current name and price of lines whose price changed, which
/// commande sends when an order was refused for it (the customer then
/// sees the new price and confirms again).
#[derive(Debug, Deserialize)]
pub struct RepriceBody {
    pub lines: Vec<Repriced>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Repriced {
    pub product_id: String,
    pub name: String,
    pub unit_price_cents: i64,
}

impl RepriceBody {
    /// The lines, if each names a product and a price a line can hold.
    pub fn parse(self) -> Result<Vec<Repriced>, Vec<FieldError>> {
        let fits = |l: &Repriced| {
            is_sku(&l.product_id)
                && (0..=PRICE_MAX_CENTS).contains(&l.unit_price_cents)
                && !l.name.trim().is_empty()
                && l.name.chars().count() <= NAME_MAX
        };
        if self.lines.is_empty() || self.lines.len() > 100 || !self.lines.iter().all(fits) {
            return Err(vec![FieldError::new(
                "lines",
                "must be 1 to 100 lines, each a product id, a name and a price",
            )]);
        }
        Ok(self.lines)
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

    fn add(product_id: &str, quantity: i64) -> AddItemBody {
        AddItemBody {
            product_id: product_id.into(),
            quantity,
        }
    }

    fn shown(price_cents: i64, active: bool) -> Product {
        Product {
            sku: "SKU-1".into(),
            name: " Café ".into(),
            description: String::new(),
            price_cents,
            currency: CURRENCY.into(),
            stock: 3,
            active,
            updated_at: "2026-12-03T09:00:00.000000Z".into(),
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
        assert!(Wanted::parse(add("SKU-1", 1)).is_ok());
        assert!(Wanted::parse(add(&"a".repeat(64), 1000)).is_ok());
    }

    #[test]
    fn rejects_out_of_range_values() {
        for (body, field) in [
            (add("SKU-1", 0), "quantity"),
            (add("SKU-1", 1_000_000), "quantity"),
            (add("", 1), "product_id"),
            (add(&"a".repeat(65), 1), "product_id"),
            (add("../etc/passwd", 1), "product_id"),
            (add("a b", 1), "product_id"),
        ] {
            let errors = Wanted::parse(body).unwrap_err();
            assert_eq!(errors[0].field, field);
        }
    }

    /// The body names a product and a quantity; a price or a name is
    /// refused as a field the API does not take.
    #[test]
    fn a_price_in_the_body_is_refused() {
        let body = r#"{"product_id":"SKU-1","quantity":1,"unit_price_cents":0}"#;
        assert!(serde_json::from_str::<AddItemBody>(body).is_err());
        let body = r#"{"product_id":"SKU-1","quantity":1,"name":"Free"}"#;
        assert!(serde_json::from_str::<AddItemBody>(body).is_err());
    }

    /// A line takes the catalogue's name and price; an inactive product
    /// is not for sale.
    #[test]
    fn lines_are_priced_by_the_catalogue() {
        let wanted = Wanted::parse(add("SKU-1", 2)).unwrap();
        let item = NewItem::priced(wanted.clone(), &shown(1250, true)).unwrap();
        assert_eq!((item.name.as_str(), item.unit_price_cents), ("Café", 1250));
        assert_eq!(
            NewItem::priced(wanted.clone(), &shown(1250, false)),
            Err(NotForSale::Inactive)
        );
        assert_eq!(
            NewItem::priced(wanted, &shown(PRICE_MAX_CENTS + 1, true)),
            Err(NotForSale::Unfit)
        );
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

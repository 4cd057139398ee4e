//! What every service agrees a product is: its SKU's shape, the bounds of
//! its name and price, and the catalogue's public view of it (which panier
//! reads when a customer adds it to a cart).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const SKU_MAX: usize = 64;
pub const NAME_MAX: usize = 200;
pub const PRICE_MAX_CENTS: i64 = 1_000_000_000;
/// The one currency of prices, carts and orders.
pub const CURRENCY: &str = "EUR";

/// Whether `sku` is a product id: 1–64 letters, digits, `.`, `_` or `-`.
pub fn is_sku(sku: &str) -> bool {
    (1..=SKU_MAX).contains(&sku.len())
        && sku
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A product as `GET /catalogue/{sku}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub sku: String,
    pub name: String,
    pub description: String,
    pub price_cents: i64,
    pub currency: String,
    /// The quantity available now (reserved units are already taken off).
    pub stock: i32,
    pub active: bool,
    pub updated_at: String,
}

/// Body of catalogue-internal's `PUT /reservations/{order_id}` (commande,
/// placing an order): each line at the price the customer was shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReserveBody {
    pub lines: Vec<ReservedLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservedLine {
    pub sku: String,
    pub quantity: i32,
    pub unit_price_cents: i64,
}

/// What a reservation (or a release) found, as catalogue-internal answers
/// it: `{order_id, outcome, lines}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub order_id: Uuid,
    pub outcome: Outcome,
    /// The lines that refused it (price-changed, out-of-stock), with the
    /// catalogue's current price and stock.
    #[serde(default)]
    pub lines: Vec<Current>,
}

/// The catalogue's current state of a line that refused a reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Current {
    pub sku: String,
    /// `None` for a product the catalogue does not have.
    pub name: Option<String>,
    pub price_cents: Option<i64>,
    pub stock: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The stock is taken by this call.
    Reserved,
    /// The order held it already (a replay): nothing more is taken.
    Held,
    /// The order's reservation was released (or voided): it holds nothing
    /// and can hold nothing.
    Released,
    /// A price moved since the customer saw it: nothing is taken.
    PriceChanged,
    /// A line is unknown, inactive or short: nothing is taken.
    OutOfStock,
    /// Release: the order held nothing (and can hold nothing from now on).
    Void,
    /// Release: given back before.
    Already,
}

impl Outcome {
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "reserved" => Self::Reserved,
            "held" => Self::Held,
            "released" => Self::Released,
            "price-changed" => Self::PriceChanged,
            "out-of-stock" => Self::OutOfStock,
            "void" => Self::Void,
            "already" => Self::Already,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_are_short_plain_identifiers() {
        assert!(is_sku("CAFE-250"));
        assert!(is_sku(&"a".repeat(SKU_MAX)));
        for bad in ["", "a b", "../etc/passwd", "é", &"a".repeat(SKU_MAX + 1)] {
            assert!(!is_sku(bad), "{bad:?}");
        }
    }

    #[test]
    fn outcomes_read_as_they_are_written() {
        for outcome in [
            Outcome::Reserved,
            Outcome::Held,
            Outcome::Released,
            Outcome::PriceChanged,
            Outcome::OutOfStock,
            Outcome::Void,
            Outcome::Already,
        ] {
            let text = serde_json::to_value(outcome).unwrap();
            assert_eq!(Outcome::parse(text.as_str().unwrap()), Some(outcome));
        }
    }
}

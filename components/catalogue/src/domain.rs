//! The catalogue's rules: what a product is, what staff may set, and what
//! a reservation of an order's lines asks and gets, independent of HTTP
//! and SQL.

use comptoir_kit::FieldError;
use comptoir_kit::product::{NAME_MAX, PRICE_MAX_CENTS, SKU_MAX, is_sku};
use serde::Deserialize;

pub use comptoir_kit::product::{
    Current, Outcome, Product, Reservation, ReserveBody, ReservedLine,
};

pub const DESCRIPTION_MAX: usize = 2000;
/// Most units of one product staff may set as available.
pub const STOCK_MAX: i64 = 1_000_000_000;
/// Most lines one reservation holds: what one order takes.
pub const LINES_MAX: usize = 100;

/// The body of `PUT /catalogue/{sku}`, as sent. Any other field (a
/// currency, a sku) is a 400: nothing is silently ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductBody {
    pub name: String,
    #[serde(deserialize_with = "comptoir_kit::request::integer")]
    pub price_cents: i64,
    #[serde(deserialize_with = "comptoir_kit::request::integer")]
    pub stock: i64,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
}

/// A product's fields once validated (trimmed; no description is empty;
/// a product is active unless said otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductFields {
    pub name: String,
    pub description: String,
    pub price_cents: i64,
    pub stock: i32,
    pub active: bool,
}

/// `raw` as a SKU, or the field error saying what one is.
pub fn check_sku(raw: &str) -> Result<(), FieldError> {
    if is_sku(raw) {
        Ok(())
    } else {
        Err(FieldError::new(
            "sku",
            format!("must be 1 to {SKU_MAX} letters, digits, '.', '_' or '-'"),
        ))
    }
}

impl ProductFields {
    /// Validates every field and reports all that are wrong at once.
    pub fn parse(body: ProductBody) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
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
        let description = body.description.as_deref().unwrap_or("").trim();
        if description.chars().count() > DESCRIPTION_MAX
            || comptoir_kit::has_control_chars(description, true)
        {
            errors.push(FieldError::new(
                "description",
                format!("must be at most {DESCRIPTION_MAX} characters, no control characters"),
            ));
        }
        if !(0..=PRICE_MAX_CENTS).contains(&body.price_cents) {
            errors.push(FieldError::new(
                "price_cents",
                format!("must be from 0 to {PRICE_MAX_CENTS}"),
            ));
        }
        if !(0..=STOCK_MAX).contains(&body.stock) {
            errors.push(FieldError::new(
                "stock",
                format!("must be from 0 to {STOCK_MAX}"),
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            name: name.to_owned(),
            description: description.to_owned(),
            price_cents: body.price_cents,
            stock: i32::try_from(body.stock).expect("checked to be at most 1e9"),
            active: body.active.unwrap_or(true),
        })
    }
}

/// The lines of a reservation, if there are 1 to 100 of distinct SKUs,
/// each a positive quantity at a price a product can have.
pub fn check_lines(lines: &[ReservedLine]) -> Result<(), Vec<FieldError>> {
    let mut seen = std::collections::HashSet::new();
    let fits = |l: &ReservedLine| {
        is_sku(&l.sku) && l.quantity > 0 && (0..=PRICE_MAX_CENTS).contains(&l.unit_price_cents)
    };
    let distinct = lines.iter().all(|l| seen.insert(l.sku.as_str()));
    if lines.is_empty() || lines.len() > LINES_MAX || !distinct || !lines.iter().all(fits) {
        return Err(vec![FieldError::new(
            "lines",
            format!("must be 1 to {LINES_MAX} lines of distinct SKUs, positive quantities"),
        )]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(name: &str, price_cents: i64, stock: i64) -> ProductBody {
        ProductBody {
            name: name.into(),
            price_cents,
            stock,
            description: None,
            active: None,
        }
    }

    #[test]
    fn a_product_is_active_with_an_empty_description_by_default() {
        let fields = ProductFields::parse(body(" Café ", 1250, 3)).unwrap();
        assert_eq!(fields.name, "Café");
        assert_eq!(fields.description, "");
        assert!(fields.active);
    }

    #[test]
    fn every_wrong_field_is_reported() {
        let errors = ProductFields::parse(body("", -1, -1)).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["name", "price_cents", "stock"]);
        assert!(ProductFields::parse(body("x", PRICE_MAX_CENTS + 1, 0)).is_err());
        assert!(ProductFields::parse(body("x", 0, STOCK_MAX + 1)).is_err());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let raw = r#"{"name":"x","price_cents":1,"stock":1,"currency":"USD"}"#;
        assert!(serde_json::from_str::<ProductBody>(raw).is_err());
    }

    fn line(sku: &str, quantity: i32) -> ReservedLine {
        ReservedLine {
            sku: sku.into(),
            quantity,
            unit_price_cents: 100,
        }
    }

    #[test]
    fn a_reservation_names_distinct_skus_and_positive_quantities() {
        assert!(check_lines(&[line("A", 1), line("B", 2)]).is_ok());
        for lines in [
            vec![],
            vec![line("A", 1), line("A", 1)],
            vec![line("A", 0)],
            vec![line("a b", 1)],
            (0..101).map(|i| line(&format!("S{i}"), 1)).collect(),
        ] {
            assert!(check_lines(&lines).is_err());
        }
    }
}

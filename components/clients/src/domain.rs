//! The client rules: what a valid client is, independent of HTTP and SQL.

use std::str::FromStr;

use comptoir_kit::FieldError;
use serde::{Deserialize, Serialize};

pub const NAME_MAX: usize = 200;
pub const EMAIL_MAX: usize = 254;
pub const PHONE_MAX: usize = 32;
pub const ADDRESS_MAX: usize = 500;

/// The body of `POST /clients` and `PUT /clients/{id}`, as sent.
#[derive(Debug, Deserialize)]
pub struct ClientBody {
    pub name: String,
    pub email: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
}

/// A client's fields once validated and normalised (trimmed; blank optional
/// fields become absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFields {
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub address: Option<String>,
}

impl ClientFields {
    /// Validates every field and reports all that are wrong at once.
    pub fn parse(body: ClientBody) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = body.name.trim();
        if comptoir_kit::has_control_chars(name, false) {
            errors.push(FieldError::new(
                "name",
                "must not contain control characters",
            ));
        } else if name.is_empty() {
            errors.push(FieldError::new("name", "must not be empty"));
        } else if name.chars().count() > NAME_MAX {
            errors.push(FieldError::new(
                "name",
                format!("must be at most {NAME_MAX} characters"),
            ));
        }
        let email = body.email.trim();
        if !is_email(email) {
            errors.push(FieldError::new("email", "is not a valid email address"));
        }
        let phone = optional(body.phone.as_deref());
        if let Some(phone) = phone
            && !is_phone(phone)
        {
            errors.push(FieldError::new(
                "phone",
                format!("must be digits, spaces, '+', '-', '.', '(' or ')', at most {PHONE_MAX}"),
            ));
        }
        let address = optional(body.address.as_deref());
        if address.is_some_and(|a| comptoir_kit::has_control_chars(a, true)) {
            errors.push(FieldError::new(
                "address",
                "must not contain control characters",
            ));
        } else if address.is_some_and(|a| a.chars().count() > ADDRESS_MAX) {
            errors.push(FieldError::new(
                "address",
                format!("must be at most {ADDRESS_MAX} characters"),
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            name: name.to_owned(),
            email: email.to_owned(),
            phone: phone.map(str::to_owned),
            address: address.map(str::to_owned),
        })
    }
}

/// A stored client, as the API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Client {
    pub id: uuid::Uuid,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub address: Option<String>,
    /// The identity this record belongs to (`null`: made by staff, reached
    /// by staff only); the other services record it beside the client's
    /// cart and orders.
    pub owner_id: Option<uuid::Uuid>,
    pub created_at: String,
    pub updated_at: String,
}

fn optional(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// A syntactically valid, deliverable-looking address: RFC 5322 by the
/// `email_address` crate, no display name, and a dotted domain.
fn is_email(email: &str) -> bool {
    if email.len() > EMAIL_MAX || email.contains(char::is_whitespace) {
        return false;
    }
    match email_address::EmailAddress::from_str(email) {
        Ok(parsed) => {
            parsed.as_str() == email
                && parsed.domain().contains('.')
                && !parsed.domain().starts_with('[')
        }
        Err(_) => false,
    }
}

fn is_phone(phone: &str) -> bool {
    phone.len() <= PHONE_MAX
        && phone.chars().any(|c| c.is_ascii_digit())
        && phone
            .chars()
            .all(|c| c.is_ascii_digit() || " +-.()".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(name: &str, email: &str) -> ClientBody {
        ClientBody {
            name: name.into(),
            email: email.into(),
            phone: None,
            address: None,
        }
    }

    #[test]
    fn trims_and_accepts_a_plain_client() {
        let fields = ClientFields::parse(ClientBody {
            phone: Some("  ".into()),
            address: Some(" 1 rue de la Paix ".into()),
            ..body("  Ada Lovelace ", " ada@example.com ")
        })
        .unwrap();
        assert_eq!(fields.name, "Ada Lovelace");
        assert_eq!(fields.email, "ada@example.com");
        assert_eq!(fields.phone, None);
        assert_eq!(fields.address.as_deref(), Some("1 rue de la Paix"));
    }

    #[test]
    fn name_must_be_1_to_200_characters_after_trim() {
        let errors = ClientFields::parse(body("   ", "a@example.com")).unwrap_err();
        assert_eq!(errors[0].field, "name");
        assert!(ClientFields::parse(body(&"é".repeat(200), "a@example.com")).is_ok());
        assert!(ClientFields::parse(body(&"é".repeat(201), "a@example.com")).is_err());
    }

    #[test]
    fn rejects_invalid_emails() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@localhost",
            "ada @example.com",
            "Ada <ada@example.com>",
            "ada@@example.com",
        ] {
            let errors = ClientFields::parse(body("Ada", bad)).unwrap_err();
            assert_eq!(errors[0].field, "email", "{bad:?} should be rejected");
        }
        assert!(ClientFields::parse(body("Ada", "ada.l+shop@mail.example.co.uk")).is_ok());
    }

    #[test]
    fn reports_every_invalid_field() {
        let errors = ClientFields::parse(ClientBody {
            phone: Some("call me".into()),
            ..body("", "nope")
        })
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["name", "email", "phone"]);
    }

    #[test]
    fn control_characters_are_refused() {
        let errors = ClientFields::parse(body("Ada\0", "ada@example.com")).unwrap_err();
        assert_eq!(errors[0].field, "name");
        let with_newline = ClientFields::parse(ClientBody {
            address: Some("1 rue X\n75001 Paris".into()),
            ..body("Ada", "ada@example.com")
        });
        assert!(with_newline.is_ok());
    }

    #[test]
    fn sql_injection_text_is_just_text() {
        let fields =
            ClientFields::parse(body("Robert'); DROP TABLE clients;--", "bobby@example.com"))
                .unwrap();
        assert_eq!(fields.name, "Robert'); DROP TABLE clients;--");
    }
}

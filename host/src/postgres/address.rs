//! Database addresses as a guest writes them and Spin (tokio-postgres)
//! reads them: a `postgres://` URL, or libpq's `key=value` form
//! (`host=localhost port=5432 user=postgres dbname=app`).

use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// The connection options `address` names, or why it names none.
pub fn parse(address: &str) -> Result<PgConnectOptions, String> {
    let trimmed = address.trim_start();
    if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
        return trimmed
            .parse()
            .map_err(|e| format!("invalid database URL: {e}"));
    }
    let mut options = PgConnectOptions::new_without_pgpass();
    for (key, value) in pairs(address)? {
        options = match key.as_str() {
            "host" => options.host(&value),
            "port" => options.port(
                value
                    .parse()
                    .map_err(|_| format!("invalid port {value:?}"))?,
            ),
            "user" => options.username(&value),
            "password" => options.password(&value),
            "dbname" => options.database(&value),
            "application_name" => options.application_name(&value),
            "sslmode" => options.ssl_mode(value.parse::<PgSslMode>().map_err(|e| e.to_string())?),
            // Accepted as tokio-postgres accepts them; sqlx has its own.
            "connect_timeout" | "keepalives" | "keepalives_idle" | "target_session_attrs" => {
                options
            }
            other => return Err(format!("unknown connection parameter {other:?}")),
        };
    }
    Ok(options)
}

/// The `key=value` pairs of a libpq connection string: values may be
/// single-quoted, with `\'` and `\\` escaped inside.
fn pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!(
                "expected `=` after {key:?} in the connection string"
            ));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some('\\') => value.push(chars.next().ok_or("unterminated escape")?),
                    Some(c) => value.push(c),
                    None => return Err("unterminated quoted value".to_owned()),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                value.push(c);
            }
        }
        out.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_strings_as_libpq_writes_them() {
        let options =
            parse("host=localhost port=5433 user=postgres password='p w\\'d' dbname=spin_dev")
                .unwrap();
        assert_eq!(options.get_host(), "localhost");
        assert_eq!(options.get_port(), 5433);
        assert_eq!(options.get_username(), "postgres");
        assert_eq!(options.get_database(), Some("spin_dev"));
        assert_eq!(
            pairs("a = 1  b='x y'").unwrap(),
            [("a".into(), "1".into()), ("b".into(), "x y".into())]
        );
    }

    #[test]
    fn urls_and_bad_strings() {
        let options = parse("postgres://u:p@db.example:6543/app").unwrap();
        assert_eq!(
            (options.get_host(), options.get_port()),
            ("db.example", 6543)
        );
        assert!(parse("host=h port=x").unwrap_err().contains("invalid port"));
        assert!(
            parse("hots=h")
                .unwrap_err()
                .contains("unknown connection parameter")
        );
        assert!(parse("host").unwrap_err().contains("expected `=`"));
        assert!(
            parse("password='open")
                .unwrap_err()
                .contains("unterminated")
        );
    }
}

//! Who is calling. Every service route requires `Authorization: Bearer
//! <JWT>` (RFC 6750; RFC 9068 access tokens), verified here before the
//! service routes the request, against the issuer the Spin variables name
//! (`auth_issuer`, `auth_audience`, `auth_jwks`, `auth_roles_claim`), so
//! that it holds under `spin up` as under comptoir. The [`Caller`] a token
//! names is staff (the `staff` role: every record) or a customer (its own
//! records only).

mod verify;

use std::cell::RefCell;
use std::collections::HashMap;

use spin_sdk::http::Request;
use uuid::Uuid;

pub use verify::{BadKeySet, Invalid, KeySet, LEEWAY_SECONDS, Settings, Verified, roles, verify};

use crate::Problem;

/// The role that may read and change every record.
pub const STAFF_ROLE: &str = "staff";

/// The realm of every challenge.
const REALM: &str = "comptoir";

/// Verified tokens one instance remembers, so that a customer's next
/// requests (and the chained calls made for it) skip the signature check.
const REMEMBERED_TOKENS: usize = 1024;

/// The caller a verified token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub issuer: String,
    pub subject: String,
    pub staff: bool,
    /// The token itself, forwarded on chained calls made on the caller's
    /// behalf so that the callee checks it again. Never logged or echoed.
    bearer: String,
}

impl Caller {
    /// The caller's id in every service's rows (see [`owner_id`]).
    pub fn owner(&self) -> Uuid {
        owner_id(&self.issuer, &self.subject)
    }

    /// Whose records the caller reaches: `None` for every one (staff),
    /// `Some(owner)` for its own.
    pub fn scope(&self) -> Option<Uuid> {
        (!self.staff).then(|| self.owner())
    }

    /// A 403 unless the caller is staff.
    pub fn require_staff(&self) -> Result<(), Problem> {
        if self.staff {
            Ok(())
        } else {
            Err(Problem::forbidden(
                challenge(Some((
                    "insufficient_scope",
                    "this route needs the staff role",
                ))),
                "this route needs the staff role",
            ))
        }
    }

    /// The `Authorization` header value that acts as this caller.
    pub fn authorization(&self) -> String {
        format!("Bearer {}", self.bearer)
    }
}

/// The id of identity (`issuer`, `subject`) in the services' rows: a
/// name-based UUID (v5), the same in every service, that reveals neither.
pub fn owner_id(issuer: &str, subject: &str) -> Uuid {
    // Length-prefixed, so that no two (issuer, subject) pairs share a name.
    let name = format!("{}:{issuer}{subject}", issuer.len());
    Uuid::new_v5(&Uuid::NAMESPACE_URL, name.as_bytes())
}

/// The `WWW-Authenticate` value of a 401 or 403, with an RFC 6750 error
/// code and description when there is one.
fn challenge(error: Option<(&str, &str)>) -> String {
    match error {
        None => format!("Bearer realm=\"{REALM}\""),
        Some((code, description)) => format!(
            "Bearer realm=\"{REALM}\", error=\"{code}\", error_description=\"{description}\""
        ),
    }
}

/// The 401 of a refused token.
pub fn invalid_token(why: &Invalid) -> Problem {
    let description = why.to_string();
    Problem::unauthorized(
        challenge(Some(("invalid_token", &description))),
        description,
    )
}

/// The bearer token of `authorization` (the header's value): `None` when
/// the request carries no bearer credentials at all.
pub fn bearer(authorization: Option<&str>) -> Result<Option<&str>, Invalid> {
    let Some(value) = authorization else {
        return Ok(None);
    };
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return if value.trim().eq_ignore_ascii_case("bearer") {
            Err(Invalid::Malformed)
        } else {
            Ok(None)
        };
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = token.trim();
    // RFC 6750's b64token.
    let b64token = !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b));
    if b64token {
        Ok(Some(token))
    } else {
        Err(Invalid::Malformed)
    }
}

/// The caller of `request`, or the 401 (no token, or a token refused) or
/// 500 (authentication not configured) that answers it.
pub async fn authenticate(request: &Request) -> Result<Caller, Problem> {
    let header = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let token = match bearer(header) {
        Ok(Some(token)) => token,
        Ok(None) => {
            return Err(Problem::unauthorized(
                challenge(None),
                "this route needs an access token (Authorization: Bearer <token>)",
            ));
        }
        Err(why) => return Err(invalid_token(&why)),
    };
    // The settings are read (and the key set parsed) once per instance:
    // an instance serves a bounded number of requests before it is
    // recycled (comptoir's and Spin's p3 default: 128), so a changed JWKS
    // is in force within one instance's lifetime.
    if VERIFIER.with(|cell| cell.borrow().is_none()) {
        let settings = settings().await?;
        let keys = KeySet::parse(&settings.jwks).map_err(|BadKeySet(why)| {
            eprintln!("authentication is misconfigured: {why}");
            Problem::internal("authentication is misconfigured")
        })?;
        VERIFIER.with(|cell| *cell.borrow_mut() = Some(Verifier::new(settings, keys)));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let verified = VERIFIER.with(|cell| {
        let mut cell = cell.borrow_mut();
        let verifier = cell
            .as_mut()
            .expect("set when the instance's first request came");
        verifier
            .verify(token, now)
            .map_err(|why| invalid_token(&why))
    })?;
    Ok(Caller {
        staff: verified.roles.iter().any(|r| r == STAFF_ROLE),
        issuer: verified.issuer,
        subject: verified.subject,
        bearer: token.to_owned(),
    })
}

/// The authentication settings from the component's Spin variables.
async fn settings() -> Result<Settings, Problem> {
    async fn variable(name: &str) -> Result<String, Problem> {
        spin_sdk::variables::get(name).await.map_err(|_| {
            eprintln!("authentication is not configured: no variable {name}");
            Problem::internal("authentication is not configured")
        })
    }
    Ok(Settings {
        issuer: variable("auth_issuer").await?,
        audience: variable("auth_audience").await?,
        jwks: variable("auth_jwks").await?,
        roles_claim: variable("auth_roles_claim").await?,
    })
}

thread_local! {
    /// This instance's verifier: its settings and their parsed key set,
    /// and the tokens it already verified. Per instance, like the
    /// instance's memory (a component instance runs on one thread).
    static VERIFIER: RefCell<Option<Verifier>> = const { RefCell::new(None) };
}

/// A key set, and the tokens verified against it with what they said.
struct Verifier {
    settings: Settings,
    keys: KeySet,
    verified: HashMap<String, Verified>,
}

impl Verifier {
    fn new(settings: Settings, keys: KeySet) -> Self {
        Self {
            settings,
            keys,
            verified: HashMap::new(),
        }
    }

    /// `token` verified, from memory while it has not expired.
    fn verify(&mut self, token: &str, now: u64) -> Result<Verified, Invalid> {
        if let Some(seen) = self.verified.get(token) {
            if seen.expires + LEEWAY_SECONDS > now {
                return Ok(seen.clone());
            }
            return Err(Invalid::Expired);
        }
        let verified = verify(token, &self.settings, &self.keys)?;
        if self.verified.len() >= REMEMBERED_TOKENS {
            self.verified.clear();
        }
        self.verified.insert(token.to_owned(), verified.clone());
        Ok(verified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only `Bearer` credentials are read; a malformed one is refused, a
    /// missing one (or another scheme) is "no token".
    #[test]
    fn bearer_credentials_are_read_per_rfc_6750() {
        assert_eq!(bearer(None), Ok(None));
        assert_eq!(bearer(Some("Basic YWRhOnB3")), Ok(None));
        assert_eq!(
            bearer(Some("Bearer abc.DEF-_~+/=")),
            Ok(Some("abc.DEF-_~+/="))
        );
        assert_eq!(bearer(Some("bearer   abc")), Ok(Some("abc")));
        assert_eq!(bearer(Some("Bearer")), Err(Invalid::Malformed));
        assert_eq!(bearer(Some("Bearer a b")), Err(Invalid::Malformed));
        assert_eq!(bearer(Some("Bearer é")), Err(Invalid::Malformed));
    }

    /// The owner id depends on both issuer and subject, and on where one
    /// ends: no two identities share it.
    #[test]
    fn owner_ids_tell_identities_apart() {
        assert_eq!(owner_id("iss", "ada"), owner_id("iss", "ada"));
        assert_ne!(owner_id("iss", "ada"), owner_id("iss", "bob"));
        assert_ne!(owner_id("is", "sada"), owner_id("iss", "ada"));
    }

    /// A 401 challenges with the realm (and the error once a token was
    /// sent); a 403 says the scope is insufficient.
    #[test]
    fn challenges_follow_rfc_6750() {
        let reply = invalid_token(&Invalid::Expired).into_reply();
        assert_eq!(reply.status(), 401);
        let challenge = reply.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer realm=\"comptoir\", error=\"invalid_token\""));
        let customer = Caller {
            issuer: "i".into(),
            subject: "s".into(),
            staff: false,
            bearer: "t".into(),
        };
        let problem = customer.require_staff().unwrap_err();
        assert_eq!(problem.status, 403);
        let crate::problem::Header::Challenge(challenge) = problem.header else {
            panic!("a 403 challenges");
        };
        assert!(challenge.contains("error=\"insufficient_scope\""));
        assert_eq!(customer.scope(), Some(owner_id("i", "s")));
    }
}

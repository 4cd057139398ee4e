//! Application variables (`[variables]` in `spin.toml`) and the
//! `spin:variables/variables@3.0.0` and `fermyon:spin/variables@2.0.0`
//! host functions.
//!
//! A value comes from, in order: the `SPIN_VARIABLE_<NAME>` environment
//! variable (Spin's convention), a value comptoir provides itself (the
//! embedded database's addresses), then the manifest default.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::bail;
use serde::Deserialize;
use wasmtime::component::{Accessor, HasData};

use crate::bindings::variables::{self as wit, Error};

/// An application variable (`[variables]` in `spin.toml`): a default, or
/// `required`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVariable {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "accepted as in Spin; comptoir never prints a variable's value, secret or not"
    )]
    secret: bool,
}

/// Resolved application variables. Their `Debug` shows names, never values.
#[derive(Clone, Default)]
pub struct Variables {
    values: BTreeMap<String, String>,
}

impl std::fmt::Debug for Variables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

/// The environment variable that overrides application variable `name`.
pub fn env_name(name: &str) -> String {
    format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase())
}

impl Variables {
    /// Resolves `declared` from `env`, then `provided`, then defaults.
    pub fn resolve(
        declared: &BTreeMap<String, RawVariable>,
        env: impl Fn(&str) -> Option<String>,
        provided: &BTreeMap<String, String>,
    ) -> anyhow::Result<Self> {
        let mut values = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, decl) in declared {
            let value = env(&env_name(name))
                .or_else(|| provided.get(name).cloned())
                .or_else(|| decl.default.clone());
            match value {
                Some(v) => {
                    values.insert(name.clone(), v);
                }
                None if decl.required => missing.push(env_name(name)),
                None => {}
            }
        }
        if !missing.is_empty() {
            bail!("required variables are not set: {}", missing.join(", "));
        }
        Ok(Self { values })
    }

    /// `template` with every `{{ name }}` replaced.
    pub fn expand(&self, template: &str) -> anyhow::Result<String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                bail!("unclosed '{{{{' in {template:?}");
            };
            let name = after[..end].trim();
            let Some(value) = self.values.get(name) else {
                bail!("{template:?} uses variable {name:?}, which is not declared or has no value");
            };
            out.push_str(value);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// The variables one component may read, as the host function sees them.
pub struct VariablesHost<'a> {
    pub values: &'a Arc<HashMap<String, String>>,
}

/// Marker tying the generated bindings to [`VariablesHost`].
pub struct HasVariables;

impl HasData for HasVariables {
    type Data<'a> = VariablesHost<'a>;
}

impl wit::Host for VariablesHost<'_> {}

/// Spin's rules for a variable name (`spin_expressions::Key`): lowercase
/// ASCII letters, digits and single underscores, starting with a letter
/// and ending with a letter or digit.
fn check_name(name: &str) -> Result<(), &'static str> {
    let bytes = name.as_bytes();
    match (bytes.first(), bytes.last()) {
        (None, _) | (_, None) => Err("must not be empty"),
        _ if !bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_') =>
        {
            Err("may contain only lower-case letters, digits and underscores")
        }
        (Some(first), _) if !first.is_ascii_lowercase() => {
            Err("must start with a lowercase ASCII letter")
        }
        (_, Some(last)) if !last.is_ascii_alphanumeric() => {
            Err("must end with a lowercase ASCII letter or digit")
        }
        _ if name.contains("__") => Err("must not contain consecutive underscores"),
        _ => Ok(()),
    }
}

/// Variable `name`'s value, by Spin's rules (the name checked first).
fn lookup(values: &HashMap<String, String>, name: String) -> Result<String, Error> {
    if let Err(reason) = check_name(&name) {
        return Err(Error::InvalidName(format!("{name:?}: {reason}")));
    }
    values.get(&name).cloned().ok_or(Error::Undefined(name))
}

impl<T> wit::HostWithStore<T> for HasVariables {
    async fn get(
        accessor: &Accessor<T, Self>,
        name: String,
    ) -> wasmtime::Result<Result<String, Error>> {
        Ok(accessor.with(|mut a| lookup(a.get().values, name)))
    }
}

impl crate::bindings::variables_v2::Host for VariablesHost<'_> {
    async fn get(
        &mut self,
        name: String,
    ) -> wasmtime::Result<Result<String, crate::bindings::variables_v2::Error>> {
        use crate::bindings::variables_v2::Error as V2;
        Ok(lookup(self.values, name).map_err(|error| match error {
            Error::InvalidName(message) => V2::InvalidName(message),
            Error::Undefined(message) => V2::Undefined(message),
            Error::Provider(message) => V2::Provider(message),
            Error::Other(message) => V2::Other(message),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_follow_spins_rules() {
        for good in ["variable", "db_url", "a1", "x"] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "invalid-name",
            "invalid!name",
            "4invalidname",
            "_a",
            "a_",
            "a__b",
            "Upper",
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    /// `spin:variables@3` and `fermyon:spin/variables@2` answer alike:
    /// the name checked first, then the value looked up.
    #[test]
    fn lookup_checks_the_name_then_the_value() {
        let values = HashMap::from([("db_url".to_owned(), "x".to_owned())]);
        assert!(matches!(lookup(&values, "db_url".into()), Ok(v) if v == "x"));
        assert!(matches!(lookup(&values, "nope".into()), Err(Error::Undefined(n)) if n == "nope"));
        assert!(matches!(
            lookup(&values, "DB_URL".into()),
            Err(Error::InvalidName(_))
        ));
    }

    fn declared() -> BTreeMap<String, RawVariable> {
        let var = |default: Option<&str>, required, secret| RawVariable {
            default: default.map(str::to_owned),
            required,
            secret,
        };
        BTreeMap::from([
            ("db_host".to_owned(), var(Some("127.0.0.1"), false, false)),
            ("db_url".to_owned(), var(None, true, true)),
        ])
    }

    #[test]
    fn env_overrides_provided_overrides_default() {
        let provided = BTreeMap::from([
            ("db_url".to_owned(), "postgres://embedded".to_owned()),
            ("db_host".to_owned(), "10.0.0.1".to_owned()),
        ]);
        let env = |k: &str| (k == "SPIN_VARIABLE_DB_URL").then(|| "postgres://env".to_owned());
        let vars = Variables::resolve(&declared(), env, &provided).unwrap();
        assert_eq!(vars.expand("{{ db_url }}").unwrap(), "postgres://env");
        assert_eq!(
            vars.expand("pg://{{db_host}}:1").unwrap(),
            "pg://10.0.0.1:1"
        );
    }

    #[test]
    fn debug_shows_names_never_values() {
        let vars =
            Variables::resolve(&declared(), |_| Some("s3cr3t".into()), &BTreeMap::new()).unwrap();
        let shown = format!("{vars:?}");
        assert!(
            shown.contains("db_url") && !shown.contains("s3cr3t"),
            "{shown}"
        );
    }

    #[test]
    fn missing_required_and_undeclared_are_errors() {
        let err = Variables::resolve(&declared(), |_| None, &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("SPIN_VARIABLE_DB_URL"), "{err}");
        let vars = Variables::resolve(&declared(), |_| Some("x".into()), &BTreeMap::new()).unwrap();
        assert!(vars.expand("{{ nope }}").is_err());
        assert!(vars.expand("{{ db_url").is_err());
    }
}

//! The Compose stack's passwords and admin token: the names `compose.yaml`
//! requires, random values for a throwaway stack or a new `.env`, and the
//! check that refuses a `.env` whose values are empty or placeholders.

use std::path::Path;

use anyhow::{Context as _, bail};

/// Every secret `compose.yaml` requires (`${NAME:?…}`, so compose refuses
/// an empty one). `.env.example` lists each with an empty value;
/// `cargo xtask validate` checks that both agree with this list.
pub const NAMES: &[&str] = &[
    "POSTGRES_PASSWORD",
    "CLIENTS_DB_PASSWORD",
    "PANIER_DB_PASSWORD",
    "COMMANDE_DB_PASSWORD",
    "CATALOGUE_DB_PASSWORD",
    "CONTROL_DB_PASSWORD",
    "COMPTOIR_ADMIN_TOKEN",
    "GRAFANA_ADMIN_PASSWORD",
];

/// The identity provider's settings `compose.yaml` requires (docs/api.md,
/// "Authentication"). Not secrets, so never generated: with neither set,
/// `cargo xtask compose` gives the stack the dev issuer's (`.comptoir/`),
/// whose tokens `cargo xtask token` mints. `.env.example` lists them empty.
pub const IDENTITY: &[&str] = &["AUTH_ISSUER", "AUTH_JWKS"];

/// Whether `name` is set, not empty, in the environment or in `.env`.
pub fn is_set(root: &Path, name: &str) -> bool {
    let file = std::fs::read_to_string(root.join(".env")).unwrap_or_default();
    shell(name).is_some_and(|v| !v.is_empty())
        || parse(&file)
            .iter()
            .any(|(n, v)| *n == name && !v.is_empty())
}

/// Values left where a password should be, compared lowercase with only
/// their letters and digits (`Change-Me` is `changeme`); the first three
/// also as prefixes (`change-me-too`, `password1`).
const PLACEHOLDERS: &[&str] = &[
    "changeme",
    "password",
    "replaceme",
    "passwd",
    "secret",
    "admin",
    "postgres",
    "example",
    "default",
    "setme",
    "todo",
    "test",
    "xxx",
    "123456",
];

/// Whether `value` is empty or a known placeholder rather than a password.
pub fn is_placeholder(value: &str) -> bool {
    let normal: String = value
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    normal.is_empty()
        || PLACEHOLDERS[..3].iter().any(|p| normal.starts_with(p))
        || PLACEHOLDERS.contains(&normal.as_str())
}

/// 16 random bytes, in hex.
pub fn random_hex() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(hex::encode(bytes))
}

/// A random value for every secret: a throwaway stack's.
pub fn random() -> anyhow::Result<Vec<(String, String)>> {
    NAMES
        .iter()
        .map(|name| Ok(((*name).to_owned(), random_hex()?)))
        .collect()
}

/// The `NAME=value` settings of an env file (comments and blank lines
/// skipped, one pair of surrounding quotes removed).
fn parse(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(name, value)| {
            let value = value.trim();
            let unquoted = ['"', '\'']
                .iter()
                .find_map(|q| value.strip_prefix(*q)?.strip_suffix(*q));
            (name.trim(), unquoted.unwrap_or(value))
        })
        .collect()
}

/// The secrets set neither in `env_file` nor in the environment (`shell`,
/// which compose prefers to the file); an error for one that is set but
/// empty or a placeholder, naming it (never its value).
fn unset(env_file: &str, shell: impl Fn(&str) -> Option<String>) -> anyhow::Result<Vec<&str>> {
    let file = parse(env_file);
    let mut unset = Vec::new();
    for name in NAMES {
        let (value, place) = match shell(name) {
            Some(value) => (value, "the environment"),
            None => match file.iter().rev().find(|(n, _)| n == name) {
                Some((_, value)) if !value.is_empty() => ((*value).to_owned(), ".env"),
                _ => {
                    unset.push(*name);
                    continue;
                }
            },
        };
        if is_placeholder(&value) {
            bail!(
                "{name} in {place} is {}: give it a real value (e.g. `openssl rand -hex 16`), \
                 or remove it from .env and `cargo xtask compose up` adds a random one",
                if value.is_empty() {
                    "empty"
                } else {
                    "a placeholder"
                }
            );
        }
    }
    Ok(unset)
}

fn shell(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The user's `.env`: written with random values when there is none (mode
/// 0600, untracked: `.gitignore` lists it); else each secret must be set
/// there or in the environment, and not be a placeholder (`change-me`…).
/// One set in neither (a `.env` from before GRAFANA_ADMIN_PASSWORD, say) is
/// added to `.env` with a random value.
pub fn ensure_env_file(root: &Path) -> anyhow::Result<()> {
    ensure_env_file_with(root, shell)
}

fn ensure_env_file_with(root: &Path, shell: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = root.join(".env");
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let missing = unset(existing.as_deref().unwrap_or_default(), shell)
        .with_context(|| format!("refusing to start the stack with {}", path.display()))?;
    if missing.is_empty() {
        return Ok(());
    }
    let mut text = match &existing {
        None => String::from("# Written by `cargo xtask compose up` (see .env.example).\n"),
        Some(text) if !text.is_empty() && !text.ends_with('\n') => "\n".into(),
        Some(_) => String::new(),
    };
    for name in &missing {
        text.push_str(&format!("{name}={}\n", random_hex()?));
    }
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!(
        "==> {} {} with random values for {}",
        if existing.is_some() {
            "added to"
        } else {
            "wrote"
        },
        path.display(),
        missing.join(", ")
    );
    Ok(())
}

/// Random values for the secrets set neither in `.env` nor in the
/// environment: `compose.yaml` requires every one even to take the stack
/// down, whatever they are.
pub fn for_down(root: &Path) -> anyhow::Result<Vec<(String, String)>> {
    NAMES
        .iter()
        .chain(IDENTITY)
        .filter(|name| !is_set(root, name))
        .map(|name| Ok(((*name).to_owned(), random_hex()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `.env.example`'s old values and the usual stand-ins are refused;
    /// generated values are not.
    #[test]
    fn placeholders_are_recognised() {
        for value in [
            "",
            "change-me",
            "CHANGE-ME",
            "changeme",
            "change_me",
            "change-me-too",
            "change-me-five",
            "password",
            "Password1",
            "admin",
            "secret",
            " <set-me> ",
            "xxx",
        ] {
            assert!(is_placeholder(value), "{value:?}");
        }
        for value in [
            "0f3a9c2e4b7d18e6a5c0b9f1d2e3a4b5",
            "correct horse battery staple",
        ] {
            assert!(!is_placeholder(value), "{value:?}");
        }
        assert!(!is_placeholder(&random_hex().unwrap()));
    }

    fn no_shell(_: &str) -> Option<String> {
        None
    }

    /// A `.env` with every secret set to a real value passes; those it
    /// lacks, or leaves empty, are reported as unset.
    #[test]
    fn unset_secrets_are_listed() {
        let full: String = NAMES
            .iter()
            .map(|n| format!("{n}=\"{}\"\n", random_hex().unwrap()))
            .collect();
        assert!(unset(&full, no_shell).unwrap().is_empty());
        let old = full.replace("GRAFANA_ADMIN_PASSWORD=", "# GRAFANA_ADMIN_PASSWORD=");
        assert_eq!(unset(&old, no_shell).unwrap(), ["GRAFANA_ADMIN_PASSWORD"]);
        let example = std::fs::read_to_string(crate::root().join(".env.example")).unwrap();
        assert_eq!(unset(&example, no_shell).unwrap(), NAMES);
    }

    /// A placeholder in `.env`, or in the environment (which compose
    /// prefers), is refused by name, its value never shown.
    #[test]
    fn placeholders_are_refused_by_name() {
        let full: String = NAMES
            .iter()
            .map(|n| format!("{n}={}\n", random_hex().unwrap()))
            .collect();
        let with = |name: &str, value: &str| {
            full.lines()
                .map(|l| {
                    if l.starts_with(&format!("{name}=")) {
                        format!("{name}={value}\n")
                    } else {
                        format!("{l}\n")
                    }
                })
                .collect::<String>()
        };
        let error = unset(&with("PANIER_DB_PASSWORD", "change-me-three"), no_shell)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("PANIER_DB_PASSWORD in .env is a placeholder"),
            "{error}"
        );
        assert!(!error.contains("change-me-three"), "{error}");
        let grafana = |name: &str| (name == "GRAFANA_ADMIN_PASSWORD").then(|| "admin".to_owned());
        let error = unset(&full, grafana).unwrap_err().to_string();
        assert!(
            error.contains("GRAFANA_ADMIN_PASSWORD in the environment"),
            "{error}"
        );
        let empty = |name: &str| (name == "POSTGRES_PASSWORD").then(String::new);
        let error = unset(&full, empty).unwrap_err().to_string();
        assert!(
            error.contains("POSTGRES_PASSWORD in the environment is empty"),
            "{error}"
        );
    }

    /// No `.env`: one is written (0600) with every secret; a `.env` that
    /// lacks one gets it added, its other values kept; one with a
    /// placeholder is refused and left as it was.
    #[test]
    fn env_file_is_written_completed_or_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = crate::root().join(format!("target/xtask-secrets-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let env = dir.join(".env");

        ensure_env_file_with(&dir, no_shell).unwrap();
        let written = std::fs::read_to_string(&env).unwrap();
        assert!(unset(&written, no_shell).unwrap().is_empty(), "{written}");
        let mode = std::fs::metadata(&env).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let old: String = written
            .lines()
            .filter(|l| !l.starts_with("GRAFANA_ADMIN_PASSWORD="))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&env, &old).unwrap();
        ensure_env_file_with(&dir, no_shell).unwrap();
        let completed = std::fs::read_to_string(&env).unwrap();
        assert!(completed.starts_with(&old), "{completed}");
        assert!(
            unset(&completed, no_shell).unwrap().is_empty(),
            "{completed}"
        );

        let placeholder =
            completed.replace("COMPTOIR_ADMIN_TOKEN=", "COMPTOIR_ADMIN_TOKEN=change-me#");
        std::fs::write(&env, &placeholder).unwrap();
        let error = format!("{:#}", ensure_env_file_with(&dir, no_shell).unwrap_err());
        assert!(
            error.contains("COMPTOIR_ADMIN_TOKEN in .env is a placeholder"),
            "{error}"
        );
        assert_eq!(std::fs::read_to_string(&env).unwrap(), placeholder);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! The runtime configuration file (`--runtime-config-file`, Spin's
//! `runtime-config.toml`): which backend serves each key-value store and
//! SQLite database label, with Spin's `default` store and database in the
//! state directory.
//!
//! Spin's rules: `[key_value_store.NAME]` of `type = "spin"` is a SQLite
//! file (`path` relative to this file's directory; no `path`: in memory);
//! `[sqlite_database.NAME]` of `type = "spin"` likewise, its `path` relative
//! to the working directory (as `spin up` resolves it). Labels not in the
//! file do not exist, except `default`. comptoir adds
//! `[key_value_store.NAME] type = "postgres"` (a table in a PostgreSQL
//! database, shared by the gateways given the same `url`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Deserialize;

/// The label that exists without being configured.
pub const DEFAULT_LABEL: &str = "default";
/// The `default` key-value store's file in the state directory (Spin's name).
pub const DEFAULT_KEY_VALUE_FILE: &str = "sqlite_key_value.db";
/// The `default` SQLite database's file in the state directory (Spin's name).
pub const DEFAULT_SQLITE_FILE: &str = "sqlite_db.db";

/// Where one key-value store keeps its pairs.
#[derive(Clone, PartialEq)]
pub enum KeyValueBackend {
    /// Spin's: table `spin_key_value` in a SQLite file (`None`: in memory).
    Spin { path: Option<PathBuf> },
    /// comptoir's: table `spin_key_value` in a PostgreSQL database.
    Postgres { url: String },
}

impl std::fmt::Debug for KeyValueBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Spin { path } => f.debug_struct("Spin").field("path", path).finish(),
            // The URL may carry a password.
            Self::Postgres { url } => f
                .debug_struct("Postgres")
                .field("url", &crate::secret::redact(url))
                .finish(),
        }
    }
}

/// One SQLite database (`type = "spin"`).
#[derive(Debug, Clone, PartialEq)]
pub struct SqliteDatabase {
    /// The file (`None`: a fresh in-memory database per connection, as in Spin).
    pub path: Option<PathBuf>,
    /// Whether a guest may `ATTACH` another file (Spin's `allow_attach_file`).
    pub allow_attach_file: bool,
}

/// The resolved runtime configuration: every label that exists.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeConfig {
    pub key_value: BTreeMap<String, KeyValueBackend>,
    pub sqlite: BTreeMap<String, SqliteDatabase>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    key_value_store: BTreeMap<String, RawStore>,
    #[serde(default)]
    sqlite_database: BTreeMap<String, RawDatabase>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum RawStore {
    Spin {
        #[serde(default)]
        path: Option<PathBuf>,
    },
    Postgres {
        url: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum RawDatabase {
    Spin {
        #[serde(default)]
        path: Option<PathBuf>,
        #[serde(default)]
        allow_attach_file: bool,
    },
}

impl RuntimeConfig {
    /// Reads `file` (if given) and adds the `default` labels in `state_dir`.
    pub fn read(file: Option<&Path>, state_dir: &Path) -> anyhow::Result<Self> {
        let Some(file) = file else {
            return Self::parse("", Path::new(""), state_dir, Path::new(""));
        };
        let cwd = std::env::current_dir().context("failed to read the working directory")?;
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("failed to read runtime config file {}", file.display()))?;
        let dir = file.parent().unwrap_or(Path::new(""));
        Self::parse(&text, dir, state_dir, &cwd)
            .with_context(|| format!("invalid runtime config file {}", file.display()))
    }

    /// Parses a runtime config file's `text`: key-value paths are relative
    /// to `file_dir`, SQLite paths to `cwd` (both as in Spin).
    pub fn parse(
        text: &str,
        file_dir: &Path,
        state_dir: &Path,
        cwd: &Path,
    ) -> anyhow::Result<Self> {
        let raw: RawFile = toml::from_str(text).context(
            "comptoir reads [key_value_store.NAME] (type \"spin\" or \"postgres\") and \
             [sqlite_database.NAME] (type \"spin\") tables only",
        )?;
        let mut key_value = BTreeMap::new();
        for (label, store) in raw.key_value_store {
            let backend = match store {
                RawStore::Spin { path } => KeyValueBackend::Spin {
                    path: path.map(|p| file_dir.join(p)),
                },
                RawStore::Postgres { url } => {
                    if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
                        bail!("key_value_store.{label}: url must be a postgres:// URL");
                    }
                    KeyValueBackend::Postgres { url }
                }
            };
            key_value.insert(label, backend);
        }
        key_value
            .entry(DEFAULT_LABEL.to_owned())
            .or_insert_with(|| KeyValueBackend::Spin {
                path: Some(state_dir.join(DEFAULT_KEY_VALUE_FILE)),
            });
        let mut sqlite = BTreeMap::new();
        for (label, database) in raw.sqlite_database {
            let RawDatabase::Spin {
                path,
                allow_attach_file,
            } = database;
            sqlite.insert(
                label,
                SqliteDatabase {
                    path: path.map(|p| cwd.join(p)),
                    allow_attach_file,
                },
            );
        }
        sqlite
            .entry(DEFAULT_LABEL.to_owned())
            .or_insert_with(|| SqliteDatabase {
                path: Some(state_dir.join(DEFAULT_SQLITE_FILE)),
                allow_attach_file: false,
            });
        Ok(Self { key_value, sqlite })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<RuntimeConfig> {
        RuntimeConfig::parse(
            text,
            Path::new("/etc/app"),
            Path::new("/var/state"),
            Path::new("/srv/cwd"),
        )
    }

    #[test]
    fn no_file_means_the_default_labels_in_the_state_dir() {
        let config = parse("").unwrap();
        assert_eq!(
            config.key_value,
            BTreeMap::from([(
                "default".to_owned(),
                KeyValueBackend::Spin {
                    path: Some("/var/state/sqlite_key_value.db".into())
                }
            )])
        );
        assert_eq!(
            config.sqlite["default"].path,
            Some("/var/state/sqlite_db.db".into())
        );
        assert_eq!(config.sqlite.len(), 1);
    }

    #[test]
    fn a_file_parses_with_spins_relative_paths() {
        let config = parse(
            r#"
            [key_value_store.default]
            type = "spin"
            path = "data/kv.db"

            [key_value_store.memory]
            type = "spin"

            [key_value_store.shared]
            type = "postgres"
            url = "postgres://kv:secret@db:5432/kv"

            [sqlite_database.default]
            type = "spin"
            path = "app.db"

            [sqlite_database.analytics]
            type = "spin"
            path = "/abs/analytics.db"
            allow_attach_file = true
            "#,
        )
        .unwrap();
        assert_eq!(
            config.key_value["default"],
            KeyValueBackend::Spin {
                path: Some("/etc/app/data/kv.db".into())
            }
        );
        assert_eq!(
            config.key_value["memory"],
            KeyValueBackend::Spin { path: None }
        );
        let shared = format!("{:?}", config.key_value["shared"]);
        assert!(!shared.contains("secret"), "{shared}");
        assert_eq!(
            config.sqlite["default"].path,
            Some("/srv/cwd/app.db".into())
        );
        assert_eq!(
            config.sqlite["analytics"],
            SqliteDatabase {
                path: Some("/abs/analytics.db".into()),
                allow_attach_file: true
            }
        );
    }

    #[test]
    fn unknown_types_fields_and_tables_are_refused() {
        for (text, expected) in [
            (
                "[key_value_store.x]\ntype = \"redis\"\nurl = \"redis://h\"",
                "redis",
            ),
            (
                "[key_value_store.x]\ntype = \"spin\"\npaht = \"a.db\"",
                "paht",
            ),
            ("[key_value_store.x]\npath = \"a.db\"", "type"),
            ("[sqlite_database.x]\ntype = \"libsql\"", "libsql"),
            ("[sqlite_database.x]\ntype = \"spin\"\nurl = \"x\"", "url"),
            ("[outbound_pg]\nmax_connections = 3", "outbound_pg"),
            (
                "[key_value_store.x]\ntype = \"postgres\"\nurl = \"mysql://h\"",
                "postgres://",
            ),
        ] {
            let error = format!("{:#}", parse(text).unwrap_err());
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }
}

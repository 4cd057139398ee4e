//! `spin.toml` (Spin manifest v2): the application's routes, components,
//! variables, environment, files and outbound allow-lists, with templates
//! resolved.
//!
//! comptoir reads the subset of the manifest it implements and refuses the
//! rest (an unknown component field is an error at start, not a surprise at
//! the first request).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Deserialize;

use crate::allowed_hosts::AllowedHosts;
use crate::files::Mount;
use crate::routes::{Route, Routes};
use crate::variables::{RawVariable, Variables};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: u32,
    #[expect(
        dead_code,
        reason = "required by Spin; comptoir names nothing after the application"
    )]
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, RawVariable>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Debug, Deserialize)]
struct RawApplication {
    #[expect(dead_code, reason = "see RawManifest::application")]
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpTrigger {
    route: RawRoute,
    component: String,
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "accepted for Spin compatibility; comptoir serves HTTP only"
    )]
    executor: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private { private: bool },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    source: String,
    #[serde(default)]
    #[expect(dead_code, reason = "accepted for Spin compatibility, never shown")]
    description: Option<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    /// Key-value store labels it may open (`default`, or runtime-config ones).
    #[serde(default)]
    key_value_stores: Vec<String>,
    /// SQLite database labels it may open.
    #[serde(default)]
    sqlite_databases: Vec<String>,
    /// Environment variables of every instance.
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    files: Vec<Mount>,
    #[serde(default)]
    exclude_files: Vec<String>,
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "used by `spin build`; comptoir's xtask builds components"
    )]
    build: Option<toml::Value>,
}

/// `spin.toml` as read, templates not yet resolved.
#[derive(Debug)]
pub struct File {
    path: PathBuf,
    raw: RawManifest,
}

/// A parsed, resolved application.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Directory of `spin.toml`: component sources and `db/` are relative to it.
    pub root: PathBuf,
    pub routes: Routes,
    pub components: BTreeMap<String, ComponentSpec>,
}

/// One component with its variables and allow-list resolved.
#[derive(Debug, Clone)]
pub struct ComponentSpec {
    pub id: String,
    pub source: PathBuf,
    pub allowed_hosts: AllowedHosts,
    /// Component variables (`get("db_url")`), values resolved.
    pub variables: BTreeMap<String, String>,
    /// The key-value stores it may open (`key_value_stores`).
    pub key_value_stores: Vec<String>,
    /// The SQLite databases it may open (`sqlite_databases`).
    pub sqlite_databases: Vec<String>,
    /// Environment variables (`environment`), as written.
    pub environment: BTreeMap<String, String>,
    /// What it may read (`files`, less `exclude_files`), relative to the
    /// application directory.
    pub files: Vec<Mount>,
    pub exclude_files: Vec<String>,
}

impl ComponentSpec {
    /// The component's database address, if it has one.
    pub fn db_url(&self) -> Option<&str> {
        self.variables.get("db_url").map(String::as_str)
    }
}

impl File {
    /// Reads and parses `path` (Spin manifest v2).
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read manifest {}", path.display()))?;
        let raw: RawManifest = toml::from_str(&text)
            .with_context(|| format!("invalid manifest {}", path.display()))?;
        if raw.spin_manifest_version != 2 {
            bail!(
                "{}: only spin_manifest_version = 2 is supported",
                path.display()
            );
        }
        Ok(Self {
            path: path.to_owned(),
            raw,
        })
    }

    /// The application variables it declares.
    pub fn declared_variables(&self) -> &BTreeMap<String, RawVariable> {
        &self.raw.variables
    }

    /// The application variable each component's `db_url` reads
    /// (`{{ x }}` → `x`).
    pub fn db_url_variables(&self) -> BTreeMap<String, String> {
        self.raw
            .component
            .iter()
            .filter_map(|(id, c)| {
                let template = c.variables.get("db_url")?;
                let inner = template
                    .trim()
                    .strip_prefix("{{")?
                    .strip_suffix("}}")?
                    .trim();
                Some((id.clone(), inner.to_owned()))
            })
            .collect()
    }

    /// Resolves every template with `variables`.
    pub fn resolve(&self, variables: &Variables) -> anyhow::Result<Manifest> {
        let raw = &self.raw;
        let root = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };

        let mut routes = Vec::new();
        for trigger in &raw.trigger.http {
            if !raw.component.contains_key(&trigger.component) {
                bail!("route for unknown component {:?}", trigger.component);
            }
            match &trigger.route {
                RawRoute::Path(template) => {
                    routes.push(Route::parse(template, &trigger.component)?)
                }
                RawRoute::Private { private: true } => {}
                RawRoute::Private { private: false } => {
                    bail!(
                        "route of {:?}: use a path, or {{ private = true }}",
                        trigger.component
                    )
                }
            }
        }

        let mut components = BTreeMap::new();
        for (id, c) in &raw.component {
            let mut resolved = BTreeMap::new();
            for (name, template) in &c.variables {
                let value = variables
                    .expand(template)
                    .with_context(|| format!("component {id}, variable {name}"))?;
                resolved.insert(name.clone(), value);
            }
            let hosts = c
                .allowed_outbound_hosts
                .iter()
                .map(|h| variables.expand(h))
                .collect::<anyhow::Result<Vec<_>>>()
                .with_context(|| format!("component {id}, allowed_outbound_hosts"))?;
            for (field, labels) in [
                ("key_value_stores", &c.key_value_stores),
                ("sqlite_databases", &c.sqlite_databases),
            ] {
                for label in labels {
                    check_label(label)
                        .with_context(|| format!("component {id}, {field}: {label:?}"))?;
                }
            }
            components.insert(
                id.clone(),
                ComponentSpec {
                    id: id.clone(),
                    source: root.join(&c.source),
                    allowed_hosts: AllowedHosts::parse(&hosts)
                        .with_context(|| format!("component {id}, allowed_outbound_hosts"))?,
                    variables: resolved,
                    key_value_stores: c.key_value_stores.clone(),
                    sqlite_databases: c.sqlite_databases.clone(),
                    environment: c.environment.clone(),
                    files: c.files.clone(),
                    exclude_files: c.exclude_files.clone(),
                },
            );
        }
        Ok(Manifest {
            root,
            routes: Routes::new(routes),
            components,
        })
    }
}

/// Spin's rule for a store or database label: kebab-case or snake_case
/// words (`default`, `my-store`, `user_data`), each starting with an ASCII
/// letter and all lower- or all upper-case.
fn check_label(label: &str) -> anyhow::Result<()> {
    let delimiter = if label.contains('-') { '-' } else { '_' };
    if label.contains('-') && label.contains('_') {
        bail!("mixes '-' and '_'");
    }
    for word in label.split(delimiter) {
        let Some(first) = word.chars().next() else {
            bail!("expected kebab-case or snake_case (an empty word)");
        };
        if !first.is_ascii_alphabetic() {
            bail!("each word must start with an ASCII letter");
        }
        if !word.chars().all(|c| c.is_ascii_alphanumeric()) {
            bail!("expected kebab-case or snake_case");
        }
        let upper = first.is_ascii_uppercase();
        if word
            .chars()
            .any(|c| c.is_ascii_alphabetic() && c.is_ascii_uppercase() != upper)
        {
            bail!("each word must be all lowercase or all UPPERCASE");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(component: &str) -> anyhow::Result<Manifest> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spin.toml");
        let text = format!(
            "spin_manifest_version = 2\n[application]\nname = \"t\"\n\
             [[trigger.http]]\nroute = \"/...\"\ncomponent = \"c\"\n\
             [component.c]\nsource = \"c.wasm\"\n{component}\n"
        );
        std::fs::write(&path, text).unwrap();
        File::read(&path)?.resolve(&Variables::default())
    }

    #[test]
    fn store_and_database_labels_are_kept() {
        let manifest = resolve(
            "key_value_stores = [\"default\", \"user-data\"]\n\
             sqlite_databases = [\"default\", \"snake_case\"]",
        )
        .unwrap();
        let c = &manifest.components["c"];
        assert_eq!(c.key_value_stores, ["default", "user-data"]);
        assert_eq!(c.sqlite_databases, ["default", "snake_case"]);
    }

    #[test]
    fn bad_labels_and_unknown_fields_are_refused() {
        for bad in [
            "key_value_stores = [\"b@dlabel\"]",
            "key_value_stores = [\"mixed-kind_of\"]",
            "sqlite_databases = [\"1st\"]",
            "sqlite_databases = [\"\"]",
            "ai_models = [\"llama2-chat\"]",
        ] {
            assert!(resolve(bad).is_err(), "{bad}");
        }
    }
}

//! `spin.toml` (Spin manifest v2): the application's routes, components,
//! variables and outbound allow-lists, with templates resolved.
//!
//! comptoir reads the subset of the manifest it implements and refuses the
//! rest (an unknown component field is an error at start, not a surprise at
//! the first request).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Deserialize;

use crate::allowed_hosts::AllowedHosts;
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
            components.insert(
                id.clone(),
                ComponentSpec {
                    id: id.clone(),
                    source: root.join(&c.source),
                    allowed_hosts: AllowedHosts::parse(&hosts)
                        .with_context(|| format!("component {id}, allowed_outbound_hosts"))?,
                    variables: resolved,
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

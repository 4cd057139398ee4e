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

use crate::variables::Variables;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: u32,
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
    name: String,
}

/// An application variable: a default, or `required`; `secret` ones never print.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVariable {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
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

/// A parsed, resolved application.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub name: String,
    /// Directory of `spin.toml`: component sources and `db/` are relative to it.
    pub root: PathBuf,
    pub routes: Vec<Route>,
    pub components: BTreeMap<String, ComponentSpec>,
}

/// A public HTTP route: `/clients` (exact) or `/clients/...` (prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The route as written in the manifest (used as the metrics label).
    pub template: String,
    pub prefix: String,
    pub wildcard: bool,
    pub component: String,
}

impl Route {
    fn parse(template: &str, component: &str) -> anyhow::Result<Self> {
        if !template.starts_with('/') {
            bail!("route {template:?} must start with '/'");
        }
        let (prefix, wildcard) = match template.strip_suffix("/...") {
            Some(prefix) => (prefix.to_owned(), true),
            None if template == "/..." => (String::new(), true),
            None => (template.trim_end_matches('/').to_owned(), false),
        };
        Ok(Self {
            template: template.to_owned(),
            prefix,
            wildcard,
            component: component.to_owned(),
        })
    }

    /// Whether `path` falls under this route (`/x/...` also matches `/x`).
    pub fn matches(&self, path: &str) -> bool {
        let path = if path.len() > 1 {
            path.trim_end_matches('/')
        } else {
            path
        };
        if self.wildcard {
            path == self.prefix
                || self.prefix.is_empty()
                || path
                    .strip_prefix(self.prefix.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        } else {
            path == self.prefix || (self.prefix.is_empty() && path == "/")
        }
    }
}

/// One component with its variables and allow-list resolved.
#[derive(Debug, Clone)]
pub struct ComponentSpec {
    pub id: String,
    pub source: PathBuf,
    pub description: Option<String>,
    pub allowed_hosts: AllowedHosts,
    /// Component variables (`get("db_url")`), values resolved.
    pub variables: BTreeMap<String, String>,
    /// Names of component variables whose value came from a secret.
    pub secret_variables: Vec<String>,
}

impl ComponentSpec {
    /// The component's database address, if it has one.
    pub fn db_url(&self) -> Option<&str> {
        self.variables.get("db_url").map(String::as_str)
    }
}

/// The application variable a component's `db_url` reads (`{{ x }}` → `x`).
pub fn db_url_variable(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let raw = read_raw(path)?;
    Ok(raw
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
        .collect())
}

fn read_raw(path: &Path) -> anyhow::Result<RawManifest> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read manifest {}", path.display()))?;
    let raw: RawManifest =
        toml::from_str(&text).with_context(|| format!("invalid manifest {}", path.display()))?;
    if raw.spin_manifest_version != 2 {
        bail!(
            "{}: only spin_manifest_version = 2 is supported",
            path.display()
        );
    }
    Ok(raw)
}

impl Manifest {
    /// Reads `path` and resolves every template with `variables`.
    pub fn load(path: &Path, variables: &Variables) -> anyhow::Result<Self> {
        let raw = read_raw(path)?;
        let root = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let root = if root.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            root
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
        // Most specific first: exact before wildcard, longer prefixes first.
        routes.sort_by(|a, b| {
            a.wildcard
                .cmp(&b.wildcard)
                .then(b.prefix.len().cmp(&a.prefix.len()))
        });

        let mut components = BTreeMap::new();
        for (id, c) in raw.component {
            let mut resolved = BTreeMap::new();
            let mut secret_variables = Vec::new();
            for (name, template) in &c.variables {
                let (value, secret) = variables
                    .expand(template)
                    .with_context(|| format!("component {id}, variable {name}"))?;
                if secret {
                    secret_variables.push(name.clone());
                }
                resolved.insert(name.clone(), value);
            }
            let hosts = c
                .allowed_outbound_hosts
                .iter()
                .map(|h| variables.expand(h).map(|(v, _)| v))
                .collect::<anyhow::Result<Vec<_>>>()
                .with_context(|| format!("component {id}, allowed_outbound_hosts"))?;
            components.insert(
                id.clone(),
                ComponentSpec {
                    id: id.clone(),
                    source: root.join(&c.source),
                    description: c.description,
                    allowed_hosts: AllowedHosts::parse(&hosts)
                        .with_context(|| format!("component {id}, allowed_outbound_hosts"))?,
                    variables: resolved,
                    secret_variables,
                },
            );
        }
        Ok(Self {
            name: raw.application.name,
            root,
            routes,
            components,
        })
    }

    /// The application variables declared in `path`.
    pub fn declared_variables(path: &Path) -> anyhow::Result<BTreeMap<String, RawVariable>> {
        Ok(read_raw(path)?.variables)
    }

    /// The component serving `path`, with the route that matched.
    pub fn route(&self, path: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.matches(path))
    }
}

/// `allowed_outbound_hosts`: `scheme://host[:port]`, with `*` wildcards
/// (`*://*:*`, `http://*.spin.internal`), as Spin writes them.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(Vec<HostPattern>);

#[derive(Debug, Clone)]
struct HostPattern {
    scheme: String,
    host: String,
    port: Option<String>,
}

impl AllowedHosts {
    pub fn parse(entries: &[String]) -> anyhow::Result<Self> {
        entries
            .iter()
            .map(|entry| {
                let (scheme, rest) = entry
                    .split_once("://")
                    .with_context(|| format!("{entry:?} must look like scheme://host[:port]"))?;
                if rest.contains('/') {
                    bail!("{entry:?}: allowed hosts cannot contain a path");
                }
                let (host, port) = match rest.rsplit_once(':') {
                    Some((host, port)) => (host, Some(port.to_owned())),
                    None => (rest, None),
                };
                Ok(HostPattern {
                    scheme: scheme.to_ascii_lowercase(),
                    host: host.to_ascii_lowercase(),
                    port,
                })
            })
            .collect::<anyhow::Result<_>>()
            .map(Self)
    }

    /// Whether `scheme://host:port` is allowed (`host_port` is `host[:port]`).
    pub fn allows(&self, scheme: &str, host_port: &str) -> bool {
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() => (h, Some(p)),
            _ => (host_port, None),
        };
        let host = host.to_ascii_lowercase();
        let port = port.or(match scheme {
            "postgres" => Some("5432"),
            "http" => Some("80"),
            "https" => Some("443"),
            _ => None,
        });
        self.0.iter().any(|p| {
            (p.scheme == "*" || p.scheme == scheme)
                && (p.host == "*"
                    || p.host == host
                    || p.host
                        .strip_prefix("*.")
                        .is_some_and(|suffix| host.ends_with(&format!(".{suffix}"))))
                && match (&p.port, port) {
                    (Some(pp), _) if pp == "*" => true,
                    (Some(pp), Some(port)) => pp == port,
                    (None, port) => port.is_none() || port == default_port(scheme),
                    (Some(_), None) => false,
                }
        })
    }
}

fn default_port(scheme: &str) -> Option<&'static str> {
    match scheme {
        "postgres" => Some("5432"),
        "http" => Some("80"),
        "https" => Some("443"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_routes_match_their_base_and_below() {
        let r = Route::parse("/clients/...", "clients").unwrap();
        assert!(r.matches("/clients"));
        assert!(r.matches("/clients/"));
        assert!(r.matches("/clients/42"));
        assert!(!r.matches("/clientsx"));
        assert!(!r.matches("/panier/1"));
        let exact = Route::parse("/healthz", "x").unwrap();
        assert!(exact.matches("/healthz"));
        assert!(!exact.matches("/healthz/x"));
    }

    #[test]
    fn allowed_hosts_check_scheme_host_and_port() {
        let hosts = AllowedHosts::parse(&[
            "postgres://127.0.0.1:5433".into(),
            "http://clients.spin.internal".into(),
        ])
        .unwrap();
        assert!(hosts.allows("postgres", "127.0.0.1:5433"));
        assert!(!hosts.allows("postgres", "127.0.0.1:5432"));
        assert!(!hosts.allows("postgres", "10.0.0.1:5433"));
        assert!(hosts.allows("http", "clients.spin.internal"));
        assert!(!hosts.allows("http", "panier.spin.internal"));
        assert!(!hosts.allows("https", "clients.spin.internal"));
        let wild = AllowedHosts::parse(&["http://*.spin.internal".into()]).unwrap();
        assert!(wild.allows("http", "panier.spin.internal"));
        assert!(AllowedHosts::parse(&["postgres://h:1/db".into()]).is_err());
    }
}

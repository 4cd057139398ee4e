//! The outbound allow-list policy (`allowed_outbound_hosts`, as Spin writes
//! it): which `scheme://host:port` a component may reach, for PostgreSQL
//! connections and chained HTTP calls alike.

use anyhow::{Context as _, bail};

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
        let port = port.or(default_port(scheme));
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

/// The port a scheme means when none is written.
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

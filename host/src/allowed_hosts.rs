//! The outbound allow-list policy (`allowed_outbound_hosts`, as Spin writes
//! it): which `scheme://host:port` a component may reach, for PostgreSQL
//! connections, chained HTTP calls and `wasi:sockets` alike.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;

use anyhow::{Context as _, bail, ensure};
use url::Host;

/// `allowed_outbound_hosts`: `scheme://host[:port]` as Spin writes them:
/// `*` for any scheme, host or port, `*.domain` for its subdomains, IP
/// literals (`127.0.0.1`, `[::1]`), IP ranges in CIDR form (`10.0.0.0/8`,
/// `2001:db8::/32`) and port ranges (`8000..9000`, the end excluded).
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(Vec<HostPattern>);

#[derive(Debug, Clone, PartialEq)]
struct HostPattern {
    /// Lowercase; `None` for `*`.
    scheme: Option<String>,
    host: HostMatch,
    port: PortMatch,
}

#[derive(Debug, Clone, PartialEq)]
enum HostMatch {
    Any,
    /// `*.example.com`: the suffix, dot included (`.example.com`).
    Subdomain(String),
    /// A domain (lowercase, punycode) or an IP address.
    Literal(Host),
    Cidr(Cidr),
}

#[derive(Debug, Clone, PartialEq)]
enum PortMatch {
    Any,
    /// None written: the scheme's default port, or no port at all.
    Default,
    One(u16),
    /// `a..b`: the end excluded, as Spin reads it.
    Range(Range<u16>),
}

/// An IP range: the network's address (host bits cleared) and its prefix.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl AllowedHosts {
    pub fn parse(entries: &[String]) -> anyhow::Result<Self> {
        entries
            .iter()
            .map(|entry| HostPattern::parse(entry).with_context(|| format!("{entry:?}")))
            .collect::<anyhow::Result<_>>()
            .map(Self)
    }

    /// Whether `scheme://host:port` is allowed (`host_port` is `host[:port]`).
    pub fn allows(&self, scheme: &str, host_port: &str) -> bool {
        let (host, port) = split_authority(host_port);
        let Ok(port) = port.map(str::parse::<u16>).transpose() else {
            return false;
        };
        self.allows_target(scheme, &target_host(host), port)
    }

    /// Whether a `scheme` (`tcp`, `udp`) socket may reach `addr`: only IP
    /// literals and ranges match an address (a domain in the list does not).
    pub fn allows_socket(&self, scheme: &str, addr: SocketAddr) -> bool {
        let host = match addr.ip() {
            IpAddr::V4(ip) => Host::Ipv4(ip),
            IpAddr::V6(ip) => Host::Ipv6(ip),
        };
        self.allows_target(scheme, &host, Some(addr.port()))
    }

    /// Whether some entry is for `scheme` (or `*`): else no `scheme`
    /// address is allowed at all.
    pub fn mentions(&self, scheme: &str) -> bool {
        self.0
            .iter()
            .any(|p| p.scheme.as_deref().is_none_or(|s| s == scheme))
    }

    fn allows_target(&self, scheme: &str, host: &Host, port: Option<u16>) -> bool {
        let port = port.or(default_port(scheme));
        self.0.iter().any(|p| {
            p.scheme.as_deref().is_none_or(|s| s == scheme)
                && p.host.allows(host)
                && p.port.allows(port, scheme)
        })
    }
}

impl HostPattern {
    fn parse(entry: &str) -> anyhow::Result<Self> {
        let (scheme, rest) = entry
            .trim()
            .split_once("://")
            .context("must look like scheme://host[:port]")?;
        ensure!(
            scheme == "*"
                || !scheme.is_empty()
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)),
            "invalid scheme {scheme:?}"
        );
        // One trailing slash is tolerated (`https://example.com/`), as by Spin.
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = split_pattern(rest)?;
        Ok(Self {
            scheme: (scheme != "*").then(|| scheme.to_ascii_lowercase()),
            host,
            port: PortMatch::parse(port)?,
        })
    }
}

/// Splits the `host[:port]` of an entry: `[v6]:port`, `ip/prefix:port`
/// (an IPv6 range needs no brackets: `2001:db8::/32:443`), `host:port`.
fn split_pattern(rest: &str) -> anyhow::Result<(HostMatch, Option<&str>)> {
    if rest.starts_with('[') {
        let end = rest.find(']').context("unclosed '['")?;
        let port = match &rest[end + 1..] {
            "" => None,
            after => Some(after.strip_prefix(':').context("junk after ']'")?),
        };
        return Ok((HostMatch::parse(&rest[..=end])?, port));
    }
    if let Some((addr, tail)) = rest.split_once('/') {
        let Ok(addr) = addr.parse::<IpAddr>() else {
            bail!("allowed hosts cannot contain a path");
        };
        let (prefix, port) = match tail.split_once(':') {
            Some((prefix, port)) => (prefix, Some(port)),
            None => (tail, None),
        };
        return Ok((HostMatch::Cidr(Cidr::new(addr, prefix)?), port));
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    ensure!(
        !host.contains(':'),
        "an IPv6 address goes in brackets: [::1]"
    );
    Ok((HostMatch::parse(host)?, port))
}

/// Splits a request's `host[:port]` (`[v6]:port` too).
fn split_authority(host_port: &str) -> (&str, Option<&str>) {
    if host_port.starts_with('[')
        && let Some(end) = host_port.find(']')
    {
        let port = host_port[end + 1..].strip_prefix(':');
        return (&host_port[..=end], port);
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => (host, Some(port)),
        _ => (host_port, None),
    }
}

/// A request's host; one that is not a valid host stays as written
/// (lowercase) and matches only `*`.
fn target_host(host: &str) -> Host {
    Host::parse(host)
        .ok()
        .or_else(|| host.parse::<Ipv6Addr>().ok().map(Host::Ipv6))
        .unwrap_or_else(|| Host::Domain(host.to_ascii_lowercase()))
}

impl HostMatch {
    fn parse(host: &str) -> anyhow::Result<Self> {
        if host == "*" {
            return Ok(Self::Any);
        }
        if let Some(domain) = host.strip_prefix("*.") {
            ensure!(!domain.contains('*'), "a wildcard is only a `*.` prefix");
            return match Host::parse(domain) {
                Ok(Host::Domain(domain)) => Ok(Self::Subdomain(format!(".{domain}"))),
                _ => bail!("a wildcard's suffix must be a domain"),
            };
        }
        ensure!(!host.contains('*'), "a wildcard is `*` or a `*.` prefix");
        Host::parse(host)
            .map(Self::Literal)
            .with_context(|| format!("invalid host {host:?}"))
    }

    fn allows(&self, host: &Host) -> bool {
        match (self, host) {
            (Self::Any, _) => true,
            (Self::Subdomain(suffix), Host::Domain(domain)) => domain.ends_with(suffix.as_str()),
            (Self::Literal(literal), host) => literal == host,
            (Self::Cidr(cidr), Host::Ipv4(ip)) => cidr.contains(IpAddr::V4(*ip)),
            (Self::Cidr(cidr), Host::Ipv6(ip)) => cidr.contains(IpAddr::V6(*ip)),
            (Self::Subdomain(_) | Self::Cidr(_), _) => false,
        }
    }
}

impl PortMatch {
    fn parse(port: Option<&str>) -> anyhow::Result<Self> {
        let number = |p: &str| {
            p.parse::<u16>()
                .with_context(|| format!("invalid port {p:?}"))
        };
        Ok(match port {
            None | Some("") => Self::Default,
            Some("*") => Self::Any,
            Some(port) => match port.split_once("..") {
                Some((start, end)) => Self::Range(number(start)?..number(end)?),
                None => Self::One(number(port)?),
            },
        })
    }

    /// `port` is the request's, or its scheme's default.
    fn allows(&self, port: Option<u16>, scheme: &str) -> bool {
        match (self, port) {
            (Self::Any, _) => true,
            (Self::Default, port) => port.is_none() || port == default_port(scheme),
            (Self::One(allowed), Some(port)) => *allowed == port,
            (Self::Range(range), Some(port)) => range.contains(&port),
            (Self::One(_) | Self::Range(_), None) => false,
        }
    }
}

impl Cidr {
    /// `addr/prefix`, host bits cleared (`127.0.0.1/24` is `127.0.0.0/24`,
    /// as Spin truncates it).
    fn new(addr: IpAddr, prefix: &str) -> anyhow::Result<Self> {
        let prefix: u8 = prefix
            .parse()
            .with_context(|| format!("invalid prefix length {prefix:?}"))?;
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        ensure!(prefix <= bits, "prefix length {prefix} is over {bits}");
        Ok(Self {
            network: masked(addr, prefix),
            prefix,
        })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.network.is_ipv4() && masked(ip, self.prefix) == self.network
    }
}

/// `ip` with all but its first `prefix` bits cleared.
fn masked(ip: IpAddr, prefix: u8) -> IpAddr {
    let keep = |bits: u32| bits.saturating_sub(prefix.into());
    match ip {
        IpAddr::V4(ip) => {
            let mask = u32::MAX.checked_shl(keep(32)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(ip) & mask))
        }
        IpAddr::V6(ip) => {
            let mask = u128::MAX.checked_shl(keep(128)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(ip) & mask))
        }
    }
}

/// The port a scheme means when none is written.
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "postgres" => Some(5432),
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(&entries.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
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

    /// Default ports, `*` ports and hosts, case.
    #[test]
    fn defaults_and_wildcards() {
        let list = hosts(&[
            "http://Example.com",
            "postgres://db:*",
            "*://*.spin.internal",
        ]);
        assert!(list.allows("http", "example.com:80"));
        assert!(list.allows("http", "EXAMPLE.com"));
        assert!(!list.allows("http", "example.com:8080"));
        assert!(list.allows("postgres", "db:6543"));
        assert!(list.allows("https", "a.spin.internal"));
        assert!(!list.allows("https", "spin.internal"));
        assert!(!list.allows("http", "example.com:nope"));
        assert!(hosts(&["*://*:*"]).allows("tcp", "anything:1"));
    }

    /// `*://127.0.0.0/24:7`, IPv6 ranges, and what is not in them.
    #[test]
    fn ip_ranges_in_cidr_form() {
        let list = hosts(&["*://127.0.0.0/24:7", "tcp://2001:db8::/32:443"]);
        assert!(list.allows_socket("tcp", addr("127.0.0.1:7")));
        assert!(list.allows_socket("udp", addr("127.0.0.255:7")));
        assert!(!list.allows_socket("tcp", addr("127.0.1.1:7")));
        assert!(!list.allows_socket("tcp", addr("127.0.0.1:8")));
        assert!(list.allows_socket("tcp", addr("[2001:db8:abcd::1]:443")));
        assert!(!list.allows_socket("tcp", addr("[2001:db9::1]:443")));
        assert!(!list.allows_socket("udp", addr("[2001:db8::1]:443")));
        assert!(list.allows("http", "127.0.0.9:7"));
        assert!(!list.allows("http", "localhost:7"));
        // Host bits are cleared, as Spin does; /0 is everything.
        assert!(hosts(&["*://127.0.0.1/24:*"]).allows_socket("tcp", addr("127.0.0.200:1")));
        assert!(hosts(&["tcp://0.0.0.0/0:*"]).allows_socket("tcp", addr("8.8.8.8:53")));
        assert!(!hosts(&["tcp://0.0.0.0/0:*"]).allows_socket("tcp", addr("[::1]:53")));
    }

    /// `[::1]` hosts, with or without a port.
    #[test]
    fn ipv6_literals() {
        let list = hosts(&["http://[::1]", "tcp://[::1]:7"]);
        assert!(list.allows("http", "[::1]"));
        assert!(list.allows("http", "[::1]:80"));
        assert!(!list.allows("http", "[::1]:81"));
        assert!(!list.allows("http", "[::2]"));
        assert!(list.allows_socket("tcp", addr("[::1]:7")));
        assert!(!list.allows_socket("tcp", addr("127.0.0.1:7")));
        // A bare IPv6 host:port (as a PostgreSQL address prints).
        assert!(hosts(&["postgres://[::1]:5432"]).allows("postgres", "::1:5432"));
    }

    /// `8000..9000`: the end excluded, as Spin reads it.
    #[test]
    fn port_ranges() {
        let list = hosts(&["tcp://10.0.0.1:8000..9000"]);
        assert!(list.allows_socket("tcp", addr("10.0.0.1:8000")));
        assert!(list.allows_socket("tcp", addr("10.0.0.1:8999")));
        assert!(!list.allows_socket("tcp", addr("10.0.0.1:9000")));
        assert!(!list.allows_socket("tcp", addr("10.0.0.2:8000")));
    }

    /// Sockets: the scheme is `tcp` or `udp`; a domain never matches an IP.
    #[test]
    fn sockets_match_scheme_and_address_only() {
        let list = hosts(&["tcp://127.0.0.1:6001", "udp://localhost:53"]);
        assert!(list.allows_socket("tcp", addr("127.0.0.1:6001")));
        assert!(!list.allows_socket("udp", addr("127.0.0.1:6001")));
        assert!(!list.allows_socket("udp", addr("127.0.0.1:53")));
        assert!(list.mentions("tcp") && list.mentions("udp") && !list.mentions("http"));
        assert!(hosts(&["*://x:1"]).mentions("udp"));
        assert!(!AllowedHosts::default().mentions("tcp"));
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in [
            "example.com",
            "http://example.com/path",
            "http://example.com:8080/p",
            "http://127.0.0.0/24/p",
            "http://127.0.0.0/33",
            "http://::1",
            "http://[::1",
            "http://[::1]junk",
            "http://example.com:99999",
            "http://example.com:notaport",
            "http://example.com:8080..70000",
            "http://exa*mple.com",
            "http://*.127.0.0.1",
            "http://",
            "://example.com",
        ] {
            assert!(
                AllowedHosts::parse(&[bad.to_owned()]).is_err(),
                "{bad} accepted"
            );
        }
        // One trailing slash is not a path.
        assert!(hosts(&["https://my.api.com/"]).allows("https", "my.api.com"));
    }
}

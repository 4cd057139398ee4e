//! The route table: manifest route templates (`/clients`, `/clients/...`,
//! `/base/:id/...`) matched as Spin matches them (its `routefinder`
//! ranking: exact segments before `:param` before `...`), and what a match
//! tells the component in Spin's `spin-*` request headers.

use anyhow::bail;

/// A public HTTP route, as written in the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The route as written in the manifest (used as the metrics label).
    pub template: String,
    pub component: String,
}

impl Route {
    pub fn parse(template: &str, component: &str) -> anyhow::Result<Self> {
        if !template.starts_with('/') {
            bail!("route {template:?} must start with '/'");
        }
        if let Err(error) = routefinder::RouteSpec::try_from(spec(template)) {
            bail!("route {template:?}: {error}");
        }
        Ok(Self {
            template: template.to_owned(),
            component: component.to_owned(),
        })
    }

    /// Whether this route alone would serve `path`.
    pub fn matches(&self, path: &str) -> bool {
        Routes::new(vec![self.clone()]).find(path).is_some()
    }

    /// The template without its trailing `/...` (Spin's component route).
    pub fn prefix(&self) -> &str {
        self.template.strip_suffix("/...").unwrap_or(&self.template)
    }
}

/// A template as a `routefinder` spec: `/x/...` is `/x/*`, and a trailing
/// slash is dropped, as Spin does.
fn spec(template: &str) -> String {
    match template.strip_suffix("/...") {
        Some(prefix) => format!("{prefix}/*"),
        None if template.len() > 1 => template.trim_end_matches('/').to_owned(),
        None => template.to_owned(),
    }
}

/// Every public route.
#[derive(Debug, Default)]
pub struct Routes {
    routes: Vec<Route>,
    router: routefinder::Router<usize>,
}

impl Clone for Routes {
    fn clone(&self) -> Self {
        Self::new(self.routes.clone())
    }
}

/// The route a path matched, and what the match captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched<'a> {
    pub route: &'a Route,
    /// `:name` segments and their values, in order.
    pub params: Vec<(String, String)>,
    /// What `...` matched, as Spin's `spin-path-info` gives it (`/rest`;
    /// empty for an exact route).
    pub path_info: String,
}

impl Routes {
    pub fn new(routes: Vec<Route>) -> Self {
        let mut router = routefinder::Router::new();
        for (i, route) in routes.iter().enumerate() {
            router
                .add(spec(&route.template), i)
                .expect("Route::parse checked the template");
        }
        Self { routes, router }
    }

    /// The route serving `path`, if any.
    pub fn find(&self, path: &str) -> Option<&Route> {
        self.matched(path).map(|m| m.route)
    }

    /// The route serving `path` and what it captured, if any.
    pub fn matched(&self, path: &str) -> Option<Matched<'_>> {
        let found = self.router.best_match(path)?;
        let captures = found.captures();
        // As Spin: the wildcard with a leading slash, and a trailing one
        // when the path has one.
        let path_info = captures
            .wildcard()
            .map(|rest| match (rest.is_empty(), path.ends_with('/')) {
                (true, false) => String::new(),
                (true, true) => "/".to_owned(),
                (false, false) => format!("/{rest}"),
                (false, true) => format!("/{rest}/"),
            })
            .unwrap_or_default();
        Some(Matched {
            route: &self.routes[*found.handler()],
            params: captures
                .iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
            path_info,
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter()
    }
}

/// The `spin-*` headers Spin gives a component for a request it routed:
/// `spin-full-url`, `spin-path-info`, `spin-matched-route`,
/// `spin-base-path`, `spin-raw-component-route`, `spin-component-route`,
/// `spin-client-addr` and one `spin-path-match-<name>` per `:name`.
pub fn spin_headers(
    matched: &Matched<'_>,
    uri: &http::Uri,
    host: Option<&str>,
    client: Option<std::net::SocketAddr>,
) -> Vec<(String, String)> {
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    let scheme = uri.scheme_str().unwrap_or("http");
    let host = host.unwrap_or("localhost");
    let template = matched.route.template.clone();
    let mut headers = vec![
        ("spin-path-info".to_owned(), matched.path_info.clone()),
        (
            "spin-full-url".to_owned(),
            format!("{scheme}://{host}{path_and_query}"),
        ),
        ("spin-matched-route".to_owned(), template.clone()),
        ("spin-base-path".to_owned(), "/".to_owned()),
        ("spin-raw-component-route".to_owned(), template),
        (
            "spin-component-route".to_owned(),
            matched.route.prefix().to_owned(),
        ),
    ];
    if let Some(client) = client {
        headers.push(("spin-client-addr".to_owned(), client.to_string()));
    }
    for (name, value) in &matched.params {
        headers.push((
            format!(
                "spin-path-match-{}",
                name.replace('_', "-").to_ascii_lowercase()
            ),
            value.clone(),
        ));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(templates: &[(&str, &str)]) -> Routes {
        Routes::new(
            templates
                .iter()
                .map(|(t, c)| Route::parse(t, c).unwrap())
                .collect(),
        )
    }

    #[test]
    fn wildcard_routes_match_their_base_and_below() {
        let routes = routes(&[("/clients/...", "clients"), ("/healthz", "x")]);
        let serving = |path| routes.find(path).map(|r| r.component.as_str());
        for path in ["/clients", "/clients/", "/clients/42"] {
            assert_eq!(serving(path), Some("clients"), "{path}");
        }
        // As under `spin up` (routefinder): the slash before `...` is
        // optional, so the clients route also gets `/clientsx` (its
        // component answers 404 for what it does not know).
        assert_eq!(serving("/clientsx"), Some("clients"));
        assert_eq!(serving("/panier/1"), None);
        assert_eq!(serving("/healthz"), Some("x"));
        assert_eq!(serving("/healthz/x"), None);
    }

    #[test]
    fn the_most_specific_route_serves() {
        let routes = routes(&[
            ("/...", "docs"),
            ("/clients/...", "clients"),
            ("/clients/export", "export"),
            ("/clients/:id/orders", "orders"),
        ]);
        let serving = |path| routes.find(path).map(|r| r.component.as_str());
        assert_eq!(serving("/clients/export"), Some("export"));
        assert_eq!(serving("/clients/42"), Some("clients"));
        assert_eq!(serving("/clients/42/orders"), Some("orders"));
        assert_eq!(serving("/openapi.json"), Some("docs"));
        assert_eq!(serving("/"), Some("docs"));
    }

    /// The request-shape case of Spin's conformance suite, header for header.
    #[test]
    fn spin_headers_are_the_ones_spin_sets() {
        let routes = routes(&[("/base/:path_segment/:path_end/...", "request-shape")]);
        let uri: http::Uri = "/base/path/end/rest?key=value".parse().unwrap();
        let matched = routes.matched(uri.path()).unwrap();
        let client = "127.0.0.1:4000".parse().ok();
        let headers = spin_headers(&matched, &uri, Some("example.com"), client);
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            get("spin-raw-component-route"),
            Some("/base/:path_segment/:path_end/...")
        );
        assert_eq!(
            get("spin-matched-route"),
            Some("/base/:path_segment/:path_end/...")
        );
        assert_eq!(
            get("spin-component-route"),
            Some("/base/:path_segment/:path_end")
        );
        assert_eq!(
            get("spin-full-url"),
            Some("http://example.com/base/path/end/rest?key=value")
        );
        assert_eq!(get("spin-path-info"), Some("/rest"));
        assert_eq!(get("spin-base-path"), Some("/"));
        assert_eq!(get("spin-path-match-path-segment"), Some("path"));
        assert_eq!(get("spin-path-match-path-end"), Some("end"));
        assert_eq!(get("spin-client-addr"), Some("127.0.0.1:4000"));
        assert_eq!(headers.len(), 9);
        // An exact route has no path info; a wildcard's trailing slash stays.
        let exact = Routes::new(vec![Route::parse("/healthz", "x").unwrap()]);
        assert_eq!(exact.matched("/healthz").unwrap().path_info, "");
        assert_eq!(routes.matched("/base/a/b/").unwrap().path_info, "/");
        assert_eq!(routes.matched("/base/a/b/c/d/").unwrap().path_info, "/c/d/");
    }

    #[test]
    fn malformed_templates_are_refused() {
        assert!(Route::parse("clients", "x").is_err());
        assert!(Route::parse("/a/*named", "x").is_err());
    }
}

//! The route table: manifest route templates (`/clients`, `/clients/...`)
//! and which one serves a request path.

use anyhow::bail;

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
    pub fn parse(template: &str, component: &str) -> anyhow::Result<Self> {
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

/// Every public route, most specific first (exact before wildcard, longer
/// prefixes first), so the first match is the one that serves.
#[derive(Debug, Clone, Default)]
pub struct Routes(Vec<Route>);

impl Routes {
    pub fn new(mut routes: Vec<Route>) -> Self {
        routes.sort_by(|a, b| {
            a.wildcard
                .cmp(&b.wildcard)
                .then(b.prefix.len().cmp(&a.prefix.len()))
        });
        Self(routes)
    }

    /// The route serving `path`, if any.
    pub fn find(&self, path: &str) -> Option<&Route> {
        self.0.iter().find(|r| r.matches(path))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.0.iter()
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
    fn the_most_specific_route_serves() {
        let routes = Routes::new(vec![
            Route::parse("/...", "docs").unwrap(),
            Route::parse("/clients/...", "clients").unwrap(),
            Route::parse("/clients/export", "export").unwrap(),
        ]);
        let serving = |path| routes.find(path).map(|r| r.component.as_str());
        assert_eq!(serving("/clients/export"), Some("export"));
        assert_eq!(serving("/clients/42"), Some("clients"));
        assert_eq!(serving("/openapi.json"), Some("docs"));
    }
}

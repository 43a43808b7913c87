//! The routing table, compiled once per configuration: Kong's traditional matching on host, method, headers
//! and path prefix, indexed by host and by path so a lookup never scans all routes. One entry point,
//! [`Router::find`], over a [`RequestView`].
//!
//! Index: exact hosts in a `HashMap` (`name` or `name:port`), wildcard hosts in maps keyed by their fixed part
//! (`.example.com` for `*.example.com`, `example.` for `example.*`) and host-less routes in one bucket; each
//! bucket holds a byte trie of path prefixes. A lookup visits the buckets the request host can hit and, in
//! each, only the prefixes of the request path; the best candidate wins by Kong's priority rules.

mod trie;
mod upstream;

use std::cmp::Reverse;

use http::{HeaderMap, HeaderName};

use crate::checks::split_host_port;
use crate::error::{ConfigError, ConfigErrors};
use crate::fast::FastMap;
use crate::model::Config;
use trie::PathTrie;

pub use upstream::upstream_path;

/// What the router reads from a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// The request method, compared exactly (`GET`).
    pub method: &'a str,
    /// The Host header (else the URI authority), with an optional port; `None` when the request has none.
    pub host: Option<&'a str>,
    /// The request path, without the query string.
    pub path: &'a str,
    /// The request headers; only routes with `headers` read them.
    pub headers: &'a HeaderMap,
}

/// The route chosen for a request: indexes and flags only, cheap to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteMatch {
    /// Index of the route in [`Config::routes_with_services`] order (nested routes, then top-level ones),
    /// counting routes of disabled services too, so callers can keep per-route data in a `Vec`.
    pub route: usize,
    /// Index into `Config::services`.
    pub service: usize,
    /// Bytes of the request path matched by the route's path prefix (0 when the route has no paths).
    pub matched_prefix: usize,
    /// Whether the matched prefix is removed upstream.
    pub strip_path: bool,
    /// Whether the client's Host header is sent upstream.
    pub preserve_host: bool,
}

/// A compiled routing table.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<Compiled>,
    exact: FastMap<String, PathTrie>,
    suffix_wildcards: FastMap<String, PathTrie>,
    prefix_wildcards: FastMap<String, PathTrie>,
    any_host: PathTrie,
    wildcard_ports: bool,
}

/// One route, reduced to what matching needs.
#[derive(Debug, Clone)]
struct Compiled {
    /// Index in `Config::routes_with_services()` order.
    route: usize,
    service: usize,
    strip_path: bool,
    preserve_host: bool,
    methods: Vec<String>,
    /// Header name and its accepted values, lowercase; every header must have one of its values.
    headers: Vec<(HeaderName, Vec<String>)>,
    /// Number of matcher kinds set (hosts, headers, paths, methods).
    fields: u8,
    /// Kong's category bits: hosts 8, headers 4, paths 2, methods 1; higher wins among equal `fields`.
    category: u8,
    /// (created_at, position in the file): older wins.
    created: (i64, usize),
}

/// How the request host matched a candidate's bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum HostKind {
    Any = 0,
    Wildcard = 1,
    Plain = 2,
}

type Score = (u8, u8, HostKind, usize, usize, Reverse<(i64, usize)>);

impl Router {
    /// Compiles the routes of enabled services. Errors: a top-level route whose service cannot be resolved,
    /// regex paths (not supported yet), a header name that is not an HTTP token. Expects a validated config
    /// otherwise (validation also refuses `host` as a `headers` key).
    pub fn compile(config: &Config) -> Result<Router, ConfigErrors> {
        let mut router = Router::default();
        let mut errors = Vec::new();
        for (position, entry) in config.routes_with_services().enumerate() {
            let route = entry.route;
            let path = || entry.position.path();
            let Some(service) = entry.service else {
                let message = match &route.service {
                    Some(r) => format!("no service with {}", r.describe()),
                    None => "required field missing (a top-level route must name its service)"
                        .to_string(),
                };
                errors.push(ConfigError::at(format!("{}.service", path()), message));
                continue;
            };
            if let Some((k, _)) = route
                .paths
                .iter()
                .enumerate()
                .find(|(_, p)| p.starts_with('~'))
            {
                errors.push(ConfigError::at(
                    format!("{}.paths[{k}]", path()),
                    "regex paths (\"~\" prefix) are not supported yet",
                ));
                continue;
            }
            if !config.services.get(service).is_some_and(|s| s.enabled) {
                continue;
            }
            let mut headers = Vec::with_capacity(route.headers.len());
            for (name, values) in &route.headers {
                match HeaderName::from_bytes(name.as_bytes()) {
                    Ok(header) => headers.push((
                        header,
                        values.iter().map(|v| v.to_ascii_lowercase()).collect(),
                    )),
                    Err(_) => errors.push(ConfigError::at(
                        format!("{}.headers.{name}", path()),
                        format!("invalid header name {name:?}"),
                    )),
                }
            }
            if headers.len() != route.headers.len() {
                continue;
            }
            let mut category = 0u8;
            for (set, bit) in [
                (!route.hosts.is_empty(), 8),
                (!route.headers.is_empty(), 4),
                (!route.paths.is_empty(), 2),
                (!route.methods.is_empty(), 1),
            ] {
                if set {
                    category |= bit;
                }
            }
            let index = u32::try_from(router.routes.len()).unwrap_or(u32::MAX);
            router.routes.push(Compiled {
                route: position,
                service,
                strip_path: route.strip_path,
                preserve_host: route.preserve_host,
                methods: route.methods.clone(),
                headers,
                fields: u8::try_from(category.count_ones()).unwrap_or(0),
                category,
                created: (route.created_at.unwrap_or(i64::MAX), position),
            });
            let paths: Vec<&[u8]> = if route.paths.is_empty() {
                vec![b""]
            } else {
                route.paths.iter().map(|p| p.as_bytes()).collect()
            };
            if route.hosts.is_empty() {
                for p in &paths {
                    router.any_host.insert(p, index);
                }
            }
            for host in &route.hosts {
                let trie = router.bucket_for(host);
                for p in &paths {
                    trie.insert(p, index);
                }
            }
        }
        if errors.is_empty() {
            Ok(router)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// The trie of the bucket a route host pattern belongs to.
    fn bucket_for(&mut self, host: &str) -> &mut PathTrie {
        let host = host.to_ascii_lowercase();
        let (name, port) = split_host_port(&host);
        let name = name.strip_suffix('.').unwrap_or(name);
        let with_port = |key: &str| match port {
            Some(p) => format!("{key}:{p}"),
            None => key.to_string(),
        };
        if let Some(rest) = name.strip_prefix('*') {
            self.wildcard_ports |= port.is_some();
            return self.suffix_wildcards.entry(with_port(rest)).or_default();
        }
        if let Some(rest) = name.strip_suffix('*') {
            self.wildcard_ports |= port.is_some();
            return self.prefix_wildcards.entry(with_port(rest)).or_default();
        }
        self.exact.entry(with_port(name)).or_default()
    }

    /// Number of compiled routes (routes of disabled services are left out).
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// True when no route can match.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Finds the route for a request by Kong's traditional rules: host, path prefix, method and headers
    /// (header names and values compared ignoring ASCII case; a header sent several times matches when
    /// any of its values does), the best candidate chosen by Kong's priorities.
    pub fn find(&self, req: &RequestView<'_>) -> Option<RouteMatch> {
        let RequestView {
            method,
            host,
            path,
            headers,
        } = *req;
        let mut best: Option<(Score, u32, usize)> = None;
        let mut consider = |trie: &PathTrie, kind: HostKind| {
            trie.walk(path.as_bytes(), |prefix_len, routes| {
                for &idx in routes {
                    let Some(route) = self.routes.get(idx as usize) else {
                        continue;
                    };
                    if !route.methods.is_empty() && !route.methods.iter().any(|m| m == method) {
                        continue;
                    }
                    if !headers_match(&route.headers, headers) {
                        continue;
                    }
                    let score: Score = (
                        route.fields,
                        route.category,
                        kind,
                        route.headers.len(),
                        prefix_len,
                        Reverse(route.created),
                    );
                    if best.as_ref().is_none_or(|(b, _, _)| score > *b) {
                        best = Some((score, idx, prefix_len));
                    }
                }
            });
        };

        if let Some(raw_host) = host {
            let host = raw_host.to_ascii_lowercase();
            let (name, port) = split_host_port(&host);
            let name = name.strip_suffix('.').unwrap_or(name);
            if let Some(trie) = self.exact.get(name) {
                consider(trie, HostKind::Plain);
            }
            if let Some(port) = port {
                if let Some(trie) = self.exact.get(&format!("{name}:{port}")) {
                    consider(trie, HostKind::Plain);
                }
            }
            if !self.suffix_wildcards.is_empty() || !self.prefix_wildcards.is_empty() {
                for (i, _) in name.match_indices('.') {
                    // `*.example.com` needs at least one character before `.example.com`.
                    if i > 0 {
                        let key = &name[i..];
                        if let Some(trie) = self.suffix_wildcards.get(key) {
                            consider(trie, HostKind::Wildcard);
                        }
                        if let (true, Some(port)) = (self.wildcard_ports, port) {
                            if let Some(trie) = self.suffix_wildcards.get(&format!("{key}:{port}"))
                            {
                                consider(trie, HostKind::Wildcard);
                            }
                        }
                    }
                    // `example.*` needs at least one character after `example.`.
                    if i + 1 < name.len() {
                        let key = &name[..=i];
                        if let Some(trie) = self.prefix_wildcards.get(key) {
                            consider(trie, HostKind::Wildcard);
                        }
                        if let (true, Some(port)) = (self.wildcard_ports, port) {
                            if let Some(trie) = self.prefix_wildcards.get(&format!("{key}:{port}"))
                            {
                                consider(trie, HostKind::Wildcard);
                            }
                        }
                    }
                }
            }
        }
        consider(&self.any_host, HostKind::Any);

        let (_, idx, matched_prefix) = best?;
        let route = self.routes.get(idx as usize)?;
        Some(RouteMatch {
            route: route.route,
            service: route.service,
            matched_prefix,
            strip_path: route.strip_path,
            preserve_host: route.preserve_host,
        })
    }
}

/// Whether every wanted header has one of its (lowercase) values among the request's values for that name.
fn headers_match(wanted: &[(HeaderName, Vec<String>)], headers: &HeaderMap) -> bool {
    wanted.iter().all(|(name, values)| {
        headers.get_all(name).iter().any(|got| {
            let got = got.as_bytes();
            values
                .iter()
                .any(|v| got.eq_ignore_ascii_case(v.as_bytes()))
        })
    })
}

#[cfg(test)]
mod tests;

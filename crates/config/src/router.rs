//! The routing table, compiled once per configuration: Kong's default router (`traditional_compatible`)
//! on host, method, headers and paths (plain prefixes and `~` regexes), indexed by host and by path so a
//! lookup never scans all routes. One entry point, [`Router::find`], over a [`RequestView`].
//!
//! Index: exact hosts in a `HashMap` (`name` or `name:port`), wildcard hosts in maps keyed by their fixed part
//! (`.example.com` for `*.example.com`, `example.` for `example.*`) and host-less routes in one bucket; each
//! bucket holds a byte trie of path prefixes and one of its regex paths keyed by the literal text their
//! matches start with. A lookup visits the buckets the request host can hit and, in each, only the prefixes
//! of the request path and the regexes whose literal prefix the path starts with and that can still beat
//! the best candidate so far; the best wins by Kong's priority ([`Priority`], from `get_priority` in Kong's
//! `kong/router/transform.lua`).
//!
//! Routes with an `expression` (Kong's expressions router, [`expression`]) are kept in their own list,
//! tried first by `priority` ([`expr_routes`]); with none, a lookup does not look at it.

mod expr_routes;
pub mod expression;
mod regex_paths;
pub mod stream;
mod trie;
mod upstream;

use std::cmp::Reverse;
use std::net::SocketAddr;

use http::{HeaderMap, HeaderName};

use crate::checks::split_host_port;
use crate::error::{ConfigError, ConfigErrors};
use crate::fast::FastMap;
use crate::model::{Config, Protocol};
use regex_paths::{RegexPath, RegexPaths};
use trie::PathTrie;

pub use regex_paths::UriCaptures;
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
    /// Whether the request came over TLS (decides [`RouteMatch::https_redirect`]; for expression routes
    /// also `net.protocol` and, as in Kong, the route's `protocols`).
    pub https: bool,
    /// The query string (without `?`): `http.queries.*` of expression routes.
    pub query: Option<&'a str>,
    /// The client's address (`net.src.*` of expression routes).
    pub src: Option<SocketAddr>,
    /// The address the request came in on (`net.dst.*` of expression routes).
    pub dst: Option<SocketAddr>,
}

/// The route chosen for a request: indexes and flags only, cheap to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteMatch {
    /// Index of the route in [`Config::routes_with_services`] order (nested routes, then top-level ones),
    /// counting routes of disabled services too, so callers can keep per-route data in a `Vec`.
    pub route: usize,
    /// Index into `Config::services`; `None` for a route without a service (Kong answers 503 after the
    /// route's plugins ran).
    pub service: Option<usize>,
    /// Bytes of the request path matched by the route's path: the prefix, or the text a regex path matched
    /// (0 when the route has no paths). `strip_path` removes that many bytes from the start.
    pub matched_prefix: usize,
    /// Whether the matched prefix is removed upstream.
    pub strip_path: bool,
    /// Whether the client's Host header is sent upstream.
    pub preserve_host: bool,
    /// Kong's `path_handling: v1` (else `v0`): how [`upstream_path`] joins the service path and the rest.
    pub path_v1: bool,
    /// The router's index of the regex path that matched (`None` for a prefix or no path); read by
    /// [`Router::uri_captures`].
    pub regex: Option<u32>,
    /// `Some(https_redirect_status_code)` when the request came over plain HTTP and the route's `protocols`
    /// do not have `http` (only `https`): the caller answers with it instead of proxying (Kong's behaviour).
    pub https_redirect: Option<u16>,
}

/// A compiled routing table.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<Compiled>,
    /// Expression routes, in the order they are tried (empty for a traditional-only config).
    expressions: Vec<expr_routes::ExprRoute>,
    /// Every regex path of every route, indexed by [`RouteMatch::regex`].
    regexes: Vec<RegexPath>,
    exact: FastMap<String, Bucket>,
    suffix_wildcards: FastMap<String, Bucket>,
    prefix_wildcards: FastMap<String, Bucket>,
    any_host: Bucket,
    wildcard_ports: bool,
}

/// The routes of one host pattern: prefix paths in a trie, regex paths in another (by literal prefix).
#[derive(Debug, Clone, Default)]
struct Bucket {
    prefixes: PathTrie,
    regexes: RegexPaths,
}

/// One route, reduced to what matching needs.
#[derive(Debug, Clone)]
struct Compiled {
    /// Index in `Config::routes_with_services()` order.
    route: usize,
    service: Option<usize>,
    strip_path: bool,
    preserve_host: bool,
    path_v1: bool,
    /// `Some(status)` when the route's protocols have `https` but not `http`.
    https_redirect: Option<u16>,
    methods: Vec<String>,
    /// Header name and its accepted values, lowercase; every header must have one of its values.
    headers: Vec<(HeaderName, Vec<String>)>,
    /// The route's priority for a path without length (prefix paths add theirs, regex paths their flag).
    base: Priority,
}

/// Kong's priority of a route (`traditional_compatible`: `get_priority` in `kong/router/transform.lua`),
/// compared field by field, higher first. Kong splits a route into one route per prefix length plus one for
/// all its regex paths; here each path gets its own priority, which orders them the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Priority {
    /// Kong's "match weight": how many of methods, hosts, headers and paths are set.
    weight: u8,
    /// Hosts are set and none has a wildcard (Kong's `PLAIN_HOST_ONLY_BIT`).
    plain_hosts: bool,
    /// Number of header names (Kong's header count).
    headers: usize,
    /// The path is a regex (Kong's `REGEX_URL_BIT`): any regex path before any prefix path.
    regex: bool,
    /// `regex_priority`, for a regex path only (0 otherwise).
    regex_priority: i64,
    /// Length of the prefix path (0 for regex paths and routes without paths): longer first.
    length: usize,
    /// Kong leaves ties undefined; here: older `created_at`, then earlier in the file, then the route's
    /// earlier path.
    order: Reverse<(i64, usize, usize)>,
}

impl Priority {
    /// A placeholder priority, below every real one (for regexes that are never ranked).
    fn lowest() -> Priority {
        Priority {
            weight: 0,
            plain_hosts: false,
            headers: 0,
            regex: false,
            regex_priority: i64::MIN,
            length: 0,
            order: Reverse((i64::MAX, usize::MAX, usize::MAX)),
        }
    }
}

/// The best route so far during one lookup.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    priority: Priority,
    route: u32,
    matched: usize,
    regex: Option<u32>,
}

impl Router {
    /// Compiles the routes of enabled services and the routes without a service. Errors: a top-level route
    /// whose service cannot be resolved,
    /// a header name that is not an HTTP token, a regex path that does not compile. Expects a validated
    /// config otherwise (validation also refuses `host` as a `headers` key and checks regex syntax).
    pub fn compile(config: &Config) -> Result<Router, ConfigErrors> {
        let mut router = Router::default();
        let mut errors = Vec::new();
        for (position, entry) in config.routes_with_services().enumerate() {
            let route = entry.route;
            let path = || entry.position.path();
            let service = entry.service;
            match (&route.service, service) {
                (Some(r), None) => {
                    let message = format!("no service with {}", r.describe());
                    errors.push(ConfigError::at(format!("{}.service", path()), message));
                    continue;
                }
                (_, Some(s)) if !config.services.get(s).is_some_and(|s| s.enabled) => continue,
                _ => {}
            }
            if route.is_stream() {
                // Stream routes have their own table (`stream::StreamRouter`); the HTTP one never sees them.
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
            if route.expression.is_some() {
                match expr_routes::ExprRoute::new(route, position, service, &mut router.regexes) {
                    Ok(compiled) => router.expressions.push(compiled),
                    Err(message) => {
                        errors.push(ConfigError::at(format!("{}.expression", path()), message))
                    }
                }
                continue;
            }
            let index = u32::try_from(router.routes.len()).unwrap_or(u32::MAX);
            let weight = [
                !route.methods.is_empty(),
                !route.hosts.is_empty(),
                !route.headers.is_empty(),
                !route.paths.is_empty(),
            ]
            .into_iter()
            .filter(|set| *set)
            .count();
            let base = Priority {
                weight: u8::try_from(weight).unwrap_or(u8::MAX),
                plain_hosts: !route.hosts.is_empty()
                    && !route.hosts.iter().any(|h| h.contains('*')),
                headers: route.headers.len(),
                regex: false,
                regex_priority: 0,
                length: 0,
                order: Reverse((route.created_at.unwrap_or(i64::MAX), position, 0)),
            };
            // Prefix paths go in the tries; regex paths are compiled here, once, for every bucket.
            let mut prefixes: Vec<&[u8]> = Vec::new();
            let mut regexes: Vec<(u32, RegexPath)> = Vec::new();
            for (k, p) in route.paths.iter().enumerate() {
                let Some(pattern) = p.strip_prefix('~') else {
                    prefixes.push(p.as_bytes());
                    continue;
                };
                let Reverse((created, position, _)) = base.order;
                let priority = Priority {
                    regex: true,
                    regex_priority: route.regex_priority,
                    order: Reverse((created, position, k)),
                    ..base
                };
                match RegexPath::new(pattern, index, priority) {
                    Ok(regex) => {
                        let at = router.regexes.len() + regexes.len();
                        regexes.push((u32::try_from(at).unwrap_or(u32::MAX), regex));
                    }
                    Err(message) => {
                        errors.push(ConfigError::at(format!("{}.paths[{k}]", path()), message))
                    }
                }
            }
            if route.paths.is_empty() {
                prefixes.push(b"");
            }
            let has_http = route.protocols.contains(&Protocol::Http);
            let has_https = route.protocols.contains(&Protocol::Https);
            router.routes.push(Compiled {
                route: position,
                service,
                strip_path: route.strip_path,
                preserve_host: route.preserve_host,
                path_v1: route.path_handling == crate::model::PathHandling::V1,
                https_redirect: (has_https && !has_http)
                    .then_some(route.https_redirect_status_code),
                methods: route.methods.clone(),
                headers,
                base,
            });
            let add = |bucket: &mut Bucket| {
                for p in &prefixes {
                    bucket.prefixes.insert(p, index);
                }
                for (at, r) in &regexes {
                    bucket.regexes.push(*at, r);
                }
            };
            if route.hosts.is_empty() {
                add(&mut router.any_host);
            }
            for host in &route.hosts {
                add(router.bucket_for(host));
            }
            router.regexes.extend(regexes.into_iter().map(|(_, r)| r));
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        router
            .expressions
            .sort_by_key(expr_routes::ExprRoute::order);
        let Router {
            regexes,
            exact,
            suffix_wildcards,
            prefix_wildcards,
            any_host,
            ..
        } = &mut router;
        let buckets = exact
            .values_mut()
            .chain(suffix_wildcards.values_mut())
            .chain(prefix_wildcards.values_mut())
            .chain(std::iter::once(any_host));
        for bucket in buckets {
            bucket.regexes.finish(regexes);
        }
        Ok(router)
    }

    /// The bucket a route host pattern belongs to.
    fn bucket_for(&mut self, host: &str) -> &mut Bucket {
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
        self.routes.len() + self.expressions.len()
    }

    /// True when no route can match.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty() && self.expressions.is_empty()
    }

    /// Finds the route for a request by Kong's rules: host, paths (prefix or regex), method and headers
    /// (header names and values compared ignoring ASCII case; a header sent several times matches when
    /// any of its values does), the best candidate chosen by Kong's priority. `protocols` do not take part
    /// (as in Kong): a route without `http` matched over plain HTTP comes back with
    /// [`RouteMatch::https_redirect`] set.
    ///
    /// Expression routes come first: the first whose expression matches, by `priority`.
    pub fn find(&self, req: &RequestView<'_>) -> Option<RouteMatch> {
        if !self.expressions.is_empty() {
            if let Some(found) = expr_routes::find(&self.expressions, req) {
                return Some(found);
            }
        }
        let path = req.path;
        let mut best: Option<Candidate> = None;
        let accepts = |route: &Compiled| {
            (route.methods.is_empty() || route.methods.iter().any(|m| m == req.method))
                && headers_match(&route.headers, req.headers)
        };
        let mut consider = |bucket: &Bucket| {
            bucket.prefixes.walk(path.as_bytes(), |prefix_len, routes| {
                for &idx in routes {
                    let Some(route) = self.routes.get(idx as usize) else {
                        continue;
                    };
                    let priority = Priority {
                        length: prefix_len,
                        ..route.base
                    };
                    if best.as_ref().is_some_and(|b| b.priority >= priority) || !accepts(route) {
                        continue;
                    }
                    best = Some(Candidate {
                        priority,
                        route: idx,
                        matched: prefix_len,
                        regex: None,
                    });
                }
            });
            let floor = best.as_ref().map(|b| b.priority);
            let found = bucket.regexes.find(&self.regexes, path, floor, |r| {
                self.routes.get(r.route as usize).is_some_and(accepts)
            });
            if let Some((regex, matched)) = found {
                if let Some(r) = self.regexes.get(regex as usize) {
                    best = Some(Candidate {
                        priority: r.priority,
                        route: r.route,
                        matched,
                        regex: Some(regex),
                    });
                }
            }
        };

        let host_routes = !self.exact.is_empty()
            || !self.suffix_wildcards.is_empty()
            || !self.prefix_wildcards.is_empty();
        if let Some(raw_host) = req.host.filter(|_| host_routes) {
            // Most clients send the host in lower case already: no copy then.
            let host: std::borrow::Cow<'_, str> =
                if raw_host.bytes().any(|b| b.is_ascii_uppercase()) {
                    raw_host.to_ascii_lowercase().into()
                } else {
                    raw_host.into()
                };
            let (full_name, port) = split_host_port(&host);
            let name = full_name.strip_suffix('.').unwrap_or(full_name);
            if let Some(bucket) = self.exact.get(name) {
                consider(bucket);
            }
            if let Some(port) = port {
                // `name:port` is the host itself unless a trailing dot was dropped from the name.
                let with_port = if name.len() == full_name.len() {
                    std::borrow::Cow::Borrowed(&*host)
                } else {
                    std::borrow::Cow::Owned(format!("{name}:{port}"))
                };
                if let Some(bucket) = self.exact.get(&*with_port) {
                    consider(bucket);
                }
            }
            if !self.suffix_wildcards.is_empty() || !self.prefix_wildcards.is_empty() {
                for (i, _) in name.match_indices('.') {
                    // `*.example.com` needs at least one character before `.example.com`.
                    if i > 0 {
                        let key = &name[i..];
                        if let Some(bucket) = self.suffix_wildcards.get(key) {
                            consider(bucket);
                        }
                        if let (true, Some(port)) = (self.wildcard_ports, port) {
                            if let Some(bucket) =
                                self.suffix_wildcards.get(&format!("{key}:{port}"))
                            {
                                consider(bucket);
                            }
                        }
                    }
                    // `example.*` needs at least one character after `example.`.
                    if i + 1 < name.len() {
                        let key = &name[..=i];
                        if let Some(bucket) = self.prefix_wildcards.get(key) {
                            consider(bucket);
                        }
                        if let (true, Some(port)) = (self.wildcard_ports, port) {
                            if let Some(bucket) =
                                self.prefix_wildcards.get(&format!("{key}:{port}"))
                            {
                                consider(bucket);
                            }
                        }
                    }
                }
            }
        }
        consider(&self.any_host);

        let best = best?;
        let route = self.routes.get(best.route as usize)?;
        Some(RouteMatch {
            route: route.route,
            service: route.service,
            matched_prefix: best.matched,
            strip_path: route.strip_path,
            preserve_host: route.preserve_host,
            path_v1: route.path_v1,
            regex: best.regex,
            https_redirect: route.https_redirect.filter(|_| !req.https),
        })
    }

    /// The capture groups of a match by a regex path over `path` (the path given to [`Router::find`]):
    /// Kong's `uri_captures`. `None` when the route matched by a prefix or without a path, or when the
    /// regex has no group (Kong leaves `uri_captures` unset then too).
    pub fn uri_captures<'p>(&self, m: &RouteMatch, path: &'p str) -> Option<UriCaptures<'_, 'p>> {
        self.regexes.get(m.regex? as usize)?.captures(path)
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
mod expr_tests;
#[cfg(test)]
mod tests;

//! Turns the file as written ([`crate::raw`]) into the model: defaults, `url` expansion, ids, number ranges.
//!
//! Problems that the model's types cannot hold (a negative port, a bad UUID, an unknown protocol) are reported
//! here; everything else is left to [`crate::validate`], which also checks configs built in code.

use std::fmt;

use uuid::Uuid;

use crate::checks::{PORT_RANGE, RETRIES_RANGE, TIMEOUT_RANGE};
use crate::consumers::{Consumer, RawConsumer};
use crate::error::Collector;
use crate::fast::FastMap;
use crate::ids;
use crate::model::{
    Config, EntityRef, PathHandling, Plugin, Protocol, Route, Service, DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_MS,
};
use crate::raw::{RawConfig, RawPlugin, RawRoute, RawService};

/// Builds the model, recording every conversion problem in `errors`.
pub(crate) fn build(mut raw: RawConfig, errors: &mut Collector) -> Config {
    crate::compat::migrate(&mut raw, errors);
    let mut config = Config {
        format_version: raw.format_version.map(|v| v.0).unwrap_or_default(),
        transform: raw.transform,
        comment: raw.comment,
        info: raw.info,
        gateway: raw.gateway.unwrap_or_default(),
        konnect: raw.konnect.take(),
        workspace: raw.workspace.take(),
        ..Config::default()
    };
    config.ca_certificates =
        crate::ca_certificates::build(raw.ca_certificates.take().unwrap_or_default(), errors);
    config.vaults = crate::vaults::build(raw.vaults.take().unwrap_or_default(), errors);
    (config.key_sets, config.keys) = crate::keys::build(
        raw.key_sets.take().unwrap_or_default(),
        raw.keys.take().unwrap_or_default(),
        errors,
    );
    config.certificates = crate::certificates::build::build(
        raw.certificates.unwrap_or_default(),
        raw.snis.unwrap_or_default(),
        &config.vaults,
        errors,
    );
    config.upstreams = crate::upstreams::build::build(
        raw.upstreams.unwrap_or_default(),
        raw.targets.unwrap_or_default(),
        errors,
    );
    let mut raw_consumers = raw.consumers.unwrap_or_default();
    let nested: Vec<_> = raw_consumers
        .iter_mut()
        .map(RawConsumer::take_credentials)
        .collect();
    config.consumers = (raw_consumers.into_iter().enumerate())
        .map(|(i, rc)| build_consumer(rc, i, errors))
        .collect();
    let top = crate::credentials::load::lists([
        raw.keyauth_credentials,
        raw.basicauth_credentials,
        raw.hmacauth_credentials,
        raw.jwt_secrets,
        raw.acls,
    ]);
    crate::credentials::load::build(&mut config, top, nested, errors);
    let mut urls = UrlCache::default();
    let raw_services = raw.services.unwrap_or_default();
    config.services.reserve_exact(raw_services.len());
    // Nested plugins that name another entity too, built as top-level ones (see `nested_plugin`).
    let mut hoisted = Vec::new();
    for (i, rs) in raw_services.into_iter().enumerate() {
        let service = build_service(rs, i, &mut urls, &mut hoisted, errors);
        config.services.push(service);
    }
    let raw_routes = raw.routes.unwrap_or_default();
    config.routes.reserve_exact(raw_routes.len());
    for (i, rr) in raw_routes.into_iter().enumerate() {
        let route = build_route(rr, &At::Root("routes", i), None, i, &mut hoisted, errors);
        config.routes.push(route);
    }
    let raw_plugins = raw.plugins.unwrap_or_default();
    if raw_plugins.is_empty() {
        config.plugins = hoisted;
        return config;
    }
    let scopes = ScopeResolver::new(&config);
    let mut plugins = Vec::new();
    for (i, rp) in raw_plugins.into_iter().enumerate() {
        let service = rp.service.as_ref().and_then(|r| scopes.service(r));
        let route = rp.route.as_ref().and_then(|r| scopes.route(r));
        let resolved =
            rp.service.is_none() == service.is_none() && rp.route.is_none() == route.is_none();
        let scope = resolved.then_some((service, route));
        plugins.push(build_plugin(
            rp,
            &At::Root("plugins", i),
            Parent::None,
            scope,
            i,
            errors,
        ));
    }
    plugins.append(&mut hoisted);
    config.plugins = plugins;
    config
}

fn build_service(
    rs: RawService,
    i: usize,
    urls: &mut UrlCache,
    hoisted: &mut Vec<Plugin>,
    errors: &mut Collector,
) -> Service {
    let path = At::Root("services", i);
    let id = parse_id(rs.id.as_deref(), &path, errors)
        .unwrap_or_else(|| ids::service_id(rs.name.as_deref(), i));
    let mut service = Service::new(id, rs.host.clone().unwrap_or_default());
    service.name = rs.name;

    if let Some(url) = rs.url.as_deref() {
        // Kong's shorthand rule (`url` is not deprecated): the url's protocol, host, port and path replace
        // the separate fields, which are then ignored (a url without a path clears `path`).
        match urls.expand(url) {
            Ok(parts) => {
                service.protocol = parts.protocol;
                service.host = parts.host;
                service.port = parts.port;
                service.path = parts.path;
            }
            Err(message) => {
                errors.push(format!("{path}.url"), message);
                // Keeps validation from also reporting `host: required field missing`; the config is refused anyway.
                service.host = "invalid-url.invalid".to_string();
            }
        }
    } else {
        if let Some(protocol) = rs.protocol.as_deref() {
            match Protocol::parse(protocol) {
                Ok(p) => service.protocol = p,
                Err(message) => errors.push(format!("{path}.protocol"), message),
            }
        }
        // Kong's default port is 80 whatever the protocol; only the `url` shorthand implies 443.
        service.port = match rs.port {
            None => Protocol::Http.default_port(),
            Some(port) => u16::try_from(port).unwrap_or_else(|_| {
                errors.push(format!("{path}.port"), PORT_RANGE);
                service.protocol.default_port()
            }),
        };
        service.path = rs.path;
    }

    service.retries = match rs.retries {
        None => DEFAULT_RETRIES,
        Some(n) => u32::try_from(n).unwrap_or_else(|_| {
            errors.push(format!("{path}.retries"), RETRIES_RANGE);
            DEFAULT_RETRIES
        }),
    };
    let mut timeout = |field: &str, value: Option<i64>| match value {
        None => DEFAULT_TIMEOUT_MS,
        Some(n) => u64::try_from(n).unwrap_or_else(|_| {
            errors.push(format!("{path}.{field}"), TIMEOUT_RANGE);
            DEFAULT_TIMEOUT_MS
        }),
    };
    service.connect_timeout = timeout("connect_timeout", rs.connect_timeout);
    service.read_timeout = timeout("read_timeout", rs.read_timeout);
    service.write_timeout = timeout("write_timeout", rs.write_timeout);
    service.enabled = rs.enabled.unwrap_or(true);
    service.tags = rs.tags.unwrap_or_default();
    service.created_at = rs.created_at;
    service.updated_at = rs.updated_at;
    let at = path.to_string();
    let (depth, cas, client) = (
        rs.tls_verify_depth,
        rs.ca_certificates,
        rs.client_certificate,
    );
    crate::upstream_tls::build(&mut service, rs.tls_verify, depth, cas, client, &at, errors);

    // Collected from exact-size iterators: no spare capacity (a 10k-service config holds 10k of these).
    service.routes = (rs.routes.unwrap_or_default().into_iter().enumerate())
        .map(|(j, rr)| {
            let at = At::Child(&path, "routes", j);
            build_route(rr, &at, Some(id), j, hoisted, errors)
        })
        .collect();
    service.plugins = (rs.plugins.unwrap_or_default().into_iter().enumerate())
        .filter_map(|(j, rp)| {
            let at = At::Child(&path, "plugins", j);
            nested_plugin(rp, &at, Nest::Service(id), j, hoisted, errors)
        })
        .collect();
    service
}

fn build_consumer(rc: RawConsumer, i: usize, errors: &mut Collector) -> Consumer {
    let path = At::Root("consumers", i);
    let id = parse_id(rc.id.as_deref(), &path, errors)
        .unwrap_or_else(|| ids::consumer_id(rc.username.as_deref(), rc.custom_id.as_deref(), i));
    let mut consumer = Consumer::new(id);
    consumer.username = rc.username;
    consumer.custom_id = rc.custom_id;
    consumer.tags = rc.tags.unwrap_or_default();
    consumer.created_at = rc.created_at;
    consumer.updated_at = rc.updated_at;
    consumer.plugins = (rc.plugins.unwrap_or_default().into_iter().enumerate())
        .map(|(j, mut rp)| {
            if rp.id.is_none() {
                let name = rp.name.as_deref().unwrap_or("");
                let pid = ids::consumer_plugin_id(name, rp.instance_name.as_deref(), id);
                let pid = match (&rp.service, &rp.route) {
                    (None, None) => pid,
                    (service, route) => ids::scoped_further(pid, service.as_ref(), route.as_ref()),
                };
                rp.id = Some(pid.to_string());
            }
            let at = At::Child(&path, "plugins", j);
            build_plugin(rp, &at, Parent::Consumer, None, j, errors)
        })
        .collect();
    consumer
}

/// `parent` is the owning service id for a nested route, `None` for a top-level one.
fn build_route(
    mut rr: RawRoute,
    path: &At<'_>,
    parent: Option<Uuid>,
    index: usize,
    hoisted: &mut Vec<Plugin>,
    errors: &mut Collector,
) -> Route {
    let id = parse_id(rr.id.as_deref(), path, errors)
        .unwrap_or_else(|| ids::route_id(rr.name.as_deref(), parent, index));
    let mut route = Route::new(id);
    crate::stream::take_fields(&mut route, &mut rr, &path.to_string(), errors);
    route.name = rr.name;
    if let Some(protocols) = rr.protocols {
        route.protocols = protocols_of(&protocols, path, errors);
    }
    if let Some(code) = rr.https_redirect_status_code {
        // Out of u16 range: 0 fails the same check in validation, with Kong's message.
        route.https_redirect_status_code = u16::try_from(code).unwrap_or(0);
    }
    route.methods = rr.methods.unwrap_or_default();
    route.hosts = rr.hosts.unwrap_or_default();
    route.paths = rr.paths.unwrap_or_default();
    route.headers = rr.headers.unwrap_or_default();
    route.strip_path = rr.strip_path.unwrap_or(true);
    route.preserve_host = rr.preserve_host.unwrap_or(false);
    route.request_buffering = rr.request_buffering.unwrap_or(true);
    route.response_buffering = rr.response_buffering.unwrap_or(true);
    route.regex_priority = rr.regex_priority.unwrap_or(0);
    route.expression = rr.expression;
    route.priority = rr.priority.unwrap_or(0);
    match rr.path_handling.as_deref() {
        None | Some("v0") => route.path_handling = PathHandling::V0,
        Some("v1") => route.path_handling = PathHandling::V1,
        Some(other) => errors.push(
            format!("{path}.path_handling"),
            format!("expected \"v0\" or \"v1\", got {other:?}"),
        ),
    }
    if parent.is_some() && rr.service.is_some() {
        errors.push(
            format!("{path}.service"),
            "must not be set on a nested route (it belongs to its parent service)",
        );
    } else {
        route.service = rr.service;
    }
    route.tags = rr.tags.unwrap_or_default();
    route.created_at = rr.created_at;
    route.updated_at = rr.updated_at;
    route.plugins = (rr.plugins.unwrap_or_default().into_iter().enumerate())
        .filter_map(|(j, rp)| {
            let at = At::Child(path, "plugins", j);
            nested_plugin(rp, &at, Nest::Route(id), j, hoisted, errors)
        })
        .collect();
    route
}

/// The entity a plugin is nested in.
#[derive(Clone, Copy)]
enum Nest {
    Service(Uuid),
    Route(Uuid),
}

/// A plugin nested in a service or a route. Kong's declarative loader keeps the other foreign keys a nested
/// plugin names and overwrites the parent's own (`populate_references` in
/// `kong/db/schema/others/declarative_config.lua`): a route's plugin naming a service or a consumer is scoped
/// to the route and those. Such a plugin is built as a top-level one scoped to its parent and them (pushed to
/// `hoisted`, `None` returned), and keeps where it is written for errors; any other stays nested.
fn nested_plugin(
    mut rp: RawPlugin,
    at: &At<'_>,
    nest: Nest,
    index: usize,
    hoisted: &mut Vec<Plugin>,
    errors: &mut Collector,
) -> Option<Plugin> {
    let name = rp.name.clone().unwrap_or_default();
    let (scope, extra) = match nest {
        Nest::Service(id) => {
            rp.service = None;
            (
                (Some(id), None),
                rp.route.is_some() || rp.consumer.is_some(),
            )
        }
        Nest::Route(id) => {
            rp.route = None;
            (
                (None, Some(id)),
                rp.service.is_some() || rp.consumer.is_some(),
            )
        }
    };
    if !extra {
        return Some(build_plugin(
            rp,
            at,
            Parent::Other,
            Some(scope),
            index,
            errors,
        ));
    }
    if rp.id.is_none() {
        let own = ids::plugin_id(&name, rp.instance_name.as_deref(), scope.0, scope.1);
        let id = ids::scoped_further(own, rp.service.as_ref(), rp.route.as_ref());
        let id = rp
            .consumer
            .as_ref()
            .map_or(id, |c| ids::scoped_to_consumer(id, c));
        rp.id = Some(id.to_string());
    }
    match nest {
        Nest::Service(id) => rp.service = Some(EntityRef::Id(id)),
        Nest::Route(id) => rp.route = Some(EntityRef::Id(id)),
    }
    let mut plugin = build_plugin(rp, at, Parent::None, None, index, errors);
    plugin.origin = Some(at.to_string());
    hoisted.push(plugin);
    None
}

/// Where a plugin is written.
#[derive(Clone, Copy, PartialEq)]
enum Parent {
    /// Top level (`plugins:`).
    None,
    /// In a consumer's `plugins`: it may also name a route and a service (consumer + route/service scope, as
    /// decK writes it).
    Consumer,
    /// In a service's or a route's `plugins`.
    Other,
}

/// `scope` is the resolved (service id, route id) used for the generated id; `None` when unresolvable.
fn build_plugin(
    rp: RawPlugin,
    path: &At<'_>,
    parent: Parent,
    scope: Option<(Option<Uuid>, Option<Uuid>)>,
    index: usize,
    errors: &mut Collector,
) -> Plugin {
    let name = rp.name.unwrap_or_default();
    let id = parse_id(rp.id.as_deref(), path, errors).unwrap_or_else(|| match scope {
        Some((service, route)) => {
            let id = ids::plugin_id(&name, rp.instance_name.as_deref(), service, route);
            match &rp.consumer {
                Some(consumer) => ids::scoped_to_consumer(id, consumer),
                None => id,
            }
        }
        None => ids::unresolved_plugin_id(index),
    });
    let mut plugin = Plugin::new(id, name);
    plugin.instance_name = rp.instance_name;
    plugin.enabled = rp.enabled.unwrap_or(true);
    if let Some(config) = rp.config {
        if !config.is_null() {
            plugin.config = config;
        }
    }
    if let Some(protocols) = rp.protocols {
        plugin.protocols = protocols_of(&protocols, path, errors);
    }
    // `nested_plugin` cleared a service's or route's own key and took out those naming another entity; a
    // consumer's plugin naming a consumer: Kong's loader overwrites it with the parent, so it is ignored.
    if parent != Parent::Other {
        plugin.service = rp.service;
        plugin.route = rp.route;
    }
    if parent == Parent::None {
        plugin.consumer = rp.consumer;
    }
    plugin.tags = rp.tags.unwrap_or_default();
    plugin.created_at = rp.created_at;
    plugin.updated_at = rp.updated_at;
    plugin
}

fn protocols_of(values: &[String], path: &At<'_>, errors: &mut Collector) -> Vec<Protocol> {
    let mut out = Vec::with_capacity(values.len());
    for (k, value) in values.iter().enumerate() {
        match Protocol::parse(value) {
            Ok(p) => out.push(p),
            Err(message) => errors.push(format!("{path}.protocols[{k}]"), message),
        }
    }
    out
}

fn parse_id(id: Option<&str>, path: &At<'_>, errors: &mut Collector) -> Option<Uuid> {
    let text = id?;
    match Uuid::parse_str(text) {
        Ok(uuid) => Some(uuid),
        Err(_) => {
            errors.push(format!("{path}.id"), format!("invalid UUID {text:?}"));
            None
        }
    }
}

/// A field path such as `services[3].routes[0]`, formatted only when an error needs it.
#[derive(Debug, Clone, Copy)]
enum At<'a> {
    /// `<field>[<index>]` at the top level.
    Root(&'static str, usize),
    /// `<parent>.<field>[<index>]`.
    Child(&'a At<'a>, &'static str, usize),
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Root(field, i) => write!(f, "{field}[{i}]"),
            At::Child(parent, field, i) => write!(f, "{parent}.{field}[{i}]"),
        }
    }
}

/// The parts of a service `url`.
#[derive(Debug, PartialEq)]
pub(crate) struct UrlParts {
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    pub path: Option<String>,
}

/// Expands `scheme://host[:port][/path]`; `path` stays `None` when the URL has no path at all (as in Kong).
pub(crate) fn expand_url(text: &str) -> Result<UrlParts, String> {
    let url = url::Url::parse(text).map_err(|e| format!("invalid URL {text:?}: {e}"))?;
    let protocol = Protocol::parse(url.scheme())?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "invalid URL {text:?}: must not have a query string or fragment"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "invalid URL {text:?}: must not contain a user name or password"
        ));
    }
    let host = match url.host() {
        Some(url::Host::Ipv6(addr)) => addr.to_string(),
        Some(host) => host.to_string(),
        None => return Err(format!("invalid URL {text:?}: missing host")),
    };
    let port = url.port().unwrap_or_else(|| protocol.default_port());
    let after_scheme = text.split_once("://").map_or("", |(_, rest)| rest);
    let explicit_path = after_scheme
        .find(['/', '?', '#'])
        .is_some_and(|i| after_scheme.as_bytes().get(i) == Some(&b'/'));
    let path = explicit_path.then(|| url.path().to_string());
    Ok(UrlParts {
        protocol,
        host,
        port,
        path,
    })
}

/// [`expand_url`] for many services: URLs that differ only in a plain path (letters, digits, `/-._~`, no `.`
/// or `..` segment, which the URL parser keeps as written) share one parse of their `scheme://authority`.
#[derive(Default)]
struct UrlCache {
    origins: FastMap<String, (Protocol, String, u16)>,
}

impl UrlCache {
    fn expand(&mut self, text: &str) -> Result<UrlParts, String> {
        if let Some((origin, path)) = split_plain_path(text) {
            let parts = match self.origins.get(origin) {
                Some(known) => Some(known.clone()),
                None => expand_url(origin).ok().map(|p| {
                    let known = (p.protocol, p.host, p.port);
                    self.origins.insert(origin.to_string(), known.clone());
                    known
                }),
            };
            if let Some((protocol, host, port)) = parts {
                return Ok(UrlParts {
                    protocol,
                    host,
                    port,
                    path: Some(path.to_string()),
                });
            }
        }
        expand_url(text)
    }
}

/// Splits `scheme://authority/path` when the URL parser would keep `/path` unchanged and read the
/// authority alone exactly as within the whole URL; `None` otherwise (then the whole URL is parsed).
fn split_plain_path(text: &str) -> Option<(&str, &str)> {
    let scheme_end = text.find("://")? + 3;
    let slash = scheme_end + text.get(scheme_end..)?.find('/')?;
    let (origin, path) = text.split_at(slash);
    let plain_origin = origin
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'\\' | b'?' | b'#' | b'%'));
    let plain_path = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'.' | b'_' | b'~'))
        && path.split('/').all(|seg| seg != "." && seg != "..");
    (plain_origin && plain_path).then_some((origin, path))
}

/// Resolves top-level plugin scopes to ids while building (first occurrence of a name or id wins).
struct ScopeResolver {
    services: FastMap<String, Uuid>,
    service_ids: FastMap<Uuid, Uuid>,
    routes: FastMap<String, Uuid>,
    route_ids: FastMap<Uuid, Uuid>,
}

impl ScopeResolver {
    fn new(config: &Config) -> Self {
        let mut r = ScopeResolver {
            services: FastMap::default(),
            service_ids: FastMap::default(),
            routes: FastMap::default(),
            route_ids: FastMap::default(),
        };
        for s in &config.services {
            r.service_ids.entry(s.id).or_insert(s.id);
            if let Some(name) = &s.name {
                r.services.entry(name.clone()).or_insert(s.id);
            }
        }
        let nested = config.services.iter().flat_map(|s| s.routes.iter());
        for route in nested.chain(config.routes.iter()) {
            r.route_ids.entry(route.id).or_insert(route.id);
            if let Some(name) = &route.name {
                r.routes.entry(name.clone()).or_insert(route.id);
            }
        }
        r
    }

    fn lookup(
        by_name: &FastMap<String, Uuid>,
        by_id: &FastMap<Uuid, Uuid>,
        r: &EntityRef,
    ) -> Option<Uuid> {
        match r {
            EntityRef::Key(key) => match Uuid::parse_str(key) {
                Ok(id) => by_id.get(&id).copied(),
                Err(_) => by_name.get(key).copied(),
            },
            EntityRef::Id(id) => by_id.get(id).copied(),
            EntityRef::Name(name) => by_name.get(name).copied(),
        }
    }

    fn service(&self, r: &EntityRef) -> Option<Uuid> {
        Self::lookup(&self.services, &self.service_ids, r)
    }

    fn route(&self, r: &EntityRef) -> Option<Uuid> {
        Self::lookup(&self.routes, &self.route_ids, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_cache_agrees_with_expand_url() {
        let urls = [
            "http://127.0.0.1:8080/s1",
            "http://127.0.0.1:8080/s2/x.y/~z_-",
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080/a/./b",
            "http://127.0.0.1:8080/a/../b",
            "http://127.0.0.1:8080/a/%2e%2E/b",
            "http://127.0.0.1:8080/a b",
            "http://127.0.0.1:8080/a?q=1",
            "http://127.0.0.1:8080/a#f",
            "http://127.0.0.1:8080/a\\b",
            "http://a\\b/c",
            "http://a?b/c",
            "http://a#b/c",
            "HTTP://Example.COM/x",
            "https://example.com:443/x",
            "http://127.1/x",
            "http://[::1]:9000/x",
            "http://u:p@a/x",
            "http://a:99999/x",
            "grpc://a:1/x",
            "http:///x",
            "http://a:/x",
            "orders.internal/x",
            "http://xn--nxasmq6b.com/x",
            "http://ex%41mple.com/x",
            "http://a.b.c./x",
        ];
        let mut cache = UrlCache::default();
        for _ in 0..2 {
            for url in urls {
                assert_eq!(cache.expand(url), expand_url(url), "{url}");
            }
        }
    }

    #[test]
    fn url_shorthand() {
        let p = expand_url("http://orders.internal:8080/api").unwrap();
        assert_eq!(
            p,
            UrlParts {
                protocol: Protocol::Http,
                host: "orders.internal".into(),
                port: 8080,
                path: Some("/api".into())
            }
        );
        let p = expand_url("https://httpbin.org").unwrap();
        assert_eq!((p.protocol, p.port, p.path), (Protocol::Https, 443, None));
        let p = expand_url("http://httpbin.org/").unwrap();
        assert_eq!((p.port, p.path.as_deref()), (80, Some("/")));
        let p = expand_url("http://[::1]:9000/x").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", 9000));
        assert_eq!(
            expand_url("ws://a:1").unwrap_err(),
            "expected one of: http, https, grpc, grpcs, tcp, tls, udp, tls_passthrough, got \"ws\" (ws and wss are not supported yet)"
        );
        assert_eq!(
            expand_url("orders.internal").unwrap_err(),
            "invalid URL \"orders.internal\": relative URL without a base"
        );
        assert_eq!(
            expand_url("http://a/x?y=1").unwrap_err(),
            "invalid URL \"http://a/x?y=1\": must not have a query string or fragment"
        );
        assert_eq!(
            expand_url("http://u:p@a/").unwrap_err(),
            "invalid URL \"http://u:p@a/\": must not contain a user name or password"
        );
        assert_eq!(
            expand_url("http://a:99999").unwrap_err(),
            "invalid URL \"http://a:99999\": invalid port number"
        );
    }
}

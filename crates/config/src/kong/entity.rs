//! Where each Admin API entity sits in a [`Config`] (services; routes nested or top-level; plugins on a
//! service, on a route or top-level; upstreams; targets in their upstream; certificates; SNIs in their
//! certificate), lookup by id or endpoint key,
//! and the JSON views Kong returns.

use serde_json::{json, Value};
use uuid::Uuid;

use super::{certificates, upstreams, CredKind, Kind};
use crate::model::{Certificate, Config, Consumer, Plugin, Route, Service, Sni, Target, Upstream};

/// An array of entities in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// `services`
    Services,
    /// `services[s].routes`
    ServiceRoutes(usize),
    /// `routes`
    TopRoutes,
    /// `services[s].plugins`
    ServicePlugins(usize),
    /// `services[s].routes[r].plugins`
    NestedRoutePlugins(usize, usize),
    /// `routes[r].plugins`
    TopRoutePlugins(usize),
    /// `plugins`
    TopPlugins,
    /// `upstreams`
    Upstreams,
    /// `upstreams[u].targets`
    UpstreamTargets(usize),
    /// `certificates`
    Certificates,
    /// `certificates[c].snis`
    CertificateSnis(usize),
    /// `consumers`
    Consumers,
    /// `consumers[c].plugins`
    ConsumerPlugins(usize),
    /// A credential kind's top-level list, e.g. `keyauth_credentials` (where the model keeps them all).
    Credentials(CredKind),
    /// `ca_certificates`
    CaCertificates,
}

impl Container {
    /// The field path of the array, e.g. `services[1].routes`.
    pub fn path(self) -> String {
        match self {
            Container::Services => "services".into(),
            Container::ServiceRoutes(s) => format!("services[{s}].routes"),
            Container::TopRoutes => "routes".into(),
            Container::ServicePlugins(s) => format!("services[{s}].plugins"),
            Container::NestedRoutePlugins(s, r) => format!("services[{s}].routes[{r}].plugins"),
            Container::TopRoutePlugins(r) => format!("routes[{r}].plugins"),
            Container::TopPlugins => "plugins".into(),
            Container::Upstreams => "upstreams".into(),
            Container::UpstreamTargets(u) => format!("upstreams[{u}].targets"),
            Container::Certificates => "certificates".into(),
            Container::CertificateSnis(c) => format!("certificates[{c}].snis"),
            Container::Consumers => "consumers".into(),
            Container::ConsumerPlugins(c) => format!("consumers[{c}].plugins"),
            Container::Credentials(k) => k.spec().name.into(),
            Container::CaCertificates => "ca_certificates".into(),
        }
    }
}

/// One entity's place: its array and its position there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loc {
    /// The array.
    pub container: Container,
    /// The position in it.
    pub index: usize,
}

impl Loc {
    /// The field path, e.g. `services[1].routes[0]` (the prefix of the loader's error paths).
    pub fn path(&self) -> String {
        format!("{}[{}]", self.container.path(), self.index)
    }
}

/// An entity found in a config, with its resolved references.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// What it is.
    pub kind: Kind,
    /// Where it is.
    pub loc: Loc,
    /// Its id.
    pub id: Uuid,
    /// Its endpoint key: `name` (services, routes) or `instance_name` (plugins).
    pub name: Option<String>,
    /// Owning service (routes) or scope service (plugins), by id.
    pub service: Option<Uuid>,
    /// Scope route (plugins), by id.
    pub route: Option<Uuid>,
    /// Owning upstream (targets), by id.
    pub upstream: Option<Uuid>,
    /// Owning certificate (SNIs), by id.
    pub certificate: Option<Uuid>,
    /// Scope consumer (plugins) or owning consumer (credentials), by id.
    pub consumer: Option<Uuid>,
}

impl Entry {
    /// An entry with no references (set the ones the kind has).
    fn new(
        kind: Kind,
        container: Container,
        index: usize,
        id: Uuid,
        name: Option<String>,
    ) -> Entry {
        Entry {
            kind,
            loc: Loc { container, index },
            id,
            name,
            service: None,
            route: None,
            upstream: None,
            certificate: None,
            consumer: None,
        }
    }
}

/// Every entity of `kind`, in file order.
pub fn entries(config: &Config, kind: Kind) -> Vec<Entry> {
    match kind {
        Kind::Service => (config.services.iter().enumerate())
            .map(|(i, s)| Entry::new(kind, Container::Services, i, s.id, s.name.clone()))
            .collect(),
        Kind::Route => routes(config)
            .into_iter()
            .map(|(loc, r, service)| Entry {
                service,
                ..Entry::new(kind, loc.container, loc.index, r.id, r.name.clone())
            })
            .collect(),
        Kind::Plugin => plugins(config)
            .into_iter()
            .map(|(loc, p, service, route)| Entry {
                service,
                route,
                consumer: match loc.container {
                    Container::ConsumerPlugins(c) => config.consumers.get(c).map(|c| c.id),
                    _ => (p.consumer.as_ref())
                        .and_then(|re| config.consumers.iter().find(|c| c.matches(re)))
                        .map(|c| c.id),
                },
                ..Entry::new(
                    kind,
                    loc.container,
                    loc.index,
                    p.id,
                    p.instance_name.clone(),
                )
            })
            .collect(),
        Kind::Upstream => (config.upstreams.iter().enumerate())
            .map(|(i, u)| Entry::new(kind, Container::Upstreams, i, u.id, Some(u.name.clone())))
            .collect(),
        Kind::Target => (config.upstreams.iter().enumerate())
            .flat_map(|(i, u)| {
                u.targets.iter().enumerate().map(move |(j, t)| Entry {
                    upstream: Some(u.id),
                    ..Entry::new(
                        kind,
                        Container::UpstreamTargets(i),
                        j,
                        t.id,
                        Some(t.target.clone()),
                    )
                })
            })
            .collect(),
        Kind::CaCertificate => (config.ca_certificates.iter().enumerate())
            .map(|(i, c)| Entry {
                kind: Kind::CaCertificate,
                loc: Loc {
                    container: Container::CaCertificates,
                    index: i,
                },
                id: c.id,
                name: None,
                service: None,
                route: None,
                upstream: None,
                certificate: None,
                consumer: None,
            })
            .collect(),
        Kind::Certificate => (config.certificates.iter().enumerate())
            .map(|(i, c)| Entry::new(kind, Container::Certificates, i, c.id, None))
            .collect(),
        Kind::Sni => (config.certificates.iter().enumerate())
            .flat_map(|(i, c)| {
                c.snis.iter().enumerate().map(move |(j, s)| Entry {
                    certificate: Some(c.id),
                    ..Entry::new(
                        kind,
                        Container::CertificateSnis(i),
                        j,
                        s.id,
                        Some(s.name.clone()),
                    )
                })
            })
            .collect(),
        Kind::Consumer => (config.consumers.iter().enumerate())
            .map(|(i, c)| Entry::new(kind, Container::Consumers, i, c.id, c.username.clone()))
            .collect(),
        Kind::Credential(k) => (k.rows(config).into_iter().enumerate())
            .map(|(i, row)| Entry {
                consumer: Some(row.consumer),
                ..Entry::new(kind, Container::Credentials(k), i, row.id, row.key)
            })
            .collect(),
    }
}

fn routes(config: &Config) -> Vec<(Loc, &Route, Option<Uuid>)> {
    let mut out = Vec::new();
    for (s, service) in config.services.iter().enumerate() {
        for (r, route) in service.routes.iter().enumerate() {
            let loc = Loc {
                container: Container::ServiceRoutes(s),
                index: r,
            };
            out.push((loc, route, Some(service.id)));
        }
    }
    for (r, route) in config.routes.iter().enumerate() {
        let service = route
            .service
            .as_ref()
            .and_then(|re| config.service_index(re))
            .map(|i| config.services[i].id);
        let loc = Loc {
            container: Container::TopRoutes,
            index: r,
        };
        out.push((loc, route, service));
    }
    out
}

type PluginRow<'a> = (Loc, &'a Plugin, Option<Uuid>, Option<Uuid>);

fn plugins(config: &Config) -> Vec<PluginRow<'_>> {
    let mut out = Vec::new();
    let at = |container, index| Loc { container, index };
    for (s, service) in config.services.iter().enumerate() {
        for (k, p) in service.plugins.iter().enumerate() {
            out.push((
                at(Container::ServicePlugins(s), k),
                p,
                Some(service.id),
                None,
            ));
        }
    }
    for (s, service) in config.services.iter().enumerate() {
        for (r, route) in service.routes.iter().enumerate() {
            for (k, p) in route.plugins.iter().enumerate() {
                let loc = at(Container::NestedRoutePlugins(s, r), k);
                out.push((loc, p, None, Some(route.id)));
            }
        }
    }
    for (r, route) in config.routes.iter().enumerate() {
        for (k, p) in route.plugins.iter().enumerate() {
            out.push((
                at(Container::TopRoutePlugins(r), k),
                p,
                None,
                Some(route.id),
            ));
        }
    }
    // Top-level plugins, and consumers' plugins that also name a route or a service (consumer combinations).
    let scope = |p: &Plugin| {
        let service = (p.service.as_ref())
            .and_then(|re| config.service_index(re))
            .map(|i| config.services[i].id);
        let route = (p.route.as_ref())
            .and_then(|re| {
                routes(config)
                    .into_iter()
                    .find(|(_, r, _)| re.matches(r.id, r.name.as_deref()))
            })
            .map(|(_, r, _)| r.id);
        (service, route)
    };
    for (k, p) in config.plugins.iter().enumerate() {
        let (service, route) = scope(p);
        out.push((at(Container::TopPlugins, k), p, service, route));
    }
    for (c, consumer) in config.consumers.iter().enumerate() {
        for (k, p) in consumer.plugins.iter().enumerate() {
            let (service, route) = scope(p);
            out.push((at(Container::ConsumerPlugins(c), k), p, service, route));
        }
    }
    out
}

/// `key` as a UUID when it is one in Kong's sense (`is_valid_uuid`: the hyphenated form only, so a
/// generated 32-hex-digit key-auth key is a key, not an id).
pub fn url_uuid(key: &str) -> Option<Uuid> {
    if key.len() == 36 {
        Uuid::parse_str(key).ok()
    } else {
        None
    }
}

/// True when `key` designates this entity: a valid UUID is compared with the id only, anything else with the
/// endpoint key (as Kong does).
pub fn key_matches(key: &str, id: Uuid, name: Option<&str>) -> bool {
    match url_uuid(key).ok_or(()) {
        Ok(uuid) => uuid == id,
        Err(_) => name == Some(key),
    }
}

/// The entity of `kind` that `key` (id or endpoint key) designates. A certificate is also found by the name
/// of one of its SNIs, as Kong's `/certificates/{certificate id or sni name}`. A credential kind without an
/// endpoint key (acls) is found by id only (its group designates it only within its consumer).
pub fn find(config: &Config, kind: Kind, key: &str) -> Option<Entry> {
    if let Kind::Credential(k) = kind {
        if k.spec().endpoint_key.is_none() && url_uuid(key).is_none() {
            return None;
        }
    }
    if kind == Kind::Certificate && Uuid::parse_str(key).is_err() {
        let owner = find(config, Kind::Sni, key)?.certificate?;
        return entries(config, kind).into_iter().find(|e| e.id == owner);
    }
    entries(config, kind)
        .into_iter()
        .find(|e| key_matches(key, e.id, e.name.as_deref()))
}

/// The service at a location.
pub fn service_at(config: &Config, loc: Loc) -> Option<&Service> {
    match loc.container {
        Container::Services => config.services.get(loc.index),
        _ => None,
    }
}

/// The upstream at a location.
pub fn upstream_at(config: &Config, loc: Loc) -> Option<&Upstream> {
    match loc.container {
        Container::Upstreams => config.upstreams.get(loc.index),
        _ => None,
    }
}

/// The target at a location.
pub fn target_at(config: &Config, loc: Loc) -> Option<&Target> {
    match loc.container {
        Container::UpstreamTargets(u) => config.upstreams.get(u)?.targets.get(loc.index),
        _ => None,
    }
}

/// The certificate at a location.
pub fn certificate_at(config: &Config, loc: Loc) -> Option<&Certificate> {
    match loc.container {
        Container::Certificates => config.certificates.get(loc.index),
        _ => None,
    }
}

/// The CA certificate at a location.
pub fn ca_certificate_at(config: &Config, loc: Loc) -> Option<&crate::model::CaCertificate> {
    match loc.container {
        Container::CaCertificates => config.ca_certificates.get(loc.index),
        _ => None,
    }
}

/// The SNI at a location.
pub fn sni_at(config: &Config, loc: Loc) -> Option<&Sni> {
    match loc.container {
        Container::CertificateSnis(c) => config.certificates.get(c)?.snis.get(loc.index),
        _ => None,
    }
}

/// The consumer at a location.
pub fn consumer_at(config: &Config, loc: Loc) -> Option<&Consumer> {
    match loc.container {
        Container::Consumers => config.consumers.get(loc.index),
        _ => None,
    }
}

/// The route at a location.
pub fn route_at(config: &Config, loc: Loc) -> Option<&Route> {
    match loc.container {
        Container::ServiceRoutes(s) => config.services.get(s)?.routes.get(loc.index),
        Container::TopRoutes => config.routes.get(loc.index),
        _ => None,
    }
}

/// The plugin at a location.
pub fn plugin_at(config: &Config, loc: Loc) -> Option<&Plugin> {
    match loc.container {
        Container::ServicePlugins(s) => config.services.get(s)?.plugins.get(loc.index),
        Container::NestedRoutePlugins(s, r) => config
            .services
            .get(s)?
            .routes
            .get(r)?
            .plugins
            .get(loc.index),
        Container::TopRoutePlugins(r) => config.routes.get(r)?.plugins.get(loc.index),
        Container::TopPlugins => config.plugins.get(loc.index),
        Container::ConsumerPlugins(c) => config.consumers.get(c)?.plugins.get(loc.index),
        _ => None,
    }
}

fn opt_list<T: serde::Serialize>(items: &[T]) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        json!(items)
    }
}

fn reference(id: Option<Uuid>) -> Value {
    id.map_or(Value::Null, |id| json!({ "id": id }))
}

/// Kong's view of an entity: every field, `null` when unset, references as `{"id": ...}`.
pub fn view(config: &Config, entry: &Entry) -> Value {
    match entry.kind {
        Kind::Service => service_at(config, entry.loc).map_or(Value::Null, service_view),
        Kind::Route => {
            route_at(config, entry.loc).map_or(Value::Null, |r| route_view(r, entry.service))
        }
        Kind::Plugin => plugin_at(config, entry.loc).map_or(Value::Null, |p| {
            let mut v = plugin_view(p, entry.service, entry.route);
            v["consumer"] = reference(entry.consumer);
            v
        }),
        Kind::Consumer => consumer_at(config, entry.loc).map_or(Value::Null, consumer_view),
        Kind::Upstream => {
            upstream_at(config, entry.loc).map_or(Value::Null, upstreams::upstream_view)
        }
        Kind::Target => target_at(config, entry.loc)
            .map_or(Value::Null, |t| upstreams::target_view(t, entry.upstream)),
        Kind::Certificate => {
            certificate_at(config, entry.loc).map_or(Value::Null, certificates::certificate_view)
        }
        Kind::Sni => sni_at(config, entry.loc).map_or(Value::Null, |s| {
            certificates::sni_view(s, entry.certificate)
        }),
        Kind::CaCertificate => ca_certificate_at(config, entry.loc)
            .map_or(Value::Null, certificates::ca_certificate_view),
        Kind::Credential(k) => {
            credential_at(config, entry.loc).map_or(Value::Null, |row| row.view(k.spec()))
        }
    }
}

/// The credential at a location, as its generic row.
pub fn credential_at(config: &Config, loc: Loc) -> Option<crate::credentials::Row> {
    match loc.container {
        Container::Credentials(k) => k.row(config, loc.index),
        _ => None,
    }
}

/// A service as Kong shows it.
pub fn service_view(s: &Service) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "protocol": s.protocol,
        "host": s.host,
        "port": s.port,
        "path": s.path,
        "retries": s.retries,
        "connect_timeout": s.connect_timeout,
        "write_timeout": s.write_timeout,
        "read_timeout": s.read_timeout,
        "enabled": s.enabled,
        "tags": opt_list(&s.tags),
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "tls_verify": s.tls_verify,
        "tls_verify_depth": s.tls_verify_depth,
        "ca_certificates": opt_list(&s.ca_certificates),
        "client_certificate": s.client_certificate.as_ref().map(|r| match r {
            crate::model::EntityRef::Id(id) => json!({ "id": id }),
            other => json!({ "id": other_key(other) }),
        }),
    })
}

fn other_key(r: &crate::model::EntityRef) -> String {
    match r {
        crate::model::EntityRef::Key(k) | crate::model::EntityRef::Name(k) => k.clone(),
        crate::model::EntityRef::Id(id) => id.to_string(),
    }
}

/// A consumer as Kong shows it.
pub fn consumer_view(c: &Consumer) -> Value {
    json!({
        "id": c.id,
        "username": c.username,
        "custom_id": c.custom_id,
        "tags": opt_list(&c.tags),
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    })
}

/// A route as Kong shows it (`service` is the owning service's id).
pub fn route_view(r: &Route, service: Option<Uuid>) -> Value {
    let mut view = json!({
        "id": r.id,
        "name": r.name,
        "protocols": r.protocols,
        "https_redirect_status_code": r.https_redirect_status_code,
        "methods": opt_list(&r.methods),
        "hosts": opt_list(&r.hosts),
        "paths": opt_list(&r.paths),
        "headers": if r.headers.is_empty() { Value::Null } else { json!(r.headers) },
        "snis": opt_list(&r.snis),
        "sources": opt_list(&r.sources),
        "destinations": opt_list(&r.destinations),
        "strip_path": r.strip_path,
        "preserve_host": r.preserve_host,
        "regex_priority": r.regex_priority,
        "path_handling": r.path_handling,
        "request_buffering": r.request_buffering,
        "response_buffering": r.response_buffering,
        "service": reference(service),
        "tags": opt_list(&r.tags),
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    });
    // Kong's expressions flavor shows `expression` and `priority` on every route; here only on the routes
    // that use them (a traditional route's view stays the `traditional_compatible` one).
    if let (Some(expression), Some(map)) = (&r.expression, view.as_object_mut()) {
        map.insert("expression".into(), json!(expression));
        map.insert("priority".into(), json!(r.priority));
    }
    view
}

/// A plugin as Kong shows it: `config` complete with defaults.
pub fn plugin_view(p: &Plugin, service: Option<Uuid>, route: Option<Uuid>) -> Value {
    let config = p
        .typed
        .as_ref()
        .map_or_else(|| p.config.clone(), |t| t.canonical.clone());
    json!({
        "id": p.id,
        "name": p.name,
        "instance_name": p.instance_name,
        "config": config,
        "enabled": p.enabled,
        "protocols": p.protocols,
        "service": reference(service),
        "route": reference(route),
        "consumer": null,
        "tags": opt_list(&p.tags),
        "created_at": p.created_at,
        "updated_at": p.updated_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::parse_str;

    const YAML: &str = r#"
_format_version: "3.0"
services:
  - id: 5fa9e468-0007-4d7e-9aeb-49ca9edd6ccd
    name: httpbin
    url: http://127.0.0.1:8080/anything
    routes:
      - name: r1
        paths: ["/"]
        plugins:
          - name: openid-connect
            instance_name: on-route
            config: {issuer: "http://127.0.0.1:1/"}
    plugins:
      - id: 5f35b796-ced6-4c00-9b2a-90eef745f4f9
        name: openid-connect
        config:
          issuer: http://127.0.0.1:4593/api/oidc
          auth_methods: [introspection, password]
routes:
  - name: top
    service: httpbin
    methods: [GET]
"#;

    #[test]
    fn finds_entities_wherever_they_are() {
        let c = parse_str(YAML).unwrap();
        let sid: Uuid = "5fa9e468-0007-4d7e-9aeb-49ca9edd6ccd".parse().unwrap();
        let routes = entries(&c, Kind::Route);
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[0].loc.path(), "services[0].routes[0]");
        assert_eq!(routes[1].loc.path(), "routes[0]");
        assert!(routes.iter().all(|r| r.service == Some(sid)));
        let plugins = entries(&c, Kind::Plugin);
        assert_eq!(plugins[0].loc.path(), "services[0].plugins[0]");
        assert_eq!(plugins[1].loc.path(), "services[0].routes[0].plugins[0]");
        assert_eq!(plugins[1].route, Some(routes[0].id));
        assert_eq!(
            find(&c, Kind::Plugin, "on-route").unwrap().id,
            plugins[1].id
        );
        assert_eq!(find(&c, Kind::Service, "httpbin").unwrap().id, sid);
        assert_eq!(find(&c, Kind::Service, &sid.to_string()).unwrap().id, sid);
        assert!(find(&c, Kind::Service, &Uuid::new_v4().to_string()).is_none());
        assert!(find(&c, Kind::Route, "nope").is_none());
    }

    #[test]
    fn views_echo_every_field() {
        let c = parse_str(YAML).unwrap();
        let s = find(&c, Kind::Service, "httpbin").unwrap();
        let v = view(&c, &s);
        assert_eq!(v["port"], 8080);
        assert_eq!(v["path"], "/anything");
        assert_eq!(v["tags"], Value::Null);
        assert_eq!(v["created_at"], Value::Null);
        let r = find(&c, Kind::Route, "top").unwrap();
        let v = view(&c, &r);
        assert_eq!(v["service"], json!({"id": s.id}));
        assert_eq!(v["paths"], Value::Null);
        assert_eq!(v["methods"], json!(["GET"]));
        assert_eq!(v["protocols"], json!(["http", "https"]));
        assert_eq!(v["https_redirect_status_code"], 426);
        let p = find(&c, Kind::Plugin, "5f35b796-ced6-4c00-9b2a-90eef745f4f9").unwrap();
        let v = view(&c, &p);
        assert_eq!(
            v["config"]["auth_methods"],
            json!(["introspection", "password"])
        );
        assert_eq!(v["config"]["timeout"], 10000);
        assert_eq!(v["config"]["cache_ttl_max"], Value::Null);
        assert_eq!(v["service"], json!({"id": s.id}));
        assert_eq!(v["route"], Value::Null);
        assert_eq!(v["consumer"], Value::Null);
        assert_eq!(v["enabled"], true);
    }
}

//! Semantic checks of a [`Config`]: field values, uniqueness of ids and names, references, plugin configs.
//!
//! Every problem is collected with its field path; nothing stops at the first error.

use uuid::Uuid;

mod expression_route;

use crate::checks::{self, PORT_RANGE, REQUIRED, RETRIES_RANGE, TIMEOUT_RANGE};
use crate::error::{Collector, ConfigErrors, FieldError};
use crate::fast::FastMap;
use crate::lookup::EntityIndex;
use crate::model::{
    Config, Plugin, Route, Service, FORMAT_VERSIONS, HTTPS_REDIRECT_CODES, MAX_RETRIES,
    MAX_TIMEOUT_MS,
};
use crate::plugins::{self, ConfigKey, TypedConfig};

/// The typed config of every valid plugin of a config, by plugin id (see [`attach_typed`]).
pub(crate) type TypedPlugins = FastMap<Uuid, std::sync::Arc<TypedConfig>>;

/// Checks a configuration built in code or loaded from a file; `Err` holds every problem found.
pub fn validate(config: &Config) -> Result<(), ConfigErrors> {
    let mut errors = Collector::default();
    check(config, &mut errors);
    errors.finish()
}

/// The walk behind [`validate`]; also returns the plugin configs it parsed, each distinct config once.
pub(crate) fn check(config: &Config, errors: &mut Collector) -> TypedPlugins {
    let mut w = Walker {
        errors,
        certificates: &config.certificates,
        index: EntityIndex::new(config),
        service_ids: Unique::default(),
        service_names: Unique::default(),
        route_ids: Unique::default(),
        route_names: Unique::default(),
        plugin_ids: Unique::default(),
        plugin_instances: Unique::default(),
        plugin_scopes: FastMap::default(),
        consumer_scopes: FastMap::default(),
        plugin_configs: FastMap::default(),
        typed: TypedPlugins::default(),
    };
    w.format_version(&config.format_version);
    config.gateway.check(w.errors);
    crate::upstreams::check::check(config, w.errors);
    crate::upstream_tls::check(config, w.errors);
    crate::stream::check_config(config, w.errors);
    for (i, service) in config.services.iter().enumerate() {
        w.service(service, &format!("services[{i}]"));
    }
    for (i, route) in config.routes.iter().enumerate() {
        let path = format!("routes[{i}]");
        // A route without a service is Kong's: its plugins run, then 503 "no Service found with those values".
        if let Some(r) = &route.service {
            if w.index.service(r).is_none() {
                w.errors.push(
                    format!("{path}.service"),
                    format!("no service with {}", r.describe()),
                );
            }
        }
        w.route(route, &path);
    }
    for (i, plugin) in config.plugins.iter().enumerate() {
        let path = (plugin.origin.clone()).unwrap_or_else(|| format!("plugins[{i}]"));
        let scope = w.scope_refs(config, plugin, &path);
        match &plugin.consumer {
            Some(reference) => {
                let consumer = config.consumers.iter().find(|c| c.matches(reference));
                match consumer {
                    None => w.errors.push(
                        format!("{path}.consumer"),
                        format!("no consumer with {}", reference.describe()),
                    ),
                    Some(c) => w.consumer_plugin(plugin, &path, c.id, scope),
                }
            }
            None => w.plugin(plugin, &path, scope),
        }
    }
    w.consumers(config);
    w.typed
}

/// Stores each plugin's typed config (from [`check`] of the same, error-free config) on the plugin.
pub(crate) fn attach_typed(config: &mut Config, mut typed: TypedPlugins) {
    let mut set = |p: &mut Plugin| p.typed = typed.remove(&p.id);
    for s in &mut config.services {
        s.plugins.iter_mut().for_each(&mut set);
        for r in &mut s.routes {
            r.plugins.iter_mut().for_each(&mut set);
        }
    }
    for r in &mut config.routes {
        r.plugins.iter_mut().for_each(&mut set);
    }
    config.plugins.iter_mut().for_each(&mut set);
    for c in &mut config.consumers {
        c.plugins.iter_mut().for_each(&mut set);
    }
}

/// The traditional matching fields, as Kong's expressions checks name them.
const TRADITIONAL_FIELDS: &str =
    "'methods', 'hosts', 'paths', 'headers', 'snis', 'sources' or 'destinations'";

/// First path seen per key, to report duplicates as `(also <first path>)`. `N` is the entity's natural key
/// (its name, or a plugin's name and scope); `None` stands for an empty one.
struct Unique<K, N> {
    seen: FastMap<K, (String, Option<N>)>,
}

impl<K, N> Default for Unique<K, N> {
    fn default() -> Self {
        Unique {
            seen: FastMap::default(),
        }
    }
}

impl<K: std::hash::Hash + Eq, N: PartialEq> Unique<K, N> {
    /// Records `key` at `path`; returns the earlier path when the key was taken by an entity whose
    /// natural key differs (an equal natural key means the duplicate is reported on that key instead).
    fn insert(&mut self, key: K, path: &str, natural: Option<N>) -> Option<String> {
        match self.seen.get(&key) {
            Some((first, first_natural)) if *first_natural != natural || natural.is_none() => {
                Some(first.clone())
            }
            Some(_) => None,
            None => {
                self.seen.insert(key, (path.to_string(), natural));
                None
            }
        }
    }
}

/// A plugin config's parse result, shared by every plugin with the same config.
type Parsed = Result<std::sync::Arc<TypedConfig>, Vec<FieldError>>;

/// A consumer-scoped plugin's scope: name, consumer, service and route ids.
type ConsumerScope<'c> = (&'c str, Uuid, Option<Uuid>, Option<Uuid>);

/// A plugin's natural key: name, resolved service, route and consumer ids, instance name.
type PluginNatural<'c> = (
    &'c str,
    Option<Uuid>,
    Option<Uuid>,
    Option<Uuid>,
    Option<&'c str>,
);

struct Walker<'a, 'c> {
    errors: &'a mut Collector,
    /// The `certificates` (openid-connect's `tls_client_auth_cert_id` names one).
    certificates: &'c [crate::certificates::Certificate],
    index: EntityIndex<'c>,
    service_ids: Unique<Uuid, &'c str>,
    service_names: Unique<&'c str, ()>,
    route_ids: Unique<Uuid, &'c str>,
    route_names: Unique<&'c str, ()>,
    plugin_ids: Unique<Uuid, PluginNatural<'c>>,
    plugin_instances: Unique<&'c str, ()>,
    plugin_scopes: FastMap<(&'c str, Option<Uuid>, Option<Uuid>), String>,
    /// Plugins scoped to a consumer, by name, consumer, service and route: the first path of each.
    consumer_scopes: FastMap<ConsumerScope<'c>, String>,
    /// Parse results by plugin name and config (same JSON text): identical configs (one per service in
    /// generated files) are parsed once and share one [`TypedConfig`].
    plugin_configs: FastMap<(&'c str, ConfigKey<'c>), Parsed>,
    /// The typed config of each plugin whose config parsed, by plugin id.
    typed: TypedPlugins,
}

impl<'c> Walker<'_, 'c> {
    fn format_version(&mut self, version: &str) {
        if version.is_empty() {
            self.errors.push("_format_version", REQUIRED);
        } else if !FORMAT_VERSIONS.contains(&version) {
            self.errors.push(
                "_format_version",
                format!("unsupported version {version:?} (expected \"1.1\", \"2.1\" or \"3.0\")"),
            );
        }
    }

    /// Records `result`'s error at the path `path()` (built only then).
    fn check<T>(&mut self, path: impl FnOnce() -> String, result: Result<T, String>) {
        if let Err(message) = result {
            self.errors.push(path(), message);
        }
    }

    fn name_and_id(&mut self, kind: Kind, path: &str, name: Option<&'c str>, id: Uuid) {
        let natural = name.filter(|n| !n.is_empty());
        if let Some(name) = name {
            self.check(|| format!("{path}.name"), checks::name(name));
            let names = match kind {
                Kind::Service => &mut self.service_names,
                Kind::Route => &mut self.route_names,
            };
            if let Some(first) = names.insert(name, path, None) {
                self.errors.push(
                    format!("{path}.name"),
                    format!("duplicate name {name:?} (also {first})"),
                );
            }
        }
        let ids = match kind {
            Kind::Service => &mut self.service_ids,
            Kind::Route => &mut self.route_ids,
        };
        if let Some(first) = ids.insert(id, path, natural) {
            self.errors.push(
                format!("{path}.id"),
                format!("duplicate id \"{id}\" (also {first})"),
            );
        }
    }

    fn tags(&mut self, path: &str, tags: &[String]) {
        for (k, tag) in tags.iter().enumerate() {
            self.check(|| format!("{path}.tags[{k}]"), checks::tag(tag));
        }
    }

    fn service(&mut self, s: &'c Service, path: &str) {
        self.name_and_id(Kind::Service, path, s.name.as_deref(), s.id);
        if s.host.is_empty() {
            self.errors.push(format!("{path}.host"), REQUIRED);
        } else {
            self.check(|| format!("{path}.host"), checks::service_host(&s.host));
        }
        if s.port == 0 {
            self.errors.push(format!("{path}.port"), PORT_RANGE);
        }
        if let Some(p) = &s.path {
            if s.protocol.is_grpc() || s.protocol.is_stream() {
                // Kong: a gRPC service's path must be null (the gRPC method is the request path).
                self.errors.push(
                    format!("{path}.path"),
                    format!("value must be null (protocol is {})", s.protocol),
                );
            } else {
                self.check(|| format!("{path}.path"), checks::service_path(p));
            }
        }
        if s.retries > MAX_RETRIES {
            self.errors.push(format!("{path}.retries"), RETRIES_RANGE);
        }
        for (field, value) in [
            ("connect_timeout", s.connect_timeout),
            ("read_timeout", s.read_timeout),
            ("write_timeout", s.write_timeout),
        ] {
            if !(1..=MAX_TIMEOUT_MS).contains(&value) {
                self.errors.push(format!("{path}.{field}"), TIMEOUT_RANGE);
            }
        }
        self.tags(path, &s.tags);
        for (j, route) in s.routes.iter().enumerate() {
            self.route(route, &format!("{path}.routes[{j}]"));
        }
        for (j, plugin) in s.plugins.iter().enumerate() {
            self.plugin(
                plugin,
                &format!("{path}.plugins[{j}]"),
                Some((Some(s.id), None)),
            );
        }
    }

    fn route(&mut self, r: &'c Route, path: &str) {
        self.name_and_id(Kind::Route, path, r.name.as_deref(), r.id);
        if r.protocols.is_empty() {
            self.errors
                .push(format!("{path}.protocols"), "must not be empty");
        }
        crate::stream::check_protocols(r, path, self.errors);
        if !HTTPS_REDIRECT_CODES.contains(&r.https_redirect_status_code) {
            let codes: Vec<String> = HTTPS_REDIRECT_CODES.iter().map(u16::to_string).collect();
            self.errors.push(
                format!("{path}.https_redirect_status_code"),
                format!("expected one of: {}", codes.join(", ")),
            );
        }
        for (k, m) in r.methods.iter().enumerate() {
            self.check(|| format!("{path}.methods[{k}]"), checks::method(m));
        }
        for (k, h) in r.hosts.iter().enumerate() {
            self.check(|| format!("{path}.hosts[{k}]"), checks::route_host(h));
        }
        for (k, p) in r.paths.iter().enumerate() {
            self.check(|| format!("{path}.paths[{k}]"), checks::route_path(p));
        }
        for (name, values) in &r.headers {
            let at = format!("{path}.headers.{name}");
            if name.eq_ignore_ascii_case("host") {
                self.errors.push(at, "use `hosts` to match the Host header");
                continue;
            }
            self.check(|| at.clone(), checks::header_name(name));
            if values.is_empty() {
                self.errors.push(at.clone(), "must have at least one value");
            }
            if values.iter().any(|v| v.starts_with("~*")) {
                self.errors.push(
                    at,
                    "regex header values (\"~*\" prefix) are not supported yet",
                );
            }
        }
        let others = crate::stream::has_matchers(r);
        self.expression(r, path, others);
        crate::stream::check_kind(r, path, self.errors);
        if !others && r.expression.is_none() && !r.is_stream() {
            self.errors.push(
                path,
                "must set at least one of methods, hosts, headers or paths",
            );
        }
        self.tags(path, &r.tags);
        for (j, plugin) in r.plugins.iter().enumerate() {
            self.plugin(
                plugin,
                &format!("{path}.plugins[{j}]"),
                Some((None, Some(r.id))),
            );
        }
    }

    /// The resolved (service id, route id) of a plugin's `service` and `route` references, each reported at
    /// `path` when it names nothing; `None` when one dangles (the scope checks are then skipped).
    fn scope_refs(
        &mut self,
        config: &'c Config,
        plugin: &Plugin,
        path: &str,
    ) -> Option<(Option<Uuid>, Option<Uuid>)> {
        let service = plugin.service.as_ref().map(|r| {
            let found = self.index.service(r).map(|s| config.services[s].id);
            if found.is_none() {
                self.errors.push(
                    format!("{path}.service"),
                    format!("no service with {}", r.describe()),
                );
            }
            found
        });
        let route = plugin.route.as_ref().map(|r| {
            let found = self.index.route(r).map(|rt| rt.id);
            if found.is_none() {
                self.errors.push(
                    format!("{path}.route"),
                    format!("no route with {}", r.describe()),
                );
            }
            found
        });
        match (service, route) {
            (Some(None), _) | (_, Some(None)) => None,
            (s, r) => Some((s.flatten(), r.flatten())),
        }
    }

    /// A plugin scoped to a consumer (nested in it, or top-level with `consumer:`): Kong allows it only for
    /// plugins that may run on a consumer, and once per name, consumer, service and route.
    fn consumer_plugin(
        &mut self,
        p: &'c Plugin,
        path: &str,
        consumer: Uuid,
        scope: Option<(Option<Uuid>, Option<Uuid>)>,
    ) {
        if plugins::spec(&p.name).is_some_and(|s| !s.on_consumer) {
            self.errors
                .push(format!("{path}.consumer"), "value must be null");
        }
        let Some((service, route)) = scope else {
            self.plugin(p, path, None);
            return;
        };
        self.plugin_checks(p, path);
        let natural = (
            p.name.as_str(),
            service,
            route,
            Some(consumer),
            p.instance_name.as_deref(),
        );
        self.plugin_id(p, path, Some(natural));
        let key = (p.name.as_str(), consumer, service, route);
        if let Some(first) = self.consumer_scopes.get(&key) {
            let words = match (service, route) {
                (None, None) => "for this consumer",
                (Some(_), None) => "for this consumer and service",
                (None, Some(_)) => "for this consumer and route",
                (Some(_), Some(_)) => "for this consumer, route and service",
            };
            self.errors.push(
                format!("{path}.name"),
                format!(
                    "plugin {:?} is already configured {words} (also {first})",
                    p.name
                ),
            );
        } else {
            self.consumer_scopes.insert(key, path.to_string());
        }
    }

    /// Kong's consumer checks: `username` or `custom_id` set, both unique, ids unique; the plugins nested in
    /// a consumer must be ones Kong allows on consumers, once per name.
    fn consumers(&mut self, config: &'c Config) {
        let consumers = &config.consumers;
        let mut ids: Unique<Uuid, ()> = Unique::default();
        let mut usernames: Unique<&str, ()> = Unique::default();
        let mut custom_ids: Unique<&str, ()> = Unique::default();
        for (i, c) in consumers.iter().enumerate() {
            let path = format!("consumers[{i}]");
            let username = c.username.as_deref().filter(|u| !u.is_empty());
            let custom_id = c.custom_id.as_deref().filter(|u| !u.is_empty());
            if username.is_none() && custom_id.is_none() {
                self.errors
                    .push(path.as_str(), crate::consumers::AT_LEAST_ONE);
            }
            for (field, value, seen) in [
                ("username", username, &mut usernames),
                ("custom_id", custom_id, &mut custom_ids),
            ] {
                if let Some(v) = value {
                    if let Some(first) = seen.insert(v, &path, None) {
                        self.errors.push(
                            format!("{path}.{field}"),
                            format!("duplicate {field} {v:?} (also {first})"),
                        );
                    }
                }
            }
            if let Some(first) = ids.insert(c.id, &path, None) {
                self.errors.push(
                    format!("{path}.id"),
                    format!("duplicate id \"{}\" (also {first})", c.id),
                );
            }
            self.tags(&path, &c.tags);
            for (j, p) in c.plugins.iter().enumerate() {
                let at = format!("{path}.plugins[{j}]");
                let scope = self.scope_refs(config, p, &at);
                self.consumer_plugin(p, &at, c.id, scope);
            }
        }
    }

    /// [`plugins::parse`] of a plugin's config, memoized by name and config; the result is recorded by id.
    fn plugin_config(&mut self, p: &'c Plugin) -> Result<(), Vec<FieldError>> {
        let key = (p.name.as_str(), ConfigKey(&p.config));
        let parsed = self
            .plugin_configs
            .entry(key)
            .or_insert_with(|| plugins::parse(&p.name, &p.config));
        match parsed {
            Ok(typed) => {
                self.typed.insert(p.id, std::sync::Arc::clone(typed));
                Ok(())
            }
            Err(e) => Err(e.clone()),
        }
    }

    /// `scope` is the resolved (service id, route id); `None` when a reference dangles.
    fn plugin(&mut self, p: &'c Plugin, path: &str, scope: Option<(Option<Uuid>, Option<Uuid>)>) {
        self.plugin_checks(p, path);
        if p.name == "tls-handshake-modifier"
            && scope.is_some_and(|(s, r)| s.is_some() || r.is_some())
        {
            // Kong applies it to the SNIs of the routes it is scoped to; routes have no `snis` here.
            self.errors.push(
                format!("{path}.name"),
                "tls-handshake-modifier on a service or route is not supported yet (routes have no snis here): configure it globally",
            );
        }
        let mut natural = None;
        if let Some((service, route)) = scope {
            natural = Some((
                p.name.as_str(),
                service,
                route,
                None,
                p.instance_name.as_deref(),
            ));
            if !p.name.is_empty() {
                let key = (p.name.as_str(), service, route);
                if let Some(first) = self.plugin_scopes.get(&key) {
                    let scope_words = match (service, route) {
                        (None, None) => "globally",
                        (Some(_), None) => "for this service",
                        (None, Some(_)) => "for this route",
                        (Some(_), Some(_)) => "for this route and service",
                    };
                    self.errors.push(
                        format!("{path}.name"),
                        format!(
                            "plugin {:?} is already configured {scope_words} (also {first})",
                            p.name
                        ),
                    );
                } else {
                    self.plugin_scopes.insert(key, path.to_string());
                }
            }
        }
        self.plugin_id(p, path, natural);
    }

    /// A plugin's id is unique, unless the duplicate is reported on its natural key.
    fn plugin_id(&mut self, p: &'c Plugin, path: &str, natural: Option<PluginNatural<'c>>) {
        if let Some(first) = self.plugin_ids.insert(p.id, path, natural) {
            self.errors.push(
                format!("{path}.id"),
                format!("duplicate id \"{}\" (also {first})", p.id),
            );
        }
    }

    /// openid-connect's `tls_client_auth_cert_id` names a certificate of this config.
    fn certificate_refs(&mut self, p: &'c Plugin, path: &str) {
        let Some(typed) = self.typed.get(&p.id) else {
            return;
        };
        let plugins::PluginConfig::OpenidConnect(oidc) = &typed.config else {
            return;
        };
        let Some(id) = &oidc.tls_client_auth_cert_id else {
            return;
        };
        let known =
            Uuid::parse_str(id).is_ok_and(|id| self.certificates.iter().any(|c| c.id == id));
        if !known {
            self.errors.push(
                format!("{path}.config.tls_client_auth_cert_id"),
                format!("no certificate with id {id:?}"),
            );
        }
    }

    /// A plugin's name, config, instance name, protocols and tags.
    fn plugin_checks(&mut self, p: &'c Plugin, path: &str) {
        if p.name.is_empty() {
            self.errors.push(format!("{path}.name"), REQUIRED);
        } else if !plugins::is_known(&p.name) {
            self.errors.push(
                format!("{path}.name"),
                format!(
                    "unknown plugin {:?} (supported: {})",
                    p.name,
                    plugins::names().join(", ")
                ),
            );
        } else if let Err(field_errors) = self.plugin_config(p) {
            let prefix = format!("{path}.config");
            self.errors
                .errors
                .extend(ConfigErrors::from_field_errors(&prefix, field_errors).0);
        } else {
            self.certificate_refs(p, path);
        }
        if let Some(instance) = &p.instance_name {
            self.check(|| format!("{path}.instance_name"), checks::name(instance));
            if let Some(first) = self.plugin_instances.insert(instance, path, None) {
                self.errors.push(
                    format!("{path}.instance_name"),
                    format!("duplicate instance_name {instance:?} (also {first})"),
                );
            }
        }
        if p.protocols.is_empty() {
            self.errors
                .push(format!("{path}.protocols"), "must not be empty");
        }
        self.tags(path, &p.tags);
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Service,
    Route,
}

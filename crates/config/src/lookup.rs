//! Queries over a loaded [`Config`]: resolving references, walking all routes with their service, and
//! choosing the plugins that apply to a route.

use std::collections::HashSet;

use uuid::Uuid;

use crate::fast::{FastMap, FastSet};
use crate::model::{Config, EntityRef, Plugin, Route, Service};

/// Where a route sits in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutePosition {
    /// `services[service].routes[index]`
    Nested {
        /// Index into `Config::services`.
        service: usize,
        /// Index into that service's `routes`.
        index: usize,
    },
    /// `routes[index]`
    TopLevel {
        /// Index into `Config::routes`.
        index: usize,
    },
}

impl RoutePosition {
    /// The field path, e.g. `services[0].routes[1]` or `routes[2]`.
    pub fn path(&self) -> String {
        match self {
            RoutePosition::Nested { service, index } => {
                format!("services[{service}].routes[{index}]")
            }
            RoutePosition::TopLevel { index } => format!("routes[{index}]"),
        }
    }
}

/// A route with its resolved service.
#[derive(Debug, Clone, Copy)]
pub struct RouteEntry<'a> {
    /// The route.
    pub route: &'a Route,
    /// Index into `Config::services`; `None` when a top-level route's `service` is missing or dangling.
    pub service: Option<usize>,
    /// Where the route is written.
    pub position: RoutePosition,
}

/// Id and name maps over services and routes (first occurrence wins), built once for many lookups.
#[derive(Debug, Default)]
pub struct EntityIndex<'a> {
    service_by_id: FastMap<Uuid, usize>,
    service_by_name: FastMap<&'a str, usize>,
    route_by_id: FastMap<Uuid, &'a Route>,
    route_by_name: FastMap<&'a str, &'a Route>,
}

impl<'a> EntityIndex<'a> {
    /// Indexes every service and every route (nested and top-level) of `config`.
    pub fn new(config: &'a Config) -> Self {
        let mut index = Self::services(config);
        let routes = config.routes.len()
            + config
                .services
                .iter()
                .map(|s| s.routes.len())
                .sum::<usize>();
        index.route_by_id.reserve(routes);
        index.route_by_name.reserve(routes);
        let nested = config.services.iter().flat_map(|s| s.routes.iter());
        for route in nested.chain(config.routes.iter()) {
            index.route_by_id.entry(route.id).or_insert(route);
            if let Some(name) = route.name.as_deref() {
                index.route_by_name.entry(name).or_insert(route);
            }
        }
        index
    }

    /// Indexes only the services of `config` ([`EntityIndex::route`] then finds nothing).
    fn services(config: &'a Config) -> Self {
        let mut index = EntityIndex::default();
        index.service_by_id.reserve(config.services.len());
        index.service_by_name.reserve(config.services.len());
        for (i, service) in config.services.iter().enumerate() {
            index.service_by_id.entry(service.id).or_insert(i);
            if let Some(name) = service.name.as_deref() {
                index.service_by_name.entry(name).or_insert(i);
            }
        }
        index
    }

    /// The service a reference designates (a plain string that parses as a UUID is an id, else a name).
    pub fn service(&self, reference: &EntityRef) -> Option<usize> {
        match reference {
            EntityRef::Key(key) => match Uuid::parse_str(key) {
                Ok(id) => self.service_by_id.get(&id).copied(),
                Err(_) => self.service_by_name.get(key.as_str()).copied(),
            },
            EntityRef::Id(id) => self.service_by_id.get(id).copied(),
            EntityRef::Name(name) => self.service_by_name.get(name.as_str()).copied(),
        }
    }

    /// The route a reference designates.
    pub fn route(&self, reference: &EntityRef) -> Option<&'a Route> {
        match reference {
            EntityRef::Key(key) => match Uuid::parse_str(key) {
                Ok(id) => self.route_by_id.get(&id).copied(),
                Err(_) => self.route_by_name.get(key.as_str()).copied(),
            },
            EntityRef::Id(id) => self.route_by_id.get(id).copied(),
            EntityRef::Name(name) => self.route_by_name.get(name.as_str()).copied(),
        }
    }
}

impl Config {
    /// Index of the service a reference designates (linear; use [`EntityIndex`] for many lookups).
    pub fn service_index(&self, reference: &EntityRef) -> Option<usize> {
        self.services
            .iter()
            .position(|s| reference.matches(s.id, s.name.as_deref()))
    }

    /// The route with this id, nested or top-level.
    pub fn route_by_id(&self, id: Uuid) -> Option<&Route> {
        self.services
            .iter()
            .flat_map(|s| s.routes.iter())
            .chain(self.routes.iter())
            .find(|r| r.id == id)
    }

    /// Every route with its service index: nested routes first (in file order), then top-level routes.
    pub fn routes_with_services(&self) -> impl Iterator<Item = RouteEntry<'_>> + '_ {
        // Only top-level routes look their service up; a config without them needs no index.
        let index = if self.routes.is_empty() {
            EntityIndex::default()
        } else {
            EntityIndex::services(self)
        };
        let nested = self.services.iter().enumerate().flat_map(|(s, service)| {
            service
                .routes
                .iter()
                .enumerate()
                .map(move |(i, route)| RouteEntry {
                    route,
                    service: Some(s),
                    position: RoutePosition::Nested {
                        service: s,
                        index: i,
                    },
                })
        });
        let top = self
            .routes
            .iter()
            .enumerate()
            .map(move |(i, route)| RouteEntry {
                route,
                service: route.service.as_ref().and_then(|r| index.service(r)),
                position: RoutePosition::TopLevel { index: i },
            });
        nested.chain(top)
    }

    /// Enabled plugins that apply to a request routed to `route_id` on service `service`, whatever its
    /// consumer: for each plugin name the route-level instance wins over the service-level one, which wins over
    /// a global one. Plugins scoped to a consumer are not in it (they apply once the consumer is known).
    ///
    /// Order: route-level plugins, then service-level, then global, each in file order.
    pub fn plugins_for(&self, service: Option<usize>, route_id: Uuid) -> Vec<&Plugin> {
        let svc: Option<&Service> = service.and_then(|s| self.services.get(s));
        let route = svc
            .and_then(|s| s.routes.iter().find(|r| r.id == route_id))
            .or_else(|| self.routes.iter().find(|r| r.id == route_id));
        let on_service = |r: &EntityRef| svc.is_some_and(|s| r.matches(s.id, s.name.as_deref()));
        let on_route = |r: &EntityRef| route.is_some_and(|rt| r.matches(rt.id, rt.name.as_deref()));

        let route_level =
            route
                .into_iter()
                .flat_map(|r| r.plugins.iter())
                .chain(self.plugins.iter().filter(|p| {
                    p.consumer.is_none()
                        && p.route.as_ref().is_some_and(on_route)
                        && p.service.as_ref().is_none_or(on_service)
                }));
        let service_level =
            svc.into_iter()
                .flat_map(|s| s.plugins.iter())
                .chain(self.plugins.iter().filter(|p| {
                    p.consumer.is_none()
                        && p.route.is_none()
                        && p.service.as_ref().is_some_and(on_service)
                }));
        let global = self
            .plugins
            .iter()
            .filter(|p| p.route.is_none() && p.service.is_none() && p.consumer.is_none());

        let mut seen: HashSet<&str> = HashSet::new();
        route_level
            .chain(service_level)
            .chain(global)
            .filter(|p| p.enabled && seen.insert(p.name.as_str()))
            .collect()
    }
}

/// A reference normalised once: a [`EntityRef::Key`] that parses as a UUID is an id, else a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum NormRef<'a> {
    Id(Uuid),
    Name(&'a str),
}

impl<'a> NormRef<'a> {
    fn of(reference: &'a EntityRef) -> Self {
        match reference {
            EntityRef::Key(key) => match Uuid::parse_str(key) {
                Ok(id) => NormRef::Id(id),
                Err(_) => NormRef::Name(key),
            },
            EntityRef::Id(id) => NormRef::Id(*id),
            EntityRef::Name(name) => NormRef::Name(name),
        }
    }
}

/// Top-level plugins grouped by what they are scoped to, so that choosing the plugins of every route is
/// linear in the config's size (see [`Config::plugins_for`], whose result [`PluginIndex::plugins_for`] repeats).
#[derive(Debug)]
pub struct PluginIndex<'a> {
    config: &'a Config,
    /// Top-level plugins with `route` set, by that reference (indexes into `Config::plugins`, file order).
    on_route: FastMap<NormRef<'a>, Vec<usize>>,
    /// Top-level plugins with `service` set and no `route`, by that reference.
    on_service: FastMap<NormRef<'a>, Vec<usize>>,
    /// Global plugins (neither `service` nor `route`).
    global: Vec<&'a Plugin>,
}

impl<'a> PluginIndex<'a> {
    /// Indexes the top-level plugins of `config`.
    pub fn new(config: &'a Config) -> Self {
        let mut index = PluginIndex {
            config,
            on_route: FastMap::default(),
            on_service: FastMap::default(),
            global: Vec::new(),
        };
        // A plugin scoped to a consumer applies once that consumer is known (the gateway's chains).
        for (i, p) in (config.plugins.iter().enumerate()).filter(|(_, p)| p.consumer.is_none()) {
            match (&p.route, &p.service) {
                (Some(r), _) => index.on_route.entry(NormRef::of(r)).or_default().push(i),
                (None, Some(s)) => index.on_service.entry(NormRef::of(s)).or_default().push(i),
                (None, None) => index.global.push(p),
            }
        }
        index
    }

    /// Indexes into `Config::plugins` of the plugins keyed by `id` or by `name`, in file order.
    fn scoped(map: &FastMap<NormRef<'a>, Vec<usize>>, id: Uuid, name: Option<&str>) -> Vec<usize> {
        if map.is_empty() {
            return Vec::new();
        }
        let mut out: Vec<usize> = map.get(&NormRef::Id(id)).cloned().unwrap_or_default();
        if let Some(by_name) = name.and_then(|n| map.get(&NormRef::Name(n))) {
            out.extend_from_slice(by_name);
            out.sort_unstable();
            out.dedup();
        }
        out
    }

    /// The same list as [`Config::plugins_for`]`(entry.service, entry.route.id)` for a route of a config whose
    /// route ids are unique (as validation ensures); a route without a service gets its own and the global ones.
    pub fn plugins_for(&self, entry: &RouteEntry<'a>) -> Vec<&'a Plugin> {
        let config = self.config;
        let svc = entry.service.and_then(|s| config.services.get(s));
        let route = entry.route;
        let top = |i: &usize| config.plugins.get(*i);
        let on_service = |r: &EntityRef| svc.is_some_and(|s| r.matches(s.id, s.name.as_deref()));
        let route_level = route.plugins.iter().chain(
            Self::scoped(&self.on_route, route.id, route.name.as_deref())
                .iter()
                .filter_map(top)
                .filter(|p| p.service.as_ref().is_none_or(on_service))
                .collect::<Vec<_>>(),
        );
        let service_level = svc.into_iter().flat_map(|svc| {
            svc.plugins.iter().chain(
                Self::scoped(&self.on_service, svc.id, svc.name.as_deref())
                    .iter()
                    .filter_map(top)
                    .collect::<Vec<_>>(),
            )
        });
        let mut seen: FastSet<&str> = FastSet::default();
        route_level
            .chain(service_level)
            .chain(self.global.iter().copied())
            .filter(|p| p.enabled && seen.insert(p.name.as_str()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Plugin;

    fn plugin(name: &str, n: u128) -> Plugin {
        Plugin::new(Uuid::from_u128(n), name)
    }

    fn config() -> Config {
        let mut s0 = Service::new(Uuid::from_u128(1), "a");
        s0.name = Some("s0".into());
        let mut r0 = Route::new(Uuid::from_u128(10));
        r0.name = Some("r0".into());
        r0.paths = vec!["/".into()];
        r0.plugins.push(plugin("oidc", 100));
        let mut disabled = plugin("z", 101);
        disabled.enabled = false;
        r0.plugins.push(disabled);
        let mut r1 = Route::new(Uuid::from_u128(11));
        r1.paths = vec!["/other".into()];
        s0.routes = vec![r0, r1];
        s0.plugins = vec![plugin("oidc", 200), plugin("x", 201)];
        let s1 = Service::new(Uuid::from_u128(2), "b");

        let mut top_route = Route::new(Uuid::from_u128(12));
        top_route.name = Some("top".into());
        top_route.paths = vec!["/top".into()];
        top_route.service = Some(EntityRef::Name("s0".into()));

        let mut on_top_route = plugin("w", 300);
        on_top_route.route = Some(EntityRef::Key("top".into()));
        let mut on_s1 = plugin("x", 301);
        on_s1.service = Some(EntityRef::Id(Uuid::from_u128(2)));
        let mut on_r1 = plugin("oidc", 302);
        on_r1.route = Some(EntityRef::Id(Uuid::from_u128(11)));
        Config {
            services: vec![s0, s1],
            routes: vec![top_route],
            plugins: vec![
                plugin("oidc", 400),
                plugin("x", 401),
                plugin("y", 402),
                plugin("z", 403),
                on_top_route,
                on_s1,
                on_r1,
            ],
            ..Config::default()
        }
    }

    fn ids(plugins: Vec<&Plugin>) -> Vec<(String, u128)> {
        plugins
            .into_iter()
            .map(|p| (p.name.clone(), p.id.as_u128()))
            .collect()
    }

    fn pairs(list: &[(&str, u128)]) -> Vec<(String, u128)> {
        list.iter().map(|(n, i)| (n.to_string(), *i)).collect()
    }

    #[test]
    fn route_beats_service_beats_global() {
        let c = config();
        assert_eq!(
            ids(c.plugins_for(Some(0), Uuid::from_u128(10))),
            pairs(&[("oidc", 100), ("x", 201), ("y", 402), ("z", 403)])
        );
        // Top-level plugin scoped by route id; service-level `x` still applies.
        assert_eq!(
            ids(c.plugins_for(Some(0), Uuid::from_u128(11))),
            pairs(&[("oidc", 302), ("x", 201), ("y", 402), ("z", 403)])
        );
        // Top-level route of s0, with a top-level plugin scoped to it by name.
        assert_eq!(
            ids(c.plugins_for(Some(0), Uuid::from_u128(12))),
            pairs(&[
                ("w", 300),
                ("oidc", 200),
                ("x", 201),
                ("y", 402),
                ("z", 403)
            ])
        );
        // Service s1 has no route here: service-level (top-level plugin by service id), then global.
        assert_eq!(
            ids(c.plugins_for(Some(1), Uuid::from_u128(99))),
            pairs(&[("x", 301), ("oidc", 400), ("y", 402), ("z", 403)])
        );
    }

    #[test]
    fn plugin_index_agrees_with_plugins_for() {
        let mut c = config();
        // A top-level plugin on route r0 by name, limited to service s1 (so it does not apply), and one on s0 by
        // a UUID written as a plain key.
        let mut other_service = plugin("v", 500);
        other_service.route = Some(EntityRef::Name("r0".into()));
        other_service.service = Some(EntityRef::Id(Uuid::from_u128(2)));
        let mut by_key = plugin("u", 501);
        by_key.service = Some(EntityRef::Key(Uuid::from_u128(1).to_string()));
        c.plugins.push(other_service);
        c.plugins.push(by_key);
        // A route without a service: its own plugins and the global ones, none of a service's.
        let mut lone = Route::new(Uuid::from_u128(13));
        lone.name = Some("lone".into());
        lone.plugins.push(plugin("x", 502));
        let mut on_lone = plugin("w", 503);
        on_lone.route = Some(EntityRef::Name("lone".into()));
        c.routes.push(lone);
        c.plugins.push(on_lone);
        let lone_ids: Vec<u128> = (c.plugins_for(None, Uuid::from_u128(13)).iter())
            .map(|p| p.id.as_u128())
            .collect();
        assert_eq!(lone_ids, [502, 503, 400, 402, 403]);
        let index = PluginIndex::new(&c);
        let mut checked = 0;
        for entry in c.routes_with_services() {
            assert_eq!(
                ids(index.plugins_for(&entry)),
                ids(c.plugins_for(entry.service, entry.route.id)),
                "{}",
                entry.position.path()
            );
            checked += 1;
        }
        assert_eq!(checked, 4);
    }

    #[test]
    fn routes_with_services_resolves_top_level() {
        let c = config();
        let entries: Vec<(u128, Option<usize>, String)> = c
            .routes_with_services()
            .map(|e| (e.route.id.as_u128(), e.service, e.position.path()))
            .collect();
        assert_eq!(
            entries,
            vec![
                (10, Some(0), "services[0].routes[0]".to_string()),
                (11, Some(0), "services[0].routes[1]".to_string()),
                (12, Some(0), "routes[0]".to_string()),
            ]
        );
        assert_eq!(c.service_index(&EntityRef::Key("s0".into())), Some(0));
        assert_eq!(
            c.service_index(&EntityRef::Key(Uuid::from_u128(2).to_string())),
            Some(1)
        );
        assert_eq!(c.service_index(&EntityRef::Name("nope".into())), None);
        assert_eq!(
            c.route_by_id(Uuid::from_u128(12))
                .and_then(|r| r.name.as_deref()),
            Some("top")
        );
    }
}

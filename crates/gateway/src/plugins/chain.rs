//! Compiled plugin chains: for each route, per phase, the plugin instances that apply to it in Kong's
//! priority order (highest first), compiled once per snapshot so a request walks a short slice.
//!
//! Scoping follows Kong's precedence: consumer + route + service, consumer + route, consumer + service,
//! route + service, consumer, route, service, global. Without a consumer, the route's instance beats the
//! service's, which beats a global one (`Config::plugins_for`). A plugin scoped to a consumer applies once an
//! earlier plugin of the chain has identified that consumer; a [`Step`] therefore holds the route's instance
//! and, where consumers have their own that can beat it, the consumers' instances, resolved when the step
//! runs.

use std::sync::Arc;

use gateway_config::fast::FastMap;
use gateway_config::model::{Config, EntityRef, Plugin as PluginEntity, Route, Service};

use super::{Builder, Phases, Plugin};
use crate::snapshot::CompileError;

/// The instances of one plugin name scoped to consumers, by index into `Config::consumers`.
pub type ByConsumer = FastMap<usize, Arc<dyn Plugin>>;

/// One plugin name's place in a chain.
#[derive(Clone)]
pub struct Step {
    /// The instance for a request whose consumer has none of its own (route, service or global scope).
    pub base: Option<Arc<dyn Plugin>>,
    /// Instances scoped to consumers (by index into `Config::consumers`), when they can beat `base`.
    pub by_consumer: Option<Arc<ByConsumer>>,
}

impl Step {
    /// The instance to run for a request whose consumer (if known yet) is `consumer`.
    #[inline]
    pub fn resolve(&self, consumer: Option<usize>) -> Option<&Arc<dyn Plugin>> {
        if let (Some(map), Some(c)) = (&self.by_consumer, consumer) {
            if let Some(p) = map.get(&c) {
                return Some(p);
            }
        }
        self.base.as_ref()
    }
}

/// A route's chains, one per phase (each in Kong's priority order).
#[derive(Clone, Default)]
pub struct Chains {
    /// The rewrite phase (global plugins only).
    pub rewrite: Box<[Step]>,
    /// The access phase.
    pub access: Box<[Step]>,
    /// The response header phase.
    pub header: Box<[Step]>,
    /// The response body phase.
    pub body: Box<[Step]>,
    /// The log phase.
    pub log: Box<[Step]>,
    /// Whether an access step may need the request body.
    pub needs_body: bool,
    /// Whether an access step may need the request body whatever its type ([`Plugin::needs_raw_body`]).
    pub needs_raw_body: bool,
}

impl Chains {
    /// True when no phase has a plugin.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.access.is_empty()
            && self.header.is_empty()
            && self.body.is_empty()
            && self.log.is_empty()
            && self.rewrite.is_empty()
    }
}

/// A plugin scoped to a consumer and to a route and/or a service (a consumer's plugin that names them, as decK
/// writes it, or a top-level plugin with `consumer:` and `route:`/`service:`).
struct Combo {
    consumer: usize,
    service: Option<EntityRef>,
    route: Option<EntityRef>,
    instance: Arc<dyn Plugin>,
}

impl Combo {
    /// Kong's precedence rank (lower wins): consumer + route + service 1, consumer + route 2, consumer +
    /// service 3 (route + service is 4, consumer alone 5).
    fn rank(&self) -> u8 {
        match (&self.route, &self.service) {
            (Some(_), Some(_)) => 1,
            (Some(_), None) => 2,
            _ => 3,
        }
    }

    /// Whether the combination applies to `route` on `service` (`None`: a route without a service, which no
    /// combination naming a service applies to).
    fn applies(&self, route: &Route, service: Option<&Service>) -> bool {
        self.route
            .as_ref()
            .is_none_or(|r| r.matches(route.id, route.name.as_deref()))
            && self.service.as_ref().is_none_or(|s| {
                service.is_some_and(|service| s.matches(service.id, service.name.as_deref()))
            })
    }
}

/// The plugins scoped to consumers, by plugin name (built once per snapshot).
#[derive(Default)]
pub struct ConsumerScoped {
    /// Scoped to a consumer alone: each consumer's instance, one map shared by every route.
    only: FastMap<&'static str, (Arc<ByConsumer>, Phases)>,
    /// Scoped to a consumer and a route and/or a service.
    combos: FastMap<&'static str, (Vec<Combo>, Phases)>,
}

impl ConsumerScoped {
    /// The enabled plugins nested under the consumers of `config`, and the top-level ones with `consumer:`.
    pub fn new(config: &Config, b: &mut Builder<'_>) -> Result<Self, CompileError> {
        let mut only: FastMap<&'static str, (ByConsumer, Phases)> = FastMap::default();
        let mut combos: FastMap<&'static str, (Vec<Combo>, Phases)> = FastMap::default();
        let nested = (config.consumers.iter().enumerate())
            .flat_map(|(i, c)| c.plugins.iter().map(move |p| (i, p)));
        let top = config.plugins.iter().filter_map(|p| {
            let reference = p.consumer.as_ref()?;
            config
                .consumers
                .iter()
                .position(|c| c.matches(reference))
                .map(|i| (i, p))
        });
        for (i, p) in nested.chain(top).filter(|(_, p)| p.enabled) {
            let instance = b.instance(p)?;
            let name = instance.name();
            if p.route.is_none() && p.service.is_none() {
                let (map, phases) = only.entry(name).or_default();
                *phases = phases.with(instance.phases());
                map.entry(i).or_insert(instance);
            } else {
                let (list, phases) = combos.entry(name).or_default();
                *phases = phases.with(instance.phases());
                list.push(Combo {
                    consumer: i,
                    service: p.service.clone(),
                    route: p.route.clone(),
                    instance,
                });
            }
        }
        Ok(ConsumerScoped {
            only: only
                .into_iter()
                .map(|(name, (map, phases))| (name, (Arc::new(map), phases)))
                .collect(),
            combos,
        })
    }

    /// The consumer instances of plugin `name` for a request routed to `route` on `service`, and their
    /// phases: `base_wins` when the route's own instance is scoped to a route and a service (it beats a
    /// consumer alone, not the combinations).
    fn for_route(
        &self,
        name: &str,
        route: &Route,
        service: Option<&Service>,
        base_wins: bool,
    ) -> (Option<Arc<ByConsumer>>, Phases) {
        let only = self.only.get(name).filter(|_| !base_wins);
        let matching: Vec<&Combo> = (self.combos.get(name).into_iter())
            .flat_map(|(list, _)| list.iter())
            .filter(|c| c.applies(route, service))
            .collect();
        let phases = only.map_or(Phases::default(), |(_, p)| *p).with(
            self.combos
                .get(name)
                .filter(|_| !matching.is_empty())
                .map_or(Phases::default(), |(_, p)| *p),
        );
        if matching.is_empty() {
            return (only.map(|(map, _)| map.clone()), phases);
        }
        // This route has consumer combinations: one map of its own, the best rank per consumer.
        let mut best: FastMap<usize, (u8, Arc<dyn Plugin>)> = FastMap::default();
        if let Some((map, _)) = only {
            best.extend(map.iter().map(|(c, p)| (*c, (5, p.clone()))));
        }
        for combo in matching {
            let rank = combo.rank();
            let entry = best
                .entry(combo.consumer)
                .or_insert((u8::MAX, combo.instance.clone()));
            if rank < entry.0 {
                *entry = (rank, combo.instance.clone());
            }
        }
        let map: ByConsumer = best.into_iter().map(|(c, (_, p))| (c, p)).collect();
        (Some(Arc::new(map)), phases)
    }

    /// The names of every plugin scoped to a consumer.
    fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.only
            .keys()
            .chain(self.combos.keys().filter(|n| !self.only.contains_key(*n)))
            .copied()
    }
}

/// The chains of `route` (on `service`, `None` for a route without one) whose applicable plugins (one per name, `Config::plugins_for`'s list)
/// are `plugins`.
pub fn compile(
    plugins: &[&PluginEntity],
    route: &Route,
    service: Option<&Service>,
    consumers: &ConsumerScoped,
    b: &mut Builder<'_>,
) -> Result<Chains, CompileError> {
    // (priority, name, step, phases)
    let mut steps: Vec<(u32, &'static str, Step, Phases)> = Vec::with_capacity(plugins.len());
    for p in plugins {
        let instance = b.instance(p)?;
        let name = instance.name();
        // A plugin scoped to a route and a service together beats a consumer's own.
        let base_wins = p.route.is_some() && p.service.is_some();
        let (by_consumer, consumer_phases) = consumers.for_route(name, route, service, base_wins);
        let phases = instance.phases().with(consumer_phases);
        let step = Step {
            base: Some(instance),
            by_consumer,
        };
        steps.push((priority(name), name, step, phases));
    }
    for name in consumers.names() {
        if steps.iter().any(|(_, n, _, _)| *n == name) {
            continue;
        }
        let (by_consumer, phases) = consumers.for_route(name, route, service, false);
        if by_consumer.is_none() {
            continue;
        }
        let step = Step {
            base: None,
            by_consumer,
        };
        steps.push((priority(name), name, step, phases));
    }
    Ok(order(steps, false))
}

/// The chains of the global plugins alone: the rewrite phase, and every phase of a request no route matched.
pub fn global(config: &Config, b: &mut Builder<'_>) -> Result<Chains, CompileError> {
    let mut steps = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for p in config.plugins.iter().filter(|p| {
        p.enabled
            && p.route.is_none()
            && p.service.is_none()
            && p.consumer.is_none()
            && seen.insert(p.name.as_str())
    }) {
        let instance = b.instance(p)?;
        let name = instance.name();
        let phases = instance.phases();
        let step = Step {
            base: Some(instance),
            by_consumer: None,
        };
        steps.push((priority(name), name, step, phases));
    }
    Ok(order(steps, true))
}

/// Kong's priority of a plugin name.
fn priority(name: &str) -> u32 {
    gateway_config::plugins::spec(name).map_or(0, |s| s.priority)
}

/// Sorts steps by priority (highest first, then by name for a stable order) and splits them by phase.
fn order(mut steps: Vec<(u32, &'static str, Step, Phases)>, rewrite: bool) -> Chains {
    steps.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    let of = |phase: Phases| -> Box<[Step]> {
        steps
            .iter()
            .filter(|(_, _, _, p)| p.has(phase))
            .map(|(_, _, s, _)| s.clone())
            .collect()
    };
    let any = |wants: fn(&dyn Plugin) -> bool| {
        steps.iter().any(|(_, _, s, _)| {
            s.base.as_deref().is_some_and(wants)
                || (s.by_consumer.as_ref()).is_some_and(|m| m.values().any(|p| wants(p.as_ref())))
        })
    };
    let needs_raw_body = any(|p| p.needs_raw_body());
    let needs_body = needs_raw_body || any(|p| p.needs_body());
    Chains {
        rewrite: if rewrite {
            of(Phases::REWRITE)
        } else {
            Box::new([])
        },
        access: of(Phases::ACCESS),
        header: of(Phases::HEADER),
        body: of(Phases::BODY),
        log: of(Phases::LOG),
        needs_body,
        needs_raw_body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::test_support::{self, TestRequest};
    use crate::plugins::{Exchange, Flow, Reply};
    use crate::snapshot::Snapshot;

    const YAML: &str = r#"
_format_version: "3.0"
consumers:
- username: alice
  plugins: [{name: rate-limiting, config: {minute: 1}}]
- username: bob
  # decK's form of a consumer + service plugin.
  plugins: [{name: rate-limiting, service: t, config: {minute: 4}}]
services:
- name: s
  url: http://127.0.0.1:9/
  plugins: [{name: rate-limiting, config: {minute: 100}}]
  routes:
  - {name: open, paths: [/open]}
  - name: pinned
    paths: [/pinned]
- name: t
  url: http://127.0.0.1:9/
  routes: [{name: bare, paths: [/bare]}]
plugins:
- {name: rate-limiting, route: pinned, service: s, config: {minute: 7}}
- {name: rate-limiting, consumer: alice, route: open, config: {minute: 3}}
- name: openid-connect
  config: {issuer: "http://127.0.0.1:1/", anonymous: bob}
"#;

    fn snapshot() -> Snapshot {
        test_support::snapshot(YAML)
    }

    fn route<'a>(snap: &'a Snapshot, name: &str) -> &'a crate::snapshot::RouteRuntime {
        snap.routes.iter().find(|r| r.label == name).unwrap()
    }

    fn names(steps: &[Step], consumer: Option<usize>) -> Vec<&'static str> {
        steps
            .iter()
            .filter_map(|s| s.resolve(consumer))
            .map(|p| p.name())
            .collect()
    }

    /// The limiter a step resolves to for `consumer`, by its config's minute limit.
    fn minute_limit(snap: &Snapshot, step: &Step, consumer: Option<usize>) -> String {
        let plugin = step.resolve(consumer).unwrap();
        let mut ex = Exchange::new();
        ex.caller.consumer = consumer;
        let flow = TestRequest::get("/x").access(snap, plugin.as_ref(), &mut ex);
        assert!(matches!(flow, Flow::Continue));
        let limit = ex
            .response_headers
            .iter()
            .find(|(n, _)| n.as_str() == "x-ratelimit-limit-minute")
            .map(|(_, v)| v.to_str().unwrap().to_string());
        limit.unwrap()
    }

    #[test]
    fn access_chain_is_in_kongs_priority_order_with_its_scoping() {
        let snap = snapshot();
        let open = route(&snap, "open");
        // openid-connect (1050, global) before rate-limiting (910, service).
        assert_eq!(
            names(&open.chains.access, None),
            ["openid-connect", "rate-limiting"]
        );
        assert!(open.chains.header.is_empty() && open.chains.log.is_empty());
        // A route of another service gets the global plugin, and alice's own limit once she is known.
        let bare = route(&snap, "bare");
        assert_eq!(names(&bare.chains.access, None), ["openid-connect"]);
        assert_eq!(
            names(&bare.chains.access, Some(0)),
            ["openid-connect", "rate-limiting"]
        );
        assert_eq!(
            names(&bare.chains.access, Some(1)),
            ["openid-connect", "rate-limiting"],
            "bob's plugin on service t"
        );
        assert_eq!(names(&bare.chains.access, None), ["openid-connect"]);
        // The global chain holds only global plugins.
        assert_eq!(names(&snap.global.access, None), ["openid-connect"]);
    }

    #[test]
    fn consumer_scopes_follow_kongs_precedence() {
        let snap = snapshot();
        let open = route(&snap, "open");
        let step = &open.chains.access[1];
        assert_eq!(minute_limit(&snap, step, None), "100");
        assert_eq!(
            minute_limit(&snap, step, Some(1)),
            "100",
            "bob's is for service t"
        );
        assert_eq!(
            minute_limit(&snap, step, Some(0)),
            "3",
            "consumer + route beats consumer alone and service"
        );
        let pinned = route(&snap, "pinned");
        let step = &pinned.chains.access[1];
        assert!(step.by_consumer.is_none());
        assert_eq!(
            minute_limit(&snap, step, Some(0)),
            "7",
            "route+service wins"
        );
        let bare = route(&snap, "bare");
        let step = &bare.chains.access[1];
        assert_eq!(
            minute_limit(&snap, step, Some(1)),
            "4",
            "consumer + service"
        );
        assert_eq!(minute_limit(&snap, step, Some(0)), "1", "alice alone");
    }

    #[test]
    fn nested_plugins_naming_other_entities_take_kongs_scopes() {
        // Kong's declarative form: a route's plugin naming a consumer (consumer + route), a service's naming
        // a route (route + service) and one naming its own service (overwritten by the parent: service).
        let snap = test_support::snapshot(
            r#"
_format_version: "3.0"
consumers: [{username: alice}]
services:
- name: s
  url: http://127.0.0.1:9/
  plugins:
  - {name: rate-limiting, service: elsewhere, config: {minute: 100}}
  - {name: rate-limiting, route: pinned, config: {minute: 7}}
  routes:
  - name: open
    paths: [/open]
    plugins: [{name: rate-limiting, consumer: alice, config: {minute: 3}}]
  - {name: pinned, paths: [/pinned]}
"#,
        );
        let open = &route(&snap, "open").chains.access[0];
        assert_eq!(minute_limit(&snap, open, None), "100");
        assert_eq!(minute_limit(&snap, open, Some(0)), "3", "consumer + route");
        let pinned = &route(&snap, "pinned").chains.access[0];
        assert_eq!(minute_limit(&snap, pinned, None), "7", "route + service");
        assert_eq!(
            snap.config.plugins.len(),
            2,
            "the two are top-level plugins now"
        );
    }

    /// A response-phase plugin: it sees the status and edits the headers through the view.
    struct Stamp;

    impl Plugin for Stamp {
        fn name(&self) -> &'static str {
            "stamp"
        }

        fn phases(&self) -> Phases {
            Phases::HEADER
        }

        fn header_filter(&self, resp: &mut dyn crate::plugins::ResponseHead, ex: &mut Exchange) {
            let status = resp.status().to_string();
            resp.insert(
                http::HeaderName::from_static("x-seen-status"),
                http::HeaderValue::from_str(&status).unwrap(),
            );
            resp.append(
                http::HeaderName::from_static("x-seen-status"),
                http::HeaderValue::from_static("again"),
            );
            if resp.get(&http::header::SERVER).is_some() {
                resp.remove(&http::header::SERVER);
            }
            ex.auth = "stamped";
        }
    }

    #[test]
    fn header_steps_edit_pingoras_response_header_through_the_view() {
        let chains = order(
            vec![(
                5,
                "stamp",
                Step {
                    base: Some(Arc::new(Stamp)),
                    by_consumer: None,
                },
                Phases::HEADER,
            )],
            false,
        );
        assert!(chains.access.is_empty());
        let mut resp = pingora::http::ResponseHeader::build(401, None).unwrap();
        resp.insert_header("server", "x").unwrap();
        let mut ex = Exchange::new();
        for step in chains.header.iter() {
            step.resolve(None)
                .unwrap()
                .header_filter(&mut resp, &mut ex);
        }
        let seen: Vec<_> = resp.headers.get_all("x-seen-status").iter().collect();
        assert_eq!(seen, ["401", "again"]);
        assert!(resp.headers.get("server").is_none());
        assert_eq!(ex.auth, "stamped");
    }

    #[test]
    fn a_limited_request_is_answered_by_the_plugin() {
        let snap = snapshot();
        let bare = route(&snap, "bare");
        let step = &bare.chains.access[1];
        assert_eq!(minute_limit(&snap, step, Some(0)), "1");
        let plugin = step.resolve(Some(0)).unwrap();
        let mut ex = Exchange::new();
        ex.caller.consumer = Some(0);
        let flow = TestRequest::get("/bare").access(&snap, plugin.as_ref(), &mut ex);
        let Flow::Respond(reply) = flow else {
            panic!("the second request in a minute must be limited")
        };
        assert_eq!(reply.status(), 429);
        assert!(matches!(reply, Reply::Body { ref headers, .. } if !headers.is_empty()));
        assert_eq!(ex.auth, "limited");
    }
}

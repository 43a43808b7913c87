//! Kong `upstreams`: the long-lived [`Balancers`] component (owned by `AppState`) and one
//! [`UpstreamBalancer`] per upstream, which picks a target address for each request, counts what happened
//! (passive health checks) and is probed by the active checker ([`checker`]).
//!
//! A snapshot holds `Arc<UpstreamBalancer>`s; a reload asks [`Balancers::get`] again and gets the same
//! balancer back, health and counters included, when the upstream's config and targets did not change
//! (keyed by id + a hash of the upstream), a fresh one otherwise.

pub mod checker;
pub mod hash;
pub mod health;
mod registry;
pub mod ring;
pub mod status;

pub use registry::{BalancerMetrics, Balancers};

use gateway_config::model::{self as model, Algorithm, CheckType, Upstream};
use health::{AddrState, Event, Limits};
use ring::{Entry, Ring};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Kong's answer when no target can take the request.
pub const NO_PEER: &str = "failure to get a peer from the ring-balancer";

/// How often hostname targets are looked up again (the resolver's cache honours TTLs underneath).
const RESOLVE_EVERY: Duration = Duration::from_secs(1);

/// Looks up a target's host name: every address is a candidate with the target's weight.
#[async_trait::async_trait]
pub trait Resolve: Send + Sync {
    /// The addresses of `host:port`; `Err`: why the name did not resolve.
    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String>;
}

/// The system resolver (tokio's `lookup_host`): the fallback when no caching resolver is wired in.
pub struct SystemResolver;

#[async_trait::async_trait]
impl Resolve for SystemResolver {
    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        tokio::net::lookup_host((host, port))
            .await
            .map(|it| it.collect())
            .map_err(|e| e.to_string())
    }
}

#[async_trait::async_trait]
impl Resolve for crate::dns::Resolver {
    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        crate::dns::Resolver::resolve(self, host, port)
            .await
            .map(|a| a.all().to_vec())
            .map_err(|e| e.to_string())
    }
}

/// One configured target, as the balancer and the health endpoint need it.
#[derive(Debug)]
pub struct TargetRt {
    /// The target entity (id, `host:port`, weight, tags, timestamps), for the Admin API.
    pub entity: model::Target,
    /// The host part (name or IP literal, IPv6 without brackets).
    pub host: String,
    /// The port.
    pub port: u16,
    /// The IP when `host` is a literal (no DNS).
    pub ip: Option<IpAddr>,
    /// Whether the last lookup of `host` failed (health `DNS_ERROR`).
    pub dns_error: AtomicBool,
    /// `gateway_upstream_picks_total{upstream,target}`.
    picks: prometheus::IntCounter,
}

/// One upstream's runtime state: the current ring, address health, and what the checks need.
pub struct UpstreamBalancer {
    /// The upstream's id.
    pub id: Uuid,
    /// The upstream's name (what a service's `host` names).
    pub name: String,
    /// The upstream as configured.
    pub upstream: Upstream,
    /// The upstream's targets.
    pub targets: Vec<TargetRt>,
    /// `hash_on` / `hash_fallback`.
    pub hash: hash::HashSpec,
    ring: arc_swap::ArcSwap<Ring>,
    /// Every address ever resolved for a target, so health survives DNS changes and ring rebuilds.
    states: Mutex<HashMap<(usize, SocketAddr), Arc<AddrState>>>,
    resolving: tokio::sync::Mutex<()>,
    /// Microseconds after `born` of the last lookup of hostname targets (0: never).
    resolved_at: AtomicU64,
    born: Instant,
    passive: Limits,
    /// The active checks' limits.
    pub active: Limits,
    /// Whether any health check is configured (else health is `HEALTHCHECKS_OFF`).
    pub checks_on: bool,
    /// The checker service has started this balancer's probes.
    pub(crate) probing: AtomicBool,
    metrics: BalancerMetrics,
    /// `(target, address)` pairs the previous balancer of this upstream had unhealthy: they start unhealthy.
    inherited: Vec<(String, SocketAddr)>,
}

/// Why no address was picked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoPeer {
    /// Every address is unhealthy, or has weight 0, or the healthy weight is under the threshold.
    #[error("{NO_PEER}")]
    Unavailable,
}

/// The address a request was sent to; hand it back to [`UpstreamBalancer::finish`].
#[derive(Debug, Clone)]
pub struct Pick {
    /// Where to connect.
    pub addr: SocketAddr,
    /// Index into `UpstreamBalancer::targets`.
    pub target: usize,
    state: Arc<AddrState>,
    ring: Arc<Ring>,
    at: Instant,
}

/// How a proxied attempt ended, for the passive checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The upstream answered with this status.
    Status(u16),
    /// Connection refused, reset or broken.
    TcpFailure,
    /// Connect, read or write timeout.
    Timeout,
    /// Nothing to count (e.g. the client went away).
    Unknown,
}

impl UpstreamBalancer {
    fn new(
        upstream: &Upstream,
        metrics: &BalancerMetrics,
        unhealthy: Vec<(String, SocketAddr)>,
    ) -> Result<UpstreamBalancer, String> {
        let h = &upstream.healthchecks;
        // Probe types other than http and tcp are refused by the config's validation.
        let probing = h.active.healthy.interval > 0.0 || h.active.unhealthy.interval > 0.0;
        let passive = Limits::passive(&h.passive);
        let checks_on = probing || passive.counts_failures();
        let mut targets = Vec::with_capacity(upstream.targets.len());
        for t in &upstream.targets {
            let (host, port) = split_target(&t.target).ok_or_else(|| {
                format!(
                    "upstreams[{}].targets: invalid target {:?}",
                    upstream.name, t.target
                )
            })?;
            targets.push(TargetRt {
                entity: t.clone(),
                ip: host.parse().ok(),
                picks: metrics
                    .picks
                    .with_label_values(&[upstream.name.as_str(), t.target.as_str()]),
                host,
                port,
                dns_error: AtomicBool::new(false),
            });
        }
        let b = UpstreamBalancer {
            id: upstream.id,
            name: upstream.name.clone(),
            hash: hash::HashSpec::of(upstream),
            upstream: upstream.clone(),
            ring: arc_swap::ArcSwap::from_pointee(Ring::new(
                Vec::new(),
                Algorithm::RoundRobin,
                0,
                0,
            )),
            states: Mutex::new(HashMap::new()),
            resolving: tokio::sync::Mutex::new(()),
            resolved_at: AtomicU64::new(0),
            born: Instant::now(),
            passive,
            active: Limits::active(h),
            checks_on,
            probing: AtomicBool::new(false),
            metrics: metrics.clone(),
            targets,
            inherited: if checks_on { unhealthy } else { Vec::new() },
        };
        // IP-literal targets are usable at once; host names are added by the first lookup.
        let literal: Vec<(usize, Vec<SocketAddr>)> = b
            .targets
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.ip.map(|ip| (i, vec![SocketAddr::new(ip, t.port)])))
            .collect();
        b.rebuild(&literal);
        Ok(b)
    }

    /// `{upstream, target, address}` of every address's health series.
    fn health_labels(&self) -> Vec<[String; 3]> {
        let states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        states
            .keys()
            .filter_map(|(i, addr)| {
                let t = self.targets.get(*i)?;
                Some([self.name.clone(), t.entity.target.clone(), addr.to_string()])
            })
            .collect()
    }

    /// `{upstream, target}` of every target's picks series.
    fn pick_labels(&self) -> Vec<[String; 2]> {
        self.targets
            .iter()
            .map(|t| [self.name.clone(), t.entity.target.clone()])
            .collect()
    }

    /// `(target, address)` of every address that takes no traffic now (when checks are on).
    fn unhealthy_addresses(&self) -> Vec<(String, SocketAddr)> {
        if !self.checks_on {
            return Vec::new();
        }
        let states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        states
            .values()
            .filter(|s| !s.healthy())
            .filter_map(|s| Some((self.targets.get(s.target)?.entity.target.clone(), s.addr)))
            .collect()
    }

    /// Whether some target is a host name (looked up at request time).
    fn has_names(&self) -> bool {
        self.targets.iter().any(|t| t.ip.is_none())
    }

    /// The current ring (every address, with health).
    pub fn ring(&self) -> Arc<Ring> {
        self.ring.load_full()
    }

    /// Pick an address for one attempt of a request, skipping `tried` addresses while others are left.
    /// Host-name targets are looked up first when their last lookup is older than a second.
    pub async fn pick(
        &self,
        resolver: &dyn Resolve,
        hash: &str,
        tried: &[SocketAddr],
    ) -> Result<Pick, NoPeer> {
        if self.has_names() {
            self.refresh(resolver).await;
        }
        let ring = self.ring.load_full();
        let (available, total) = ring.weights();
        let threshold = self.upstream.healthchecks.threshold;
        // Kong: the balancer is healthy while available / total * 100 > threshold.
        if total == 0 || (available as f64 / total as f64 * 100.0) <= threshold {
            return Err(NoPeer::Unavailable);
        }
        let entry = ring.pick(hash, tried).ok_or(NoPeer::Unavailable)?;
        let state = entry.state.clone();
        if let Some(t) = self.targets.get(state.target) {
            t.picks.inc();
        }
        if ring.counts_connections() {
            state.in_flight.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Pick {
            addr: state.addr,
            target: state.target,
            state,
            ring,
            at: Instant::now(),
        })
    }

    /// The attempt of `pick` ended with `outcome`: passive health, in-flight count, latency.
    pub fn finish(&self, pick: &Pick, outcome: Outcome) {
        if pick.ring.counts_connections() {
            let _ = pick
                .state
                .in_flight
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
        let event = match outcome {
            Outcome::Status(s) => {
                pick.ring
                    .observe(&pick.state, pick.at.elapsed().as_secs_f64());
                if matches!(self.upstream.healthchecks.passive.r#type, CheckType::Tcp) {
                    return;
                }
                Event::Status(s)
            }
            Outcome::TcpFailure => Event::TcpFailure,
            Outcome::Timeout => Event::Timeout,
            Outcome::Unknown => return,
        };
        if self.checks_on {
            self.record(&pick.state, event, &self.passive, "passive");
        }
    }

    /// Count `event` on `state`; logs a flip.
    pub(crate) fn record(&self, state: &AddrState, event: Event, limits: &Limits, check: &str) {
        if let Some(healthy) = state.record(event, limits) {
            let target = self
                .targets
                .get(state.target)
                .map_or("-", |t| t.entity.target.as_str());
            log::warn!(
                "upstream health changed upstream={} target={target} address={} health={} check={check} event={event:?}",
                self.name,
                state.addr,
                if healthy { "healthy" } else { "unhealthy" },
            );
        }
    }

    /// The Host header and SNI for target `target`: `host_header` or the target's host, with the port
    /// unless it is the scheme's default (Kong's `set_host_header`).
    pub fn host_for(&self, target: usize, tls: bool) -> (String, String) {
        let Some(t) = self.targets.get(target) else {
            return (String::new(), String::new());
        };
        let name = self
            .upstream
            .host_header
            .clone()
            .unwrap_or_else(|| match t.ip {
                Some(IpAddr::V6(_)) => format!("[{}]", t.host),
                _ => t.host.clone(),
            });
        let default = if tls { 443 } else { 80 };
        let header = if t.port == default {
            name.clone()
        } else {
            format!("{name}:{}", t.port)
        };
        (header, name)
    }

    /// Set a target's addresses (or one of them) healthy or unhealthy by hand. `Err`: Kong's 400 message.
    pub fn set_health(
        &self,
        target: usize,
        address: Option<SocketAddr>,
        healthy: bool,
    ) -> Result<(), String> {
        if !self.checks_on {
            return Err(format!("no healthchecker found for {}", self.name));
        }
        let ring = self.ring.load();
        let mut found = false;
        for e in ring.entries.iter().filter(|e| e.state.target == target) {
            if address.is_none_or(|a| a == e.state.addr) {
                e.state.set_healthy(healthy);
                found = true;
            }
        }
        if !found {
            return Err("no such address".to_string());
        }
        log::info!(
            "upstream health set by hand upstream={} target={} health={}",
            self.name,
            self.targets
                .get(target)
                .map_or("-", |t| t.entity.target.as_str()),
            if healthy { "healthy" } else { "unhealthy" },
        );
        Ok(())
    }

    /// Look host-name targets up again if the last lookup is stale; one request does it, the others use the
    /// current ring (or wait for the very first lookup).
    pub async fn refresh(&self, resolver: &dyn Resolve) {
        let fresh = |at: u64| {
            at != 0 && self.micros().saturating_sub(at) < RESOLVE_EVERY.as_micros() as u64
        };
        if fresh(self.resolved_at.load(Ordering::Relaxed)) {
            return;
        }
        let _guard = if self.resolved_at.load(Ordering::Relaxed) == 0 {
            self.resolving.lock().await
        } else {
            match self.resolving.try_lock() {
                Ok(g) => g,
                Err(_) => return,
            }
        };
        if fresh(self.resolved_at.load(Ordering::Relaxed)) {
            return;
        }
        let mut resolved = Vec::with_capacity(self.targets.len());
        for (i, t) in self.targets.iter().enumerate() {
            let addrs = match t.ip {
                Some(ip) => vec![SocketAddr::new(ip, t.port)],
                None => match resolver.resolve(&t.host, t.port).await {
                    Ok(a) if !a.is_empty() => {
                        t.dns_error.store(false, Ordering::Relaxed);
                        a
                    }
                    Ok(_) | Err(_) => {
                        if !t.dns_error.swap(true, Ordering::Relaxed) {
                            log::warn!(
                                "upstream target does not resolve upstream={} target={}",
                                self.name,
                                t.entity.target
                            );
                        }
                        Vec::new()
                    }
                },
            };
            resolved.push((i, addrs));
        }
        let current: Vec<(usize, SocketAddr)> = self
            .ring
            .load()
            .entries
            .iter()
            .map(|e| (e.state.target, e.state.addr))
            .collect();
        let mut next: Vec<(usize, SocketAddr)> = resolved
            .iter()
            .flat_map(|(i, a)| a.iter().map(|a| (*i, *a)))
            .collect();
        let mut sorted = current.clone();
        sorted.sort();
        next.sort();
        if sorted != next {
            self.rebuild(&resolved);
        }
        self.resolved_at
            .store(self.micros().max(1), Ordering::Relaxed);
    }

    fn micros(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// A new ring over `resolved` (target index → addresses), reusing the health of known addresses.
    fn rebuild(&self, resolved: &[(usize, Vec<SocketAddr>)]) {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        let mut entries = Vec::new();
        for (i, addrs) in resolved {
            let Some(t) = self.targets.get(*i) else {
                continue;
            };
            for addr in addrs {
                let state = states
                    .entry((*i, *addr))
                    .or_insert_with(|| {
                        let gauge = self.metrics.health.with_label_values(&[
                            self.name.as_str(),
                            t.entity.target.as_str(),
                            &addr.to_string(),
                        ]);
                        let state = AddrState::new(*addr, *i, gauge);
                        if self.inherited.contains(&(t.entity.target.clone(), *addr)) {
                            state.set_healthy(false);
                        }
                        Arc::new(state)
                    })
                    .clone();
                entries.push(Entry {
                    state,
                    weight: t.entity.weight,
                    key: addr.to_string(),
                });
            }
        }
        // Addresses DNS no longer gives are forgotten (and their health series removed).
        states.retain(|(i, addr), _| {
            let keep = resolved.iter().any(|(j, a)| j == i && a.contains(addr));
            if !keep {
                if let Some(t) = self.targets.get(*i) {
                    let labels = [
                        self.name.as_str(),
                        t.entity.target.as_str(),
                        &addr.to_string(),
                    ];
                    let _ = self.metrics.health.remove_label_values(&labels);
                }
            }
            keep
        });
        let targets = self.targets.iter().filter(|t| t.entity.weight > 0).count();
        let ring = Ring::new(
            entries,
            self.upstream.algorithm,
            self.upstream.slots,
            targets,
        );
        self.ring.store(Arc::new(ring));
    }
}

/// `host:port` (IPv6 as `[::1]:port`) → host and port.
fn split_target(target: &str) -> Option<(String, u16)> {
    if let Some(rest) = target.strip_prefix('[') {
        let (host, port) = rest.split_once("]:")?;
        return Some((host.to_string(), port.parse().ok()?));
    }
    let (host, port) = target.rsplit_once(':')?;
    Some((host.to_string(), port.parse().ok()?))
}

#[cfg(test)]
mod tests;

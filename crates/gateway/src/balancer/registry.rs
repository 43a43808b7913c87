//! [`Balancers`], the process's registry of upstream balancers (reused across reloads for unchanged
//! upstreams, seeded with the previous health for changed ones), and the balancer metric families.

use super::{Resolve, SystemResolver, UpstreamBalancer};
use gateway_config::model::Upstream;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// The balancer metric families, registered once on the server's registry.
#[derive(Clone)]
pub struct BalancerMetrics {
    /// `gateway_upstream_target_health{upstream,target,address}`: 1 healthy, 0 unhealthy.
    pub health: prometheus::IntGaugeVec,
    /// `gateway_upstream_picks_total{upstream,target}`.
    pub picks: prometheus::IntCounterVec,
}

impl BalancerMetrics {
    /// Create and register the families on `registry`.
    pub fn new(registry: &prometheus::Registry) -> prometheus::Result<BalancerMetrics> {
        let health = crate::metrics::register(
            registry,
            prometheus::IntGaugeVec::new(
                prometheus::Opts::new(
                    "gateway_upstream_target_health",
                    "Health of each balanced address: 1 healthy, 0 unhealthy",
                ),
                &["upstream", "target", "address"],
            )?,
        )?;
        let picks = crate::metrics::register(
            registry,
            prometheus::IntCounterVec::new(
                prometheus::Opts::new(
                    "gateway_upstream_picks_total",
                    "Requests the balancer sent to each target (retries included)",
                ),
                &["upstream", "target"],
            )?,
        )?;
        Ok(BalancerMetrics { health, picks })
    }
}

/// Every upstream's balancer, reused across reloads for unchanged upstreams; owned by `AppState`.
pub struct Balancers {
    live: Mutex<HashMap<(Uuid, blake3::Hash), Arc<UpstreamBalancer>>>,
    metrics: BalancerMetrics,
    resolver: Arc<dyn Resolve>,
    /// Woken when a balancer is built, so that the checker service starts its probes.
    pub(crate) changed: tokio::sync::Notify,
}

impl Balancers {
    /// A registry whose metrics live on `registry` and whose hostname targets go through `resolver`.
    pub fn new(
        registry: &prometheus::Registry,
        resolver: Arc<dyn Resolve>,
    ) -> prometheus::Result<Balancers> {
        Ok(Balancers {
            live: Mutex::new(HashMap::new()),
            metrics: BalancerMetrics::new(registry)?,
            resolver,
            changed: tokio::sync::Notify::new(),
        })
    }

    /// A registry with metrics nobody renders and the system resolver (`validate`, unit tests).
    pub fn detached() -> Balancers {
        match Balancers::new(&prometheus::Registry::new(), Arc::new(SystemResolver)) {
            Ok(b) => b,
            Err(e) => unreachable!("a fresh registry has no metric yet: {e}"),
        }
    }

    /// The resolver hostname targets are looked up with.
    pub fn resolver(&self) -> &dyn Resolve {
        self.resolver.as_ref()
    }

    /// The balancer of `upstream`: the running one when the upstream did not change, else a new one.
    /// `Err`: a setting that is not supported yet (the config is refused).
    pub fn get(&self, upstream: &Upstream) -> Result<Arc<UpstreamBalancer>, String> {
        let key = (
            upstream.id,
            blake3::hash(format!("{upstream:?}").as_bytes()),
        );
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = live.get(&key) {
            return Ok(b.clone());
        }
        // The upstream changed (a target added, a weight set to 0 to drain one, ...): addresses that stay keep
        // the health the previous balancer gave them, as long as both have checks.
        let inherited = live
            .values()
            .filter(|b| b.id == upstream.id)
            .max_by_key(|b| b.born)
            .map(|b| b.unhealthy_addresses())
            .unwrap_or_default();
        let b = Arc::new(UpstreamBalancer::new(upstream, &self.metrics, inherited)?);
        live.insert(key, b.clone());
        drop(live);
        self.changed.notify_one();
        Ok(b)
    }

    /// Forget balancers no running snapshot uses (their probes stop); `live` is the new snapshot's set.
    /// Their metric series go too, unless a kept balancer has the same labels.
    pub fn retain(&self, live: &[Arc<UpstreamBalancer>]) {
        let mut map = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let mut gone = Vec::new();
        map.retain(|_, b| {
            let keep = live.iter().any(|l| Arc::ptr_eq(l, b));
            if !keep {
                gone.push(b.clone());
            }
            keep
        });
        let kept: Vec<Arc<UpstreamBalancer>> = map.values().cloned().collect();
        drop(map);
        let kept_health: HashSet<[String; 3]> =
            kept.iter().flat_map(|b| b.health_labels()).collect();
        let kept_picks: HashSet<[String; 2]> = kept.iter().flat_map(|b| b.pick_labels()).collect();
        for b in gone {
            for labels in b.health_labels() {
                if !kept_health.contains(&labels) {
                    let l = labels.each_ref().map(String::as_str);
                    let _ = self.metrics.health.remove_label_values(&l);
                }
            }
            for labels in b.pick_labels() {
                if !kept_picks.contains(&labels) {
                    let l = labels.each_ref().map(String::as_str);
                    let _ = self.metrics.picks.remove_label_values(&l);
                }
            }
        }
    }

    /// Every live balancer.
    pub fn all(&self) -> Vec<Arc<UpstreamBalancer>> {
        let map = self.live.lock().unwrap_or_else(|e| e.into_inner());
        map.values().cloned().collect()
    }
}

//! Metrics of the cluster cache, part of [`crate::metrics::AuthMetrics`] (so registered on the
//! registry the server hands down, with or without a cluster cache):
//!
//! - `gateway_cluster_cache_state`: 1 when Redis answers, 0 when it is down (0 too when not configured).
//! - `gateway_cluster_cache_total{result}`: L2 lookups after a local miss: `hit`, `miss` (this node
//!   called the IdP), `waited` (another node's result was read after waiting for its lock), `error`
//!   (Redis failed or is down: local cache + IdP only). With `gateway_auth_cache_total{cache="introspection"}`
//!   (L1) this gives the L1 and L2 hit ratios.
//! - `gateway_cluster_purges_total{source}`: purges applied to the local caches (`api`, `pubsub`).

use prometheus::{IntCounter, IntGauge, Registry};

use crate::metrics::{counter_vec, register};

/// How one L2 lookup was answered (the `result` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L2Lookup {
    /// Found in Redis.
    Hit,
    /// Not there: this node called the IdP.
    Miss,
    /// Another node's result, read after waiting for its lock.
    Waited,
    /// Redis failed or is down.
    Error,
}

impl L2Lookup {
    /// Every variant, in index order.
    pub const ALL: [L2Lookup; 4] = [
        L2Lookup::Hit,
        L2Lookup::Miss,
        L2Lookup::Waited,
        L2Lookup::Error,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            L2Lookup::Hit => "hit",
            L2Lookup::Miss => "miss",
            L2Lookup::Waited => "waited",
            L2Lookup::Error => "error",
        }
    }
}

/// Where a purge applied locally came from (the `source` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeSource {
    /// The Admin API of this node.
    Api,
    /// Another node's pub/sub message.
    PubSub,
}

impl PurgeSource {
    /// Every variant, in index order.
    pub const ALL: [PurgeSource; 2] = [PurgeSource::Api, PurgeSource::PubSub];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            PurgeSource::Api => "api",
            PurgeSource::PubSub => "pubsub",
        }
    }
}

/// The cluster cache's metrics.
#[derive(Debug)]
pub struct ClusterMetrics {
    state: IntGauge,
    lookups: [IntCounter; L2Lookup::ALL.len()],
    purges: [IntCounter; PurgeSource::ALL.len()],
}

impl ClusterMetrics {
    /// Creates and registers the metrics; the state starts at 0 (a cluster sets it up when created).
    pub(crate) fn new(registry: &Registry) -> Self {
        let name = "gateway_cluster_cache_state";
        let state = register(
            registry,
            IntGauge::new(name, "Cluster cache (Redis) state: 1 up, 0 down")
                .unwrap_or_else(|e| panic!("invalid metric definition {name}: {e}")),
        );
        let lookups = register(
            registry,
            counter_vec(
                "gateway_cluster_cache_total",
                "Cluster cache (L2) lookups after a local miss, by result",
                &["result"],
            ),
        );
        let purges = register(
            registry,
            counter_vec(
                "gateway_cluster_purges_total",
                "Token purges applied to the local caches, by source",
                &["source"],
            ),
        );
        ClusterMetrics {
            state,
            lookups: L2Lookup::ALL.map(|l| lookups.with_label_values(&[l.as_str()])),
            purges: PurgeSource::ALL.map(|s| purges.with_label_values(&[s.as_str()])),
        }
    }

    /// Sets the state gauge.
    pub fn state(&self, up: bool) {
        self.state.set(i64::from(up));
    }

    /// Counts one L2 lookup.
    pub fn lookup(&self, result: L2Lookup) {
        self.lookups[result as usize].inc();
    }

    /// Counts one purge applied locally.
    pub fn purge(&self, source: PurgeSource) {
        self.purges[source as usize].inc();
    }

    /// The state gauge's value.
    pub fn state_value(&self) -> i64 {
        self.state.get()
    }

    /// L2 lookups counted so far with `result`.
    pub fn lookup_count(&self, result: L2Lookup) -> u64 {
        self.lookups[result as usize].get()
    }

    /// Purges counted so far from `source`.
    pub fn purge_count(&self, source: PurgeSource) -> u64 {
        self.purges[source as usize].get()
    }
}

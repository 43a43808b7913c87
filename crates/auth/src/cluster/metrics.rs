//! Metrics of the cluster cache, on `prometheus::default_registry()`:
//!
//! - `gateway_cluster_cache_state`: 1 when Redis answers, 0 when it is down (0 too when not configured).
//! - `gateway_cluster_cache_total{result}`: L2 lookups after a local miss: `hit`, `miss` (this node
//!   called the IdP), `waited` (another node's result was read after waiting for its lock), `error`
//!   (Redis failed or is down: local cache + IdP only). With `gateway_auth_cache_total{cache="introspection"}`
//!   (L1) this gives the L1 and L2 hit ratios.
//! - `gateway_cluster_purges_total{source}`: purges applied to the local caches (`api`, `pubsub`).

use std::sync::LazyLock;

use prometheus::{IntCounterVec, IntGauge};

use crate::metrics::counter;

static STATE: LazyLock<IntGauge> = LazyLock::new(|| {
    let name = "gateway_cluster_cache_state";
    let g = IntGauge::new(name, "Cluster cache (Redis) state: 1 up, 0 down")
        .unwrap_or_else(|e| panic!("invalid metric definition {name}: {e}"));
    if let Err(e) = prometheus::register(Box::new(g.clone())) {
        log::warn!("metric={name} registration failed: {e}");
    }
    g
});

static LOOKUPS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "gateway_cluster_cache_total",
        "Cluster cache (L2) lookups after a local miss, by result",
        &["result"],
    )
});

static PURGES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "gateway_cluster_purges_total",
        "Token purges applied to the local caches, by source",
        &["source"],
    )
});

/// Registers the metrics (state starts at `up`).
pub fn init(up: bool) {
    LazyLock::force(&LOOKUPS);
    LazyLock::force(&PURGES);
    state(up);
}

/// Sets the state gauge.
pub fn state(up: bool) {
    STATE.set(i64::from(up));
}

/// Counts one L2 lookup.
pub fn lookup(result: &str) {
    LOOKUPS.with_label_values(&[result]).inc();
}

/// Counts one purge applied locally.
pub fn purge(source: &str) {
    PURGES.with_label_values(&[source]).inc();
}

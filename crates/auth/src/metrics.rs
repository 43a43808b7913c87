//! Prometheus metrics of the auth crate, registered on `prometheus::default_registry()`.
//!
//! - `gateway_auth_decisions_total{outcome}`: `allow`, `deny_401`, `deny_403`, `error_500`.
//! - `gateway_auth_cache_total{cache,result}`: `cache` = `introspection` | `token`,
//!   `result` = `hit` | `miss` | `coalesced`.
//! - `gateway_idp_requests_total{endpoint,result}`: `endpoint` = `discovery` | `introspection` | `token`,
//!   `result` = `ok` | `timeout` | `transport` | `status` | `invalid_response` | `circuit_open` (not sent).
//! - `gateway_idp_request_duration_seconds{endpoint}`: IdP latency histogram.
//! - `gateway_idp_circuit_state{endpoint}`: circuit breaker per IdP endpoint URL (0 closed, 1 open,
//!   2 half-open).
//! - `gateway_auth_stale_served_total`: introspection results served stale (`cache_ttl_resurrect`)
//!   because the IdP failed.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts};

use crate::breaker::CircuitState;
use crate::cache::Lookup;
use crate::errors::Endpoint;

/// A counter vector registered on the default registry (a failed registration is logged).
pub(crate) fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("invalid metric definition {name}: {e}"));
    if let Err(e) = prometheus::register(Box::new(c.clone())) {
        log::warn!("metric={name} registration failed: {e}");
    }
    c
}

static DECISIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "gateway_auth_decisions_total",
        "openid-connect decisions by outcome",
        &["outcome"],
    )
});

static CACHE: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "gateway_auth_cache_total",
        "openid-connect cache lookups by cache and result",
        &["cache", "result"],
    )
});

static IDP_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "gateway_idp_requests_total",
        "Requests to the identity provider by endpoint and result",
        &["endpoint", "result"],
    )
});

static IDP_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    let name = "gateway_idp_request_duration_seconds";
    let opts = HistogramOpts::new(name, "Latency of identity provider requests").buckets(vec![
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ]);
    let h = HistogramVec::new(opts, &["endpoint"])
        .unwrap_or_else(|e| panic!("invalid metric definition {name}: {e}"));
    if let Err(e) = prometheus::register(Box::new(h.clone())) {
        log::warn!("metric={name} registration failed: {e}");
    }
    h
});

static CIRCUIT: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    let name = "gateway_idp_circuit_state";
    let g = IntGaugeVec::new(
        Opts::new(
            name,
            "IdP circuit breaker state per endpoint (0 closed, 1 open, 2 half-open)",
        ),
        &["endpoint"],
    )
    .unwrap_or_else(|e| panic!("invalid metric definition {name}: {e}"));
    if let Err(e) = prometheus::register(Box::new(g.clone())) {
        log::warn!("metric={name} registration failed: {e}");
    }
    g
});

static STALE_SERVED: LazyLock<IntCounter> = LazyLock::new(|| {
    let name = "gateway_auth_stale_served_total";
    let c = IntCounter::new(
        name,
        "Introspection results served stale (cache_ttl_resurrect) because the IdP failed",
    )
    .unwrap_or_else(|e| panic!("invalid metric definition {name}: {e}"));
    if let Err(e) = prometheus::register(Box::new(c.clone())) {
        log::warn!("metric={name} registration failed: {e}");
    }
    c
});

/// Forces registration so the metrics show up before the first request.
pub fn init() {
    LazyLock::force(&DECISIONS);
    LazyLock::force(&CACHE);
    LazyLock::force(&IDP_REQUESTS);
    LazyLock::force(&IDP_DURATION);
    LazyLock::force(&CIRCUIT);
    LazyLock::force(&STALE_SERVED);
}

/// Sets the circuit breaker state of one endpoint.
pub fn circuit_state(endpoint: &str, state: CircuitState) {
    CIRCUIT.with_label_values(&[endpoint]).set(state.gauge());
}

/// Counts one IdP request not sent (e.g. `circuit_open`).
pub fn idp_rejected(endpoint: Endpoint, result: &str) {
    IDP_REQUESTS
        .with_label_values(&[endpoint.as_str(), result])
        .inc();
}

/// Counts one stale introspection result served.
pub fn stale_served() {
    STALE_SERVED.inc();
}

/// The number of stale results served so far (tests).
pub fn stale_served_count() -> u64 {
    STALE_SERVED.get()
}

/// Label values counted on every request: their counters are looked up once, not per request (a
/// `with_label_values` call hashes the labels and takes a lock).
const OUTCOMES: [&str; 4] = ["allow", "deny_401", "deny_403", "error_500"];
const CACHES: [&str; 2] = ["introspection", "token"];

static DECISION_HANDLES: LazyLock<Vec<(&'static str, IntCounter)>> = LazyLock::new(|| {
    OUTCOMES
        .iter()
        .map(|o| (*o, DECISIONS.with_label_values(&[*o])))
        .collect()
});

static CACHE_HANDLES: LazyLock<Vec<(&'static str, &'static str, IntCounter)>> =
    LazyLock::new(|| {
        let mut handles = Vec::new();
        for cache in CACHES {
            for how in Lookup::ALL {
                let result = how.as_str();
                handles.push((cache, result, CACHE.with_label_values(&[cache, result])));
            }
        }
        handles
    });

/// Counts one decision (`allow`, `deny_401`, `deny_403`, `error_500`).
pub fn decision(outcome: &str) {
    match DECISION_HANDLES.iter().find(|(o, _)| *o == outcome) {
        Some((_, counter)) => counter.inc(),
        None => DECISIONS.with_label_values(&[outcome]).inc(),
    }
}

/// Counts one cache lookup.
pub fn cache_lookup(cache: &str, how: Lookup) {
    let result = how.as_str();
    match CACHE_HANDLES
        .iter()
        .find(|(c, r, _)| *c == cache && *r == result)
    {
        Some((_, _, counter)) => counter.inc(),
        None => CACHE.with_label_values(&[cache, result]).inc(),
    }
}

/// Records one IdP request.
pub fn idp_request(endpoint: Endpoint, result: &str, elapsed: Duration) {
    IDP_REQUESTS
        .with_label_values(&[endpoint.as_str(), result])
        .inc();
    IDP_DURATION
        .with_label_values(&[endpoint.as_str()])
        .observe(elapsed.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_on_default_registry() {
        init();
        decision("allow");
        let names: Vec<String> = prometheus::default_registry()
            .gather()
            .iter()
            .map(|f| f.name().to_owned())
            .collect();
        assert!(names.contains(&"gateway_auth_decisions_total".to_owned()));
    }
}

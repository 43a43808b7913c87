//! The auth crate's Prometheus metrics: one [`AuthMetrics`] per process, registered on the registry the
//! server owns and hands down (no globals), shared as `Arc<AuthMetrics>` by every authenticator, cache,
//! IdP client, breaker and the cluster cache.
//!
//! - `gateway_auth_decisions_total{outcome}`: `allow`, `deny_401`, `deny_403`, `error_500`.
//! - `gateway_auth_cache_total{cache,result}`: `cache` = `introspection` | `token`,
//!   `result` = `hit` | `miss` | `coalesced`.
//! - `gateway_idp_requests_total{endpoint,result}`: `endpoint` = `discovery` | `introspection` | `token`,
//!   `result` = `ok` | `timeout` | `transport` | `status` | `invalid_response` | `circuit_open` (not sent).
//! - `gateway_idp_request_duration_seconds{endpoint}`: IdP latency histogram.
//! - `gateway_idp_circuit_state{endpoint}`: circuit breaker per IdP endpoint URL (0 closed, 1 open,
//!   2 half-open).
//! - `gateway_idp_endpoint_requests_total{endpoint}`: introspection, token and JWKS requests sent
//!   per IdP endpoint URL (which issuer was asked, with `extra_issuers`; discovery is not counted).
//! - `gateway_auth_stale_served_total`: introspection results served stale (`cache_ttl_resurrect`)
//!   because the IdP failed.
//! - the cluster cache's metrics: see [`crate::cluster::metrics`].
//!
//! Every label set counted per request is fixed, so its counters are resolved once here and indexed by
//! enums: counting hashes no label and takes no lock. Only the circuit gauge has a label per endpoint
//! URL; each breaker resolves its own child once ([`AuthMetrics::circuit_gauge`]).

use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

use crate::cache::Lookup;
use crate::cluster::metrics::ClusterMetrics;
use crate::errors::Endpoint;

/// Registers `metric` on `registry` and returns it. A failed registration (the name is already taken
/// on this registry) is logged; the metric then still counts but is not exposed.
pub(crate) fn register<C: Collector + Clone + 'static>(registry: &Registry, metric: C) -> C {
    if let Err(e) = registry.register(Box::new(metric.clone())) {
        let names: Vec<String> = metric.desc().iter().map(|d| d.fq_name.clone()).collect();
        log::warn!("metric={} registration failed: {e}", names.join(","));
    }
    metric
}

/// A counter vector (the definitions are constants: an invalid one is a bug, caught by the tests).
pub(crate) fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("invalid metric definition {name}: {e}"))
}

/// The outcome of one decision (the `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Proxied.
    Allow,
    /// Answered 401.
    Deny401,
    /// Answered 403.
    Deny403,
    /// Answered 500.
    Error500,
    /// Answered 503: the IdP could not answer (`idp_outage_status: 503`).
    Unavailable503,
}

impl Outcome {
    /// Every variant, in index order.
    pub const ALL: [Outcome; 5] = [
        Outcome::Allow,
        Outcome::Deny401,
        Outcome::Deny403,
        Outcome::Error500,
        Outcome::Unavailable503,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny401 => "deny_401",
            Outcome::Deny403 => "deny_403",
            Outcome::Error500 => "error_500",
            Outcome::Unavailable503 => "unavailable_503",
        }
    }

    /// The outcome of a response status (anything but 403, 500 and 503 is a 401).
    pub fn of_status(status: u16) -> Outcome {
        match status {
            403 => Outcome::Deny403,
            500 => Outcome::Error500,
            503 => Outcome::Unavailable503,
            _ => Outcome::Deny401,
        }
    }
}

/// Which token cache (the `cache` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// Introspection results.
    Introspection,
    /// Access tokens from grants.
    Token,
    /// JWTs verified locally (`bearer`): a hit skips the signature check.
    Jwt,
}

impl Cache {
    /// Every variant, in index order.
    pub const ALL: [Cache; 3] = [Cache::Introspection, Cache::Token, Cache::Jwt];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Cache::Introspection => "introspection",
            Cache::Token => "token",
            Cache::Jwt => "jwt",
        }
    }
}

/// How one IdP request ended (the `result` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdpResult {
    /// A 200 with a JSON object.
    Ok,
    /// No answer in time.
    Timeout,
    /// Connection or TLS failure.
    Transport,
    /// A status other than 200.
    Status,
    /// An unusable body or a missing member.
    InvalidResponse,
    /// Not sent: the circuit breaker is open.
    CircuitOpen,
}

impl IdpResult {
    /// Every variant, in index order.
    pub const ALL: [IdpResult; 6] = [
        IdpResult::Ok,
        IdpResult::Timeout,
        IdpResult::Transport,
        IdpResult::Status,
        IdpResult::InvalidResponse,
        IdpResult::CircuitOpen,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            IdpResult::Ok => "ok",
            IdpResult::Timeout => "timeout",
            IdpResult::Transport => "transport",
            IdpResult::Status => "status",
            IdpResult::InvalidResponse => "invalid_response",
            IdpResult::CircuitOpen => "circuit_open",
        }
    }
}

/// IdP latency buckets (seconds).
const IDP_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The auth crate's metrics, registered on one registry.
#[derive(Debug)]
pub struct AuthMetrics {
    decisions: [IntCounter; Outcome::ALL.len()],
    cache: [[IntCounter; Lookup::ALL.len()]; Cache::ALL.len()],
    idp_requests: [[IntCounter; IdpResult::ALL.len()]; Endpoint::ALL.len()],
    idp_duration: [Histogram; Endpoint::ALL.len()],
    circuit: IntGaugeVec,
    endpoint_requests: IntCounterVec,
    stale_served: IntCounter,
    /// The cluster cache's metrics (registered without a cluster too: its state then reads 0).
    pub cluster: ClusterMetrics,
}

impl AuthMetrics {
    /// Creates the metrics and registers them on `registry` (a name already taken there is logged).
    pub fn new(registry: &Registry) -> Self {
        let decisions = register(
            registry,
            counter_vec(
                "gateway_auth_decisions_total",
                "openid-connect decisions by outcome",
                &["outcome"],
            ),
        );
        let cache = register(
            registry,
            counter_vec(
                "gateway_auth_cache_total",
                "openid-connect cache lookups by cache and result",
                &["cache", "result"],
            ),
        );
        let idp_requests = register(
            registry,
            counter_vec(
                "gateway_idp_requests_total",
                "Requests to the identity provider by endpoint and result",
                &["endpoint", "result"],
            ),
        );
        let name = "gateway_idp_request_duration_seconds";
        let opts = HistogramOpts::new(name, "Latency of identity provider requests")
            .buckets(IDP_BUCKETS.to_vec());
        let idp_duration = register(
            registry,
            HistogramVec::new(opts, &["endpoint"])
                .unwrap_or_else(|e| panic!("invalid metric definition {name}: {e}")),
        );
        let name = "gateway_idp_circuit_state";
        let circuit = register(
            registry,
            IntGaugeVec::new(
                Opts::new(
                    name,
                    "IdP circuit breaker state per endpoint (0 closed, 1 open, 2 half-open)",
                ),
                &["endpoint"],
            )
            .unwrap_or_else(|e| panic!("invalid metric definition {name}: {e}")),
        );
        let endpoint_requests = register(
            registry,
            counter_vec(
                "gateway_idp_endpoint_requests_total",
                "Requests sent to the identity provider per endpoint URL",
                &["endpoint"],
            ),
        );
        let name = "gateway_auth_stale_served_total";
        let stale_served = register(
            registry,
            IntCounter::new(
                name,
                "Introspection results served stale (cache_ttl_resurrect) because the IdP failed",
            )
            .unwrap_or_else(|e| panic!("invalid metric definition {name}: {e}")),
        );
        AuthMetrics {
            decisions: Outcome::ALL.map(|o| decisions.with_label_values(&[o.as_str()])),
            cache: Cache::ALL
                .map(|c| Lookup::ALL.map(|l| cache.with_label_values(&[c.as_str(), l.as_str()]))),
            idp_requests: Endpoint::ALL.map(|e| {
                IdpResult::ALL.map(|r| idp_requests.with_label_values(&[e.as_str(), r.as_str()]))
            }),
            idp_duration: Endpoint::ALL.map(|e| idp_duration.with_label_values(&[e.as_str()])),
            circuit,
            endpoint_requests,
            stale_served,
            cluster: ClusterMetrics::new(registry),
        }
    }

    /// Counts one decision.
    pub fn decision(&self, outcome: Outcome) {
        self.decisions[outcome as usize].inc();
    }

    /// Counts one cache lookup.
    pub fn cache_lookup(&self, cache: Cache, how: Lookup) {
        self.cache[cache as usize][how as usize].inc();
    }

    /// Records one IdP request that was sent.
    pub fn idp_request(&self, endpoint: Endpoint, result: IdpResult, elapsed: Duration) {
        self.idp_requests[endpoint as usize][result as usize].inc();
        self.idp_duration[endpoint as usize].observe(elapsed.as_secs_f64());
    }

    /// Counts one IdP request not sent because the endpoint's circuit is open.
    pub fn idp_rejected(&self, endpoint: Endpoint) {
        self.idp_requests[endpoint as usize][IdpResult::CircuitOpen as usize].inc();
    }

    /// The circuit-state gauge of one endpoint label (resolve once per breaker, not per call).
    pub fn circuit_gauge(&self, endpoint_label: &str) -> IntGauge {
        self.circuit.with_label_values(&[endpoint_label])
    }

    /// The sent-requests counter of one endpoint label (resolve once per guard, not per call).
    pub fn endpoint_counter(&self, endpoint_label: &str) -> IntCounter {
        self.endpoint_requests.with_label_values(&[endpoint_label])
    }

    /// Counts one stale introspection result served.
    pub fn stale_served(&self) {
        self.stale_served.inc();
    }

    /// Decisions counted so far with `outcome`.
    pub fn decision_count(&self, outcome: Outcome) -> u64 {
        self.decisions[outcome as usize].get()
    }

    /// Cache lookups counted so far.
    pub fn cache_count(&self, cache: Cache, how: Lookup) -> u64 {
        self.cache[cache as usize][how as usize].get()
    }

    /// IdP requests counted so far.
    pub fn idp_request_count(&self, endpoint: Endpoint, result: IdpResult) -> u64 {
        self.idp_requests[endpoint as usize][result as usize].get()
    }

    /// Stale results served so far.
    pub fn stale_served_count(&self) -> u64 {
        self.stale_served.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(r: &Registry) -> Vec<String> {
        r.gather().iter().map(|f| f.name().to_owned()).collect()
    }

    #[test]
    fn registered_on_the_given_registry_only() {
        let r = Registry::new();
        let m = AuthMetrics::new(&r);
        m.decision(Outcome::Allow);
        let names = names(&r);
        for n in [
            "gateway_auth_decisions_total",
            "gateway_auth_cache_total",
            "gateway_idp_requests_total",
            "gateway_idp_request_duration_seconds",
            "gateway_auth_stale_served_total",
            "gateway_cluster_cache_state",
            "gateway_cluster_cache_total",
            "gateway_cluster_purges_total",
        ] {
            assert!(names.contains(&n.to_owned()), "{n} in {names:?}");
        }
    }

    #[test]
    fn counters_are_indexed_by_their_labels() {
        let r = Registry::new();
        let m = AuthMetrics::new(&r);
        m.decision(Outcome::Deny403);
        m.decision(Outcome::Deny403);
        m.cache_lookup(Cache::Token, Lookup::Coalesced);
        m.idp_request(Endpoint::Token, IdpResult::Status, Duration::from_millis(3));
        m.idp_rejected(Endpoint::Introspection);
        m.circuit_gauge("http://h/x").set(2);
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&r.gather())
            .unwrap();
        for line in [
            r#"gateway_auth_decisions_total{outcome="deny_403"} 2"#,
            r#"gateway_auth_decisions_total{outcome="allow"} 0"#,
            r#"gateway_auth_cache_total{cache="token",result="coalesced"} 1"#,
            r#"gateway_idp_requests_total{endpoint="token",result="status"} 1"#,
            r#"gateway_idp_requests_total{endpoint="introspection",result="circuit_open"} 1"#,
            r#"gateway_idp_request_duration_seconds_count{endpoint="token"} 1"#,
            r#"gateway_idp_circuit_state{endpoint="http://h/x"} 2"#,
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert_eq!(m.decision_count(Outcome::Deny403), 2);
        assert_eq!(m.cache_count(Cache::Token, Lookup::Coalesced), 1);
        assert_eq!(
            m.idp_request_count(Endpoint::Introspection, IdpResult::CircuitOpen),
            1
        );
    }

    #[test]
    fn a_second_set_on_one_registry_is_logged_not_fatal() {
        let r = Registry::new();
        let a = AuthMetrics::new(&r);
        let b = AuthMetrics::new(&r);
        b.decision(Outcome::Allow);
        assert_eq!(a.decision_count(Outcome::Allow), 0);
        assert_eq!(b.decision_count(Outcome::Allow), 1);
    }
}

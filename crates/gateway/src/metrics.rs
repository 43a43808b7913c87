//! Gateway-level Prometheus metrics (requests, reloads) and the text rendering of the default registry.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, TextEncoder,
};
use std::sync::OnceLock;

/// The gateway's own metrics; the auth crate registers its own on the same default registry.
pub struct Metrics {
    /// Requests by status code class and service.
    pub requests: IntCounterVec,
    /// Request latency by service.
    pub latency: HistogramVec,
    /// Reloads by result (`ok`, `error`).
    pub reloads: IntCounterVec,
    /// Unix time of the last successful config load.
    pub config_loaded_at: IntGauge,
    /// Requests that found no route.
    pub no_route: IntCounter,
}

fn build() -> Metrics {
    let requests = IntCounterVec::new(
        Opts::new(
            "gateway_http_requests_total",
            "Requests answered, by service and status code",
        ),
        &["service", "code"],
    )
    .expect("valid metric");
    let latency = HistogramVec::new(
        HistogramOpts::new(
            "gateway_http_request_duration_seconds",
            "Request latency as seen by the gateway",
        )
        .buckets(vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]),
        &["service"],
    )
    .expect("valid metric");
    let reloads = IntCounterVec::new(
        Opts::new(
            "gateway_config_reloads_total",
            "Config reloads (SIGHUP and Admin API writes) by result",
        ),
        &["source", "result"],
    )
    .expect("valid metric");
    let config_loaded_at = IntGauge::new(
        "gateway_config_loaded_timestamp_seconds",
        "Unix time at which the running config was loaded",
    )
    .expect("valid metric");
    let no_route = IntCounter::new("gateway_no_route_total", "Requests that matched no route")
        .expect("valid metric");
    let r = prometheus::default_registry();
    for c in [
        Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(latency.clone()),
        Box::new(reloads.clone()),
        Box::new(config_loaded_at.clone()),
        Box::new(no_route.clone()),
    ] {
        // Registering twice only happens in tests that build the metrics again; ignore that.
        let _ = r.register(c);
    }
    Metrics {
        requests,
        latency,
        reloads,
        config_loaded_at,
        no_route,
    }
}

/// The process-wide gateway metrics.
pub fn get() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(build)
}

/// Render every metric of the default registry in Prometheus' text format.
pub fn render() -> String {
    let mut buf = Vec::new();
    let families = prometheus::gather();
    if TextEncoder::new().encode(&families, &mut buf).is_err() {
        return String::new();
    }
    String::from_utf8(buf).unwrap_or_default()
}

/// Status classes counted in `gateway_http_requests_total{code}`.
pub const STATUS_CLASSES: [&str; 10] = [
    "2xx", "3xx", "401", "403", "404", "4xx", "502", "504", "5xx", "other",
];

/// The index in [`STATUS_CLASSES`] of a response status.
pub fn status_class(status: u16) -> usize {
    match status {
        200..=299 => 0,
        300..=399 => 1,
        401 => 2,
        403 => 3,
        404 => 4,
        400..=499 => 5,
        502 => 6,
        504 => 7,
        500..=599 => 8,
        _ => 9,
    }
}

/// One service's metric children, created on its first request (not at compile time: a 10k-service
/// config must not create 100k empty series) and then reused without label hashing or locking.
#[derive(Default)]
pub struct ServiceMetrics {
    latency: OnceLock<prometheus::Histogram>,
    requests: [OnceLock<prometheus::IntCounter>; 10],
}

impl ServiceMetrics {
    /// Record one answered request of the service labelled `service`.
    pub fn record(&self, service: &str, status: u16, seconds: f64) {
        self.count(service, status);
        self.latency
            .get_or_init(|| get().latency.with_label_values(&[service]))
            .observe(seconds);
    }

    /// Count one answered request of the service labelled `service` (no latency).
    pub fn count(&self, service: &str, status: u16) {
        let class = status_class(status);
        self.requests[class]
            .get_or_init(|| {
                get()
                    .requests
                    .with_label_values(&[service, STATUS_CLASSES[class]])
            })
            .inc();
    }
}

/// The request counters of requests that matched no route (service `-`; no latency is recorded for them).
pub fn unmatched() -> &'static ServiceMetrics {
    static U: OnceLock<ServiceMetrics> = OnceLock::new();
    U.get_or_init(ServiceMetrics::default)
}

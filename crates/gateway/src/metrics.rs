//! Gateway-level Prometheus metrics (requests, reloads) on the registry the server owns, and `/metrics` text.

use prometheus::core::Collector;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use std::sync::OnceLock;

/// The gateway's own metrics, created once per process by [`Metrics::new`] and shared through `AppState`.
pub struct Metrics {
    /// Requests by status code class and service.
    pub requests: IntCounterVec,
    /// Request latency by service.
    pub latency: HistogramVec,
    /// Reloads by result (`ok`, `error`).
    pub reloads: IntCounterVec,
    /// Unix time of the last successful config load.
    pub config_loaded_at: IntGauge,
    /// The etcd revision of the running config's document (0 on a file-backed node).
    pub config_revision: IntGauge,
    /// Documents from etcd this node refused (invalid: the node keeps its running config).
    pub config_store_refused: IntCounter,
    /// Requests that found no route.
    pub no_route: IntCounter,
    /// rate-limiting requests whose counter store (Redis) failed (served when `fault_tolerant`, else 500).
    pub rate_limit_store_errors: IntCounter,
    /// Log entries the log plugins dropped, by plugin and reason (`queue_full`, `send_failed`).
    pub log_dropped: IntCounterVec,
    /// Client connections cut by a deadline, by kind (`header`, `body`, `send`).
    pub client_timeouts: IntCounterVec,
    /// HTTP/2 connections sent GOAWAY by the gateway's per-connection caps, by reason (`streams`, `resets`).
    pub h2_goaway: IntCounterVec,
    /// Buffering refused for want of temporary file space (`temp_max_size`): request bodies answered 503.
    pub buffer_refusals: IntCounter,
    /// Answers passed on unbuffered because the temporary files were full (`temp_max_size` or
    /// `proxy_max_temp_file_size`).
    pub buffer_overflows: IntCounter,
    /// Upstream connections kept after their client went away mid-answer: the small rest of the answer was
    /// read and thrown away, and the connection went back to the pool.
    pub reused_after_cancel: IntCounter,
    /// Kong's metric families (the prometheus plugin's).
    pub kong: crate::plugins::prometheus::exporter::KongMetrics,
    /// The request counters of requests that matched no route (service `-`).
    unmatched: ServiceMetrics,
}

impl Metrics {
    /// Creates the gateway's metrics and registers them on `registry`. Errors: a metric of the same name is
    /// already registered there (e.g. `new` called twice on one registry).
    pub fn new(registry: &Registry) -> prometheus::Result<Metrics> {
        let requests = register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "gateway_http_requests_total",
                    "Requests answered, by service and status code",
                ),
                &["service", "code"],
            )?,
        )?;
        let latency = register(
            registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "gateway_http_request_duration_seconds",
                    "Request latency as seen by the gateway",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0,
                ]),
                &["service"],
            )?,
        )?;
        let reloads = register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "gateway_config_reloads_total",
                    "Config reloads (SIGHUP and Admin API writes) by result",
                ),
                &["source", "result"],
            )?,
        )?;
        let config_loaded_at = register(
            registry,
            IntGauge::new(
                "gateway_config_loaded_timestamp_seconds",
                "Unix time at which the running config was loaded",
            )?,
        )?;
        let config_revision = register(
            registry,
            IntGauge::new(
                "gateway_config_store_revision",
                "etcd revision of the running config's document (0: file-backed)",
            )?,
        )?;
        let config_store_refused = register(
            registry,
            IntCounter::new(
                "gateway_config_store_refused_total",
                "Documents from etcd this node refused; it keeps its running config",
            )?,
        )?;
        let no_route = register(
            registry,
            IntCounter::new("gateway_no_route_total", "Requests that matched no route")?,
        )?;
        let rate_limit_store_errors = register(
            registry,
            IntCounter::new(
                "gateway_rate_limiting_store_errors_total",
                "rate-limiting requests whose counter store (Redis) failed",
            )?,
        )?;
        let log_dropped = register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "gateway_log_entries_dropped_total",
                    "Log entries file-log and http-log dropped (sink full or down), by plugin and reason",
                ),
                &["plugin", "reason"],
            )?,
        )?;
        let client_timeouts = register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "gateway_client_timeouts_total",
                    "Client connections cut by client_header_timeout, client_body_timeout or \
                     client_body_total_timeout, send_timeout",
                ),
                &["kind"],
            )?,
        )?;
        let h2_goaway = register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "gateway_http2_goaway_total",
                    "HTTP/2 connections sent GOAWAY for too many streams (keepalive_requests) or resets",
                ),
                &["reason"],
            )?,
        )?;
        let buffer_refusals = register(
            registry,
            IntCounter::new(
                "gateway_request_buffer_refusals_total",
                "Request bodies answered 503 because the temporary files were at temp_max_size",
            )?,
        )?;
        let buffer_overflows = register(
            registry,
            IntCounter::new(
                "gateway_response_buffer_overflows_total",
                "Buffered answers whose temporary file was full (temp_max_size, proxy_max_temp_file_size): \
                 the rest went as fast as the client took it",
            )?,
        )?;
        let reused_after_cancel = register(
            registry,
            IntCounter::new(
                "gateway_upstream_reused_after_cancel_total",
                "Upstream connections kept after the client went away mid-answer (the small rest was \
                 read and thrown away)",
            )?,
        )?;
        let kong = crate::plugins::prometheus::exporter::KongMetrics::new(registry)?;
        Ok(Metrics {
            buffer_refusals,
            buffer_overflows,
            reused_after_cancel,
            client_timeouts,
            h2_goaway,
            kong,
            log_dropped,
            requests,
            latency,
            reloads,
            config_loaded_at,
            config_revision,
            config_store_refused,
            no_route,
            rate_limit_store_errors,
            unmatched: ServiceMetrics::default(),
        })
    }

    /// Count one answered request that matched no route (service `-`; no latency is recorded for them).
    pub fn count_unmatched(&self, status: u16) {
        self.unmatched.count(self, "-", status);
    }
}

/// Registers `collector` on `registry` and gives it back: the one place metrics are registered.
pub(crate) fn register<C: Collector + Clone + 'static>(
    registry: &Registry,
    collector: C,
) -> prometheus::Result<C> {
    registry.register(Box::new(collector.clone()))?;
    Ok(collector)
}

/// Refresh the node-level gauges of `state` and render its registry (the Admin API's and `status_listen`'s
/// `/metrics`).
pub fn scrape(state: &crate::state::AppState) -> String {
    state.metrics.kong.refresh(&state.snapshot.load());
    render(&state.prometheus)
}

/// Render every metric of `registry` in Prometheus' text format (gathered sorted by name).
pub fn render(registry: &Registry) -> String {
    let families = registry.gather();
    let mut buf = Vec::new();
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
///
/// A snapshot compiled by a reload starts with empty handles; the first request of each status class looks
/// its child up once in the `Vec` metrics, which hand back the same child for the same labels, so counts
/// carry on across reloads. Always pass the same [`Metrics`] (the process has one).
#[derive(Default)]
pub struct ServiceMetrics {
    latency: OnceLock<prometheus::Histogram>,
    requests: [OnceLock<prometheus::IntCounter>; 10],
}

impl ServiceMetrics {
    /// Record one answered request of the service labelled `service`.
    pub fn record(&self, metrics: &Metrics, service: &str, status: u16, seconds: f64) {
        self.count(metrics, service, status);
        self.latency
            .get_or_init(|| metrics.latency.with_label_values(&[service]))
            .observe(seconds);
    }

    /// Count one answered request of the service labelled `service` (no latency).
    pub fn count(&self, metrics: &Metrics, service: &str, status: u16) {
        let class = status_class(status);
        self.requests[class]
            .get_or_init(|| {
                metrics
                    .requests
                    .with_label_values(&[service, STATUS_CLASSES[class]])
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_live_on_the_given_registry() {
        let registry = Registry::new();
        let metrics = Metrics::new(&registry).unwrap();
        assert!(
            Metrics::new(&registry).is_err(),
            "registering twice on one registry is refused"
        );
        let svc = ServiceMetrics::default();
        svc.record(&metrics, "orders", 200, 0.002);
        svc.record(&metrics, "orders", 404, 0.001);
        // A reload's fresh handles count on the same series.
        ServiceMetrics::default().count(&metrics, "orders", 200);
        metrics.count_unmatched(404);
        metrics.no_route.inc();
        metrics.reloads.with_label_values(&["sighup", "ok"]).inc();
        metrics.config_loaded_at.set(1);
        let text = render(&registry);
        for line in [
            "gateway_http_requests_total{code=\"2xx\",service=\"orders\"} 2",
            "gateway_http_requests_total{code=\"404\",service=\"orders\"} 1",
            "gateway_http_requests_total{code=\"404\",service=\"-\"} 1",
            "gateway_http_request_duration_seconds_count{service=\"orders\"} 2",
            "gateway_no_route_total 1",
            "# HELP gateway_config_reloads_total Config reloads (SIGHUP and Admin API writes) by result",
            "gateway_config_reloads_total{result=\"ok\",source=\"sighup\"} 1",
            "gateway_config_loaded_timestamp_seconds 1",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        // Another registry (another process, another test) sees none of it.
        assert!(!render(&Registry::new()).contains("service=\"orders\""));
    }
}

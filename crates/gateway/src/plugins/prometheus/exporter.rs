//! Kong 3.x's Prometheus metrics (`kong/plugins/prometheus/exporter.lua`): names, labels and buckets, on
//! the gateway's one registry beside its own `gateway_*` metrics. Per-request series are counted by the
//! prometheus plugin's log handler; node-level gauges (`kong_node_info`, `kong_datastore_reachable`,
//! `kong_nginx_*`, `kong_memory_workers_lua_vms_bytes`, `kong_upstream_target_health`) are refreshed when
//! `/metrics` is scraped ([`KongMetrics::refresh`]).

use prometheus::{
    GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

use crate::metrics::register;
use crate::snapshot::Snapshot;

/// Kong's `KONG_LATENCY_BUCKETS` (ms).
pub const KONG_LATENCY_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0, 50.0, 75.0, 100.0, 200.0, 500.0, 750.0, 1000.0,
    3000.0, 6000.0,
];

/// Kong's `UPSTREAM_LATENCY_BUCKETS` (ms), also used for `kong_request_latency_ms`.
pub const UPSTREAM_LATENCY_BUCKETS: &[f64] = &[
    25.0, 50.0, 80.0, 100.0, 250.0, 400.0, 700.0, 1000.0, 2000.0, 5000.0, 10000.0, 30000.0, 60000.0,
];

/// Kong's upstream target states, in its order.
pub const TARGET_STATES: [&str; 4] = ["healthchecks_off", "healthy", "unhealthy", "dns_error"];

/// The Kong-named metrics.
pub struct KongMetrics {
    /// `kong_http_requests_total{service,route,code,source,workspace,consumer}`.
    pub requests: IntCounterVec,
    /// `kong_kong_latency_ms{service,route,workspace}`.
    pub kong_latency: HistogramVec,
    /// `kong_upstream_latency_ms{service,route,workspace}`.
    pub upstream_latency: HistogramVec,
    /// `kong_request_latency_ms{service,route,workspace}`.
    pub request_latency: HistogramVec,
    /// `kong_bandwidth_bytes{service,route,direction,workspace,consumer}`.
    pub bandwidth: IntCounterVec,
    /// `kong_upstream_target_health{upstream,target,address,state,subsystem}`.
    pub target_health: IntGaugeVec,
    /// `kong_nginx_requests_total{node_id,subsystem}`: requests answered (gauge, as Kong).
    pub nginx_requests: IntGaugeVec,
    /// `kong_nginx_connections_total{node_id,subsystem,state}`: only `state="total"` (requests), see docs.
    pub connections: IntGaugeVec,
    /// `kong_datastore_reachable`: 1 (DB-less: the config file is the datastore).
    pub datastore_reachable: IntGauge,
    /// `kong_node_info{node_id,version}`: 1.
    pub node_info: IntGaugeVec,
    /// `kong_memory_workers_lua_vms_bytes{node_id,pid,kong_subsystem}`: the process's resident memory.
    pub memory: GaugeVec,
    /// Requests answered since start (for the `nginx_*` gauges).
    pub total: std::sync::atomic::AtomicU64,
}

const SVC: &[&str] = &["service", "route", "workspace"];

impl KongMetrics {
    /// Creates the metrics and registers them on `registry`.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let histogram = |name: &str, help: &str, buckets: &[f64]| {
            register(
                registry,
                HistogramVec::new(
                    HistogramOpts::new(name, help).buckets(buckets.to_vec()),
                    SVC,
                )?,
            )
        };
        Ok(KongMetrics {
            requests: register(
                registry,
                IntCounterVec::new(
                    Opts::new("kong_http_requests_total", "HTTP status codes per consumer/service/route in Kong"),
                    &["service", "route", "code", "source", "workspace", "consumer"],
                )?,
            )?,
            kong_latency: histogram(
                "kong_kong_latency_ms",
                "Latency added by Kong and enabled plugins for each service/route in Kong",
                KONG_LATENCY_BUCKETS,
            )?,
            upstream_latency: histogram(
                "kong_upstream_latency_ms",
                "Latency added by upstream response for each service/route in Kong",
                UPSTREAM_LATENCY_BUCKETS,
            )?,
            request_latency: histogram(
                "kong_request_latency_ms",
                "Total latency incurred during requests for each service/route in Kong",
                UPSTREAM_LATENCY_BUCKETS,
            )?,
            bandwidth: register(
                registry,
                IntCounterVec::new(
                    Opts::new("kong_bandwidth_bytes", "Total bandwidth (ingress/egress) throughput in bytes"),
                    &["service", "route", "direction", "workspace", "consumer"],
                )?,
            )?,
            target_health: register(
                registry,
                IntGaugeVec::new(
                    Opts::new(
                        "kong_upstream_target_health",
                        "Health status of targets of upstream. States = healthchecks_off|healthy|unhealthy|dns_error, value is 1 when state is populated.",
                    ),
                    &["upstream", "target", "address", "state", "subsystem"],
                )?,
            )?,
            nginx_requests: register(
                registry,
                IntGaugeVec::new(
                    Opts::new("kong_nginx_requests_total", "Number of requests total"),
                    &["node_id", "subsystem"],
                )?,
            )?,
            connections: register(
                registry,
                IntGaugeVec::new(
                    Opts::new("kong_nginx_connections_total", "Number of connections by subsystem"),
                    &["node_id", "subsystem", "state"],
                )?,
            )?,
            datastore_reachable: register(
                registry,
                IntGauge::new("kong_datastore_reachable", "Datastore reachable from Kong, 0 is unreachable")?,
            )?,
            node_info: register(
                registry,
                IntGaugeVec::new(
                    Opts::new("kong_node_info", "Kong Node metadata information"),
                    &["node_id", "version"],
                )?,
            )?,
            memory: register(
                registry,
                GaugeVec::new(
                    Opts::new("kong_memory_workers_lua_vms_bytes", "Allocated bytes in worker Lua VM"),
                    &["node_id", "pid", "kong_subsystem"],
                )?,
            )?,
            total: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Refreshes the node-level gauges before a scrape; target health only when a prometheus plugin of
    /// `snap` has `upstream_health_metrics`.
    pub fn refresh(&self, snap: &Snapshot) {
        let node = crate::admin::node_id();
        let total = self.total.load(std::sync::atomic::Ordering::Relaxed) as i64;
        self.nginx_requests
            .with_label_values(&[&node, "http"])
            .set(total);
        self.connections
            .with_label_values(&[&node, "http", "total"])
            .set(total);
        self.datastore_reachable.set(1);
        self.node_info
            .with_label_values(&[&node, env!("CARGO_PKG_VERSION")])
            .set(1);
        if let Some(rss) = resident_bytes() {
            let pid = std::process::id().to_string();
            self.memory
                .with_label_values(&[&node, &pid, "http"])
                .set(rss as f64);
        }
        self.target_health.reset();
        if upstream_health_wanted(snap) {
            self.set_target_health(snap);
        }
    }

    fn set_target_health(&self, snap: &Snapshot) {
        use crate::balancer::status::{DNS_ERROR, HEALTHCHECKS_OFF};
        for b in &snap.upstreams {
            for h in b.target_health() {
                let Some(t) = b.targets.get(h.target) else {
                    continue;
                };
                let (_, addrs) = b.target_status(h.target);
                let set = |address: &str, state: &str| {
                    for s in TARGET_STATES {
                        let labels = [
                            b.upstream.name.as_str(),
                            t.entity.target.as_str(),
                            address,
                            s,
                            "http",
                        ];
                        self.target_health
                            .with_label_values(&labels)
                            .set(i64::from(s == state));
                    }
                };
                if h.health == DNS_ERROR || addrs.is_empty() {
                    set("", "dns_error");
                    continue;
                }
                for (addr, healthy) in addrs {
                    let state = match (h.health == HEALTHCHECKS_OFF, healthy) {
                        (true, _) => "healthchecks_off",
                        (false, true) => "healthy",
                        (false, false) => "unhealthy",
                    };
                    set(&addr.to_string(), state);
                }
            }
        }
    }
}

/// True when a prometheus plugin of the config has `upstream_health_metrics`.
fn upstream_health_wanted(snap: &Snapshot) -> bool {
    use gateway_config::plugins::PluginConfig;
    let c = &snap.config;
    c.plugins
        .iter()
        .chain(c.services.iter().flat_map(|s| s.plugins.iter()))
        .chain(c.services.iter().flat_map(|s| s.routes.iter()).chain(c.routes.iter()).flat_map(|r| r.plugins.iter()))
        .filter(|p| p.enabled)
        .any(|p| matches!(p.typed.as_ref().map(|t| &t.config), Some(PluginConfig::Prometheus(cfg)) if cfg.upstream_health_metrics))
}

/// The process's resident set size, from `/proc/self/statm`.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

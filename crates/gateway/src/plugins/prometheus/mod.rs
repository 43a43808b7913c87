//! Kong's `prometheus` plugin (priority 13, `kong/plugins/prometheus/handler.lua` and `exporter.lua`):
//! counts each request of a route it applies to in Kong 3.x's metrics ([`exporter`]), each family behind its
//! flag (`status_code_metrics`, `latency_metrics`, `bandwidth_metrics`; `per_consumer` fills the `consumer`
//! label with the consumer's username). Label values come from config names (service name or host, route
//! name or id, consumer username) and status codes only, never from paths, so cardinality stays bounded.
//! A request that matched no route is not counted, as in Kong. The metrics are served by the Admin API's
//! `/metrics` and by the `status_listen` listener. The schema is `gateway_config::plugins::prometheus`.

pub mod exporter;

use gateway_config::plugins::prometheus::PrometheusConfig;

use super::{Exchange, LogView, Phases, Plugin};

/// Kong's only workspace here.
const WORKSPACE: &str = "default";

/// One prometheus config, running.
pub struct Prometheus {
    cfg: PrometheusConfig,
}

impl Prometheus {
    /// The plugin for `cfg`.
    pub fn new(cfg: &PrometheusConfig) -> Self {
        Prometheus { cfg: *cfg }
    }
}

impl Plugin for Prometheus {
    fn name(&self) -> &'static str {
        "prometheus"
    }

    fn phases(&self) -> Phases {
        Phases::LOG
    }

    fn log(&self, entry: &LogView<'_>, ex: &Exchange) {
        let cfg = &self.cfg;
        if !(cfg.status_code_metrics || cfg.latency_metrics || cfg.bandwidth_metrics) {
            return;
        }
        let Some(runtime) = entry.route.and_then(|i| entry.snap.routes.get(i)) else {
            return;
        };
        let config = &entry.snap.config;
        let service = entry
            .service
            .and_then(|i| config.services.get(i))
            .map_or("", |s| s.name.as_deref().unwrap_or(&s.host));
        let route = runtime.label.as_str();
        let consumer = match (cfg.per_consumer, ex.caller.consumer) {
            (true, Some(i)) => config
                .consumers
                .get(i)
                .and_then(|c| c.username.as_deref())
                .unwrap_or(""),
            _ => "",
        };
        let kong = &entry.metrics.kong;
        if cfg.bandwidth_metrics {
            for (direction, bytes) in [
                ("ingress", entry.request_size),
                ("egress", entry.response_size),
            ] {
                if bytes > 0 {
                    kong.bandwidth
                        .with_label_values(&[service, route, direction, WORKSPACE, consumer])
                        .inc_by(bytes);
                }
            }
        }
        if cfg.status_code_metrics {
            let source = if entry.upstream_status.is_some() {
                "service"
            } else {
                "kong"
            };
            let code = entry.status.to_string();
            kong.requests
                .with_label_values(&[service, route, &code, source, WORKSPACE, consumer])
                .inc();
        }
        if cfg.latency_metrics {
            // The labels are the route's: its children are resolved once per snapshot.
            let latency = runtime
                .latency_metrics
                .get_or_init(|| exporter::RouteLatency::of(kong, &[service, route, WORKSPACE]));
            let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
            latency.request.observe(ms(entry.elapsed));
            if let Some(p) = entry.proxy_latency {
                latency.upstream.observe(ms(p));
            }
            latency.kong.observe(ms(entry.kong_latency));
        }
    }
}

#[cfg(test)]
mod tests;

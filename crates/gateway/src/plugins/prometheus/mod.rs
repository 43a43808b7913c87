//! Kong's `prometheus` plugin (priority 13, `kong/plugins/prometheus/handler.lua` and `exporter.lua`):
//! counts each request of a route it applies to in Kong 3.x's metrics ([`exporter`]), each family behind its
//! flag (`status_code_metrics`, `latency_metrics`, `bandwidth_metrics`; `per_consumer` fills the `consumer`
//! label with the consumer's username). Label values come from config names (service name or host, route
//! name or id, consumer username) and status codes only, never from paths, so cardinality stays bounded.
//! A request that matched no route is not counted, as in Kong. The metrics are served by the Admin API's
//! `/metrics` and by the `status_listen` listener. The schema is `gateway_config::plugins::prometheus`.

pub mod exporter;
pub mod route;

use gateway_config::plugins::prometheus::PrometheusConfig;

use super::{Exchange, LogView, Phases, Plugin};
use route::{Labels, RouteMetrics};

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
        // The route's children are resolved once per snapshot (and per consumer and status).
        let metrics = (runtime.prometheus).get_or_init(|| RouteMetrics::of(kong, service, route));
        if cfg.status_code_metrics || cfg.bandwidth_metrics {
            let labels = Labels {
                service,
                route,
                consumer,
                consumer_index: ex.caller.consumer.filter(|_| cfg.per_consumer),
                status: entry.status,
                source: match entry.upstream_status {
                    Some(_) => "service",
                    None => "kong",
                },
            };
            let bytes =
                (cfg.bandwidth_metrics).then_some((entry.request_size, entry.response_size));
            metrics.count(kong, &labels, cfg.status_code_metrics, bytes);
        }
        if cfg.latency_metrics {
            let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
            metrics.request.observe(ms(entry.elapsed));
            if let Some(p) = entry.proxy_latency {
                metrics.upstream.observe(ms(p));
            }
            metrics.kong.observe(ms(entry.kong_latency));
        }
    }
}

#[cfg(test)]
mod tests;

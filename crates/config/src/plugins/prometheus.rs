//! The `prometheus` plugin's typed config: Kong 3.x's fields and defaults (`kong/plugins/prometheus/
//! schema.lua`), from one `FIELDS` table. `ai_metrics` and `wasm_metrics` are accepted only at their default
//! (`false`): there are no AI proxy plugins and no Wasm filters here.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::{field, normalize, DefaultValue as D, Field, Kind};
use crate::error::FieldError;

/// The typed `prometheus` config.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PrometheusConfig {
    /// Fill the `consumer` label of `kong_http_requests_total` and `kong_bandwidth_bytes`.
    pub per_consumer: bool,
    /// Export `kong_http_requests_total`.
    pub status_code_metrics: bool,
    /// Accepted only `false` (not supported yet).
    pub ai_metrics: bool,
    /// Export `kong_kong_latency_ms`, `kong_upstream_latency_ms` and `kong_request_latency_ms`.
    pub latency_metrics: bool,
    /// Export `kong_bandwidth_bytes`.
    pub bandwidth_metrics: bool,
    /// Export `kong_upstream_target_health`.
    pub upstream_health_metrics: bool,
    /// Accepted only `false` (not supported yet).
    pub wasm_metrics: bool,
}

/// The schema, in Kong's order.
pub const FIELDS: &[Field] = &[
    field("per_consumer", Kind::Bool, D::Bool(false)),
    field("status_code_metrics", Kind::Bool, D::Bool(false)),
    field("ai_metrics", Kind::Bool, D::Bool(false)),
    field("latency_metrics", Kind::Bool, D::Bool(false)),
    field("bandwidth_metrics", Kind::Bool, D::Bool(false)),
    field("upstream_health_metrics", Kind::Bool, D::Bool(false)),
    field("wasm_metrics", Kind::Bool, D::Bool(false)),
];

impl PrometheusConfig {
    /// Parses and checks a raw `config` (every error collected, Kong's messages).
    pub fn from_value(value: &Value) -> Result<Self, Vec<FieldError>> {
        let map = normalize(FIELDS, value)?;
        let cfg: PrometheusConfig = serde_json::from_value(Value::Object(map))
            .map_err(|e| vec![FieldError::new("", e.to_string())])?;
        let mut errors = Vec::new();
        if cfg.ai_metrics {
            errors.push(FieldError::new(
                "ai_metrics",
                "not supported yet: there are no AI plugins here (only false, Kong's default)",
            ));
        }
        if cfg.wasm_metrics {
            errors.push(FieldError::new(
                "wasm_metrics",
                "not supported yet: there are no Wasm filters here (only false, Kong's default)",
            ));
        }
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(errors)
        }
    }

    /// The whole config with defaults, in schema order.
    pub fn to_value_with_defaults(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flags_default_to_false_and_ai_is_refused() {
        let c = PrometheusConfig::from_value(&json!({})).unwrap();
        assert!(!c.per_consumer && !c.status_code_metrics && !c.latency_metrics);
        assert!(!c.bandwidth_metrics && !c.upstream_health_metrics);
        let c = PrometheusConfig::from_value(&json!({"status_code_metrics": true})).unwrap();
        assert!(c.status_code_metrics);
        let e = PrometheusConfig::from_value(&json!({"ai_metrics": true})).unwrap_err();
        assert_eq!(e[0].path, "ai_metrics");
        assert!(e[0].message.starts_with("not supported yet"));
    }
}

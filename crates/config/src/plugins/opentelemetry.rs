//! The `opentelemetry` plugin's typed config: Kong 3.x's fields, defaults and messages
//! (`kong/plugins/opentelemetry/schema.lua`, `kong/observability/tracing/propagation/schema.lua`), from one
//! `FIELDS` table, with Kong's queue record ([`super::queue`], `max_batch_size` defaulting to 200).
//!
//! Read as Kong 3.x reads them: the `endpoint` shorthand (→ `traces_endpoint`), the deprecated
//! `batch_span_count` / `batch_flush_delay` (→ `queue.max_batch_size` / `queue.max_coalescing_delay` when
//! those are at their defaults) and `header_type` (→ `propagation`, when no `extract`, `inject` or `clear` is
//! set). Formats built: w3c, b3, b3-single, jaeger, ot; datadog, aws, gcp and instana are refused ("not
//! supported yet"), and `logs_endpoint` is accepted only `null`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::fields::{field, normalize, DefaultValue as D, Field, Kind};
use super::queue::{self, QueueConfig};
use crate::error::FieldError;

/// Kong's propagation formats (`kong/observability/tracing/propagation/utils.lua`).
const FORMATS: &[&str] = &[
    "w3c",
    "b3",
    "b3-single",
    "jaeger",
    "ot",
    "datadog",
    "aws",
    "gcp",
    "instana",
];
/// Kong's extractors: every format but b3-single (b3's extractor reads both).
const EXTRACTORS: &[&str] = &[
    "w3c", "b3", "jaeger", "ot", "datadog", "aws", "gcp", "instana",
];
/// Kong's injectors, and `preserve`.
const INJECTORS: &[&str] = &[
    "preserve",
    "w3c",
    "b3",
    "b3-single",
    "jaeger",
    "ot",
    "datadog",
    "aws",
    "gcp",
    "instana",
];
/// The formats built here.
pub const BUILT: &[&str] = &["w3c", "b3", "b3-single", "jaeger", "ot"];

/// The `propagation` record.
pub const PROPAGATION_FIELDS: &[Field] = &[
    field("extract", Kind::SetOf(EXTRACTORS), D::Null),
    field("clear", Kind::Strings, D::Null),
    field("inject", Kind::SetOf(INJECTORS), D::Null),
    field("default_format", Kind::OneOf(FORMATS), D::Str("w3c")),
];

/// The schema, in Kong's order.
pub const FIELDS: &[Field] = &[
    field("traces_endpoint", Kind::Str, D::Null),
    field("logs_endpoint", Kind::Str, D::Null),
    field("headers", Kind::Map, D::Null),
    field("resource_attributes", Kind::Map, D::Null),
    field("queue", Kind::Record(queue::FIELDS), D::Null),
    field("batch_span_count", Kind::Int, D::Null),
    field("batch_flush_delay", Kind::Int, D::Null),
    field("connect_timeout", Kind::Integer, D::Num(1000.0)),
    field("send_timeout", Kind::Integer, D::Num(5000.0)),
    field("read_timeout", Kind::Integer, D::Num(5000.0)),
    field("http_response_header_for_traceid", Kind::Str, D::Null),
    field(
        "header_type",
        Kind::OneOf(&[
            "preserve",
            "ignore",
            "b3",
            "b3-single",
            "w3c",
            "jaeger",
            "ot",
            "aws",
            "gcp",
            "datadog",
            "instana",
        ]),
        D::Str("preserve"),
    ),
    field("sampling_rate", Kind::Number, D::Null),
    field("propagation", Kind::Record(PROPAGATION_FIELDS), D::Null),
];

/// The typed `propagation` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Propagation {
    /// Extractors tried in order (`None`: no extraction).
    pub extract: Option<Vec<String>>,
    /// Request headers removed after extraction.
    pub clear: Option<Vec<String>>,
    /// Injectors (`preserve`: the extracted format, else `default_format`); `None`: no injection.
    pub inject: Option<Vec<String>>,
    /// The format `preserve` injects when nothing was extracted.
    pub default_format: String,
}

/// The typed `opentelemetry` config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenTelemetryConfig {
    /// Where spans are POSTed (OTLP/HTTP, protobuf).
    pub traces_endpoint: Option<String>,
    /// Accepted only `null` (not supported yet).
    pub logs_endpoint: Option<String>,
    /// Headers sent with each export.
    pub headers: Option<Map<String, Value>>,
    /// Attributes of the OTLP resource (over `service.name: kong` and the others).
    pub resource_attributes: Option<Map<String, Value>>,
    /// Batching, retries and the memory bound of the export.
    pub queue: QueueConfig,
    /// Deprecated: `queue.max_batch_size`.
    pub batch_span_count: Option<i64>,
    /// Deprecated: `queue.max_coalescing_delay`.
    pub batch_flush_delay: Option<i64>,
    /// Milliseconds to connect to the endpoint.
    pub connect_timeout: u64,
    /// Milliseconds to send an export.
    pub send_timeout: u64,
    /// Milliseconds to read the endpoint's answer.
    pub read_timeout: u64,
    /// A response header that carries the trace id.
    pub http_response_header_for_traceid: Option<String>,
    /// Deprecated: the propagation format (read into `propagation`).
    pub header_type: String,
    /// The probability a request without a sampled parent is traced (`None`: 1, kong.conf's default here).
    pub sampling_rate: Option<f64>,
    /// Extraction, injection and clearing of tracing headers (after `header_type` was read into it).
    pub propagation: Propagation,
}

/// The message for a feature not built.
fn not_built(what: &str) -> String {
    format!("not supported yet: {what} (formats built: w3c, b3, b3-single, jaeger, ot)")
}

/// Kong's timeout range (`typedefs.timeout`).
const MAX_TIMEOUT: u64 = (1 << 31) - 2;

impl OpenTelemetryConfig {
    /// Parses and checks a raw `config` (every error collected, Kong's messages).
    pub fn from_value(value: &Value) -> Result<Self, Vec<FieldError>> {
        let mut raw = value.clone();
        // Kong's shorthand: `endpoint` is `traces_endpoint`.
        if let Some(m) = raw.as_object_mut() {
            if let Some(e) = m.remove("endpoint") {
                if !e.is_null() {
                    m.insert("traces_endpoint".into(), e);
                }
            }
        }
        let batch_size_set = raw
            .get("queue")
            .and_then(|q| q.get("max_batch_size"))
            .is_some_and(|v| !v.is_null());
        let mut map = normalize(FIELDS, &raw)?;
        let mut errors = Vec::new();
        let mut queue = match map.get("queue") {
            Some(Value::Object(q)) => QueueConfig::from_map(q, "queue").unwrap_or_else(|e| {
                errors.extend(e);
                QueueConfig::default()
            }),
            _ => QueueConfig::default(),
        };
        if !batch_size_set {
            queue.max_batch_size = 200;
        }
        map.insert(
            "queue".into(),
            serde_json::to_value(&queue).unwrap_or(Value::Null),
        );
        let mut cfg: OpenTelemetryConfig = serde_json::from_value(Value::Object(map))
            .map_err(|e| vec![FieldError::new("", e.to_string())])?;
        if cfg.traces_endpoint.is_none() && cfg.logs_endpoint.is_none() {
            errors.push(FieldError::new(
                "",
                "at least one of these fields must be non-empty: 'config.traces_endpoint', 'config.logs_endpoint'",
            ));
        }
        for (name, url) in [
            ("traces_endpoint", &cfg.traces_endpoint),
            ("logs_endpoint", &cfg.logs_endpoint),
        ] {
            if let Some(message) = url.as_deref().and_then(super::http_log::url_error) {
                errors.push(FieldError::new(name, message));
            }
        }
        if cfg.logs_endpoint.is_some() {
            errors.push(FieldError::new(
                "logs_endpoint",
                "not supported yet: OpenTelemetry logs (only null, Kong's default)",
            ));
        }
        for (name, t) in [
            ("connect_timeout", cfg.connect_timeout),
            ("send_timeout", cfg.send_timeout),
            ("read_timeout", cfg.read_timeout),
        ] {
            if t > MAX_TIMEOUT {
                errors.push(FieldError::new(
                    name,
                    format!("value should be between 0 and {MAX_TIMEOUT}"),
                ));
            }
        }
        if cfg.sampling_rate.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
            errors.push(FieldError::new(
                "sampling_rate",
                "value should be between 0 and 1",
            ));
        }
        for (name, value) in cfg.headers.iter().flatten() {
            if let Some(message) = super::key_auth::header_name_error(name) {
                errors.push(FieldError::new(format!("headers.{name}"), message));
            }
            if value.as_str().is_none() {
                errors.push(FieldError::new(
                    format!("headers.{name}"),
                    "expected a string",
                ));
            }
        }
        for (name, value) in cfg.resource_attributes.iter().flatten() {
            match value.as_str() {
                Some("") => errors.push(FieldError::new(
                    "resource_attributes",
                    "length must be at least 1",
                )),
                Some(_) => {}
                None => errors.push(FieldError::new(
                    format!("resource_attributes.{name}"),
                    "expected a string",
                )),
            }
        }
        for (i, name) in cfg.propagation.clear.iter().flatten().enumerate() {
            if let Some(message) = super::key_auth::header_name_error(name) {
                errors.push(FieldError::new(format!("propagation.clear[{i}]"), message));
            }
        }
        if !BUILT.contains(&cfg.header_type.as_str())
            && !matches!(cfg.header_type.as_str(), "preserve" | "ignore")
        {
            errors.push(FieldError::new("header_type", not_built(&cfg.header_type)));
        }
        for (list, name) in [
            (&cfg.propagation.extract, "extract"),
            (&cfg.propagation.inject, "inject"),
        ] {
            for (i, f) in list.iter().flatten().enumerate() {
                if f != "preserve" && !BUILT.contains(&f.as_str()) {
                    errors.push(FieldError::new(
                        format!("propagation.{name}[{i}]"),
                        not_built(f),
                    ));
                }
            }
        }
        if !BUILT.contains(&cfg.propagation.default_format.as_str()) {
            errors.push(FieldError::new(
                "propagation.default_format",
                not_built(&cfg.propagation.default_format),
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        // Kong 3.x's `Queue.get_plugin_params`: the legacy fields fill the queue's when those are defaults.
        if let Some(n) = cfg.batch_span_count.filter(|n| *n >= 1) {
            if cfg.queue.max_batch_size == 200 {
                cfg.queue.max_batch_size = n as u64;
            }
        }
        if let Some(t) = cfg.batch_flush_delay {
            if cfg.queue.max_coalescing_delay == QueueConfig::default().max_coalescing_delay {
                cfg.queue.max_coalescing_delay = t as f64;
            }
        }
        Ok(cfg)
    }

    /// The propagation Kong 3.x uses (`propagation.get_plugin_params`): `propagation` as set when any of
    /// `extract`, `inject` or `clear` is set, else what `header_type` means. Extractors not built are left out.
    pub fn effective_propagation(&self) -> Propagation {
        let p = &self.propagation;
        if p.extract.is_some() || p.inject.is_some() || p.clear.is_some() {
            return p.clone();
        }
        let all: Vec<String> = ["b3", "w3c", "jaeger", "ot"].map(String::from).to_vec();
        let (extract, inject) = match self.header_type.as_str() {
            "preserve" => (Some(all), vec!["preserve".to_string()]),
            "ignore" => (None, vec![p.default_format.clone()]),
            other => (Some(all), vec!["preserve".to_string(), other.to_string()]),
        };
        Propagation {
            extract,
            clear: None,
            inject: Some(inject),
            default_format: p.default_format.clone(),
        }
    }

    /// The whole config with defaults (`null` for unset fields), in schema order.
    pub fn to_value_with_defaults(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(v: Value) -> Vec<(String, String)> {
        OpenTelemetryConfig::from_value(&v)
            .unwrap_err()
            .into_iter()
            .map(|e| (e.path, e.message))
            .collect()
    }

    #[test]
    fn defaults_and_the_shorthands() {
        let c = OpenTelemetryConfig::from_value(&json!({"endpoint": "http://otel:4318/v1/traces"}))
            .unwrap();
        assert_eq!(
            c.traces_endpoint.as_deref(),
            Some("http://otel:4318/v1/traces")
        );
        assert_eq!(c.queue.max_batch_size, 200);
        assert_eq!(
            (c.connect_timeout, c.send_timeout, c.read_timeout),
            (1000, 5000, 5000)
        );
        assert_eq!(c.header_type, "preserve");
        assert_eq!(c.propagation.default_format, "w3c");
        let p = c.effective_propagation();
        assert_eq!(p.inject.unwrap(), vec!["preserve"]);
        assert_eq!(p.extract.unwrap(), vec!["b3", "w3c", "jaeger", "ot"]);
        let c = OpenTelemetryConfig::from_value(&json!({
            "traces_endpoint": "http://otel/v1/traces", "batch_span_count": 7, "batch_flush_delay": 2,
            "header_type": "jaeger"
        }))
        .unwrap();
        assert_eq!(c.queue.max_batch_size, 7);
        assert_eq!(c.queue.max_coalescing_delay, 2.0);
        assert_eq!(
            c.effective_propagation().inject.unwrap(),
            vec!["preserve", "jaeger"]
        );
    }

    #[test]
    fn bad_input_is_refused_with_kongs_messages() {
        let e = errors(json!({"traces_endpoint": "not-a-url"}));
        assert_eq!(e[0].0, "traces_endpoint");
        assert_eq!(e[0].1, "missing host in url");
        let e = errors(json!({"traces_endpoint": "http://x", "header_type": "zipkin"}));
        assert_eq!(e[0].0, "header_type");
        assert!(
            e[0].1.starts_with("expected one of: preserve, ignore, b3"),
            "{e:?}"
        );
        let e = errors(json!({}));
        assert!(e[0]
            .1
            .starts_with("at least one of these fields must be non-empty"));
        let e = errors(json!({"traces_endpoint": "http://x", "sampling_rate": 2}));
        assert_eq!(
            e[0],
            (
                "sampling_rate".into(),
                "value should be between 0 and 1".into()
            )
        );
        let e =
            errors(json!({"traces_endpoint": "http://x", "propagation": {"inject": ["datadog"]}}));
        assert_eq!(e[0].0, "propagation.inject[0]");
        assert!(e[0].1.starts_with("not supported yet"));
        let e = errors(json!({"traces_endpoint": "http://x", "logs_endpoint": "http://x/logs"}));
        assert_eq!(e[0].0, "logs_endpoint");
        let e = errors(json!({"traces_endpoint": "http://x", "resource_attributes": {"foo": ""}}));
        assert_eq!(e[0].1, "length must be at least 1");
        let e = errors(json!({"traces_endpoint": "http://x", "queue": {"max_batch_size": -1}}));
        assert_eq!(e[0].0, "queue.max_batch_size");
    }
}

//! The `http-log` plugin's typed config: Kong's fields, defaults and checks (`kong/plugins/http-log/
//! schema.lua`, Kong 3.x, with the `queue` record of [`super::queue`]), from one `FIELDS` table.
//!
//! The deprecated `queue_size` and `flush_timeout` are read as Kong 3.x reads them (into
//! `queue.max_batch_size` and `queue.max_coalescing_delay` when those are at their defaults); `retry_count`
//! is accepted and does nothing, as in Kong 3.x. `custom_fields_by_lua` is accepted only unset.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::fields::{field, normalize, DefaultValue as D, Field, Kind};
use super::queue::{self, QueueConfig};
use crate::error::FieldError;

/// The typed `http-log` config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpLogConfig {
    /// Where the entries are sent (user info becomes a Basic `Authorization` header).
    pub http_endpoint: String,
    /// `POST`, `PUT` or `PATCH`.
    pub method: String,
    /// `application/json` or `application/json; charset=utf-8`.
    pub content_type: String,
    /// Milliseconds a call to the endpoint may take.
    pub timeout: f64,
    /// Milliseconds an idle connection to the endpoint is kept.
    pub keepalive: f64,
    /// Deprecated, no effect (Kong 3.x).
    pub retry_count: Option<u64>,
    /// Deprecated: `queue.max_batch_size`.
    pub queue_size: Option<u64>,
    /// Deprecated: `queue.max_coalescing_delay`.
    pub flush_timeout: Option<f64>,
    /// Extra headers sent to the endpoint.
    pub headers: Option<Map<String, Value>>,
    /// Batching, retries and the memory bound.
    pub queue: QueueConfig,
    /// Kong's Lua expressions for extra fields: only `null` (not supported yet).
    pub custom_fields_by_lua: Option<Map<String, Value>>,
}

/// The schema, in Kong's order.
pub const FIELDS: &[Field] = &[
    field("http_endpoint", Kind::Str, D::Required),
    field(
        "method",
        Kind::OneOf(&["POST", "PUT", "PATCH"]),
        D::Str("POST"),
    ),
    field(
        "content_type",
        Kind::OneOf(&["application/json", "application/json; charset=utf-8"]),
        D::Str("application/json"),
    ),
    field("timeout", Kind::Number, D::Num(10000.0)),
    field("keepalive", Kind::Number, D::Num(60000.0)),
    field("retry_count", Kind::Integer, D::Null),
    field("queue_size", Kind::Integer, D::Null),
    field("flush_timeout", Kind::Number, D::Null),
    field("headers", Kind::Map, D::Null),
    field("queue", Kind::Record(queue::FIELDS), D::Null),
    field("custom_fields_by_lua", Kind::Map, D::Null),
];

/// Kong's `typedefs.url` check (`missing host in url`, `missing scheme in url`), for http and https.
pub fn url_error(s: &str) -> Option<String> {
    match url::Url::parse(s) {
        Ok(u) if u.scheme() != "http" && u.scheme() != "https" => {
            Some("unsupported scheme in url (http, https)".into())
        }
        Ok(u) if !u.has_host() || u.host_str() == Some("") => Some("missing host in url".into()),
        Ok(_) => None,
        Err(url::ParseError::RelativeUrlWithoutBase) => Some("missing host in url".into()),
        Err(e) => Some(format!("could not parse url. {e}")),
    }
}

impl HttpLogConfig {
    /// Parses and checks a raw `config` (every error collected, Kong's messages).
    pub fn from_value(value: &Value) -> Result<Self, Vec<FieldError>> {
        let mut map = normalize(FIELDS, value)?;
        let mut errors = Vec::new();
        let queue = match map.get("queue") {
            Some(Value::Object(q)) => match QueueConfig::from_map(q, "queue") {
                Ok(q) => q,
                Err(e) => {
                    errors.extend(e);
                    QueueConfig::default()
                }
            },
            _ => QueueConfig::default(),
        };
        map.insert(
            "queue".into(),
            serde_json::to_value(&queue).unwrap_or(Value::Null),
        );
        let mut cfg: HttpLogConfig = serde_json::from_value(Value::Object(map))
            .map_err(|e| vec![FieldError::new("", e.to_string())])?;
        if let Some(message) = url_error(&cfg.http_endpoint) {
            errors.push(FieldError::new("http_endpoint", message));
        }
        let userinfo = url::Url::parse(&cfg.http_endpoint)
            .is_ok_and(|u| !u.username().is_empty() || u.password().is_some());
        for (name, _) in cfg.headers.iter().flatten() {
            let lower = name.to_ascii_lowercase();
            let refused = match lower.as_str() {
                "host" => Some("cannot contain 'Host' header"),
                "content-length" => Some("cannot contain 'Content-Length' header"),
                "content-type" => Some("cannot contain 'Content-Type' header"),
                _ => None,
            };
            if let Some(message) = refused {
                errors.push(FieldError::new(format!("headers.{name}"), message));
            } else if let Some(message) = super::key_auth::header_name_error(name) {
                errors.push(FieldError::new(format!("headers.{name}"), message));
            }
            if lower == "authorization" && userinfo {
                errors.push(FieldError::new(
                    "",
                    "specifying both an 'Authorization' header and user info in 'http_endpoint' is not allowed",
                ));
            }
        }
        if cfg.custom_fields_by_lua.is_some() {
            errors.push(FieldError::new(
                "custom_fields_by_lua",
                super::file_log::LUA_NOT_SUPPORTED,
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        // Kong 3.x's `Queue.get_plugin_params`: the legacy fields fill the queue's when those are defaults.
        let defaults = QueueConfig::default();
        if let Some(n) = cfg.queue_size.filter(|n| *n >= 1) {
            if cfg.queue.max_batch_size == defaults.max_batch_size {
                cfg.queue.max_batch_size = n;
            }
        }
        if let Some(t) = cfg.flush_timeout {
            if cfg.queue.max_coalescing_delay == defaults.max_coalescing_delay {
                cfg.queue.max_coalescing_delay = t;
            }
        }
        Ok(cfg)
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
        HttpLogConfig::from_value(&v)
            .unwrap_err()
            .into_iter()
            .map(|e| (e.path, e.message))
            .collect()
    }

    #[test]
    fn defaults_are_kongs() {
        let c = HttpLogConfig::from_value(&json!({"http_endpoint": "http://logs:9000/x"})).unwrap();
        assert_eq!(
            (c.method.as_str(), c.timeout, c.keepalive),
            ("POST", 10000.0, 60000.0)
        );
        assert_eq!(c.content_type, "application/json");
        assert_eq!(c.queue, QueueConfig::default());
        let v = c.to_value_with_defaults();
        assert_eq!(v["queue"]["max_entries"], json!(10000));
        assert_eq!(v["queue"]["max_bytes"], Value::Null);
        let legacy = HttpLogConfig::from_value(
            &json!({"http_endpoint": "http://l/", "queue_size": 20, "flush_timeout": 3, "retry_count": 5}),
        )
        .unwrap();
        assert_eq!(legacy.queue.max_batch_size, 20);
        assert_eq!(legacy.queue.max_coalescing_delay, 3.0);
    }

    #[test]
    fn bad_input_gets_kongs_messages() {
        assert_eq!(
            errors(json!({"http_endpoint": "not-a-url"})),
            vec![("http_endpoint".into(), "missing host in url".into())]
        );
        assert_eq!(
            errors(json!({"http_endpoint": "http://l/", "queue": {"max_batch_size": -5}})),
            vec![(
                "queue.max_batch_size".into(),
                "value should be between 1 and 1000000".into()
            )]
        );
        assert_eq!(
            errors(json!({"http_endpoint": "http://l/", "method": "GET"})),
            vec![("method".into(), "expected one of: POST, PUT, PATCH".into())]
        );
        assert_eq!(
            errors(json!({"http_endpoint": "http://l/", "headers": {"Host": "x"}})),
            vec![("headers.Host".into(), "cannot contain 'Host' header".into())]
        );
        assert_eq!(
            errors(json!({"http_endpoint": "http://u:p@l/", "headers": {"authorization": "x"}})),
            vec![(
                "".into(),
                "specifying both an 'Authorization' header and user info in 'http_endpoint' is not allowed".into()
            )]
        );
        assert_eq!(
            errors(
                json!({"http_endpoint": "http://l/", "custom_fields_by_lua": {"a": "return 1"}})
            ),
            vec![(
                "custom_fields_by_lua".into(),
                super::super::file_log::LUA_NOT_SUPPORTED.into()
            )]
        );
    }
}

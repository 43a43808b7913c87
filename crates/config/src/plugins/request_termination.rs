//! The `request-termination` plugin's typed config: Kong's fields, defaults and checks
//! (`kong/plugins/request-termination/schema.lua`), from one `FIELDS` table.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::{field, normalize, DefaultValue as D, Field, Kind};
use crate::error::FieldError;

/// The typed `request-termination` config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestTerminationConfig {
    /// The status of the answer (100–599).
    pub status_code: u16,
    /// The `message` of the default JSON answer.
    pub message: Option<String>,
    /// The `Content-Type` of `body`.
    pub content_type: Option<String>,
    /// A raw body to answer with.
    pub body: Option<String>,
    /// Answer with a copy of the request.
    pub echo: bool,
    /// Terminate only when this header or query argument is present.
    pub trigger: Option<String>,
}

/// The schema, in Kong's order.
pub const FIELDS: &[Field] = &[
    field("status_code", Kind::Integer, D::Num(503.0)),
    field("message", Kind::Str, D::Null),
    field("content_type", Kind::Str, D::Null),
    field("body", Kind::Str, D::Null),
    field("echo", Kind::Bool, D::Bool(false)),
    field("trigger", Kind::Str, D::Null),
];

/// Kong's `between = { 100, 599 }` message.
pub const STATUS_RANGE: &str = "value should be between 100 and 599";

/// Kong's `typedefs.header_name` check (`kong.tools.http.validate_header_name`): `None` when `name` is valid.
pub fn header_name_error(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("no header name provided".into());
    }
    let ok = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if name.bytes().all(ok) {
        None
    } else {
        Some(format!(
            "bad header name '{name}', allowed characters are A-Z, a-z, 0-9, '_', and '-'"
        ))
    }
}

impl RequestTerminationConfig {
    /// Parses and checks a raw `config` (every error collected, Kong's messages).
    pub fn from_value(value: &Value) -> Result<Self, Vec<FieldError>> {
        let mut map = normalize(FIELDS, value)?;
        let mut errors = Vec::new();
        let status = map["status_code"].as_u64().unwrap_or(0);
        if !(100..=599).contains(&status) {
            errors.push(FieldError::new("status_code", STATUS_RANGE));
            map.insert("status_code".into(), Value::from(503));
        }
        let cfg: RequestTerminationConfig = serde_json::from_value(Value::Object(map))
            .map_err(|e| vec![FieldError::new("", e.to_string())])?;
        if let Some(e) = cfg.trigger.as_deref().and_then(header_name_error) {
            errors.push(FieldError::new("trigger", e));
        }
        let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
        let (message, content_type, body) = (
            present(&cfg.message),
            present(&cfg.content_type),
            present(&cfg.body),
        );
        // Kong's custom_validator: the first failing rule only.
        let entity = if message && (content_type || body) {
            Some("message cannot be used with content_type or body")
        } else if content_type && !body {
            Some("content_type requires a body")
        } else if cfg.echo && (content_type || body) {
            Some("echo cannot be used with content_type and body")
        } else {
            None
        };
        if let Some(e) = entity {
            errors.push(FieldError::new("", e));
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

    fn errors(v: Value) -> Vec<(String, String)> {
        RequestTerminationConfig::from_value(&v)
            .unwrap_err()
            .into_iter()
            .map(|e| (e.path, e.message))
            .collect()
    }

    #[test]
    fn defaults_are_kongs() {
        let c = RequestTerminationConfig::from_value(&json!({})).unwrap();
        assert_eq!(c.status_code, 503);
        assert!(!c.echo && c.message.is_none() && c.trigger.is_none());
        let v = c.to_value_with_defaults();
        assert_eq!(v["status_code"], json!(503));
        assert_eq!(v["body"], Value::Null);
        assert!(RequestTerminationConfig::from_value(&json!({"message": "Not found"})).is_ok());
    }

    #[test]
    fn kongs_schema_messages() {
        // spec/03-plugins/14-request-termination/01-schema_spec.lua
        let one = |p: &str, m: &str| vec![(p.to_owned(), m.to_owned())];
        assert_eq!(
            errors(json!({"status_code": "abcd"})),
            one("status_code", "expected an integer")
        );
        assert_eq!(
            errors(json!({"status_code": 99})),
            one("status_code", STATUS_RANGE)
        );
        assert_eq!(
            errors(json!({"status_code": 600})),
            one("status_code", STATUS_RANGE)
        );
        let mixed = "message cannot be used with content_type or body";
        assert_eq!(errors(json!({"message": "e", "body": "t"})), one("", mixed));
        assert_eq!(
            errors(json!({"message": "e", "content_type": "text/html", "body": "t"})),
            one("", mixed)
        );
        assert_eq!(
            errors(json!({"message": "e", "content_type": "text/html"})),
            one("", mixed)
        );
        assert_eq!(
            errors(json!({"content_type": "text/html"})),
            one("", "content_type requires a body")
        );
        assert_eq!(
            errors(json!({"echo": true, "content_type": "text/html", "body": "<b/>"})),
            one("", "echo cannot be used with content_type and body")
        );
        assert_eq!(
            errors(json!({"trigger": "a b"})),
            one(
                "trigger",
                "bad header name 'a b', allowed characters are A-Z, a-z, 0-9, '_', and '-'"
            )
        );
    }
}

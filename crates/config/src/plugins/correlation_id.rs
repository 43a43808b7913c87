//! The `correlation-id` plugin's typed config: Kong's fields and defaults
//! (`kong/plugins/correlation-id/schema.lua`), from one `FIELDS` table.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::{field, normalize, DefaultValue as D, Field, Kind};
use super::request_termination::header_name_error;
use crate::error::FieldError;

/// Kong's generators.
pub const GENERATORS: &[&str] = &["uuid", "uuid#counter", "tracker"];

/// The typed `correlation-id` config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrelationIdConfig {
    /// The header carrying the id.
    pub header_name: String,
    /// `uuid`, `uuid#counter` or `tracker`.
    pub generator: String,
    /// Set the header on the response to the client too.
    pub echo_downstream: bool,
}

/// The schema, in Kong's order.
pub const FIELDS: &[Field] = &[
    field("header_name", Kind::Str, D::Str("Kong-Request-ID")),
    field("generator", Kind::OneOf(GENERATORS), D::Str("uuid#counter")),
    field("echo_downstream", Kind::Bool, D::Bool(false)),
];

impl CorrelationIdConfig {
    /// Parses and checks a raw `config` (every error collected, Kong's messages). `header_name` must be a
    /// valid header name (Kong's `typedefs.header_name` message; Kong's schema takes any string).
    pub fn from_value(value: &Value) -> Result<Self, Vec<FieldError>> {
        let map = normalize(FIELDS, value)?;
        let cfg: CorrelationIdConfig = serde_json::from_value(Value::Object(map))
            .map_err(|e| vec![FieldError::new("", e.to_string())])?;
        match header_name_error(&cfg.header_name) {
            Some(e) => Err(vec![FieldError::new("header_name", e)]),
            None => Ok(cfg),
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
    fn defaults_and_errors_are_kongs() {
        let c = CorrelationIdConfig::from_value(&json!({})).unwrap();
        assert_eq!(
            (
                c.header_name.as_str(),
                c.generator.as_str(),
                c.echo_downstream
            ),
            ("Kong-Request-ID", "uuid#counter", false)
        );
        let e = CorrelationIdConfig::from_value(&json!({"generator": "ulid"})).unwrap_err();
        assert_eq!(e[0].path, "generator");
        assert_eq!(e[0].message, "expected one of: uuid, uuid#counter, tracker");
        let e = CorrelationIdConfig::from_value(&json!({"header_name": "X Id"})).unwrap_err();
        assert_eq!(e[0].path, "header_name");
        assert!(e[0].message.starts_with("bad header name 'X Id'"));
    }
}

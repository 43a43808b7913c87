//! The `request-size-limiting` plugin's typed config: Kong's fields and defaults
//! (`kong/plugins/request-size-limiting/schema.lua`), from one `FIELDS` table.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::{field, normalize, DefaultValue as D, Field, Kind};
use crate::error::FieldError;

/// Kong's `size_units`, in its order (the first is the default).
pub const SIZE_UNITS: &[&str] = &["megabytes", "kilobytes", "bytes"];

/// The typed `request-size-limiting` config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestSizeLimitingConfig {
    /// The largest body allowed, in `size_unit`s.
    pub allowed_payload_size: u64,
    /// `megabytes` (2^20 bytes), `kilobytes` (2^10) or `bytes`.
    pub size_unit: String,
    /// Refuse a request without a valid `Content-Length` (unless its body is chunked).
    pub require_content_length: bool,
}

/// The schema, in Kong's order.
pub const FIELDS: &[Field] = &[
    field("allowed_payload_size", Kind::Integer, D::Num(128.0)),
    field("size_unit", Kind::OneOf(SIZE_UNITS), D::Str("megabytes")),
    field("require_content_length", Kind::Bool, D::Bool(false)),
];

impl RequestSizeLimitingConfig {
    /// Parses and checks a raw `config` (every error collected, Kong's messages).
    pub fn from_value(value: &Value) -> Result<Self, Vec<FieldError>> {
        let map = normalize(FIELDS, value)?;
        serde_json::from_value(Value::Object(map))
            .map_err(|e| vec![FieldError::new("", e.to_string())])
    }

    /// The bound in bytes (Kong's `unit_multiplication_factor`).
    pub fn allowed_bytes(&self) -> u64 {
        let factor = match self.size_unit.as_str() {
            "bytes" => 1,
            "kilobytes" => 1024,
            _ => 1_048_576,
        };
        self.allowed_payload_size.saturating_mul(factor)
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
    fn defaults_units_and_errors_are_kongs() {
        let c = RequestSizeLimitingConfig::from_value(&json!({})).unwrap();
        assert_eq!(
            (c.allowed_payload_size, c.size_unit.as_str()),
            (128, "megabytes")
        );
        assert!(!c.require_content_length);
        assert_eq!(c.allowed_bytes(), 128 * 1_048_576);
        let k = json!({"allowed_payload_size": 3, "size_unit": "kilobytes"});
        assert_eq!(
            RequestSizeLimitingConfig::from_value(&k)
                .unwrap()
                .allowed_bytes(),
            3072
        );
        let b = json!({"allowed_payload_size": 3, "size_unit": "bytes"});
        assert_eq!(
            RequestSizeLimitingConfig::from_value(&b)
                .unwrap()
                .allowed_bytes(),
            3
        );
        let e = RequestSizeLimitingConfig::from_value(
            &json!({"size_unit": "gigabytes", "allowed_payload_size": "x"}),
        )
        .unwrap_err();
        let paths: Vec<(&str, &str)> = e
            .iter()
            .map(|e| (e.path.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            paths,
            vec![
                ("allowed_payload_size", "expected an integer"),
                ("size_unit", "expected one of: megabytes, kilobytes, bytes"),
            ]
        );
    }
}

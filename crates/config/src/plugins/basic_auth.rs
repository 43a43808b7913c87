//! The `basic-auth` plugin's typed config: Kong's fields and defaults (`kong/plugins/basic-auth/schema.lua`,
//! Kong 3.10), from one `FIELDS` table. Every field is supported.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::{field, normalize, DefaultValue as D, Field, Kind};
use crate::error::FieldError;

/// The typed `basic-auth` config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BasicAuthConfig {
    /// The consumer (id or username) a request without valid credentials runs as (Kong's logical OR).
    pub anonymous: Option<String>,
    /// Remove the `Authorization` (and `Proxy-Authorization`) header from the request sent upstream.
    pub hide_credentials: bool,
    /// The realm of the `WWW-Authenticate: Basic realm="..."` challenge.
    pub realm: String,
}

/// The schema, in Kong's order.
pub const FIELDS: &[Field] = &[
    field("anonymous", Kind::Str, D::Null),
    field("hide_credentials", Kind::Bool, D::Bool(false)),
    field("realm", Kind::Str, D::Str("service")),
];

impl BasicAuthConfig {
    /// Parses and checks a raw `config` (every error collected, Kong's messages).
    pub fn from_value(value: &Value) -> Result<Self, Vec<FieldError>> {
        let map = normalize(FIELDS, value)?;
        serde_json::from_value(Value::Object(map))
            .map_err(|e| vec![FieldError::new("", e.to_string())])
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

    #[test]
    fn defaults_and_errors_are_kongs() {
        let c = BasicAuthConfig::from_value(&json!({})).unwrap();
        assert_eq!(c.realm, "service");
        assert!(!c.hide_credentials && c.anonymous.is_none());
        let e = BasicAuthConfig::from_value(&json!({"realm": 1, "x": 1})).unwrap_err();
        let e: Vec<_> = e.into_iter().map(|e| (e.path, e.message)).collect();
        assert_eq!(
            e,
            [
                ("x".to_string(), "unknown field".to_string()),
                ("realm".to_string(), "expected a string".to_string())
            ]
        );
    }
}

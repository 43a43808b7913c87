//! The `key-auth` plugin's typed config: Kong's fields, defaults and checks (`kong/plugins/key-auth/
//! schema.lua`, Kong 3.10), from one `FIELDS` table.
//!
//! Refused at load, not supported yet: `hide_credentials: true` together with `key_in_body: true` (the
//! gateway does not rewrite request bodies; Kong re-encodes the body without the key).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::{field, normalize, DefaultValue as D, Field, Kind};
use crate::error::FieldError;

/// The typed `key-auth` config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyAuthConfig {
    /// The names a key is looked for under, in order (headers, query arguments, body fields).
    pub key_names: Vec<String>,
    /// Remove the key from the request sent upstream.
    pub hide_credentials: bool,
    /// The consumer (id or username) a request without a valid key runs as (Kong's logical OR).
    pub anonymous: Option<String>,
    /// Look in the request headers.
    pub key_in_header: bool,
    /// Look in the query string.
    pub key_in_query: bool,
    /// Look in a form or JSON body.
    pub key_in_body: bool,
    /// Authenticate `OPTIONS` requests too (`false`: they pass unauthenticated).
    pub run_on_preflight: bool,
    /// The `realm` of the `WWW-Authenticate: Key realm="..."` challenge.
    pub realm: Option<String>,
}

/// The schema, in Kong's order.
pub const FIELDS: &[Field] = &[
    field("key_names", Kind::Strings, D::List(&["apikey"])),
    field("hide_credentials", Kind::Bool, D::Bool(false)),
    field("anonymous", Kind::Str, D::Null),
    field("key_in_header", Kind::Bool, D::Bool(true)),
    field("key_in_query", Kind::Bool, D::Bool(true)),
    field("key_in_body", Kind::Bool, D::Bool(false)),
    field("run_on_preflight", Kind::Bool, D::Bool(true)),
    field("realm", Kind::Str, D::Null),
];

/// Kong's check of a header name (`typedefs.header_name`): letters, digits, `_` and `-`.
pub fn header_name_error(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && (name.bytes()).all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    (!ok).then(|| {
        format!("bad header name '{name}', allowed characters are A-Z, a-z, 0-9, '_', and '-'")
    })
}

impl KeyAuthConfig {
    /// Parses and checks a raw `config` (every error collected, Kong's messages).
    pub fn from_value(value: &Value) -> Result<Self, Vec<FieldError>> {
        let map = normalize(FIELDS, value)?;
        let cfg: KeyAuthConfig = serde_json::from_value(Value::Object(map))
            .map_err(|e| vec![FieldError::new("", e.to_string())])?;
        let mut errors = Vec::new();
        for (i, name) in cfg.key_names.iter().enumerate() {
            if let Some(message) = header_name_error(name) {
                errors.push(FieldError::new(format!("key_names[{i}]"), message));
            }
        }
        if cfg.hide_credentials && cfg.key_in_body {
            errors.push(FieldError::new(
                "hide_credentials",
                "not supported yet together with key_in_body (the gateway does not rewrite request bodies)",
            ));
        }
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(errors)
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
        let e = KeyAuthConfig::from_value(&v).unwrap_err();
        e.into_iter().map(|e| (e.path, e.message)).collect()
    }

    #[test]
    fn defaults_are_kongs() {
        let c = KeyAuthConfig::from_value(&json!({})).unwrap();
        assert_eq!(c.key_names, ["apikey"]);
        assert!(c.key_in_header && c.key_in_query && !c.key_in_body);
        assert!(c.run_on_preflight && !c.hide_credentials);
        assert_eq!((c.anonymous, c.realm), (None, None));
        let v = KeyAuthConfig::from_value(&json!({}))
            .unwrap()
            .to_value_with_defaults();
        assert_eq!(v["realm"], Value::Null);
        assert_eq!(v["key_names"], json!(["apikey"]));
    }

    #[test]
    fn bad_values_are_refused() {
        assert_eq!(
            errors(json!({"key_names": ["ok_name", "bad name"]})),
            [(
                "key_names[1]".to_string(),
                "bad header name 'bad name', allowed characters are A-Z, a-z, 0-9, '_', and '-'"
                    .to_string()
            )]
        );
        assert_eq!(
            errors(json!({"hide_credentials": true, "key_in_body": true})),
            [(
                "hide_credentials".to_string(),
                "not supported yet together with key_in_body (the gateway does not rewrite request bodies)".to_string()
            )]
        );
        assert_eq!(
            errors(json!({"run_on_preflight": "no"})),
            [(
                "run_on_preflight".to_string(),
                "expected a boolean".to_string()
            )]
        );
        let ok = KeyAuthConfig::from_value(&json!({"hide_credentials": true, "realm": "r"}));
        assert_eq!(ok.unwrap().realm.as_deref(), Some("r"));
    }
}

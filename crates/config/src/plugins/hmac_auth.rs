//! The `hmac-auth` plugin's typed config: Kong's fields, defaults and checks (`kong/plugins/hmac-auth/
//! schema.lua`), from one `FIELDS` table. Every field is built; the credentials are `hmacauth_credentials`
//! (`crate::credentials::hmac_auth`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::{field, normalize, DefaultValue as D, Field, Kind};
use crate::error::FieldError;

/// Kong's `ALGORITHMS`: the digests a signature may use (and the default of `algorithms`).
pub const ALGORITHMS: &[&str] = &["hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"];

/// The typed `hmac-auth` config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HmacAuthConfig {
    /// Remove the `Authorization` (or `Proxy-Authorization`) header the signature came in from the request
    /// sent upstream.
    pub hide_credentials: bool,
    /// How far (seconds) the request's `X-Date` or `Date` may be from the gateway's clock.
    pub clock_skew: f64,
    /// The consumer (id or username) a request without a valid signature runs as (Kong's logical OR).
    pub anonymous: Option<String>,
    /// Check the request body against its `Digest: SHA-256=<base64>` header.
    pub validate_request_body: bool,
    /// Headers every signature must cover.
    pub enforce_headers: Vec<String>,
    /// The algorithms a signature may use.
    pub algorithms: Vec<String>,
    /// The `realm` of the `WWW-Authenticate: hmac realm="..."` challenge.
    pub realm: Option<String>,
}

/// The schema, in Kong's order.
pub const FIELDS: &[Field] = &[
    field("hide_credentials", Kind::Bool, D::Bool(false)),
    field("clock_skew", Kind::Positive, D::Num(300.0)),
    field("anonymous", Kind::Str, D::Null),
    field("validate_request_body", Kind::Bool, D::Bool(false)),
    field("enforce_headers", Kind::Strings, D::List(&[])),
    field("algorithms", Kind::Strings, D::List(ALGORITHMS)),
    field("realm", Kind::Str, D::Null),
];

impl HmacAuthConfig {
    /// Parses and checks a raw `config` (every error collected, Kong's messages).
    pub fn from_value(value: &Value) -> Result<Self, Vec<FieldError>> {
        let map = normalize(FIELDS, value)?;
        let cfg: HmacAuthConfig = serde_json::from_value(Value::Object(map))
            .map_err(|e| vec![FieldError::new("", e.to_string())])?;
        let errors: Vec<FieldError> = (cfg.algorithms.iter().enumerate())
            .filter(|(_, a)| !ALGORITHMS.contains(&a.as_str()))
            .map(|(i, _)| {
                let message = format!("expected one of: {}", ALGORITHMS.join(", "));
                FieldError::new(format!("algorithms[{i}]"), message)
            })
            .collect();
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
        let e = HmacAuthConfig::from_value(&v).unwrap_err();
        e.into_iter().map(|e| (e.path, e.message)).collect()
    }

    #[test]
    fn defaults_are_kongs() {
        let c = HmacAuthConfig::from_value(&json!({})).unwrap();
        assert!(!c.hide_credentials && !c.validate_request_body);
        assert_eq!(c.clock_skew, 300.0);
        assert!(c.anonymous.is_none() && c.realm.is_none() && c.enforce_headers.is_empty());
        assert_eq!(c.algorithms, ALGORITHMS);
    }

    #[test]
    fn bad_values_are_refused_with_kongs_messages() {
        assert_eq!(
            errors(json!({"clock_skew": 0})),
            [("clock_skew".into(), "value must be greater than 0".into())]
        );
        assert_eq!(
            errors(json!({"algorithms": ["hmac-sha256", "hmac-md5"]})),
            [(
                "algorithms[1]".into(),
                "expected one of: hmac-sha1, hmac-sha256, hmac-sha384, hmac-sha512".into()
            )]
        );
        assert_eq!(
            errors(json!({"enforce_headers": "date", "nope": 1})),
            [
                ("nope".into(), "unknown field".into()),
                ("enforce_headers".into(), "expected an array".into())
            ]
        );
    }
}

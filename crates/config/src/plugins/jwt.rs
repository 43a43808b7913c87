//! The `jwt` plugin's typed config: Kong's fields, defaults and checks (`kong/plugins/jwt/schema.lua`), from
//! one `FIELDS` table. Every field is built; the credentials are `jwt_secrets` (`crate::credentials::jwt`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::{field, normalize, DefaultValue as D, Field, Kind};
use crate::error::FieldError;

/// Kong's `between = { 0, 31536000 }` for `maximum_expiration` (365 days).
pub const MAXIMUM_EXPIRATION_LIMIT: f64 = 31_536_000.0;

/// A registered claim the plugin can verify (`claims_to_verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Claim {
    /// `exp`: the token is refused at or after it ("token expired").
    Exp,
    /// `nbf`: the token is refused before it ("token not valid yet").
    Nbf,
}

impl Claim {
    /// The claim's name in a token.
    pub fn as_str(self) -> &'static str {
        match self {
            Claim::Exp => "exp",
            Claim::Nbf => "nbf",
        }
    }
}

/// The typed `jwt` config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JwtConfig {
    /// Query arguments a token is read from.
    pub uri_param_names: Vec<String>,
    /// Cookies a token is read from.
    pub cookie_names: Vec<String>,
    /// The claim (else header field) naming the `jwt_secrets` key.
    pub key_claim_name: String,
    /// HMAC secrets are base64(url)-encoded: the token is signed with the decoded bytes.
    pub secret_is_base64: bool,
    /// Registered claims to verify, in the given order.
    pub claims_to_verify: Option<Vec<Claim>>,
    /// Consumer (id or username) a request without a valid token runs as.
    pub anonymous: Option<String>,
    /// Authenticate `OPTIONS` requests too (else they pass).
    pub run_on_preflight: bool,
    /// The longest lifetime (`exp` - now, seconds) a token may have; 0: no limit.
    pub maximum_expiration: f64,
    /// Headers a `Bearer` token is read from.
    pub header_names: Vec<String>,
    /// The `realm` of the `WWW-Authenticate` challenge.
    pub realm: Option<String>,
}

/// The schema, in Kong's order.
pub const FIELDS: &[Field] = &[
    field("uri_param_names", Kind::Strings, D::List(&["jwt"])),
    field("cookie_names", Kind::Strings, D::List(&[])),
    field("key_claim_name", Kind::Str, D::Str("iss")),
    field("secret_is_base64", Kind::Bool, D::Bool(false)),
    field("claims_to_verify", Kind::SetOf(&["exp", "nbf"]), D::Null),
    field("anonymous", Kind::Str, D::Null),
    field("run_on_preflight", Kind::Bool, D::Bool(true)),
    field("maximum_expiration", Kind::Signed, D::Num(0.0)),
    field("header_names", Kind::Strings, D::List(&["authorization"])),
    field("realm", Kind::Str, D::Null),
];

/// Kong's entity-level message when `maximum_expiration` > 0 and `claims_to_verify` lacks `exp`.
pub const CONDITIONAL: &str =
    "failed conditional validation given value of field 'config.maximum_expiration'";

fn dedup(v: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    v.retain(|s| seen.insert(s.clone()));
}

impl JwtConfig {
    /// Parses and checks a raw `config` (every error collected, Kong's messages).
    pub fn from_value(value: &Value) -> Result<Self, Vec<FieldError>> {
        let map = normalize(FIELDS, value)?;
        let mut cfg: JwtConfig = serde_json::from_value(Value::Object(map))
            .map_err(|e| vec![FieldError::new("", e.to_string())])?;
        // Kong's `set`s: duplicates dropped, first occurrence kept.
        dedup(&mut cfg.uri_param_names);
        dedup(&mut cfg.cookie_names);
        dedup(&mut cfg.header_names);
        let mut errors = Vec::new();
        if !(0.0..=MAXIMUM_EXPIRATION_LIMIT).contains(&cfg.maximum_expiration) {
            errors.push(FieldError::new(
                "maximum_expiration",
                "value should be between 0 and 31536000",
            ));
        } else if cfg.maximum_expiration > 0.0 && !cfg.verifies(Claim::Exp) {
            errors.push(FieldError::new(
                "claims_to_verify",
                "expected to contain: exp",
            ));
            errors.push(FieldError::new("", CONDITIONAL));
        }
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(errors)
        }
    }

    /// True when `claims_to_verify` holds `claim`.
    pub fn verifies(&self, claim: Claim) -> bool {
        self.claims_to_verify
            .as_ref()
            .is_some_and(|c| c.contains(&claim))
    }

    /// The whole config with defaults, in schema order (whole floats as integers, as Kong shows them).
    pub fn to_value_with_defaults(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(n) = v.get_mut("maximum_expiration") {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0) {
                *n = Value::from(f as i64);
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(v: Value) -> Vec<(String, String)> {
        JwtConfig::from_value(&v)
            .unwrap_err()
            .into_iter()
            .map(|e| (e.path, e.message))
            .collect()
    }

    #[test]
    fn defaults_are_kongs() {
        let c = JwtConfig::from_value(&json!({})).unwrap();
        assert_eq!(c.uri_param_names, ["jwt"]);
        assert!(c.cookie_names.is_empty());
        assert_eq!(c.header_names, ["authorization"]);
        assert_eq!(c.key_claim_name, "iss");
        assert!(!c.secret_is_base64 && c.run_on_preflight);
        assert_eq!(
            (c.claims_to_verify.clone(), c.anonymous.clone()),
            (None, None)
        );
        let v = c.to_value_with_defaults();
        assert_eq!(v["maximum_expiration"], json!(0));
        assert_eq!(v["claims_to_verify"], Value::Null);
        assert_eq!(v["realm"], Value::Null);
    }

    #[test]
    fn kongs_schema_errors() {
        // spec/03-plugins/16-jwt/06-schema_spec.lua
        let ok = json!({"maximum_expiration": 60, "claims_to_verify": ["exp", "nbf"]});
        assert!(JwtConfig::from_value(&ok).is_ok());
        for claims in [json!(["exp", "nbf"]), json!(["nbf"])] {
            assert_eq!(
                errors(json!({"maximum_expiration": -1, "claims_to_verify": claims})),
                [(
                    "maximum_expiration".to_string(),
                    "value should be between 0 and 31536000".to_string()
                )]
            );
        }
        assert_eq!(
            errors(json!({"maximum_expiration": 60, "claims_to_verify": ["nbf"]})),
            [
                (
                    "claims_to_verify".to_string(),
                    "expected to contain: exp".to_string()
                ),
                ("".to_string(), CONDITIONAL.to_string()),
            ]
        );
        assert_eq!(
            errors(json!({"claims_to_verify": ["iat"]})),
            [(
                "claims_to_verify[0]".to_string(),
                "expected one of: exp, nbf".to_string()
            )]
        );
        let set = JwtConfig::from_value(&json!({"cookie_names": ["a", "b", "a"]})).unwrap();
        assert_eq!(set.cookie_names, ["a", "b"]);
    }
}

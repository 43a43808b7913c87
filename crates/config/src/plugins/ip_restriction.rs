//! The `ip-restriction` plugin's typed config: Kong's fields and checks (`kong/plugins/ip-restriction/schema.lua`),
//! from one `FIELDS` table. `allow` and `deny` are addresses and CIDR blocks (Kong's `typedefs.ip_or_cidr`),
//! compiled once into [`IpMatcher`]s.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::{field, normalize, DefaultValue as D, Field, Kind};
use crate::error::FieldError;
use crate::real_ip::{ip_or_cidr_error, parse_ip_or_cidr, IpMatcher};

/// The typed `ip-restriction` config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpRestrictionConfig {
    /// Addresses and CIDR blocks let through (when set and non-empty, every other address is refused).
    pub allow: Option<Vec<String>>,
    /// Addresses and CIDR blocks refused (checked first).
    pub deny: Option<Vec<String>>,
    /// The status of a refusal (unset: 403).
    pub status: Option<u16>,
    /// The `message` of a refusal (unset: `IP address not allowed: <address>`).
    pub message: Option<String>,
    /// `allow`, compiled.
    #[serde(skip)]
    pub allow_set: IpMatcher,
    /// `deny`, compiled.
    #[serde(skip)]
    pub deny_set: IpMatcher,
}

/// The schema, in Kong's order.
pub const FIELDS: &[Field] = &[
    field("allow", Kind::Strings, D::Null),
    field("deny", Kind::Strings, D::Null),
    field("status", Kind::Integer, D::Null),
    field("message", Kind::Str, D::Null),
];

/// Kong's `at_least_one_of` entity check message.
pub const AT_LEAST_ONE: &str =
    "at least one of these fields must be non-empty: 'config.allow', 'config.deny'";

impl IpRestrictionConfig {
    /// Parses and checks a raw `config` (every error collected, Kong's messages).
    pub fn from_value(value: &Value) -> Result<Self, Vec<FieldError>> {
        let mut map = normalize(FIELDS, value)?;
        let mut errors = Vec::new();
        if let Some(status) = map["status"].as_u64() {
            if !(100..=599).contains(&status) {
                errors.push(FieldError::new(
                    "status",
                    "value should be between 100 and 599",
                ));
                map.insert("status".into(), Value::Null);
            }
        }
        let mut cfg: IpRestrictionConfig = serde_json::from_value(Value::Object(map))
            .map_err(|e| vec![FieldError::new("", e.to_string())])?;
        for (name, list) in [("allow", &cfg.allow), ("deny", &cfg.deny)] {
            for (i, entry) in list.iter().flatten().enumerate() {
                if parse_ip_or_cidr(entry).is_none() {
                    errors.push(FieldError::new(
                        format!("{name}[{i}]"),
                        ip_or_cidr_error(entry),
                    ));
                }
            }
        }
        let empty = |l: &Option<Vec<String>>| l.as_ref().is_none_or(Vec::is_empty);
        if empty(&cfg.allow) && empty(&cfg.deny) {
            errors.push(FieldError::new("", AT_LEAST_ONE));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        cfg.allow_set = IpMatcher::new(cfg.allow.as_deref().unwrap_or(&[])).unwrap_or_default();
        cfg.deny_set = IpMatcher::new(cfg.deny.as_deref().unwrap_or(&[])).unwrap_or_default();
        Ok(cfg)
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
        IpRestrictionConfig::from_value(&v)
            .unwrap_err()
            .into_iter()
            .map(|e| (e.path, e.message))
            .collect()
    }

    #[test]
    fn kongs_schema_spec() {
        // spec/03-plugins/17-ip-restriction/01-schema_spec.lua
        for ok in [
            json!({"allow": ["127.0.0.1/32", "127.0.0.2/32"]}),
            json!({"allow": ["127.0.0.1/32"], "status": 403, "message": "Forbidden"}),
            json!({"allow": ["127.0.0.1/8"]}),
            json!({"deny": ["127.0.0.1/32", "127.0.0.2/32"]}),
            json!({"deny": ["127.0.0.2/32"], "allow": ["127.0.0.1/32"]}),
            json!({"allow": ["::/0", "::/1", "::/128"]}),
        ] {
            assert!(IpRestrictionConfig::from_value(&ok).is_ok(), "{ok}");
        }
        assert_eq!(
            errors(json!({"allow": 12})),
            vec![("allow".into(), "expected an array".into())]
        );
        assert_eq!(
            errors(json!({"deny": ["127.0.0.1/32", "127.0.0.2/32", "hello"]})),
            vec![("deny[2]".into(), "invalid ip or cidr range: 'hello'".into())]
        );
        assert_eq!(
            errors(json!({"deny": [], "allow": []})),
            vec![("".into(), AT_LEAST_ONE.into())]
        );
        let bad = [
            "::/a",
            "::/-1",
            "::/129",
            "0.0.0.0/a",
            "0.0.0.0/-1",
            "0.0.0.0/33",
        ];
        let e = errors(json!({ "allow": bad }));
        assert_eq!(e.len(), 6);
        assert_eq!(
            e[5],
            (
                "allow[5]".into(),
                "invalid ip or cidr range: '0.0.0.0/33'".into()
            )
        );
        let c = IpRestrictionConfig::from_value(&json!({"deny": ["10.0.0.0/8"]})).unwrap();
        assert!(c.deny_set.contains("10.1.1.1".parse().unwrap()) && c.allow_set.is_empty());
        let v = c.to_value_with_defaults();
        assert_eq!(
            v,
            json!({"allow": null, "deny": ["10.0.0.0/8"], "status": null, "message": null})
        );
    }
}

//! The `bot-detection` plugin's typed config: Kong's fields and checks (`kong/plugins/bot-detection/schema.lua`),
//! from one `FIELDS` table. `allow` and `deny` are regexes matched against `User-Agent`; each must compile
//! (Kong's `is_regex`, "not a valid regex: …"), with the engine and flags the plugin matches with
//! ([`compile`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::{field, normalize, DefaultValue as D, Field, Kind};
use crate::error::FieldError;

/// The typed `bot-detection` config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BotDetectionConfig {
    /// Regexes of user agents let through (checked first, before `deny` and Kong's bot rules).
    pub allow: Vec<String>,
    /// Regexes of user agents refused.
    pub deny: Vec<String>,
}

/// The schema, in Kong's order.
pub const FIELDS: &[Field] = &[
    field("allow", Kind::Strings, D::List(&[])),
    field("deny", Kind::Strings, D::List(&[])),
];

/// A pattern compiled as the plugin matches it: over the header's bytes, without Unicode classes (PCRE as
/// `ngx.re.find` runs it, without the `u` flag), unanchored.
pub fn compile(pattern: &str) -> Result<regex::bytes::Regex, regex::Error> {
    regex::bytes::RegexBuilder::new(pattern)
        .unicode(false)
        .build()
}

impl BotDetectionConfig {
    /// Parses and checks a raw `config` (every error collected, Kong's messages).
    pub fn from_value(value: &Value) -> Result<Self, Vec<FieldError>> {
        let map = normalize(FIELDS, value)?;
        let cfg: BotDetectionConfig = serde_json::from_value(Value::Object(map))
            .map_err(|e| vec![FieldError::new("", e.to_string())])?;
        let mut errors = Vec::new();
        for (name, list) in [("allow", &cfg.allow), ("deny", &cfg.deny)] {
            for (i, pattern) in list.iter().enumerate() {
                if compile(pattern).is_err() {
                    errors.push(FieldError::new(
                        format!("{name}[{i}]"),
                        format!("not a valid regex: {pattern}"),
                    ));
                }
            }
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

    #[test]
    fn defaults_and_regex_errors() {
        let c = BotDetectionConfig::from_value(&json!({})).unwrap();
        assert_eq!(c.to_value_with_defaults(), json!({"allow": [], "deny": []}));
        let e = BotDetectionConfig::from_value(&json!({"allow": ["ok"], "deny": ["a", "(b"]}))
            .unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(
            (e[0].path.as_str(), e[0].message.as_str()),
            ("deny[1]", "not a valid regex: (b")
        );
        assert!(BotDetectionConfig::from_value(&json!({"deny": "x"})).is_err());
    }
}

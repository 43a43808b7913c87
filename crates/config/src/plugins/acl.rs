//! The `acl` plugin's typed config: Kong's fields, defaults and entity checks (`kong/plugins/acl/schema.lua`),
//! from one `FIELDS` table.
//!
//! `include_consumer_groups` (Kong Enterprise's consumer-group matching) is accepted only at its default
//! (`false`); `true` is refused at load ("not supported yet").

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::{field, normalize, DefaultValue as D, Field, Kind};
use crate::error::FieldError;

/// The typed `acl` config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AclConfig {
    /// Groups allowed to consume the route or service (exactly one of `allow` and `deny` is non-empty).
    pub allow: Option<Vec<String>>,
    /// Groups refused.
    pub deny: Option<Vec<String>>,
    /// Do not send `X-Consumer-Groups` / `X-Authenticated-Groups` upstream.
    pub hide_groups_header: bool,
    /// Use the authenticated groups (openid-connect's `authenticated_groups_claim`) even when a consumer
    /// was authenticated by a credential.
    pub always_use_authenticated_groups: bool,
    /// Kong Enterprise's consumer-group matching: only `false` (accepted, no effect).
    pub include_consumer_groups: bool,
}

/// The schema, in Kong's order.
pub const FIELDS: &[Field] = &[
    field("allow", Kind::Strings, D::Null),
    field("deny", Kind::Strings, D::Null),
    field("hide_groups_header", Kind::Bool, D::Bool(false)),
    field(
        "always_use_authenticated_groups",
        Kind::Bool,
        D::Bool(false),
    ),
    field("include_consumer_groups", Kind::Bool, D::Bool(false)),
];

/// Kong's `only_one_of` entity check message.
pub const ONLY_ONE_OF: &str =
    "exactly one of these fields must be non-empty: 'config.allow', 'config.deny'";
/// Kong's `at_least_one_of` entity check message.
pub const AT_LEAST_ONE_OF: &str =
    "at least one of these fields must be non-empty: 'config.allow', 'config.deny'";

/// Whether the list decides who is let in or who is kept out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclMode {
    /// Only members of a listed group pass.
    Allow,
    /// Members of a listed group are refused.
    Deny,
}

impl AclConfig {
    /// Parses and checks a raw `config` (every error collected, Kong's messages).
    pub fn from_value(value: &Value) -> Result<Self, Vec<FieldError>> {
        let map = normalize(FIELDS, value)?;
        let cfg: AclConfig = serde_json::from_value(Value::Object(map))
            .map_err(|e| vec![FieldError::new("", e.to_string())])?;
        let mut errors = Vec::new();
        let nonempty = |l: &Option<Vec<String>>| l.as_ref().is_some_and(|l| !l.is_empty());
        match (nonempty(&cfg.allow), nonempty(&cfg.deny)) {
            (true, true) => errors.push(FieldError::new("", ONLY_ONE_OF)),
            (false, false) => errors.push(FieldError::new("", AT_LEAST_ONE_OF)),
            _ => {}
        }
        if cfg.include_consumer_groups {
            errors.push(FieldError::new(
                "include_consumer_groups",
                "consumer groups are not supported yet (only false)",
            ));
        }
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(errors)
        }
    }

    /// The mode and its list (Kong: `deny` when it has a first element, else `allow`).
    pub fn list(&self) -> (AclMode, &[String]) {
        match self.deny.as_deref() {
            Some(d) if !d.is_empty() => (AclMode::Deny, d),
            _ => (AclMode::Allow, self.allow.as_deref().unwrap_or(&[])),
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
        AclConfig::from_value(&v)
            .unwrap_err()
            .into_iter()
            .map(|e| (e.path, e.message))
            .collect()
    }

    #[test]
    fn defaults_are_kongs() {
        let c = AclConfig::from_value(&json!({"allow": ["admin"]})).unwrap();
        assert!(!c.hide_groups_header && !c.always_use_authenticated_groups);
        assert_eq!(c.list(), (AclMode::Allow, &["admin".to_owned()][..]));
        let v = c.to_value_with_defaults();
        assert_eq!(v["deny"], Value::Null);
        assert_eq!(v["hide_groups_header"], json!(false));
        assert_eq!(v["include_consumer_groups"], json!(false));
        let d = AclConfig::from_value(&json!({"allow": [], "deny": ["x"]})).unwrap();
        assert_eq!(d.list().0, AclMode::Deny);
    }

    #[test]
    fn exactly_one_of_allow_and_deny() {
        let both = json!({"allow": ["a"], "deny": ["b"]});
        assert_eq!(errors(both), vec![("".into(), ONLY_ONE_OF.into())]);
        assert_eq!(errors(json!({})), vec![("".into(), AT_LEAST_ONE_OF.into())]);
        let empty = json!({"allow": [], "deny": []});
        assert_eq!(errors(empty), vec![("".into(), AT_LEAST_ONE_OF.into())]);
    }

    #[test]
    fn bad_values_have_paths() {
        let e = errors(json!({"allow": "admin", "hide_groups_header": 1, "x": 1}));
        let paths: Vec<&str> = e.iter().map(|(p, _)| p.as_str()).collect();
        assert!(paths.contains(&"allow") && paths.contains(&"hide_groups_header"));
        assert!(paths.contains(&"x"));
        let e = errors(json!({"allow": ["a"], "include_consumer_groups": true}));
        assert_eq!(e[0].0, "include_consumer_groups");
        assert!(e[0].1.contains("not supported yet"));
    }
}

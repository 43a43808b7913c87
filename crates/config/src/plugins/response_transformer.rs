//! The `response-transformer` plugin's typed config: Kong's fields, defaults and checks
//! (`kong/plugins/response-transformer/schema.lua`), from one `FIELDS` table. Entries are `name:value`
//! pairs split as request-transformer's ([`super::request_transformer::split_pair`]); `json_types[i]` gives
//! the type of the `i`-th `json` entry (`boolean`, `number` or `string`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::{field, normalize, DefaultValue as D, Field, Kind};
use super::request_termination::header_name_error;
use super::request_transformer::split_pair;
use crate::error::FieldError;

/// `remove`: names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Names {
    /// Top-level JSON keys.
    pub json: Vec<String>,
    /// Headers.
    pub headers: Vec<String>,
}

/// `replace`, `add`, `append`: `name:value` pairs and the JSON values' types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Pairs {
    /// `key:value` for the JSON body.
    pub json: Vec<String>,
    /// The type of each `json` value, by position (`string` when absent).
    pub json_types: Vec<String>,
    /// `name:value` headers.
    pub headers: Vec<String>,
}

/// The typed `response-transformer` config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseTransformerConfig {
    /// Names to remove.
    pub remove: Names,
    /// `old:new` names.
    pub rename: Names,
    /// Set only where present.
    pub replace: Pairs,
    /// Set only where absent.
    pub add: Pairs,
    /// Added to the values present.
    pub append: Pairs,
}

/// Kong's `json_types` values.
pub const JSON_TYPES: &[&str] = &["boolean", "number", "string"];

const NAMES: &[Field] = &[
    field("json", Kind::Strings, D::List(&[])),
    field("headers", Kind::Strings, D::List(&[])),
];

const PAIRS: &[Field] = &[
    field("json", Kind::Strings, D::List(&[])),
    field("json_types", Kind::Strings, D::List(&[])),
    field("headers", Kind::Strings, D::List(&[])),
];

/// The schema, in Kong's order.
pub const FIELDS: &[Field] = &[
    field("remove", Kind::Record(NAMES), D::Null),
    field("rename", Kind::Record(NAMES), D::Null),
    field("replace", Kind::Record(PAIRS), D::Null),
    field("add", Kind::Record(PAIRS), D::Null),
    field("append", Kind::Record(PAIRS), D::Null),
];

/// Kong's `match = "^[^:]+:.*$"` message, `None` when `entry` fits.
fn pair_error(entry: &str) -> Option<String> {
    match entry.find(':') {
        Some(i) if i > 0 => None,
        _ => Some(format!("invalid value: {entry}")),
    }
}

impl ResponseTransformerConfig {
    /// Parses and checks a raw `config` (every error collected, Kong's messages).
    pub fn from_value(value: &Value) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        for (op, lists) in [
            ("remove", &["json", "headers"][..]),
            ("rename", &["json", "headers"][..]),
            ("replace", &["json", "json_types", "headers"][..]),
            ("add", &["json", "json_types", "headers"][..]),
            ("append", &["json", "json_types", "headers"][..]),
        ] {
            if let Some(Value::Object(rec)) = value.get(op) {
                for list in lists {
                    if rec.get(*list).is_some_and(Value::is_null) {
                        errors.push(FieldError::new(
                            format!("{op}.{list}"),
                            "required field missing",
                        ));
                    }
                }
            }
        }
        let map = match normalize(FIELDS, value) {
            Ok(map) => map,
            Err(e) => {
                errors.extend(e);
                return Err(errors);
            }
        };
        let cfg: ResponseTransformerConfig = serde_json::from_value(Value::Object(map))
            .map_err(|e| vec![FieldError::new("", e.to_string())])?;
        let mut check = |path: &str, entries: &[String], f: &dyn Fn(&str) -> Option<String>| {
            for (i, e) in entries.iter().enumerate() {
                if let Some(message) = f(e) {
                    errors.push(FieldError::new(format!("{path}[{i}]"), message));
                }
            }
        };
        check("rename.json", &cfg.rename.json, &pair_error);
        check("rename.headers", &cfg.rename.headers, &|e| {
            pair_error(e).or_else(|| {
                let (name, value) = split_pair(e)?;
                [name, value]
                    .into_iter()
                    .find(|n| header_name_error(n).is_some())
                    .map(|n| format!("'{n}' is not a valid header"))
            })
        });
        for (op, pairs) in [
            ("replace", &cfg.replace),
            ("add", &cfg.add),
            ("append", &cfg.append),
        ] {
            check(&format!("{op}.json"), &pairs.json, &pair_error);
            check(&format!("{op}.json_types"), &pairs.json_types, &|t| {
                (!JSON_TYPES.contains(&t))
                    .then(|| format!("expected one of: {}", JSON_TYPES.join(", ")))
            });
            check(&format!("{op}.headers"), &pairs.headers, &pair_error);
        }
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(errors)
        }
    }

    /// True when a JSON body edit is configured (Kong's `is_body_transform_set`).
    pub fn has_json_edits(&self) -> bool {
        !(self.add.json.is_empty()
            && self.rename.json.is_empty()
            && self.remove.json.is_empty()
            && self.replace.json.is_empty()
            && self.append.json.is_empty())
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

    fn errors(v: Value) -> Vec<String> {
        ResponseTransformerConfig::from_value(&v)
            .unwrap_err()
            .into_iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect()
    }

    #[test]
    fn defaults_and_valid_configs() {
        let c = ResponseTransformerConfig::from_value(&json!({})).unwrap();
        assert!(!c.has_json_edits());
        assert_eq!(
            c.to_value_with_defaults()["add"],
            json!({"json": [], "json_types": [], "headers": []})
        );
        let c = ResponseTransformerConfig::from_value(&json!({
            "remove": {"headers": ["h1", "h2"], "json": ["p1"]},
            "add": {"json": ["p1:v1", "p3:true"], "json_types": ["string", "boolean"], "headers": ["h1:v1"]},
            "rename": {"headers": ["h1:h2"]},
        }))
        .unwrap();
        assert!(c.has_json_edits());
    }

    #[test]
    fn kongs_messages() {
        assert_eq!(
            errors(json!({"add": {"headers": ["just_a_key"], "json": ["k"]}})),
            vec![
                "add.json[0]: invalid value: k",
                "add.headers[0]: invalid value: just_a_key"
            ]
        );
        assert_eq!(
            errors(json!({"replace": {"json_types": ["string", "object"]}})),
            vec!["replace.json_types[1]: expected one of: boolean, number, string"]
        );
        assert_eq!(
            errors(json!({"rename": {"headers": ["a b:c"]}})),
            vec!["rename.headers[0]: 'a b' is not a valid header"]
        );
        assert_eq!(
            errors(json!({"remove": {"json": null}})),
            vec!["remove.json: required field missing"]
        );
    }
}

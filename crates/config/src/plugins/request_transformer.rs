//! The `request-transformer` plugin's typed config: Kong's fields, defaults and checks
//! (`kong/plugins/request-transformer/schema.lua`), from one `FIELDS` table.
//!
//! Entries are `name:value` pairs split as Kong splits them (`^([^:]+):*(.-)$`: the name up to the first colon,
//! then any colons, then the value). Kong's validators: header names (`'x' is not a valid header`), the pair
//! syntax (`invalid value: …`), a value for add/append/replace/rename of body and querystring
//! (`key 'x' has no value`). Values are `$(…)` templates ([`super::template`]): a value the gateway cannot
//! evaluate is refused at load (`value '…' is not in supported format, error:…`), for headers and `replace.uri`
//! too, where Kong would only fail at request time with a 500.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::{field, normalize, DefaultValue as D, Field, Kind};
use super::request_termination::header_name_error;
use super::template::Template;
use crate::error::FieldError;

/// The three lists of one operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Lists {
    /// Body parameters (form-urlencoded or JSON).
    pub body: Vec<String>,
    /// Headers.
    pub headers: Vec<String>,
    /// Query arguments.
    pub querystring: Vec<String>,
}

/// `replace`: the three lists and the upstream path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ReplaceLists {
    /// Body parameters.
    pub body: Vec<String>,
    /// Headers.
    pub headers: Vec<String>,
    /// Query arguments.
    pub querystring: Vec<String>,
    /// The upstream path (a template).
    pub uri: Option<String>,
}

/// The typed `request-transformer` config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestTransformerConfig {
    /// The method sent upstream.
    pub http_method: Option<String>,
    /// Names to remove.
    pub remove: Lists,
    /// `old:new` names.
    pub rename: Lists,
    /// `name:value` set only where the name is present.
    pub replace: ReplaceLists,
    /// `name:value` set only where the name is absent.
    pub add: Lists,
    /// `name:value` added to the values the name has.
    pub append: Lists,
}

const LISTS: &[Field] = &[
    field("body", Kind::Strings, D::List(&[])),
    field("headers", Kind::Strings, D::List(&[])),
    field("querystring", Kind::Strings, D::List(&[])),
];

const REPLACE: &[Field] = &[
    field("body", Kind::Strings, D::List(&[])),
    field("headers", Kind::Strings, D::List(&[])),
    field("querystring", Kind::Strings, D::List(&[])),
    field("uri", Kind::Str, D::Null),
];

/// The schema, in Kong's order.
pub const FIELDS: &[Field] = &[
    field("http_method", Kind::Str, D::Null),
    field("remove", Kind::Record(LISTS), D::Null),
    field("rename", Kind::Record(LISTS), D::Null),
    field("replace", Kind::Record(REPLACE), D::Null),
    field("add", Kind::Record(LISTS), D::Null),
    field("append", Kind::Record(LISTS), D::Null),
];

/// The operations, in Kong's order.
pub const OPERATIONS: [&str; 5] = ["remove", "rename", "replace", "add", "append"];

/// Kong's split of a `name:value` entry: `None` when there is no name (the entry starts with a colon or is
/// empty); the value is empty when there is none.
pub fn split_pair(entry: &str) -> Option<(&str, &str)> {
    let end = entry.find(':').unwrap_or(entry.len());
    if end == 0 {
        return None;
    }
    let value = entry[end..].trim_start_matches(':');
    Some((&entry[..end], value))
}

/// Kong's `validate_headers`: the name part (and with `value`, the value part) must be a header name.
fn header_pair_error(entry: &str, value_too: bool) -> Option<String> {
    let Some((name, value)) = split_pair(entry) else {
        return Some("'nil' is not a valid header".into());
    };
    if header_name_error(name).is_some() {
        return Some(format!("'{name}' is not a valid header"));
    }
    if value_too && header_name_error(value).is_some() {
        return Some(format!("'{value}' is not a valid header"));
    }
    None
}

/// Kong's `match = "^[^:]+:.*$"`.
fn has_colon_pair(entry: &str) -> bool {
    entry.find(':').is_some_and(|i| i > 0)
}

/// The refusal of a value the template evaluator cannot render (Kong's `check_for_value` wording).
pub fn template_error(value: &str) -> Option<String> {
    Template::parse(value)
        .err()
        .map(|e| format!("value '{value}' is not in supported format, error:{e}"))
}

/// Kong's `check_for_value`: a value must follow the name, and it must be a template Kong can compile.
fn value_error(entry: &str) -> Option<String> {
    match split_pair(entry) {
        None => Some(format!("invalid value: {entry}")),
        Some((name, "")) => Some(format!("key '{name}' has no value")),
        Some((_, value)) => template_error(value),
    }
}

impl RequestTransformerConfig {
    /// Parses and checks a raw `config` (every error collected, Kong's messages).
    pub fn from_value(value: &Value) -> Result<Self, Vec<FieldError>> {
        let mut errors = null_lists(value);
        let map = match normalize(FIELDS, value) {
            Ok(map) => map,
            Err(e) => {
                errors.extend(e);
                return Err(errors);
            }
        };
        let cfg: RequestTransformerConfig = serde_json::from_value(Value::Object(map))
            .map_err(|e| vec![FieldError::new("", e.to_string())])?;
        if let Some(m) = &cfg.http_method {
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
                errors.push(FieldError::new(
                    "http_method",
                    format!("invalid value: {m}"),
                ));
            }
        }
        for op in OPERATIONS {
            let (body, headers, querystring) = cfg.lists(op);
            let mut check = |list: &str, entries: &[String], f: &dyn Fn(&str) -> Option<String>| {
                for (i, e) in entries.iter().enumerate() {
                    if let Some(message) = f(e) {
                        errors.push(FieldError::new(format!("{op}.{list}[{i}]"), message));
                    }
                }
            };
            match op {
                "remove" => check("headers", headers, &|e| header_pair_error(e, false)),
                "rename" => check("headers", headers, &|e| match has_colon_pair(e) {
                    false => Some(format!("invalid value: {e}")),
                    true => header_pair_error(e, true),
                }),
                _ => check("headers", headers, &|e| match has_colon_pair(e) {
                    false => Some(format!("invalid value: {e}")),
                    true => header_pair_error(e, false)
                        .or_else(|| split_pair(e).and_then(|(_, v)| template_error(v))),
                }),
            }
            if op != "remove" {
                check("body", body, &value_error);
                check("querystring", querystring, &value_error);
            }
        }
        if let Some(e) = cfg.replace.uri.as_deref().and_then(template_error) {
            errors.push(FieldError::new("replace.uri", e));
        }
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(errors)
        }
    }

    /// The `body`, `headers` and `querystring` lists of operation `op` (one of [`OPERATIONS`]).
    pub fn lists(&self, op: &str) -> (&[String], &[String], &[String]) {
        let l = match op {
            "remove" => &self.remove,
            "rename" => &self.rename,
            "add" => &self.add,
            "append" => &self.append,
            _ => {
                let r = &self.replace;
                return (&r.body, &r.headers, &r.querystring);
            }
        };
        (&l.body, &l.headers, &l.querystring)
    }

    /// The whole config with defaults, in schema order.
    pub fn to_value_with_defaults(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Kong's `required = true` arrays: an explicit `null` is `required field missing` (absent takes the default).
fn null_lists(value: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for op in OPERATIONS {
        let Some(Value::Object(rec)) = value.get(op) else {
            continue;
        };
        for list in ["body", "headers", "querystring"] {
            if rec.get(list).is_some_and(Value::is_null) {
                errors.push(FieldError::new(
                    format!("{op}.{list}"),
                    "required field missing",
                ));
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(v: Value) -> Vec<(String, String)> {
        RequestTransformerConfig::from_value(&v)
            .unwrap_err()
            .into_iter()
            .map(|e| (e.path, e.message))
            .collect()
    }

    fn one(path: &str, message: &str) -> Vec<(String, String)> {
        vec![(path.to_owned(), message.to_owned())]
    }

    #[test]
    fn defaults_and_kongs_spec_configs() {
        let c = RequestTransformerConfig::from_value(&json!({})).unwrap();
        assert!(c.http_method.is_none() && c.remove.headers.is_empty() && c.replace.uri.is_none());
        let v = c.to_value_with_defaults();
        assert_eq!(
            v["replace"],
            json!({"body": [], "headers": [], "querystring": [], "uri": null})
        );
        assert_eq!(
            v["append"],
            json!({"body": [], "headers": [], "querystring": []})
        );
        for ok in [
            json!({"http_method": "GET"}),
            json!({"add": {"querystring": ["uri_param1:$(uri_captures.user1)", "uri_param2:value"]}}),
            json!({"remove": {"headers": ["just_a_key"], "body": ["just_a_key"], "querystring": ["just_a_key"]}}),
            json!({"append": {"body": ["p2:value:1"], "headers": ["h1:#value_with_hash"]}}),
            json!({"replace": {"uri": "/requests/user2/$(uri_captures.user2)"}}),
            json!({"rename": {"headers": ["rename:Rename", "identical:identical"]}}),
        ] {
            RequestTransformerConfig::from_value(&ok).unwrap();
        }
    }

    #[test]
    fn kongs_messages_and_paths() {
        assert_eq!(
            errors(json!({"http_method": "HELLO!"})),
            one("http_method", "invalid value: HELLO!")
        );
        for op in ["add", "replace", "append"] {
            assert_eq!(
                errors(json!({op: {"headers": ["just_a_key"]}})),
                one(&format!("{op}.headers[0]"), "invalid value: just_a_key")
            );
        }
        assert_eq!(
            errors(json!({"add": {"querystring": ["uri_param2:"]}})),
            one("add.querystring[0]", "key 'uri_param2' has no value")
        );
        let e = errors(json!({"add": {"querystring": ["ok:1", "p:$(uri_captures user2)"]}}));
        assert_eq!(e[0].0, "add.querystring[1]");
        assert!(e[0]
            .1
            .starts_with("value '$(uri_captures user2)' is not in supported format, error:"));
        assert_eq!(
            errors(json!({"remove": {"headers": ["x y"]}})),
            one("remove.headers[0]", "'x y' is not a valid header")
        );
        assert_eq!(
            errors(json!({"rename": {"headers": ["a:b c"]}})),
            one("rename.headers[0]", "'b c' is not a valid header")
        );
        let e =
            errors(json!({"add": {"headers": ["x:$(shared.v)"]}, "replace": {"uri": "$(10 * 2)"}}));
        assert_eq!(
            (e[0].0.as_str(), e[1].0.as_str()),
            ("add.headers[0]", "replace.uri")
        );
        assert!(e[0].1.contains("not supported yet"));
        let e = errors(
            json!({"remove": {"body": null, "headers": null}, "add": {"querystring": null}}),
        );
        assert_eq!(
            e.iter()
                .map(|(p, m)| format!("{p}: {m}"))
                .collect::<Vec<_>>(),
            vec![
                "remove.body: required field missing",
                "remove.headers: required field missing",
                "add.querystring: required field missing",
            ]
        );
    }

    #[test]
    fn pairs_split_as_kong() {
        assert_eq!(split_pair("p2:value:1"), Some(("p2", "value:1")));
        assert_eq!(split_pair("a::b"), Some(("a", "b")));
        assert_eq!(split_pair("key"), Some(("key", "")));
        assert_eq!(split_pair(":v"), None);
    }
}

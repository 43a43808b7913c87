//! The field types of the Admin API's entities (services, routes, plugins and the `openid-connect` config):
//! Kong's form-value inference (strings → numbers, booleans, arrays; empty → null) and the type checks
//! (with Kong's messages) that run before the loader's own validation.

use serde_json::{Map, Number, Value};

use crate::error::FieldError;

/// The type of one field.
#[derive(Debug, Clone, PartialEq)]
pub enum Type {
    /// A string.
    String,
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// An ordered list.
    Array(Box<Type>),
    /// A list without duplicates (Kong's `set`).
    Set(Box<Type>),
    /// A record with known fields; unknown fields are refused. Merged key by key on PATCH.
    Record(Record),
    /// A map with free keys (e.g. route `headers`).
    Map(Box<Type>),
    /// A reference to another entity: `{"id": ...}` or `{"name": ...}`.
    Foreign,
    /// Anything (the config of a plugin this gateway does not know; validation refuses it later).
    Any,
}

/// The fields of a record, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record {
    /// Field names and types.
    pub fields: Vec<(&'static str, Type)>,
}

impl Record {
    /// The type of a field, if the record has it.
    pub fn get(&self, name: &str) -> Option<&Type> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, t)| t)
    }
}

fn strings() -> Type {
    Type::Array(Box::new(Type::String))
}

fn string_set() -> Type {
    Type::Set(Box::new(Type::String))
}

/// A service as the Admin API accepts it (`url` is the shorthand for protocol, host, port and path).
pub fn service() -> Record {
    use Type::{Boolean, Integer, String};
    Record {
        fields: vec![
            ("id", String),
            ("name", String),
            ("protocol", String),
            ("host", String),
            ("port", Integer),
            ("path", String),
            ("retries", Integer),
            ("connect_timeout", Integer),
            ("write_timeout", Integer),
            ("read_timeout", Integer),
            ("enabled", Boolean),
            ("tags", string_set()),
            ("tls_verify", Boolean),
            ("tls_verify_depth", Integer),
            ("ca_certificates", strings()),
            ("client_certificate", Type::Foreign),
            ("url", String),
            ("created_at", Integer),
            ("updated_at", Integer),
        ],
    }
}

/// A route as the Admin API accepts it.
pub fn route() -> Record {
    use Type::{Boolean, Foreign, Integer, Map, String};
    Record {
        fields: vec![
            ("id", String),
            ("name", String),
            ("protocols", string_set()),
            ("https_redirect_status_code", Integer),
            ("methods", string_set()),
            ("hosts", strings()),
            ("paths", strings()),
            ("headers", Map(Box::new(strings()))),
            ("snis", string_set()),
            ("sources", stream_addrs()),
            ("destinations", stream_addrs()),
            ("strip_path", Boolean),
            ("preserve_host", Boolean),
            ("regex_priority", Integer),
            ("path_handling", String),
            ("expression", String),
            ("priority", Integer),
            ("request_buffering", Boolean),
            ("response_buffering", Boolean),
            ("service", Foreign),
            ("tags", string_set()),
            ("created_at", Integer),
            ("updated_at", Integer),
        ],
    }
}

/// A route's `sources` / `destinations`: records of `ip` and `port`.
fn stream_addrs() -> Type {
    Type::Set(Box::new(Type::Record(Record {
        fields: vec![("ip", Type::String), ("port", Type::Integer)],
    })))
}

/// A plugin as the Admin API accepts it; `config` is typed by the plugin `name` when known.
pub fn plugin(name: Option<&str>) -> Record {
    use Type::{Any, Boolean, Foreign, Integer, String};
    let config = match name.and_then(crate::plugins::spec) {
        Some(spec) => Type::Record(config_record(spec.fields)),
        None => Any,
    };
    Record {
        fields: vec![
            ("id", String),
            ("name", String),
            ("instance_name", String),
            ("config", config),
            ("enabled", Boolean),
            ("protocols", string_set()),
            ("service", Foreign),
            ("route", Foreign),
            ("consumer", Foreign),
            ("tags", string_set()),
            ("created_at", Integer),
            ("updated_at", Integer),
        ],
    }
}

/// A consumer as the Admin API accepts it.
pub fn consumer() -> Record {
    use Type::{Integer, String};
    Record {
        fields: vec![
            ("id", String),
            ("username", String),
            ("custom_id", String),
            ("tags", string_set()),
            ("created_at", Integer),
            ("updated_at", Integer),
        ],
    }
}

/// A credential kind as the Admin API accepts it, from its declaration (`consumer` a foreign key).
pub fn credential(spec: &crate::credentials::Spec) -> Record {
    use crate::credentials::FieldType;
    let mut fields = vec![("id", Type::String), ("consumer", Type::Foreign)];
    fields.extend(spec.fields.iter().map(|f| {
        let ty = match f.ty {
            FieldType::Str => Type::String,
            FieldType::Int => Type::Integer,
            FieldType::Tags => string_set(),
        };
        (f.name, ty)
    }));
    Record { fields }
}

/// A plugin's `config` fields and their types, from the plugin's schema table.
pub fn config_record(fields: &[crate::plugins::fields::Field]) -> Record {
    use crate::plugins::fields::Kind;
    let fields = fields
        .iter()
        .map(|f| {
            let ty = match f.kind {
                Kind::Str | Kind::Url | Kind::OneOf(_) => Type::String,
                Kind::Strings | Kind::SetOf(_) | Kind::Urls => strings(),
                Kind::Bool => Type::Boolean,
                Kind::Number | Kind::Positive | Kind::Signed => Type::Number,
                Kind::Integer | Kind::Int => Type::Integer,
                Kind::Integers => Type::Array(Box::new(Type::Integer)),
                Kind::Record(inner) => Type::Record(config_record(inner)),
                Kind::Records(inner) => Type::Array(Box::new(Type::Record(config_record(inner)))),
                Kind::Map => Type::Map(Box::new(Type::String)),
            };
            (f.name, ty)
        })
        .collect();
    Record { fields }
}

/// Kong's inference for form values: `""` → null, numbers and `true`/`false` parsed (else left as strings for
/// the type check to refuse), a lone value for an array → `[v]`, records and maps recursively.
pub fn coerce(value: Value, ty: &Type) -> Value {
    match value {
        Value::String(s) => coerce_str(s, ty),
        Value::Array(items) => match ty {
            Type::Array(t) | Type::Set(t) => {
                Value::Array(items.into_iter().map(|v| coerce(v, t)).collect())
            }
            _ => Value::Array(items),
        },
        Value::Object(map) => Value::Object(coerce_map(map, ty)),
        other => other,
    }
}

/// [`coerce`] over the fields of a record.
pub fn coerce_record(map: Map<String, Value>, record: &Record) -> Map<String, Value> {
    map.into_iter()
        .map(|(k, v)| {
            let v = match record.get(&k) {
                Some(t) => coerce(v, t),
                None => v,
            };
            (k, v)
        })
        .collect()
}

fn coerce_map(map: Map<String, Value>, ty: &Type) -> Map<String, Value> {
    match ty {
        Type::Record(r) => coerce_record(map, r),
        Type::Map(t) => map.into_iter().map(|(k, v)| (k, coerce(v, t))).collect(),
        Type::Foreign => map
            .into_iter()
            .map(|(k, v)| (k, coerce(v, &Type::String)))
            .collect(),
        _ => map,
    }
}

fn coerce_str(s: String, ty: &Type) -> Value {
    if s.is_empty() {
        return Value::Null;
    }
    match ty {
        Type::Integer | Type::Number => parse_number(&s).unwrap_or(Value::String(s)),
        Type::Boolean => match s.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(s),
        },
        Type::Array(t) | Type::Set(t) => Value::Array(vec![coerce_str(s, t)]),
        _ => Value::String(s),
    }
}

fn parse_number(s: &str) -> Option<Value> {
    let t = s.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Some(Value::from(i));
    }
    let f = t.parse::<f64>().ok().filter(|f| f.is_finite())?;
    Number::from_f64(f).map(Value::Number)
}

/// Checks types and unknown fields of an entity's fields (nulls pass: they mean "unset"), with Kong's messages.
pub fn check_record(
    map: &Map<String, Value>,
    record: &Record,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    for (key, value) in map {
        let at = join(path, key);
        match record.get(key) {
            Some(ty) => check(value, ty, &at, errors),
            None => errors.push(FieldError::new(at, "unknown field")),
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn check(value: &Value, ty: &Type, path: &str, errors: &mut Vec<FieldError>) {
    if value.is_null() {
        return;
    }
    let mut fail = |m: &str| errors.push(FieldError::new(path, m));
    match ty {
        Type::Any => {}
        Type::String if !value.is_string() => fail("expected a string"),
        Type::Integer if value.as_i64().is_none() => fail("expected an integer"),
        Type::Number if !value.is_number() => fail("expected a number"),
        Type::Boolean if !value.is_boolean() => fail("expected a boolean"),
        Type::Array(t) | Type::Set(t) => match value.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    check(item, t, &format!("{path}[{i}]"), errors);
                }
            }
            None if matches!(ty, Type::Set(_)) => fail("expected a set"),
            None => fail("expected an array"),
        },
        Type::Record(r) => match value.as_object() {
            Some(map) => check_record(map, r, path, errors),
            None => fail("expected a record"),
        },
        Type::Map(t) => match value.as_object() {
            Some(map) => {
                for (k, v) in map {
                    check(v, t, &join(path, k), errors);
                }
            }
            None => fail("expected a map"),
        },
        Type::Foreign => match value.as_object() {
            Some(map) => {
                for (k, v) in map {
                    match k.as_str() {
                        "id" | "name" | "username" => {
                            check(v, &Type::String, &join(path, k), errors)
                        }
                        _ => errors.push(FieldError::new(join(path, k), "unknown field")),
                    }
                }
            }
            None if value.is_string() => {}
            None => fail("expected a record"),
        },
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errs(value: Value, record: &Record) -> Vec<(String, String)> {
        let mut e = Vec::new();
        check_record(value.as_object().unwrap(), record, "", &mut e);
        e.into_iter().map(|e| (e.path, e.message)).collect()
    }

    #[test]
    fn oidc_types_cover_every_field() {
        let r = config_record(crate::plugins::openid_connect::FIELDS);
        assert_eq!(r.fields.len(), crate::plugins::openid_connect::FIELDS.len());
        assert_eq!(r.get("timeout"), Some(&Type::Number));
        assert_eq!(r.get("ssl_verify"), Some(&Type::Boolean));
        assert_eq!(r.get("auth_methods"), Some(&strings()));
        assert_eq!(r.get("issuer"), Some(&Type::String));
        // Every field with a non-null default has the type of its default.
        let defaults = crate::plugins::openid_connect::OidcConfig::with_issuer("http://i/")
            .to_value_with_defaults();
        for (name, ty) in &r.fields {
            let v = &defaults[*name];
            let ok = match ty {
                Type::Number => v.is_null() || v.is_number(),
                Type::Boolean => v.is_boolean(),
                Type::Array(_) => v.is_null() || v.is_array(),
                Type::Record(_) => v.is_null() || v.is_object(),
                _ => v.is_null() || v.is_string(),
            };
            assert!(ok, "{name}: {v}");
        }
    }

    #[test]
    fn form_inference() {
        let plugin = Type::Record(plugin(Some("openid-connect")));
        let v = coerce(
            json!({"enabled": "false", "config": {
                "timeout": "2500", "leeway": "1.5", "ssl_verify": "true", "keepalive": "yes",
                "bearer_token_param_type": "header", "auth_methods": ["introspection", "password"],
                "cache_ttl": "", "issuer": "http://x/", "cache_ttl_max": "ten"
            }}),
            &plugin,
        );
        assert_eq!(
            v,
            json!({"enabled": false, "config": {
                "timeout": 2500, "leeway": 1.5, "ssl_verify": true, "keepalive": "yes",
                "bearer_token_param_type": ["header"], "auth_methods": ["introspection", "password"],
                "cache_ttl": null, "issuer": "http://x/", "cache_ttl_max": "ten"
            }})
        );
        let route = Type::Record(route());
        assert_eq!(
            coerce(
                json!({"paths": "/a", "headers": {"x-v": "1"}, "service": {"id": "u"}, "regex_priority": "-2", "methods": ""}),
                &route
            ),
            json!({"paths": ["/a"], "headers": {"x-v": ["1"]}, "service": {"id": "u"}, "regex_priority": -2, "methods": null})
        );
    }

    #[test]
    fn type_errors_use_kong_words() {
        assert_eq!(
            errs(
                json!({"port": "80", "retries": 1.5, "enabled": "true", "tags": "a", "bogus": 1, "name": null}),
                &service()
            ),
            vec![
                ("port".into(), "expected an integer".into()),
                ("retries".into(), "expected an integer".into()),
                ("enabled".into(), "expected a boolean".into()),
                ("tags".into(), "expected a set".into()),
                ("bogus".into(), "unknown field".into()),
            ]
        );
        assert_eq!(
            errs(
                json!({"config": {"timeout": "x", "scopes": "a", "nope": 1, "client_id": ["a", 2]}, "service": {"uid": 1}}),
                &plugin(Some("openid-connect"))
            ),
            vec![
                ("config.timeout".into(), "expected a number".into()),
                ("config.scopes".into(), "expected an array".into()),
                ("config.nope".into(), "unknown field".into()),
                ("config.client_id[1]".into(), "expected a string".into()),
                ("service.uid".into(), "unknown field".into()),
            ]
        );
        assert_eq!(
            errs(json!({"headers": ["a"], "service": 3}), &route()),
            vec![
                ("headers".into(), "expected a map".into()),
                ("service".into(), "expected a record".into()),
            ]
        );
        assert!(errs(json!({"config": {"anything": [1]}}), &plugin(Some("other"))).is_empty());
    }
}

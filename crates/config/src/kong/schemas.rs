//! Kong's `/schemas` answers, generated from the tables validation itself uses (one source of truth): an
//! entity's schema from its [`super::schema::Record`] (the field types the Admin API checks), a plugin's from
//! its [`crate::plugins::fields::Field`] table (types, defaults, `required`, `one_of`).

use serde_json::{json, Map, Value};

use super::schema::{Record, Type};
use super::{schema_for, Kind};
use crate::plugins::fields::{DefaultValue, Field, Kind as FieldKind};

/// The entity kind of a `/schemas/{name}` name (`services`, `routes`, …).
pub fn kind_named(name: &str) -> Option<Kind> {
    Kind::ALL.into_iter().find(|k| k.entity_name() == name)
}

/// `GET /schemas/{entity}`: `{"fields": [{name: {type, …}}, …]}` in the record's order.
pub fn entity(kind: Kind) -> Value {
    json!({ "fields": record_fields(&schema_for(kind, None), true) })
}

/// `GET /schemas/plugins/{name}`: the plugin's schema, its `config` from the plugin's field table; `None`
/// for a plugin this gateway does not have.
pub fn plugin(name: &str) -> Option<Value> {
    let spec = crate::plugins::spec(name)?;
    let consumer = if spec.on_consumer {
        json!({ "type": "foreign", "reference": "consumers" })
    } else {
        json!({ "type": "foreign", "reference": "consumers", "eq": null })
    };
    Some(json!({
        "fields": [
            { "consumer": consumer },
            { "protocols": {
                "type": "set",
                "required": true,
                "default": ["grpc", "grpcs", "http", "https"],
                "elements": { "type": "string", "one_of": ["grpc", "grpcs", "http", "https"] },
            } },
            { "config": {
                "type": "record",
                "required": true,
                "fields": config_fields(spec.fields),
            } },
        ],
    }))
}

fn record_fields(record: &Record, top: bool) -> Vec<Value> {
    record
        .fields
        .iter()
        .map(|(name, ty)| {
            let mut field = type_json(ty);
            if top {
                match *name {
                    "id" => {
                        field["uuid"] = json!(true);
                        field["auto"] = json!(true);
                    }
                    "created_at" | "updated_at" => {
                        field["timestamp"] = json!(true);
                        field["auto"] = json!(true);
                    }
                    _ => {}
                }
            }
            json!({ *name: field })
        })
        .collect()
}

fn type_json(ty: &Type) -> Value {
    match ty {
        Type::String => json!({ "type": "string" }),
        Type::Integer => json!({ "type": "integer" }),
        Type::Number => json!({ "type": "number" }),
        Type::Boolean => json!({ "type": "boolean" }),
        Type::Array(inner) => json!({ "type": "array", "elements": type_json(inner) }),
        Type::Set(inner) => json!({ "type": "set", "elements": type_json(inner) }),
        Type::Record(r) => json!({ "type": "record", "fields": record_fields(r, false) }),
        Type::Map(inner) => {
            json!({ "type": "map", "keys": { "type": "string" }, "values": type_json(inner) })
        }
        Type::Foreign => json!({ "type": "foreign" }),
        Type::Any => json!({ "type": "record", "fields": [] }),
    }
}

fn config_fields(fields: &[Field]) -> Vec<Value> {
    fields
        .iter()
        .map(|f| {
            let mut out = Map::new();
            let string = || json!({ "type": "string" });
            let (ty, elements, one_of): (&str, Option<Value>, Option<Value>) = match f.kind {
                FieldKind::Str | FieldKind::Url => ("string", None, None),
                FieldKind::OneOf(names) => ("string", None, Some(json!(names))),
                FieldKind::Strings | FieldKind::Urls => ("array", Some(string()), None),
                FieldKind::SetOf(names) => (
                    "set",
                    Some(json!({ "type": "string", "one_of": names })),
                    None,
                ),
                FieldKind::Bool => ("boolean", None, None),
                FieldKind::Number | FieldKind::Positive | FieldKind::Signed => {
                    ("number", None, None)
                }
                FieldKind::Integer | FieldKind::Int => ("integer", None, None),
                FieldKind::Integers => ("array", Some(json!({ "type": "integer" })), None),
                FieldKind::Record(inner) => {
                    out.insert("fields".into(), Value::Array(config_fields(inner)));
                    ("record", None, None)
                }
                FieldKind::Records(inner) => (
                    "array",
                    Some(json!({ "type": "record", "fields": config_fields(inner) })),
                    None,
                ),
                FieldKind::Map => {
                    out.insert("keys".into(), string());
                    out.insert("values".into(), string());
                    ("map", None, None)
                }
            };
            out.insert("type".into(), json!(ty));
            if let Some(e) = elements {
                out.insert("elements".into(), e);
            }
            if let Some(o) = one_of {
                out.insert("one_of".into(), o);
            }
            match f.default {
                DefaultValue::Required => {
                    out.insert("required".into(), json!(true));
                }
                DefaultValue::Null => {}
                other => {
                    out.insert("default".into(), other.to_value());
                }
            }
            if matches!(f.kind, FieldKind::Url | FieldKind::Urls) {
                // Kong's `typedefs.url`: an http(s) URL with a host.
                let target = if f.kind == FieldKind::Url {
                    &mut out
                } else {
                    match out.get_mut("elements").and_then(Value::as_object_mut) {
                        Some(e) => e,
                        None => &mut out,
                    }
                };
                target.insert("match".into(), json!("^https?://"));
            }
            json!({ f.name: Value::Object(out) })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<'a>(fields: &'a Value, name: &str) -> &'a Value {
        fields
            .as_array()
            .and_then(|a| a.iter().find_map(|f| f.get(name)))
            .unwrap_or(&Value::Null)
    }

    #[test]
    fn entity_schemas_come_from_the_admin_records() {
        let s = entity(kind_named("services").unwrap());
        assert_eq!(field(&s["fields"], "port"), &json!({"type": "integer"}));
        assert_eq!(field(&s["fields"], "id")["uuid"], true);
        assert_eq!(field(&s["fields"], "tags")["type"], "set");
        let r = entity(Kind::Route);
        assert_eq!(field(&r["fields"], "headers")["type"], "map");
        assert!(kind_named("nope").is_none());
    }

    #[test]
    fn plugin_schemas_come_from_the_field_tables() {
        let s = plugin("openid-connect").unwrap();
        let config = field(&s["fields"], "config");
        assert_eq!(config["type"], "record");
        assert_eq!(field(&config["fields"], "issuer")["required"], true);
        let rl = plugin("rate-limiting").unwrap();
        let policy = field(&field(&rl["fields"], "config")["fields"], "policy").clone();
        assert_eq!(policy["type"], "string");
        assert!(policy["one_of"].as_array().is_some(), "{policy}");
        assert!(policy.get("default").is_some(), "{policy}");
        assert_eq!(field(&s["fields"], "consumer")["eq"], Value::Null);
        assert!(field(&s["fields"], "consumer")
            .as_object()
            .unwrap()
            .contains_key("eq"));
        assert!(plugin("kafka-upstream").is_none());
    }
}

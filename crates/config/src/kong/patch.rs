//! Kong's PATCH semantics: top-level fields replace, records (such as a plugin's `config`) merge key by key,
//! arrays, sets, maps and references are replaced whole.

use serde_json::{Map, Value};

use super::schema::{Record, Type};

/// Merges `patch` into `base` following `record`'s field types.
pub fn merge(base: &mut Map<String, Value>, patch: Map<String, Value>, record: &Record) {
    for (key, value) in patch {
        match (record.get(&key), base.get_mut(&key), value) {
            (Some(Type::Record(sub)), Some(Value::Object(current)), Value::Object(change)) => {
                merge(current, change, sub);
            }
            (_, _, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kong::schema;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn records_merge_arrays_replace() {
        let mut base = obj(json!({
            "name": "openid-connect", "enabled": true,
            "config": {"issuer": "http://i/", "auth_methods": ["password", "introspection"], "timeout": 100},
            "tags": ["a", "b"], "service": {"id": "s1"}
        }));
        merge(
            &mut base,
            obj(json!({
                "config": {"auth_methods": ["introspection"], "timeout": null},
                "tags": ["c"], "service": {"name": "other"}, "enabled": false
            })),
            &schema::plugin(Some("openid-connect")),
        );
        assert_eq!(
            Value::Object(base),
            json!({
                "name": "openid-connect", "enabled": false,
                "config": {"issuer": "http://i/", "auth_methods": ["introspection"], "timeout": null},
                "tags": ["c"], "service": {"name": "other"}
            })
        );
    }

    #[test]
    fn maps_replace_and_null_records() {
        let mut base = obj(json!({"headers": {"a": ["1"], "b": ["2"]}, "paths": ["/x"]}));
        merge(
            &mut base,
            obj(json!({"headers": {"c": ["3"]}})),
            &schema::route(),
        );
        assert_eq!(base["headers"], json!({"c": ["3"]}));
        let mut p = obj(json!({"config": {"issuer": "http://i/"}}));
        merge(
            &mut p,
            obj(json!({"config": null})),
            &schema::plugin(Some("openid-connect")),
        );
        assert_eq!(p["config"], Value::Null);
        let mut q = obj(json!({"config": null}));
        merge(
            &mut q,
            obj(json!({"config": {"timeout": 1}})),
            &schema::plugin(Some("openid-connect")),
        );
        assert_eq!(q["config"], json!({"timeout": 1}));
    }
}

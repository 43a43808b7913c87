//! The Admin API's upstreams and targets: their field types (for form inference, type checks and PATCH
//! merging) and the JSON views Kong returns (every field, the health checks complete with defaults).

use serde_json::{json, Value};
use uuid::Uuid;

use super::schema::{Record, Type};
use crate::upstreams::{normalize_target, Target, Upstream};

fn integers() -> Type {
    Type::Array(Box::new(Type::Integer))
}

fn record(fields: Vec<(&'static str, Type)>) -> Type {
    Type::Record(Record { fields })
}

/// An upstream as the Admin API accepts it.
pub fn upstream() -> Record {
    use Type::{Boolean, Foreign, Integer, Number, String};
    let counters = |keys: &[&'static str]| {
        record(
            keys.iter()
                .map(|k| {
                    let ty = match *k {
                        "interval" => Number,
                        "http_statuses" => integers(),
                        _ => Integer,
                    };
                    (*k, ty)
                })
                .collect(),
        )
    };
    let failures = ["tcp_failures", "timeouts", "http_failures"];
    let active = record(vec![
        ("type", String),
        ("timeout", Number),
        ("concurrency", Integer),
        ("http_path", String),
        ("https_sni", String),
        ("https_verify_certificate", Boolean),
        (
            "headers",
            Type::Map(Box::new(Type::Array(Box::new(Type::String)))),
        ),
        (
            "healthy",
            counters(&["interval", "http_statuses", "successes"]),
        ),
        (
            "unhealthy",
            counters(&[
                "interval",
                "http_statuses",
                failures[0],
                failures[1],
                failures[2],
            ]),
        ),
    ]);
    let passive = record(vec![
        ("type", String),
        ("healthy", counters(&["http_statuses", "successes"])),
        (
            "unhealthy",
            counters(&["http_statuses", failures[0], failures[1], failures[2]]),
        ),
    ]);
    let healthchecks = record(vec![
        ("active", active),
        ("passive", passive),
        ("threshold", Number),
    ]);
    Record {
        fields: vec![
            ("id", String),
            ("name", String),
            ("algorithm", String),
            ("hash_on", String),
            ("hash_fallback", String),
            ("hash_on_header", String),
            ("hash_fallback_header", String),
            ("hash_on_cookie", String),
            ("hash_on_cookie_path", String),
            ("hash_on_query_arg", String),
            ("hash_fallback_query_arg", String),
            ("hash_on_uri_capture", String),
            ("hash_fallback_uri_capture", String),
            ("slots", Integer),
            ("healthchecks", healthchecks),
            ("tags", Type::Set(Box::new(String))),
            ("host_header", String),
            ("client_certificate", Foreign),
            ("use_srv_name", Boolean),
            ("created_at", Integer),
            ("updated_at", Integer),
        ],
    }
}

/// A target as the Admin API accepts it.
pub fn target() -> Record {
    use Type::{Foreign, Integer, Number, String};
    Record {
        fields: vec![
            ("id", String),
            ("target", String),
            ("weight", Integer),
            ("upstream", Foreign),
            ("tags", Type::Set(Box::new(String))),
            ("created_at", Number),
            ("updated_at", Number),
        ],
    }
}

/// A target key from a URL: an id as is, a target normalised (`a` designates `a:8000`).
pub fn target_key(key: &str) -> String {
    if Uuid::parse_str(key).is_ok() {
        return key.to_string();
    }
    normalize_target(key).unwrap_or_else(|_| key.to_string())
}

fn opt_list(items: &[String]) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        json!(items)
    }
}

/// Whole floats as integers (`1.0` → `1`), as Kong prints the health-check numbers.
fn integral(value: Value) -> Value {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => json!(f as i64),
            _ => Value::Number(n),
        },
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, integral(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(integral).collect()),
        other => other,
    }
}

/// An upstream as Kong shows it.
pub fn upstream_view(u: &Upstream) -> Value {
    let healthchecks = serde_json::to_value(&u.healthchecks).map_or(Value::Null, integral);
    json!({
        "id": u.id,
        "name": u.name,
        "algorithm": u.algorithm,
        "hash_on": u.hash_on,
        "hash_fallback": u.hash_fallback,
        "hash_on_header": u.hash_on_header,
        "hash_fallback_header": u.hash_fallback_header,
        "hash_on_cookie": u.hash_on_cookie,
        "hash_on_cookie_path": u.hash_on_cookie_path,
        "hash_on_query_arg": u.hash_on_query_arg,
        "hash_fallback_query_arg": u.hash_fallback_query_arg,
        "hash_on_uri_capture": u.hash_on_uri_capture,
        "hash_fallback_uri_capture": u.hash_fallback_uri_capture,
        "slots": u.slots,
        "healthchecks": healthchecks,
        "tags": opt_list(&u.tags),
        "host_header": u.host_header,
        "client_certificate": null,
        "use_srv_name": u.use_srv_name,
        "created_at": u.created_at,
        "updated_at": u.updated_at,
    })
}

/// A target as Kong shows it (`upstream` is the owning upstream's id).
pub fn target_view(t: &Target, upstream: Option<Uuid>) -> Value {
    json!({
        "id": t.id,
        "target": t.target,
        "weight": t.weight,
        "upstream": upstream.map_or(Value::Null, |id| json!({ "id": id })),
        "tags": opt_list(&t.tags),
        "created_at": t.created_at,
        "updated_at": t.updated_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_are_complete() {
        let mut u = Upstream::new(Uuid::from_u128(1), "a.internal");
        u.targets.push(Target::new(Uuid::from_u128(2), "x:1"));
        let v = upstream_view(&u);
        assert_eq!(v["algorithm"], "round-robin");
        assert_eq!(v["hash_on"], "none");
        assert_eq!(v["slots"], 10000);
        assert_eq!(v["healthchecks"]["threshold"], json!(0));
        assert_eq!(v["healthchecks"]["active"]["timeout"], json!(1));
        assert_eq!(v["healthchecks"]["active"]["type"], "http");
        assert_eq!(v["healthchecks"]["active"]["https_sni"], Value::Null);
        assert_eq!(
            v["healthchecks"]["passive"]["unhealthy"]["http_statuses"],
            json!([429, 500, 503])
        );
        assert_eq!(v["tags"], Value::Null);
        assert!(v.get("targets").is_none());
        let t = target_view(&u.targets[0], Some(u.id));
        assert_eq!(t["upstream"], json!({"id": u.id}));
        assert_eq!(t["weight"], 100);
        assert_eq!(target_key("x"), "x:8000");
        assert_eq!(target_key("not valid"), "not valid");
    }

    #[test]
    fn every_field_has_a_type() {
        let u = upstream_view(&Upstream::new(Uuid::nil(), "a"));
        let schema = upstream();
        for key in u.as_object().into_iter().flat_map(|m| m.keys()) {
            assert!(schema.get(key).is_some(), "{key}");
        }
        let t = target_view(&Target::new(Uuid::nil(), "a:1"), None);
        for key in t.as_object().into_iter().flat_map(|m| m.keys()) {
            assert!(target().get(key).is_some(), "{key}");
        }
    }
}

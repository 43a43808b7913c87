//! The `proxy-cache` plugin's typed config: Kong's fields, defaults and checks
//! (`kong/plugins/proxy-cache/schema.lua`), from one `FIELDS` table. Only the `memory` strategy exists (Kong
//! OSS has no other); its `dictionary_name` names the gateway's one response cache, bounded by the
//! `gateway.proxy_cache_memory_size` setting.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::{field, normalize, DefaultValue as D, Field, Kind};
use crate::error::FieldError;

/// The typed `proxy-cache` config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxyCacheConfig {
    /// Upstream statuses that may be cached.
    pub response_code: Vec<u16>,
    /// Request methods that may be cached.
    pub request_method: Vec<String>,
    /// Response content types that may be cached (type/subtype with `*` wildcards, and parameters).
    pub content_type: Vec<String>,
    /// Seconds an entry is fresh.
    pub cache_ttl: u64,
    /// The store: `memory`.
    pub strategy: String,
    /// Follow the request's and the response's `Cache-Control` (Kong's RFC 7234 subset).
    pub cache_control: bool,
    /// Lower-case the request line in the cache key.
    pub ignore_uri_case: bool,
    /// Seconds an entry is kept in the store (fresh or not); `None`: as long as it is fresh.
    pub storage_ttl: Option<i64>,
    /// The `memory` strategy's options.
    pub memory: MemoryConfig,
    /// Query arguments that make the key (`None`: all of them).
    pub vary_query_params: Option<Vec<String>>,
    /// Request headers that make the key (`None`: none).
    pub vary_headers: Option<Vec<String>>,
    /// Which diagnostic headers the answers carry.
    pub response_headers: ResponseHeaders,
}

/// `config.memory`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryConfig {
    /// Kong's shared dictionary; here the gateway's one response cache (`kong_db_cache`).
    pub dictionary_name: String,
}

/// `config.response_headers`: Kong 3's toggles of the diagnostic headers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseHeaders {
    /// `Age` on a hit.
    pub age: bool,
    /// `X-Cache-Status`.
    #[serde(rename = "X-Cache-Status")]
    pub x_cache_status: bool,
    /// `X-Cache-Key`.
    #[serde(rename = "X-Cache-Key")]
    pub x_cache_key: bool,
}

/// The shared dictionary Kong's proxy-cache uses by default, the one this gateway has.
pub const DICTIONARY: &str = "kong_db_cache";

/// The other shared dictionaries of Kong's nginx template: Kong accepts them, this gateway does not have
/// them (one response cache).
const KONG_DICTIONARIES: &[&str] = &[
    "kong",
    "kong_locks",
    "kong_healthchecks",
    "kong_cluster_events",
    "kong_rate_limiting_counters",
    "kong_core_db_cache",
    "kong_core_db_cache_miss",
    "kong_db_cache_miss",
    "kong_secrets",
];

const MEMORY: &[Field] = &[field("dictionary_name", Kind::Str, D::Str(DICTIONARY))];

const RESPONSE_HEADERS: &[Field] = &[
    field("age", Kind::Bool, D::Bool(true)),
    field("X-Cache-Status", Kind::Bool, D::Bool(true)),
    field("X-Cache-Key", Kind::Bool, D::Bool(true)),
];

/// Kong's `request_method` choices.
pub const METHODS: &[&str] = &["HEAD", "GET", "POST", "PATCH", "PUT"];

/// The schema, in Kong's order.
pub const FIELDS: &[Field] = &[
    field("response_code", Kind::Integers, D::Ints(&[200, 301, 404])),
    field("request_method", Kind::Strings, D::List(&["GET", "HEAD"])),
    field(
        "content_type",
        Kind::Strings,
        D::List(&["text/plain", "application/json"]),
    ),
    field("cache_ttl", Kind::Int, D::Num(300.0)),
    field("strategy", Kind::OneOf(&["memory"]), D::Required),
    field("cache_control", Kind::Bool, D::Bool(false)),
    field("ignore_uri_case", Kind::Bool, D::Bool(false)),
    field("storage_ttl", Kind::Int, D::Null),
    field("memory", Kind::Record(MEMORY), D::Null),
    field("vary_query_params", Kind::Strings, D::Null),
    field("vary_headers", Kind::Strings, D::Null),
    field("response_headers", Kind::Record(RESPONSE_HEADERS), D::Null),
];

impl ProxyCacheConfig {
    /// Parses and checks a raw `config` (every error collected, Kong's messages).
    pub fn from_value(value: &Value) -> Result<Self, Vec<FieldError>> {
        let mut map = normalize(FIELDS, value)?;
        let mut errors = Vec::new();
        let codes = map["response_code"].as_array().cloned().unwrap_or_default();
        if codes.is_empty() {
            errors.push(FieldError::new(
                "response_code",
                "length must be at least 1",
            ));
        }
        for (i, c) in codes.iter().enumerate() {
            if !c.as_i64().is_some_and(|c| (100..=900).contains(&c)) {
                errors.push(FieldError::new(
                    format!("response_code[{i}]"),
                    "value should be between 100 and 900",
                ));
            }
        }
        if !errors.is_empty() {
            map.insert("response_code".into(), Value::from(vec![200]));
        }
        let methods = map["request_method"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for (i, m) in methods.iter().enumerate() {
            if !m.as_str().is_some_and(|m| METHODS.contains(&m)) {
                errors.push(FieldError::new(
                    format!("request_method[{i}]"),
                    format!("expected one of: {}", METHODS.join(", ")),
                ));
            }
        }
        if map["cache_ttl"].as_i64().is_some_and(|t| t <= 0) {
            errors.push(FieldError::new("cache_ttl", "value must be greater than 0"));
            map.insert("cache_ttl".into(), Value::from(300));
        }
        let cfg: ProxyCacheConfig = serde_json::from_value(Value::Object(map))
            .map_err(|e| vec![FieldError::new("", e.to_string())])?;
        // Kong's entity check: the memory strategy's dictionary must exist.
        let dict = cfg.memory.dictionary_name.as_str();
        if dict != DICTIONARY {
            let message = if KONG_DICTIONARIES.contains(&dict) {
                format!("not supported yet: the gateway has one response cache, {DICTIONARY:?}")
            } else {
                format!("missing shared dict '{dict}'")
            };
            let path = if KONG_DICTIONARIES.contains(&dict) {
                "memory.dictionary_name"
            } else {
                ""
            };
            errors.push(FieldError::new(path, message));
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

    fn errors(v: Value) -> Vec<(String, String)> {
        ProxyCacheConfig::from_value(&v)
            .unwrap_err()
            .into_iter()
            .map(|e| (e.path, e.message))
            .collect()
    }

    fn one(p: &str, m: &str) -> Vec<(String, String)> {
        vec![(p.to_owned(), m.to_owned())]
    }

    #[test]
    fn defaults_are_kongs() {
        let c = ProxyCacheConfig::from_value(&json!({"strategy": "memory"})).unwrap();
        assert_eq!(c.response_code, vec![200, 301, 404]);
        assert_eq!(c.request_method, vec!["GET", "HEAD"]);
        assert_eq!(c.content_type, vec!["text/plain", "application/json"]);
        assert_eq!((c.cache_ttl, c.storage_ttl), (300, None));
        assert!(!c.cache_control && !c.ignore_uri_case);
        assert_eq!(c.memory.dictionary_name, "kong_db_cache");
        assert!(c.response_headers.age && c.response_headers.x_cache_status);
        let v = c.to_value_with_defaults();
        assert_eq!(v["response_headers"]["X-Cache-Key"], json!(true));
        assert_eq!(v["vary_headers"], Value::Null);
        assert_eq!(v["response_code"], json!([200, 301, 404]));
        let custom = json!({"strategy": "memory", "response_code": [123, 200], "request_method": ["GET"],
            "content_type": ["application/*", "*/text", "application/json; charset=UTF-8"],
            "vary_query_params": ["foo"], "vary_headers": ["foo"], "storage_ttl": 600});
        assert!(ProxyCacheConfig::from_value(&custom).is_ok());
    }

    #[test]
    fn kongs_schema_messages() {
        // spec/03-plugins/31-proxy-cache/01-schema_spec.lua and 03-api_spec.lua
        let m = |extra: Value| {
            let mut v = json!({"strategy": "memory"});
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            errors(v)
        };
        let range = "value should be between 100 and 900";
        assert_eq!(
            m(json!({"response_code": [99]})),
            one("response_code[0]", range)
        );
        assert_eq!(
            m(json!({"response_code": []})),
            one("response_code", "length must be at least 1")
        );
        assert_eq!(
            m(json!({"response_code": ""})),
            one("response_code", "expected an array")
        );
        assert_eq!(
            m(json!({"response_code": [true, "alo", 123]})),
            vec![
                (
                    "response_code[0]".to_owned(),
                    "expected an integer".to_owned()
                ),
                (
                    "response_code[1]".to_owned(),
                    "expected an integer".to_owned()
                )
            ]
        );
        assert_eq!(
            m(json!({"response_code": [123.5]})),
            one("response_code[0]", "expected an integer")
        );
        assert_eq!(
            m(json!({"cache_ttl": -1})),
            one("cache_ttl", "value must be greater than 0")
        );
        assert_eq!(
            m(json!({"request_method": ["DELETE"]})),
            one(
                "request_method[0]",
                "expected one of: HEAD, GET, POST, PATCH, PUT"
            )
        );
        assert_eq!(errors(json!({})), one("strategy", "required field missing"));
        assert_eq!(
            errors(json!({"strategy": "redis"})),
            one("strategy", "expected one of: memory")
        );
        assert_eq!(
            m(json!({"memory": {"dictionary_name": "nope"}})),
            one("", "missing shared dict 'nope'")
        );
        let e = m(json!({"memory": {"dictionary_name": "kong"}}));
        assert_eq!(e[0].0, "memory.dictionary_name");
        assert!(e[0].1.starts_with("not supported yet"));
        assert_eq!(
            m(json!({"response_headers": {"age": "yes"}})),
            one("response_headers.age", "expected a boolean")
        );
    }
}

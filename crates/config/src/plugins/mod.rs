//! The plugins this gateway implements, in one table ([`PLUGINS`]): each plugin's name, Kong priority, schema
//! (a [`fields::Field`] table) and parser. A plugin's `config` is parsed once, when the config is loaded, into
//! a [`TypedConfig`] (the typed value, its canonical JSON and a key computed once) that the loader stores on the
//! [`crate::model::Plugin`]; validation, the Admin API's views and the gateway's compile step all read that.
//! Adding a plugin is one new module (its config type and `FIELDS` table) plus one row here.

pub mod acl;
pub mod basic_auth;
pub mod bot_detection;
pub mod correlation_id;
pub mod cors;
pub mod fields;
pub mod file_log;
pub mod hmac_auth;
pub mod http_log;
pub mod ip_restriction;
pub mod jwt;
pub mod key_auth;
pub mod openid_connect;
pub mod opentelemetry;
pub mod prometheus;
pub mod proxy_cache;
pub mod queue;
pub mod rate_limiting;
pub mod request_size_limiting;
pub mod request_termination;
pub mod request_transformer;
pub mod response_transformer;
pub mod template;
pub mod tls_handshake_modifier;

use std::sync::Arc;

use serde_json::Value;

pub use crate::error::FieldError;
use acl::AclConfig;
use basic_auth::BasicAuthConfig;
use bot_detection::BotDetectionConfig;
use correlation_id::CorrelationIdConfig;
use cors::CorsConfig;
use file_log::FileLogConfig;
use hmac_auth::HmacAuthConfig;
use http_log::HttpLogConfig;
use ip_restriction::IpRestrictionConfig;
use jwt::JwtConfig;
use key_auth::KeyAuthConfig;
use openid_connect::OidcConfig;
use opentelemetry::OpenTelemetryConfig;
use prometheus::PrometheusConfig;
use proxy_cache::ProxyCacheConfig;
use rate_limiting::RateLimitingConfig;
use request_size_limiting::RequestSizeLimitingConfig;
use request_termination::RequestTerminationConfig;
use request_transformer::RequestTransformerConfig;
use response_transformer::ResponseTransformerConfig;
use tls_handshake_modifier::TlsHandshakeModifierConfig;

/// One plugin this gateway implements.
#[derive(Debug)]
pub struct PluginSpec {
    /// Kong's plugin name.
    pub name: &'static str,
    /// Kong's priority: plugins run from the highest down (openid-connect 1050 before rate-limiting 910).
    pub priority: u32,
    /// Whether Kong allows it on a consumer (`openid-connect` is `no_consumer`; `rate-limiting` is not).
    pub on_consumer: bool,
    /// The config schema, in schema order.
    pub fields: &'static [fields::Field],
    /// Parses and checks a raw `config` (error paths relative to `config`).
    pub parse: fn(&Value) -> Result<PluginConfig, Vec<FieldError>>,
}

/// Every plugin this gateway implements, by priority (highest first).
pub const PLUGINS: &[PluginSpec] = &[
    PluginSpec {
        name: "correlation-id",
        priority: 100001,
        on_consumer: true,
        fields: correlation_id::FIELDS,
        parse: |v| {
            CorrelationIdConfig::from_value(v).map(|c| PluginConfig::CorrelationId(Arc::new(c)))
        },
    },
    PluginSpec {
        name: "bot-detection",
        priority: 2500,
        on_consumer: false,
        fields: bot_detection::FIELDS,
        parse: |v| {
            BotDetectionConfig::from_value(v).map(|c| PluginConfig::BotDetection(Arc::new(c)))
        },
    },
    PluginSpec {
        name: "cors",
        priority: 2000,
        on_consumer: false,
        fields: cors::FIELDS,
        parse: |v| CorsConfig::from_value(v).map(|c| PluginConfig::Cors(Arc::new(c))),
    },
    PluginSpec {
        name: "jwt",
        priority: 1450,
        on_consumer: false,
        fields: jwt::FIELDS,
        parse: |v| JwtConfig::from_value(v).map(|c| PluginConfig::Jwt(Arc::new(c))),
    },
    PluginSpec {
        name: "key-auth",
        priority: 1250,
        on_consumer: false,
        fields: key_auth::FIELDS,
        parse: |v| KeyAuthConfig::from_value(v).map(|c| PluginConfig::KeyAuth(Arc::new(c))),
    },
    PluginSpec {
        name: "basic-auth",
        priority: 1100,
        on_consumer: false,
        fields: basic_auth::FIELDS,
        parse: |v| BasicAuthConfig::from_value(v).map(|c| PluginConfig::BasicAuth(Arc::new(c))),
    },
    PluginSpec {
        name: "openid-connect",
        priority: 1050,
        on_consumer: false,
        fields: openid_connect::FIELDS,
        parse: |v| OidcConfig::from_value(v).map(|c| PluginConfig::OpenidConnect(Arc::new(c))),
    },
    PluginSpec {
        name: "hmac-auth",
        priority: 1030,
        on_consumer: false,
        fields: hmac_auth::FIELDS,
        parse: |v| HmacAuthConfig::from_value(v).map(|c| PluginConfig::HmacAuth(Arc::new(c))),
    },
    PluginSpec {
        name: "tls-handshake-modifier",
        priority: 997,
        on_consumer: false,
        fields: tls_handshake_modifier::FIELDS,
        parse: |v| {
            TlsHandshakeModifierConfig::from_value(v)
                .map(|c| PluginConfig::TlsHandshakeModifier(Arc::new(c)))
        },
    },
    PluginSpec {
        name: "ip-restriction",
        priority: 990,
        on_consumer: true,
        fields: ip_restriction::FIELDS,
        parse: |v| {
            IpRestrictionConfig::from_value(v).map(|c| PluginConfig::IpRestriction(Arc::new(c)))
        },
    },
    PluginSpec {
        name: "request-size-limiting",
        priority: 951,
        on_consumer: true,
        fields: request_size_limiting::FIELDS,
        parse: |v| {
            RequestSizeLimitingConfig::from_value(v)
                .map(|c| PluginConfig::RequestSizeLimiting(Arc::new(c)))
        },
    },
    PluginSpec {
        name: "acl",
        priority: 950,
        on_consumer: false,
        fields: acl::FIELDS,
        parse: |v| AclConfig::from_value(v).map(|c| PluginConfig::Acl(Arc::new(c))),
    },
    PluginSpec {
        name: "rate-limiting",
        priority: 910,
        on_consumer: true,
        fields: rate_limiting::FIELDS,
        parse: |v| {
            RateLimitingConfig::from_value(v).map(|c| PluginConfig::RateLimiting(Arc::new(c)))
        },
    },
    PluginSpec {
        name: "request-transformer",
        priority: 801,
        on_consumer: true,
        fields: request_transformer::FIELDS,
        parse: |v| {
            RequestTransformerConfig::from_value(v)
                .map(|c| PluginConfig::RequestTransformer(Arc::new(c)))
        },
    },
    PluginSpec {
        name: "response-transformer",
        priority: 800,
        on_consumer: true,
        fields: response_transformer::FIELDS,
        parse: |v| {
            ResponseTransformerConfig::from_value(v)
                .map(|c| PluginConfig::ResponseTransformer(Arc::new(c)))
        },
    },
    PluginSpec {
        name: "proxy-cache",
        priority: 100,
        on_consumer: true,
        fields: proxy_cache::FIELDS,
        parse: |v| ProxyCacheConfig::from_value(v).map(|c| PluginConfig::ProxyCache(Arc::new(c))),
    },
    PluginSpec {
        name: "opentelemetry",
        priority: 14,
        on_consumer: true,
        fields: opentelemetry::FIELDS,
        parse: |v| {
            OpenTelemetryConfig::from_value(v).map(|c| PluginConfig::OpenTelemetry(Arc::new(c)))
        },
    },
    PluginSpec {
        name: "prometheus",
        priority: 13,
        on_consumer: true,
        fields: prometheus::FIELDS,
        parse: |v| PrometheusConfig::from_value(v).map(|c| PluginConfig::Prometheus(Arc::new(c))),
    },
    PluginSpec {
        name: "http-log",
        priority: 12,
        on_consumer: true,
        fields: http_log::FIELDS,
        parse: |v| HttpLogConfig::from_value(v).map(|c| PluginConfig::HttpLog(Arc::new(c))),
    },
    PluginSpec {
        name: "file-log",
        priority: 9,
        on_consumer: true,
        fields: file_log::FIELDS,
        parse: |v| FileLogConfig::from_value(v).map(|c| PluginConfig::FileLog(Arc::new(c))),
    },
    PluginSpec {
        name: "request-termination",
        priority: 2,
        on_consumer: true,
        fields: request_termination::FIELDS,
        parse: |v| {
            RequestTerminationConfig::from_value(v)
                .map(|c| PluginConfig::RequestTermination(Arc::new(c)))
        },
    },
];

/// A plugin config, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum PluginConfig {
    /// `cors`.
    Cors(Arc<CorsConfig>),
    /// `jwt`.
    Jwt(Arc<JwtConfig>),
    /// `key-auth`.
    KeyAuth(Arc<KeyAuthConfig>),
    /// `basic-auth`.
    BasicAuth(Arc<BasicAuthConfig>),
    /// `hmac-auth`.
    HmacAuth(Arc<HmacAuthConfig>),
    /// `openid-connect`.
    OpenidConnect(Arc<OidcConfig>),
    /// `rate-limiting`.
    RateLimiting(Arc<RateLimitingConfig>),
    /// `acl`.
    Acl(Arc<AclConfig>),
    /// `correlation-id`.
    CorrelationId(Arc<CorrelationIdConfig>),
    /// `request-size-limiting`.
    RequestSizeLimiting(Arc<RequestSizeLimitingConfig>),
    /// `request-termination`.
    RequestTermination(Arc<RequestTerminationConfig>),
    /// `tls-handshake-modifier`.
    TlsHandshakeModifier(Arc<TlsHandshakeModifierConfig>),
    /// `request-transformer`.
    RequestTransformer(Arc<RequestTransformerConfig>),
    /// `response-transformer`.
    ResponseTransformer(Arc<ResponseTransformerConfig>),
    /// `proxy-cache`.
    ProxyCache(Arc<ProxyCacheConfig>),
    /// `ip-restriction`.
    IpRestriction(Arc<IpRestrictionConfig>),
    /// `bot-detection`.
    BotDetection(Arc<BotDetectionConfig>),
    /// `opentelemetry`.
    OpenTelemetry(Arc<OpenTelemetryConfig>),
    /// `prometheus`.
    Prometheus(Arc<PrometheusConfig>),
    /// `http-log`.
    HttpLog(Arc<HttpLogConfig>),
    /// `file-log`.
    FileLog(Arc<FileLogConfig>),
}

impl PluginConfig {
    /// The whole config with defaults filled in (`null` for unset fields), in schema order: what the Admin
    /// API shows, and the canonical form the key is computed from.
    fn canonical(&self) -> Value {
        match self {
            PluginConfig::Cors(c) => c.to_value_with_defaults(),
            PluginConfig::Jwt(c) => c.to_value_with_defaults(),
            PluginConfig::KeyAuth(c) => c.to_value_with_defaults(),
            PluginConfig::BasicAuth(c) => c.to_value_with_defaults(),
            PluginConfig::HmacAuth(c) => c.to_value_with_defaults(),
            PluginConfig::OpenidConnect(c) => c.to_value_with_defaults(),
            PluginConfig::RateLimiting(c) => c.to_value_with_defaults(),
            PluginConfig::Acl(c) => c.to_value_with_defaults(),
            PluginConfig::RequestTermination(c) => c.to_value_with_defaults(),
            PluginConfig::TlsHandshakeModifier(c) => c.to_value_with_defaults(),
            PluginConfig::RequestSizeLimiting(c) => c.to_value_with_defaults(),
            PluginConfig::CorrelationId(c) => c.to_value_with_defaults(),
            PluginConfig::RequestTransformer(c) => c.to_value_with_defaults(),
            PluginConfig::ResponseTransformer(c) => c.to_value_with_defaults(),
            PluginConfig::ProxyCache(c) => c.to_value_with_defaults(),
            PluginConfig::IpRestriction(c) => c.to_value_with_defaults(),
            PluginConfig::BotDetection(c) => c.to_value_with_defaults(),
            PluginConfig::OpenTelemetry(c) => c.to_value_with_defaults(),
            PluginConfig::Prometheus(c) => c.to_value_with_defaults(),
            PluginConfig::HttpLog(c) => c.to_value_with_defaults(),
            PluginConfig::FileLog(c) => c.to_value_with_defaults(),
        }
    }
}

/// A parsed plugin config with its identity, computed once at load.
#[derive(Debug)]
pub struct TypedConfig {
    /// The plugin's spec.
    pub spec: &'static PluginSpec,
    /// The typed config.
    pub config: PluginConfig,
    /// The config with defaults (see [`PluginConfig`]'s canonical form).
    pub canonical: Value,
    /// BLAKE3 of the canonical JSON text: equal keys, equal effective configs (defaults included). Runtime
    /// state (an authenticator's caches) is kept per key across reloads.
    pub key: [u8; 32],
}

impl PartialEq for TypedConfig {
    fn eq(&self, other: &Self) -> bool {
        self.spec.name == other.spec.name && self.key == other.key
    }
}

/// The spec of a plugin by name.
pub fn spec(name: &str) -> Option<&'static PluginSpec> {
    PLUGINS.iter().find(|s| s.name == name)
}

/// True when `name` is a plugin this gateway implements.
pub fn is_known(name: &str) -> bool {
    spec(name).is_some()
}

/// The names of the plugins this gateway implements.
pub fn names() -> Vec<&'static str> {
    PLUGINS.iter().map(|s| s.name).collect()
}

/// The identity of a plugin config: BLAKE3 of its canonical JSON text (see [`TypedConfig::key`]).
pub fn key_of(canonical: &Value) -> [u8; 32] {
    *blake3::hash(canonical.to_string().as_bytes()).as_bytes()
}

/// Parses `config` (the plugin's `config` record) for the plugin `name`; error paths are relative to `config`.
///
/// An unknown plugin name gives a single error with an empty path.
pub fn parse(name: &str, config: &Value) -> Result<Arc<TypedConfig>, Vec<FieldError>> {
    let Some(spec) = spec(name) else {
        return Err(vec![FieldError::new(
            "",
            format!(
                "unknown plugin {name:?} (supported: {})",
                names().join(", ")
            ),
        )]);
    };
    let mut refs = Vec::new();
    vault_references(config, "", &mut refs);
    if !refs.is_empty() {
        return Err(refs);
    }
    let config = (spec.parse)(config)?;
    let canonical = config.canonical();
    let key = key_of(&canonical);
    Ok(Arc::new(TypedConfig {
        spec,
        config,
        canonical,
        key,
    }))
}

/// Refuses `{vault://…}` references anywhere in a plugin config: they are resolved in certificates only, so
/// one here would otherwise be used as the literal text (a client secret, a Redis password, ...).
fn vault_references(value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    match value {
        Value::String(s) if crate::vaults::is_reference(s) => errors.push(FieldError::new(
            path,
            "vault references are not supported yet in plugin configs (only in certificates' cert and key \
             fields); put the value itself here"
                .to_string(),
        )),
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                vault_references(v, &format!("{path}[{i}]"), errors);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                vault_references(v, &p, errors);
            }
        }
        _ => {}
    }
}

/// A plugin `config` as a map key for memoizing per distinct config: two keys are equal exactly when the
/// configs serialize to the same JSON text (same key order, floats compared by bits), so anything computed
/// from one config, error messages and their order included, holds for the other. Hashing walks the value
/// without serializing it.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey<'a>(pub &'a serde_json::Value);

impl PartialEq for ConfigKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        same_json(self.0, other.0)
    }
}

impl Eq for ConfigKey<'_> {}

impl std::hash::Hash for ConfigKey<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        hash_json(self.0, state);
    }
}

fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (a, b) {
        (V::Null, V::Null) => true,
        (V::Bool(x), V::Bool(y)) => x == y,
        (V::Number(x), V::Number(y)) if x.is_f64() || y.is_f64() => {
            x.is_f64() && y.is_f64() && x.as_f64().map(f64::to_bits) == y.as_f64().map(f64::to_bits)
        }
        (V::Number(x), V::Number(y)) => x == y,
        (V::String(x), V::String(y)) => x == y,
        (V::Array(x), V::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b))
        }
        (V::Object(x), V::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka == kb && same_json(va, vb))
        }
        _ => false,
    }
}

fn hash_json<H: std::hash::Hasher>(v: &serde_json::Value, state: &mut H) {
    use serde_json::Value as V;
    use std::hash::Hash;
    std::mem::discriminant(v).hash(state);
    match v {
        V::Null => {}
        V::Bool(b) => b.hash(state),
        V::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => u.hash(state),
            (None, Some(i), _) => i.hash(state),
            (None, None, f) => f.map(f64::to_bits).hash(state),
        },
        V::String(s) => s.hash(state),
        V::Array(items) => {
            items.len().hash(state);
            for item in items {
                hash_json(item, state);
            }
        }
        V::Object(map) => {
            map.len().hash(state);
            for (k, item) in map {
                k.hash(state);
                hash_json(item, state);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_references_in_plugin_configs_are_refused_with_their_path() {
        let cfg = serde_json::json!({
            "issuer": "http://idp.test/",
            "client_secret": ["{vault://env/oidc-secret}"],
            "redis": {"password": "{vault://env/redis}"},
            "plain": "not {vault://a/b} a reference"
        });
        let errs = parse("openid-connect", &cfg).unwrap_err();
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["client_secret[0]", "redis.password"]);
        assert!(
            errs[0].message.contains("not supported yet"),
            "{}",
            errs[0].message
        );
    }

    #[test]
    fn config_key_is_json_text_identity() {
        use serde_json::json;
        use std::hash::BuildHasher;
        let cases = [
            json!({"a": 1, "b": [1, "x", null, true]}),
            json!({"b": [1, "x", null, true], "a": 1}),
            json!({"a": 1.0, "b": [1, "x", null, true]}),
            json!({"a": -0.0}),
            json!({"a": 0.0}),
            json!({"a": -1}),
            json!({"a": 18446744073709551615u64}),
            json!(null),
            json!([]),
            json!({}),
        ];
        let text = |v: &serde_json::Value| serde_json::to_string(v).unwrap_or_default();
        for a in &cases {
            for b in &cases {
                assert_eq!(
                    ConfigKey(a) == ConfigKey(b),
                    text(a) == text(b),
                    "{a} vs {b}"
                );
            }
        }
        let same = json!({"a": 1, "b": [1, "x", null, true]});
        let hasher = std::collections::hash_map::RandomState::new();
        assert_eq!(
            hasher.hash_one(ConfigKey(&cases[0])),
            hasher.hash_one(ConfigKey(&same))
        );
    }

    #[test]
    fn unknown_plugin_is_refused() {
        let errors = parse("kafka-upstream", &serde_json::json!({})).unwrap_err();
        assert_eq!(
            errors,
            vec![FieldError::new(
                "",
                format!(
                    "unknown plugin \"kafka-upstream\" (supported: {})",
                    names().join(", ")
                )
            )]
        );
        assert!(is_known("openid-connect"));
        assert!(is_known("key-auth") && is_known("basic-auth") && is_known("jwt"));
        assert!(!is_known("kafka-upstream"));
        // PLUGINS is in Kong's priority order, highest first.
        assert!(PLUGINS.windows(2).all(|w| w[0].priority > w[1].priority));
    }

    #[test]
    fn openid_connect_is_dispatched_and_keyed_on_its_effective_config() {
        // Without the required `issuer` the typed schema must refuse the config.
        assert!(parse("openid-connect", &serde_json::json!({})).is_err());
        let issuer = "https://idp.example.com/realms/demo";
        let a = parse("openid-connect", &serde_json::json!({ "issuer": issuer })).unwrap();
        assert!(matches!(a.config, PluginConfig::OpenidConnect(ref c) if c.issuer == issuer));
        assert_eq!(a.canonical["timeout"], serde_json::json!(10000));
        // Spelling a default out gives the same key; changing a value gives another.
        let b = parse(
            "openid-connect",
            &serde_json::json!({ "timeout": 10000, "issuer": issuer }),
        )
        .unwrap();
        let c = parse(
            "openid-connect",
            &serde_json::json!({ "timeout": 500, "issuer": issuer }),
        )
        .unwrap();
        assert_eq!(a.key, b.key);
        assert_ne!(a.key, c.key);
        assert_eq!(*a, *b);
    }
}

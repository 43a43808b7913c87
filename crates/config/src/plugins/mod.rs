//! Plugin schemas: the list of supported plugins and validation of a plugin's `config` by name.

pub mod openid_connect;

pub use crate::error::FieldError;

/// Names of the plugins this gateway implements.
pub const KNOWN: &[&str] = &["openid-connect"];

/// True when `name` is a plugin this gateway implements.
pub fn is_known(name: &str) -> bool {
    KNOWN.contains(&name)
}

/// Validates `config` (the plugin's `config` record) for the plugin `name`; error paths are relative to `config`.
///
/// An unknown plugin name gives a single error with an empty path.
pub fn validate(name: &str, config: &serde_json::Value) -> Result<(), Vec<FieldError>> {
    match name {
        "openid-connect" => openid_connect::OidcConfig::from_value(config).map(|_| ()),
        other => Err(vec![FieldError::new(
            "",
            format!("unknown plugin {other:?} (supported: {})", KNOWN.join(", ")),
        )]),
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

/// A map from distinct plugin configs to what was computed from them (aHash: cheap on these keys).
pub type ConfigMemo<'a, V> = crate::fast::FastMap<ConfigKey<'a>, V>;

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
        let errors = validate("rate-limiting", &serde_json::json!({})).unwrap_err();
        assert_eq!(
            errors,
            vec![FieldError::new(
                "",
                "unknown plugin \"rate-limiting\" (supported: openid-connect)"
            )]
        );
        assert!(is_known("openid-connect"));
        assert!(!is_known("key-auth"));
    }

    #[test]
    fn openid_connect_is_dispatched() {
        // Without the required `issuer` the typed schema must refuse the config.
        assert!(validate("openid-connect", &serde_json::json!({})).is_err());
        assert!(validate(
            "openid-connect",
            &serde_json::json!({"issuer": "https://idp.example.com/realms/demo"})
        )
        .is_ok());
    }
}

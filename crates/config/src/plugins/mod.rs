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

#[cfg(test)]
mod tests {
    use super::*;

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

//! Sender-constrained tokens and resource metadata in the openid-connect config: Kong's
//! `proof_of_possession_dpop` / `dpop_*` (RFC 9449), `proof_of_possession_mtls` (RFC 8705),
//! `proof_of_possession_auth_methods_validation`, the gateway's `dpop_signing_alg_values_supported`, and the
//! `protected_resource_metadata` record (RFC 9728), with their load-time checks.

use serde::{Deserialize, Serialize};

use super::{err, AuthMethod, OidcConfig};
use crate::error::FieldError;
use crate::plugins::fields::{field, DefaultValue as D, Field, Kind};

/// A proof-of-possession mode (`proof_of_possession_dpop`, `proof_of_possession_mtls`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PopMode {
    /// No check (Kong's default).
    #[default]
    Off,
    /// Only tokens bound to a key (`cnf.jkt`) or a certificate (`cnf.x5t#S256`) are checked.
    Optional,
    /// Every token must be bound, and the binding proven.
    Strict,
}

impl PopMode {
    /// Its names in the config, in schema order.
    pub const NAMES: &'static [&'static str] = &["off", "optional", "strict"];

    /// Whether the check runs at all.
    pub fn on(self) -> bool {
        self != PopMode::Off
    }
}

/// The DPoP proof algorithms the gateway verifies (asymmetric only: never `none`, never HMAC). The default of
/// `dpop_signing_alg_values_supported`.
pub const DPOP_ALGS: &[&str] = &[
    "ES256", "ES384", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
];

/// The auth methods whose tokens can carry a proof of possession (the client presents the token itself).
const POP_METHODS: &[AuthMethod] = &[AuthMethod::Bearer, AuthMethod::Introspection];

/// RFC 9728 protected resource metadata (`protected_resource_metadata`): the document the plugin serves at
/// `metadata_endpoint`, and the `resource_metadata` link of its 401s.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProtectedResourceMetadata {
    /// Serve the document and link it from 401s.
    pub enabled: bool,
    /// The resource identifier (an `https` or `http` URL without query or fragment; required when enabled).
    pub resource: Option<String>,
    /// The path the document is served at (unset: `/.well-known/oauth-protected-resource` followed by the
    /// resource's path, RFC 9728 §3.1). The route must match it.
    pub metadata_endpoint: Option<String>,
    /// `authorization_servers` (unset: the plugin's `issuer`).
    pub authorization_servers: Option<Vec<String>>,
    /// `scopes_supported` (unset: left out).
    pub scopes_supported: Option<Vec<String>>,
    /// `resource_name` (unset: left out).
    pub resource_name: Option<String>,
    /// `resource_documentation` (unset: left out).
    pub resource_documentation: Option<String>,
}

/// The fields of `protected_resource_metadata`, in schema order.
pub const METADATA_FIELDS: &[Field] = &[
    field("enabled", Kind::Bool, D::Bool(false)),
    field("resource", Kind::Url, D::Null),
    field("metadata_endpoint", Kind::Str, D::Null),
    field("authorization_servers", Kind::Urls, D::Null),
    field("scopes_supported", Kind::Strings, D::Null),
    field("resource_name", Kind::Str, D::Null),
    field("resource_documentation", Kind::Url, D::Null),
];

/// The well-known prefix of RFC 9728 metadata.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

impl ProtectedResourceMetadata {
    /// The path the document is served at: `metadata_endpoint`, else the well-known prefix followed by the
    /// resource's path without its trailing `/` (RFC 9728 §3.1).
    pub fn endpoint_path(&self) -> String {
        if let Some(p) = &self.metadata_endpoint {
            return p.clone();
        }
        let path = self
            .resource
            .as_deref()
            .and_then(|r| url::Url::parse(r).ok())
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        format!("{WELL_KNOWN}{path}")
    }

    /// The absolute URL of the document (the resource's origin and [`Self::endpoint_path`]).
    pub fn endpoint_url(&self) -> Option<String> {
        let u = url::Url::parse(self.resource.as_deref()?).ok()?;
        Some(format!(
            "{}{}",
            u.origin().ascii_serialization(),
            self.endpoint_path()
        ))
    }
}

impl OidcConfig {
    /// The proof-of-possession and resource-metadata rules.
    pub(super) fn check_pop(&self, errors: &mut Vec<FieldError>) {
        if self.dpop_proof_lifetime <= 0.0 || self.dpop_proof_lifetime.is_nan() {
            errors.push(err("dpop_proof_lifetime", "value must be greater than 0"));
        }
        if let Some(algs) = &self.dpop_signing_alg_values_supported {
            if algs.is_empty() {
                errors.push(err(
                    "dpop_signing_alg_values_supported",
                    "length must be at least 1",
                ));
            }
        }
        let pop_on = self.proof_of_possession_dpop.on() || self.proof_of_possession_mtls.on();
        if pop_on && self.proof_of_possession_auth_methods_validation {
            for (i, m) in self.auth_methods.iter().enumerate() {
                if !POP_METHODS.contains(m) {
                    errors.push(err(
                        &format!("auth_methods[{i}]"),
                        &format!(
                            "{} is not compatible with proof of possession (proof_of_possession_dpop or proof_of_possession_mtls is on; compatible: bearer, introspection; or set proof_of_possession_auth_methods_validation: false to skip the check for it)",
                            m.name()
                        ),
                    ));
                }
            }
        }
        let m = &self.protected_resource_metadata;
        if m.enabled && m.resource.is_none() {
            errors.push(err(
                "protected_resource_metadata.resource",
                "required field missing (protected_resource_metadata.enabled is true)",
            ));
        }
        if let Some(r) = m.resource.as_deref().and_then(|r| url::Url::parse(r).ok()) {
            if r.query().is_some() || r.fragment().is_some() {
                errors.push(err(
                    "protected_resource_metadata.resource",
                    "must not have a query or a fragment (RFC 9728 §1.2)",
                ));
            }
        }
        if let Some(p) = &m.metadata_endpoint {
            if !p.starts_with('/') || p.contains(['?', '#']) {
                errors.push(err(
                    "protected_resource_metadata.metadata_endpoint",
                    "must be a path starting with / (no query, no fragment)",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const ISS: &str = "http://127.0.0.1:4593/oidc";

    fn errors(v: Value) -> Vec<(String, String)> {
        let mut v = v;
        v["issuer"] = json!(ISS);
        OidcConfig::from_value(&v)
            .unwrap_err()
            .into_iter()
            .map(|e| (e.path, e.message))
            .collect()
    }

    #[test]
    fn dpop_fields() {
        let c = OidcConfig::with_issuer(ISS);
        assert_eq!(c.proof_of_possession_dpop, PopMode::Off);
        assert_eq!(c.dpop_proof_lifetime, 300.0);
        assert!(!c.dpop_use_nonce && c.proof_of_possession_auth_methods_validation);
        let c = OidcConfig::from_value(&json!({"issuer": ISS, "auth_methods": ["bearer", "introspection"],
            "proof_of_possession_dpop": "strict", "dpop_signing_alg_values_supported": ["ES256", "EdDSA"]}))
        .unwrap();
        assert_eq!(c.proof_of_possession_dpop, PopMode::Strict);
        let v = c.to_value_with_defaults();
        assert_eq!(v["proof_of_possession_dpop"], json!("strict"));
        assert_eq!(OidcConfig::from_value(&v).unwrap(), c);
    }

    #[test]
    fn bad_pop_settings_are_refused_with_their_path() {
        let e = errors(json!({"proof_of_possession_dpop": "always"}));
        assert_eq!(e[0].0, "proof_of_possession_dpop");
        let e = errors(json!({"auth_methods": ["introspection"],
            "dpop_signing_alg_values_supported": ["ES256", "HS256"]}));
        assert_eq!(e[0].0, "dpop_signing_alg_values_supported[1]");
        let e = errors(json!({"dpop_signing_alg_values_supported": ["none"]}));
        assert_eq!(e[0].0, "dpop_signing_alg_values_supported[0]");
        let e = errors(json!({"dpop_proof_lifetime": 0}));
        assert_eq!(e[0].0, "dpop_proof_lifetime");
        // The default auth_methods include grants, whose tokens cannot be bound.
        let e = errors(json!({"proof_of_possession_dpop": "optional"}));
        assert_eq!(e[0].0, "auth_methods[0]");
        assert!(
            e[0].1.contains("not compatible with proof of possession"),
            "{e:?}"
        );
        OidcConfig::from_value(
            &json!({"issuer": ISS, "proof_of_possession_dpop": "optional",
            "proof_of_possession_auth_methods_validation": false}),
        )
        .unwrap();
        let e = errors(json!({"protected_resource_metadata": {"enabled": true}}));
        assert_eq!(e[0].0, "protected_resource_metadata.resource");
        let e =
            errors(json!({"protected_resource_metadata": {"resource": "https://a.example/x?q=1"}}));
        assert_eq!(e[0].0, "protected_resource_metadata.resource");
        let e = errors(json!({"protected_resource_metadata": {"metadata_endpoint": "x"}}));
        assert_eq!(e[0].0, "protected_resource_metadata.metadata_endpoint");
    }

    #[test]
    fn metadata_paths() {
        let m = |resource: &str| ProtectedResourceMetadata {
            enabled: true,
            resource: Some(resource.into()),
            ..Default::default()
        };
        assert_eq!(
            m("https://api.example.com").endpoint_path(),
            "/.well-known/oauth-protected-resource"
        );
        let r = m("https://api.example.com:8443/v1/things/");
        assert_eq!(
            r.endpoint_path(),
            "/.well-known/oauth-protected-resource/v1/things"
        );
        assert_eq!(
            r.endpoint_url().unwrap(),
            "https://api.example.com:8443/.well-known/oauth-protected-resource/v1/things"
        );
    }
}

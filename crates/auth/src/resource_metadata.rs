//! RFC 9728 protected resource metadata (`protected_resource_metadata`): the JSON document made once from the
//! config, and the path it is served at. The 401's `resource_metadata` link is the error style's
//! (`errors.rs`).

use bytes::Bytes;
use gateway_config::plugins::openid_connect::{OidcConfig, ParamType, PopMode};
use serde_json::{json, Map, Value};

/// The document of a config and where it is served.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceMetadata {
    /// The request path that gets the document.
    pub path: String,
    /// The JSON document.
    pub body: Bytes,
}

impl ResourceMetadata {
    /// The document of `cfg`; `None` when `protected_resource_metadata.enabled` is false.
    pub fn new(cfg: &OidcConfig) -> Option<ResourceMetadata> {
        let m = &cfg.protected_resource_metadata;
        if !m.enabled {
            return None;
        }
        let mut doc = Map::new();
        doc.insert("resource".into(), json!(m.resource.as_deref()?));
        let servers = m.authorization_servers.clone().unwrap_or_else(|| {
            let issuer = cfg
                .issuer
                .trim_end_matches("/.well-known/openid-configuration")
                .trim_end_matches("/.well-known/oauth-authorization-server");
            vec![issuer.to_owned()]
        });
        doc.insert("authorization_servers".into(), json!(servers));
        if let Some(s) = &m.scopes_supported {
            doc.insert("scopes_supported".into(), json!(s));
        }
        let methods: Vec<&str> = (cfg.bearer_token_param_type.iter())
            .filter_map(|t| match t {
                ParamType::Header => Some("header"),
                ParamType::Body => Some("body"),
                ParamType::Query => Some("query"),
                ParamType::Cookie => None,
            })
            .collect();
        doc.insert("bearer_methods_supported".into(), json!(methods));
        if let Some(n) = &m.resource_name {
            doc.insert("resource_name".into(), json!(n));
        }
        if let Some(d) = &m.resource_documentation {
            doc.insert("resource_documentation".into(), json!(d));
        }
        if cfg.proof_of_possession_dpop.on() {
            let algs = crate::dpop::Dpop::algs_text(cfg);
            let algs: Vec<&str> = algs.split(' ').collect();
            doc.insert("dpop_signing_alg_values_supported".into(), json!(algs));
            doc.insert(
                "dpop_bound_access_tokens_required".into(),
                json!(cfg.proof_of_possession_dpop == PopMode::Strict),
            );
        }
        if cfg.proof_of_possession_mtls.on() {
            doc.insert(
                "tls_client_certificate_bound_access_tokens".into(),
                json!(true),
            );
        }
        Some(ResourceMetadata {
            path: m.endpoint_path(),
            body: Bytes::from(Value::Object(doc).to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document() {
        let cfg = OidcConfig::from_value(&json!({
            "issuer": "https://idp.example.com/.well-known/openid-configuration",
            "auth_methods": ["introspection"], "bearer_token_param_type": ["header", "cookie"],
            "bearer_token_cookie_name": "at", "proof_of_possession_dpop": "strict",
            "dpop_signing_alg_values_supported": ["ES256"],
            "protected_resource_metadata": {"enabled": true, "resource": "https://api.example.com/v1",
                "scopes_supported": ["read"]},
        }))
        .unwrap();
        let m = ResourceMetadata::new(&cfg).unwrap();
        assert_eq!(m.path, "/.well-known/oauth-protected-resource/v1");
        let doc: Value = serde_json::from_slice(&m.body).unwrap();
        assert_eq!(
            doc,
            json!({"resource": "https://api.example.com/v1",
                "authorization_servers": ["https://idp.example.com"], "scopes_supported": ["read"],
                "bearer_methods_supported": ["header"], "dpop_signing_alg_values_supported": ["ES256"],
                "dpop_bound_access_tokens_required": true})
        );
        assert!(ResourceMetadata::new(&OidcConfig::with_issuer("https://i.example")).is_none());
    }
}

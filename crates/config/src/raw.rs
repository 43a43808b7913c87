//! The file as written: serde input types with every field optional and unknown fields refused.
//!
//! Numbers are read as `i64` and ids as strings so that range and format problems are reported by
//! [`crate::load`] with a field path, all at once, instead of stopping at the first serde error.

use std::fmt;

use indexmap::IndexMap;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};

use crate::model::EntityRef;
use crate::settings::Settings;

/// The top level of a declarative configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(rename = "_format_version", default)]
    pub format_version: Option<FormatVersion>,
    #[serde(rename = "_transform", default)]
    pub transform: Option<bool>,
    #[serde(rename = "_comment", default)]
    pub comment: Option<String>,
    #[serde(rename = "_info", default)]
    pub info: Option<serde_json::Value>,
    #[serde(default)]
    pub gateway: Option<Settings>,
    #[serde(default)]
    pub services: Option<Vec<RawService>>,
    #[serde(default)]
    pub routes: Option<Vec<RawRoute>>,
    #[serde(default)]
    pub plugins: Option<Vec<RawPlugin>>,
    #[serde(default)]
    pub upstreams: Option<Vec<RawUpstream>>,
    #[serde(default)]
    pub targets: Option<Vec<RawTarget>>,
    #[serde(default)]
    pub certificates: Option<Vec<RawCertificate>>,
    #[serde(default)]
    pub snis: Option<Vec<RawSni>>,
    pub consumers: Option<Vec<crate::consumers::RawConsumer>>,
    /// Kong's WebAssembly filter chains (refused unless empty; see [`crate::compat`]).
    #[serde(default)]
    pub filter_chains: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    pub keyauth_credentials: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    pub basicauth_credentials: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    pub hmacauth_credentials: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    pub jwt_secrets: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    pub acls: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    pub ca_certificates: Option<Vec<crate::ca_certificates::RawCaCertificate>>,
    /// Kong `vaults` (only the `env` vault).
    #[serde(default)]
    pub vaults: Option<Vec<crate::vaults::RawVault>>,
    /// Kong `key_sets` (each may nest its `keys`).
    #[serde(default)]
    pub key_sets: Option<Vec<crate::keys::RawKeySet>>,
    /// Kong `keys`, naming their set with `set:`.
    #[serde(default)]
    pub keys: Option<Vec<crate::keys::RawKey>>,
    /// decK's `_konnect` (control-plane selection): kept, no effect here.
    #[serde(rename = "_konnect", default)]
    pub konnect: Option<serde_json::Value>,
    /// decK's `_workspace` (Kong Enterprise): only `default`, the one workspace here.
    #[serde(rename = "_workspace", default)]
    pub workspace: Option<String>,
    /// decK's `_plugin_configs`: named configs a plugin takes with `_config: <name>` (expanded at load).
    #[serde(rename = "_plugin_configs", default)]
    pub plugin_configs: Option<IndexMap<String, serde_json::Value>>,
}

/// `_format_version`, written as a string (`"3.0"`) or, forgivingly, as a YAML number (`3.0`).
#[derive(Debug)]
pub struct FormatVersion(pub String);

impl<'de> Deserialize<'de> for FormatVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = FormatVersion;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a version string such as \"3.0\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FormatVersion, E> {
                Ok(FormatVersion(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<FormatVersion, E> {
                Ok(FormatVersion(format!("{v:.1}")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<FormatVersion, E> {
                Ok(FormatVersion(format!("{v}.0")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<FormatVersion, E> {
                Ok(FormatVersion(format!("{v}.0")))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A service as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub id: Option<String>,
    pub name: Option<String>,
    pub url: Option<String>,
    pub protocol: Option<String>,
    pub host: Option<String>,
    pub port: Option<i64>,
    pub path: Option<String>,
    pub retries: Option<i64>,
    pub connect_timeout: Option<i64>,
    pub read_timeout: Option<i64>,
    pub write_timeout: Option<i64>,
    pub enabled: Option<bool>,
    pub tags: Option<Vec<String>>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    pub tls_verify: Option<bool>,
    pub tls_verify_depth: Option<i64>,
    pub ca_certificates: Option<Vec<String>>,
    pub client_certificate: Option<EntityRef>,
    /// Kong EE's extra names to verify (accepted only as `null`; see [`crate::compat`]).
    pub tls_sans: Option<serde_json::Value>,
    /// Kong's WebAssembly filter chains (refused unless empty; see [`crate::compat`]).
    pub filter_chains: Option<Vec<serde_json::Value>>,
    pub routes: Option<Vec<RawRoute>>,
    pub plugins: Option<Vec<RawPlugin>>,
}

/// A route as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub id: Option<String>,
    pub name: Option<String>,
    pub protocols: Option<Vec<String>>,
    pub https_redirect_status_code: Option<i64>,
    pub methods: Option<Vec<String>>,
    pub hosts: Option<Vec<String>>,
    pub paths: Option<Vec<String>>,
    pub headers: Option<IndexMap<String, Vec<String>>>,
    pub snis: Option<Vec<String>>,
    pub sources: Option<Vec<crate::stream::RawStreamAddr>>,
    pub destinations: Option<Vec<crate::stream::RawStreamAddr>>,
    pub strip_path: Option<bool>,
    pub preserve_host: Option<bool>,
    pub regex_priority: Option<i64>,
    pub path_handling: Option<String>,
    pub expression: Option<String>,
    pub priority: Option<i64>,
    pub request_buffering: Option<bool>,
    pub response_buffering: Option<bool>,
    pub service: Option<EntityRef>,
    pub tags: Option<Vec<String>>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    /// Kong's WebAssembly filter chains (refused unless empty; see [`crate::compat`]).
    pub filter_chains: Option<Vec<serde_json::Value>>,
    pub plugins: Option<Vec<RawPlugin>>,
}

/// A plugin as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlugin {
    pub id: Option<String>,
    pub name: Option<String>,
    pub instance_name: Option<String>,
    pub enabled: Option<bool>,
    pub config: Option<serde_json::Value>,
    pub protocols: Option<Vec<String>>,
    pub service: Option<EntityRef>,
    pub route: Option<EntityRef>,
    /// Refused with "not supported yet": a consumer's plugins are nested in its `plugins`.
    pub consumer: Option<EntityRef>,
    pub tags: Option<Vec<String>>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    /// decK's reference to one of `_plugin_configs` (expanded at load, then dropped).
    #[serde(rename = "_config")]
    pub config_source: Option<String>,
}

/// A certificate as written (top-level `certificates`). Its `snis` are names or SNI records.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCertificate {
    pub id: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
    pub cert_alt: Option<String>,
    pub key_alt: Option<String>,
    pub tags: Option<Vec<String>>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    pub snis: Option<Vec<serde_json::Value>>,
}

/// An SNI as written: nested in a certificate, or top-level with `certificate:`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSni {
    pub id: Option<String>,
    pub name: Option<String>,
    pub certificate: Option<EntityRef>,
    pub tags: Option<Vec<String>>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

/// An upstream as written (top-level `upstreams`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    pub id: Option<String>,
    pub name: Option<String>,
    pub algorithm: Option<String>,
    pub hash_on: Option<String>,
    pub hash_fallback: Option<String>,
    pub hash_on_header: Option<String>,
    pub hash_fallback_header: Option<String>,
    pub hash_on_cookie: Option<String>,
    pub hash_on_cookie_path: Option<String>,
    pub hash_on_query_arg: Option<String>,
    pub hash_fallback_query_arg: Option<String>,
    pub hash_on_uri_capture: Option<String>,
    pub hash_fallback_uri_capture: Option<String>,
    pub slots: Option<i64>,
    pub healthchecks: Option<RawHealthchecks>,
    pub host_header: Option<String>,
    pub client_certificate: Option<serde_json::Value>,
    pub use_srv_name: Option<bool>,
    /// Kong EE's sticky sessions (accepted only at their defaults; see [`crate::compat`]).
    pub sticky_sessions_cookie: Option<String>,
    pub sticky_sessions_cookie_path: Option<String>,
    pub tags: Option<Vec<String>>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    pub targets: Option<Vec<RawTarget>>,
}

/// A target as written: nested in an upstream, or top-level with `upstream:`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    pub id: Option<String>,
    pub target: Option<String>,
    pub weight: Option<i64>,
    /// Kong EE's failover targets (accepted only at `false`; see [`crate::compat`]).
    pub failover: Option<bool>,
    pub upstream: Option<EntityRef>,
    pub tags: Option<Vec<String>>,
    pub created_at: Option<f64>,
    pub updated_at: Option<f64>,
}

/// `healthchecks` as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealthchecks {
    pub active: Option<RawActive>,
    pub passive: Option<RawPassive>,
    pub threshold: Option<f64>,
}

/// `healthchecks.active` as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawActive {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub timeout: Option<f64>,
    pub concurrency: Option<i64>,
    pub http_path: Option<String>,
    pub https_sni: Option<String>,
    pub https_verify_certificate: Option<bool>,
    pub headers: Option<IndexMap<String, Vec<String>>>,
    pub healthy: Option<RawCounters>,
    pub unhealthy: Option<RawCounters>,
}

/// `healthchecks.passive` as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPassive {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub healthy: Option<RawCounters>,
    pub unhealthy: Option<RawCounters>,
}

/// A `healthy` or `unhealthy` record as written; which keys are allowed depends on where it sits
/// (checked by the builder, so that an unknown key gets a field path).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCounters {
    pub interval: Option<f64>,
    pub http_statuses: Option<Vec<i64>>,
    pub successes: Option<i64>,
    pub tcp_failures: Option<i64>,
    pub timeouts: Option<i64>,
    pub http_failures: Option<i64>,
}

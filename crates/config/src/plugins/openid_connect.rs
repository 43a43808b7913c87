//! The `openid-connect` plugin's typed config: Kong's field names, types and defaults, validated with Kong-like messages.
//!
//! `OidcConfig::from_value` turns the plugin's raw `config` object into a typed, defaulted value and
//! collects every error (paths relative to `config`, e.g. `timeout`, `auth_methods[2]`).
//! `OidcConfig::to_value_with_defaults` gives the full config back (defaults filled in, `null` for unset),
//! in a fixed field order, which also makes it a canonical form for hashing.
//!
//! Deliberate departures from Kong (also in `docs/openid-connect.md`):
//! - `auth_methods` defaults to `password`, `client_credentials`, `introspection`: `bearer` (implemented) is
//!   opt-in, so a default config never lets a revoked JWT through. Kong's unimplemented method names are
//!   refused at load ("not supported yet").
//! - `cache_ttl_neg` defaults to 10 seconds (Kong leaves it unset and mlcache falls back to its own default).
//! - `ssl_verify` defaults to true (as Kong 3.15 does).
//!
//! Gateway extensions, not in Kong (IdP protection, see `docs/security.md`): `idp_concurrency_limit`,
//! `idp_circuit_breaker_failures`, `idp_circuit_breaker_cooldown`, `idp_outage_status`; and
//! `extra_issuers` (several issuers on one route).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::{field, normalize, DefaultValue as D, Field, Kind};
use crate::error::FieldError;

mod checks;
pub mod client_auth;
mod extra_issuer;
pub mod pop;
pub mod unbuilt;

pub use client_auth::{ClientAuthMethod, ClientIdentity, Jwk, PrivateKeyDer};
pub use extra_issuer::{ExtraIssuer, EXTRA_ISSUER_FIELDS};
pub use pop::{PopMode, ProtectedResourceMetadata, DPOP_ALGS};

/// An authentication method (`auth_methods`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// Resource-owner password grant from Basic credentials (implemented).
    Password,
    /// Client-credentials grant from Basic credentials (implemented).
    ClientCredentials,
    /// Authorization-code flow (refused at load: not supported yet).
    AuthorizationCode,
    /// Local verification of JWT access tokens against the issuer's JWKS (implemented).
    Bearer,
    /// RFC 7662 token introspection (implemented).
    Introspection,
    /// Userinfo lookup (refused at load: not supported yet).
    Userinfo,
    /// Kong OAuth2 plugin tokens (refused at load: not supported yet).
    KongOauth2,
    /// Refresh-token grant (refused at load: not supported yet).
    RefreshToken,
    /// Session cookie (refused at load: not supported yet).
    Session,
}

impl AuthMethod {
    /// Its names in the config, in schema order.
    pub const NAMES: &'static [&'static str] = &[
        "password",
        "client_credentials",
        "authorization_code",
        "bearer",
        "introspection",
        "userinfo",
        "kong_oauth2",
        "refresh_token",
        "session",
    ];

    /// The methods the gateway implements (the others are refused at load).
    pub const SUPPORTED: &'static [AuthMethod] = &[
        AuthMethod::Password,
        AuthMethod::ClientCredentials,
        AuthMethod::Bearer,
        AuthMethod::Introspection,
    ];

    /// Its name in the config.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// Where a credential is looked for (`bearer_token_param_type`, `password_param_type`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    /// Request headers.
    Header,
    /// A cookie (bearer tokens only; needs `bearer_token_cookie_name`).
    Cookie,
    /// The query string.
    Query,
    /// The request body (urlencoded form, else JSON).
    Body,
}

impl ParamType {
    /// Its names in the config, in schema order.
    pub const NAMES: &'static [&'static str] = &["header", "cookie", "query", "body"];
    /// The names allowed where a cookie cannot carry the credential (password, client credentials).
    pub const NO_COOKIE: &'static [&'static str] = &["header", "query", "body"];
}

/// The typed `openid-connect` plugin config (Kong's names and defaults; see `docs/openid-connect.md`).
///
/// Durations are seconds except `timeout` (milliseconds), as in Kong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OidcConfig {
    /// Issuer or discovery URL (required).
    pub issuer: String,
    /// The gateway's client ids at the IdP (the first is used).
    pub client_id: Option<Vec<String>>,
    /// The matching client secrets.
    pub client_secret: Option<Vec<String>>,
    /// Default client authentication methods (the first is used).
    pub client_auth: Option<Vec<ClientAuthMethod>>,
    /// Enabled authentication methods.
    pub auth_methods: Vec<AuthMethod>,
    /// Where bearer tokens are looked for, in order.
    pub bearer_token_param_type: Vec<ParamType>,
    /// Cookie holding the bearer token (needed when `bearer_token_param_type` has `cookie`).
    pub bearer_token_cookie_name: Option<String>,
    /// Explicit introspection endpoint (overrides discovery).
    pub introspection_endpoint: Option<String>,
    /// Client authentication for the introspection endpoint.
    pub introspection_endpoint_auth_method: Option<ClientAuthMethod>,
    /// `token_type_hint` sent to the introspection endpoint.
    pub introspection_hint: String,
    /// Extra header names sent to the introspection endpoint.
    pub introspection_headers_names: Option<Vec<String>>,
    /// Extra header values (paired with the names).
    pub introspection_headers_values: Option<Vec<String>>,
    /// Extra form argument names sent to the introspection endpoint.
    pub introspection_post_args_names: Option<Vec<String>>,
    /// Extra form argument values (paired with the names).
    pub introspection_post_args_values: Option<Vec<String>>,
    /// Require `active: true` in the introspection response.
    pub introspection_check_active: bool,
    /// `Accept` of introspection requests: `application/json`, or `application/token-introspection+jwt`
    /// for RFC 9701 signed answers (verified with the issuer's keys); `application/jwt` is refused at load.
    pub introspection_accept: String,
    /// Upstream header for the verified RFC 9701 introspection answer JWT (needs
    /// `introspection_accept: application/token-introspection+jwt`).
    pub upstream_introspection_jwt_header: Option<String>,
    /// Also introspect JWTs that verified locally (`bearer`), so a revoked JWT is refused.
    pub introspect_jwt_tokens: bool,
    /// More accepted `iss` values for JWT access tokens (besides the discovered issuer).
    pub issuers_allowed: Option<Vec<String>>,
    /// More JWKS URLs whose keys verify JWT access tokens (besides discovery's `jwks_uri`).
    pub extra_jwks_uris: Option<Vec<String>>,
    /// Gateway extension: more issuers on this route, each with its own introspection client. Opaque
    /// tokens are introspected at `issuer`, then at each of these in order, until one says active; JWTs go
    /// to the issuer their `iss` names.
    pub extra_issuers: Option<Vec<ExtraIssuer>>,
    /// Explicit token endpoint (overrides discovery).
    pub token_endpoint: Option<String>,
    /// Client authentication for the token endpoint.
    pub token_endpoint_auth_method: Option<ClientAuthMethod>,
    /// Extra form argument names sent to the token endpoint.
    pub token_post_args_names: Option<Vec<String>>,
    /// Extra form argument values (paired with the names).
    pub token_post_args_values: Option<Vec<String>>,
    /// Extra header names sent to the token endpoint.
    pub token_headers_names: Option<Vec<String>>,
    /// Extra header values (paired with the names).
    pub token_headers_values: Option<Vec<String>>,
    /// Scopes requested from the token endpoint.
    pub scopes: Vec<String>,
    /// Cache introspection results.
    pub cache_introspection: bool,
    /// Cache token-endpoint responses.
    pub cache_tokens: bool,
    /// Cache lifetime (s) when the IdP gives no expiry.
    pub cache_ttl: f64,
    /// Upper bound (s) on a cache entry's lifetime.
    pub cache_ttl_max: Option<f64>,
    /// Lower bound (s) on a cache entry's lifetime.
    pub cache_ttl_min: Option<f64>,
    /// Lifetime (s) of cached negative results (inactive tokens). Departure: defaults to 10.
    pub cache_ttl_neg: f64,
    /// Stale-if-error window (s): how long after its normal expiry a previously active, unexpired
    /// introspection result may still be served while the IdP fails. Unset: never.
    pub cache_ttl_resurrect: Option<f64>,
    /// Clock skew (s) allowed when checking `exp`.
    pub leeway: f64,
    /// Required scopes: each entry a space-separated AND-set, entries OR-ed.
    pub scopes_required: Option<Vec<String>>,
    /// Path of the scopes claim.
    pub scopes_claim: Vec<String>,
    /// Required audiences: each entry a space-separated AND-set, entries OR-ed.
    pub audience_required: Option<Vec<String>>,
    /// Path of the audience claim.
    pub audience_claim: Vec<String>,
    /// Upstream header for the access token (`authorization:bearer` ⇒ `Authorization: Bearer <t>`).
    pub upstream_access_token_header: Option<String>,
    /// Upstream header receiving base64(JSON) of the introspection result.
    pub upstream_introspection_header: Option<String>,
    /// Claims copied to upstream headers.
    pub upstream_headers_claims: Option<Vec<String>>,
    /// Upstream header names (paired with the claims).
    pub upstream_headers_names: Option<Vec<String>>,
    /// Remove the credential from the upstream request.
    pub hide_credentials: bool,
    /// Verify the IdP's TLS certificate.
    pub ssl_verify: bool,
    /// IdP request timeout (ms).
    pub timeout: f64,
    /// Reuse IdP connections.
    pub keepalive: bool,
    /// Add the reason to error messages.
    pub display_errors: bool,
    /// Add `error="..."` to `WWW-Authenticate`.
    pub expose_error_code: bool,
    /// Message of 401 responses.
    pub unauthorized_error_message: String,
    /// Message of 403 responses.
    pub forbidden_error_message: String,
    /// Minimum interval (s) between discovery attempts.
    pub rediscovery_lifetime: f64,
    /// Where password-grant credentials are looked for.
    pub password_param_type: Vec<ParamType>,
    /// Where client-credentials-grant credentials are looked for.
    pub client_credentials_param_type: Vec<ParamType>,
    /// Gateway extension: at most this many concurrent requests to each IdP endpoint (≥ 1).
    pub idp_concurrency_limit: f64,
    /// Gateway extension: consecutive IdP failures that open the circuit breaker (0: no breaker).
    pub idp_circuit_breaker_failures: f64,
    /// Gateway extension: seconds the open circuit fails fast before one probe is let through.
    pub idp_circuit_breaker_cooldown: f64,
    /// Gateway extension: the status when the IdP cannot answer (401, Kong's, or 503 with `Retry-After`).
    pub idp_outage_status: f64,
    /// Path of the claim a consumer is mapped from (unset: no consumer mapping).
    pub consumer_claim: Option<Vec<String>>,
    /// What the claim is matched against, in order.
    pub consumer_by: Vec<crate::consumers::ConsumerBy>,
    /// Proxy the request without a consumer when the mapping finds none.
    pub consumer_optional: bool,
    /// Consumer (id or username) a request that fails authentication proceeds as.
    pub anonymous: Option<String>,
    /// Path of the claim that identifies the credential (`X-Credential-Identifier`, `limit_by: credential`).
    pub credential_claim: Vec<String>,
    /// Path of the claim whose values are the request's authenticated groups (for `acl`): an array of
    /// strings, or a string of names separated by spaces or commas.
    pub authenticated_groups_claim: Option<Vec<String>>,
    /// The gateway's signing keys for `private_key_jwt`, one per client (the first is used).
    pub client_jwk: Option<Vec<Jwk>>,
    /// The assertion algorithms, one per client (the first is used; unset: the key's `alg`, else its usual
    /// one; `HS256` for `client_secret_jwt`).
    pub client_alg: Option<Vec<String>>,
    /// Id of the `certificates` entity the gateway presents for `tls_client_auth` /
    /// `self_signed_tls_client_auth`.
    pub tls_client_auth_cert_id: Option<String>,
    /// Verify the IdP's certificate on the connections that carry the client certificate.
    pub tls_client_auth_ssl_verify: bool,
    /// Required groups: each entry a space-separated AND-set, entries OR-ed.
    pub groups_required: Option<Vec<String>>,
    /// Path of the groups claim.
    pub groups_claim: Vec<String>,
    /// Required roles: each entry a space-separated AND-set, entries OR-ed.
    pub roles_required: Option<Vec<String>>,
    /// Path of the roles claim.
    pub roles_claim: Vec<String>,
    /// Claims that must not be in the token (any present: 403).
    pub claims_forbidden: Option<Vec<String>>,
    /// DPoP (RFC 9449): `off`, `optional` (tokens with `cnf.jkt` need a proof) or `strict` (every token).
    pub proof_of_possession_dpop: PopMode,
    /// Challenge DPoP clients with a server nonce (`DPoP-Nonce`); the proof's age is then the nonce's.
    pub dpop_use_nonce: bool,
    /// Seconds a DPoP proof stays valid after its creation (`iat`, or the nonce's time).
    pub dpop_proof_lifetime: f64,
    /// Gateway extension: the DPoP proof algorithms accepted (unset: every one of [`DPOP_ALGS`]).
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
    /// Certificate-bound tokens (RFC 8705): `off`, `optional` (tokens with `cnf.x5t#S256`) or `strict`.
    pub proof_of_possession_mtls: PopMode,
    /// With proof of possession on, refuse `auth_methods` whose tokens cannot be bound (Kong's default).
    pub proof_of_possession_auth_methods_validation: bool,
    /// RFC 9728 protected resource metadata.
    pub protected_resource_metadata: ProtectedResourceMetadata,
    /// The certificate and PKCS#8 key of `tls_client_auth_cert_id`, attached by the gateway when it builds
    /// the plugin (not part of the config's JSON).
    #[serde(skip)]
    pub tls_client_identity: Option<ClientIdentity>,
}

/// The schema: every field with its type and default, in schema order (the order of [`OidcConfig`]'s fields,
/// of `to_value_with_defaults` and of the Admin API's schema). The one place the field list is written.
pub const FIELDS: &[Field] = &[
    field("issuer", Kind::Url, D::Required),
    field("client_id", Kind::Strings, D::Null),
    field("client_secret", Kind::Strings, D::Null),
    field("client_auth", Kind::SetOf(ClientAuthMethod::NAMES), D::Null),
    // Departure from Kong's nine: the methods this gateway implements.
    field(
        "auth_methods",
        Kind::SetOf(AuthMethod::NAMES),
        D::List(&["password", "client_credentials", "introspection"]),
    ),
    field(
        "bearer_token_param_type",
        Kind::SetOf(ParamType::NAMES),
        D::List(PARAM_TYPES),
    ),
    field("bearer_token_cookie_name", Kind::Str, D::Null),
    field("introspection_endpoint", Kind::Url, D::Null),
    field(
        "introspection_endpoint_auth_method",
        Kind::OneOf(ClientAuthMethod::NAMES),
        D::Null,
    ),
    field("introspection_hint", Kind::Str, D::Str("access_token")),
    field("introspection_headers_names", Kind::Strings, D::Null),
    field("introspection_headers_values", Kind::Strings, D::Null),
    field("introspection_post_args_names", Kind::Strings, D::Null),
    field("introspection_post_args_values", Kind::Strings, D::Null),
    field("introspection_check_active", Kind::Bool, D::Bool(true)),
    field(
        "introspection_accept",
        Kind::OneOf(INTROSPECTION_ACCEPT),
        D::Str("application/json"),
    ),
    field("upstream_introspection_jwt_header", Kind::Str, D::Null),
    field("introspect_jwt_tokens", Kind::Bool, D::Bool(false)),
    field("issuers_allowed", Kind::Strings, D::Null),
    field("extra_jwks_uris", Kind::Urls, D::Null),
    field("extra_issuers", Kind::Records(EXTRA_ISSUER_FIELDS), D::Null),
    field("token_endpoint", Kind::Url, D::Null),
    field(
        "token_endpoint_auth_method",
        Kind::OneOf(ClientAuthMethod::NAMES),
        D::Null,
    ),
    field("token_post_args_names", Kind::Strings, D::Null),
    field("token_post_args_values", Kind::Strings, D::Null),
    field("token_headers_names", Kind::Strings, D::Null),
    field("token_headers_values", Kind::Strings, D::Null),
    field("scopes", Kind::Strings, D::List(&["openid"])),
    field("cache_introspection", Kind::Bool, D::Bool(true)),
    field("cache_tokens", Kind::Bool, D::Bool(true)),
    field("cache_ttl", Kind::Number, D::Num(3600.0)),
    field("cache_ttl_max", Kind::Number, D::Null),
    field("cache_ttl_min", Kind::Number, D::Null),
    field("cache_ttl_neg", Kind::Number, D::Num(DEFAULT_CACHE_TTL_NEG)),
    field("cache_ttl_resurrect", Kind::Number, D::Null),
    field("leeway", Kind::Number, D::Num(0.0)),
    field("scopes_required", Kind::Strings, D::Null),
    field("scopes_claim", Kind::Strings, D::List(&["scope"])),
    field("audience_required", Kind::Strings, D::Null),
    field("audience_claim", Kind::Strings, D::List(&["aud"])),
    field(
        "upstream_access_token_header",
        Kind::Str,
        D::StrOrNull("authorization:bearer"),
    ),
    field("upstream_introspection_header", Kind::Str, D::Null),
    field("upstream_headers_claims", Kind::Strings, D::Null),
    field("upstream_headers_names", Kind::Strings, D::Null),
    field("hide_credentials", Kind::Bool, D::Bool(false)),
    field("ssl_verify", Kind::Bool, D::Bool(true)),
    field("timeout", Kind::Number, D::Num(10000.0)),
    field("keepalive", Kind::Bool, D::Bool(true)),
    field("display_errors", Kind::Bool, D::Bool(false)),
    field("expose_error_code", Kind::Bool, D::Bool(true)),
    field(
        "unauthorized_error_message",
        Kind::Str,
        D::Str("Unauthorized"),
    ),
    field("forbidden_error_message", Kind::Str, D::Str("Forbidden")),
    field("rediscovery_lifetime", Kind::Number, D::Num(30.0)),
    field(
        "password_param_type",
        Kind::SetOf(ParamType::NO_COOKIE),
        D::List(PARAM_TYPES),
    ),
    field(
        "client_credentials_param_type",
        Kind::SetOf(ParamType::NO_COOKIE),
        D::List(PARAM_TYPES),
    ),
    field(
        "idp_concurrency_limit",
        Kind::Number,
        D::Num(DEFAULT_IDP_CONCURRENCY_LIMIT),
    ),
    field(
        "idp_circuit_breaker_failures",
        Kind::Number,
        D::Num(DEFAULT_IDP_CIRCUIT_BREAKER_FAILURES),
    ),
    field(
        "idp_circuit_breaker_cooldown",
        Kind::Number,
        D::Num(DEFAULT_IDP_CIRCUIT_BREAKER_COOLDOWN),
    ),
    field("idp_outage_status", Kind::Number, D::Num(401.0)),
    field("consumer_claim", Kind::Strings, D::Null),
    field(
        "consumer_by",
        Kind::SetOf(crate::consumers::ConsumerBy::NAMES),
        D::List(&["username", "custom_id"]),
    ),
    field("consumer_optional", Kind::Bool, D::Bool(false)),
    field("anonymous", Kind::Str, D::Null),
    field("credential_claim", Kind::Strings, D::List(&["sub"])),
    field("authenticated_groups_claim", Kind::Strings, D::Null),
    field(
        "client_jwk",
        Kind::Records(client_auth::JWK_FIELDS),
        D::Null,
    ),
    field("client_alg", Kind::Strings, D::Null),
    field("tls_client_auth_cert_id", Kind::Str, D::Null),
    field("tls_client_auth_ssl_verify", Kind::Bool, D::Bool(true)),
    field("groups_required", Kind::Strings, D::Null),
    field("groups_claim", Kind::Strings, D::List(&["groups"])),
    field("roles_required", Kind::Strings, D::Null),
    field("roles_claim", Kind::Strings, D::List(&["roles"])),
    field("claims_forbidden", Kind::Strings, D::Null),
    field(
        "proof_of_possession_dpop",
        Kind::OneOf(PopMode::NAMES),
        D::Str("off"),
    ),
    field("dpop_use_nonce", Kind::Bool, D::Bool(false)),
    field("dpop_proof_lifetime", Kind::Number, D::Num(300.0)),
    field(
        "dpop_signing_alg_values_supported",
        Kind::SetOf(DPOP_ALGS),
        D::Null,
    ),
    field(
        "proof_of_possession_mtls",
        Kind::OneOf(PopMode::NAMES),
        D::Str("off"),
    ),
    field(
        "proof_of_possession_auth_methods_validation",
        Kind::Bool,
        D::Bool(true),
    ),
    field(
        "protected_resource_metadata",
        Kind::Record(pop::METADATA_FIELDS),
        D::Null,
    ),
];

/// Kong's `introspection_accept` values (`application/jwt` is refused at load: not supported yet).
pub const INTROSPECTION_ACCEPT: &[&str] = &[
    "application/json",
    "application/jwt",
    "application/token-introspection+jwt",
];

/// Default places a credential is looked for.
const PARAM_TYPES: &[&str] = &["header", "query", "body"];

/// Default `cache_ttl_neg` in seconds (departure: Kong leaves it to mlcache).
pub const DEFAULT_CACHE_TTL_NEG: f64 = 10.0;
/// Default `idp_concurrency_limit` (gateway extension).
pub const DEFAULT_IDP_CONCURRENCY_LIMIT: f64 = 100.0;
/// Default `idp_circuit_breaker_failures` (gateway extension).
pub const DEFAULT_IDP_CIRCUIT_BREAKER_FAILURES: f64 = 5.0;
/// Default `idp_circuit_breaker_cooldown` in seconds (gateway extension).
pub const DEFAULT_IDP_CIRCUIT_BREAKER_COOLDOWN: f64 = 10.0;

impl OidcConfig {
    /// A config with every default and the given issuer (handy for tests and examples; the issuer is not
    /// checked).
    pub fn with_issuer(issuer: impl Into<String>) -> Self {
        let mut map = super::fields::defaults(FIELDS);
        map.insert("issuer".to_owned(), Value::String(issuer.into()));
        Self::from_checked(map)
            .unwrap_or_else(|e| panic!("the openid-connect defaults do not fit OidcConfig: {e}"))
    }

    /// Parses and validates the plugin's `config` object, collecting every error.
    ///
    /// `null` for a field means "unset" (its default applies); unknown fields are rejected.
    pub fn from_value(value: &Value) -> Result<OidcConfig, Vec<FieldError>> {
        let mut own = match value {
            Value::Object(m) => m.clone(),
            other => return Self::from_value_map(other),
        };
        let refused = unbuilt::take(&mut own);
        match Self::from_value_map(&Value::Object(own)) {
            Ok(cfg) if refused.is_empty() => Ok(cfg),
            Ok(_) => Err(refused),
            Err(mut errors) => {
                errors.extend(refused);
                Err(errors)
            }
        }
    }

    fn from_value_map(value: &Value) -> Result<OidcConfig, Vec<FieldError>> {
        let map = normalize(FIELDS, value)?;
        let cfg = Self::from_checked(map).map_err(|e| vec![err("", &e.to_string())])?;
        let mut errors = Vec::new();
        cfg.check_relations(&mut errors);
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(errors)
        }
    }

    /// The struct from a map [`normalize`] checked against [`FIELDS`] (so the types fit).
    fn from_checked(map: serde_json::Map<String, Value>) -> Result<Self, serde_json::Error> {
        serde_json::from_value(Value::Object(map))
    }

    /// The whole config with defaults filled in and `null` for unset fields, in schema order.
    pub fn to_value_with_defaults(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            for (_, field) in m.iter_mut() {
                integral_numbers(field);
            }
        }
        v
    }

    /// Whether an auth method is enabled.
    pub fn method_enabled(&self, m: AuthMethod) -> bool {
        self.auth_methods.contains(&m)
    }
}

/// Rewrites whole floats (`3600.0`) as integers (`3600`), as Kong shows them.
fn integral_numbers(v: &mut Value) {
    if let Value::Number(n) = v {
        if let Some(f) = n.as_f64() {
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                *v = Value::from(f as i64);
            }
        }
    }
}

pub(crate) fn err(path: &str, message: &str) -> FieldError {
    FieldError::new(path, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(v: Value) -> Vec<(String, String)> {
        OidcConfig::from_value(&v)
            .unwrap_err()
            .into_iter()
            .map(|e| (e.path, e.message))
            .collect()
    }

    fn one(path: &str, msg: &str) -> Vec<(String, String)> {
        vec![(path.to_owned(), msg.to_owned())]
    }

    const ISS: &str = "http://127.0.0.1:4593/api/oidc";

    #[test]
    fn defaults() {
        let c = OidcConfig::from_value(&json!({ "issuer": ISS })).unwrap();
        assert_eq!(c, OidcConfig::with_issuer(ISS));
        assert_eq!(
            c.auth_methods,
            vec![
                AuthMethod::Password,
                AuthMethod::ClientCredentials,
                AuthMethod::Introspection
            ]
        );
        assert_eq!(
            c.bearer_token_param_type,
            vec![ParamType::Header, ParamType::Query, ParamType::Body]
        );
        assert_eq!(c.introspection_hint, "access_token");
        assert!(c.introspection_check_active);
        assert_eq!(c.scopes, vec!["openid"]);
        assert_eq!(c.cache_ttl, 3600.0);
        assert_eq!(c.cache_ttl_neg, 10.0);
        assert_eq!(c.cache_ttl_resurrect, None);
        assert_eq!(c.idp_concurrency_limit, 100.0);
        assert_eq!(c.idp_circuit_breaker_failures, 5.0);
        assert_eq!(c.idp_circuit_breaker_cooldown, 10.0);
        assert_eq!(c.scopes_claim, vec!["scope"]);
        assert_eq!(c.audience_claim, vec!["aud"]);
        assert_eq!(
            c.upstream_access_token_header.as_deref(),
            Some("authorization:bearer")
        );
        assert!(c.ssl_verify && c.keepalive && c.expose_error_code);
        assert!(!c.hide_credentials && !c.display_errors);
        assert_eq!(c.timeout, 10000.0);
        assert_eq!(c.rediscovery_lifetime, 30.0);
        assert_eq!(c.unauthorized_error_message, "Unauthorized");
        assert_eq!(c.forbidden_error_message, "Forbidden");
    }

    #[test]
    fn nulls_mean_default() {
        let c = OidcConfig::from_value(&json!({ "issuer": ISS, "timeout": null, "scopes": null }))
            .unwrap();
        assert_eq!(c.timeout, 10000.0);
        assert_eq!(c.scopes, vec!["openid"]);
        let c =
            OidcConfig::from_value(&json!({ "issuer": ISS, "upstream_access_token_header": null }))
                .unwrap();
        assert_eq!(c.upstream_access_token_header, None);
    }

    #[test]
    fn full_value_round_trips() {
        let c = OidcConfig::from_value(&json!({
            "issuer": ISS,
            "client_id": ["kong"], "client_secret": ["s"],
            "client_auth": ["client_secret_post"],
            "auth_methods": ["introspection"],
            "scopes_required": ["openid read"],
            "timeout": 2500, "leeway": 1.5,
        }))
        .unwrap();
        let v = c.to_value_with_defaults();
        assert_eq!(v["timeout"], json!(2500));
        assert_eq!(v["leeway"], json!(1.5));
        assert_eq!(v["cache_ttl"], json!(3600));
        assert_eq!(v["cache_ttl_max"], Value::Null);
        assert_eq!(v["client_auth"], json!(["client_secret_post"]));
        assert_eq!(
            v["bearer_token_param_type"],
            json!(["header", "query", "body"])
        );
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, FIELDS.iter().map(|f| f.name).collect::<Vec<_>>());
        assert_eq!(OidcConfig::from_value(&v).unwrap(), c);
    }

    #[test]
    fn issuer_required() {
        assert_eq!(errors(json!({})), one("issuer", "required field missing"));
        assert_eq!(
            errors(json!({"issuer": null})),
            one("issuer", "required field missing")
        );
        assert_eq!(
            errors(json!({"issuer": 5})),
            one("issuer", "expected a string")
        );
        assert_eq!(
            errors(json!({"issuer": "nope"})),
            one("issuer", "invalid url")
        );
    }

    #[test]
    fn not_an_object() {
        assert_eq!(errors(json!([1])), one("", "expected a record"));
    }

    #[test]
    fn unknown_field() {
        assert_eq!(
            errors(json!({"issuer": ISS, "bogus": 1})),
            one("bogus", "unknown field")
        );
    }

    #[test]
    fn wrong_types() {
        assert_eq!(
            errors(json!({"issuer": ISS, "timeout": "10"})),
            one("timeout", "expected a number")
        );
        assert_eq!(
            errors(json!({"issuer": ISS, "ssl_verify": "yes"})),
            one("ssl_verify", "expected a boolean")
        );
        assert_eq!(
            errors(json!({"issuer": ISS, "scopes": "openid"})),
            one("scopes", "expected an array")
        );
        assert_eq!(
            errors(json!({"issuer": ISS, "client_id": ["a", 1]})),
            one("client_id[1]", "expected a string")
        );
        assert_eq!(
            errors(json!({"issuer": ISS, "cache_ttl": -1})),
            one(
                "cache_ttl",
                "value should be between 0 and 9007199254740991"
            )
        );
        assert_eq!(
            errors(json!({"issuer": ISS, "timeout": 0})),
            one("timeout", "value must be greater than 0")
        );
    }

    #[test]
    fn enums() {
        assert_eq!(
            errors(json!({"issuer": ISS, "bearer_token_param_type": ["header", "nope"]})),
            one(
                "bearer_token_param_type[1]",
                "expected one of: header, cookie, query, body"
            )
        );
        assert_eq!(
            errors(json!({"issuer": ISS, "password_param_type": ["cookie"]})),
            one(
                "password_param_type[0]",
                "expected one of: header, query, body"
            )
        );
        let e = errors(json!({
            "issuer": ISS, "auth_methods": ["introspection", "userinfo"],
            "client_id": ["gw"], "client_secret": ["s"],
            "client_auth": ["client_secret_post", "private_key_jwt"],
            "token_endpoint_auth_method": "client_secret_jwt",
        }));
        assert_eq!(
            e,
            vec![
                (
                    "auth_methods[1]".to_string(),
                    "userinfo is not supported yet (supported: password, client_credentials, bearer, introspection)"
                        .to_string()
                ),
                (
                    "client_jwk".to_string(),
                    "required field missing (private_key_jwt needs the gateway's signing key (client_jwk), set by client_auth[1])"
                        .to_string()
                ),
            ],
            "accepted and ignored would be a silent stub"
        );
        let e = errors(json!({"issuer": ISS, "auth_methods": ["password", "introspection", "x"]}));
        assert_eq!(e[0].0, "auth_methods[2]");
        assert!(e[0]
            .1
            .starts_with("expected one of: password, client_credentials"));
        let e = errors(json!({"issuer": ISS, "token_endpoint_auth_method": "basic"}));
        assert_eq!(e[0].0, "token_endpoint_auth_method");
        assert!(e[0].1.starts_with("expected one of: client_secret_basic"));
    }

    #[test]
    fn signed_introspection_fields() {
        let c = OidcConfig::from_value(
            &json!({"issuer": ISS, "introspection_accept": "application/json"}),
        )
        .unwrap();
        assert_eq!(c.introspection_accept, "application/json");
        let c = OidcConfig::from_value(
            &json!({"issuer": ISS, "introspection_accept": "application/token-introspection+jwt"}),
        )
        .unwrap();
        assert_eq!(
            c.introspection_accept,
            "application/token-introspection+jwt"
        );
        assert_eq!(
            errors(json!({"issuer": ISS, "introspection_accept": "application/jwt",
                          "upstream_introspection_jwt_header": "x-jwt"})),
            vec![
                (
                    "introspection_accept".to_string(),
                    "application/jwt is not supported yet (supported: application/json, application/token-introspection+jwt)"
                        .to_string()
                ),
                (
                    "upstream_introspection_jwt_header".to_string(),
                    "needs introspection_accept: application/token-introspection+jwt (the only signed answers this gateway verifies)"
                        .to_string()
                ),
            ]
        );
        let c = OidcConfig::from_value(&json!({"issuer": ISS,
            "introspection_accept": "application/token-introspection+jwt",
            "upstream_introspection_jwt_header": "x-introspection-jwt"}))
        .unwrap();
        assert_eq!(
            c.upstream_introspection_jwt_header.as_deref(),
            Some("x-introspection-jwt")
        );
    }

    #[test]
    fn idp_outage_status() {
        assert_eq!(OidcConfig::with_issuer(ISS).idp_outage_status, 401.0);
        let c = OidcConfig::from_value(&json!({"issuer": ISS, "idp_outage_status": 503})).unwrap();
        assert_eq!(c.idp_outage_status, 503.0);
        for bad in [json!(500), json!(401.5), json!(0)] {
            assert_eq!(
                errors(json!({"issuer": ISS, "idp_outage_status": bad})),
                one("idp_outage_status", "expected one of: 401, 503")
            );
        }
    }

    #[test]
    fn bearer_fields() {
        let c = OidcConfig::from_value(&json!({
            "issuer": ISS, "auth_methods": ["bearer", "introspection"],
            "issuers_allowed": ["http://other/"], "extra_jwks_uris": ["http://127.0.0.1:1/jwks"],
            "introspect_jwt_tokens": true,
        }))
        .unwrap();
        assert!(c.method_enabled(AuthMethod::Bearer));
        assert!(c.introspect_jwt_tokens);
        assert_eq!(c.issuers_allowed, Some(vec!["http://other/".to_string()]));
        assert_eq!(
            c.extra_jwks_uris,
            Some(vec!["http://127.0.0.1:1/jwks".to_string()])
        );
        assert!(!OidcConfig::with_issuer(ISS).introspect_jwt_tokens);
        assert_eq!(
            errors(json!({"issuer": ISS, "extra_jwks_uris": ["http://h/jwks", "nope", 5]})),
            vec![
                ("extra_jwks_uris[1]".to_string(), "invalid url".to_string()),
                (
                    "extra_jwks_uris[2]".to_string(),
                    "expected a string".to_string()
                ),
            ]
        );
    }

    #[test]
    fn extra_issuers() {
        let c = OidcConfig::from_value(&json!({
            "issuer": ISS,
            "extra_issuers": [
                {"issuer": "http://127.0.0.1:9/", "client_id": "gw", "client_secret": "s",
                 "introspection_endpoint_auth_method": "client_secret_post"},
                {"issuer": "http://127.0.0.1:10/oidc", "introspection_endpoint": "http://127.0.0.1:10/i"},
            ],
        }))
        .unwrap();
        let extra = c.extra_issuers.clone().unwrap();
        assert_eq!(extra[0].client_id.as_deref(), Some("gw"));
        assert_eq!(
            extra[0].introspection_endpoint_auth_method,
            Some(ClientAuthMethod::ClientSecretPost)
        );
        assert_eq!(
            extra[1].introspection_endpoint.as_deref(),
            Some("http://127.0.0.1:10/i")
        );
        assert_eq!(extra[1].client_id, None);
        // round trip through the canonical form
        let v = c.to_value_with_defaults();
        assert_eq!(v["extra_issuers"][1]["client_secret"], Value::Null);
        assert_eq!(OidcConfig::from_value(&v).unwrap(), c);
        assert_eq!(OidcConfig::with_issuer(ISS).extra_issuers, None);

        assert_eq!(
            errors(json!({"issuer": ISS, "extra_issuers": [
                {"client_id": "a"},
                {"issuer": "nope", "secret": 1},
                {"issuer": "http://h/", "client_secret": "s"},
                {"issuer": "http://h/", "client_id": "a",
                 "introspection_endpoint_auth_method": "private_key_jwt"},
            ]})),
            vec![
                (
                    "extra_issuers[0].issuer".to_string(),
                    "required field missing".to_string()
                ),
                (
                    "extra_issuers[1].secret".to_string(),
                    "unknown field".to_string()
                ),
                (
                    "extra_issuers[1].issuer".to_string(),
                    "invalid url".to_string()
                ),
            ]
        );
        assert_eq!(
            errors(json!({"issuer": ISS, "extra_issuers": [
                {"issuer": "http://h/", "client_secret": "s"},
                {"issuer": "http://h/", "client_id": "a",
                 "introspection_endpoint_auth_method": "private_key_jwt"},
            ]})),
            vec![
                (
                    "extra_issuers[0].client_id".to_string(),
                    "required field missing (client_secret is set)".to_string()
                ),
                (
                    "extra_issuers[1].introspection_endpoint_auth_method".to_string(),
                    "private_key_jwt is not supported in extra_issuers (supported: client_secret_basic, client_secret_post, none)"
                        .to_string()
                ),
            ]
        );
        assert_eq!(
            errors(json!({"issuer": ISS, "extra_issuers": []})),
            one("extra_issuers", "length must be at least 1")
        );
        assert_eq!(
            errors(json!({"issuer": ISS, "auth_methods": ["password"],
                          "extra_issuers": [{"issuer": "http://h/"}]})),
            one(
                "extra_issuers",
                "needs bearer or introspection in auth_methods"
            )
        );
        assert_eq!(
            errors(json!({"issuer": ISS, "introspection_check_active": false,
                          "extra_issuers": [{"issuer": "http://h/"}]})),
            one(
                "extra_issuers",
                "needs introspection_check_active (the issuers are asked until one says active)"
            )
        );
    }

    #[test]
    fn idp_protection_fields() {
        let c = OidcConfig::from_value(&json!({
            "issuer": ISS, "cache_ttl_resurrect": 30, "idp_concurrency_limit": 8,
            "idp_circuit_breaker_failures": 0, "idp_circuit_breaker_cooldown": 0,
        }))
        .unwrap();
        assert_eq!(c.cache_ttl_resurrect, Some(30.0));
        assert_eq!(c.idp_concurrency_limit, 8.0);
        assert_eq!(c.idp_circuit_breaker_failures, 0.0);
        assert_eq!(
            errors(json!({"issuer": ISS, "idp_concurrency_limit": 0})),
            one("idp_concurrency_limit", "value must be at least 1")
        );
        assert_eq!(
            errors(json!({"issuer": ISS, "idp_circuit_breaker_failures": 2.5})),
            one("idp_circuit_breaker_failures", "expected an integer")
        );
        assert_eq!(
            errors(json!({"issuer": ISS, "idp_circuit_breaker_cooldown": 0})),
            one(
                "idp_circuit_breaker_cooldown",
                "value must be greater than 0 (idp_circuit_breaker_failures is set)"
            )
        );
    }

    #[test]
    fn paired_arrays() {
        assert_eq!(
            errors(json!({"issuer": ISS, "introspection_headers_names": ["a"]})),
            one(
                "introspection_headers_values",
                "must have the same number of elements as introspection_headers_names (0 != 1)"
            )
        );
        assert_eq!(
            errors(
                json!({"issuer": ISS, "upstream_headers_claims": ["a"], "upstream_headers_names": ["x", "y"]})
            ),
            one(
                "upstream_headers_names",
                "must have the same number of elements as upstream_headers_claims (2 != 1)"
            )
        );
    }

    #[test]
    fn cookie_needs_name() {
        assert_eq!(
            errors(json!({"issuer": ISS, "bearer_token_param_type": ["cookie"]})),
            one(
                "bearer_token_cookie_name",
                "required field missing (bearer_token_param_type contains cookie)"
            )
        );
        assert!(OidcConfig::from_value(
            &json!({"issuer": ISS, "bearer_token_param_type": ["cookie"], "bearer_token_cookie_name": "at"})
        )
        .is_ok());
    }

    #[test]
    fn collects_all_errors() {
        let e = errors(json!({
            "timeout": true, "auth_methods": ["password", 3], "bogus": 1, "keepalive": 1
        }));
        let paths: Vec<&str> = e.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            vec!["bogus", "issuer", "auth_methods[1]", "timeout", "keepalive"]
        );
    }
}

//! The `openid-connect` plugin's typed config: Kong's field names, types and defaults, validated with Kong-like messages.
//!
//! `OidcConfig::from_value` turns the plugin's raw `config` object into a typed, defaulted value and
//! collects every error (paths relative to `config`, e.g. `timeout`, `auth_methods[2]`).
//! `OidcConfig::to_value_with_defaults` gives the full config back (defaults filled in, `null` for unset),
//! in a fixed field order, which also makes it a canonical form for hashing.
//!
//! Deliberate departures from Kong (also in `docs/openid-connect.md`):
//! - `auth_methods` defaults to the methods implemented here: `password`, `client_credentials`, `introspection`.
//!   Kong's other method names are accepted (so Kong configs load) but have no effect.
//! - `cache_ttl_neg` defaults to 10 seconds (Kong leaves it unset and mlcache falls back to its own default).
//! - `ssl_verify` defaults to true (as Kong 3.15 does).
//!
//! Gateway extensions, not in Kong (IdP protection, see `docs/security.md`): `idp_concurrency_limit`,
//! `idp_circuit_breaker_failures`, `idp_circuit_breaker_cooldown`.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::FieldError;

/// How a client authenticates to the IdP (`client_auth`, `*_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// `Authorization: Basic base64(id:secret)`.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A JWT signed with the client secret (accepted, not implemented: treated as `client_secret_basic`).
    ClientSecretJwt,
    /// A JWT signed with a private key (accepted, not implemented: no client authentication is sent).
    PrivateKeyJwt,
    /// Mutual TLS (accepted, not implemented: no client authentication is sent).
    TlsClientAuth,
    /// Self-signed mutual TLS (accepted, not implemented: no client authentication is sent).
    SelfSignedTlsClientAuth,
    /// Only `client_id` in the form body.
    None,
}

impl ClientAuthMethod {
    const ALL: &'static [(&'static str, Self)] = &[
        ("client_secret_basic", Self::ClientSecretBasic),
        ("client_secret_post", Self::ClientSecretPost),
        ("client_secret_jwt", Self::ClientSecretJwt),
        ("private_key_jwt", Self::PrivateKeyJwt),
        ("tls_client_auth", Self::TlsClientAuth),
        ("self_signed_tls_client_auth", Self::SelfSignedTlsClientAuth),
        ("none", Self::None),
    ];
}

/// An authentication method (`auth_methods`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// Resource-owner password grant from Basic credentials (implemented).
    Password,
    /// Client-credentials grant from Basic credentials (implemented).
    ClientCredentials,
    /// Authorization-code flow (accepted, not implemented).
    AuthorizationCode,
    /// Local JWT verification (accepted, not implemented).
    Bearer,
    /// RFC 7662 token introspection (implemented).
    Introspection,
    /// Userinfo lookup (accepted, not implemented).
    Userinfo,
    /// Kong OAuth2 plugin tokens (accepted, not implemented).
    KongOauth2,
    /// Refresh-token grant (accepted, not implemented).
    RefreshToken,
    /// Session cookie (accepted, not implemented).
    Session,
}

impl AuthMethod {
    const ALL: &'static [(&'static str, Self)] = &[
        ("password", Self::Password),
        ("client_credentials", Self::ClientCredentials),
        ("authorization_code", Self::AuthorizationCode),
        ("bearer", Self::Bearer),
        ("introspection", Self::Introspection),
        ("userinfo", Self::Userinfo),
        ("kong_oauth2", Self::KongOauth2),
        ("refresh_token", Self::RefreshToken),
        ("session", Self::Session),
    ];
}

/// Where a credential is looked for (`bearer_token_param_type`, `password_param_type`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
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
    const ALL: &'static [(&'static str, Self)] = &[
        ("header", Self::Header),
        ("cookie", Self::Cookie),
        ("query", Self::Query),
        ("body", Self::Body),
    ];
    const NO_COOKIE: &'static [(&'static str, Self)] = &[
        ("header", Self::Header),
        ("query", Self::Query),
        ("body", Self::Body),
    ];
}

/// The typed `openid-connect` plugin config (Kong's names and defaults; see `docs/openid-connect.md`).
///
/// Durations are seconds except `timeout` (milliseconds), as in Kong.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
}

/// Every field name the schema knows, in schema order.
pub const FIELDS: &[&str] = &[
    "issuer",
    "client_id",
    "client_secret",
    "client_auth",
    "auth_methods",
    "bearer_token_param_type",
    "bearer_token_cookie_name",
    "introspection_endpoint",
    "introspection_endpoint_auth_method",
    "introspection_hint",
    "introspection_headers_names",
    "introspection_headers_values",
    "introspection_post_args_names",
    "introspection_post_args_values",
    "introspection_check_active",
    "token_endpoint",
    "token_endpoint_auth_method",
    "token_post_args_names",
    "token_post_args_values",
    "token_headers_names",
    "token_headers_values",
    "scopes",
    "cache_introspection",
    "cache_tokens",
    "cache_ttl",
    "cache_ttl_max",
    "cache_ttl_min",
    "cache_ttl_neg",
    "cache_ttl_resurrect",
    "leeway",
    "scopes_required",
    "scopes_claim",
    "audience_required",
    "audience_claim",
    "upstream_access_token_header",
    "upstream_introspection_header",
    "upstream_headers_claims",
    "upstream_headers_names",
    "hide_credentials",
    "ssl_verify",
    "timeout",
    "keepalive",
    "display_errors",
    "expose_error_code",
    "unauthorized_error_message",
    "forbidden_error_message",
    "rediscovery_lifetime",
    "password_param_type",
    "client_credentials_param_type",
    "idp_concurrency_limit",
    "idp_circuit_breaker_failures",
    "idp_circuit_breaker_cooldown",
];

/// Default `auth_methods`: the methods this gateway implements (departure from Kong's nine).
pub const DEFAULT_AUTH_METHODS: &[AuthMethod] = &[
    AuthMethod::Password,
    AuthMethod::ClientCredentials,
    AuthMethod::Introspection,
];

/// Default `cache_ttl_neg` in seconds (departure: Kong leaves it to mlcache).
pub const DEFAULT_CACHE_TTL_NEG: f64 = 10.0;
/// Default `idp_concurrency_limit` (gateway extension).
pub const DEFAULT_IDP_CONCURRENCY_LIMIT: f64 = 100.0;
/// Default `idp_circuit_breaker_failures` (gateway extension).
pub const DEFAULT_IDP_CIRCUIT_BREAKER_FAILURES: f64 = 5.0;
/// Default `idp_circuit_breaker_cooldown` in seconds (gateway extension).
pub const DEFAULT_IDP_CIRCUIT_BREAKER_COOLDOWN: f64 = 10.0;

fn default_param_types() -> Vec<ParamType> {
    vec![ParamType::Header, ParamType::Query, ParamType::Body]
}

impl OidcConfig {
    /// A config with every default and the given issuer (handy for tests and examples).
    pub fn with_issuer(issuer: impl Into<String>) -> Self {
        OidcConfig {
            issuer: issuer.into(),
            client_id: None,
            client_secret: None,
            client_auth: None,
            auth_methods: DEFAULT_AUTH_METHODS.to_vec(),
            bearer_token_param_type: default_param_types(),
            bearer_token_cookie_name: None,
            introspection_endpoint: None,
            introspection_endpoint_auth_method: None,
            introspection_hint: "access_token".to_owned(),
            introspection_headers_names: None,
            introspection_headers_values: None,
            introspection_post_args_names: None,
            introspection_post_args_values: None,
            introspection_check_active: true,
            token_endpoint: None,
            token_endpoint_auth_method: None,
            token_post_args_names: None,
            token_post_args_values: None,
            token_headers_names: None,
            token_headers_values: None,
            scopes: vec!["openid".to_owned()],
            cache_introspection: true,
            cache_tokens: true,
            cache_ttl: 3600.0,
            cache_ttl_max: None,
            cache_ttl_min: None,
            cache_ttl_neg: DEFAULT_CACHE_TTL_NEG,
            cache_ttl_resurrect: None,
            leeway: 0.0,
            scopes_required: None,
            scopes_claim: vec!["scope".to_owned()],
            audience_required: None,
            audience_claim: vec!["aud".to_owned()],
            upstream_access_token_header: Some("authorization:bearer".to_owned()),
            upstream_introspection_header: None,
            upstream_headers_claims: None,
            upstream_headers_names: None,
            hide_credentials: false,
            ssl_verify: true,
            timeout: 10000.0,
            keepalive: true,
            display_errors: false,
            expose_error_code: true,
            unauthorized_error_message: "Unauthorized".to_owned(),
            forbidden_error_message: "Forbidden".to_owned(),
            rediscovery_lifetime: 30.0,
            password_param_type: default_param_types(),
            client_credentials_param_type: default_param_types(),
            idp_concurrency_limit: DEFAULT_IDP_CONCURRENCY_LIMIT,
            idp_circuit_breaker_failures: DEFAULT_IDP_CIRCUIT_BREAKER_FAILURES,
            idp_circuit_breaker_cooldown: DEFAULT_IDP_CIRCUIT_BREAKER_COOLDOWN,
        }
    }

    /// Parses and validates the plugin's `config` object, collecting every error.
    ///
    /// `null` for a field means "unset" (its default applies); unknown fields are rejected.
    pub fn from_value(value: &Value) -> Result<OidcConfig, Vec<FieldError>> {
        let empty = Map::new();
        let mut p = Parser {
            errors: Vec::new(),
            map: &empty,
        };
        match value {
            Value::Object(m) => p.map = m,
            Value::Null => {}
            _ => {
                return Err(vec![err("", "expected a record")]);
            }
        }
        for key in p.map.keys() {
            if !FIELDS.contains(&key.as_str()) {
                p.errors.push(err(key, "unknown field"));
            }
        }
        let d = OidcConfig::with_issuer("");
        let issuer = p.required_url("issuer");
        let cfg = OidcConfig {
            client_id: p.opt_strings("client_id"),
            client_secret: p.opt_strings("client_secret"),
            client_auth: p.opt_enums("client_auth", ClientAuthMethod::ALL),
            auth_methods: p.enums("auth_methods", AuthMethod::ALL, d.auth_methods),
            bearer_token_param_type: p.enums(
                "bearer_token_param_type",
                ParamType::ALL,
                d.bearer_token_param_type,
            ),
            bearer_token_cookie_name: p.opt_string("bearer_token_cookie_name"),
            introspection_endpoint: p.opt_url("introspection_endpoint"),
            introspection_endpoint_auth_method: p
                .opt_enum("introspection_endpoint_auth_method", ClientAuthMethod::ALL),
            introspection_hint: p.string("introspection_hint", d.introspection_hint),
            introspection_headers_names: p.opt_strings("introspection_headers_names"),
            introspection_headers_values: p.opt_strings("introspection_headers_values"),
            introspection_post_args_names: p.opt_strings("introspection_post_args_names"),
            introspection_post_args_values: p.opt_strings("introspection_post_args_values"),
            introspection_check_active: p
                .boolean("introspection_check_active", d.introspection_check_active),
            token_endpoint: p.opt_url("token_endpoint"),
            token_endpoint_auth_method: p
                .opt_enum("token_endpoint_auth_method", ClientAuthMethod::ALL),
            token_post_args_names: p.opt_strings("token_post_args_names"),
            token_post_args_values: p.opt_strings("token_post_args_values"),
            token_headers_names: p.opt_strings("token_headers_names"),
            token_headers_values: p.opt_strings("token_headers_values"),
            scopes: p.strings("scopes", d.scopes),
            cache_introspection: p.boolean("cache_introspection", d.cache_introspection),
            cache_tokens: p.boolean("cache_tokens", d.cache_tokens),
            cache_ttl: p.number("cache_ttl", d.cache_ttl),
            cache_ttl_max: p.opt_number("cache_ttl_max"),
            cache_ttl_min: p.opt_number("cache_ttl_min"),
            cache_ttl_neg: p.number("cache_ttl_neg", d.cache_ttl_neg),
            cache_ttl_resurrect: p.opt_number("cache_ttl_resurrect"),
            leeway: p.number("leeway", d.leeway),
            scopes_required: p.opt_strings("scopes_required"),
            scopes_claim: p.strings("scopes_claim", d.scopes_claim),
            audience_required: p.opt_strings("audience_required"),
            audience_claim: p.strings("audience_claim", d.audience_claim),
            upstream_access_token_header: p.string_or_null(
                "upstream_access_token_header",
                d.upstream_access_token_header,
            ),
            upstream_introspection_header: p.opt_string("upstream_introspection_header"),
            upstream_headers_claims: p.opt_strings("upstream_headers_claims"),
            upstream_headers_names: p.opt_strings("upstream_headers_names"),
            hide_credentials: p.boolean("hide_credentials", d.hide_credentials),
            ssl_verify: p.boolean("ssl_verify", d.ssl_verify),
            timeout: p.number("timeout", d.timeout),
            keepalive: p.boolean("keepalive", d.keepalive),
            display_errors: p.boolean("display_errors", d.display_errors),
            expose_error_code: p.boolean("expose_error_code", d.expose_error_code),
            unauthorized_error_message: p
                .string("unauthorized_error_message", d.unauthorized_error_message),
            forbidden_error_message: p.string("forbidden_error_message", d.forbidden_error_message),
            rediscovery_lifetime: p.number("rediscovery_lifetime", d.rediscovery_lifetime),
            password_param_type: p.enums(
                "password_param_type",
                ParamType::NO_COOKIE,
                d.password_param_type,
            ),
            client_credentials_param_type: p.enums(
                "client_credentials_param_type",
                ParamType::NO_COOKIE,
                d.client_credentials_param_type,
            ),
            idp_concurrency_limit: p.number("idp_concurrency_limit", d.idp_concurrency_limit),
            idp_circuit_breaker_failures: p.number(
                "idp_circuit_breaker_failures",
                d.idp_circuit_breaker_failures,
            ),
            idp_circuit_breaker_cooldown: p.number(
                "idp_circuit_breaker_cooldown",
                d.idp_circuit_breaker_cooldown,
            ),
            issuer,
        };
        let mut errors = p.errors;
        cfg.check_relations(&mut errors);
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(errors)
        }
    }

    /// Cross-field rules: paired arrays, cookie name, positive timeout, ttl bounds.
    fn check_relations(&self, errors: &mut Vec<FieldError>) {
        type Pair<'c> = (
            &'c str,
            &'c Option<Vec<String>>,
            &'c str,
            &'c Option<Vec<String>>,
        );
        let pairs: [Pair<'_>; 5] = [
            (
                "introspection_headers_names",
                &self.introspection_headers_names,
                "introspection_headers_values",
                &self.introspection_headers_values,
            ),
            (
                "introspection_post_args_names",
                &self.introspection_post_args_names,
                "introspection_post_args_values",
                &self.introspection_post_args_values,
            ),
            (
                "token_post_args_names",
                &self.token_post_args_names,
                "token_post_args_values",
                &self.token_post_args_values,
            ),
            (
                "token_headers_names",
                &self.token_headers_names,
                "token_headers_values",
                &self.token_headers_values,
            ),
            (
                "upstream_headers_claims",
                &self.upstream_headers_claims,
                "upstream_headers_names",
                &self.upstream_headers_names,
            ),
        ];
        for (a_name, a, b_name, b) in pairs {
            let la = a.as_ref().map_or(0, Vec::len);
            let lb = b.as_ref().map_or(0, Vec::len);
            if la != lb {
                errors.push(err(
                    b_name,
                    &format!("must have the same number of elements as {a_name} ({lb} != {la})"),
                ));
            }
        }
        if self.bearer_token_param_type.contains(&ParamType::Cookie)
            && self
                .bearer_token_cookie_name
                .as_deref()
                .is_none_or(str::is_empty)
        {
            errors.push(err(
                "bearer_token_cookie_name",
                "required field missing (bearer_token_param_type contains cookie)",
            ));
        }
        if self.timeout <= 0.0 {
            errors.push(err("timeout", "value must be greater than 0"));
        }
        for (name, v) in [
            ("idp_concurrency_limit", self.idp_concurrency_limit),
            (
                "idp_circuit_breaker_failures",
                self.idp_circuit_breaker_failures,
            ),
        ] {
            if v.fract() != 0.0 {
                errors.push(err(name, "expected an integer"));
            }
        }
        if self.idp_concurrency_limit < 1.0 {
            errors.push(err("idp_concurrency_limit", "value must be at least 1"));
        }
        if self.idp_circuit_breaker_failures > 0.0 && self.idp_circuit_breaker_cooldown <= 0.0 {
            errors.push(err(
                "idp_circuit_breaker_cooldown",
                "value must be greater than 0 (idp_circuit_breaker_failures is set)",
            ));
        }
        if let (Some(min), Some(max)) = (self.cache_ttl_min, self.cache_ttl_max) {
            if min > max {
                errors.push(err(
                    "cache_ttl_min",
                    "value must be less than or equal to cache_ttl_max",
                ));
            }
        }
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

fn err(path: &str, message: &str) -> FieldError {
    FieldError {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

/// Field-by-field reader that records errors and returns defaults on failure.
struct Parser<'a> {
    map: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Parser<'a> {
    /// The value of a field, `None` when absent or `null`.
    fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn fail(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }

    fn opt_string(&mut self, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.fail(key, "expected a string");
                None
            }
        }
    }

    fn string(&mut self, key: &str, default: String) -> String {
        self.opt_string(key).unwrap_or(default)
    }

    /// A string whose default applies when absent; an explicit `null` clears it.
    fn string_or_null(&mut self, key: &str, default: Option<String>) -> Option<String> {
        match self.map.get(key) {
            None => default,
            Some(Value::Null) => None,
            Some(_) => self.opt_string(key),
        }
    }

    fn required_url(&mut self, key: &str) -> String {
        if self.get(key).is_none() {
            self.fail(key, "required field missing");
            return String::new();
        }
        self.opt_url(key).unwrap_or_default()
    }

    fn opt_url(&mut self, key: &str) -> Option<String> {
        let s = self.opt_string(key)?;
        match url::Url::parse(&s) {
            Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.has_host() => Some(s),
            Ok(_) => {
                self.fail(
                    key,
                    "missing host in url or unsupported scheme (http, https)",
                );
                None
            }
            Err(_) => {
                self.fail(key, "invalid url");
                None
            }
        }
    }

    fn boolean(&mut self, key: &str, default: bool) -> bool {
        match self.get(key) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.fail(key, "expected a boolean");
                default
            }
        }
    }

    fn opt_number(&mut self, key: &str) -> Option<f64> {
        match self.get(key)? {
            Value::Number(n) => match n.as_f64() {
                Some(f) if f >= 0.0 => Some(f),
                _ => {
                    self.fail(key, "value should be between 0 and 9007199254740991");
                    None
                }
            },
            _ => {
                self.fail(key, "expected a number");
                None
            }
        }
    }

    fn number(&mut self, key: &str, default: f64) -> f64 {
        self.opt_number(key).unwrap_or(default)
    }

    /// An array field; `None` when absent or not an array (error recorded).
    fn array(&mut self, key: &str) -> Option<&'a Vec<Value>> {
        let map = self.map;
        match map.get(key).filter(|v| !v.is_null())? {
            Value::Array(a) => Some(a),
            _ => {
                self.fail(key, "expected an array");
                None
            }
        }
    }

    fn opt_strings(&mut self, key: &str) -> Option<Vec<String>> {
        let items = self.array(key)?;
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) => out.push(s.clone()),
                _ => {
                    ok = false;
                    self.fail(format!("{key}[{i}]"), "expected a string");
                }
            }
        }
        ok.then_some(out)
    }

    fn strings(&mut self, key: &str, default: Vec<String>) -> Vec<String> {
        self.opt_strings(key).unwrap_or(default)
    }

    fn one_of<T: Copy>(&mut self, path: String, v: &Value, all: &[(&'static str, T)]) -> Option<T> {
        let found = v
            .as_str()
            .and_then(|s| all.iter().find(|(name, _)| *name == s));
        match found {
            Some((_, t)) => Some(*t),
            None => {
                let names: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
                self.fail(path, format!("expected one of: {}", names.join(", ")));
                None
            }
        }
    }

    fn opt_enum<T: Copy>(&mut self, key: &str, all: &[(&'static str, T)]) -> Option<T> {
        let v = self.get(key)?.clone();
        self.one_of(key.to_owned(), &v, all)
    }

    fn opt_enums<T: Copy + PartialEq>(
        &mut self,
        key: &str,
        all: &[(&'static str, T)],
    ) -> Option<Vec<T>> {
        let items = self.array(key)?;
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.one_of(format!("{key}[{i}]"), item, all) {
                Some(t) if !out.contains(&t) => out.push(t),
                Some(_) => {}
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn enums<T: Copy + PartialEq>(
        &mut self,
        key: &str,
        all: &[(&'static str, T)],
        default: Vec<T>,
    ) -> Vec<T> {
        self.opt_enums(key, all).unwrap_or(default)
    }
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
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, FIELDS.iter().collect::<Vec<_>>());
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

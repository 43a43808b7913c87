//! Verifying one JWT access token against a key set, as a pure function of the token, the keys, the rules
//! and the time: header (`alg` on the allow-list, `typ` of an access token), signature, then `iss`,
//! `exp`, `nbf` and `iat` with the leeway. Scopes and audience are checked later, by the policy, like
//! an introspection result's.

use std::collections::HashSet;
use std::str::FromStr;

use base64::Engine as _;
use gateway_config::plugins::openid_connect::OidcConfig;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde_json::{Map, Value};

use super::keys::{KeySet, ALLOWED};
use super::{looks_like_jwt, JwtError};

/// `typ` values accepted in the header (compared case-insensitively); no `typ` is accepted too.
/// Other types (`token-introspection+jwt`, `logout+jwt`, ...) are other kinds of JWT, never access tokens.
const TYPES: &[&str] = &["at+jwt", "application/at+jwt", "jwt"];

/// `typ` of an RFC 9701 signed introspection response (required there).
const INTROSPECTION_TYPES: &[&str] = &[
    "token-introspection+jwt",
    "application/token-introspection+jwt",
];

/// What a JWT must satisfy, compiled from the config.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Accepted `iss` values (without a trailing `/`): the configured issuer and `issuers_allowed`; the
    /// discovered issuer is added per call.
    issuers: Vec<String>,
    /// `leeway` in seconds.
    leeway: f64,
}

/// An issuer without trailing `/` and without the well-known suffix.
fn normalized(iss: &str) -> &str {
    iss.trim_end_matches("/.well-known/openid-configuration")
        .trim_end_matches("/.well-known/oauth-authorization-server")
        .trim_end_matches('/')
}

impl Rules {
    /// The rules of a config.
    pub fn new(cfg: &OidcConfig) -> Self {
        let mut issuers = vec![normalized(&cfg.issuer).to_owned()];
        for i in cfg.issuers_allowed.iter().flatten() {
            issuers.push(normalized(i).to_owned());
        }
        Rules {
            issuers,
            leeway: cfg.leeway,
        }
    }

    /// Whether `iss` is one of the accepted issuers (`discovered`: the discovery document's, if known).
    pub fn issuer_allowed(&self, iss: &str, discovered: Option<&str>) -> bool {
        let iss = normalized(iss);
        self.issuers.iter().any(|i| i == iss) || discovered.is_some_and(|d| normalized(d) == iss)
    }
}

/// The `iss` of a JWT's payload, read WITHOUT verifying anything: only to pick which issuer's keys
/// verify it (the verification then checks `iss` again, signed).
pub fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: Map<String, Value> = serde_json::from_slice(&raw).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

/// The header of a token that has the shape of a JWT, its `alg` allowed and its `typ` accepted.
pub fn header(token: &str) -> Result<Header, JwtError> {
    let header = checked_header(token)?;
    if let Some(typ) = &header.typ {
        if !TYPES.iter().any(|t| t.eq_ignore_ascii_case(typ)) {
            return Err(JwtError::Type);
        }
    }
    Ok(header)
}

/// The header of an RFC 9701 signed introspection response: `alg` allowed, `typ` required and
/// `token-introspection+jwt`.
pub fn introspection_header(jwt: &str) -> Result<Header, JwtError> {
    let header = checked_header(jwt)?;
    match &header.typ {
        Some(typ)
            if INTROSPECTION_TYPES
                .iter()
                .any(|t| t.eq_ignore_ascii_case(typ)) =>
        {
            Ok(header)
        }
        _ => Err(JwtError::Type),
    }
}

fn checked_header(token: &str) -> Result<Header, JwtError> {
    if !looks_like_jwt(token) {
        return Err(JwtError::NotJwt);
    }
    // `alg` is read first from the raw JSON: `none` and unknown names are refused as algorithms.
    let first = token.split('.').next().unwrap_or_default();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(first)
        .map_err(|_| JwtError::Malformed)?;
    let raw: Map<String, Value> = serde_json::from_slice(&raw).map_err(|_| JwtError::Malformed)?;
    let alg = raw.get("alg").and_then(Value::as_str).unwrap_or("none");
    if !Algorithm::from_str(alg).is_ok_and(|a| ALLOWED.contains(&a)) {
        return Err(JwtError::Algorithm);
    }
    jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)
}

/// Signature only: `alg` must be the header's, nothing else is checked by the crate (claims are ours).
fn signature_only(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.required_spec_claims = HashSet::new();
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v
}

/// Verifies `token` (whose header is `header`) with `keys` and checks its claims at `now_s` (seconds since
/// the epoch); `discovered` is the issuer of the discovery document, when there is one. The claims, or
/// why not ([`JwtError::UnknownKey`] tells the caller that fresher keys might help).
pub fn verify(
    token: &str,
    header: &Header,
    keys: &KeySet,
    rules: &Rules,
    discovered: Option<&str>,
    now_s: f64,
) -> Result<Map<String, Value>, JwtError> {
    let claims = signed_claims(token, header, keys)?;
    check_claims(&claims, rules, discovered, now_s)?;
    Ok(claims)
}

/// Verifies an RFC 9701 signed introspection response (whose header is `header`) and returns its
/// `token_introspection` member: signature with the issuer's keys, `iss` allowed, `aud` naming
/// `client_id` (when the gateway has one), `iat`/`exp` when present (± leeway).
pub fn verify_introspection(
    jwt: &str,
    header: &Header,
    keys: &KeySet,
    rules: &Rules,
    discovered: Option<&str>,
    client_id: &str,
    now_s: f64,
) -> Result<Map<String, Value>, JwtError> {
    let mut claims = signed_claims(jwt, header, keys)?;
    let iss = claims.get("iss").and_then(Value::as_str);
    if !iss.is_some_and(|i| rules.issuer_allowed(i, discovered)) {
        return Err(JwtError::Issuer);
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == client_id,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(client_id)),
        _ => false,
    };
    if !client_id.is_empty() && !aud_ok {
        return Err(JwtError::Audience);
    }
    if number(&claims, "exp")?.is_some_and(|exp| exp + rules.leeway <= now_s) {
        return Err(JwtError::Expired);
    }
    if number(&claims, "iat")?.is_some_and(|iat| iat - rules.leeway > now_s) {
        return Err(JwtError::IssuedInFuture);
    }
    match claims.remove("token_introspection") {
        Some(Value::Object(result)) => Ok(result),
        _ => Err(JwtError::Malformed),
    }
}

/// The claims of a JWT whose signature verifies with one of the keys that fit its header.
fn signed_claims(
    token: &str,
    header: &Header,
    keys: &KeySet,
) -> Result<Map<String, Value>, JwtError> {
    let validation = signature_only(header.alg);
    let mut tried = false;
    let mut claims = None;
    for key in keys.candidates(header.kid.as_deref(), header.alg) {
        tried = true;
        match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation) {
            Ok(data) => {
                claims = Some(data.claims);
                break;
            }
            Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {}
            Err(e) if matches!(e.kind(), ErrorKind::Json(_) | ErrorKind::Utf8(_)) => {
                return Err(JwtError::Malformed)
            }
            Err(_) => {}
        }
    }
    if !tried {
        return Err(JwtError::UnknownKey);
    }
    claims.ok_or(JwtError::Signature)
}

fn number(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, JwtError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or(JwtError::Malformed),
    }
}

/// `iss` allowed, `exp` present and not passed, `nbf` and `iat` not in the future (each ± leeway).
fn check_claims(
    claims: &Map<String, Value>,
    rules: &Rules,
    discovered: Option<&str>,
    now_s: f64,
) -> Result<(), JwtError> {
    let iss = claims.get("iss").and_then(Value::as_str);
    if !iss.is_some_and(|i| rules.issuer_allowed(i, discovered)) {
        return Err(JwtError::Issuer);
    }
    let exp = number(claims, "exp")?.ok_or(JwtError::NoExpiry)?;
    if exp + rules.leeway <= now_s {
        return Err(JwtError::Expired);
    }
    if number(claims, "nbf")?.is_some_and(|nbf| nbf - rules.leeway > now_s) {
        return Err(JwtError::NotYetValid);
    }
    if number(claims, "iat")?.is_some_and(|iat| iat - rules.leeway > now_s) {
        return Err(JwtError::IssuedInFuture);
    }
    Ok(())
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;

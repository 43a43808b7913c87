//! Verifying one DPoP proof (RFC 9449 §4.3) as a pure function of the proof, the request, the token and the
//! time: header (`typ`, `alg` on the allow-list, a public `jwk` that fits it), signature with that key, then
//! `htm`, `htu`, `ath` and the presence of `jti` and `iat`. The time window, the nonce and the replay
//! check are the caller's (`dpop/mod.rs`), because they depend on the config and on state.

use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::jwt::keys::Key;
use crate::jwt::looks_like_jwt;
use crate::Target;

/// Longest proof read (bytes): a proof with an RSA-4096 key is about 1.5 KB.
pub const MAX_PROOF_LEN: usize = 8 * 1024;

/// Longest `jti` accepted (bytes).
const MAX_JTI_LEN: usize = 256;

/// JWK members that only a private key has (RFC 7518 §6.2.2, §6.3.2; `k` of a symmetric key).
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a proof is refused (each a fixed phrase: the log never shows the proof).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// No `DPoP` header with the `DPoP` authorization scheme.
    #[error("no DPoP proof")]
    Missing,
    /// More than one `DPoP` header.
    #[error("more than one DPoP proof")]
    Multiple,
    /// Not a compact JWS, too long, or its parts are not base64url JSON.
    #[error("DPoP proof is malformed")]
    Malformed,
    /// `typ` is not `dpop+jwt`.
    #[error("DPoP proof typ is not dpop+jwt")]
    Type,
    /// `alg` missing, `none`, symmetric, or not in `dpop_signing_alg_values_supported`.
    #[error("DPoP proof algorithm not allowed")]
    Algorithm,
    /// `jwk` missing, private, unreadable, or not of a type that verifies `alg`.
    #[error("DPoP proof jwk is not a usable public key")]
    Key,
    /// The signature does not verify with the embedded key.
    #[error("DPoP proof signature does not verify")]
    Signature,
    /// `htm` is not the request's method.
    #[error("DPoP proof htm does not match the request method")]
    Method,
    /// `htu` is not the request's URL.
    #[error("DPoP proof htu does not match the request URL")]
    Url,
    /// `ath` is missing or not the hash of the access token.
    #[error("DPoP proof ath does not match the access token")]
    TokenHash,
    /// `jti` missing, empty or too long.
    #[error("DPoP proof jti missing or invalid")]
    Jti,
    /// `iat` missing or not a number.
    #[error("DPoP proof iat missing or invalid")]
    IssuedAt,
    /// `iat` (or the nonce's time) is outside the accepted window.
    #[error("DPoP proof is too old or issued in the future")]
    Stale,
    /// The proof's `jti` was seen before within the window.
    #[error("DPoP proof was replayed")]
    Replayed,
}

/// What a verified proof tells: the key's thumbprint and what the window and replay checks need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// RFC 7638 SHA-256 thumbprint of the proof's key, base64url (what `cnf.jkt` must equal).
    pub jkt: String,
    /// The proof's `jti`.
    pub jti: String,
    /// The proof's `iat` (seconds).
    pub iat: i64,
    /// The proof's `nonce`, when it has one.
    pub nonce: Option<String>,
}

/// Verifies `proof` for a request (`method`, `target`) carrying `token`, accepting the algorithms `algs`.
pub fn verify(
    proof: &str,
    method: &str,
    target: &Target<'_>,
    token: &str,
    algs: &[Algorithm],
) -> Result<Verified, ProofError> {
    if proof.len() > MAX_PROOF_LEN || !looks_like_jwt(proof) {
        return Err(ProofError::Malformed);
    }
    let header = json_part(proof.split('.').next().unwrap_or_default())?;
    let typ = header.get("typ").and_then(Value::as_str);
    if !typ.is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt")) {
        return Err(ProofError::Type);
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(|a| Algorithm::from_str(a).ok())
        .filter(|a| algs.contains(a))
        .ok_or(ProofError::Algorithm)?;
    let jwk = header.get("jwk").ok_or(ProofError::Key)?;
    let key = public_key(jwk, alg)?;
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.required_spec_claims = Default::default();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Map<String, Value>>(proof, &key.key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => ProofError::Signature,
            _ => ProofError::Malformed,
        })?
        .claims;
    if claims.get("htm").and_then(Value::as_str) != Some(method) {
        return Err(ProofError::Method);
    }
    let htu = claims.get("htu").and_then(Value::as_str);
    if !htu.is_some_and(|h| same_url(h, target)) {
        return Err(ProofError::Url);
    }
    if claims.get("ath").and_then(Value::as_str) != Some(token_hash(token).as_str()) {
        return Err(ProofError::TokenHash);
    }
    let jti = match claims.get("jti").and_then(Value::as_str) {
        Some(j) if !j.is_empty() && j.len() <= MAX_JTI_LEN => j.to_owned(),
        _ => return Err(ProofError::Jti),
    };
    let iat = claims
        .get("iat")
        .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
        .ok_or(ProofError::IssuedAt)?;
    Ok(Verified {
        jkt: thumbprint(jwk).ok_or(ProofError::Key)?,
        jti,
        iat,
        nonce: claims
            .get("nonce")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

fn json_part(part: &str) -> Result<Map<String, Value>, ProofError> {
    let raw = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| ProofError::Malformed)?;
    serde_json::from_slice(&raw).map_err(|_| ProofError::Malformed)
}

/// The embedded key: an object without private members, of a type that verifies `alg`.
fn public_key(jwk: &Value, alg: Algorithm) -> Result<Key, ProofError> {
    let obj = jwk.as_object().ok_or(ProofError::Key)?;
    if PRIVATE_MEMBERS.iter().any(|m| obj.contains_key(*m)) {
        return Err(ProofError::Key);
    }
    Key::from_jwk_value(jwk)
        .filter(|k| k.fits(alg))
        .ok_or(ProofError::Key)
}

/// base64url(SHA-256(token)): the `ath` of a proof for `token`.
pub fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        token.as_bytes(),
    ))
}

/// The RFC 7638 thumbprint of a public JWK (EC, RSA or OKP), base64url; `None` for another type or a
/// required member that is missing or not a string.
pub fn thumbprint(jwk: &Value) -> Option<String> {
    let members: &[&str] = match jwk.get("kty")?.as_str()? {
        "EC" => &["crv", "kty", "x", "y"],
        "RSA" => &["e", "kty", "n"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut canonical = String::from("{");
    for (i, m) in members.iter().enumerate() {
        let v = jwk.get(*m)?.as_str()?;
        if i > 0 {
            canonical.push(',');
        }
        canonical.push_str(&format!("\"{m}\":{}", Value::String(v.to_owned())));
    }
    canonical.push('}');
    Some(URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        canonical.as_bytes(),
    )))
}

/// Whether `htu` names the request's URL: same scheme, host and port (default ports implied) and path,
/// after URL normalisation (case of scheme and host, dot segments, percent-encoding); query and fragment
/// of `htu` are ignored (RFC 9449 §4.3 step 9).
pub fn same_url(htu: &str, target: &Target<'_>) -> bool {
    let Ok(claimed) = url::Url::parse(htu) else {
        return false;
    };
    let Some(authority) = target.authority else {
        return false;
    };
    let scheme = if target.https { "https" } else { "http" };
    let Ok(actual) = url::Url::parse(&format!("{scheme}://{authority}{}", target.path)) else {
        return false;
    };
    matches!(claimed.scheme(), "http" | "https")
        && claimed.scheme() == actual.scheme()
        && claimed.host_str() == actual.host_str()
        && claimed.port_or_known_default() == actual.port_or_known_default()
        && claimed.path() == actual.path()
}

#[cfg(test)]
#[path = "proof_tests.rs"]
pub(crate) mod tests;

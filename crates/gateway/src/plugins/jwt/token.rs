//! A token as Kong's `jwt_parser` reads it (before any key is looked up) and the registered-claim checks,
//! as pure functions of the token, the config and the time.

use base64::Engine as _;
use gateway_config::credentials::JwtAlgorithm;
use gateway_config::plugins::jwt::Claim;
use serde_json::{Map, Value};

use super::keys::B64;

/// Why a token was refused before or after its signature was checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// 401 `{"message": ...}` (with `error="invalid_token"` in the challenge unless `bare`).
    Message {
        /// Kong's message.
        message: String,
        /// The challenge without `error="invalid_token"` (no token at all).
        bare: bool,
    },
    /// 401 with the claim errors as the body (`{"exp": "token expired"}`).
    Claims(Map<String, Value>),
    /// 500: Kong's `error()`/`assert` paths (an unusable key, a signature of the wrong length, a header or
    /// claims of the wrong JSON type).
    Fault,
}

impl Refusal {
    /// A 401 with `message` and the `invalid_token` challenge.
    pub fn invalid(message: impl Into<String>) -> Self {
        Refusal::Message {
            message: message.into(),
            bare: false,
        }
    }
}

/// A decoded token (Kong's `decode_token`).
#[derive(Debug)]
pub struct Decoded<'t> {
    /// `header.payload` as sent: what the signature signs.
    pub signed: &'t str,
    /// The header (an object, or an array: `alg` was found).
    pub header: Value,
    /// The claims, any JSON value (Kong indexes them later).
    pub claims: Value,
    /// The decoded signature.
    pub signature: Vec<u8>,
    /// The `alg` of the header.
    pub alg: JwtAlgorithm,
}

fn json_of(segment: Option<&str>) -> Option<Value> {
    let raw = B64.decode(segment?).ok()?;
    serde_json::from_slice(&raw).ok()
}

/// Kong's `jwt_parser:new`: "Bad token; invalid JSON" (a part missing or not base64url JSON), "invalid alg",
/// "invalid claims" (`false`), "invalid signature" (not base64url).
pub fn decode(token: &str) -> Result<Decoded<'_>, Refusal> {
    let bad = |why: &str| Refusal::invalid(format!("Bad token; {why}"));
    // Kong's `tokenize(token, ".", 3)`: the third part is the rest, dots included.
    let mut parts = token.splitn(3, '.');
    let (h, c, s) = (parts.next(), parts.next(), parts.next());
    let (Some(header), Some(claims), Some(sig64)) = (json_of(h), json_of(c), s) else {
        return Err(bad("invalid JSON"));
    };
    let alg = match &header {
        Value::Object(m) => m
            .get("alg")
            .and_then(Value::as_str)
            .and_then(JwtAlgorithm::parse),
        Value::Array(_) | Value::String(_) => None,
        // Indexing a number, a boolean or null is a Lua error in Kong: a 500.
        _ => return Err(Refusal::Fault),
    };
    let Some(alg) = alg else {
        return Err(bad("invalid alg"));
    };
    if claims == Value::Bool(false) {
        return Err(bad("invalid claims"));
    }
    let Ok(signature) = B64.decode(sig64) else {
        return Err(bad("invalid signature"));
    };
    let signed = &token[..h.map_or(0, str::len) + 1 + c.map_or(0, str::len)];
    Ok(Decoded {
        signed,
        header,
        claims,
        signature,
        alg,
    })
}

/// A field of the claims as Kong indexes them: an object's member; nothing in an array or a string; a Lua
/// error (500) on a number, a boolean or null.
pub fn claim<'v>(claims: &'v Value, name: &str) -> Result<Option<&'v Value>, Refusal> {
    match claims {
        Value::Object(m) => Ok(m.get(name)),
        Value::Array(_) | Value::String(_) => Ok(None),
        _ => Err(Refusal::Fault),
    }
}

/// The jwt key a token names: `key_claim_name` in the claims, else in the header. "No mandatory 'iss' in
/// claims" when absent (or `false`), "Invalid 'iss' in claims" when empty.
pub fn key_of<'v>(d: &'v Decoded<'_>, key_claim_name: &str) -> Result<Option<&'v str>, Refusal> {
    let in_claims = claim(&d.claims, key_claim_name)?.filter(|v| **v != Value::Bool(false));
    let found =
        in_claims.or_else(|| (d.header.get(key_claim_name)).filter(|v| **v != Value::Bool(false)));
    match found {
        None => Err(Refusal::invalid(format!(
            "No mandatory '{key_claim_name}' in claims"
        ))),
        Some(Value::String(s)) if s.is_empty() => Err(Refusal::invalid(format!(
            "Invalid '{key_claim_name}' in claims"
        ))),
        Some(Value::String(s)) => Ok(Some(s)),
        // A number, an object, null: never a credential's key.
        Some(_) => Ok(None),
    }
}

/// Kong's `verify_registered_claims` (each claim a number; `exp` > now, `nbf` <= now) and then
/// `check_maximum_expiration` when `maximum_expiration` > 0; the errors by claim name, in the order checked.
pub fn check_claims(
    claims: &Value,
    to_verify: &[Claim],
    maximum_expiration: f64,
    now: f64,
) -> Result<(), Refusal> {
    let mut errors = Map::new();
    for c in to_verify {
        let message = match claim(claims, c.as_str())?.and_then(Value::as_f64) {
            None => "must be a number",
            Some(exp) if *c == Claim::Exp && exp <= now => "token expired",
            Some(nbf) if *c == Claim::Nbf && nbf > now => "token not valid yet",
            Some(_) => continue,
        };
        errors.insert(c.as_str().to_owned(), Value::from(message));
    }
    if !errors.is_empty() {
        return Err(Refusal::Claims(errors));
    }
    if maximum_expiration > 0.0 {
        let exp = claim(claims, "exp")?.and_then(Value::as_f64);
        if exp.is_none_or(|exp| exp - now > maximum_expiration) {
            let mut errors = Map::new();
            errors.insert(
                "exp".into(),
                Value::from("exceeds maximum allowed expiration"),
            );
            return Err(Refusal::Claims(errors));
        }
    }
    Ok(())
}

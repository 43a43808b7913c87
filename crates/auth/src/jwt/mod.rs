//! JWT access tokens (`bearer`, RFC 9068): the key set from JWKS documents ([`keys`]), its cache and
//! refresh ([`jwks`]), and the verification itself as a pure function ([`verify`]).
//!
//! Only asymmetric algorithms are accepted (RS256/384/512, PS256/384/512, ES256, ES384, EdDSA): `none` and
//! the HMAC family never verify, whatever the token's header says, and a key is only used with an
//! algorithm of its own type (an RSA key never checks an HMAC).

pub mod jwks;
pub mod keys;
#[cfg(test)]
pub(crate) mod test_keys;
#[cfg(test)]
mod tests_idp;
pub mod verify;

use thiserror::Error;

use crate::errors::IdpError;

/// Why a JWT access token was not accepted (each is a 401).
#[derive(Debug, Error)]
pub enum JwtError {
    /// Not a compact JWS (three base64url parts with a JSON header).
    #[error("not a JWT")]
    NotJwt,
    /// The header cannot be read, or the payload is not a JSON object.
    #[error("malformed JWT")]
    Malformed,
    /// The header's `alg` is not on the allow-list (`none`, HMAC, ...).
    #[error("JWT algorithm not allowed")]
    Algorithm,
    /// The header's `typ` is not one of an access token.
    #[error("JWT type not accepted")]
    Type,
    /// No key of the issuer's key sets fits the header's `kid` and `alg`.
    #[error("no key for the JWT")]
    UnknownKey,
    /// The signature does not verify with any fitting key.
    #[error("JWT signature invalid")]
    Signature,
    /// `iss` missing or not an allowed issuer.
    #[error("JWT issuer not allowed")]
    Issuer,
    /// A signed introspection response not addressed to the gateway's client (`aud`).
    #[error("JWT audience is not the gateway's client")]
    Audience,
    /// `exp` missing (RFC 9068 requires it).
    #[error("JWT has no exp")]
    NoExpiry,
    /// `exp` (plus leeway) has passed.
    #[error("JWT has expired")]
    Expired,
    /// `nbf` (minus leeway) is in the future.
    #[error("JWT not valid yet")]
    NotYetValid,
    /// `iat` (minus leeway) is in the future.
    #[error("JWT issued in the future")]
    IssuedInFuture,
    /// The key sets could not be fetched (the IdP did not answer).
    #[error("JWKS unavailable: {0}")]
    Keys(IdpError),
}

impl JwtError {
    /// Whether the IdP failed (rather than the token).
    pub fn is_outage(&self) -> bool {
        matches!(self, JwtError::Keys(e) if e.is_outage())
    }
}

/// Whether a token has the shape of a compact JWS: three non-empty base64url parts, the first starting
/// with the encoding of `{` (`ey`). Anything else is an opaque token (JWEs, five parts, are opaque here).
pub fn looks_like_jwt(token: &str) -> bool {
    // One table lookup per byte (the chain of comparisons took ~14 instructions per byte).
    static B64URL: [bool; 256] = {
        let mut t = [false; 256];
        let mut b = 0;
        while b < 256 {
            let c = b as u8;
            t[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
            b += 1;
        }
        t
    };
    let b64url = |s: &str| !s.is_empty() && s.bytes().all(|b| B64URL[b as usize]);
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) => {
            h.starts_with("ey") && b64url(h) && b64url(p) && b64url(s)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_shape() {
        assert!(looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"));
        assert!(!looks_like_jwt("opaque-token"));
        assert!(!looks_like_jwt("eyJh.eyJz"));
        assert!(!looks_like_jwt("eyJh.eyJz.c2ln.more.parts"));
        assert!(!looks_like_jwt("eyJh..c2ln"));
        assert!(!looks_like_jwt("eyJh.eyJ=.c2ln"));
        assert!(!looks_like_jwt("abc.def.ghi"));
        // Each ASCII byte in each part is taken exactly when it is base64url.
        for c in (0u8..128).map(char::from) {
            let b64url = c.is_ascii_alphanumeric() || c == '-' || c == '_';
            for token in [
                format!("ey{c}.a.b"),
                format!("eyJ.a{c}.b"),
                format!("eyJ.a.{c}b"),
            ] {
                assert_eq!(looks_like_jwt(&token), b64url, "{token:?}");
            }
        }
        assert!(!looks_like_jwt("eyJé.a.b"));
    }
}

//! The verification keys of an issuer, read from JWKS documents: signature keys of type RSA, EC (P-256,
//! P-384) and OKP (Ed25519), each with the algorithms it may verify. Symmetric (`oct`) keys, encryption
//! keys and keys that cannot be read are skipped, one by one.

use std::str::FromStr;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

/// The algorithms a JWT may be signed with (never `none`, never HMAC).
pub const ALLOWED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// What a key is, which decides the algorithms it verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyType {
    fn verifies(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            KeyType::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            KeyType::P256 => alg == ES256,
            KeyType::P384 => alg == ES384,
            KeyType::Ed25519 => alg == EdDSA,
        }
    }
}

/// One verification key.
pub struct Key {
    /// Its `kid`, when the JWKS gives one.
    pub kid: Option<String>,
    /// Its `alg`, when the JWKS pins one.
    alg: Option<Algorithm>,
    ty: KeyType,
    /// The key itself.
    pub key: DecodingKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("ty", &self.ty)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// Whether this key may verify a token signed with `alg` (its type fits, and its `alg` if pinned).
    pub fn fits(&self, alg: Algorithm) -> bool {
        ALLOWED.contains(&alg) && self.ty.verifies(alg) && self.alg.is_none_or(|a| a == alg)
    }

    /// Reads one JWK; `None` for a key that cannot verify signatures here.
    pub(crate) fn from_jwk_value(v: &Value) -> Option<Key> {
        let jwk: Jwk = serde_json::from_value(v.clone()).ok()?;
        if matches!(
            jwk.common.public_key_use,
            Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
        ) {
            return None;
        }
        let ty = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => KeyType::Rsa,
            AlgorithmParameters::EllipticCurve(p) => match p.curve {
                EllipticCurve::P256 => KeyType::P256,
                EllipticCurve::P384 => KeyType::P384,
                _ => return None,
            },
            AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                KeyType::Ed25519
            }
            // `oct` (HMAC secrets) and other curves are never used.
            _ => return None,
        };
        let alg = match v.get("alg").and_then(Value::as_str) {
            None => None,
            Some(a) => Some(Algorithm::from_str(a).ok()?),
        };
        Some(Key {
            kid: jwk.common.key_id.clone(),
            alg,
            ty,
            key: DecodingKey::from_jwk(&jwk).ok()?,
        })
    }
}

/// The keys of one or more JWKS documents.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<Key>,
}

impl KeySet {
    /// The usable keys of JWKS documents (`{"keys": [...]}`), in document order.
    pub fn from_documents<'d>(docs: impl IntoIterator<Item = &'d Map<String, Value>>) -> KeySet {
        let keys = docs
            .into_iter()
            .filter_map(|d| d.get("keys").and_then(Value::as_array))
            .flatten()
            .filter_map(Key::from_jwk_value)
            .collect();
        KeySet { keys }
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there is no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether some key has this `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The keys that may verify a token with this header's `kid` and `alg`: with a `kid`, the keys of that
    /// `kid`; without one, every key that fits the algorithm.
    pub fn candidates<'s>(
        &'s self,
        kid: Option<&'s str>,
        alg: Algorithm,
    ) -> impl Iterator<Item = &'s Key> + 's {
        self.keys
            .iter()
            .filter(move |k| kid.is_none_or(|kid| k.kid.as_deref() == Some(kid)) && k.fits(alg))
    }
}

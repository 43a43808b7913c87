//! Test helper: signing keys made with ring (ES256, Ed25519), their JWKs, and tokens signed with them.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A signing key and its public JWK.
pub struct TestKey {
    /// The algorithm it signs with.
    pub alg: Algorithm,
    /// Its `kid`.
    pub kid: String,
    encoding: EncodingKey,
    /// Its public JWK.
    pub jwk: Value,
    /// The raw public key bytes (for the HMAC-with-public-key attack).
    pub public: Vec<u8>,
}

impl TestKey {
    /// A fresh P-256 key.
    pub fn es256(kid: &str) -> TestKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let public = pair.public_key().as_ref().to_vec();
        let (x, y) = public[1..].split_at(32);
        TestKey {
            alg: Algorithm::ES256,
            kid: kid.into(),
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk: json!({"kty": "EC", "crv": "P-256", "use": "sig", "kid": kid, "x": b64(x), "y": b64(y)}),
            public,
        }
    }

    /// A fresh Ed25519 key.
    pub fn ed25519(kid: &str) -> TestKey {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let public = pair.public_key().as_ref().to_vec();
        TestKey {
            alg: Algorithm::EdDSA,
            kid: kid.into(),
            encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(&public)}),
            public,
        }
    }

    /// `claims` signed with this key, header `kid` and `typ: at+jwt`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut h = Header::new(self.alg);
        h.kid = Some(self.kid.clone());
        h.typ = Some("at+jwt".into());
        self.sign_with(h, claims)
    }

    /// `claims` signed with this key under header `h`.
    pub fn sign_with(&self, h: Header, claims: &Value) -> String {
        jsonwebtoken::encode(&h, claims, &self.encoding).unwrap()
    }
}

/// A JWKS document of these keys.
pub fn jwks(keys: &[&TestKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()})
}

/// An unsigned token (`alg: none`).
pub fn unsigned(claims: &Value) -> String {
    let h = b64(br#"{"alg":"none","typ":"at+jwt"}"#);
    format!("{h}.{}.", b64(claims.to_string().as_bytes()))
}

/// `claims` with `alg: HS256`, signed with `secret` (e.g. a public key).
pub fn hs256(secret: &[u8], kid: &str, claims: &Value) -> String {
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some(kid.into());
    jsonwebtoken::encode(&h, claims, &EncodingKey::from_secret(secret)).unwrap()
}

//! A jwt credential's key, made ready once (per plugin instance, so per snapshot) and used for every token
//! naming it: HMAC secrets (base64url-decoded with `secret_is_base64`), RSA, EC and Ed public keys read with
//! OpenSSL as Kong reads them (public or private PEM, or DER) and handed to jsonwebtoken (ring) as raw
//! components; ES512 and Ed448, which ring does not verify, stay with OpenSSL.

use base64::Engine as _;
use gateway_config::credentials::{JwtAlgorithm, JwtEntry, JwtKey};
use http::HeaderValue;
use jsonwebtoken::{Algorithm, DecodingKey};
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcKey, PointConversionForm};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKey, Public};

/// Kong's base64url decoding (`jwt_parser.base64_decode`: padding added, nginx's decoder): the URL-safe
/// alphabet, padding optional, trailing bits tolerated.
pub const B64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// Why a signature could not be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// No secret or public key to verify with (Kong: 401 "Invalid key/secret").
    Missing,
    /// The key or the signature's shape is unusable: Kong's `assert`s ("Consumer Public Key is Invalid",
    /// "Signature must be N bytes") end the request with a 500.
    Fault,
}

/// How a credential verifies signatures.
pub enum Verifier {
    /// jsonwebtoken (ring).
    Jose(DecodingKey, Algorithm),
    /// ES512 with OpenSSL (P-521).
    Es512(EcKey<Public>),
    /// EdDSA with a key ring does not take (Ed448), with OpenSSL.
    Ed(PKey<Public>),
    /// Unusable, for the reason given.
    Unusable(KeyError),
}

/// One credential, ready: its consumer, its verifier, and its `X-Credential-Identifier` (the jwt key).
pub struct Ready {
    /// The consumer's position in `config.consumers`.
    pub consumer: usize,
    /// The algorithm tokens must name in `alg`.
    pub algorithm: JwtAlgorithm,
    /// The verifier.
    pub verifier: Verifier,
    /// The jwt key as a header value (`None` when it cannot be one).
    pub identifier: Option<HeaderValue>,
}

impl Ready {
    /// Prepares the credential `key` (`entry`) for a plugin with `secret_is_base64`.
    pub fn new(key: &str, entry: &JwtEntry, secret_is_base64: bool) -> Self {
        Ready {
            consumer: entry.consumer,
            algorithm: entry.algorithm,
            verifier: verifier(entry, secret_is_base64),
            identifier: HeaderValue::from_str(key).ok(),
        }
    }
}

fn jose_algorithm(a: JwtAlgorithm) -> Option<Algorithm> {
    Some(match a {
        JwtAlgorithm::HS256 => Algorithm::HS256,
        JwtAlgorithm::HS384 => Algorithm::HS384,
        JwtAlgorithm::HS512 => Algorithm::HS512,
        JwtAlgorithm::RS256 => Algorithm::RS256,
        JwtAlgorithm::RS384 => Algorithm::RS384,
        JwtAlgorithm::RS512 => Algorithm::RS512,
        JwtAlgorithm::ES256 => Algorithm::ES256,
        JwtAlgorithm::ES384 => Algorithm::ES384,
        JwtAlgorithm::PS256 => Algorithm::PS256,
        JwtAlgorithm::PS384 => Algorithm::PS384,
        JwtAlgorithm::PS512 => Algorithm::PS512,
        JwtAlgorithm::EdDSA => Algorithm::EdDSA,
        JwtAlgorithm::ES512 => return None,
    })
}

/// A key as OpenSSL reads it for Kong (`resty.openssl.pkey.new`): public or private PEM, or DER.
fn public_key(text: &str) -> Option<PKey<Public>> {
    let bytes = text.as_bytes();
    if let Ok(k) = PKey::public_key_from_pem(bytes) {
        return Some(k);
    }
    if let Ok(private) = PKey::private_key_from_pem(bytes) {
        let der = private.public_key_to_der().ok()?;
        return PKey::public_key_from_der(&der).ok();
    }
    PKey::public_key_from_der(bytes).ok()
}

fn verifier(entry: &JwtEntry, secret_is_base64: bool) -> Verifier {
    let pem = match &entry.key {
        JwtKey::Secret(secret) => {
            let Some(alg) = jose_algorithm(entry.algorithm) else {
                return Verifier::Unusable(KeyError::Fault);
            };
            if !secret_is_base64 {
                return Verifier::Jose(DecodingKey::from_secret(secret), alg);
            }
            return match B64.decode(secret) {
                Ok(raw) => Verifier::Jose(DecodingKey::from_secret(&raw), alg),
                Err(_) => Verifier::Unusable(KeyError::Missing),
            };
        }
        JwtKey::PublicKeyPem(None) => return Verifier::Unusable(KeyError::Missing),
        JwtKey::PublicKeyPem(Some(pem)) => pem,
    };
    let Some(pkey) = public_key(pem) else {
        return Verifier::Unusable(KeyError::Fault);
    };
    public_verifier(entry.algorithm, pkey).unwrap_or(Verifier::Unusable(KeyError::Fault))
}

fn public_verifier(algorithm: JwtAlgorithm, pkey: PKey<Public>) -> Option<Verifier> {
    use JwtAlgorithm as A;
    Some(match algorithm {
        A::RS256 | A::RS384 | A::RS512 | A::PS256 | A::PS384 | A::PS512 => {
            let rsa = pkey.rsa().ok()?;
            let key = DecodingKey::from_rsa_raw_components(&rsa.n().to_vec(), &rsa.e().to_vec());
            Verifier::Jose(key, jose_algorithm(algorithm)?)
        }
        A::ES256 | A::ES384 => {
            let ec = pkey.ec_key().ok()?;
            let mut ctx = BigNumContext::new().ok()?;
            let point = (ec.public_key())
                .to_bytes(ec.group(), PointConversionForm::UNCOMPRESSED, &mut ctx)
                .ok()?;
            Verifier::Jose(DecodingKey::from_ec_der(&point), jose_algorithm(algorithm)?)
        }
        A::ES512 => Verifier::Es512(pkey.ec_key().ok()?),
        A::EdDSA if pkey.id() == Id::ED25519 => {
            let raw = pkey.raw_public_key().ok()?;
            Verifier::Jose(DecodingKey::from_ed_der(&raw), Algorithm::EdDSA)
        }
        A::EdDSA if pkey.id() == Id::ED448 => Verifier::Ed(pkey),
        _ => return None,
    })
}

/// Kong's raw signature lengths, checked before verifying (its `assert`s: a 500 otherwise): ES by curve, and
/// 256 bytes for every PS algorithm (Kong's check, which only 2048-bit keys pass).
fn expected_len(algorithm: JwtAlgorithm) -> Option<usize> {
    use JwtAlgorithm as A;
    match algorithm {
        A::ES256 => Some(64),
        A::ES384 => Some(96),
        A::ES512 => Some(132),
        A::PS256 | A::PS384 | A::PS512 => Some(256),
        _ => None,
    }
}

impl Ready {
    /// Whether `signature` (decoded) signs `message` (`header.payload` as sent).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<bool, KeyError> {
        let key_ok = !matches!(self.verifier, Verifier::Unusable(_));
        if let Some(len) = expected_len(self.algorithm).filter(|_| key_ok) {
            if signature.len() != len {
                return Err(KeyError::Fault);
            }
        }
        match &self.verifier {
            Verifier::Unusable(e) => Err(*e),
            Verifier::Jose(key, alg) => {
                // jsonwebtoken takes the signature base64url-encoded: re-encoded from the decoded bytes, so
                // the comparison is on the bytes whatever padding the token used.
                let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature);
                Ok(jsonwebtoken::crypto::verify(&b64, message, key, *alg).unwrap_or(false))
            }
            Verifier::Es512(ec) => {
                let (r, s) = signature.split_at(66);
                let sig = (BigNum::from_slice(r).and_then(|r| {
                    BigNum::from_slice(s).and_then(|s| EcdsaSig::from_private_components(r, s))
                }))
                .map_err(|_| KeyError::Fault)?;
                let digest = openssl::hash::hash(MessageDigest::sha512(), message)
                    .map_err(|_| KeyError::Fault)?;
                Ok(sig.verify(&digest, ec).unwrap_or(false))
            }
            Verifier::Ed(pkey) => {
                let mut v = openssl::sign::Verifier::new_without_digest(pkey)
                    .map_err(|_| KeyError::Fault)?;
                Ok(v.verify_oneshot(signature, message).unwrap_or(false))
            }
        }
    }
}

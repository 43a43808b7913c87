//! Kong's `jwt_secrets` (the jwt plugin's keys): `key` unique and, with `secret`, generated when absent
//! (Kong's `auto = true`); `algorithm` one of Kong's list (default `HS256`); the RS, PS and EdDSA algorithms
//! need an `rsa_public_key` that parses (Kong's conditional check — ES keys are not checked by Kong's schema,
//! so not here either).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{random_string, Context, Credential, Field, FieldType, Spec, CREATED_AT, TAGS};
use crate::error::Collector;

/// The declaration of `jwt_secrets` (Kong's `kong/plugins/jwt/daos.lua`).
pub static SPEC: Spec = Spec {
    name: "jwt_secrets",
    admin_api_name: "jwts",
    nested_name: "jwt",
    endpoint_key: Some("key"),
    fields: &[
        CREATED_AT,
        Field::new("key", FieldType::Str).required().auto(),
        Field::new("secret", FieldType::Str)
            .required()
            .secret()
            .auto(),
        Field::new("rsa_public_key", FieldType::Str),
        Field::new("algorithm", FieldType::Str),
        TAGS,
    ],
    unique: &["key"],
    unique_in_owner: None,
};

super::stored!(JwtSecret, jwt_secrets);

/// Kong's entity-level message when the `algorithm` condition fails.
pub const CONDITIONAL: &str = "failed conditional validation given value of field 'algorithm'";

/// A signing algorithm Kong's jwt plugin accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum JwtAlgorithm {
    /// HMAC SHA-256 (Kong's default).
    #[default]
    HS256,
    /// HMAC SHA-384.
    HS384,
    /// HMAC SHA-512.
    HS512,
    /// RSA PKCS#1 v1.5 SHA-256.
    RS256,
    /// RSA PKCS#1 v1.5 SHA-384.
    RS384,
    /// RSA PKCS#1 v1.5 SHA-512.
    RS512,
    /// ECDSA P-256 SHA-256.
    ES256,
    /// ECDSA P-384 SHA-384.
    ES384,
    /// ECDSA P-521 SHA-512.
    ES512,
    /// RSA-PSS SHA-256.
    PS256,
    /// RSA-PSS SHA-384.
    PS384,
    /// RSA-PSS SHA-512.
    PS512,
    /// Ed25519 / Ed448.
    EdDSA,
}

impl JwtAlgorithm {
    /// Every algorithm, in Kong's order.
    pub const ALL: [JwtAlgorithm; 13] = [
        JwtAlgorithm::HS256,
        JwtAlgorithm::HS384,
        JwtAlgorithm::HS512,
        JwtAlgorithm::RS256,
        JwtAlgorithm::RS384,
        JwtAlgorithm::RS512,
        JwtAlgorithm::ES256,
        JwtAlgorithm::ES384,
        JwtAlgorithm::ES512,
        JwtAlgorithm::PS256,
        JwtAlgorithm::PS384,
        JwtAlgorithm::PS512,
        JwtAlgorithm::EdDSA,
    ];

    /// Its name, as in a token's `alg`.
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlgorithm::HS256 => "HS256",
            JwtAlgorithm::HS384 => "HS384",
            JwtAlgorithm::HS512 => "HS512",
            JwtAlgorithm::RS256 => "RS256",
            JwtAlgorithm::RS384 => "RS384",
            JwtAlgorithm::RS512 => "RS512",
            JwtAlgorithm::ES256 => "ES256",
            JwtAlgorithm::ES384 => "ES384",
            JwtAlgorithm::ES512 => "ES512",
            JwtAlgorithm::PS256 => "PS256",
            JwtAlgorithm::PS384 => "PS384",
            JwtAlgorithm::PS512 => "PS512",
            JwtAlgorithm::EdDSA => "EdDSA",
        }
    }

    /// The algorithm named `name` (exact, as Kong).
    pub fn parse(name: &str) -> Option<JwtAlgorithm> {
        JwtAlgorithm::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// HMAC: verified with `secret`.
    pub fn is_hmac(self) -> bool {
        matches!(
            self,
            JwtAlgorithm::HS256 | JwtAlgorithm::HS384 | JwtAlgorithm::HS512
        )
    }

    /// Kong's schema requires `rsa_public_key` (and that it parses) for these: RS, PS and EdDSA.
    pub fn needs_public_key(self) -> bool {
        !self.is_hmac()
            && !matches!(
                self,
                JwtAlgorithm::ES256 | JwtAlgorithm::ES384 | JwtAlgorithm::ES512
            )
    }
}

/// Kong's `one_of` message for `algorithm`.
pub fn one_of_message() -> String {
    let names: Vec<&str> = JwtAlgorithm::ALL.iter().map(|a| a.as_str()).collect();
    format!("expected one of: {}", names.join(", "))
}

/// A jwt credential: the `key` a token names (its `iss` by default) and how to verify it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct JwtSecret {
    /// Id; derived from the key when the file gives none.
    pub id: Uuid,
    /// The consumer a token verified with this credential authenticates as.
    pub consumer: Uuid,
    /// The key (unique), matched against the token's `key_claim_name` claim.
    pub key: String,
    /// The HMAC secret (generated when absent, as Kong).
    pub secret: String,
    /// The public key (PEM) of the RS, PS, ES and EdDSA algorithms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rsa_public_key: Option<String>,
    /// The algorithm tokens must use.
    #[serde(default)]
    pub algorithm: JwtAlgorithm,
    /// Free-form tags.
    #[serde(default, skip_serializing_if = "super::is_empty")]
    pub tags: Vec<String>,
    /// Unix seconds, kept when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
}

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtSecret")
            .field("id", &self.id)
            .field("consumer", &self.consumer)
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

/// True when `pem` is a key OpenSSL reads (Kong's `resty.openssl.pkey.new`: public or private, PEM or DER).
pub fn key_parses(pem: &str) -> bool {
    use openssl::pkey::PKey;
    let bytes = pem.as_bytes();
    PKey::public_key_from_pem(bytes).is_ok()
        || PKey::private_key_from_pem(bytes).is_ok()
        || PKey::public_key_from_der(bytes).is_ok()
}

impl Credential for JwtSecret {
    fn finish(map: &mut Map<String, Value>, _ctx: &Context, path: &str, errors: &mut Collector) {
        for auto in ["key", "secret"] {
            if !map.contains_key(auto) {
                map.insert(auto.into(), Value::String(random_string()));
            }
        }
        let algorithm = match super::str_field(map, "algorithm") {
            None => JwtAlgorithm::HS256,
            Some(name) => match JwtAlgorithm::parse(name) {
                Some(a) => a,
                None => {
                    errors.push(format!("{path}.algorithm"), one_of_message());
                    return;
                }
            },
        };
        map.insert("algorithm".into(), Value::String(algorithm.as_str().into()));
        if algorithm.needs_public_key() {
            let problem = match super::str_field(map, "rsa_public_key") {
                None => Some(crate::checks::REQUIRED),
                Some(pem) if !key_parses(pem) => Some("invalid key"),
                Some(_) => None,
            };
            if let Some(message) = problem {
                errors.push(format!("{path}.rsa_public_key"), message);
                errors.push(path, CONDITIONAL);
            }
        }
    }
    fn natural_key(map: &Map<String, Value>, _ordinal: usize) -> String {
        super::str_field(map, "key").unwrap_or("").to_string()
    }
}

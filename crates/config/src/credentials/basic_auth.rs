//! Kong's `basicauth_credentials`: `username` unique, `password` required and kept only as Kong stores it —
//! the hex SHA-1 of the password followed by the consumer's id (`kong/plugins/basic-auth/crypto.lua`).
//!
//! A file's passwords follow Kong's `_transform` rule: absent or `true`, they are clear and hashed at load;
//! `false` (what Kong's export and this gateway's written-back file say), they are the stored hashes and
//! taken as they are. A loaded config holding basic-auth credentials always says `_transform: false`, so
//! writing it back and reading it again never hashes twice.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{Context, Credential, Field, FieldType, Spec, CREATED_AT, TAGS};
use crate::error::Collector;

/// The declaration of `basicauth_credentials` (Kong's `kong/plugins/basic-auth/daos.lua`).
pub static SPEC: Spec = Spec {
    name: "basicauth_credentials",
    admin_api_name: "basic-auths",
    nested_name: "basic-auth",
    endpoint_key: Some("username"),
    fields: &[
        CREATED_AT,
        Field::new("username", FieldType::Str).required(),
        Field::new("password", FieldType::Str).required().secret(),
        TAGS,
    ],
    unique: &["username"],
    unique_in_owner: None,
};

super::stored!(BasicauthCredential, basicauth_credentials);

/// The message for a `_transform: false` file whose password is not a stored hash.
pub const NOT_A_HASH: &str = "expected the stored hash (40 hex digits: Kong's SHA-1 of the password followed by the consumer id) because the file says `_transform: false`; add new credentials through the Admin API, or write their hash";

/// A basic-auth credential. `password` is the stored hash, never the clear password.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct BasicauthCredential {
    /// Id; derived from the username when the file gives none.
    pub id: Uuid,
    /// The consumer the credential authenticates as.
    pub consumer: Uuid,
    /// The username (unique).
    pub username: String,
    /// Kong's stored form: lowercase hex SHA-1 of `password .. consumer_id`.
    pub password: String,
    /// Free-form tags.
    #[serde(default, skip_serializing_if = "super::is_empty")]
    pub tags: Vec<String>,
    /// Unix seconds, kept when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
}

impl fmt::Debug for BasicauthCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicauthCredential")
            .field("id", &self.id)
            .field("consumer", &self.consumer)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl BasicauthCredential {
    /// True when `password` is this credential's password: Kong's hash of it, compared in constant time.
    pub fn verify(&self, password: &str) -> bool {
        let candidate = hash(self.consumer, password);
        candidate.len() == self.password.len()
            && openssl::memcmp::eq(candidate.as_bytes(), self.password.as_bytes())
    }
}

/// Kong's stored password: lowercase hex SHA-1 of `password` followed by the consumer's id.
pub fn hash(consumer: Uuid, password: &str) -> String {
    let mut salted = String::with_capacity(password.len() + 36);
    salted.push_str(password);
    salted.push_str(&consumer.to_string());
    hex(&openssl::sha::sha1(salted.as_bytes()))
}

/// True when `value` has the shape of a stored hash (40 hex digits).
pub fn is_hash(value: &str) -> bool {
    value.len() == 40 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

impl Credential for BasicauthCredential {
    fn finish(map: &mut Map<String, Value>, ctx: &Context, path: &str, errors: &mut Collector) {
        let consumer = super::str_field(map, "consumer").and_then(|c| Uuid::parse_str(c).ok());
        let (Some(password), Some(consumer)) = (super::str_field(map, "password"), consumer) else {
            return;
        };
        if ctx.transform {
            let hashed = hash(consumer, password);
            map.insert("password".into(), Value::String(hashed));
        } else if is_hash(password) {
            let lower = password.to_ascii_lowercase();
            map.insert("password".into(), Value::String(lower));
        } else {
            errors.push(format!("{path}.password"), NOT_A_HASH);
        }
    }
    fn natural_key(map: &Map<String, Value>, _ordinal: usize) -> String {
        super::str_field(map, "username").unwrap_or("").to_string()
    }
}

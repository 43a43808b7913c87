//! Kong's `hmacauth_credentials` (hmac-auth's shared secrets, `kong/plugins/hmac-auth/daos.lua`): `username`
//! required and unique (the credential's endpoint key and what a signature names), `secret` generated when
//! none is given (Kong's `auto = true`). The secret is shown by the Admin API as Kong shows it, and never
//! appears in an error message, a log line or `Debug`.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{random_string, Context, Credential, Field, FieldType, Spec, CREATED_AT, TAGS};
use crate::error::Collector;

/// The declaration of `hmacauth_credentials`.
pub static SPEC: Spec = Spec {
    name: "hmacauth_credentials",
    admin_api_name: "hmac-auths",
    nested_name: "hmac-auth",
    endpoint_key: Some("username"),
    fields: &[
        CREATED_AT,
        Field::new("username", FieldType::Str).required(),
        Field::new("secret", FieldType::Str).secret().auto(),
        TAGS,
    ],
    unique: &["username"],
    unique_in_owner: None,
};

super::stored!(HmacauthCredential, hmacauth_credentials);

/// An hmac-auth credential: the username a signature names and the secret it is computed with.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct HmacauthCredential {
    /// Id; derived from the username when the file gives none.
    pub id: Uuid,
    /// The consumer the credential authenticates as.
    pub consumer: Uuid,
    /// The username (unique).
    pub username: String,
    /// The shared secret the HMAC is keyed with.
    pub secret: String,
    /// Free-form tags.
    #[serde(default, skip_serializing_if = "super::is_empty")]
    pub tags: Vec<String>,
    /// Unix seconds, kept when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
}

impl fmt::Debug for HmacauthCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacauthCredential")
            .field("id", &self.id)
            .field("consumer", &self.consumer)
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .field("tags", &self.tags)
            .finish()
    }
}

impl Credential for HmacauthCredential {
    fn finish(map: &mut Map<String, Value>, _ctx: &Context, _path: &str, _errors: &mut Collector) {
        if !map.contains_key("secret") {
            map.insert("secret".into(), Value::String(random_string()));
        }
    }
    fn natural_key(map: &Map<String, Value>, _ordinal: usize) -> String {
        super::str_field(map, "username").unwrap_or("").to_string()
    }
}

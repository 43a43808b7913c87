//! Kong's `keyauth_credentials` (key-auth's keys): `key` unique, generated when none is given (Kong's
//! `auto = true`); `ttl` is accepted only empty (credentials do not expire here).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{random_string, Context, Credential, Field, FieldType, Spec, CREATED_AT, TAGS};
use crate::error::Collector;

/// The declaration of `keyauth_credentials` (Kong's `kong/plugins/key-auth/daos.lua`).
pub static SPEC: Spec = Spec {
    name: "keyauth_credentials",
    admin_api_name: "key-auths",
    nested_name: "key-auth",
    endpoint_key: Some("key"),
    fields: &[
        CREATED_AT,
        Field::new("key", FieldType::Str).required().secret().auto(),
        TAGS,
        Field::new("ttl", FieldType::Int).hidden(),
    ],
    unique: &["key"],
    unique_in_owner: None,
};

super::stored!(KeyauthCredential, keyauth_credentials);

/// Kong's message for a `ttl` here: the gateway has no expiry for credentials.
pub const TTL_UNSUPPORTED: &str =
    "not supported yet: credentials do not expire in this gateway (leave `ttl` out or null)";

/// A key-auth credential: the API key a consumer authenticates with.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyauthCredential {
    /// Id; derived from the consumer and the key's position among its keys when the file gives none.
    pub id: Uuid,
    /// The consumer the key authenticates as.
    pub consumer: Uuid,
    /// The key (unique).
    pub key: String,
    /// Free-form tags.
    #[serde(default, skip_serializing_if = "super::is_empty")]
    pub tags: Vec<String>,
    /// Unix seconds, kept when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
}

impl fmt::Debug for KeyauthCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyauthCredential")
            .field("id", &self.id)
            .field("consumer", &self.consumer)
            .field("key", &"<redacted>")
            .field("tags", &self.tags)
            .finish()
    }
}

impl Credential for KeyauthCredential {
    fn finish(map: &mut Map<String, Value>, _ctx: &Context, path: &str, errors: &mut Collector) {
        if map.remove("ttl").is_some() {
            errors.push(format!("{path}.ttl"), TTL_UNSUPPORTED);
        }
        if !map.contains_key("key") {
            map.insert("key".into(), Value::String(random_string()));
        }
    }
    /// The consumer and the position among its keys: never the key itself (an id is not a secret, and a
    /// digest of a short key could be reversed by guessing).
    fn natural_key(map: &Map<String, Value>, ordinal: usize) -> String {
        let consumer = super::str_field(map, "consumer").unwrap_or("");
        format!("{consumer}:{ordinal}")
    }
}

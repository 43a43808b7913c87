//! Kong's `acls` (the acl plugin's groups): `group` required, unique per consumer (Kong's cache key
//! `consumer, group`); within a consumer's routes a group designates its acl (`/consumers/{c}/acls/{group}`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{Context, Credential, Field, FieldType, Spec, CREATED_AT, TAGS};
use crate::error::Collector;

/// The declaration of `acls` (Kong's `kong/plugins/acl/daos.lua`).
pub static SPEC: Spec = Spec {
    name: "acls",
    admin_api_name: "acls",
    nested_name: "acls",
    endpoint_key: None,
    fields: &[
        CREATED_AT,
        Field::new("group", FieldType::Str).required(),
        TAGS,
    ],
    unique: &[],
    unique_in_owner: Some("group"),
};

super::stored!(Acl, acls);

/// An acl: one group a consumer belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acl {
    /// Id; derived from the consumer and the group when the file gives none.
    pub id: Uuid,
    /// The consumer in the group.
    pub consumer: Uuid,
    /// The group's name.
    pub group: String,
    /// Free-form tags.
    #[serde(default, skip_serializing_if = "super::is_empty")]
    pub tags: Vec<String>,
    /// Unix seconds, kept when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
}

impl Credential for Acl {
    fn finish(_map: &mut Map<String, Value>, _ctx: &Context, _path: &str, _errors: &mut Collector) {
    }
    fn natural_key(map: &Map<String, Value>, _ordinal: usize) -> String {
        let consumer = super::str_field(map, "consumer").unwrap_or("");
        let group = super::str_field(map, "group").unwrap_or("");
        format!("{consumer}:{group}")
    }
}

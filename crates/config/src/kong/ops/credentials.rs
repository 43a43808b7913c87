//! The credential kinds' part of the Admin API writes, from their [`crate::credentials::Spec`]: the
//! `consumer` reference (required), Kong's uniqueness (409, a secret value masked), basic-auth's password
//! hashed as Kong stores it before anything is written, and the cascade when a consumer is deleted.

use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::credentials::{basic_auth, CredKind};
use crate::error::FieldError;
use crate::kong::entity::Container;
use crate::kong::{Kind, KongError};
use crate::model::Config;

/// What a 409 shows instead of a secret value (a key-auth key).
pub const MASKED: &str = "<redacted>";

/// Kong's message when a basic-auth PATCH moves the credential to another consumer without a password
/// (the stored hash is salted with the consumer's id).
pub const PASSWORD_AND_CONSUMER: &str =
    "all or none of these fields must be set: 'password', 'consumer.id'";

/// Resolves the credential's `consumer` (stored as the id), checks Kong's uniqueness; the container to
/// place it in.
pub(super) fn place(
    config: &Config,
    kind: CredKind,
    id: Uuid,
    fields: &mut Map<String, Value>,
) -> Result<Container, KongError> {
    let Some(consumer) =
        super::resolve(config, Kind::Consumer, "consumer", fields.get("consumer"))?
    else {
        // Kong reports every missing field at once, in name order.
        let mut missing: Vec<&str> = (kind.spec().fields.iter())
            .filter(|f| f.required && !f.auto && fields.get(f.name).is_none_or(Value::is_null))
            .map(|f| f.name)
            .chain(["consumer"])
            .collect();
        missing.sort_unstable();
        let errors = (missing.into_iter())
            .map(|f| FieldError::new(f, crate::checks::REQUIRED))
            .collect();
        return Err(KongError::Schema(errors));
    };
    fields.insert("consumer".into(), json!(consumer.id.to_string()));
    unique(config, kind, id, fields, consumer.id)?;
    Ok(Container::Credentials(kind))
}

fn unique(
    config: &Config,
    kind: CredKind,
    id: Uuid,
    fields: &Map<String, Value>,
    consumer: Uuid,
) -> Result<(), KongError> {
    let spec = kind.spec();
    let rows = kind.rows(config);
    let taken = |field: &str, value: &str, owner: Option<Uuid>| {
        rows.iter().any(|r| {
            r.id != id
                && owner.is_none_or(|o| o == r.consumer)
                && r.stored.get(field).and_then(Value::as_str) == Some(value)
        })
    };
    for field in spec.unique {
        let Some(Value::String(value)) = fields.get(*field) else {
            continue;
        };
        if taken(field, value, None) {
            let shown = if spec.is_secret(field) { MASKED } else { value };
            return Err(KongError::Unique(json!({ *field: shown })));
        }
    }
    if let Some(field) = spec.unique_in_owner {
        if let Some(Value::String(value)) = fields.get(field) {
            if taken(field, value, Some(consumer)) {
                return Err(KongError::Unique(json!({
                    "consumer": { "id": consumer },
                    field: value,
                })));
            }
        }
    }
    Ok(())
}

/// A basic-auth write's clear `password` replaced by Kong's hash (salted with the consumer the write
/// names); a write whose consumer does not resolve is refused later, before anything is stored.
pub(super) fn hash_password(
    config: &Config,
    kind: Kind,
    fields: &mut Map<String, Value>,
) -> Result<(), KongError> {
    if kind != Kind::Credential(CredKind::BasicAuth) {
        return Ok(());
    }
    let Some(Value::String(password)) = fields.get("password") else {
        return Ok(());
    };
    if let Ok(Some(consumer)) =
        super::resolve(config, Kind::Consumer, "consumer", fields.get("consumer"))
    {
        let hashed = basic_auth::hash(consumer.id, password);
        fields.insert("password".into(), Value::String(hashed));
    }
    Ok(())
}

/// Kong's rule for a basic-auth PATCH: `consumer` and `password` together or neither. True when the patch
/// carries a new (clear) password.
pub(super) fn check_patch(kind: Kind, patch: &Map<String, Value>) -> Result<bool, KongError> {
    if kind != Kind::Credential(CredKind::BasicAuth) {
        return Ok(false);
    }
    let given = |k: &str| patch.get(k).is_some_and(|v| !v.is_null());
    if given("consumer") && !given("password") {
        return Err(KongError::Schema(vec![FieldError::new(
            "",
            PASSWORD_AND_CONSUMER,
        )]));
    }
    Ok(given("password"))
}

/// Kong's `on_delete = "cascade"`: the credentials of the consumer `consumer` removed from the document.
pub(super) fn cascade(config: &Config, consumer: Uuid, doc: &mut Value) {
    for kind in CredKind::ALL {
        let owned: Vec<bool> = (kind.rows(config).iter())
            .map(|r| r.consumer == consumer)
            .collect();
        if !owned.contains(&true) {
            continue;
        }
        if let Some(Value::Array(items)) = doc.get_mut(kind.spec().name) {
            let mut i = 0;
            items.retain(|_| {
                i += 1;
                !owned.get(i - 1).copied().unwrap_or(false)
            });
        }
    }
}

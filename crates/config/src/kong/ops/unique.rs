//! Kong's unique constraints of the Admin API writes (409 bodies): an endpoint key, a target within its upstream, a
//! consumer's `custom_id`, one plugin of a name per scope.

use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::kong::entity::{self, Entry};
use crate::kong::{Kind, KongError};
use crate::model::Config;

/// The endpoint key (`name`, ...) of `kind` is unique: 409 with Kong's `{field: value}` otherwise.
pub(super) fn unique(
    config: &Config,
    kind: Kind,
    id: Uuid,
    field: &str,
    value: Option<&Value>,
) -> Result<(), KongError> {
    let Some(Value::String(name)) = value else {
        return Ok(());
    };
    let taken = entity::entries(config, kind)
        .iter()
        .any(|e| e.id != id && e.name.as_deref() == Some(name.as_str()));
    if taken {
        return Err(KongError::Unique(json!({ field: name })));
    }
    Ok(())
}

/// A target is unique within its upstream (Kong's cache key `upstream, target`): 409 otherwise.
pub(super) fn target_unique(
    config: &Config,
    id: Uuid,
    fields: &Map<String, Value>,
    upstream: Uuid,
) -> Result<(), KongError> {
    let Some(Value::String(target)) = fields.get("target") else {
        return Ok(());
    };
    let taken = entity::entries(config, Kind::Target).iter().any(|e| {
        e.id != id && e.upstream == Some(upstream) && e.name.as_deref() == Some(target.as_str())
    });
    if taken {
        return Err(KongError::Unique(json!({
            "target": target,
            "upstream": { "id": upstream },
        })));
    }
    Ok(())
}

/// A consumer's `custom_id` is unique too (its `username` is checked as the endpoint key): 409 otherwise.
pub(super) fn consumer_unique(
    config: &Config,
    id: Uuid,
    fields: &Map<String, Value>,
) -> Result<(), KongError> {
    let Some(Value::String(custom_id)) = fields.get("custom_id") else {
        return Ok(());
    };
    let taken = (config.consumers.iter())
        .any(|c| c.id != id && c.custom_id.as_deref() == Some(custom_id.as_str()));
    if taken {
        return Err(KongError::Unique(json!({ "custom_id": custom_id })));
    }
    Ok(())
}

/// One plugin of a name per scope (`[service, route, consumer]`): 409 with Kong's body otherwise.
pub(super) fn plugin_unique(
    config: &Config,
    id: Uuid,
    fields: &Map<String, Value>,
    scope: [&Option<Entry>; 3],
) -> Result<(), KongError> {
    let Some(name) = fields.get("name").and_then(Value::as_str) else {
        return Ok(());
    };
    let [s, r, c] = scope.map(|e| e.as_ref().map(|e| e.id));
    let taken = entity::entries(config, Kind::Plugin).iter().any(|e| {
        e.id != id
            && e.service == s
            && e.route == r
            && e.consumer == c
            && entity::plugin_at(config, e.loc).is_some_and(|p| p.name == name)
    });
    if taken {
        let reference = |id: Option<Uuid>| id.map_or(Value::Null, |id| json!({ "id": id }));
        return Err(KongError::Unique(json!({
            "consumer": reference(c),
            "name": name,
            "route": reference(r),
            "service": reference(s),
        })));
    }
    Ok(())
}

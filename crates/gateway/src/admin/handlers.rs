//! The Admin API's entity handlers, one generic set for services, routes and plugins, top-level or nested
//! under a parent (`/services/{s}/routes`, `/services/{s}/plugins`, `/routes/{r}/plugins`,
//! `/upstreams/{u}/targets`, `/certificates/{c}/snis`).
//! Decisions (decoding, merging, validation, views) are the pure functions of `gateway_config::kong`;
//! these handlers read the request, take the write path of [`super::persist`] and answer.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::Json;
use gateway_config::kong::entity::{self, Entry};
use gateway_config::kong::page::{self, ListQuery};
use gateway_config::kong::{ops, read_input, Kind, KongError};
use gateway_config::model::Config;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::error::ApiError;
use super::{body, persist};
use crate::state::AppState;

/// The parent of a nested endpoint: a service or a route, by id or name.
#[derive(Debug, Clone)]
pub struct Parent {
    /// `Service` or `Route`.
    pub kind: Kind,
    /// The id or name from the URL.
    pub key: String,
}

impl Parent {
    /// `/services/{key}/...`
    pub fn service(key: String) -> Option<Parent> {
        Some(Parent {
            kind: Kind::Service,
            key,
        })
    }

    /// `/routes/{key}/...`
    pub fn route(key: String) -> Option<Parent> {
        Some(Parent {
            kind: Kind::Route,
            key,
        })
    }

    /// `/upstreams/{key}/...`
    pub fn upstream(key: String) -> Option<Parent> {
        Some(Parent {
            kind: Kind::Upstream,
            key,
        })
    }

    /// `/certificates/{key}/...`
    pub fn certificate(key: String) -> Option<Parent> {
        Some(Parent {
            kind: Kind::Certificate,
            key,
        })
    }

    /// `/consumers/{key}/...`
    pub fn consumer(key: String) -> Option<Parent> {
        Some(Parent {
            kind: Kind::Consumer,
            key,
        })
    }

    /// The reference field children use: `service`, `route`, `upstream`, `certificate` or `consumer`.
    fn field(&self) -> &'static str {
        match self.kind {
            Kind::Route => "route",
            Kind::Upstream => "upstream",
            Kind::Certificate => "certificate",
            Kind::Consumer => "consumer",
            _ => "service",
        }
    }

    /// True when `child` belongs to the parent entity with this id.
    fn owns(&self, id: Uuid, child: &Entry) -> bool {
        match self.kind {
            Kind::Route => child.route == Some(id),
            Kind::Upstream => child.upstream == Some(id),
            Kind::Certificate => child.certificate == Some(id),
            Kind::Consumer => child.consumer == Some(id),
            _ => child.service == Some(id),
        }
    }
}

type Answer = Result<(StatusCode, Json<Value>), ApiError>;

fn resolve_parent(config: &Config, parent: &Option<Parent>) -> Result<Option<Uuid>, ApiError> {
    match parent {
        None => Ok(None),
        Some(p) => entity::find(config, p.kind, &p.key)
            .map(|e| Some(e.id))
            .ok_or(ApiError::NotFound),
    }
}

/// The entity `key` designates, checked to belong to the parent (when nested).
pub(super) fn find_child(
    config: &Config,
    kind: Kind,
    key: &str,
    parent: &Option<Parent>,
) -> Result<Option<Entry>, ApiError> {
    let parent_id = resolve_parent(config, parent)?;
    // A target key (`host:port`) is unique only within its upstream, an acl's group within its consumer:
    // look there first.
    let owned = match (parent, parent_id) {
        (Some(p), Some(pid)) if kind.keyed_in_parent() => entity::entries(config, kind)
            .into_iter()
            .find(|e| p.owns(pid, e) && entity::key_matches(key, e.id, e.name.as_deref())),
        _ => None,
    };
    let found = owned.or_else(|| entity::find(config, kind, key));
    match (parent, parent_id, found) {
        (Some(p), Some(pid), Some(e)) if !p.owns(pid, &e) => Err(ApiError::NotFound),
        (_, _, found) => Ok(found),
    }
}

/// Sets a nested write's reference to its parent (`service` or `route`: `{"id": ...}`); a parent that is
/// gone is a plain 404. Top-level writes are left as they are.
fn set_parent(
    config: &Config,
    parent: &Option<Parent>,
    fields: &mut Map<String, Value>,
) -> Result<(), KongError> {
    if let Some(p) = parent {
        let pid = resolve_parent(config, parent)
            .ok()
            .flatten()
            .ok_or(KongError::PlainNotFound)?;
        fields.insert(p.field().into(), json!({ "id": pid }));
    }
    Ok(())
}

/// What an accepted write gives [`persist::write`]: the new config and the written entity's view.
fn with_view(w: ops::Written, kind: Kind) -> (Option<Config>, Value) {
    let view = view_of(&w.config, kind, w.id);
    (Some(w.config), view)
}

fn view_of(config: &Config, kind: Kind, id: Uuid) -> Value {
    entity::entries(config, kind)
        .into_iter()
        .find(|e| e.id == id)
        .map_or(Value::Null, |e| entity::view(config, &e))
}

/// `GET /{collection}`, `GET /{parent}/{key}/{collection}`.
pub async fn list(
    state: Arc<AppState>,
    kind: Kind,
    parent: Option<Parent>,
    query: HashMap<String, String>,
) -> Answer {
    let snap = state.snapshot.load();
    let config = &snap.config;
    let parent_id = resolve_parent(config, &parent)?;
    let items: Vec<Value> = entity::entries(config, kind)
        .into_iter()
        .filter(|e| match (&parent, parent_id) {
            (Some(p), Some(pid)) => p.owns(pid, e),
            _ => true,
        })
        .map(|e| entity::view(config, &e))
        .collect();
    let link = match &parent {
        None => format!("/{}", kind.collection()),
        Some(p) => format!("/{}/{}/{}", p.kind.collection(), p.key, kind.collection()),
    };
    let q = ListQuery {
        size: query.get("size").cloned(),
        offset: query.get("offset").cloned(),
        tags: query.get("tags").cloned(),
    };
    Ok((StatusCode::OK, Json(page::page(items, &q, &link)?)))
}

/// A target's URL key normalised (`a` designates `a:8000`); other keys as they are.
pub(super) fn target_key(kind: Kind, key: String) -> String {
    match kind {
        Kind::Target => gateway_config::kong::upstreams::target_key(&key),
        _ => key,
    }
}

/// For a target, the id of the one `key` designates in its upstream (a missing one is a plain 404), so that
/// the write edits that one and not a target with the same address in another upstream; for an acl, the id
/// of its consumer's acl of that group (a missing one keeps the group: a PUT creates it, as Kong's). Other
/// kinds keep their key (a PUT by name sets the name).
fn child_id(
    config: &Config,
    kind: Kind,
    key: String,
    parent: &Option<Parent>,
) -> Result<String, KongError> {
    if !kind.keyed_in_parent() {
        return Ok(key);
    }
    match find_child(config, kind, &key, parent) {
        Ok(Some(e)) => Ok(e.id.to_string()),
        _ if kind != Kind::Target && parent.is_some() => Ok(key),
        _ => Err(KongError::PlainNotFound),
    }
}

/// `GET /{credentials}/{key}/consumer`: the consumer a credential belongs to (404 when there is none).
pub async fn owner(state: Arc<AppState>, kind: Kind, key: String) -> Answer {
    let snap = state.snapshot.load();
    let config = &snap.config;
    let consumer = entity::find(config, kind, &key)
        .and_then(|e| e.consumer)
        .and_then(|id| entity::find(config, Kind::Consumer, &id.to_string()))
        .ok_or(ApiError::NotFound)?;
    Ok((StatusCode::OK, Json(entity::view(config, &consumer))))
}

/// `GET /{collection}/{key}` (and nested).
pub async fn get(state: Arc<AppState>, kind: Kind, key: String, parent: Option<Parent>) -> Answer {
    let key = target_key(kind, key);
    let snap = state.snapshot.load();
    match find_child(&snap.config, kind, &key, &parent)? {
        Some(e) => Ok((StatusCode::OK, Json(entity::view(&snap.config, &e)))),
        None => Err(ApiError::NotFound),
    }
}

/// The request's entity fields; `existing_key` lets a PATCH or PUT type a plugin's `config` by the stored name.
async fn input(
    state: &AppState,
    kind: Kind,
    existing_key: Option<&str>,
    request: Request,
) -> Result<Map<String, Value>, ApiError> {
    let (parts, body) = request.into_parts();
    let body = body::read(&parts.headers, body).await?;
    let plugin_name = match (kind, existing_key) {
        (Kind::Plugin, Some(key)) => {
            let snap = state.snapshot.load();
            entity::find(&snap.config, Kind::Plugin, key)
                .and_then(|e| entity::plugin_at(&snap.config, e.loc).map(|p| p.name.clone()))
        }
        _ => None,
    };
    Ok(read_input(kind, body, plugin_name.as_deref())?)
}

/// `POST /{collection}` (and nested: the parent reference is set from the URL).
pub async fn create(
    state: Arc<AppState>,
    kind: Kind,
    parent: Option<Parent>,
    request: Request,
) -> Answer {
    let mut fields = input(&state, kind, None, request).await?;
    let now = crate::server::unix_now();
    let view = persist::write(&state, kind, move |config| {
        set_parent(config, &parent, &mut fields)?;
        Ok(with_view(ops::create(config, kind, fields, now)?, kind))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `PUT /{collection}/{key}`: create or replace (200 either way).
pub async fn put(
    state: Arc<AppState>,
    kind: Kind,
    key: String,
    parent: Option<Parent>,
    request: Request,
) -> Answer {
    let key = target_key(kind, key);
    let mut fields = input(&state, kind, Some(&key), request).await?;
    let now = crate::server::unix_now();
    let view = persist::write(&state, kind, move |config| {
        let key = child_id(config, kind, key, &parent)?;
        set_parent(config, &parent, &mut fields)?;
        Ok(with_view(
            ops::upsert(config, kind, &key, fields, now)?,
            kind,
        ))
    })
    .await?;
    Ok((StatusCode::OK, Json(view)))
}

/// `PATCH /{collection}/{key}`: merge into the existing entity.
pub async fn patch(
    state: Arc<AppState>,
    kind: Kind,
    key: String,
    parent: Option<Parent>,
    request: Request,
) -> Answer {
    let key = target_key(kind, key);
    let fields = input(&state, kind, Some(&key), request).await?;
    let now = crate::server::unix_now();
    let view = persist::write(&state, kind, move |config| {
        let key = child_id(config, kind, key, &parent)?;
        if parent.is_some()
            && find_child(config, kind, &key, &parent)
                .ok()
                .flatten()
                .is_none()
        {
            return Err(KongError::PlainNotFound);
        }
        Ok(with_view(
            ops::update(config, kind, &key, fields, now)?,
            kind,
        ))
    })
    .await?;
    Ok((StatusCode::OK, Json(view)))
}

/// `DELETE /{collection}/{key}`: 204, also when there is nothing to delete.
pub async fn delete(
    state: Arc<AppState>,
    kind: Kind,
    key: String,
    parent: Option<Parent>,
) -> Result<StatusCode, ApiError> {
    let key = target_key(kind, key);
    {
        let snap = state.snapshot.load();
        if find_child(&snap.config, kind, &key, &parent)?.is_none() {
            return Ok(StatusCode::NO_CONTENT);
        }
    }
    persist::write(&state, kind, move |config| {
        if find_child(config, kind, &key, &parent).is_err() {
            return Err(KongError::PlainNotFound);
        }
        let key = child_id(config, kind, key, &parent)?;
        Ok((ops::delete(config, kind, &key)?, ()))
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Admin API writes as pure functions over a [`Config`]: create, upsert (PUT), update (PATCH) and delete.
//!
//! Each write edits the config as a document (its serialized form), places the entity where it belongs
//! (a route under its service, a plugin under its service or route, else top-level), then reads the document
//! back through the loader's own build and validation, so the Admin API accepts exactly what the file accepts.

use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::entity::{self, Container, Entry, Loc};
use super::errors::KongError;
use super::{patch, schema_for, Kind};
use crate::build;
use crate::error::{ConfigErrors, FieldError};
use crate::model::Config;
use crate::raw::RawConfig;

/// The result of an accepted write: the new config and the written entity's id.
#[derive(Debug, Clone)]
pub struct Written {
    /// The whole new configuration (validated).
    pub config: Config,
    /// The id of the created or changed entity.
    pub id: Uuid,
}

/// `POST`: creates an entity from `input` (id generated unless given); timestamps set to `now`.
pub fn create(
    config: &Config,
    kind: Kind,
    mut input: Map<String, Value>,
    now: i64,
) -> Result<Written, KongError> {
    prepare(kind, &mut input)?;
    let id = match input.get("id") {
        Some(Value::String(s)) => {
            Uuid::parse_str(s).map_err(|_| KongError::field("id", "expected a valid UUID"))?
        }
        _ => Uuid::new_v4(),
    };
    if entity::entries(config, kind).iter().any(|e| e.id == id) {
        return Err(KongError::PrimaryKey(json!({ "id": id })));
    }
    input.insert("id".into(), json!(id));
    stamp(kind, &mut input, None, now);
    expand(config, kind, &mut input);
    credentials::hash_password(config, kind, &mut input)?;
    place(config, kind, None, input)
}

/// `PUT`: replaces the entity `key` designates (omitted fields reset to defaults), or creates it.
/// By id the id is `key`; by name the name is `key` and an existing entity keeps its id.
pub fn upsert(
    config: &Config,
    kind: Kind,
    key: &str,
    mut input: Map<String, Value>,
    now: i64,
) -> Result<Written, KongError> {
    if kind == Kind::Target {
        // Kong's PUT on a target updates an existing one (404 otherwise).
        return update(config, kind, key, input, now);
    }
    prepare(kind, &mut input)?;
    let existing = entity::find(config, kind, key);
    let id = match (entity::url_uuid(key).ok_or(()), &existing) {
        (Ok(id), _) => id,
        (Err(_), Some(e)) => e.id,
        (Err(_), None) => Uuid::new_v4(),
    };
    if entity::url_uuid(key).is_none() {
        input.insert(kind.endpoint_key().into(), json!(key));
    }
    input.insert("id".into(), json!(id));
    let created = existing.as_ref().and_then(|e| timestamp(config, e));
    stamp(kind, &mut input, created, now);
    expand(config, kind, &mut input);
    credentials::hash_password(config, kind, &mut input)?;
    place(config, kind, existing, input)
}

/// `PATCH`: merges `patch` into the entity `key` designates (records key by key, arrays whole).
pub fn update(
    config: &Config,
    kind: Kind,
    key: &str,
    mut patch: Map<String, Value>,
    now: i64,
) -> Result<Written, KongError> {
    let Some(existing) = entity::find(config, kind, key) else {
        return Err(not_found(kind, key));
    };
    prepare(kind, &mut patch)?;
    let new_password = credentials::check_patch(kind, &patch)?;
    let mut fields = stored_form(config, &existing);
    let name = patch
        .get("name")
        .or(fields.get("name"))
        .and_then(Value::as_str)
        .map(str::to_string);
    patch::merge(&mut fields, patch, &schema_for(kind, name.as_deref()));
    fields.insert("id".into(), json!(existing.id));
    let created = timestamp(config, &existing);
    stamp(kind, &mut fields, created, now);
    expand(config, kind, &mut fields);
    if new_password {
        credentials::hash_password(config, kind, &mut fields)?;
    }
    place(config, kind, Some(existing), fields)
}

/// `DELETE`: removes the entity; `Ok(None)` when there is none. A service with routes is refused (code 4);
/// plugins scoped to a removed service or route go with it, as in Kong.
pub fn delete(config: &Config, kind: Kind, key: &str) -> Result<Option<Config>, KongError> {
    let Some(target) = entity::find(config, kind, key) else {
        return Ok(None);
    };
    if kind == Kind::Service
        && entity::entries(config, Kind::Route)
            .iter()
            .any(|r| r.service == Some(target.id))
    {
        return Err(KongError::ForeignKeyRestricted {
            parent: "services",
            child: "routes",
        });
    }
    let cascade: Vec<usize> = entity::entries(config, Kind::Plugin)
        .into_iter()
        .filter(|p| p.loc.container == Container::TopPlugins)
        .filter(|p| match kind {
            Kind::Service => p.service == Some(target.id),
            Kind::Route => p.route == Some(target.id),
            Kind::Plugin
            | Kind::Upstream
            | Kind::Target
            | Kind::Certificate
            | Kind::Sni
            | Kind::Consumer
            | Kind::Credential(_)
            | Kind::CaCertificate => false,
        })
        .map(|p| p.loc.index)
        .collect();
    let mut doc = to_doc(config);
    if kind == Kind::Consumer {
        credentials::cascade(config, target.id, &mut doc);
    }
    if let Some(items) = container_mut(&mut doc, Container::TopPlugins) {
        let mut i = 0;
        items.retain(|_| {
            i += 1;
            !cascade.contains(&(i - 1))
        });
    }
    if let Some(items) = container_mut(&mut doc, target.loc.container) {
        if target.loc.index < items.len() {
            items.remove(target.loc.index);
        }
    }
    from_doc(doc)
        .map(Some)
        .map_err(|e| KongError::Schema(relative_errors(e, None)))
}

/// A certificate's `snis` names as the nested SNI records the file holds.
fn expand(config: &Config, kind: Kind, fields: &mut Map<String, Value>) {
    if kind == Kind::Certificate {
        super::certificates::expand_snis(config, fields);
    }
}

/// The 404 of a PATCH: plugins, targets and credentials answer `{"message":"Not found"}` (a credential's
/// key is not repeated), services and routes Kong's code-6 body.
fn not_found(kind: Kind, key: &str) -> KongError {
    match (kind, Uuid::parse_str(key)) {
        (Kind::Plugin | Kind::Target | Kind::Credential(_), _) => KongError::PlainNotFound,
        (_, Ok(id)) => KongError::NotFound(json!({ "id": id })),
        (_, Err(_)) => KongError::NotFound(json!({ kind.endpoint_key(): key })),
    }
}

/// Expands a service `url` into protocol, host, port and path; drops read-only timestamps.
fn prepare(kind: Kind, input: &mut Map<String, Value>) -> Result<(), KongError> {
    input.remove("created_at");
    input.remove("updated_at");
    if kind == Kind::Target {
        if let Some(Value::String(t)) = input.get("target") {
            if let Ok(normal) = crate::upstreams::normalize_target(t) {
                input.insert("target".into(), json!(normal));
            }
        }
    }
    if kind != Kind::Service {
        return Ok(());
    }
    match input.remove("url") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(url)) => {
            // Kong's shorthand rule: the url's parts replace protocol, host, port and path.
            let parts = build::expand_url(&url).map_err(|m| KongError::field("url", m))?;
            input.insert("protocol".into(), json!(parts.protocol));
            input.insert("host".into(), json!(parts.host));
            input.insert("port".into(), json!(parts.port));
            input.insert("path".into(), json!(parts.path));
            Ok(())
        }
        Some(_) => Err(KongError::field("url", "expected a string")),
    }
}

/// Kong's `required = true` fields that have a default: omitted they take it, but an explicit `null` (a JSON
/// null, or an empty form value) is `required field missing`.
fn required_not_null(kind: Kind, fields: &Map<String, Value>) -> Result<(), KongError> {
    let required: &[&str] = match kind {
        Kind::Service => &["protocol", "host", "port", "enabled"],
        Kind::Route => &[
            "protocols",
            "https_redirect_status_code",
            "strip_path",
            "preserve_host",
            "path_handling",
            "request_buffering",
            "response_buffering",
        ],
        _ => &[],
    };
    let missing: Vec<FieldError> = (required.iter())
        .filter(|f| fields.get(**f).is_some_and(Value::is_null))
        .map(|f| FieldError::new(*f, crate::checks::REQUIRED))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(KongError::Schema(missing))
    }
}

/// Sets `created_at` (kept when given) and `updated_at`; targets carry float seconds, as in Kong;
/// credentials have no `updated_at` (Kong's).
fn stamp(kind: Kind, fields: &mut Map<String, Value>, created: Option<Value>, now: i64) {
    let now = if kind == Kind::Target {
        json!(now as f64)
    } else {
        json!(now)
    };
    fields.insert("created_at".into(), created.unwrap_or_else(|| now.clone()));
    if !matches!(kind, Kind::Credential(_)) {
        fields.insert("updated_at".into(), now);
    }
}

/// The stored `created_at` of an entity (kept by updates).
fn timestamp(config: &Config, e: &Entry) -> Option<Value> {
    stored_form(config, e).remove("created_at")
}

/// The entity as written in the file (without its children), references as `{"id": ...}`.
fn stored_form(config: &Config, e: &Entry) -> Map<String, Value> {
    let value = match e.kind {
        Kind::Service => entity::service_at(config, e.loc).map(serde_json::to_value),
        Kind::Route => entity::route_at(config, e.loc).map(serde_json::to_value),
        Kind::Plugin => entity::plugin_at(config, e.loc).map(serde_json::to_value),
        Kind::Upstream => entity::upstream_at(config, e.loc).map(serde_json::to_value),
        Kind::Target => entity::target_at(config, e.loc).map(serde_json::to_value),
        Kind::Certificate => entity::certificate_at(config, e.loc).map(serde_json::to_value),
        Kind::Sni => entity::sni_at(config, e.loc).map(serde_json::to_value),
        Kind::CaCertificate => entity::ca_certificate_at(config, e.loc).map(serde_json::to_value),
        Kind::Consumer => entity::consumer_at(config, e.loc).map(serde_json::to_value),
        Kind::Credential(_) => {
            entity::credential_at(config, e.loc).map(|row| Ok(Value::Object(row.stored)))
        }
    };
    let mut map = match value {
        Some(Ok(Value::Object(map))) => map,
        _ => Map::new(),
    };
    map.remove("routes");
    map.remove("plugins");
    map.remove("targets");
    map.remove("snis");
    match e.kind {
        Kind::Service
        | Kind::Upstream
        | Kind::Certificate
        | Kind::Consumer
        | Kind::Credential(_)
        | Kind::CaCertificate => {}
        Kind::Sni => {
            if let Some(c) = e.certificate {
                map.insert("certificate".into(), json!({ "id": c }));
            }
        }
        Kind::Target => {
            if let Some(u) = e.upstream {
                map.insert("upstream".into(), json!({ "id": u }));
            }
        }
        Kind::Route => {
            if let Some(s) = e.service {
                map.insert("service".into(), json!({ "id": s }));
            }
        }
        Kind::Plugin => {
            if let Some(s) = e.service {
                map.insert("service".into(), json!({ "id": s }));
            }
            if let Some(r) = e.route {
                map.insert("route".into(), json!({ "id": r }));
            }
            if let Some(c) = e.consumer {
                map.insert("consumer".into(), json!({ "id": c }));
            }
        }
    }
    map
}

/// A reference field's value resolved against `config`: `Ok(None)` when null or absent.
pub(super) fn resolve(
    config: &Config,
    kind: Kind,
    field: &'static str,
    value: Option<&Value>,
) -> Result<Option<Entry>, KongError> {
    let key = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(m)) => match (m.get("id"), m.get("name").or(m.get("username"))) {
            (Some(Value::String(id)), _) => {
                if Uuid::parse_str(id).is_err() {
                    return Err(KongError::field(
                        format!("{field}.id"),
                        "expected a valid UUID",
                    ));
                }
                id.clone()
            }
            (_, Some(Value::String(name))) => name.clone(),
            _ => {
                return Err(KongError::field(
                    field,
                    "expected a record with `id` or `name`",
                ))
            }
        },
        Some(_) => return Err(KongError::field(field, "expected a record")),
    };
    let found = entity::entries(config, kind)
        .into_iter()
        .find(|e| match value {
            Some(Value::Object(m)) if m.contains_key("id") => e.id.to_string() == key,
            Some(Value::Object(_)) => e.name.as_deref() == Some(key.as_str()),
            _ => entity::key_matches(&key, e.id, e.name.as_deref()),
        });
    match found {
        Some(e) => Ok(Some(e)),
        None => Err(KongError::ForeignKeyInvalid {
            field,
            key: match value {
                Some(Value::Object(_)) => value.cloned().unwrap_or(Value::Null),
                _ => json!({ "id": key }),
            },
            parent: kind.collection(),
        }),
    }
}

/// The config as a document (the file's shape).
fn to_doc(config: &Config) -> Value {
    serde_json::to_value(config).unwrap_or_else(|_| json!({}))
}

/// Reads a document back exactly as the loader reads a file: raw types, build, validation.
fn from_doc(doc: Value) -> Result<Config, ConfigErrors> {
    let raw: RawConfig = serde_json::from_value(doc)
        .map_err(|e| ConfigErrors::single(crate::error::ConfigError::at("", e.to_string())))?;
    crate::load::from_raw(raw, &mut crate::load::Timings::default())
}

/// The array `container` designates in the document, created when missing.
fn container_mut(doc: &mut Value, container: Container) -> Option<&mut Vec<Value>> {
    let (parent, key) = match container {
        Container::Services => (doc, "services"),
        Container::TopRoutes => (doc, "routes"),
        Container::TopPlugins => (doc, "plugins"),
        Container::Upstreams => (doc, "upstreams"),
        Container::UpstreamTargets(u) => (doc.get_mut("upstreams")?.get_mut(u)?, "targets"),
        Container::Certificates => (doc, "certificates"),
        Container::CertificateSnis(c) => (doc.get_mut("certificates")?.get_mut(c)?, "snis"),
        Container::Consumers => (doc, "consumers"),
        Container::CaCertificates => (doc, "ca_certificates"),
        Container::ConsumerPlugins(c) => (doc.get_mut("consumers")?.get_mut(c)?, "plugins"),
        Container::Credentials(k) => (doc, k.spec().name),
        Container::ServiceRoutes(s) => (doc.get_mut("services")?.get_mut(s)?, "routes"),
        Container::ServicePlugins(s) => (doc.get_mut("services")?.get_mut(s)?, "plugins"),
        Container::NestedRoutePlugins(s, r) => (
            doc.get_mut("services")?
                .get_mut(s)?
                .get_mut("routes")?
                .get_mut(r)?,
            "plugins",
        ),
        Container::TopRoutePlugins(r) => (doc.get_mut("routes")?.get_mut(r)?, "plugins"),
    };
    parent
        .as_object_mut()?
        .entry(key)
        .or_insert_with(|| Value::Array(Vec::new()))
        .as_array_mut()
}

/// The loader's errors with paths relative to the entity at `loc` (empty path: the entity itself);
/// errors elsewhere in the file keep their full path as an entity-level message.
fn relative_errors(errors: ConfigErrors, loc: Option<Loc>) -> Vec<FieldError> {
    let prefix = loc.map(|l| l.path());
    errors
        .0
        .into_iter()
        .map(|e| {
            let rest = prefix.as_deref().and_then(|p| {
                let rest = e.path.strip_prefix(p)?;
                match rest.as_bytes().first() {
                    None => Some(""),
                    Some(b'.') => Some(&rest[1..]),
                    Some(b'[') => Some(rest),
                    Some(_) => None,
                }
            });
            match rest {
                Some(rel) => FieldError::new(rel, e.message),
                None if e.path.is_empty() => FieldError::new("", e.message),
                None => FieldError::new("", format!("{}: {}", e.path, e.message)),
            }
        })
        .collect()
}

mod credentials;
mod place;
use place::place;
mod unique;
pub use credentials::MASKED;
use unique::{consumer_unique, plugin_unique, target_unique, unique};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod credential_tests;

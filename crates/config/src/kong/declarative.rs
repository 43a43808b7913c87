//! Kong's DB-less `/config` as pure functions: a whole declarative configuration read exactly as the loader
//! reads the file (same parse, build and validation), Kong's code-14 error bodies (nested `fields`, or
//! `flattened_errors` per entity), the `201` body (entities by collection and id) and the export of `GET /config`.

use serde_json::{json, Map, Value};

use super::entity;
use super::errors::{lua_pretty, message_path, set_text, steps, Declarative, KongError, Step};
use super::Kind;
use crate::error::ConfigError;
use crate::model::{Config, Settings};

/// The collections whose items are entities (the file's nesting: routes and plugins under services, …).
const COLLECTIONS: [&str; 16] = [
    "services",
    "routes",
    "plugins",
    "consumers",
    "upstreams",
    "targets",
    "certificates",
    "snis",
    "keyauth_credentials",
    "basicauth_credentials",
    "hmacauth_credentials",
    "jwt_secrets",
    "acls",
    "ca_certificates",
    "key_sets",
    "keys",
];

/// Reads a posted declarative configuration (YAML or JSON text) as the loader reads the file. The document
/// must not carry a `gateway:` block: the settings are the running ones (`settings`), so the document is
/// validated with them (e.g. a redis-backed plugin against `gateway.cluster_cache`). `flatten` asks for
/// Kong's `flattened_errors`.
pub fn parse(text: &str, settings: &Settings, flatten: bool) -> Result<Config, KongError> {
    if text.trim().is_empty() {
        return Err(KongError::Message(
            "expected a declarative configuration".into(),
        ));
    }
    let doc: Value = match serde_yaml::from_str::<Value>(text) {
        Ok(doc @ Value::Object(_)) => doc,
        Ok(_) => return Err(invalid(&whole("expected an object"), None, flatten)),
        Err(e) => return Err(invalid(&whole(&e.to_string()), None, flatten)),
    };
    if doc.get("gateway").is_some() {
        let e = ConfigError::at(
            "gateway",
            "not accepted by POST /config: the gateway settings are the config file's (edit the file and reload)",
        );
        return Err(invalid(&[e], Some(&doc), flatten));
    }
    let mut full = doc.clone();
    full["gateway"] = serde_json::to_value(settings).unwrap_or(Value::Null);
    if full["gateway"].as_object().is_some_and(Map::is_empty) {
        if let Some(map) = full.as_object_mut() {
            map.remove("gateway");
        }
    }
    let text = serde_yaml::to_string(&full)
        .map_err(|e| invalid(&whole(&e.to_string()), Some(&doc), flatten))?;
    crate::load::parse_str(&text).map_err(|e| invalid(&e.0, Some(&doc), flatten))
}

fn whole(message: &str) -> Vec<ConfigError> {
    vec![ConfigError::at(
        "",
        format!("failed parsing declarative configuration: {message}"),
    )]
}

/// Kong's code-14 error for `errors` (loader paths such as `services[0].routes[1].paths[0]`). With `flatten`
/// and the document, the errors of each entity are listed in `flattened_errors` with the entity itself, and
/// `fields` keeps only those outside any entity.
fn invalid(errors: &[ConfigError], doc: Option<&Value>, flatten: bool) -> KongError {
    let mut fields = Value::Object(Map::new());
    let mut flattened: Vec<Value> = Vec::new();
    let mut groups: Vec<(String, Vec<Value>, Value)> = Vec::new();
    for e in errors {
        let all = steps(&e.path);
        let split = entity_split(&all);
        if let (true, Some(doc), Some(at)) = (flatten, doc, split) {
            let key = path_text(&all[..at]);
            let rel = path_text(&all[at..]);
            let error = if rel.is_empty() {
                json!({ "type": "entity", "message": e.message })
            } else {
                json!({ "type": "field", "field": message_path(&rel), "message": e.message })
            };
            match groups.iter_mut().find(|g| g.0 == key) {
                Some(g) => g.1.push(error),
                None => groups.push((key, vec![error], lookup(doc, &all[..at]))),
            }
            continue;
        }
        add_field(
            &mut fields,
            &all,
            split.is_some_and(|at| at == all.len()),
            &e.message,
        );
    }
    for (key, errors, entity) in groups {
        let collection = key
            .rsplit('.')
            .next()
            .and_then(|last| last.split('[').next())
            .unwrap_or("");
        let mut item = Map::new();
        for (name, value) in [
            ("entity_name", entity.get("name").filter(|v| v.is_string())),
            ("entity_id", entity.get("id").filter(|v| v.is_string())),
            ("entity_tags", entity.get("tags").filter(|v| v.is_array())),
        ] {
            if let Some(v) = value {
                item.insert(name.into(), v.clone());
            }
        }
        item.insert("entity_type".into(), json!(singular(collection)));
        item.insert("entity".into(), masked(collection, entity));
        item.insert("errors".into(), Value::Array(errors));
        flattened.push(Value::Object(item));
    }
    KongError::Declarative(Box::new(Declarative {
        message: format!("declarative config is invalid: {}", lua_pretty(&fields)),
        fields,
        flattened: flatten.then_some(Value::Array(flattened)),
    }))
}

/// The position after the innermost entity in a path (`services[0].routes[1].paths[0]` ⇒ 4, after
/// `routes[1]`); `None` when the path is not inside an entity.
fn entity_split(all: &[Step]) -> Option<usize> {
    let mut at = None;
    for (i, pair) in all.windows(2).enumerate() {
        if let [Step::Key(k), Step::Index(_)] = pair {
            if COLLECTIONS.contains(&k.as_str()) {
                at = Some(i + 2);
            }
        }
    }
    at
}

/// Places one error in the nested `fields`: an entity's own error in its `@entity` list, a whole-document
/// error under `error`, a field error at its path (a path whose place holds another shape goes to `error`).
fn add_field(fields: &mut Value, all: &[Step], is_entity: bool, message: &str) {
    let mut node = &mut *fields;
    let mut path = all;
    if !is_entity && all.is_empty() {
        return push_text(fields, "error", message);
    }
    while let Some((first, rest)) = path.split_first() {
        if rest.is_empty() && !is_entity {
            break;
        }
        let next = match (first, &mut *node) {
            (Step::Key(k), Value::Object(map)) => {
                map.entry(k.clone()).or_insert_with(|| match rest.first() {
                    Some(Step::Index(_)) => Value::Array(Vec::new()),
                    _ => Value::Object(Map::new()),
                })
            }
            (Step::Index(i), Value::Array(items)) => {
                if items.len() <= *i {
                    items.resize(*i + 1, Value::Null);
                }
                let slot = &mut items[*i];
                if slot.is_null() {
                    *slot = match rest.first() {
                        Some(Step::Index(_)) => Value::Array(Vec::new()),
                        _ => Value::Object(Map::new()),
                    };
                }
                slot
            }
            _ => return push_text(fields, "error", &format!("{}: {message}", path_text(all))),
        };
        node = next;
        path = rest;
    }
    if is_entity {
        match node {
            Value::Object(map) => {
                let list = map
                    .entry("@entity")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(items) = list {
                    items.push(json!(message));
                }
            }
            _ => push_text(fields, "error", &format!("{}: {message}", path_text(all))),
        }
        return;
    }
    let ok = match (path.first(), &mut *node) {
        (Some(Step::Key(k)), Value::Object(map)) => {
            set_text(map.entry(k.clone()).or_insert(Value::Null), message)
        }
        (Some(Step::Index(i)), Value::Array(items)) => {
            if items.len() <= *i {
                items.resize(*i + 1, Value::Null);
            }
            set_text(&mut items[*i], message)
        }
        _ => false,
    };
    if !ok {
        push_text(fields, "error", &format!("{}: {message}", path_text(all)));
    }
}

fn push_text(fields: &mut Value, key: &str, message: &str) {
    if let Value::Object(map) = fields {
        if !set_text(map.entry(key).or_insert(Value::Null), message) {
            map.insert(key.into(), json!(message));
        }
    }
}

fn path_text(all: &[Step]) -> String {
    let mut out = String::new();
    for s in all {
        match s {
            Step::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn lookup(doc: &Value, all: &[Step]) -> Value {
    let mut node = doc;
    for s in all {
        let next = match s {
            Step::Key(k) => node.get(k),
            Step::Index(i) => node.get(*i),
        };
        match next {
            Some(n) => node = n,
            None => return Value::Null,
        }
    }
    node.clone()
}

/// A credential as echoed in `flattened_errors`, its secret fields (a key-auth key, a password, a jwt secret)
/// replaced: an error body never repeats one (Kong's echoes the entity whole).
fn masked(collection: &str, mut entity: Value) -> Value {
    let spec = crate::credentials::CredKind::named(collection).map(|k| k.spec());
    if let (Some(spec), Some(map)) = (spec, entity.as_object_mut()) {
        for (name, value) in map.iter_mut() {
            if spec.is_secret(name) {
                *value = json!(crate::kong::ops::MASKED);
            }
        }
    }
    if collection == "keys" {
        if let Some(map) = entity.as_object_mut() {
            if map.get("jwk").is_some_and(Value::is_string) {
                map.insert("jwk".into(), json!(crate::kong::ops::MASKED));
            }
            if let Some(pem) = map.get_mut("pem").and_then(Value::as_object_mut) {
                if pem.contains_key("private_key") {
                    pem.insert("private_key".into(), json!(crate::kong::ops::MASKED));
                }
            }
        }
    }
    entity
}

fn singular(collection: &str) -> &str {
    collection.strip_suffix('s').unwrap_or(collection)
}

/// Kong's `201` body: each collection that has entities, as a map from id to the entity's Admin API view.
pub fn entities(config: &Config) -> Value {
    let mut out = Map::new();
    for kind in Kind::ALL {
        let items: Map<String, Value> = entity::entries(config, kind)
            .into_iter()
            .map(|e| (e.id.to_string(), entity::view(config, &e)))
            .collect();
        if !items.is_empty() {
            out.insert(kind.entity_name().into(), Value::Object(items));
        }
    }
    Value::Object(out)
}

/// The running configuration as a declarative document, without the `gateway:` block (settings, with the
/// admin token and redis credentials, are the file's business, never the API's).
pub fn export(config: &Config) -> Result<String, serde_yaml::Error> {
    let mut doc = config.clone();
    doc.gateway = Settings::default();
    crate::load::to_yaml(&doc)
}

/// True when two configurations declare the same entities (settings aside): `?check_hash=1`'s test.
pub fn same_entities(a: &Config, b: &Config) -> bool {
    let strip = |c: &Config| {
        let mut c = c.clone();
        c.gateway = Settings::default();
        serde_json::to_value(c).ok()
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests;

//! Kong's Admin API error bodies (`{code, name, message, fields}`) and their HTTP statuses.

use serde_json::{json, Map, Value};

use crate::error::FieldError;

/// A refused Admin API request, rendered as Kong renders it.
#[derive(Debug, Clone, PartialEq)]
pub enum KongError {
    /// Code 2, 400: field errors with paths relative to the entity (`config.timeout`, `paths[0]`); an empty
    /// path is an entity-level error (`fields["@entity"]`).
    Schema(Vec<FieldError>),
    /// Code 3, 400: the id is taken (`key` is e.g. `{"id": "..."}`).
    PrimaryKey(Value),
    /// Code 4, 400: a reference (`field`, e.g. `service`, with value `key`) to a missing `parent` (`services`).
    ForeignKeyInvalid {
        /// The referencing field.
        field: &'static str,
        /// The reference as given, e.g. `{"id": "..."}`.
        key: Value,
        /// The referenced collection, e.g. `services`.
        parent: &'static str,
    },
    /// Code 4, 400: a `child` collection still references this `parent` entity.
    ForeignKeyRestricted {
        /// The referenced collection, e.g. `services`.
        parent: &'static str,
        /// The referencing collection, e.g. `routes`.
        child: &'static str,
    },
    /// Code 5, 409: the unique key (e.g. `{"name": "x"}`) is taken.
    Unique(Value),
    /// Code 6, 404: no entity with this primary key (`{"id": ...}`) or endpoint key (`{"name": ...}`).
    NotFound(Value),
    /// 404 `{"message":"Not found"}`.
    PlainNotFound,
    /// Code 7, 400: a paging offset this gateway did not give.
    InvalidOffset(String),
    /// Code 9, 400: a bad `size`.
    InvalidSize(String),
    /// Code 14, 400: an invalid declarative configuration (`POST /config`).
    Declarative(Box<Declarative>),
    /// 400 `{"message": …}`.
    Message(String),
}

/// The body of a code-14 error: `fields` nested as the document, `flattened` Kong's per-entity list when
/// asked for (`?flatten_errors=1`).
#[derive(Debug, Clone, PartialEq)]
pub struct Declarative {
    /// `declarative config is invalid: {…}`.
    pub message: String,
    /// The errors, nested as the document (`{"services":[{"host":"…"}]}`).
    pub fields: Value,
    /// `flattened_errors`, when asked for.
    pub flattened: Option<Value>,
}

impl KongError {
    /// A schema violation with one error.
    pub fn field(path: impl Into<String>, message: impl Into<String>) -> Self {
        KongError::Schema(vec![FieldError::new(path, message)])
    }

    /// The HTTP status Kong answers with.
    pub fn status(&self) -> u16 {
        match self {
            KongError::Unique(_) => 409,
            KongError::NotFound(_) | KongError::PlainNotFound => 404,
            _ => 400,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        match self {
            KongError::Schema(errors) => schema_violation(errors),
            KongError::PrimaryKey(key) => err(
                3,
                "primary key violation",
                format!("primary key violation on key '{}'", lua_pretty(key)),
                Some(key.clone()),
            ),
            KongError::ForeignKeyInvalid { field, key, parent } => err(
                4,
                "foreign key violation",
                format!(
                    "the foreign key '{}' does not reference an existing '{parent}' entity.",
                    lua_pretty(key)
                ),
                Some(json!({ *field: key })),
            ),
            KongError::ForeignKeyRestricted { parent, child } => err(
                4,
                "foreign key violation",
                format!("an existing '{child}' entity references this '{parent}' entity"),
                Some(json!({ "@referenced_by": child })),
            ),
            KongError::Unique(key) => err(
                5,
                "unique constraint violation",
                format!("UNIQUE violation detected on '{}'", lua_pretty(key)),
                Some(key.clone()),
            ),
            KongError::NotFound(key) => {
                let message = if key.get("id").is_some() {
                    format!(
                        "could not find the entity with primary key '{}'",
                        lua_pretty(key)
                    )
                } else {
                    format!("could not find the entity with '{}'", lua_pretty(key))
                };
                err(6, "not found", message, Some(key.clone()))
            }
            KongError::PlainNotFound => json!({ "message": "Not found" }),
            KongError::InvalidOffset(offset) => err(
                7,
                "invalid offset",
                format!("'{offset}' is not a valid offset: not an offset given by this gateway"),
                None,
            ),
            KongError::InvalidSize(message) => err(9, "invalid size", message.clone(), None),
            KongError::Declarative(d) => {
                let mut body = err(
                    14,
                    "invalid declarative configuration",
                    d.message.clone(),
                    Some(d.fields.clone()),
                );
                if let Some(f) = &d.flattened {
                    body["flattened_errors"] = f.clone();
                }
                body
            }
            KongError::Message(message) => json!({ "message": message }),
        }
    }
}

fn err(code: u8, name: &str, message: String, fields: Option<Value>) -> Value {
    let mut body = json!({ "code": code, "name": name, "message": message });
    if let Some(fields) = fields {
        body["fields"] = fields;
    }
    body
}

/// One step of a field path.
pub(crate) enum Step {
    Key(String),
    Index(usize),
}

pub(crate) fn steps(path: &str) -> Vec<Step> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(Step::Key(name.to_string()));
        }
        while let Some(inner) = rest.strip_prefix('[') {
            let Some(end) = inner.find(']') else { break };
            match inner[..end].parse() {
                Ok(i) => out.push(Step::Index(i)),
                Err(_) => out.push(Step::Key(inner[..end].to_string())),
            }
            rest = &inner[end + 1..];
        }
    }
    out
}

/// Places `message` at `steps` in `node`; false when the place is taken by a different shape.
/// Sets a message slot: `null` becomes the message, a message gets `; <message>` appended; other values are left.
pub(crate) fn set_text(slot: &mut Value, message: &str) -> bool {
    match slot {
        Value::Null => {
            *slot = Value::String(message.to_string());
            true
        }
        Value::String(s) => {
            s.push_str("; ");
            s.push_str(message);
            true
        }
        _ => false,
    }
}

fn place(node: &mut Value, steps: &[Step], message: &str) -> bool {
    let Some((first, rest)) = steps.split_first() else {
        return set_text(node, message);
    };
    match first {
        Step::Key(k) => {
            if node.is_null() {
                *node = Value::Object(Map::new());
            }
            match node {
                Value::Object(map) => {
                    place(map.entry(k.clone()).or_insert(Value::Null), rest, message)
                }
                _ => false,
            }
        }
        Step::Index(i) => {
            if node.is_null() {
                *node = Value::Array(Vec::new());
            }
            match node {
                Value::Array(items) => {
                    if items.len() <= *i {
                        items.resize(*i + 1, Value::Null);
                    }
                    place(&mut items[*i], rest, message)
                }
                _ => false,
            }
        }
    }
}

/// Kong's path in messages: dotted, with 1-based positions (`paths.1`).
pub(crate) fn message_path(path: &str) -> String {
    steps(path)
        .iter()
        .map(|s| match s {
            Step::Key(k) => k.clone(),
            Step::Index(i) => (i + 1).to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The code-2 body: nested `fields` (entity-level errors listed under `@entity`) and Kong's message
/// (`schema violation (a: m)` or `N schema violations (@entity errors; then fields sorted: a: m; b: n)`).
pub fn schema_violation(errors: &[FieldError]) -> Value {
    let mut fields = Value::Object(Map::new());
    let mut entity: Vec<String> = Vec::new();
    let mut lines: Vec<(String, String)> = Vec::new();
    for e in errors {
        if e.path.is_empty() || !place(&mut fields, &steps(&e.path), &e.message) {
            let text = if e.path.is_empty() {
                e.message.clone()
            } else {
                format!("{}: {}", e.path, e.message)
            };
            entity.push(text);
        } else {
            lines.push((message_path(&e.path), e.message.clone()));
        }
    }
    lines.sort();
    let mut parts: Vec<String> = entity.clone();
    parts.extend(lines.iter().map(|(p, m)| format!("{p}: {m}")));
    if !entity.is_empty() {
        fields["@entity"] = json!(entity);
    }
    let message = if parts.len() == 1 {
        format!("schema violation ({})", parts[0])
    } else {
        format!("{} schema violations ({})", parts.len(), parts.join("; "))
    };
    err(2, "schema violation", message, Some(fields))
}

/// Renders a value as Kong's messages do (Penlight's pretty writer): `{id="x",service={id="y"}}`, keys sorted.
pub fn lua_pretty(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}={}", lua_pretty(&map[k])))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(lua_pretty).collect();
            format!("{{{}}}", inner.join(","))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_nested_violation() {
        let e = KongError::field("config.timeout", "expected a number");
        assert_eq!(e.status(), 400);
        assert_eq!(
            e.body(),
            json!({"code":2,"name":"schema violation",
                "message":"schema violation (config.timeout: expected a number)",
                "fields":{"config":{"timeout":"expected a number"}}})
        );
    }

    #[test]
    fn many_violations_and_entity_errors() {
        let e = KongError::Schema(vec![
            FieldError::new("port", "must be between 1 and 65535"),
            FieldError::new("host", "required field missing"),
            FieldError::new("paths[1]", "must start with \"/\""),
            FieldError::new(
                "",
                "must set at least one of methods, hosts, headers or paths",
            ),
        ]);
        assert_eq!(
            e.body(),
            json!({"code":2,"name":"schema violation",
                "message":"4 schema violations (must set at least one of methods, hosts, headers or paths; host: required field missing; paths.2: must start with \"/\"; port: must be between 1 and 65535)",
                "fields":{"port":"must be between 1 and 65535","host":"required field missing",
                    "paths":[null,"must start with \"/\""],
                    "@entity":["must set at least one of methods, hosts, headers or paths"]}})
        );
    }

    #[test]
    fn shape_clash_goes_to_entity() {
        let e = KongError::Schema(vec![
            FieldError::new("config", "expected a record"),
            FieldError::new("config.x", "unknown field"),
        ]);
        let b = e.body();
        assert_eq!(b["fields"]["config"], "expected a record");
        assert_eq!(b["fields"]["@entity"], json!(["config.x: unknown field"]));
    }

    #[test]
    fn other_codes() {
        let u = KongError::Unique(json!({"name": "orders"}));
        assert_eq!(u.status(), 409);
        assert_eq!(
            u.body(),
            json!({"code":5,"name":"unique constraint violation",
                "message":"UNIQUE violation detected on '{name=\"orders\"}'","fields":{"name":"orders"}})
        );
        let n = KongError::NotFound(json!({"id": "u1"}));
        assert_eq!(n.status(), 404);
        assert_eq!(
            n.body(),
            json!({"code":6,"name":"not found",
                "message":"could not find the entity with primary key '{id=\"u1\"}'","fields":{"id":"u1"}})
        );
        assert_eq!(
            KongError::NotFound(json!({"name": "x"})).body()["message"],
            "could not find the entity with '{name=\"x\"}'"
        );
        assert_eq!(
            KongError::ForeignKeyRestricted {
                parent: "services",
                child: "routes"
            }
            .body(),
            json!({"code":4,"name":"foreign key violation",
                "message":"an existing 'routes' entity references this 'services' entity",
                "fields":{"@referenced_by":"routes"}})
        );
        let f = KongError::ForeignKeyInvalid {
            field: "service",
            key: json!({"id": "u"}),
            parent: "services",
        };
        assert_eq!(
            f.body()["message"],
            "the foreign key '{id=\"u\"}' does not reference an existing 'services' entity."
        );
        assert_eq!(f.body()["fields"], json!({"service": {"id": "u"}}));
        assert_eq!(
            KongError::PlainNotFound.body(),
            json!({"message": "Not found"})
        );
        assert_eq!(KongError::PrimaryKey(json!({"id": "u"})).status(), 400);
        assert_eq!(
            lua_pretty(&json!({"service": {"id": "s"}, "name": "oidc", "route": null})),
            "{name=\"oidc\",route=null,service={id=\"s\"}}"
        );
    }
}

//! Loading credentials from the file's lists (top-level, or nested under a consumer), generic over the
//! kinds' [`Spec`]s: unknown fields, field types, the `consumer` reference, then the kind's own
//! [`Credential::finish`], required fields, the id, and at the end the uniqueness of the declared fields.
//! Errors carry the loader's field paths (`consumers[0].keyauth_credentials[1].key`) and never a secret value.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::{str_field, Context, CredKind, Credential, FieldType, Spec};
use crate::consumers::{ConsumerBy, ConsumerIndex};
use crate::error::Collector;
use crate::fast::FastMap;
use crate::model::Config;

/// The credential lists of one place in the file (top level or one consumer), by kind.
pub(crate) type Lists = Vec<(CredKind, Vec<Value>)>;

/// The credential lists present in a set of optional raw fields, in [`CredKind::ALL`] order.
pub(crate) fn lists(raw: [Option<Vec<Value>>; 5]) -> Lists {
    CredKind::ALL
        .into_iter()
        .zip(raw)
        .filter_map(|(k, items)| items.map(|items| (k, items)))
        .collect()
}

/// Builds every credential onto `config` (whose consumers are built): first those nested in consumers
/// (`nested[i]` is `consumers[i]`'s), then the top-level ones; then checks uniqueness. A config holding
/// basic-auth credentials says `_transform: false` afterwards (its passwords are hashes).
pub(crate) fn build(config: &mut Config, top: Lists, nested: Vec<Lists>, errors: &mut Collector) {
    if top.is_empty() && nested.iter().all(Vec::is_empty) {
        return;
    }
    let ctx = Context {
        transform: config.transform != Some(false),
    };
    let index = ConsumerIndex::new(&config.consumers);
    let mut paths: FastMap<CredKind, Vec<String>> = FastMap::default();
    let mut places = Vec::new();
    for (c, lists) in nested.into_iter().enumerate() {
        let owner = config.consumers.get(c).map(|c| c.id);
        for (kind, items) in lists {
            places.push((kind, items, Some((c, owner))));
        }
    }
    for (kind, items) in top {
        places.push((kind, items, None));
    }
    for (kind, items, nested_in) in places {
        let spec = kind.spec();
        for (i, item) in items.into_iter().enumerate() {
            let path = match nested_in {
                Some((c, _)) => format!("consumers[{c}].{}[{i}]", spec.name),
                None => format!("{}[{i}]", spec.name),
            };
            let before = errors.errors.len();
            let owner = nested_in.map(|(_, owner)| owner);
            let Some(map) = check_item(spec, item, &path, owner, &index, config, errors) else {
                continue;
            };
            let len = kind.rows(config).len();
            (kind.ops().push)(config, map, &ctx, &path, errors);
            if errors.errors.len() > before {
                continue;
            }
            if kind.rows(config).len() > len {
                paths.entry(kind).or_default().push(path);
            }
        }
    }
    for kind in CredKind::ALL {
        if let Some(paths) = paths.get(&kind) {
            check_unique(kind, config, paths, errors);
        }
    }
    if !config.basicauth_credentials.is_empty() {
        config.transform = Some(false);
    }
}

/// The declared fields and the `consumer` reference of one item, checked; the map has `consumer` set to
/// the resolved id (as a string) and no nulls. `owner`: `Some` for an item nested in a consumer (`None`
/// inside when that consumer's id is unknown).
fn check_item(
    spec: &Spec,
    item: Value,
    path: &str,
    owner: Option<Option<Uuid>>,
    index: &ConsumerIndex,
    config: &Config,
    errors: &mut Collector,
) -> Option<Map<String, Value>> {
    let Value::Object(mut map) = item else {
        errors.push(path, "expected a record");
        return None;
    };
    map.retain(|_, v| !v.is_null());
    let mut ok = true;
    for (name, value) in &map {
        let at = format!("{path}.{name}");
        let problem = match name.as_str() {
            "consumer" => None,
            "id" => match value.as_str().map(Uuid::parse_str) {
                Some(Ok(_)) => None,
                _ => Some("expected a valid UUID".to_string()),
            },
            _ => match spec.field(name) {
                None => Some("unknown field".to_string()),
                Some(f) => type_problem(f.ty, value),
            },
        };
        if let Some(message) = problem {
            errors.push(at, message);
            ok = false;
        }
    }
    let found = match (owner, map.get("consumer")) {
        (Some(owner), None) => owner,
        (Some(owner), Some(given)) => {
            let same = resolve(given, index, config);
            if same.is_some() && same != owner {
                errors.push(
                    format!("{path}.consumer"),
                    "does not designate the consumer the credential is nested in",
                );
                ok = false;
            }
            owner
        }
        (None, None) => {
            errors.push(format!("{path}.consumer"), crate::checks::REQUIRED);
            return None;
        }
        (None, Some(given)) => {
            let found = resolve(given, index, config);
            if found.is_none() {
                errors.push(format!("{path}.consumer"), describe_missing(given));
            }
            found
        }
    };
    let consumer = found?;
    map.insert("consumer".into(), Value::String(consumer.to_string()));
    ok.then_some(map)
}

fn type_problem(ty: FieldType, value: &Value) -> Option<String> {
    match (ty, value) {
        (FieldType::Str, Value::String(s)) if s.is_empty() => {
            Some("length must be at least 1".into())
        }
        (FieldType::Str, Value::String(_)) => None,
        (FieldType::Str, _) => Some("expected a string".into()),
        (FieldType::Int, Value::Number(n)) if n.is_i64() => None,
        (FieldType::Int, _) => Some("expected an integer".into()),
        (FieldType::Tags, Value::Array(items)) => items.iter().find_map(|t| match t.as_str() {
            None => Some("expected a string".into()),
            Some(t) => crate::checks::tag(t).err(),
        }),
        (FieldType::Tags, _) => Some("expected a set".into()),
    }
}

/// The consumer a `consumer:` value designates: a string (an id, else a username) or a record with `id`
/// or `username`.
fn resolve(given: &Value, index: &ConsumerIndex, config: &Config) -> Option<Uuid> {
    let at = match given {
        Value::String(key) => index.find(key, &[ConsumerBy::Id, ConsumerBy::Username]),
        Value::Object(m) => match (m.get("id"), m.get("username")) {
            (Some(Value::String(id)), _) => index.find(id, &[ConsumerBy::Id]),
            (_, Some(Value::String(name))) => index.find(name, &[ConsumerBy::Username]),
            _ => None,
        },
        _ => None,
    }?;
    config.consumers.get(at).map(|c| c.id)
}

fn describe_missing(given: &Value) -> String {
    match given {
        Value::String(key) => format!("no consumer with id or username {key:?}"),
        Value::Object(m) => match (m.get("id"), m.get("username")) {
            (Some(Value::String(id)), _) => format!("no consumer with id {id:?}"),
            (_, Some(Value::String(name))) => format!("no consumer with username {name:?}"),
            _ => "expected a record with `id` or `username`".into(),
        },
        _ => "expected a string (an id or a username) or a record with `id` or `username`".into(),
    }
}

/// [`super::Ops::push`] for `T`: the kind's own completion, required fields, the id, typing.
pub(crate) fn push<T: Credential>(
    config: &mut Config,
    mut map: Map<String, Value>,
    ctx: &Context,
    path: &str,
    errors: &mut Collector,
) {
    let before = errors.errors.len();
    T::finish(&mut map, ctx, path, errors);
    let spec = T::spec();
    for f in spec.fields.iter().filter(|f| f.required) {
        if !map.contains_key(f.name) {
            errors.push(format!("{path}.{}", f.name), crate::checks::REQUIRED);
        }
    }
    if errors.errors.len() > before {
        return;
    }
    if !map.contains_key("id") {
        let consumer = str_field(&map, "consumer").and_then(|c| Uuid::parse_str(c).ok());
        let ordinal = (T::list(config).iter())
            .filter(|c| Some(c.consumer()) == consumer)
            .count();
        let id = crate::ids::credential_id(spec.name, &T::natural_key(&map, ordinal));
        map.insert("id".into(), Value::String(id.to_string()));
    }
    match serde_json::from_value::<T>(Value::Object(map)) {
        Ok(c) => T::list_mut(config).push(c),
        Err(e) => errors.push(path, format!("invalid credential: {}", e.without_values())),
    }
}

trait WithoutValues {
    fn without_values(&self) -> String;
}

impl WithoutValues for serde_json::Error {
    /// serde's message up to the first quote, so no field value is repeated.
    fn without_values(&self) -> String {
        let text = self.to_string();
        text.split(['`', '"'])
            .next()
            .unwrap_or("")
            .trim()
            .to_string()
    }
}

/// Kong's uniqueness of `kind`: ids, the [`Spec::unique`] fields, [`Spec::unique_in_owner`] per consumer.
/// `paths[i]` is the file path of the kind's `i`-th credential.
fn check_unique(kind: CredKind, config: &Config, paths: &[String], errors: &mut Collector) {
    let spec = kind.spec();
    let rows = kind.rows(config);
    let mut ids: FastMap<Uuid, usize> = FastMap::default();
    let mut values: FastMap<(&str, Option<Uuid>, &str), usize> = FastMap::default();
    for (i, row) in rows.iter().enumerate() {
        let path = &paths[i.min(paths.len().saturating_sub(1))];
        let mut duplicate_field = false;
        let fields = (spec.unique.iter().map(|f| (*f, None)))
            .chain(spec.unique_in_owner.map(|f| (f, Some(row.consumer))));
        for (field, owner) in fields {
            let Some(value) = row.stored.get(field).and_then(Value::as_str) else {
                continue;
            };
            match values.get(&(field, owner, value)) {
                Some(&first) => {
                    let shown = if spec.is_secret(field) {
                        String::new()
                    } else {
                        format!(" {value:?}")
                    };
                    let scope = if owner.is_some() {
                        " for this consumer"
                    } else {
                        ""
                    };
                    errors.push(
                        format!("{path}.{field}"),
                        format!("duplicate {field}{shown}{scope} (also {})", paths[first]),
                    );
                    duplicate_field = true;
                }
                None => {
                    values.insert((field, owner, value), i);
                }
            }
        }
        // A generated id repeats when its natural key does: that duplicate is the one reported.
        match ids.get(&row.id) {
            Some(&first) if !duplicate_field => errors.push(
                format!("{path}.id"),
                format!("duplicate id \"{}\" (also {})", row.id, paths[first]),
            ),
            Some(_) => {}
            None => {
                ids.insert(row.id, i);
            }
        }
    }
}

//! Table-driven plugin config schemas: one [`Field`] row per config field gives its name, its type and its
//! default. From that one table come the parsing of a raw `config` object (every error collected, with
//! Kong-like messages and paths relative to `config`), the defaults, and the Admin API's field types
//! ([`crate::kong::schema`]). A plugin's typed config struct is then filled by serde from the checked,
//! defaulted map, so a new plugin writes its field list once.

use serde_json::{Map, Value};

use crate::error::FieldError;

/// The type of a config field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A string.
    Str,
    /// An `http`/`https` URL with a host.
    Url,
    /// An array of strings.
    Strings,
    /// An array of `http`/`https` URLs with a host.
    Urls,
    /// `true` or `false`.
    Bool,
    /// A number ≥ 0.
    Number,
    /// A number > 0 (Kong's `gt = 0`).
    Positive,
    /// Any number (e.g. `sync_rate`, where -1 means synchronous).
    Signed,
    /// A whole number ≥ 0.
    Integer,
    /// Any whole number (Kong's plain `type = "integer"`; a plugin checks its own bounds).
    Int,
    /// An array of whole numbers (each `expected an integer` when it is not one; a plugin checks the bounds).
    Integers,
    /// A nested record with its own fields (absent or `null`: every default).
    Record(&'static [Field]),
    /// An array of records with the given fields (each item checked like a [`Kind::Record`]; paths
    /// `name[i].field`).
    Records(&'static [Field]),
    /// One of the given names.
    OneOf(&'static [&'static str]),
    /// An array of the given names (duplicates dropped).
    SetOf(&'static [&'static str]),
    /// A map of string keys to string values (Kong's `type = "map"` with string keys and values).
    Map,
}

/// The value a field takes when it is absent or `null`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DefaultValue {
    /// No default: the field must be set.
    Required,
    /// Unset (`null`).
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Num(f64),
    /// A string.
    Str(&'static str),
    /// A string when absent; an explicit `null` clears it.
    StrOrNull(&'static str),
    /// An array of strings.
    List(&'static [&'static str]),
    /// An array of integers.
    Ints(&'static [i64]),
}

/// One row of a plugin's schema table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Field {
    /// The field name (Kong's).
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Its default.
    pub default: DefaultValue,
}

/// Shorthand for a table row.
pub const fn field(name: &'static str, kind: Kind, default: DefaultValue) -> Field {
    Field {
        name,
        kind,
        default,
    }
}

impl DefaultValue {
    /// The default as JSON (`null` for [`DefaultValue::Required`] and [`DefaultValue::Null`]).
    pub fn to_value(self) -> Value {
        match self {
            DefaultValue::Required | DefaultValue::Null => Value::Null,
            DefaultValue::Bool(b) => Value::Bool(b),
            DefaultValue::Num(n) => Value::from(n),
            DefaultValue::Str(s) | DefaultValue::StrOrNull(s) => Value::from(s),
            DefaultValue::List(items) => Value::from(items.to_vec()),
            DefaultValue::Ints(items) => Value::from(items.to_vec()),
        }
    }
}

/// Checks `value` (a plugin's raw `config`) against `fields` and returns every field, in table order, with
/// its value or its default. `Err` holds every problem: unknown fields first, then by field.
pub fn normalize(fields: &[Field], value: &Value) -> Result<Map<String, Value>, Vec<FieldError>> {
    let empty = Map::new();
    let map = match value {
        Value::Object(m) => m,
        Value::Null => &empty,
        _ => return Err(vec![FieldError::new("", "expected a record")]),
    };
    let mut errors: Vec<FieldError> = map
        .keys()
        .filter(|k| !fields.iter().any(|f| f.name == k.as_str()))
        .map(|k| FieldError::new(k.clone(), "unknown field"))
        .collect();
    let mut out = Map::with_capacity(fields.len());
    for f in fields {
        if let Kind::Record(inner) = f.kind {
            let given = map.get(f.name).unwrap_or(&Value::Null);
            let value = match normalize(inner, given) {
                Ok(m) => Value::Object(m),
                Err(nested) => {
                    let prefix = |p: &str| match p {
                        "" => f.name.to_owned(),
                        p => format!("{}.{p}", f.name),
                    };
                    errors.extend(
                        nested
                            .into_iter()
                            .map(|e| FieldError::new(prefix(&e.path), e.message)),
                    );
                    Value::Null
                }
            };
            out.insert(f.name.to_owned(), value);
            continue;
        }
        let value = match (map.get(f.name), f.default) {
            (Some(Value::Null), DefaultValue::StrOrNull(_)) => Value::Null,
            (None | Some(Value::Null), DefaultValue::Required) => {
                errors.push(FieldError::new(f.name, "required field missing"));
                Value::Null
            }
            (None | Some(Value::Null), _) => default_of(f),
            (Some(v), _) => check(f.name, f.kind, v, &mut errors).unwrap_or(Value::Null),
        };
        out.insert(f.name.to_owned(), value);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Kong's deprecated shorthand fields (`shorthand_fields` with `deprecation.replaced_with`): each
/// `(flat name, record, field)` moves a flat value into `record.field` of `config`, with Kong's rule
/// (`kong/db/schema/init.lua`, `process_auto_fields`): a `null` shorthand does nothing; when the record
/// field is also set (not `null`) the two must be equal, else
/// `both deprecated and new field are used but their values mismatch: …`; else the shorthand's value is
/// written. The flat names are removed, so the record is the one place the value lives.
pub fn apply_shorthands(
    value: &Value,
    shorthands: &[(&str, &str, &str)],
) -> Result<Value, Vec<FieldError>> {
    let Value::Object(map) = value else {
        return Ok(value.clone());
    };
    if !shorthands
        .iter()
        .any(|(flat, _, _)| map.contains_key(*flat))
    {
        return Ok(value.clone());
    }
    let mut out = map.clone();
    let mut errors = Vec::new();
    for (flat, record, field) in shorthands {
        let Some(v) = out.remove(*flat) else { continue };
        if v.is_null() {
            continue;
        }
        let target = out
            .entry(record.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if target.is_null() {
            *target = Value::Object(Map::new());
        }
        let Value::Object(rec) = target else {
            continue; // the record's own check reports "expected a record"
        };
        match rec.get(*field) {
            Some(existing) if !existing.is_null() && !same(existing, &v) => {
                errors.push(FieldError::new(
                    *flat,
                    format!(
                        "both deprecated and new field are used but their values mismatch: {flat} = {} vs {record}.{field} = {}",
                        lua_text(&v),
                        lua_text(existing)
                    ),
                ));
            }
            _ => {
                rec.insert(field.to_string(), v);
            }
        }
    }
    if errors.is_empty() {
        Ok(Value::Object(out))
    } else {
        Err(errors)
    }
}

/// Equal as Kong compares (numbers by value: `6379` and `6379.0` are the same).
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// A value as Lua's `tostring` shows it in Kong's message.
fn lua_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
            .map_or_else(|| n.to_string(), |f| format!("{}", f as i64)),
        other => other.to_string(),
    }
}

/// The defaults of every field, in table order (`null` where there is none).
pub fn defaults(fields: &[Field]) -> Map<String, Value> {
    fields
        .iter()
        .map(|f| match f.kind {
            Kind::Record(inner) => (f.name.to_owned(), Value::Object(defaults(inner))),
            _ => (f.name.to_owned(), default_of(f)),
        })
        .collect()
}

/// A field's default as JSON; an integer field's default is a JSON integer.
fn default_of(f: &Field) -> Value {
    match (f.kind, f.default) {
        (Kind::Integer, DefaultValue::Num(n)) => Value::from(n as u64),
        (Kind::Int, DefaultValue::Num(n)) => Value::from(n as i64),
        (_, d) => d.to_value(),
    }
}

/// A set value checked against its kind; `None` (and errors recorded) when it does not fit.
fn check(name: &str, kind: Kind, v: &Value, errors: &mut Vec<FieldError>) -> Option<Value> {
    let mut fail = |path: String, message: String| {
        errors.push(FieldError::new(path, message));
        None
    };
    match kind {
        Kind::Str => match v {
            Value::String(_) => Some(v.clone()),
            _ => fail(name.into(), "expected a string".into()),
        },
        Kind::Url => match url_error(v) {
            None => Some(v.clone()),
            Some(message) => fail(name.into(), message.into()),
        },
        Kind::Bool => match v {
            Value::Bool(_) => Some(v.clone()),
            _ => fail(name.into(), "expected a boolean".into()),
        },
        Kind::Number => match v {
            Value::Number(n) if n.as_f64().is_some_and(|f| f >= 0.0) => Some(v.clone()),
            Value::Number(_) => fail(
                name.into(),
                "value should be between 0 and 9007199254740991".into(),
            ),
            _ => fail(name.into(), "expected a number".into()),
        },
        Kind::Positive => match v {
            Value::Number(n) if n.as_f64().is_some_and(|f| f > 0.0) => Some(v.clone()),
            Value::Number(_) => fail(name.into(), "value must be greater than 0".into()),
            _ => fail(name.into(), "expected a number".into()),
        },
        Kind::Signed => match v {
            Value::Number(_) => Some(v.clone()),
            _ => fail(name.into(), "expected a number".into()),
        },
        Kind::Integer => match v {
            Value::Number(n) if n.as_u64().is_some() => Some(v.clone()),
            Value::Number(n) if n.as_f64().is_some_and(|f| f >= 0.0 && f.fract() == 0.0) => {
                Some(Value::from(n.as_f64().unwrap_or(0.0) as u64))
            }
            Value::Number(_) => fail(
                name.into(),
                "expected an integer between 0 and 9007199254740991".into(),
            ),
            _ => fail(name.into(), "expected an integer".into()),
        },
        Kind::Int => integer(v).or_else(|| fail(name.into(), "expected an integer".into())),
        Kind::Integers => {
            let Value::Array(items) = v else {
                return fail(name.into(), "expected an array".into());
            };
            let before = errors.len();
            let out: Vec<Value> = (items.iter().enumerate())
                .filter_map(|(i, item)| {
                    let checked = integer(item);
                    if checked.is_none() {
                        errors.push(FieldError::new(
                            format!("{name}[{i}]"),
                            "expected an integer",
                        ));
                    }
                    checked
                })
                .collect();
            (errors.len() == before).then_some(Value::Array(out))
        }
        // Handled by `normalize` (nested defaults and paths).
        Kind::Record(_) => Some(v.clone()),
        Kind::Records(inner) => {
            let Value::Array(items) = v else {
                return fail(name.into(), "expected an array".into());
            };
            let before = errors.len();
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                if item.is_null() {
                    errors.push(FieldError::new(format!("{name}[{i}]"), "expected a record"));
                    continue;
                }
                match normalize(inner, item) {
                    Ok(m) => out.push(Value::Object(m)),
                    Err(nested) => errors.extend(nested.into_iter().map(|e| {
                        let path = match e.path.as_str() {
                            "" => format!("{name}[{i}]"),
                            p => format!("{name}[{i}].{p}"),
                        };
                        FieldError::new(path, e.message)
                    })),
                }
            }
            (errors.len() == before).then_some(Value::Array(out))
        }
        Kind::OneOf(names) => one_of(name.to_owned(), v, names, errors),
        Kind::Map => {
            let Value::Object(entries) = v else {
                return fail(name.into(), "expected a map".into());
            };
            let before = errors.len();
            for (k, item) in entries {
                if !item.is_string() {
                    errors.push(FieldError::new(format!("{name}.{k}"), "expected a string"));
                }
            }
            (errors.len() == before).then(|| v.clone())
        }
        Kind::Strings | Kind::SetOf(_) | Kind::Urls => {
            let Value::Array(items) = v else {
                return fail(name.into(), "expected an array".into());
            };
            let before = errors.len();
            let mut out: Vec<Value> = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let checked = match kind {
                    Kind::SetOf(names) => one_of(format!("{name}[{i}]"), item, names, errors),
                    Kind::Urls => match url_error(item) {
                        None => Some(item.clone()),
                        Some(message) => {
                            errors.push(FieldError::new(format!("{name}[{i}]"), message));
                            None
                        }
                    },
                    _ if item.is_string() => Some(item.clone()),
                    _ => {
                        errors.push(FieldError::new(format!("{name}[{i}]"), "expected a string"));
                        None
                    }
                };
                match checked {
                    Some(c) if matches!(kind, Kind::SetOf(_)) && out.contains(&c) => {}
                    Some(c) => out.push(c),
                    None => {}
                }
            }
            (errors.len() == before).then_some(Value::Array(out))
        }
    }
}

/// `v` as a JSON integer when it is a whole number (`3.0` is `3`), else `None`.
fn integer(v: &Value) -> Option<Value> {
    let Value::Number(n) = v else { return None };
    if n.is_i64() || n.is_u64() {
        return Some(v.clone());
    }
    n.as_f64()
        .filter(|f| f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15)
        .map(|f| Value::from(f as i64))
}

/// Why `v` is not an `http`/`https` URL with a host (`None`: it is one).
fn url_error(v: &Value) -> Option<&'static str> {
    let Value::String(s) = v else {
        return Some("expected a string");
    };
    match url::Url::parse(s) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.has_host() => None,
        Ok(_) => Some("missing host in url or unsupported scheme (http, https)"),
        Err(_) => Some("invalid url"),
    }
}

fn one_of(path: String, v: &Value, names: &[&str], errors: &mut Vec<FieldError>) -> Option<Value> {
    match v.as_str() {
        Some(s) if names.contains(&s) => Some(v.clone()),
        _ => {
            errors.push(FieldError::new(
                path,
                format!("expected one of: {}", names.join(", ")),
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TABLE: &[Field] = &[
        field("url", Kind::Url, DefaultValue::Required),
        field("n", Kind::Number, DefaultValue::Num(3.0)),
        field("tags", Kind::SetOf(&["a", "b"]), DefaultValue::List(&["a"])),
        field("header", Kind::Str, DefaultValue::StrOrNull("x")),
    ];

    #[test]
    fn defaults_fill_absent_and_null_fields() {
        let out = normalize(TABLE, &json!({"url": "http://h/", "n": null})).unwrap();
        assert_eq!(
            Value::Object(out),
            json!({"url": "http://h/", "n": 3.0, "tags": ["a"], "header": "x"})
        );
        let out = normalize(TABLE, &json!({"url": "http://h/", "header": null})).unwrap();
        assert_eq!(out["header"], Value::Null);
        assert_eq!(defaults(TABLE)["url"], Value::Null);
    }

    #[test]
    fn arrays_of_records_are_checked_item_by_item() {
        const ITEM: &[Field] = &[
            field("url", Kind::Url, DefaultValue::Required),
            field("n", Kind::Number, DefaultValue::Num(1.0)),
        ];
        const OUTER: &[Field] = &[field("items", Kind::Records(ITEM), DefaultValue::Null)];
        let out = normalize(OUTER, &json!({"items": [{"url": "http://h/"}]})).unwrap();
        assert_eq!(out["items"], json!([{"url": "http://h/", "n": 1.0}]));
        assert_eq!(normalize(OUTER, &json!({})).unwrap()["items"], Value::Null);
        let errors = normalize(
            OUTER,
            &json!({"items": [{"url": "http://h/"}, {"n": -1, "x": 1}, null, 3]}),
        )
        .unwrap_err();
        let got: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.path.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("items[1].x", "unknown field"),
                ("items[1].url", "required field missing"),
                (
                    "items[1].n",
                    "value should be between 0 and 9007199254740991"
                ),
                ("items[2]", "expected a record"),
                ("items[3]", "expected a record"),
            ]
        );
        let e = normalize(OUTER, &json!({"items": {"url": "http://h/"}})).unwrap_err();
        assert_eq!(
            (e[0].path.as_str(), e[0].message.as_str()),
            ("items", "expected an array")
        );
    }

    #[test]
    fn sets_drop_duplicates_and_errors_are_collected_in_order() {
        let out = normalize(TABLE, &json!({"url": "http://h/", "tags": ["b", "b", "a"]})).unwrap();
        assert_eq!(out["tags"], json!(["b", "a"]));
        let errors = normalize(TABLE, &json!({"zz": 1, "n": -1, "tags": ["c", 1]})).unwrap_err();
        let got: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.path.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("zz", "unknown field"),
                ("url", "required field missing"),
                ("n", "value should be between 0 and 9007199254740991"),
                ("tags[0]", "expected one of: a, b"),
                ("tags[1]", "expected one of: a, b"),
            ]
        );
    }
}

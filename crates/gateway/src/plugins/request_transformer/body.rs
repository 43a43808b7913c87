//! request-transformer's body edits (`transform_url_encoded_body`, `transform_json_body` of Kong's
//! `access.lua`): remove, rename and replace only touch a non-empty body; add and append also build one from
//! nothing. `None`: the body goes upstream as it came.

use serde_json::{Map, Value};

use super::args::Args;

/// One list of a request's edits, its values rendered.
#[derive(Debug, Default)]
pub struct Rendered {
    /// Names to remove.
    pub remove: Vec<String>,
    /// `(old, new)`.
    pub rename: Vec<(String, String)>,
    /// `(name, value)` where present.
    pub replace: Vec<(String, String)>,
    /// `(name, value)` where absent.
    pub add: Vec<(String, String)>,
    /// `(name, value)` added.
    pub append: Vec<(String, String)>,
}

/// A form body's edits (Kong's `transform_url_encoded_body`).
pub fn form(body: &[u8], ops: &Rendered) -> Option<Vec<u8>> {
    let mut args = Args::decode(&String::from_utf8_lossy(body));
    let mut changed = false;
    if !body.is_empty() {
        for name in &ops.remove {
            args.remove(name);
            changed = true;
        }
        for (old, new) in &ops.rename {
            changed |= args.rename(old, new);
        }
        for (name, value) in &ops.replace {
            if args.get(name).is_some() {
                args.set(name, value.clone());
                changed = true;
            }
        }
    }
    for (name, value) in &ops.add {
        if args.get(name).is_none() {
            args.set(name, value.clone());
            changed = true;
        }
    }
    for (name, value) in &ops.append {
        args.append(name, value.clone());
        changed = true;
    }
    changed.then(|| args.encode().into_bytes())
}

/// Lua's truthiness of a JSON value (`false` and absence are false; `null` is cjson's `null`, a truthy value).
fn truthy(v: Option<&Value>) -> bool {
    !matches!(v, None | Some(Value::Bool(false)))
}

/// Kong's `append_value` over a JSON value: a string becomes `[it, value]`, an array grows, an object gets the
/// value at key `1` (Lua's `table.insert` on a table without array part), anything else becomes `[value]`.
fn append_json(current: Option<Value>, value: String) -> Value {
    match current {
        Some(Value::String(s)) => Value::Array(vec![Value::String(s), Value::String(value)]),
        Some(Value::Array(mut a)) => {
            a.push(Value::String(value));
            Value::Array(a)
        }
        Some(Value::Object(mut o)) => {
            o.insert("1".into(), Value::String(value));
            Value::Object(o)
        }
        _ => Value::Array(vec![Value::String(value)]),
    }
}

/// A JSON body's edits (Kong's `transform_json_body`): an empty body is `{}`; a body that is not a JSON
/// object goes through unchanged.
pub fn json(body: &[u8], ops: &Rendered) -> Option<Vec<u8>> {
    let mut params: Map<String, Value> = if body.is_empty() {
        Map::new()
    } else {
        match serde_json::from_slice(body) {
            Ok(Value::Object(m)) => m,
            _ => return None,
        }
    };
    let mut changed = false;
    if !body.is_empty() {
        for name in &ops.remove {
            params.shift_remove(name);
            changed = true;
        }
        for (old, new) in &ops.rename {
            if old != new && truthy(params.get(old)) {
                if let Some(v) = params.shift_remove(old) {
                    params.insert(new.clone(), v);
                    changed = true;
                }
            }
        }
        for (name, value) in &ops.replace {
            if truthy(params.get(name)) {
                params.insert(name.clone(), Value::String(value.clone()));
                changed = true;
            }
        }
    }
    for (name, value) in &ops.add {
        if !truthy(params.get(name)) {
            params.insert(name.clone(), Value::String(value.clone()));
            changed = true;
        }
    }
    for (name, value) in &ops.append {
        let current = params.get(name).cloned();
        params.insert(name.clone(), append_json(current, value.clone()));
        changed = true;
    }
    changed.then(|| serde_json::to_vec(&Value::Object(params)).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn json_edits_follow_kongs_spec() {
        let ops = Rendered {
            remove: vec!["toremove".into()],
            rename: pairs(&[("old", "new")]),
            replace: pairs(&[("p1", "updated"), ("absent", "x"), ("f", "y")]),
            add: pairs(&[("p1", "no"), ("f", "added-over-false"), ("n", "v")]),
            append: pairs(&[("p1", "a"), ("arr", "b"), ("num", "c")]),
        };
        let body = br#"{"toremove":1,"old":"o","p1":"v","f":false,"arr":[],"num":3}"#;
        let out: Value = serde_json::from_slice(&json(body, &ops).unwrap()).unwrap();
        assert_eq!(
            out,
            json!({"new": "o", "p1": ["updated", "a"], "f": "added-over-false", "arr": ["b"],
                   "num": ["c"], "n": "v"})
        );
        // Malformed or not an object: unchanged; empty: built from nothing by add only.
        assert_eq!(json(b"{bad", &ops), None);
        assert_eq!(json(b"[1]", &ops), None);
        let only_add = Rendered {
            add: pairs(&[("body", "somecontent")]),
            remove: vec!["x".into()],
            ..Rendered::default()
        };
        assert_eq!(json(b"", &only_add).unwrap(), br#"{"body":"somecontent"}"#);
        // An empty array stays an array.
        let out = json(br#"{"emptyarray":[]}"#, &only_add).unwrap();
        assert!(String::from_utf8(out)
            .unwrap()
            .contains(r#""emptyarray":[]"#));
    }

    #[test]
    fn form_edits_follow_kongs_spec() {
        let ops = Rendered {
            remove: vec!["toremove".into()],
            rename: pairs(&[("originalparam", "renamedparam")]),
            replace: pairs(&[("p1", "updated"), ("absent", "x")]),
            add: pairs(&[("p1", "no"), ("p2", "v2")]),
            append: pairs(&[("p3", "a"), ("p3", "b")]),
        };
        let out = form(b"toremove=1&originalparam=yes&p1=v", &ops).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "p1=updated&p2=v2&p3=a&p3=b&renamedparam=yes"
        );
        // An empty body: only add and append.
        let out = form(b"", &ops).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "p1=no&p2=v2&p3=a&p3=b");
        assert_eq!(form(b"a=1", &Rendered::default()), None);
    }
}

//! response-transformer's JSON body edits (Kong's `body_transformer.lua`): top-level keys removed, renamed,
//! replaced (when truthy), added (when absent or `false`), appended; a value is the configured text as Kong's
//! `json_value` makes it (cjson's string escaping kept, `\"` and `\/` undone) cast by its `json_types` entry.

use gateway_config::plugins::request_transformer::split_pair;
use gateway_config::plugins::response_transformer::{Pairs, ResponseTransformerConfig};
use serde_json::{Map, Number, Value};

/// The JSON edits of one config.
pub struct JsonEdits {
    remove: Vec<String>,
    rename: Vec<(String, String)>,
    replace: Vec<(String, Value)>,
    add: Vec<(String, Value)>,
    append: Vec<(String, Value)>,
}

/// cjson's escaping of a string's inside, then Kong's `gsub`s (`\"` to `"`, `\/` to `/`).
fn kong_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// Kong's `json_value` with its `cast_value`: `None` where Lua gets `nil` (a `number` that does not parse).
fn json_value(value: &str, json_type: Option<&str>) -> Option<Value> {
    let v = kong_text(value);
    match json_type {
        Some("number") => {
            let n: f64 = v.trim().parse().ok().filter(|n: &f64| n.is_finite())?;
            if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
                Some(Value::Number(Number::from(n as i64)))
            } else {
                Number::from_f64(n).map(Value::Number)
            }
        }
        Some("boolean") => Some(Value::Bool(v == "true")),
        _ => Some(Value::String(v)),
    }
}

fn typed(pairs: &Pairs) -> Vec<(String, Value)> {
    pairs
        .json
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let (name, value) = split_pair(e)?;
            // An entry without a value is Lua's `nil`: skipped.
            if value.is_empty() {
                return None;
            }
            let v = json_value(value, pairs.json_types.get(i).map(String::as_str))?;
            Some((name.to_owned(), v))
        })
        .collect()
}

fn truthy(v: Option<&Value>) -> bool {
    !matches!(v, None | Some(Value::Bool(false)))
}

impl JsonEdits {
    /// The edits of `cfg`.
    pub fn new(cfg: &ResponseTransformerConfig) -> Self {
        JsonEdits {
            remove: (cfg.remove.json.iter())
                .filter_map(|e| split_pair(e).map(|(n, _)| n.to_owned()))
                .collect(),
            rename: (cfg.rename.json.iter())
                .filter_map(|e| split_pair(e))
                .filter(|(_, new)| !new.is_empty())
                .map(|(old, new)| (old.to_owned(), new.to_owned()))
                .collect(),
            replace: typed(&cfg.replace),
            add: typed(&cfg.add),
            append: typed(&cfg.append),
        }
    }

    /// The edited body; `Err` when it is not a JSON object (Kong: `failed parsing json body`, sent unchanged).
    pub fn apply(&self, body: &[u8]) -> Result<Vec<u8>, &'static str> {
        let mut json: Map<String, Value> = match serde_json::from_slice(body) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err("not a JSON object"),
            Err(_) => return Err("failed parsing json body"),
        };
        for name in &self.remove {
            json.shift_remove(name);
        }
        for (old, new) in &self.rename {
            // Kong sets the new key, then clears the old one: a key renamed to itself is gone.
            if let Some(v) = json.shift_remove(old).filter(|_| old != new) {
                json.insert(new.clone(), v);
            }
        }
        for (name, v) in &self.replace {
            if truthy(json.get(name)) {
                json.insert(name.clone(), v.clone());
            }
        }
        for (name, v) in &self.add {
            if !truthy(json.get(name)) {
                json.insert(name.clone(), v.clone());
            }
        }
        for (name, v) in &self.append {
            let new = match json.get(name).cloned() {
                Some(Value::String(s)) => Value::Array(vec![Value::String(s), v.clone()]),
                Some(Value::Array(mut a)) => {
                    a.push(v.clone());
                    Value::Array(a)
                }
                Some(Value::Object(mut o)) => {
                    o.insert("1".into(), v.clone());
                    Value::Object(o)
                }
                _ => Value::Array(vec![v.clone()]),
            };
            json.insert(name.clone(), new);
        }
        serde_json::to_vec(&Value::Object(json)).map_err(|_| "encoding failed")
    }
}

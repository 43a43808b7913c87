//! The `file-log` plugin's typed config: Kong's fields, defaults and checks (`kong/plugins/file-log/
//! schema.lua`), from one `FIELDS` table.
//!
//! Beyond Kong: a `path` whose directory does not exist is refused at load (Kong fails at the first request,
//! with an error line per request). `custom_fields_by_lua` is accepted only unset: Lua is not run here.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::{field, normalize, DefaultValue as D, Field, Kind};
use crate::error::FieldError;

/// The typed `file-log` config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileLogConfig {
    /// The file the JSON lines are appended to (created when missing).
    pub path: String,
    /// Close and reopen the file for every entry (for log rotation by renaming).
    pub reopen: bool,
    /// Kong's Lua expressions for extra fields: only `null` (not supported yet).
    pub custom_fields_by_lua: Option<serde_json::Map<String, Value>>,
}

/// The schema, in Kong's order.
pub const FIELDS: &[Field] = &[
    field("path", Kind::Str, D::Required),
    field("reopen", Kind::Bool, D::Bool(false)),
    field("custom_fields_by_lua", Kind::Map, D::Null),
];

/// The message for a set `custom_fields_by_lua` (log plugins share it).
pub const LUA_NOT_SUPPORTED: &str =
    "not supported yet: Lua code is not run by this gateway (leave custom_fields_by_lua unset)";

/// Kong's filename pattern `^[^%s*&%%\`][^*&%%\`]*[^%s*&%%\`]$`: at least two characters, no `*`, `&`,
/// `%` or backtick, no white space at either end.
pub fn valid_filename(path: &str) -> bool {
    let bad = |c: char| matches!(c, '*' | '&' | '%' | '`');
    let chars: Vec<char> = path.chars().collect();
    chars.len() >= 2
        && !chars.iter().copied().any(bad)
        && !chars[0].is_whitespace()
        && !chars[chars.len() - 1].is_whitespace()
}

impl FileLogConfig {
    /// Parses and checks a raw `config` (every error collected, Kong's messages).
    pub fn from_value(value: &Value) -> Result<Self, Vec<FieldError>> {
        let map = normalize(FIELDS, value)?;
        let cfg: FileLogConfig = serde_json::from_value(Value::Object(map))
            .map_err(|e| vec![FieldError::new("", e.to_string())])?;
        let mut errors = Vec::new();
        if !valid_filename(&cfg.path) {
            errors.push(FieldError::new("path", "not a valid filename"));
        } else {
            let p = std::path::Path::new(&cfg.path);
            let dir = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => std::path::Path::new("."),
            };
            if !dir.is_dir() {
                errors.push(FieldError::new(
                    "path",
                    format!(
                        "not a valid filename: directory {:?} does not exist",
                        dir.display().to_string()
                    ),
                ));
            }
        }
        if cfg.custom_fields_by_lua.is_some() {
            errors.push(FieldError::new("custom_fields_by_lua", LUA_NOT_SUPPORTED));
        }
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(errors)
        }
    }

    /// The whole config with defaults (`null` for unset fields), in schema order.
    pub fn to_value_with_defaults(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(v: Value) -> Vec<(String, String)> {
        FileLogConfig::from_value(&v)
            .unwrap_err()
            .into_iter()
            .map(|e| (e.path, e.message))
            .collect()
    }

    #[test]
    fn path_is_checked_as_kong_and_its_directory_must_exist() {
        let c = FileLogConfig::from_value(&json!({"path": "/tmp/file-log.json"})).unwrap();
        assert!(!c.reopen);
        assert_eq!(
            c.to_value_with_defaults(),
            json!({"path": "/tmp/file-log.json", "reopen": false, "custom_fields_by_lua": null})
        );
        assert_eq!(
            errors(json!({})),
            vec![("path".into(), "required field missing".into())]
        );
        for bad in ["/tmp/a*b", " /tmp/x", "/tmp/x ", "x", "/tmp/`x`"] {
            assert_eq!(
                errors(json!({ "path": bad })),
                vec![("path".into(), "not a valid filename".into())],
                "{bad}"
            );
        }
        assert_eq!(
            errors(json!({"path": "/nonexistent-dir-for-test/x.log"})),
            vec![(
                "path".into(),
                "not a valid filename: directory \"/nonexistent-dir-for-test\" does not exist"
                    .into()
            )]
        );
        assert_eq!(
            errors(json!({"path": "/tmp/x.log", "custom_fields_by_lua": {"a": "return 1"}})),
            vec![("custom_fields_by_lua".into(), LUA_NOT_SUPPORTED.into())]
        );
    }
}

//! The `cors` plugin's typed config: Kong's fields, defaults and checks (`kong/plugins/cors/schema.lua`), from
//! one `FIELDS` table.
//!
//! Every field of Kong's schema is built. An origin is `*` or a regex (Kong's `is_regex`: a flat domain is a
//! regex too); it is checked with Rust's `regex` syntax, so PCRE-only constructs (look-around, backreferences)
//! are refused at load with Kong's message. `credentials: true` with `origins: ["*"]` is accepted, as in Kong
//! (the plugin then echoes the request's `Origin`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::{field, normalize, DefaultValue as D, Field, Kind};
use crate::error::FieldError;

/// Kong's `METHODS`: the allowed values of `methods` and its default, in Kong's order.
pub const METHODS: &[&str] = &[
    "GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT",
];

/// The typed `cors` config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorsConfig {
    /// Allowed origins: `*`, flat domains or regexes (unset or empty: every origin).
    pub origins: Option<Vec<String>>,
    /// `Access-Control-Allow-Headers` of a preflight answer (unset: the request's
    /// `Access-Control-Request-Headers`).
    pub headers: Option<Vec<String>>,
    /// `Access-Control-Expose-Headers` of every other answer.
    pub exposed_headers: Option<Vec<String>>,
    /// `Access-Control-Allow-Methods` of a preflight answer.
    pub methods: Option<Vec<String>>,
    /// `Access-Control-Max-Age` of a preflight answer, in seconds.
    pub max_age: Option<f64>,
    /// Send `Access-Control-Allow-Credentials: true`.
    pub credentials: bool,
    /// Answer `Access-Control-Request-Private-Network: true` with `Access-Control-Allow-Private-Network: true`.
    pub private_network: bool,
    /// Proxy the preflight upstream instead of answering it.
    pub preflight_continue: bool,
    /// Add the CORS headers to answers of requests without an `Origin` too.
    pub allow_origin_absent: bool,
}

/// The schema, in Kong's order.
pub const FIELDS: &[Field] = &[
    field("origins", Kind::Strings, D::Null),
    field("headers", Kind::Strings, D::Null),
    field("exposed_headers", Kind::Strings, D::Null),
    field("methods", Kind::Strings, D::List(METHODS)),
    field("max_age", Kind::Signed, D::Null),
    field("credentials", Kind::Bool, D::Bool(false)),
    field("private_network", Kind::Bool, D::Bool(false)),
    field("preflight_continue", Kind::Bool, D::Bool(false)),
    field("allow_origin_absent", Kind::Bool, D::Bool(true)),
];

/// Kong's `one_of` message for `methods`.
fn methods_message() -> String {
    format!("expected one of: {}", METHODS.join(", "))
}

/// Kong's `validate_asterisk_or_regex`: `*`, or a pattern that compiles (PCRE's "nothing to repeat" kept: a
/// quantifier on a quantifier, such as `**`, is refused, as Rust's parser would take it).
pub fn origin_error(origin: &str) -> Option<String> {
    let ok = origin == "*"
        || (regex::Regex::new(origin).is_ok()
            && regex_syntax::ast::parse::Parser::new()
                .parse(origin)
                .is_ok_and(|ast| !repeats_a_repetition(&ast)));
    (!ok).then(|| format!("'{origin}' is not a valid regex"))
}

/// Whether a repetition applies directly to a repetition anywhere in `ast` (PCRE refuses it).
fn repeats_a_repetition(ast: &regex_syntax::ast::Ast) -> bool {
    use regex_syntax::ast::Ast;
    match ast {
        Ast::Repetition(r) => matches!(*r.ast, Ast::Repetition(_)) || repeats_a_repetition(&r.ast),
        Ast::Group(g) => repeats_a_repetition(&g.ast),
        Ast::Alternation(a) => a.asts.iter().any(repeats_a_repetition),
        Ast::Concat(c) => c.asts.iter().any(repeats_a_repetition),
        _ => false,
    }
}

impl CorsConfig {
    /// Parses and checks a raw `config` (every error collected, Kong's messages).
    pub fn from_value(value: &Value) -> Result<Self, Vec<FieldError>> {
        let map = normalize(FIELDS, value)?;
        let cfg: CorsConfig = serde_json::from_value(Value::Object(map))
            .map_err(|e| vec![FieldError::new("", e.to_string())])?;
        let mut errors = Vec::new();
        for (i, origin) in cfg.origins.iter().flatten().enumerate() {
            if let Some(message) = origin_error(origin) {
                errors.push(FieldError::new(format!("origins[{i}]"), message));
            }
        }
        for (i, method) in cfg.methods.iter().flatten().enumerate() {
            if !METHODS.contains(&method.as_str()) {
                errors.push(FieldError::new(format!("methods[{i}]"), methods_message()));
            }
        }
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(errors)
        }
    }

    /// The whole config with defaults (`null` for unset fields), in schema order.
    pub fn to_value_with_defaults(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        // A whole-number max_age shows as an integer, as Kong's JSON does.
        if let Some(n) = self.max_age.filter(|n| n.fract() == 0.0 && n.abs() < 9e15) {
            v["max_age"] = Value::from(n as i64);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(v: Value) -> Vec<(String, String)> {
        let e = CorsConfig::from_value(&v).unwrap_err();
        e.into_iter().map(|e| (e.path, e.message)).collect()
    }

    #[test]
    fn defaults_are_kongs() {
        let c = CorsConfig::from_value(&json!({})).unwrap();
        assert_eq!(
            c.methods.as_deref(),
            Some(&METHODS.iter().map(|m| m.to_string()).collect::<Vec<_>>()[..])
        );
        assert!(!c.credentials && !c.private_network && !c.preflight_continue);
        assert!(c.allow_origin_absent);
        assert_eq!((c.origins, c.max_age), (None, None));
        let v = CorsConfig::from_value(&json!({"max_age": 23}))
            .unwrap()
            .to_value_with_defaults();
        assert_eq!(v["max_age"], json!(23));
        assert_eq!(v["origins"], Value::Null);
    }

    #[test]
    fn origins_are_star_or_regexes_as_in_kongs_schema_spec() {
        for ok in ["*", "example.com", r".*\.example(?:-foo)?\.com", "a*?b+?"] {
            assert!(
                CorsConfig::from_value(&json!({ "origins": [ok] })).is_ok(),
                "{ok}"
            );
        }
        assert_eq!(
            errors(json!({"origins": [".*.example.com", "invalid_**regex"]})),
            [(
                "origins[1]".to_string(),
                "'invalid_**regex' is not a valid regex".to_string()
            )]
        );
        assert!(CorsConfig::from_value(&json!({"origins": ["(a"]})).is_err());
        // Kong accepts credentials with "*" (the Origin is echoed).
        assert!(CorsConfig::from_value(&json!({"origins": ["*"], "credentials": true})).is_ok());
    }

    #[test]
    fn methods_are_kongs() {
        for m in METHODS {
            assert!(CorsConfig::from_value(&json!({ "methods": [m] })).is_ok());
        }
        assert_eq!(
            errors(json!({"methods": ["GET", "FAKE"]})),
            [(
                "methods[1]".to_string(),
                "expected one of: GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS, TRACE, CONNECT"
                    .to_string()
            )]
        );
        assert_eq!(
            errors(json!({"credentials": "yes"})),
            [("credentials".to_string(), "expected a boolean".to_string())]
        );
    }
}

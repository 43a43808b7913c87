//! `gateway validate --report`: for a Kong file, what loads and what is refused and why, per entity, in one
//! run (the loader stops a run at the first unknown field; the report keeps going).
//!
//! The file is read as a document; each round loads it (then compiles its routes), gives every error to the
//! entity its path names (`services[2]`, `services[2].routes[0]`, `plugins[3]`, …, or a whole top-level key
//! such as `consumer_groups`), and drops those entities from the next round's document, until the rest loads.
//! An entity nested in a refused one is reported as not checked. Entity paths are the file's, whatever was
//! dropped before them.

use serde_json::{Map, Value};

use crate::error::ConfigError;

/// Keys whose items are entities, at the top level and nested (`services[].routes`, `upstreams[].targets`, …).
const COLLECTIONS: &[&str] = &[
    "services",
    "routes",
    "plugins",
    "consumers",
    "upstreams",
    "targets",
    "certificates",
    "snis",
    "ca_certificates",
    "vaults",
    "key_sets",
    "keys",
];

/// Most rounds tried before the rest is reported as not checked (each round drops at least one entity).
const MAX_ROUNDS: usize = 500;

/// What happened to one entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It loads.
    Loads,
    /// It is refused, with every reason found (field paths relative to the entity).
    Refused(Vec<String>),
    /// Its parent was refused, so it was not checked.
    NotChecked,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The entity's path in the file, e.g. `services[1].routes[0]`, or a top-level key (`consumer_groups`).
    pub path: String,
    /// Its name (`name`, `username`, `target`, the plugin's name, …) or its id, when it has one.
    pub label: String,
    /// The outcome.
    pub outcome: Outcome,
}

/// The whole report; `file` holds errors that belong to no entity (`_format_version`, YAML syntax, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Errors about the document itself.
    pub file: Vec<String>,
    /// Every entity, in file order.
    pub rows: Vec<Row>,
}

impl Report {
    /// True when nothing is refused.
    pub fn loads(&self) -> bool {
        self.file.is_empty() && self.rows.iter().all(|r| r.outcome == Outcome::Loads)
    }

    /// (entities that load, refused, not checked).
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |f: fn(&Outcome) -> bool| self.rows.iter().filter(|r| f(&r.outcome)).count();
        (
            n(|o| *o == Outcome::Loads),
            n(|o| matches!(o, Outcome::Refused(_))),
            n(|o| *o == Outcome::NotChecked),
        )
    }
}

/// The report of a YAML (or JSON) text.
pub fn report(text: &str) -> Report {
    let mut out = Report::default();
    // decK's env templates are rendered first, as the loader does: the rounds re-serialise the document as
    // JSON, where a template's quotes would be escaped and no longer read as one.
    let text = match crate::load::deck_env::render(text, &crate::load::deck_env::process_env) {
        Ok(text) => text,
        Err(e) => {
            out.file.push(e.to_string());
            return out;
        }
    };
    let doc: Value = match serde_yaml::from_str(&text) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            out.file.push("expected a mapping at the top level".into());
            return out;
        }
        Err(e) => {
            out.file.push(e.to_string());
            return out;
        }
    };
    let mut rows: Vec<Row> = Vec::new();
    list_entities(&doc, "", &mut rows);
    let mut dropped: Vec<String> = Vec::new();
    let mut reasons: Vec<(String, String)> = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let mut moved = Vec::new();
        let filtered = without(&doc, "", "", &dropped, &mut moved);
        let errors = match round(&filtered) {
            Ok(()) => break,
            Err(errors) => errors,
        };
        let before = dropped.len();
        for e in errors {
            let (entity, rest) = owner(&e.path, &moved);
            match entity {
                Some(p) => {
                    let reason = match rest.as_str() {
                        "" => e.message.clone(),
                        r => format!("{r}: {}", e.message),
                    };
                    reasons.push((p.clone(), reason));
                    if !dropped.contains(&p) {
                        dropped.push(p);
                    }
                }
                None => match unknown_top_key(&e) {
                    Some(key) if doc.get(&key).is_some() && !dropped.contains(&key) => {
                        rows.push(Row {
                            path: key.clone(),
                            label: count_label(doc.get(&key)),
                            outcome: Outcome::Loads,
                        });
                        reasons.push((key.clone(), "unknown field: not supported (yet)".into()));
                        dropped.push(key);
                    }
                    _ => out.file.push(e.to_string()),
                },
            }
        }
        if dropped.len() == before {
            break;
        }
    }
    for row in &mut rows {
        let own: Vec<String> = (reasons.iter())
            .filter(|(p, _)| *p == row.path)
            .map(|(_, r)| r.clone())
            .collect();
        row.outcome = if !own.is_empty() {
            Outcome::Refused(own)
        } else if dropped.iter().any(|d| is_inside(&row.path, d)) {
            Outcome::NotChecked
        } else {
            Outcome::Loads
        };
    }
    out.file.dedup();
    out.rows = rows;
    out
}

/// One load (and route compile) of the filtered document.
fn round(filtered: &Value) -> Result<(), Vec<ConfigError>> {
    let text = serde_json::to_string(filtered).unwrap_or_default();
    let config = crate::load::parse_str(&text).map_err(|e| e.0)?;
    crate::router::Router::compile(&config).map_err(|e| e.0)?;
    Ok(())
}

/// `value` without the entities at the `dropped` paths; `at` is the file's path of `value`, `new_at` its path
/// in the result. `moved` gets (path in the result, path in the file) of every entity kept.
fn without(
    value: &Value,
    at: &str,
    new_at: &str,
    dropped: &[String],
    moved: &mut Vec<(String, String)>,
) -> Value {
    let Value::Object(map) = value else {
        return value.clone();
    };
    let mut out = Map::with_capacity(map.len());
    for (k, v) in map {
        let key_path = join(at, k);
        if dropped.contains(&key_path) {
            continue;
        }
        match v {
            Value::Array(items) if COLLECTIONS.contains(&k.as_str()) => {
                let new_key = join(new_at, k);
                let mut kept = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let path = format!("{key_path}[{i}]");
                    if dropped.contains(&path) {
                        continue;
                    }
                    let new_path = format!("{new_key}[{}]", kept.len());
                    moved.push((new_path.clone(), path.clone()));
                    kept.push(without(item, &path, &new_path, dropped, moved));
                }
                out.insert(k.clone(), Value::Array(kept));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

/// Every entity of the document, in file order (parents before their children).
fn list_entities(value: &Value, at: &str, rows: &mut Vec<Row>) {
    let Value::Object(map) = value else { return };
    for (k, v) in map {
        let Value::Array(items) = v else { continue };
        if !COLLECTIONS.contains(&k.as_str()) {
            continue;
        }
        for (i, item) in items.iter().enumerate() {
            if !item.is_object() {
                continue;
            }
            let path = format!("{}[{i}]", join(at, k));
            rows.push(Row {
                path: path.clone(),
                label: label(item),
                outcome: Outcome::Loads,
            });
            list_entities(item, &path, rows);
        }
    }
}

fn label(item: &Value) -> String {
    ["name", "username", "target", "id"]
        .iter()
        .find_map(|k| item.get(*k).and_then(Value::as_str))
        .unwrap_or("-")
        .to_owned()
}

fn count_label(v: Option<&Value>) -> String {
    match v {
        Some(Value::Array(items)) => format!("{} item(s)", items.len()),
        _ => "-".into(),
    }
}

/// The file's path of the deepest entity that `path` (a path in the filtered document: earlier drops shift
/// indexes) is in, and the rest of the path.
fn owner(path: &str, moved: &[(String, String)]) -> (Option<String>, String) {
    let best = (moved.iter())
        .filter(|(new, _)| is_inside(path, new))
        .max_by_key(|(new, _)| new.len());
    match best {
        Some((new, file)) => (
            Some(file.clone()),
            path[new.len()..].trim_start_matches('.').to_owned(),
        ),
        None => (None, path.to_owned()),
    }
}

/// `path` is `entity` or inside it.
fn is_inside(path: &str, entity: &str) -> bool {
    path == entity
        || path
            .strip_prefix(entity)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// `unknown field `x`` at the top level of the document.
fn unknown_top_key(e: &ConfigError) -> Option<String> {
    if !e.path.is_empty() {
        return None;
    }
    let rest = e.message.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_at_once_with_the_files_paths() {
        let text = r#"
_format_version: "3.0"
consumer_groups: [{name: gold}]
services:
- name: bad
  url: ftp://x
  routes: [{name: r0, paths: [/a]}]
- name: good
  url: http://127.0.0.1:1/
  routes:
  - {name: r1, paths: [/b], pathz: [x]}
  - {name: r2, paths: [/c]}
  plugins:
  - {name: kafka-upstream}
  - {name: rate-limiting, config: {minute: 1, redis_host: r, redis: {host: s}}}
"#;
        let r = report(text);
        let got: Vec<(&str, &str, String)> = (r.rows.iter())
            .map(|row| {
                let o = match &row.outcome {
                    Outcome::Loads => "loads".to_owned(),
                    Outcome::NotChecked => "not checked".to_owned(),
                    Outcome::Refused(why) => why.join("; "),
                };
                (row.path.as_str(), row.label.as_str(), o)
            })
            .collect();
        assert_eq!(got[0].0, "services[0]");
        assert!(got[0].2.starts_with("url: expected one of"), "{got:?}");
        assert_eq!(
            got[1],
            ("services[0].routes[0]", "r0", "not checked".into())
        );
        assert_eq!(got[2], ("services[1]", "good", "loads".into()));
        assert!(got[3].2.contains("unknown field `pathz`"), "{got:?}");
        assert_eq!(got[4], ("services[1].routes[1]", "r2", "loads".into()));
        assert!(got[5].2.contains("kafka-upstream"), "{got:?}");
        assert!(got[6].2.contains("values mismatch"), "{got:?}");
        assert_eq!(got[7].0, "consumer_groups");
        assert_eq!(r.counts(), (2, 5, 1), "{got:?}");
        assert!(!r.loads());
        assert!(
            report("_format_version: \"3.0\"\nservices: [{name: a, url: http://h/}]\n").loads()
        );
    }

    #[test]
    fn deck_templates_are_rendered_before_the_rounds() {
        // Rendered after the JSON round trip, the quotes would read `\"` and the action as unsupported.
        let r = report(
            "_format_version: \"3.0\"\nservices:\n- name: a\n  host: ${{ env \"DECK_REPORT_TEST_UNSET\" }}\n",
        );
        assert_eq!(r.file.len(), 1, "{r:?}");
        assert!(
            r.file[0].contains(
                "environment variable 'DECK_REPORT_TEST_UNSET' present in state file but not set"
            ),
            "{r:?}"
        );
    }
}

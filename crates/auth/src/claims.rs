//! Claim checks: `scopes_required` / `audience_required` against a claim (Kong's AND/OR semantics),
//! and reading claims by path from an introspection result.

use serde_json::{Map, Value};

/// A compact set of claim values (e.g. the scopes of a token).
pub type ClaimSet = Box<[Box<str>]>;

/// A requirement: entries are OR-ed, each entry a space-separated AND-set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    alternatives: Vec<Vec<Box<str>>>,
}

impl Requirement {
    /// Compiles `scopes_required`-style entries; `None` when there is nothing to require.
    pub fn parse(entries: Option<&[String]>) -> Option<Requirement> {
        let alternatives: Vec<Vec<Box<str>>> = entries?
            .iter()
            .map(|e| e.split_whitespace().map(Box::from).collect::<Vec<_>>())
            .filter(|set| !set.is_empty())
            .collect();
        (!alternatives.is_empty()).then_some(Requirement { alternatives })
    }

    /// Whether the claim values satisfy one of the alternatives; a missing claim never does.
    pub fn satisfied_by(&self, have: Option<&[Box<str>]>) -> bool {
        let Some(have) = have else { return false };
        self.alternatives
            .iter()
            .any(|all| all.iter().all(|need| have.iter().any(|h| h == need)))
    }
}

/// The claim at a path (`["scope"]`, or nested `["realm_access", "roles"]`).
pub fn claim_at<'v>(obj: &'v Map<String, Value>, path: &[String]) -> Option<&'v Value> {
    let (first, rest) = path.split_first()?;
    let mut v = obj.get(first)?;
    for p in rest {
        v = v.as_object()?.get(p)?;
    }
    Some(v)
}

/// A claim as a set: a string split on whitespace, or an array of strings (each also split).
/// Other JSON values give `None` (treated as missing).
pub fn claim_set(v: &Value) -> Option<ClaimSet> {
    let mut out: Vec<Box<str>> = Vec::new();
    match v {
        Value::String(s) => out.extend(s.split_whitespace().map(Box::from)),
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::String(s) => out.extend(s.split_whitespace().map(Box::from)),
                    Value::Number(n) => out.push(n.to_string().into()),
                    _ => {}
                }
            }
        }
        _ => return None,
    }
    Some(out.into_boxed_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(entries: &[&str]) -> Requirement {
        let v: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        Requirement::parse(Some(&v)).unwrap()
    }

    fn set(v: Value) -> Option<ClaimSet> {
        claim_set(&v)
    }

    #[test]
    fn and_within_entry_or_between_entries() {
        let r = req(&["openid read", "admin"]);
        assert!(r.satisfied_by(set(json!("read openid")).as_deref()));
        assert!(r.satisfied_by(set(json!("admin")).as_deref()));
        assert!(!r.satisfied_by(set(json!("openid")).as_deref()));
        assert!(!r.satisfied_by(set(json!("")).as_deref()));
        assert!(!r.satisfied_by(None));
    }

    #[test]
    fn array_claims_and_whitespace() {
        let r = req(&["read"]);
        assert!(r.satisfied_by(set(json!(["openid", "read"])).as_deref()));
        assert!(r.satisfied_by(set(json!("openid\tread")).as_deref()));
        assert!(!r.satisfied_by(set(json!("reader")).as_deref()));
        assert_eq!(set(json!(5)), None);
    }

    #[test]
    fn audience_string_or_array() {
        let r = req(&["api-a", "api-b"]);
        assert!(r.satisfied_by(set(json!("api-b")).as_deref()));
        assert!(r.satisfied_by(set(json!(["x", "api-a"])).as_deref()));
        assert!(!r.satisfied_by(set(json!(["x"])).as_deref()));
    }

    #[test]
    fn empty_requirements_are_none() {
        assert_eq!(Requirement::parse(None), None);
        assert_eq!(Requirement::parse(Some(&[])), None);
        assert_eq!(Requirement::parse(Some(&["  ".to_string()])), None);
    }

    #[test]
    fn nested_paths() {
        let obj = json!({"scope": "a", "realm": {"roles": ["x"]}});
        let obj = obj.as_object().unwrap();
        assert_eq!(claim_at(obj, &["scope".into()]), Some(&json!("a")));
        assert_eq!(
            claim_at(obj, &["realm".into(), "roles".into()]),
            Some(&json!(["x"]))
        );
        assert_eq!(claim_at(obj, &["realm".into(), "nope".into()]), None);
        assert_eq!(claim_at(obj, &["scope".into(), "x".into()]), None);
        assert_eq!(claim_at(obj, &[]), None);
    }
}

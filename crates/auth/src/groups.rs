//! Group names taken from a token claim (openid-connect's `authenticated_groups_claim`, Kong's
//! `kong.ctx.shared.authenticated_groups`), read by the `acl` plugin.
//!
//! Kept packed in one header-safe value (names separated by a tab) so that it rides in the introspection
//! result's [`crate::introspect::ClaimValues`] like the other identity claims: cached with the token and
//! carried by the cluster cache unchanged, no extra IdP call.

use http::HeaderValue;
use serde_json::Value;

const SEP: char = '\t';

/// The groups of an authenticated request (possibly none: a claim that is present but empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Groups(HeaderValue);

impl Groups {
    /// The groups of a claim value: an array of strings (other elements ignored), or a string of names
    /// separated by spaces or commas. `None` for any other JSON (the claim does not give groups).
    pub fn from_claim(v: &Value) -> Option<Groups> {
        let names: Vec<&str> = match v {
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            Value::String(s) => s.split([' ', ',']).collect(),
            _ => return None,
        };
        let mut packed = String::new();
        for name in names.iter().map(|n| n.trim()).filter(|n| valid(n)) {
            if !packed.is_empty() {
                packed.push(SEP);
            }
            packed.push_str(name);
        }
        HeaderValue::from_str(&packed).ok().map(Groups)
    }

    /// From the packed form ([`Groups::packed`]).
    pub fn from_packed(v: HeaderValue) -> Groups {
        Groups(v)
    }

    /// The packed form (what the caches keep).
    pub fn packed(&self) -> &HeaderValue {
        &self.0
    }

    /// The group names, in claim order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        // Built from `&str` or checked header bytes: a non-UTF-8 value (from a foreign cache entry) has no
        // names.
        let text = std::str::from_utf8(self.0.as_bytes()).unwrap_or("");
        text.split(SEP).filter(|n| !n.is_empty())
    }

    /// Whether `name` is one of the groups.
    pub fn contains(&self, name: &str) -> bool {
        self.iter().any(|g| g == name)
    }

    /// The names joined with `", "` (Kong's `X-Authenticated-Groups` value).
    pub fn header(&self) -> Option<HeaderValue> {
        let names: Vec<&str> = self.iter().collect();
        HeaderValue::from_str(&names.join(", ")).ok()
    }
}

/// A name that can be kept: not empty, no tab, and valid in a header value.
fn valid(name: &str) -> bool {
    !name.is_empty() && !name.contains(SEP) && HeaderValue::from_str(name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(v: Value) -> Option<Vec<String>> {
        Groups::from_claim(&v).map(|g| g.iter().map(str::to_owned).collect())
    }

    #[test]
    fn arrays_and_strings() {
        assert_eq!(names(json!(["a", "b c", 3])).unwrap(), ["a", "b c"]);
        assert_eq!(
            names(json!("read write,admin")).unwrap(),
            ["read", "write", "admin"]
        );
        assert_eq!(names(json!([])).unwrap(), Vec::<String>::new());
        assert_eq!(names(json!({"a": 1})), None);
        assert_eq!(names(json!(7)), None);
        let g = Groups::from_claim(&json!(["pro", "hello"])).unwrap();
        assert!(g.contains("pro") && !g.contains("pr"));
        assert_eq!(g.header().unwrap(), "pro, hello");
        assert_eq!(Groups::from_packed(g.packed().clone()), g);
        // A name that cannot be a header value is dropped, not the whole claim.
        assert_eq!(names(json!(["ok", "bad\nname"])).unwrap(), ["ok"]);
    }
}

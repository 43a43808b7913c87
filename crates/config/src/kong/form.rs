//! Kong's form decoding: urlencoded and multipart bodies become a JSON tree of strings (dotted keys,
//! repeated keys → arrays, `k[]` appends, `k[1]` positions, `k[x]` map keys); types come later from the schema.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use serde_json::{Map, Value};

/// A form body that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// A key such as `a..b` or `a[` that has no meaning.
    #[error("invalid form key {0:?}")]
    BadKey(String),
    /// The same key used both for a value and for a record or array (`a=1&a.b=2`).
    #[error("conflicting form keys for {0:?} (a value and a record or array)")]
    Conflict(String),
    /// A multipart body that does not follow RFC 7578.
    #[error("invalid multipart body: {0}")]
    Multipart(&'static str),
}

/// The name/value pairs of an `application/x-www-form-urlencoded` body, in order.
pub fn parse_urlencoded(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// The text fields of a `multipart/form-data` body (`content_type` carries the boundary), in order.
///
/// File parts are read as text like any other part (Kong does the same for the entity fields it knows).
pub fn parse_multipart(
    body: &[u8],
    content_type: &str,
) -> Result<Vec<(String, String)>, FormError> {
    let boundary = content_type
        .split(';')
        .skip(1)
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .filter(|b| !b.is_empty())
        .ok_or(FormError::Multipart("missing boundary"))?;
    let delimiter = format!("--{boundary}");
    let next_delimiter = format!("\r\n--{boundary}");
    let start = find(body, delimiter.as_bytes()).ok_or(FormError::Multipart("no part"))?;
    let mut rest = &body[start + delimiter.len()..];
    let mut fields = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(fields);
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or(FormError::Multipart("expected CRLF after the boundary"))?;
        let end = find(rest, next_delimiter.as_bytes())
            .ok_or(FormError::Multipart("unterminated part"))?;
        let part = &rest[..end];
        rest = &rest[end + next_delimiter.len()..];
        let (head, content) = match find(part, b"\r\n\r\n") {
            Some(i) => (&part[..i], &part[i + 4..]),
            None => return Err(FormError::Multipart("part without headers")),
        };
        let head = String::from_utf8_lossy(head);
        let name = head
            .split("\r\n")
            .filter_map(|line| line.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-disposition"))
            .and_then(|(_, v)| disposition_name(v))
            .ok_or(FormError::Multipart("part without a name"))?;
        fields.push((name, String::from_utf8_lossy(content).into_owned()));
    }
}

fn disposition_name(value: &str) -> Option<String> {
    value
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("name"))
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One step of a form key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    /// `a` or `[x]`: a record or map key.
    Key(String),
    /// `[2]`: a position (Kong counts from 1; only the order matters).
    Index(usize),
    /// `[]`: append.
    Append,
}

fn parse_key(key: &str) -> Result<Vec<Seg>, FormError> {
    let bad = || FormError::BadKey(key.to_string());
    let mut segs = Vec::new();
    let mut cur = String::new();
    let mut chars = key.chars().peekable();
    let mut after_bracket = false;
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if cur.is_empty() && !after_bracket {
                    return Err(bad());
                }
                if !cur.is_empty() {
                    segs.push(Seg::Key(std::mem::take(&mut cur)));
                }
                after_bracket = false;
                if chars.peek().is_none() {
                    return Err(bad());
                }
            }
            '[' => {
                if !cur.is_empty() {
                    segs.push(Seg::Key(std::mem::take(&mut cur)));
                } else if segs.is_empty() {
                    return Err(bad());
                }
                let mut inner = String::new();
                loop {
                    match chars.next() {
                        Some(']') => break,
                        Some(ch) => inner.push(ch),
                        None => return Err(bad()),
                    }
                }
                segs.push(if inner.is_empty() {
                    Seg::Append
                } else if inner.bytes().all(|b| b.is_ascii_digit()) {
                    Seg::Index(inner.parse().map_err(|_| bad())?)
                } else {
                    Seg::Key(inner)
                });
                after_bracket = true;
                if !matches!(chars.peek(), None | Some('.') | Some('[')) {
                    return Err(bad());
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        segs.push(Seg::Key(cur));
    }
    if segs.is_empty() {
        return Err(bad());
    }
    Ok(segs)
}

#[derive(Debug, Default)]
enum Node {
    #[default]
    Empty,
    Leaf(Vec<String>),
    Obj(IndexMap<String, Node>),
    Arr(BTreeMap<usize, Node>, Vec<Node>),
}

fn insert(node: &mut Node, segs: &[Seg], value: String, key: &str) -> Result<(), FormError> {
    let conflict = || FormError::Conflict(key.to_string());
    let Some((first, rest)) = segs.split_first() else {
        return match node {
            Node::Empty => {
                *node = Node::Leaf(vec![value]);
                Ok(())
            }
            Node::Leaf(values) => {
                values.push(value);
                Ok(())
            }
            _ => Err(conflict()),
        };
    };
    match first {
        Seg::Key(k) => {
            if matches!(node, Node::Empty) {
                *node = Node::Obj(IndexMap::new());
            }
            let Node::Obj(map) = node else {
                return Err(conflict());
            };
            insert(map.entry(k.clone()).or_default(), rest, value, key)
        }
        Seg::Index(i) => {
            if matches!(node, Node::Empty) {
                *node = Node::Arr(BTreeMap::new(), Vec::new());
            }
            let Node::Arr(positions, _) = node else {
                return Err(conflict());
            };
            insert(positions.entry(*i).or_default(), rest, value, key)
        }
        Seg::Append => {
            if matches!(node, Node::Empty) {
                *node = Node::Arr(BTreeMap::new(), Vec::new());
            }
            let Node::Arr(_, appended) = node else {
                return Err(conflict());
            };
            let mut child = Node::Empty;
            insert(&mut child, rest, value, key)?;
            appended.push(child);
            Ok(())
        }
    }
}

fn to_value(node: Node) -> Value {
    match node {
        Node::Empty => Value::Null,
        Node::Leaf(mut values) if values.len() == 1 => Value::String(values.remove(0)),
        Node::Leaf(values) => Value::Array(values.into_iter().map(Value::String).collect()),
        Node::Obj(map) => Value::Object(map.into_iter().map(|(k, v)| (k, to_value(v))).collect()),
        Node::Arr(positions, appended) => Value::Array(
            positions
                .into_values()
                .chain(appended)
                .map(to_value)
                .collect(),
        ),
    }
}

/// Decodes form pairs into a JSON object whose leaves are strings (or arrays of strings for repeated keys).
pub fn decode(pairs: &[(String, String)]) -> Result<Map<String, Value>, FormError> {
    let mut root = Node::Obj(IndexMap::new());
    for (key, value) in pairs {
        let segs = parse_key(key)?;
        insert(&mut root, &segs, value.clone(), key)?;
    }
    match to_value(root) {
        Value::Object(map) => Ok(map),
        _ => Ok(Map::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn dec(items: &[(&str, &str)]) -> Value {
        Value::Object(decode(&pairs(items)).unwrap())
    }

    #[test]
    fn dotted_and_repeated_keys() {
        assert_eq!(
            dec(&[
                ("name", "x"),
                ("config.bearer_token_param_type", "header"),
                ("config.auth_methods", "introspection"),
                ("config.auth_methods", "password"),
            ]),
            json!({"name": "x", "config": {
                "bearer_token_param_type": "header",
                "auth_methods": ["introspection", "password"]}})
        );
    }

    #[test]
    fn brackets() {
        assert_eq!(
            dec(&[("paths[2]", "/b"), ("paths[1]", "/a")]),
            json!({"paths": ["/a", "/b"]})
        );
        assert_eq!(
            dec(&[("methods[]", "GET"), ("methods[]", "POST")]),
            json!({"methods": ["GET", "POST"]})
        );
        assert_eq!(dec(&[("tags[]", "a")]), json!({"tags": ["a"]}));
        assert_eq!(
            dec(&[("headers[x-version]", "v1"), ("headers.x-env", "prod")]),
            json!({"headers": {"x-version": "v1", "x-env": "prod"}})
        );
        assert_eq!(
            dec(&[("config.scopes_required[1]", "a b"), ("service.id", "u")]),
            json!({"config": {"scopes_required": ["a b"]}, "service": {"id": "u"}})
        );
        assert_eq!(dec(&[("port", "")]), json!({"port": ""}));
    }

    #[test]
    fn bad_keys() {
        for key in ["", ".a", "a.", "a..b", "a[", "[1]", "a[1]b"] {
            assert_eq!(
                decode(&pairs(&[(key, "v")])),
                Err(FormError::BadKey(key.to_string())),
                "{key:?}"
            );
        }
        assert_eq!(
            decode(&pairs(&[("a", "1"), ("a.b", "2")])),
            Err(FormError::Conflict("a.b".to_string()))
        );
    }

    #[test]
    fn urlencoded() {
        assert_eq!(
            parse_urlencoded(b"a=1&b=x%20y&b=z+w&c="),
            pairs(&[("a", "1"), ("b", "x y"), ("b", "z w"), ("c", "")])
        );
    }

    #[test]
    fn multipart() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nsvc\r\n\
                    --XyZ\r\ncontent-disposition: form-data; name=\"tags[]\"\r\nContent-Type: text/plain\r\n\r\na\r\n\
                    --XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.txt\"\r\n\r\nline1\r\nline2\r\n\
                    --XyZ--\r\n";
        let fields = parse_multipart(body.as_bytes(), "multipart/form-data; boundary=XyZ").unwrap();
        assert_eq!(
            fields,
            pairs(&[("name", "svc"), ("tags[]", "a"), ("f", "line1\r\nline2")])
        );
        assert_eq!(
            parse_multipart(body.as_bytes(), "multipart/form-data"),
            Err(FormError::Multipart("missing boundary"))
        );
        assert!(
            parse_multipart(b"--XyZ\r\nbroken", "multipart/form-data; boundary=\"XyZ\"").is_err()
        );
    }
}

//! Where key-auth finds a key: Kong's lookup order (for each key name: header, query, body) and its reading
//! of repeated names (a Lua table: "Duplicate API key found") and of a bare `?apikey` (a boolean: not a key).

use std::borrow::Cow;

use gateway_config::plugins::key_auth::KeyAuthConfig;
use http::HeaderName;
use percent_encoding::percent_decode_str;

use crate::plugins::Request;

/// A key name with its header spellings, computed once.
pub struct KeyName {
    /// The name as configured (query and body fields match it exactly).
    pub name: String,
    /// The header of that name (header names are case-insensitive).
    exact: Option<HeaderName>,
    /// With underscores turned into dashes, when the name has underscores (OpenResty's header lookup).
    dashed: Option<HeaderName>,
}

impl KeyName {
    /// The spellings of `name`.
    pub fn new(name: &str) -> Self {
        let lower = name.to_ascii_lowercase();
        let dashed = (lower.contains('_'))
            .then(|| HeaderName::from_bytes(lower.replace('_', "-").as_bytes()).ok())
            .flatten();
        KeyName {
            name: name.to_owned(),
            exact: HeaderName::from_bytes(lower.as_bytes()).ok(),
            dashed,
        }
    }

    /// The headers a key of this name may sit in (both removed by `hide_credentials`).
    pub fn headers(&self) -> impl Iterator<Item = &HeaderName> {
        self.exact.iter().chain(self.dashed.iter())
    }
}

/// What the lookup found.
#[derive(Debug, PartialEq)]
pub enum Found<'a> {
    /// A key (possibly empty), under `key_names[name]`.
    Key {
        /// The key.
        key: Cow<'a, str>,
        /// Its position in `key_names`.
        name: usize,
    },
    /// A name given more than once where it was found.
    Duplicate,
    /// No key.
    Nothing,
}

/// One source's answer for one name (Kong's value types: string, table, anything else).
enum Value<'a> {
    One(Cow<'a, str>),
    Many,
    Absent,
}

/// Looks for a key as Kong's `do_authentication` does.
pub fn find<'a>(cfg: &KeyAuthConfig, names: &[KeyName], req: &'a Request<'a>) -> Found<'a> {
    let mut body: Option<Body<'a>> = None;
    for (i, n) in names.iter().enumerate() {
        let mut v = Value::Absent;
        if cfg.key_in_header {
            v = header(req, n);
        }
        if matches!(v, Value::Absent) && cfg.key_in_query {
            v = form_arg(req.uri.query().unwrap_or(""), &n.name);
        }
        if matches!(v, Value::Absent) && cfg.key_in_body {
            v = body.get_or_insert_with(|| Body::parse(req)).get(&n.name);
        }
        match v {
            Value::One(key) => return Found::Key { key, name: i },
            Value::Many => return Found::Duplicate,
            Value::Absent => {}
        }
    }
    Found::Nothing
}

fn header<'a>(req: &'a Request<'a>, n: &KeyName) -> Value<'a> {
    for name in n.headers() {
        let mut values = req.headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (Some(_), Some(_)) => return Value::Many,
            // A value that is not text cannot be a key: Kong would not find it among its credentials.
            (Some(v), None) => return Value::One(Cow::Borrowed(v.to_str().unwrap_or("\u{0}"))),
            _ => {}
        }
    }
    Value::Absent
}

/// `name`'s value in a query string or form body (`+` is a space, names and values percent-decoded); a
/// bare `name` without `=` is Kong's boolean `true`, not a key.
fn form_arg<'a>(text: &'a str, name: &str) -> Value<'a> {
    let mut found = Value::Absent;
    let mut seen = 0;
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = match pair.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (pair, None),
        };
        if decode(k) != name {
            continue;
        }
        seen += 1;
        if seen > 1 {
            return Value::Many;
        }
        found = match v {
            Some(v) => Value::One(decode(v)),
            None => Value::Absent,
        };
    }
    found
}

fn decode(s: &str) -> Cow<'_, str> {
    // memchr's vector search: a key is tens of bytes, and a byte-at-a-time test cost more than the call.
    if memchr::memchr2(b'+', b'%', s.as_bytes()).is_none() {
        return Cow::Borrowed(s);
    }
    let spaced = s.replace('+', " ");
    Cow::Owned(percent_decode_str(&spaced).decode_utf8_lossy().into_owned())
}

/// The request body as key-auth reads it (form or JSON; anything else has no key).
enum Body<'a> {
    Form(&'a str),
    Json(serde_json::Map<String, serde_json::Value>),
    None,
}

impl<'a> Body<'a> {
    fn parse(req: &'a Request<'a>) -> Self {
        let Some(bytes) = req.body else {
            return Body::None;
        };
        let ct = (req.headers.get(http::header::CONTENT_TYPE))
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if ct.starts_with("application/x-www-form-urlencoded") {
            return std::str::from_utf8(bytes).map_or(Body::None, Body::Form);
        }
        if ct.contains("json") {
            if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(bytes) {
                return Body::Json(map);
            }
        }
        Body::None
    }

    fn get(&self, name: &str) -> Value<'a> {
        match self {
            Body::Form(text) => form_arg(text, name),
            Body::Json(map) => match map.get(name) {
                Some(serde_json::Value::String(s)) => Value::One(Cow::Owned(s.clone())),
                Some(serde_json::Value::Array(_) | serde_json::Value::Object(_)) => Value::Many,
                _ => Value::Absent,
            },
            Body::None => Value::Absent,
        }
    }
}

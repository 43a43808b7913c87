//! Kong's cache key (`kong/plugins/proxy-cache/cache_key.lua`): the hex SHA-256 of
//! `prefix|method|request line|query|headers`, where the prefix is `consumer_id:route_id` once an auth plugin
//! identified a consumer (else the route's id), the request line is nginx's `$request` cut at the first `?`
//! (so `GET /path HTTP/1.1` without a query, `GET /path` with one), the query is every argument sorted by
//! name (or only `vary_query_params`, in their order) and the headers are `vary_headers` (none by default),
//! each as `name=value` (repeated values sorted and joined with `,`; an argument without a value as its
//! name alone), joined with `:`. The same request on the same route and consumer gets the key Kong gives it.

use http::{HeaderMap, Method, Version};
use percent_encoding::percent_decode_str;
use uuid::Uuid;

/// What the key is made of, besides the config.
pub struct KeyInput<'a> {
    /// The consumer an auth plugin identified.
    pub consumer: Option<Uuid>,
    /// The matched route.
    pub route: Option<Uuid>,
    /// The method.
    pub method: &'a Method,
    /// The path as received (still percent-encoded, as in `$request`).
    pub path: &'a str,
    /// The query string as received.
    pub query: Option<&'a str>,
    /// The HTTP version.
    pub version: Version,
    /// The request headers.
    pub headers: &'a HeaderMap,
}

/// The key's options from the plugin's config.
pub struct KeyConfig {
    /// Lower-case the request line.
    pub ignore_uri_case: bool,
    /// Only these query arguments (`None`: all).
    pub vary_query_params: Option<Vec<String>>,
    /// These headers (`None`: none).
    pub vary_headers: Option<Vec<String>>,
}

/// One query argument's values: `None` for a name without `=` (Lua's `true`).
type Arg = Vec<Option<String>>;

/// The cache key of a request (64 lower-case hex digits). The text is fed to the hash piece by piece
/// (the key is computed on every request, hits included).
pub fn build(input: &KeyInput<'_>, cfg: &KeyConfig) -> String {
    let mut h = openssl::sha::Sha256::new();
    let mut buf = Uuid::encode_buffer();
    match (input.consumer, input.route) {
        (Some(c), Some(r)) => {
            h.update(c.hyphenated().encode_lower(&mut buf).as_bytes());
            h.update(b":");
            h.update(r.hyphenated().encode_lower(&mut buf).as_bytes());
        }
        (_, Some(r)) => h.update(r.hyphenated().encode_lower(&mut buf).as_bytes()),
        _ => h.update(b"default"),
    }
    let method = input.method.as_str();
    h.update(b"|");
    h.update(method.as_bytes());
    h.update(b"|");
    let protocol = match input.query {
        Some(_) => "",
        None => version(input.version),
    };
    if cfg.ignore_uri_case {
        let line = format!("{method} {}{}{protocol}", input.path, sep(protocol));
        h.update(line.to_lowercase().as_bytes());
    } else {
        h.update(method.as_bytes());
        h.update(b" ");
        h.update(input.path.as_bytes());
        h.update(sep(protocol).as_bytes());
        h.update(protocol.as_bytes());
    }
    h.update(b"|");
    let wanted = cfg.vary_query_params.as_deref().filter(|f| !f.is_empty());
    match (input.query, wanted) {
        // The usual case: no query string, nothing to add.
        (None, None) => {}
        (query, Some(fields)) => {
            let args = query_args(query.unwrap_or(""));
            h.update(join(fields.iter().map(|f| (f.as_str(), arg_of(&args, f)))).as_bytes());
        }
        (Some(query), None) => {
            let args = query_args(query);
            let mut names: Vec<&str> = args.iter().map(|(n, _)| n.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            h.update(join(names.into_iter().map(|n| (n, arg_of(&args, n)))).as_bytes());
        }
    }
    h.update(b"|");
    if let Some(fields) = cfg.vary_headers.as_deref().filter(|f| !f.is_empty()) {
        let headers = join(fields.iter().map(|f| {
            let name = f.to_ascii_lowercase().replace('_', "-");
            let values: Arg = (input.headers.get_all(name.as_str()).iter())
                .map(|v| Some(String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            (f.as_str(), (!values.is_empty()).then_some(values))
        }));
        h.update(headers.as_bytes());
    }
    hex(&h.finish())
}

/// The space before the protocol, when there is one.
fn sep(protocol: &str) -> &'static str {
    match protocol.is_empty() {
        true => "",
        false => " ",
    }
}

/// nginx's protocol text in `$request`.
fn version(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// `ngx.req.get_uri_args`: `&`-separated, `+` and percent escapes decoded, empty names dropped.
fn query_args(query: &str) -> Vec<(String, Option<String>)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        percent_decode_str(&s).decode_utf8_lossy().into_owned()
    };
    (query.split('&'))
        .filter_map(|pair| {
            let (name, value) = match pair.split_once('=') {
                Some((n, v)) => (decode(n), Some(decode(v))),
                None => (decode(pair), None),
            };
            (!name.is_empty()).then_some((name, value))
        })
        .collect()
}

fn arg_of(args: &[(String, Option<String>)], name: &str) -> Option<Arg> {
    let values: Arg = (args.iter())
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .collect();
    (!values.is_empty()).then_some(values)
}

/// Kong's `generate_key_from`: present fields only, `name=value`, `name=v1,v2` (sorted) or `name`.
fn join<'a>(fields: impl Iterator<Item = (&'a str, Option<Arg>)>) -> String {
    let mut parts = Vec::new();
    for (name, values) in fields {
        let Some(mut values) = values else { continue };
        if values.len() == 1 {
            match values.pop().flatten() {
                Some(v) => parts.push(format!("{name}={v}")),
                None => parts.push(name.to_owned()),
            }
        } else {
            let mut texts: Vec<String> =
                values.into_iter().map(Option::unwrap_or_default).collect();
            texts.sort_unstable();
            parts.push(format!("{name}={}", texts.join(",")));
        }
    }
    parts.join(":")
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> KeyConfig {
        KeyConfig {
            ignore_uri_case: false,
            vary_query_params: None,
            vary_headers: None,
        }
    }

    fn key(path: &str, query: Option<&str>, headers: &HeaderMap, cfg: &KeyConfig) -> String {
        build(
            &KeyInput {
                consumer: None,
                route: Some(Uuid::nil()),
                method: &Method::GET,
                path,
                query,
                version: Version::HTTP_11,
                headers,
            },
            cfg,
        )
    }

    #[test]
    fn kongs_text_and_hash() {
        let none = HeaderMap::new();
        let route = Uuid::nil();
        let expected = |text: &str| hex(&openssl::sha::sha256(text.as_bytes()));
        assert_eq!(
            key("/get", None, &none, &cfg()),
            expected(&format!("{route}|GET|GET /get HTTP/1.1||"))
        );
        assert_eq!(
            key("/get", Some("b=c&a=b&a=a&x"), &none, &cfg()),
            expected(&format!("{route}|GET|GET /get|a=a,b:b=c:x|"))
        );
        // The order of the arguments does not matter; their values do.
        assert_eq!(
            key("/get", Some("a=b&b=c"), &none, &cfg()),
            key("/get", Some("b=c&a=b"), &none, &cfg())
        );
        assert_ne!(
            key("/get", Some("a=b"), &none, &cfg()),
            key("/get", Some("a=c"), &none, &cfg())
        );
        let only_foo = KeyConfig {
            vary_query_params: Some(vec!["foo".into()]),
            ..cfg()
        };
        assert_eq!(
            key("/get", Some("foo=b&b=c"), &none, &only_foo),
            key("/get", Some("b=d&foo=b"), &none, &only_foo)
        );
        let mut h = HeaderMap::new();
        h.insert("foo", "bar".parse().unwrap());
        let by_foo = KeyConfig {
            vary_headers: Some(vec!["Foo".into()]),
            ..cfg()
        };
        assert_eq!(
            key("/get", None, &h, &by_foo),
            expected(&format!("{route}|GET|GET /get HTTP/1.1||Foo=bar"))
        );
        assert_ne!(
            key("/get", None, &h, &by_foo),
            key("/get", None, &none, &by_foo)
        );
        let lower = KeyConfig {
            ignore_uri_case: true,
            ..cfg()
        };
        assert_eq!(
            key("/A/KONG", None, &none, &lower),
            key("/a/kong", None, &none, &lower)
        );
        assert_ne!(
            key("/A/KONG", None, &none, &cfg()),
            key("/a/kong", None, &none, &cfg())
        );
    }
}

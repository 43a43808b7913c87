//! `echo: true`: the request as Kong's handler shapes it (`message`, `kong`, `request`, `matched_route`,
//! `matched_service`), with `kong.request`'s views: lowercase header names, repeated headers and query
//! arguments as arrays, a query argument without `=` as `true`.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};

use super::Request;

/// `+` is a space, then percent-decoding (as `ngx.req.get_uri_args` and form bodies decode).
pub(super) fn decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['+', '%']) {
        return Cow::Borrowed(s);
    }
    let spaced = s.replace('+', " ");
    Cow::Owned(percent_decode_str(&spaced).decode_utf8_lossy().into_owned())
}

/// Adds `value` under `key`, turning a repeated key into an array (Kong's multi-value tables).
fn add(map: &mut Map<String, Value>, key: String, value: Value) {
    match map.get_mut(&key) {
        None => {
            map.insert(key, value);
        }
        Some(Value::Array(items)) => items.push(value),
        Some(first) => *first = Value::Array(vec![first.take(), value]),
    }
}

/// A query string or form body as `kong.request.get_query()` gives it.
fn args(text: &str) -> Map<String, Value> {
    let mut map = Map::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.split_once('=') {
            Some((n, v)) => (n, Value::from(decode(v).into_owned())),
            None => (pair, Value::Bool(true)),
        };
        add(&mut map, decode(name).into_owned(), value);
    }
    map
}

/// The whole echo answer.
pub(super) fn echo(req: &Request<'_>, message: Option<&str>) -> Value {
    let mut headers = Map::new();
    for (name, value) in req.headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        add(&mut headers, name.as_str().to_owned(), Value::from(v));
    }
    let host_header = (req.headers.get(http::header::HOST))
        .and_then(|h| h.to_str().ok())
        .or(req.uri.host())
        .unwrap_or("");
    // The host without its port (an IPv6 literal keeps its brackets).
    let host = match host_header.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host_header,
    };
    let default_port = if req.https { 443 } else { 80 };
    let mut request = Map::new();
    request.insert(
        "scheme".into(),
        json!(if req.https { "https" } else { "http" }),
    );
    request.insert("host".into(), json!(host.to_ascii_lowercase()));
    request.insert(
        "port".into(),
        json!(req.server_addr.map_or(default_port, |a| a.port())),
    );
    request.insert("headers".into(), Value::Object(headers));
    request.insert(
        "query".into(),
        Value::Object(args(req.uri.query().unwrap_or(""))),
    );
    if let Some(raw) = req.body {
        let text = String::from_utf8_lossy(raw);
        let content_type = (req.headers.get(http::header::CONTENT_TYPE))
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let parsed = if content_type.starts_with("application/x-www-form-urlencoded") {
            Some(Value::Object(args(&text)))
        } else {
            serde_json::from_slice(raw).ok()
        };
        if let Some(body) = parsed {
            request.insert("body".into(), body);
        }
        request.insert("raw_body".into(), json!(text));
    }
    request.insert("method".into(), json!(req.method.as_str()));
    request.insert("path".into(), json!(req.uri.path()));
    let mut named = Map::new();
    let mut unnamed = Vec::new();
    let captures = req
        .matched
        .as_ref()
        .and_then(|m| req.snap.router.uri_captures(m, req.uri.path()));
    if let Some(c) = captures {
        unnamed = (c.positional.iter().skip(1))
            .map(|g| g.map_or(Value::Bool(false), Value::from))
            .collect();
        for (name, value) in c.named {
            named.insert(name.to_owned(), json!(value));
        }
    }
    request.insert(
        "uri_captures".into(),
        json!({"named": named, "unnamed": unnamed}),
    );
    let config = &req.snap.config;
    let route = req.matched.and_then(|m| {
        let entry = config.routes_with_services().nth(m.route)?;
        serde_json::to_value(entry.route).ok()
    });
    let service = req
        .matched
        .and_then(|m| serde_json::to_value(config.services.get(m.service?)?).ok());
    let mut out = Map::new();
    if let Some(m) = message {
        out.insert("message".into(), json!(m));
    }
    out.insert(
        "kong".into(),
        json!({
            "node_id": crate::admin::node_id(),
            "worker_pid": std::process::id(),
            "hostname": crate::admin::hostname(),
        }),
    );
    out.insert("request".into(), Value::Object(request));
    if let Some(r) = route {
        out.insert("matched_route".into(), r);
    }
    if let Some(s) = service {
        out.insert("matched_service".into(), s);
    }
    Value::Object(out)
}

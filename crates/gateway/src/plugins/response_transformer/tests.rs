//! Unit tests of response-transformer over Kong's specs (spec/03-plugins/15-response-transformer/): headers
//! judged on the headers as they came, the JSON body edits and types, the buffering.

use super::*;
use pingora::http::ResponseHeader;
use serde_json::{json, Value};

fn plugin(cfg: Value) -> ResponseTransformer {
    ResponseTransformer::new(&ResponseTransformerConfig::from_value(&cfg).unwrap())
}

fn response(headers: &[(&str, &str)]) -> ResponseHeader {
    let mut r = ResponseHeader::build(200, None).unwrap();
    for (n, v) in headers {
        r.append_header(n.to_string(), *v).unwrap();
    }
    r
}

fn values(r: &ResponseHeader, name: &str) -> Vec<String> {
    r.headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[test]
fn headers_as_kongs_header_transformer_spec() {
    let p = plugin(json!({
        "remove": {"headers": ["h1", "h2"]},
        "rename": {"headers": ["h3:h4", "missing:x"]},
        "replace": {"headers": ["h1:v-replaced", "h5:v5", "absent:x"]},
        "add": {"headers": ["h6:v6", "h5:not-added"]},
        "append": {"headers": ["h7:v7", "h5:more"]},
    }));
    let mut r = response(&[
        ("h1", "v1"),
        ("h2", "v2"),
        ("h3", "a"),
        ("h3", "b"),
        ("h5", "old"),
    ]);
    let mut ex = Exchange::new();
    p.header_filter(&mut r, &mut ex);
    // Removed first, then replaced: present in the table read before the edits, so set again (Kong's order).
    assert_eq!(values(&r, "h1"), ["v-replaced"]);
    assert!(values(&r, "h2").is_empty() && values(&r, "h3").is_empty());
    assert_eq!(values(&r, "h4"), ["a", "b"]);
    assert_eq!(values(&r, "h5"), ["v5", "more"]);
    assert_eq!(values(&r, "h6"), ["v6"]);
    assert_eq!(values(&r, "h7"), ["v7"]);
    assert!(values(&r, "absent").is_empty() && values(&r, "x").is_empty());
    assert!(ex.json_body.is_none(), "no JSON edit: nothing buffered");
}

#[test]
fn is_json_body_as_kong() {
    let yes = [
        "application/json",
        "application/json; charset=utf-8",
        "text/html, application/json",
        "application/vnd.api+json",
        "APPLICATION/JSON",
    ];
    for ct in yes {
        assert!(is_json_body(Some(&HeaderValue::from_static(ct))), "{ct}");
    }
    for ct in [
        "text/json",
        "application/jsonx",
        "application/json-patch",
        "json",
        "",
    ] {
        assert!(!is_json_body(Some(&HeaderValue::from_static(ct))), "{ct}");
    }
    assert!(!is_json_body(None));
}

fn transform(p: &ResponseTransformer, chunks: &[&str]) -> (ResponseHeader, String) {
    let mut r = response(&[
        ("content-type", "application/json"),
        ("content-length", "99"),
    ]);
    let mut ex = Exchange::new();
    p.header_filter(&mut r, &mut ex);
    let mut out = String::new();
    for (i, c) in chunks.iter().enumerate() {
        let mut chunk = Some(Bytes::from(c.to_string()));
        p.body_filter(&mut chunk, i + 1 == chunks.len(), &mut ex);
        if let Some(c) = chunk {
            out.push_str(std::str::from_utf8(&c).unwrap());
        }
    }
    (r, out)
}

#[test]
fn json_edits_with_types_over_chunks() {
    let p = plugin(json!({
        "remove": {"json": ["p1"]},
        "rename": {"json": ["old:new"]},
        "replace": {"json": ["p2:v2", "f:no"], "json_types": ["number"]},
        "add": {"json": ["p3:true", "p4:\"quoted\"/x", "f:added", "p5:12.5"], "json_types": ["boolean", "string", "string", "number"]},
        "append": {"json": ["p6:a", "p7:b"]},
    }));
    let (r, body) = transform(
        &p,
        &[
            r#"{"p1":1,"old":"o","p2":"x","#,
            r#""f":false,"p6":"first","p7":[1]}"#,
        ],
    );
    assert!(r.headers.get("content-length").is_none());
    assert_eq!(values(&r, "transfer-encoding"), ["chunked"]);
    let v: Value = serde_json::from_str(&body).unwrap();
    // "v2" cast to a number is Lua's nil: p2 is left as it was.
    assert_eq!(
        v,
        json!({"new": "o", "p2": "x", "f": "added", "p6": ["first", "a"], "p7": [1, "b"],
               "p3": true, "p4": "\"quoted\"/x", "p5": 12.5})
    );
    // Not JSON: sent unchanged.
    let (_, body) = transform(&p, &["not json"]);
    assert_eq!(body, "not json");
    // Another content type: headers only, no buffering.
    let mut r = response(&[("content-type", "text/plain"), ("content-length", "3")]);
    let mut ex = Exchange::new();
    p.header_filter(&mut r, &mut ex);
    assert!(ex.json_body.is_none() && r.headers.get("content-length").is_some());
}

#[test]
fn over_the_bound_the_body_streams_unchanged() {
    let p = plugin(json!({"add": {"json": ["k:v"]}}));
    let mut r = response(&[("content-type", "application/json")]);
    let mut ex = Exchange::new();
    p.header_filter(&mut r, &mut ex);
    let big = Bytes::from(vec![b' '; MAX_JSON_BODY]);
    let mut chunk = Some(big.clone());
    p.body_filter(&mut chunk, false, &mut ex);
    assert!(chunk.is_none(), "held while within the bound");
    let mut chunk = Some(Bytes::from_static(b"{}"));
    p.body_filter(&mut chunk, false, &mut ex);
    assert_eq!(chunk.map(|c| c.len()), Some(MAX_JSON_BODY + 2));
    let mut chunk = Some(Bytes::from_static(b"tail"));
    p.body_filter(&mut chunk, true, &mut ex);
    assert_eq!(chunk.as_deref(), Some(&b"tail"[..]));
}

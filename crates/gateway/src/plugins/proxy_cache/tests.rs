//! Unit tests of proxy-cache's phases without a socket: miss → stored → hit, Bypass for methods and
//! uncacheable answers, Refresh after `cache_ttl`, the diagnostic headers' toggles and `Kong-Debug`, the
//! `cache_control` rules (spec/03-plugins/31-proxy-cache/02-access_spec.lua).

use super::*;
use crate::plugins::test_support::{snapshot, TestRequest};
use pingora::http::ResponseHeader;
use serde_json::json;

fn plugin(extra: serde_json::Value) -> ProxyCache {
    let mut cfg = json!({"strategy": "memory"});
    cfg.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    ProxyCache::new(&ProxyCacheConfig::from_value(&cfg).unwrap())
}

fn header<'a>(ex: &'a Exchange, name: &HeaderName) -> Option<&'a str> {
    (ex.response_headers.iter())
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| v.to_str().ok())
}

/// Runs the answer's header and body phases: `status`, `content_type`, extra headers, `body`.
fn answer(
    p: &ProxyCache,
    ex: &mut Exchange,
    status: u16,
    ct: &str,
    extra: &[(&str, &str)],
    body: &str,
) {
    let mut resp = ResponseHeader::build(status, None).unwrap();
    resp.insert_header("content-type", ct).unwrap();
    resp.insert_header("content-length", body.len()).unwrap();
    resp.insert_header("connection", "keep-alive").unwrap();
    for (n, v) in extra {
        resp.insert_header(n.to_string(), *v).unwrap();
    }
    p.header_filter(&mut resp, ex);
    let mut chunk = Some(Bytes::copy_from_slice(body.as_bytes()));
    p.body_filter(&mut chunk, false, ex);
    p.body_filter(&mut None, true, ex);
}

fn reply_headers(flow: &Flow) -> (u16, Vec<(String, String)>, Bytes) {
    match flow {
        Flow::Respond(Reply::Body {
            status,
            headers,
            body,
        }) => (
            *status,
            (headers.iter())
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
                .collect(),
            body.clone(),
        ),
        other => panic!("expected a reply, got {other:?}"),
    }
}

const YAML: &str = "_format_version: \"3.0\"\n";

#[test]
fn a_miss_is_stored_and_the_next_request_is_a_hit() {
    let snap = snapshot(YAML);
    let p = plugin(json!({}));
    let req = TestRequest::get("/get?a=1");
    let mut ex = Exchange::new();
    assert!(matches!(req.access_now(&snap, &p, &mut ex), Flow::Continue));
    assert_eq!(header(&ex, &X_CACHE_STATUS), Some("Miss"));
    let key = header(&ex, &X_CACHE_KEY).unwrap().to_owned();
    assert_eq!(key.len(), 64);
    answer(
        &p,
        &mut ex,
        200,
        "application/json",
        &[("x-ratelimit-remaining-minute", "4")],
        "{}",
    );
    assert!(ex.proxy_cache.is_none());
    let stored = snap.response_cache.get(&key).expect("stored");
    assert_eq!(stored.body, Bytes::from_static(b"{}"));

    let mut ex = Exchange::new();
    let flow = req.access_now(&snap, &p, &mut ex);
    let (status, headers, body) = reply_headers(&flow);
    assert_eq!((status, body), (200, Bytes::from_static(b"{}")));
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("x-cache-status"), Some("Hit"));
    assert_eq!(get("x-cache-key"), Some(key.as_str()));
    assert_eq!(get("age"), Some("0"));
    assert_eq!(get("content-type"), Some("application/json"));
    // Hop-by-hop headers, the stored Content-Length and rate-limit counters are not replayed.
    assert_eq!(get("connection"), None);
    assert_eq!(get("content-length"), None);
    assert_eq!(get("x-ratelimit-remaining-minute"), None);
    assert_eq!(
        headers
            .iter()
            .filter(|(n, _)| n == "x-cache-status")
            .count(),
        1
    );
}

#[test]
fn uncacheable_requests_and_answers_are_bypassed() {
    let snap = snapshot(YAML);
    let p = plugin(json!({}));
    let post = TestRequest::new(Method::POST, "/post", &[]);
    let mut ex = Exchange::new();
    assert!(matches!(
        post.access_now(&snap, &p, &mut ex),
        Flow::Continue
    ));
    assert_eq!(header(&ex, &X_CACHE_STATUS), Some("Bypass"));
    assert_eq!(header(&ex, &X_CACHE_KEY), None);
    assert!(ex.proxy_cache.is_none());

    for (status, ct) in [
        (418, "application/json"),
        (200, "application/xml"),
        (200, ""),
    ] {
        let req = TestRequest::get("/x");
        let mut ex = Exchange::new();
        req.access_now(&snap, &p, &mut ex);
        answer(&p, &mut ex, status, ct, &[], "x");
        assert_eq!(
            header(&ex, &X_CACHE_STATUS),
            Some("Bypass"),
            "{status} {ct}"
        );
        let key = header(&ex, &X_CACHE_KEY).unwrap();
        assert!(snap.response_cache.get(key).is_none());
    }
}

#[test]
fn a_stale_entry_is_refreshed_and_a_body_over_the_bound_is_not_stored() {
    let snap = snapshot(YAML);
    let p = plugin(json!({"cache_ttl": 1, "storage_ttl": 60}));
    let req = TestRequest::get("/stale");
    let mut ex = Exchange::new();
    req.access_now(&snap, &p, &mut ex);
    let key = header(&ex, &X_CACHE_KEY).unwrap().to_owned();
    answer(&p, &mut ex, 200, "text/plain", &[], "a");
    // Stored two seconds ago: past cache_ttl, within storage_ttl.
    let old = snap.response_cache.get(&key).unwrap();
    let entry = Entry {
        status: 200,
        headers: old.headers.clone(),
        replay: old.replay.clone(),
        body: old.body.clone(),
        timestamp: now() - 2,
        ttl: 1.0,
        keep: None,
    };
    snap.response_cache.insert(key.clone().into(), entry);
    let mut ex = Exchange::new();
    assert!(matches!(req.access_now(&snap, &p, &mut ex), Flow::Continue));
    assert_eq!(header(&ex, &X_CACHE_STATUS), Some("Refresh"));

    let small = crate::snapshot::compile(
        gateway_config::load::parse_str(
            "_format_version: \"3.0\"\ngateway: {proxy_cache_memory_size: 100}\n",
        )
        .unwrap(),
        "",
        &gateway_auth::AuthRegistry::new(&prometheus::Registry::new()),
    )
    .unwrap();
    let mut ex = Exchange::new();
    req.access_now(&small, &p, &mut ex);
    answer(&p, &mut ex, 200, "text/plain", &[], &"x".repeat(200));
    assert!(small.response_cache.get(&key).is_none());
    assert_eq!(header(&ex, &X_CACHE_STATUS), Some("Miss"));
}

#[test]
fn diagnostic_headers_follow_the_toggles_and_kong_debug() {
    let snap = snapshot(YAML);
    let off =
        json!({"response_headers": {"age": false, "X-Cache-Status": false, "X-Cache-Key": false}});
    let p = plugin(off);
    let req = TestRequest::get("/quiet");
    let mut ex = Exchange::new();
    req.access_now(&snap, &p, &mut ex);
    assert!(ex.response_headers.is_empty());
    answer(&p, &mut ex, 200, "text/plain", &[], "q");
    let mut ex = Exchange::new();
    let (_, headers, _) = reply_headers(&req.access_now(&snap, &p, &mut ex));
    assert!(!headers
        .iter()
        .any(|(n, _)| n == "x-cache-status" || n == "age" || n == "x-cache-key"));
    let debug = TestRequest::new(Method::GET, "/quiet", &[("Kong-Debug", "1")]);
    let mut ex = Exchange::new();
    let (_, headers, _) = reply_headers(&debug.access_now(&snap, &p, &mut ex));
    for name in ["x-cache-status", "age", "x-cache-key"] {
        assert!(headers.iter().any(|(n, _)| n == name), "{name}");
    }
}

#[test]
fn cache_control_rules() {
    let snap = snapshot(YAML);
    let p = plugin(json!({"cache_control": true}));
    // A request that refuses stored answers is not cached.
    let req = TestRequest::new(Method::GET, "/cc", &[("Cache-Control", "no-cache")]);
    let mut ex = Exchange::new();
    req.access_now(&snap, &p, &mut ex);
    assert_eq!(header(&ex, &X_CACHE_STATUS), Some("Bypass"));
    // only-if-cached without an entry: 504.
    let req = TestRequest::new(Method::GET, "/cc", &[("Cache-Control", "only-if-cached")]);
    let mut ex = Exchange::new();
    assert_eq!(reply_headers(&req.access_now(&snap, &p, &mut ex)).0, 504);
    // An answer without max-age or Expires, or with private / max-age=0, is not stored.
    for cc in [None, Some("private, max-age=60"), Some("max-age=0")] {
        let req = TestRequest::get("/cc");
        let mut ex = Exchange::new();
        req.access_now(&snap, &p, &mut ex);
        let extra: Vec<(&str, &str)> = cc.map(|v| ("cache-control", v)).into_iter().collect();
        answer(&p, &mut ex, 200, "text/plain", &extra, "c");
        assert_eq!(header(&ex, &X_CACHE_STATUS), Some("Bypass"), "{cc:?}");
    }
    // s-maxage alone makes it cacheable; its TTL is the entry's.
    let req = TestRequest::get("/cc");
    let mut ex = Exchange::new();
    req.access_now(&snap, &p, &mut ex);
    let key = header(&ex, &X_CACHE_KEY).unwrap().to_owned();
    answer(
        &p,
        &mut ex,
        200,
        "text/plain",
        &[("cache-control", "s-maxage=30")],
        "c",
    );
    assert_eq!(snap.response_cache.get(&key).unwrap().ttl, 30.0);
    // A client's min-fresh beyond what is left: Refresh; max-age within the age: Hit.
    let req = TestRequest::new(Method::GET, "/cc", &[("Cache-Control", "min-fresh=40")]);
    let mut ex = Exchange::new();
    assert!(matches!(req.access_now(&snap, &p, &mut ex), Flow::Continue));
    assert_eq!(header(&ex, &X_CACHE_STATUS), Some("Refresh"));
    let req = TestRequest::new(Method::GET, "/cc", &[("Cache-Control", "max-age=10")]);
    let mut ex = Exchange::new();
    assert!(matches!(
        req.access_now(&snap, &p, &mut ex),
        Flow::Respond(_)
    ));
}

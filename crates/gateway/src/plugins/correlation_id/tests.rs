//! Unit tests of correlation-id: Kong's generator formats, the client's id kept, the upstream edit, the
//! response header only with `echo_downstream` (spec/03-plugins/11-correlation-id/01-access_spec.lua).

use super::*;
use serde_json::json;

fn plugin(cfg: serde_json::Value) -> CorrelationId {
    CorrelationId::new(&CorrelationIdConfig::from_value(&cfg).unwrap())
}

/// Runs the access phase with `client` as the request's `Kong-Request-ID`: the exchange after it.
fn access(p: &CorrelationId, header: &str, client: Option<&str>) -> Exchange {
    let yaml = "_format_version: \"3.0\"\n";
    let config = gateway_config::load::parse_str(yaml).unwrap();
    let registry = gateway_auth::AuthRegistry::new(&prometheus::Registry::new());
    let snap = crate::snapshot::compile(config, yaml, &registry).unwrap();
    let metrics = crate::metrics::Metrics::new(&prometheus::Registry::new()).unwrap();
    let mut headers = http::HeaderMap::new();
    if let Some(c) = client {
        headers.insert(
            HeaderName::from_bytes(header.as_bytes()).unwrap(),
            HeaderValue::from_str(c).unwrap(),
        );
    }
    let uri: http::Uri = "/".parse().unwrap();
    let req = Request {
        method: &http::Method::GET,
        uri: &uri,
        version: http::Version::HTTP_11,
        headers: &headers,
        client_ip: None,
        https: false,
        server_addr: Some("127.0.0.1:8000".parse().unwrap()),
        client_cert_sha256: None,
        raw_body: None,
        body: None,
        snap: &snap,
        matched: None,
        metrics: &metrics,
    };
    let mut ex = Exchange::new();
    assert!(matches!(
        futures::executor::block_on(p.access(&req, &mut ex).decide()),
        Flow::Continue
    ));
    ex
}

fn id(ex: &Exchange) -> String {
    ex.correlation_id
        .as_ref()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

#[test]
fn generators_have_kongs_formats() {
    // A lowercase, hyphenated version-4 UUID.
    let is_uuid = |s: &str| {
        uuid::Uuid::parse_str(s).is_ok_and(|u| u.get_version_num() == 4 && u.to_string() == s)
    };
    let p = plugin(json!({"generator": "uuid"}));
    let (a, b) = (
        id(&access(&p, "kong-request-id", None)),
        id(&access(&p, "kong-request-id", None)),
    );
    assert!(is_uuid(&a) && a != b, "{a} {b}");

    let p = plugin(json!({}));
    let a = id(&access(&p, "kong-request-id", None));
    let b = id(&access(&p, "kong-request-id", None));
    let (ua, na) = a.split_once('#').unwrap();
    let (ub, nb) = b.split_once('#').unwrap();
    assert!(is_uuid(ua) && ua == ub, "{a} {b}");
    assert!(
        nb.parse::<u64>().unwrap() > na.parse::<u64>().unwrap(),
        "{a} {b}"
    );

    let p = plugin(json!({"generator": "tracker"}));
    let t = id(&access(&p, "kong-request-id", None));
    let parts: Vec<&str> = t.split('-').collect();
    assert_eq!(parts.len(), 6, "{t}");
    assert_eq!(parts[..2], ["127.0.0.1", "8000"], "{t}");
    assert_eq!(parts[2], std::process::id().to_string(), "{t}");
    assert!(parts[3].parse::<u64>().is_ok() && parts[4] == "1", "{t}");
    let (secs, millis) = parts[5].split_once('.').unwrap();
    assert!(
        secs.parse::<u64>().unwrap() > 1_700_000_000 && millis.len() == 3,
        "{t}"
    );
}

#[test]
fn a_clients_id_is_kept_and_a_new_one_goes_upstream() {
    let p = plugin(json!({"header_name": "X-Id"}));
    let ex = access(&p, "x-id", Some("mine"));
    assert_eq!(id(&ex), "mine");
    assert!(
        ex.edits.headers.is_empty(),
        "the client's header goes up as sent"
    );
    let ex = access(&p, "x-id", Some(""));
    assert_ne!(id(&ex), "");
    assert_eq!(ex.edits.headers.len(), 1);
    assert_eq!(ex.edits.headers[0].0, "x-id");
    assert_eq!(ex.edits.headers[0].1.as_ref(), ex.correlation_id.as_ref());
}

#[test]
fn echo_downstream_sets_the_response_header() {
    let mut resp = pingora::http::ResponseHeader::build(200, None).unwrap();
    let mut ex = Exchange::new();
    ex.correlation_id = Some(HeaderValue::from_static("abc"));
    plugin(json!({})).header_filter(&mut resp, &mut ex);
    assert!(resp.headers.get("kong-request-id").is_none());
    assert!(!plugin(json!({})).phases().has(Phases::HEADER));
    let echo = plugin(json!({"echo_downstream": true}));
    echo.header_filter(&mut resp, &mut ex);
    assert_eq!(resp.headers.get("kong-request-id").unwrap(), "abc");
    // No id yet (an answer before the access phase): one is generated and kept for the log.
    let mut ex = Exchange::new();
    echo.header_filter(&mut resp, &mut ex);
    let generated = resp.headers.get("kong-request-id").unwrap().clone();
    assert!(generated.to_str().unwrap().contains('#'));
    assert_eq!(ex.correlation_id, Some(generated));
}

#[test]
fn counter_ids_are_the_worker_threads_uuid_then_the_next_number() {
    let a = counted();
    let b = counted();
    let (ua, na) = a.to_str().unwrap().split_once('#').unwrap();
    let (ub, nb) = b.to_str().unwrap().split_once('#').unwrap();
    assert_eq!(ua, ub);
    assert!(uuid::Uuid::parse_str(ua).is_ok(), "{ua}");
    assert!(nb.parse::<u64>().unwrap() > na.parse::<u64>().unwrap());
}

#[test]
fn each_worker_thread_has_its_own_uuid() {
    let here = counted();
    let there = std::thread::spawn(counted).join().unwrap();
    let uuid = |v: &HeaderValue| v.to_str().unwrap().split_once('#').unwrap().0.to_owned();
    assert_ne!(uuid(&here), uuid(&there));
    assert!(there.to_str().unwrap().ends_with("#1"), "{there:?}");
    // A copy is the same id.
    assert_eq!(here.clone(), here);
}

//! Unit tests of request-termination: Kong's default messages, raw bodies, the trigger, the echo's shape
//! (spec/03-plugins/14-request-termination/02-access_spec.lua).

use super::*;
use crate::snapshot::Snapshot;
use serde_json::{json, Value};

const YAML: &str = r#"
_format_version: "3.0"
services:
- name: s
  url: http://127.0.0.1:9/
  routes: [{name: r, paths: [/r], hosts: [api.test]}]
"#;

fn snapshot() -> Snapshot {
    let config = gateway_config::load::parse_str(YAML).unwrap();
    let registry = gateway_auth::AuthRegistry::new(&prometheus::Registry::new());
    crate::snapshot::compile(config, YAML, &registry).unwrap()
}

fn plugin(cfg: Value) -> RequestTermination {
    RequestTermination::new(&RequestTerminationConfig::from_value(&cfg).unwrap())
}

/// Runs the plugin over `uri` with `headers`: `None` when it let the request through, else the reply's
/// status, Content-Type and body.
fn run(
    p: &RequestTermination,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Option<(u16, Option<String>, String)> {
    let snap = snapshot();
    let metrics = crate::metrics::Metrics::new(&prometheus::Registry::new()).unwrap();
    let mut map = http::HeaderMap::new();
    for (n, v) in headers {
        map.append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let uri: http::Uri = uri.parse().unwrap();
    let matched = snap.router.find(&gateway_config::router::RequestView {
        method: "GET",
        host: Some("api.test"),
        path: uri.path(),
        headers: &map,
        https: false,
        query: None,
        src: None,
        dst: None,
    });
    let req = Request {
        method: &http::Method::GET,
        uri: &uri,
        version: http::Version::HTTP_11,
        headers: &map,
        client_ip: None,
        https: false,
        server_addr: Some("127.0.0.1:8000".parse().unwrap()),
        client_cert_sha256: None,
        raw_body: None,
        body,
        snap: &snap,
        matched,
        metrics: &metrics,
    };
    let mut ex = Exchange::new();
    match futures::executor::block_on(p.access(&req, &mut ex).decide()) {
        Flow::Continue => None,
        Flow::Respond(Reply::Body {
            status,
            headers,
            body,
        }) => {
            let ct = (headers.iter())
                .find(|(n, _)| n == http::header::CONTENT_TYPE)
                .map(|(_, v)| v.to_str().unwrap().to_owned());
            Some((status, ct, String::from_utf8(body.to_vec()).unwrap()))
        }
        Flow::Respond(other) => panic!("unexpected reply {other:?}"),
    }
}

#[test]
fn default_messages_and_bodies_are_kongs() {
    let r = |cfg| run(&plugin(cfg), "/r", &[], None).unwrap();
    let msg = |m: &str| json!({ "message": m }).to_string();
    assert_eq!(r(json!({})), (503, None, msg("Service unavailable")));
    assert_eq!(
        r(json!({"status_code": 404})),
        (404, None, msg("Not found"))
    );
    assert_eq!(r(json!({"status_code": 418})), (418, None, String::new()));
    assert_eq!(
        r(json!({"status_code": 406, "message": "Invalid"})),
        (406, None, msg("Invalid"))
    );
    assert_eq!(
        r(json!({"status_code": 200, "body": "<h1>x</h1>", "content_type": "text/html"})),
        (200, Some("text/html".into()), "<h1>x</h1>".into())
    );
    // A body without content_type: the reply carries an empty Content-Type, which `respond` drops.
    assert_eq!(
        r(json!({"body": "plain"})),
        (503, Some(String::new()), "plain".into())
    );
}

#[test]
fn trigger_by_header_or_query_argument() {
    let p = plugin(json!({"trigger": "Gimme-An-Echo", "status_code": 404}));
    assert!(run(&p, "/r", &[], None).is_none());
    assert!(run(&p, "/r?other=1", &[("x", "y")], None).is_none());
    assert_eq!(
        run(&p, "/r", &[("gimme-an-echo", "x")], None).unwrap().0,
        404
    );
    assert_eq!(run(&p, "/r?Gimme-An-Echo=1", &[], None).unwrap().0, 404);
    assert_eq!(run(&p, "/r?a=1&Gimme-An-Echo", &[], None).unwrap().0, 404);
}

#[test]
fn echo_shapes_the_request_as_kong() {
    let p = plugin(json!({"echo": true, "status_code": 404}));
    let headers = [
        ("host", "API.test:8000"),
        ("x-a", "1"),
        ("x-a", "2"),
        ("content-type", "application/json"),
    ];
    let (status, ct, body) = run(
        &p,
        "/r/x?hello=there&a=1&a=2&flag",
        &headers,
        Some(b"{\"k\":1}"),
    )
    .unwrap();
    assert_eq!((status, ct), (404, None));
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["message"], "Not found");
    assert_eq!(v["kong"]["worker_pid"], json!(std::process::id()));
    let req = &v["request"];
    assert_eq!(
        (&req["scheme"], &req["host"], &req["port"]),
        (&json!("http"), &json!("api.test"), &json!(8000))
    );
    assert_eq!(req["headers"]["x-a"], json!(["1", "2"]));
    assert_eq!(req["headers"]["host"], json!("API.test:8000"));
    assert_eq!(
        req["query"],
        json!({"hello": "there", "a": ["1", "2"], "flag": true})
    );
    assert_eq!(req["body"], json!({"k": 1}));
    assert_eq!(req["raw_body"], json!("{\"k\":1}"));
    assert_eq!(
        (&req["method"], &req["path"]),
        (&json!("GET"), &json!("/r/x"))
    );
    assert_eq!(req["uri_captures"], json!({"named": {}, "unnamed": []}));
    assert_eq!(v["matched_route"]["name"], "r");
    assert_eq!(v["matched_route"]["hosts"], json!(["api.test"]));
    assert_eq!(v["matched_service"]["name"], "s");
}

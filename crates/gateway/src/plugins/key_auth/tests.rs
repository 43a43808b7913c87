//! Unit tests of key-auth: Kong's lookup order, its messages and challenge, duplicates, hidden credentials,
//! `anonymous` and `run_on_preflight`, against a compiled snapshot (no socket).

use super::*;
use crate::snapshot::Snapshot;
use http::{HeaderMap, HeaderName, Uri};

const KEY_ID: &str = "00000000-0000-0000-0000-0000000000aa";

fn yaml(plugin: &str) -> String {
    format!(
        r#"
_format_version: "3.0"
consumers:
  - username: alice
    keyauth_credentials:
      - {{id: {KEY_ID}, key: alice-key}}
  - username: anon
services:
  - name: s
    url: http://127.0.0.1:9/
    routes: [{{name: r, paths: [/]}}]
plugins:
  - {plugin}
"#
    )
}

fn snapshot(plugin: &str) -> Snapshot {
    let text = yaml(plugin);
    let config = gateway_config::load::parse_str(&text).unwrap();
    let registry = gateway_auth::AuthRegistry::new(&prometheus::Registry::new());
    crate::snapshot::compile(config, &text, &registry).unwrap()
}

fn plugin(cfg: serde_json::Value) -> KeyAuth {
    KeyAuth::new(&Arc::new(KeyAuthConfig::from_value(&cfg).unwrap()))
}

/// Runs `p` on a request; the reply's status, body and challenge, or the caller.
fn run(
    p: &KeyAuth,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &str)>,
) -> (Result<(), (u16, String, String)>, Exchange) {
    let snap = snapshot("{name: key-auth}");
    let metrics = crate::metrics::Metrics::new(&prometheus::Registry::new()).unwrap();
    let mut map = HeaderMap::new();
    for (n, v) in headers {
        map.append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    if let Some((ct, _)) = body {
        map.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_str(ct).unwrap(),
        );
    }
    let uri: Uri = uri.parse().unwrap();
    let req = Request {
        method: &method,
        uri: &uri,
        headers: &map,
        client_ip: None,
        https: false,
        server_addr: None,
        body: body.map(|(_, b)| b.as_bytes()),
        snap: &snap,
        matched: None,
        metrics: &metrics,
    };
    let mut ex = Exchange::new();
    let Access::Done(flow) = p.access(&req, &mut ex) else {
        panic!("key-auth never waits");
    };
    let out = match flow {
        Flow::Continue => Ok(()),
        Flow::Respond(Reply::Body {
            status,
            headers,
            body,
        }) => {
            let challenge = headers
                .iter()
                .find(|(n, _)| n == "www-authenticate")
                .map(|(_, v)| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            Err((status, String::from_utf8(body.to_vec()).unwrap(), challenge))
        }
        Flow::Respond(other) => panic!("unexpected {other:?}"),
    };
    (out, ex)
}

/// A request: its target, headers and (content type, body).
type Case<'a> = (
    &'a str,
    &'a [(&'a str, &'a str)],
    Option<(&'a str, &'a str)>,
);

fn refused(message: &str, challenge: &str) -> Result<(), (u16, String, String)> {
    Err((
        401,
        format!("{{\"message\":\"{message}\"}}"),
        challenge.to_owned(),
    ))
}

#[test]
fn a_key_in_header_query_or_body_authenticates_with_the_credential_id() {
    let p = plugin(serde_json::json!({"key_in_body": true}));
    let cases: [Case; 5] = [
        ("/", &[("apikey", "alice-key")], None),
        ("/", &[("ApiKey", "alice-key")], None),
        ("/?a=1&apikey=alice%2Dkey", &[], None),
        (
            "/",
            &[],
            Some(("application/x-www-form-urlencoded", "x=1&apikey=alice-key")),
        ),
        (
            "/",
            &[],
            Some(("application/json", r#"{"apikey":"alice-key"}"#)),
        ),
    ];
    for (uri, headers, body) in cases {
        let (out, ex) = run(&p, Method::POST, uri, headers, body);
        assert_eq!(out, Ok(()), "{uri} {headers:?} {body:?}");
        assert_eq!(ex.caller.consumer, Some(0));
        assert!(ex.caller.authenticated && !ex.caller.anonymous);
        assert_eq!(ex.caller.credential.as_ref().unwrap(), KEY_ID);
        assert!(ex.edits.headers.is_empty() && ex.edits.remove_query_args.is_empty());
    }
    // Without key_in_body, a body's key is not looked at.
    let p = plugin(serde_json::json!({}));
    let body = Some(("application/json", r#"{"apikey":"alice-key"}"#));
    assert_eq!(
        run(&p, Method::POST, "/", &[], body).0,
        refused(NO_KEY, "Key")
    );
}

#[test]
fn kongs_messages_and_challenge() {
    let p = plugin(serde_json::json!({}));
    let no_key = refused(NO_KEY, "Key");
    assert_eq!(run(&p, Method::GET, "/", &[], None).0, no_key);
    assert_eq!(run(&p, Method::GET, "/", &[("apikey", "")], None).0, no_key);
    assert_eq!(run(&p, Method::GET, "/?apikey", &[], None).0, no_key);
    assert_eq!(run(&p, Method::OPTIONS, "/", &[], None).0, no_key);
    assert_eq!(
        run(&p, Method::GET, "/?apikey=123", &[], None).0,
        refused(INVALID, "Key")
    );
    assert_eq!(
        run(&p, Method::GET, "/?apikey=a&apikey=b", &[], None).0,
        refused(DUPLICATE, "Key")
    );
    let twice = [("apikey", "alice-key"), ("apikey", "alice-key")];
    assert_eq!(
        run(&p, Method::GET, "/", &twice, None).0,
        refused(DUPLICATE, "Key")
    );
    let p = plugin(serde_json::json!({"realm": "test-realm"}));
    assert_eq!(
        run(&p, Method::GET, "/", &[], None).0,
        refused(NO_KEY, r#"Key realm="test-realm""#)
    );
}

#[test]
fn underscored_names_also_match_dashed_headers_not_the_reverse() {
    let p = plugin(serde_json::json!({"key_names": ["api_key"]}));
    for h in ["api_key", "api-key"] {
        assert_eq!(
            run(&p, Method::GET, "/", &[(h, "alice-key")], None).0,
            Ok(()),
            "{h}"
        );
    }
    let p = plugin(serde_json::json!({"key_names": ["api-key"]}));
    assert_eq!(
        run(&p, Method::GET, "/", &[("api_key", "alice-key")], None).0,
        refused(NO_KEY, "Key")
    );
}

#[test]
fn names_are_tried_in_order_and_sources_can_be_turned_off() {
    let p = plugin(serde_json::json!({"key_names": ["first", "second"], "key_in_header": false}));
    assert_eq!(
        run(
            &p,
            Method::GET,
            "/?second=alice-key",
            &[("first", "x")],
            None
        )
        .0,
        Ok(())
    );
    assert_eq!(
        run(&p, Method::GET, "/?first=nope&second=alice-key", &[], None).0,
        refused(INVALID, "Key")
    );
    let p = plugin(serde_json::json!({"key_in_query": false}));
    assert_eq!(
        run(&p, Method::GET, "/?apikey=alice-key", &[], None).0,
        refused(NO_KEY, "Key")
    );
}

#[test]
fn hide_credentials_removes_the_key_from_headers_and_query() {
    let p = plugin(serde_json::json!({"hide_credentials": true, "key_names": ["api_key"]}));
    let (out, ex) = run(&p, Method::GET, "/?api_key=alice-key", &[], None);
    assert_eq!(out, Ok(()));
    assert_eq!(ex.edits.remove_query_args, ["api_key"]);
    assert!(
        ex.edits.headers.iter().all(|(_, v)| v.is_none()),
        "removals"
    );
    let names: Vec<&str> = ex.edits.headers.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(names, ["api_key", "api-key"]);
}

#[test]
fn anonymous_and_preflight() {
    let p = plugin(serde_json::json!({"anonymous": "anon"}));
    let (out, ex) = run(&p, Method::GET, "/?apikey=wrong", &[], None);
    assert_eq!(out, Ok(()));
    assert_eq!(ex.caller.consumer, Some(1));
    assert!(ex.caller.anonymous && !ex.caller.authenticated);
    assert_eq!(ex.caller.credential, None);
    let p = plugin(serde_json::json!({"anonymous": "ghost"}));
    let (out, _) = run(&p, Method::GET, "/", &[], None);
    assert!(matches!(out, Err((500, _, _))), "{out:?}");
    let p = plugin(serde_json::json!({"run_on_preflight": false}));
    let (out, ex) = run(&p, Method::OPTIONS, "/", &[], None);
    assert_eq!(out, Ok(()));
    assert_eq!(ex.caller.consumer, None);
    assert_eq!(
        run(&p, Method::GET, "/", &[], None).0,
        refused(NO_KEY, "Key")
    );
}

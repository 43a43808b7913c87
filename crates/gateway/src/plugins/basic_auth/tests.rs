//! Unit tests of basic-auth: Kong's header parsing, its 401 and challenge, Proxy-Authorization first, hidden
//! credentials, `anonymous`, and the cache of successful checks.

use super::*;
use crate::snapshot::Snapshot;
use http::{HeaderMap, HeaderName, Method, Uri};

const YAML: &str = r#"
_format_version: "3.0"
consumers:
  - username: alice
    basicauth_credentials:
      - {username: user123, password: password123}
  - username: anon
services:
  - name: s
    url: http://127.0.0.1:9/
    routes: [{name: r, paths: [/]}]
"#;

fn snapshot() -> Snapshot {
    let config = gateway_config::load::parse_str(YAML).unwrap();
    let registry = gateway_auth::AuthRegistry::new(&prometheus::Registry::new());
    crate::snapshot::compile(config, YAML, &registry).unwrap()
}

fn plugin(cfg: serde_json::Value) -> BasicAuth {
    BasicAuth::new(&Arc::new(BasicAuthConfig::from_value(&cfg).unwrap()))
}

fn basic(user_pw: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_pw)
    )
}

/// Runs `p` with these headers: `Ok(())` or the reply's (status, body, challenge), and the exchange.
fn run(
    p: &BasicAuth,
    snap: &Snapshot,
    headers: &[(HeaderName, &str)],
) -> (Result<(), (u16, String, String)>, Exchange) {
    let metrics = crate::metrics::Metrics::new(&prometheus::Registry::new()).unwrap();
    let mut map = HeaderMap::new();
    for (n, v) in headers {
        map.append(n.clone(), HeaderValue::from_str(v).unwrap());
    }
    let uri: Uri = "/".parse().unwrap();
    let req = Request {
        method: &Method::GET,
        uri: &uri,
        headers: &map,
        client_ip: None,
        https: false,
        server_addr: None,
        body: None,
        snap,
        matched: None,
        metrics: &metrics,
    };
    let mut ex = Exchange::new();
    let Access::Done(flow) = p.access(&req, &mut ex) else {
        panic!("basic-auth never waits");
    };
    let out = match flow {
        Flow::Continue => Ok(()),
        Flow::Respond(Reply::Body {
            status,
            headers,
            body,
        }) => {
            let challenge = (headers.iter().find(|(n, _)| n == "www-authenticate"))
                .map(|(_, v)| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            Err((status, String::from_utf8(body.to_vec()).unwrap(), challenge))
        }
        Flow::Respond(other) => panic!("unexpected {other:?}"),
    };
    (out, ex)
}

fn refused(realm: &str) -> Result<(), (u16, String, String)> {
    Err((
        401,
        r#"{"message":"Unauthorized"}"#.to_owned(),
        format!("Basic realm=\"{realm}\""),
    ))
}

#[test]
fn parses_as_kong_does() {
    let v = |s: &str| HeaderValue::from_str(s).unwrap();
    let pair = |u: &str, p: &str| Some((u.to_owned(), p.to_owned()));
    assert_eq!(
        parse(&v(&basic("user123:password123"))),
        pair("user123", "password123")
    );
    assert_eq!(
        parse(&v(&basic("u:p:with:colons"))),
        pair("u", "p:with:colons")
    );
    assert_eq!(parse(&v(&basic("u:"))), pair("u", ""));
    assert_eq!(parse(&v(&basic(":u:p"))), pair("u", "p"));
    assert_eq!(parse(&v("basic   dTpw")), pair("u", "p"));
    assert_eq!(parse(&v(&basic("nocolon"))), None);
    assert_eq!(parse(&v("Bearer dTpw")), None);
    assert_eq!(parse(&v("Basic !!!")), None);
    assert_eq!(parse(&v("Basic ")), None);
}

#[test]
fn good_and_bad_passwords() {
    let snap = snapshot();
    let p = plugin(serde_json::json!({}));
    let good = basic("user123:password123");
    for _ in 0..2 {
        // The second time comes from the cache of successful checks.
        let (out, ex) = run(&p, &snap, &[(AUTHORIZATION, &good)]);
        assert_eq!(out, Ok(()));
        assert_eq!(ex.caller.consumer, Some(0));
        assert_eq!(ex.caller.credential.as_ref().unwrap(), "user123");
        assert!(ex.edits.headers.is_empty());
    }
    assert_eq!(p.verified.len(), 1);
    for bad in [
        basic("user123:wrong"),
        basic("nobody:password123"),
        "Basic garbage".to_owned(),
    ] {
        assert_eq!(
            run(&p, &snap, &[(AUTHORIZATION, &bad)]).0,
            refused("service")
        );
    }
    assert_eq!(p.verified.len(), 1, "failures are not cached");
    assert_eq!(run(&p, &snap, &[]).0, refused("service"));
    let p = plugin(serde_json::json!({"realm": "my-realm"}));
    assert_eq!(run(&p, &snap, &[]).0, refused("my-realm"));
}

#[test]
fn proxy_authorization_first_and_hidden_credentials() {
    let snap = snapshot();
    let p = plugin(serde_json::json!({"hide_credentials": true}));
    let good = basic("user123:password123");
    let (out, ex) = run(&p, &snap, &[(PROXY_AUTHORIZATION, &good)]);
    assert_eq!(out, Ok(()));
    assert_eq!(ex.edits.headers, [(PROXY_AUTHORIZATION, None)]);
    // An unknown user in Proxy-Authorization falls back to Authorization; both are hidden then.
    let other = basic("nobody:x");
    let (out, ex) = run(
        &p,
        &snap,
        &[(PROXY_AUTHORIZATION, &other), (AUTHORIZATION, &good)],
    );
    assert_eq!(out, Ok(()));
    assert_eq!(
        ex.edits.headers,
        [(PROXY_AUTHORIZATION, None), (AUTHORIZATION, None)]
    );
    // A known user with a wrong password in Proxy-Authorization is refused (as in Kong).
    let wrong = basic("user123:nope");
    let (out, _) = run(
        &p,
        &snap,
        &[(PROXY_AUTHORIZATION, &wrong), (AUTHORIZATION, &good)],
    );
    assert_eq!(out, refused("service"));
}

#[test]
fn anonymous_consumer_on_failure() {
    let snap = snapshot();
    let p = plugin(serde_json::json!({"anonymous": "anon"}));
    let (out, ex) = run(&p, &snap, &[(AUTHORIZATION, &basic("user123:bad"))]);
    assert_eq!(out, Ok(()));
    assert_eq!(ex.caller.consumer, Some(1));
    assert!(ex.caller.anonymous);
}

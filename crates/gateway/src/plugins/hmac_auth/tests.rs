//! Unit tests of the hmac-auth plugin: Kong's order of checks and its messages, the challenge, the
//! consumer it sets, Proxy-Authorization first, hidden credentials, `enforce_headers`, `algorithms`, the
//! body digest and `anonymous`.

use std::time::Duration;

use base64::Engine;
use http::Method;

use super::*;
use crate::plugins::test_support::{self, TestRequest};
use crate::snapshot::Snapshot;

const YAML: &str = r#"
_format_version: "3.0"
consumers:
  - username: alice
    hmacauth_credentials:
      - {username: alice-hmac, secret: alice-secret}
  - username: anon
services:
  - name: s
    url: http://127.0.0.1:9/
    routes: [{name: r, paths: [/]}]
"#;

const DATE: &str = "Thu, 22 Jun 2017 17:15:21 GMT";

fn now() -> SystemTime {
    httpdate::parse_http_date(DATE).unwrap() + Duration::from_secs(10)
}

fn plugin(cfg: serde_json::Value) -> HmacAuth {
    HmacAuth::new(&Arc::new(HmacAuthConfig::from_value(&cfg).unwrap()))
}

/// `hmac username=…` for `alice-hmac` signing `signed` with `algorithm`, naming `headers`.
fn credentials(algorithm: &str, headers: &str, signed: &str, secret: &str) -> String {
    let a = Algorithm::named(algorithm.as_bytes()).unwrap();
    let sig = base64::engine::general_purpose::STANDARD
        .encode(a.mac(secret.as_bytes(), signed.as_bytes()));
    format!(
        r#"hmac username="alice-hmac", algorithm="{algorithm}", headers="{headers}", signature="{sig}""#
    )
}

fn good(algorithm: &str) -> String {
    credentials(
        algorithm,
        "date request-line",
        &format!("date: {DATE}\nGET /p?q=1 HTTP/1.1"),
        "alice-secret",
    )
}

type Outcome = Result<(), (u16, String, String)>;

fn run_req(p: &HmacAuth, snap: &Snapshot, req: &TestRequest) -> (Outcome, Exchange) {
    let mut ex = Exchange::new();
    let flow = p.access_at(&req.view(snap), &mut ex, now());
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

fn run(p: &HmacAuth, snap: &Snapshot, headers: &[(&str, &str)]) -> (Outcome, Exchange) {
    run_req(p, snap, &TestRequest::new(Method::GET, "/p?q=1", headers))
}

fn refused(message: &str) -> Outcome {
    Err((401, format!(r#"{{"message":"{message}"}}"#), "hmac".into()))
}

#[test]
fn a_good_signature_of_each_algorithm_authenticates() {
    let snap = test_support::snapshot(YAML);
    let p = plugin(serde_json::json!({}));
    for algorithm in ["hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"] {
        let (out, ex) = run(
            &p,
            &snap,
            &[("date", DATE), ("authorization", &good(algorithm))],
        );
        assert_eq!(out, Ok(()), "{algorithm}");
        assert_eq!(ex.caller.consumer, Some(0));
        assert_eq!(ex.caller.credential.as_ref().unwrap(), "alice-hmac");
        assert!(ex.caller.authenticated && !ex.caller.anonymous);
        assert!(ex.edits.headers.is_empty(), "hide_credentials is off");
    }
}

#[test]
fn kongs_messages_in_kongs_order() {
    let snap = test_support::snapshot(YAML);
    let p = plugin(serde_json::json!({}));
    let auth = good("hmac-sha256");
    assert_eq!(run(&p, &snap, &[("date", DATE)]).0, refused(UNAUTHORIZED));
    assert_eq!(
        run(&p, &snap, &[("authorization", &auth)]).0,
        refused(CLOCK_SKEW)
    );
    let stale = "Thu, 22 Jun 2017 17:05:20 GMT";
    assert_eq!(
        run(&p, &snap, &[("date", stale), ("authorization", &auth)]).0,
        refused(CLOCK_SKEW)
    );
    // A good X-Date is enough, whatever Date says.
    let x_date = [("x-date", DATE), ("date", stale), ("authorization", &auth)];
    assert_eq!(
        run(&p, &snap, &x_date).0,
        refused(NOT_SAME),
        "date was signed, not x-date's value"
    );
    assert_eq!(
        run(
            &p,
            &snap,
            &[("date", DATE), ("authorization", "Basic eDp5")]
        )
        .0,
        refused(NOT_VALID)
    );
    let unknown = auth.replace("alice-hmac", "carol");
    assert_eq!(
        run(&p, &snap, &[("date", DATE), ("authorization", &unknown)]).0,
        refused(NOT_VALID)
    );
    let md5 = auth.replace("hmac-sha256", "hmac-md5");
    assert_eq!(
        run(&p, &snap, &[("date", DATE), ("authorization", &md5)]).0,
        refused(NOT_VALID)
    );
    let wrong = credentials(
        "hmac-sha256",
        "date request-line",
        "something else",
        "alice-secret",
    );
    assert_eq!(
        run(&p, &snap, &[("date", DATE), ("authorization", &wrong)]).0,
        refused(NOT_SAME)
    );
    let (out, ex) = run(&p, &snap, &[("date", DATE), ("authorization", &wrong)]);
    assert!(out.is_err() && ex.caller.consumer.is_none() && ex.auth == "deny");
    // The realm, when set.
    let p = plugin(serde_json::json!({"realm": "api"}));
    let (out, _) = run(&p, &snap, &[("date", DATE)]);
    assert_eq!(out.unwrap_err().2, r#"hmac realm="api""#);
}

#[test]
fn algorithms_and_enforced_headers_are_the_configs() {
    let snap = test_support::snapshot(YAML);
    let p = plugin(
        serde_json::json!({"algorithms": ["hmac-sha512"], "enforce_headers": ["date", "request-line"]}),
    );
    let h = |auth: &str| run(&p, &snap, &[("date", DATE), ("authorization", auth)]).0;
    assert_eq!(h(&good("hmac-sha512")), Ok(()));
    assert_eq!(h(&good("hmac-sha256")), refused(NOT_VALID));
    let date_only = credentials(
        "hmac-sha512",
        "date",
        &format!("date: {DATE}"),
        "alice-secret",
    );
    assert_eq!(h(&date_only), refused(NOT_VALID));
}

#[test]
fn proxy_authorization_first_and_hidden_credentials() {
    let snap = test_support::snapshot(YAML);
    let p = plugin(serde_json::json!({"hide_credentials": true}));
    let auth = good("hmac-sha1");
    let (out, ex) = run(
        &p,
        &snap,
        &[
            ("date", DATE),
            ("proxy-authorization", &auth),
            ("authorization", "Bearer x"),
        ],
    );
    assert_eq!(out, Ok(()));
    assert_eq!(ex.edits.headers, [(PROXY_AUTHORIZATION, None)]);
    let (out, ex) = run(
        &p,
        &snap,
        &[
            ("date", DATE),
            ("proxy-authorization", "junk"),
            ("authorization", &auth),
        ],
    );
    assert_eq!(out, Ok(()));
    assert_eq!(ex.edits.headers, [(AUTHORIZATION, None)]);
}

#[test]
fn the_body_digest_when_validate_request_body() {
    let snap = test_support::snapshot(YAML);
    let p = plugin(serde_json::json!({"validate_request_body": true}));
    assert!(p.needs_raw_body());
    let digest = format!(
        "SHA-256={}",
        base64::engine::general_purpose::STANDARD.encode(openssl::sha::sha256(b"hello"))
    );
    let auth = good("hmac-sha256");
    let with = |digest: Option<&str>, body: &[u8]| {
        let mut headers = vec![("date", DATE), ("authorization", auth.as_str())];
        headers.extend(digest.map(|d| ("digest", d)));
        let mut req = TestRequest::new(Method::GET, "/p?q=1", &headers);
        req.raw_body = Some(body.to_vec());
        run_req(&p, &snap, &req).0
    };
    assert_eq!(with(Some(&digest), b"hello"), Ok(()));
    assert_eq!(with(Some(&digest), b"hellO"), refused(NOT_SAME));
    assert_eq!(with(None, b""), Ok(()));
    assert_eq!(with(None, b"hello"), refused(NOT_SAME));
    assert!(!plugin(serde_json::json!({})).needs_raw_body());
}

#[test]
fn anonymous_is_kongs_logical_or() {
    let snap = test_support::snapshot(YAML);
    let p = plugin(serde_json::json!({"anonymous": "anon"}));
    let (out, ex) = run(&p, &snap, &[("date", DATE)]);
    assert_eq!(out, Ok(()));
    assert_eq!(ex.caller.consumer, Some(1));
    assert!(ex.caller.anonymous && ex.caller.credential.is_none());
    let (out, ex) = run(
        &p,
        &snap,
        &[("date", DATE), ("authorization", &good("hmac-sha1"))],
    );
    assert_eq!((out, ex.caller.consumer), (Ok(()), Some(0)));
    let missing = plugin(serde_json::json!({"anonymous": "nobody"}));
    let (out, _) = run(&missing, &snap, &[("date", DATE)]);
    assert_eq!(out.unwrap_err().0, 500);
}

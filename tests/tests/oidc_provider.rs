//! The second real IdP, oidc-provider (Node): its opaque client_credentials tokens introspected through
//! discovery (`/token/introspection`), its JWT access tokens (resource indicators, `typ: at+jwt`) verified
//! locally with no introspection call, and the claim checks on both; an RFC 9701 answer tampered on the way
//! (a fault-injecting relay) refused, not cached, not an outage. One IdP, one httpbin, one gateway per test.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use base64::Engine as _;

use common::{assert_401, assert_403, assert_echo, client, routes_config, send, Reply};
use e2e::fake_idp::{respond, FakeServer};
use e2e::metrics::{idp_requests, introspection_calls};
use e2e::oidc_provider::{OidcProvider, OP_CLIENT};
use e2e::{Gateway, Httpbin, Ports};
use serde_json::{json, Map, Value};

const API: &str = "https://api.test";

fn plugin(op: &OidcProvider, methods: &[&str], extra: Value) -> Value {
    let mut c = Map::new();
    c.insert("issuer".into(), json!(op.issuer()));
    c.insert("client_id".into(), json!([OP_CLIENT.0]));
    c.insert("client_secret".into(), json!([OP_CLIENT.1]));
    c.insert("auth_methods".into(), json!(methods));
    if let Value::Object(extra) = extra {
        c.extend(extra);
    }
    Value::Object(c)
}

fn get(gw: &Gateway, path: &str, token: &str) -> Reply {
    send(
        client()
            .get(format!("{}{path}", gw.proxy_url()))
            .bearer_auth(token),
    )
}

#[test]
fn oidc_provider_opaque_tokens_introspected_and_jwts_verified_locally() {
    let op = OidcProvider::start();
    let httpbin = Httpbin::start();
    let routes = [
        (
            "/jwt",
            Some(plugin(
                &op,
                &["bearer"],
                json!({"audience_required": [API], "scopes_required": ["read"]}),
            )),
        ),
        ("/intro", Some(plugin(&op, &["introspection"], json!({})))),
        (
            "/signed",
            Some(plugin(
                &op,
                &["introspection"],
                json!({"introspection_accept": "application/token-introspection+jwt",
                       "upstream_introspection_jwt_header": "x-introspection-jwt",
                       "upstream_headers_claims": ["client_id"], "upstream_headers_names": ["x-client"]}),
            )),
        ),
        (
            "/write",
            Some(plugin(
                &op,
                &["introspection"],
                json!({"scopes_required": ["write"]}),
            )),
        ),
    ];
    let gw = Gateway::start(&routes_config(Ports::free(), &httpbin.url(), &routes));
    let admin = gw.admin_url();

    // JWT access tokens: verified with the provider's JWKS, never introspected.
    let jwt = op.jwt_token("read", API);
    assert!(
        jwt.starts_with("ey") && jwt.split('.').count() == 3,
        "{jwt:.20}"
    );
    let echo = assert_echo(&get(&gw, "/jwt", &jwt), "oidc-provider's JWT");
    assert_eq!(echo["headers"]["Authorization"], format!("Bearer {jwt}"));
    assert_403(
        &get(&gw, "/jwt", &op.jwt_token("read", "https://other.test")),
        "a JWT for another audience",
    );
    assert_403(
        &get(&gw, "/jwt", &op.jwt_token("write", API)),
        "a JWT without the read scope",
    );
    assert_401(
        &get(&gw, "/jwt", &op.opaque_token("read")),
        "bearer only: an opaque token",
    );
    assert_eq!(introspection_calls(&admin), 0);
    assert_eq!(idp_requests(&admin, "jwks"), 1);

    // Opaque tokens: introspected (the gateway's client may introspect the app's tokens).
    let opaque = op.opaque_token("read");
    assert_echo(&get(&gw, "/intro", &opaque), "an active opaque token");
    assert_echo(&get(&gw, "/intro", &opaque), "cached");
    assert_eq!(introspection_calls(&admin), 1);
    assert_401(
        &get(&gw, "/intro", "not-a-token-it-issued"),
        "unknown token",
    );
    assert_403(&get(&gw, "/write", &opaque), "scope read only");
    assert_echo(
        &get(&gw, "/write", &op.opaque_token("read write")),
        "scope write",
    );

    // RFC 9701: the answer is a JWT signed by the provider, verified with its keys; the result inside it
    // decides and feeds the upstream headers.
    let calls = introspection_calls(&admin);
    let r = send(
        client()
            .get(format!("{}/signed", gw.proxy_url()))
            .bearer_auth(&opaque)
            .header("x-introspection-jwt", "forged-by-the-caller"),
    );
    let echo = assert_echo(&r, "a verified signed answer");
    assert_eq!(echo["headers"]["X-Client"], "app");
    // upstream_introspection_jwt_header: the provider's signed answer, as received (never the caller's).
    let jwt = echo["headers"]["X-Introspection-Jwt"]
        .as_str()
        .unwrap_or_else(|| panic!("no X-Introspection-Jwt upstream: {echo}"));
    let part = |i: usize| -> Value {
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(i).expect("a JWS"))
            .expect("base64url");
        serde_json::from_slice(&b).expect("JSON")
    };
    assert_eq!(part(0)["typ"], "token-introspection+jwt", "{jwt:.40}");
    assert_eq!(part(1)["token_introspection"]["client_id"], "app");
    assert_eq!(part(1)["iss"], op.issuer());
    assert_401(
        &get(&gw, "/signed", "not-a-token-it-issued"),
        "signed answer: inactive",
    );
    assert_eq!(introspection_calls(&admin), calls + 2);
    assert_eq!(
        idp_requests(&admin, "jwks"),
        2,
        "one more key fetch, for /signed"
    );
}

/// A fault-injecting relay in front of oidc-provider's introspection endpoint: each request's form is
/// sent on to `introspection` (as the gateway's client, asking for an RFC 9701 answer), and while
/// `tamper` is set, one character of the answer JWT's signature is changed on the way back. The only fake
/// here (fault injection); the signer and everything else is the real oidc-provider.
fn tampering_relay(introspection: String, tamper: Arc<AtomicBool>) -> FakeServer {
    FakeServer::start(move |mut conn, req, _stop| {
        let answer = reqwest::blocking::Client::new()
            .post(&introspection)
            .basic_auth(OP_CLIENT.0, Some(OP_CLIENT.1))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/token-introspection+jwt")
            .body(req.body)
            .send();
        let Ok(answer) = answer else {
            return respond(&mut conn, 502, &[], "");
        };
        let status = answer.status().as_u16();
        let content_type = answer
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let mut body = answer.text().unwrap_or_default();
        if tamper.load(Ordering::SeqCst) {
            if let Some((signed, sig)) = body.rsplit_once('.') {
                let mid = sig.len() / 2;
                let flipped = if &sig[mid..=mid] == "A" { "B" } else { "A" };
                body = format!("{signed}.{}{flipped}{}", &sig[..mid], &sig[mid + 1..]);
            }
        }
        respond(&mut conn, status, &[("content-type", &content_type)], &body);
    })
}

#[test]
fn a_tampered_signed_introspection_answer_is_refused_not_cached_and_not_an_outage() {
    let op = OidcProvider::start();
    let httpbin = Httpbin::start();
    let intro = discovery_field(&op, "introspection_endpoint");
    let tamper = Arc::new(AtomicBool::new(true));
    let relay = tampering_relay(intro.clone(), tamper.clone());
    let relayed = format!("{}{}", relay.base(), url_path(&intro));
    let routes = [(
        "/signed",
        Some(plugin(
            &op,
            &["introspection"],
            json!({"introspection_accept": "application/token-introspection+jwt",
                   "introspection_endpoint": relayed,
                   "idp_outage_status": 503, "idp_circuit_breaker_failures": 2,
                   "upstream_headers_claims": ["client_id"], "upstream_headers_names": ["x-client"]}),
        )),
    )];
    let gw = Gateway::start(&routes_config(Ports::free(), &httpbin.url(), &routes));
    let admin = gw.admin_url();
    let opaque = op.opaque_token("read");

    // Tampered: 401 (a bad answer, not an outage: never 503, the breaker stays closed after more
    // failures than its threshold), and not cached: every request asks again.
    for i in 1..=4 {
        assert_401(&get(&gw, "/signed", &opaque), "a tampered signed answer");
        assert_eq!(introspection_calls(&admin), i, "not cached");
    }
    assert_eq!(relay.requests("token").len(), 4, "each reached the relay");
    let label = format!("endpoint=\"{relayed}\"");
    let metrics = e2e::metrics::metrics_text(&admin);
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("gateway_idp_circuit_state")
                && l.contains(&label)
                && l.ends_with(" 0")),
        "circuit closed: {metrics}"
    );
    // The same token with the answer intact: verified and allowed at once (nothing negative was cached).
    tamper.store(false, Ordering::SeqCst);
    let echo = assert_echo(&get(&gw, "/signed", &opaque), "the intact signed answer");
    assert_eq!(echo["headers"]["X-Client"], "app");
}

/// A member of oidc-provider's discovery document.
fn discovery_field(op: &OidcProvider, name: &str) -> String {
    let r = send(client().get(format!("{}/.well-known/openid-configuration", op.issuer())));
    assert_eq!(r.status, 200, "{r:?}");
    r.json()[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {r:?}"))
        .to_owned()
}

/// The path of an absolute URL (`/token/introspection`).
fn url_path(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/').map_or("/", |i| &rest[i..])
}

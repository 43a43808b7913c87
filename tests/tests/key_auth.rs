//! Kong's key-auth plugin end to end, through the real gateway binary to the real httpbin: a key in a
//! header, the query string or a form/JSON body; Kong's 401s (body and `WWW-Authenticate`); the consumer
//! headers httpbin receives (`X-Credential-Identifier` = the credential's id); `hide_credentials`;
//! `anonymous`; `run_on_preflight: false`; a route without a service (the plugin runs, then Kong's 503, also
//! for such a route created through the Admin API). One gateway and one httpbin serve every case.

mod common;

use common::{assert_echo, client, send, Reply};
use e2e::{Gateway, Httpbin, Ports};
use reqwest::Method;
use serde_json::{json, Value};

const ALICE_ID: &str = "7d3c1a52-0000-4000-8000-000000000001";
const ANON_ID: &str = "7d3c1a52-0000-4000-8000-000000000002";
const KEY_ID: &str = "7d3c1a52-0000-4000-8000-0000000000aa";
const KEY: &str = "alice-secret-key";

fn config(ports: Ports, httpbin: &str) -> Value {
    let mut config = e2e::config_value(ports, httpbin, None);
    let route = |name: &str, cfg: Value| {
        json!({"name": name, "paths": [format!("/{name}")],
               "plugins": [{"name": "key-auth", "config": cfg}]})
    };
    config["services"][0]["routes"] = json!([
        route("plain", json!({"key_in_body": true})),
        route(
            "hide",
            json!({"hide_credentials": true, "key_names": ["apikey", "api_key"]})
        ),
        route("realm", json!({"realm": "test-realm"})),
        route("anon", json!({"anonymous": "anonymous"})),
        route("preflight", json!({"run_on_preflight": false})),
    ]);
    // A route without a service (Kong allows it): its plugins run, then Kong's 503.
    config["routes"] = json!([route("lone", json!({}))]);
    config["consumers"] = json!([
        {"id": ALICE_ID, "username": "alice", "custom_id": "c-alice",
         "keyauth_credentials": [{"id": KEY_ID, "key": KEY}]},
        {"id": ANON_ID, "username": "anonymous"},
    ]);
    config
}

fn request(gw: &Gateway, method: Method, path: &str) -> reqwest::blocking::RequestBuilder {
    client().request(method, format!("{}{path}", gw.proxy_url()))
}

/// The consumer headers httpbin echoed: id, custom id, username, credential, anonymous.
fn identity(echo: &Value) -> [Option<&str>; 5] {
    [
        "X-Consumer-Id",
        "X-Consumer-Custom-Id",
        "X-Consumer-Username",
        "X-Credential-Identifier",
        "X-Anonymous-Consumer",
    ]
    .map(|h| echo["headers"][h].as_str())
}

#[track_caller]
fn assert_refused(r: &Reply, message: &str, challenge: &str) {
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.json(), json!({ "message": message }), "{r:?}");
    assert_eq!(r.header("www-authenticate"), Some(challenge), "{r:?}");
    assert!(!r.everything().contains(KEY), "the key is echoed: {r:?}");
}

#[test]
fn key_auth_end_to_end() {
    let httpbin = Httpbin::start();
    let gw = Gateway::start(&e2e::to_yaml(&config(Ports::free(), &httpbin.url())));
    let alice = [
        Some(ALICE_ID),
        Some("c-alice"),
        Some("alice"),
        Some(KEY_ID),
        None,
    ];

    // A key in a header (any case), the query string, a form body and a JSON body; spoofed identity
    // headers never reach the upstream.
    let r = send(
        request(&gw, Method::GET, "/plain")
            .header("ApiKey", KEY)
            .header("X-Consumer-Username", "admin"),
    );
    let echo = assert_echo(&r, "header");
    assert_eq!(identity(&echo), alice, "{echo}");
    assert_eq!(
        echo["headers"]["Apikey"], KEY,
        "not hidden by default: {echo}"
    );
    let echo = assert_echo(
        &send(request(
            &gw,
            Method::GET,
            &format!("/plain?a=1&apikey={KEY}"),
        )),
        "query",
    );
    assert_eq!(identity(&echo), alice, "{echo}");
    assert_eq!(echo["args"]["apikey"], KEY, "{echo}");
    let echo = assert_echo(
        &send(request(&gw, Method::POST, "/plain").form(&[("apikey", KEY), ("foo", "bar")])),
        "form body",
    );
    assert_eq!(identity(&echo), alice, "{echo}");
    assert_eq!(echo["form"]["foo"], "bar", "the body goes upstream: {echo}");
    let echo = assert_echo(
        &send(request(&gw, Method::POST, "/plain").json(&json!({"apikey": KEY, "n": 1}))),
        "json body",
    );
    assert_eq!(identity(&echo), alice, "{echo}");
    assert_eq!(echo["json"]["n"], 1, "{echo}");

    // Kong's refusals: no key, empty key, a wrong key, a duplicate; the challenge with and without realm.
    let r = send(request(&gw, Method::GET, "/plain"));
    assert_refused(&r, "No API key found in request", "Key");
    let r = send(request(&gw, Method::GET, "/plain").header("apikey", ""));
    assert_refused(&r, "No API key found in request", "Key");
    let r = send(request(&gw, Method::GET, "/plain?apikey=123"));
    assert_refused(&r, "Unauthorized", "Key");
    let r = send(request(&gw, Method::GET, "/plain?apikey=a&apikey=b"));
    assert_refused(&r, "Duplicate API key found", "Key");
    let r = send(request(&gw, Method::GET, "/realm?apikey=wrong"));
    assert_refused(&r, "Unauthorized", r#"Key realm="test-realm""#);
    let r = send(request(&gw, Method::OPTIONS, "/plain"));
    assert_refused(&r, "No API key found in request", "Key");

    // hide_credentials: neither the header (also an underscored name's dashed spelling) nor the query
    // argument reaches the upstream; other arguments keep their order.
    let r = send(request(&gw, Method::GET, "/hide?c=1&apikey=").header("X-Other", "kept"));
    assert_refused(&r, "No API key found in request", "Key");
    let echo = assert_echo(
        &send(request(&gw, Method::GET, "/hide").header("apikey", KEY)),
        "hidden header",
    );
    assert_eq!(echo["headers"]["Apikey"], Value::Null, "{echo}");
    assert_eq!(identity(&echo), alice, "{echo}");
    let echo = assert_echo(
        &send(request(&gw, Method::GET, "/hide").header("api-key", KEY)),
        "hidden dashed header",
    );
    assert_eq!(echo["headers"]["Api-Key"], Value::Null, "{echo}");
    let r = send(request(
        &gw,
        Method::GET,
        &format!("/hide?c=1&b=2&apikey={KEY}&a=3"),
    ));
    let echo = assert_echo(&r, "hidden query");
    assert_eq!(
        echo["args"],
        json!({"a": "3", "b": "2", "c": "1"}),
        "{echo}"
    );
    assert!(
        echo["url"].as_str().unwrap().ends_with("?c=1&b=2&a=3"),
        "{echo}"
    );
    assert!(!r.body.contains(KEY), "{r:?}");

    // anonymous: a wrong key or none runs as the anonymous consumer; a good key as alice.
    for req in [
        request(&gw, Method::GET, "/anon"),
        request(&gw, Method::GET, "/anon?apikey=wrong"),
    ] {
        let echo = assert_echo(&send(req), "anonymous");
        assert_eq!(
            identity(&echo),
            [Some(ANON_ID), None, Some("anonymous"), None, Some("true")],
            "{echo}"
        );
    }
    let echo = assert_echo(
        &send(request(&gw, Method::GET, "/anon").header("apikey", KEY)),
        "anon route, good key",
    );
    assert_eq!(identity(&echo), alice, "{echo}");

    // run_on_preflight: false lets OPTIONS through unauthenticated, and only OPTIONS.
    let r = send(request(&gw, Method::OPTIONS, "/preflight"));
    assert_eq!(r.status, 200, "{r:?}");
    let r = send(request(&gw, Method::GET, "/preflight"));
    assert_refused(&r, "No API key found in request", "Key");

    // A route without a service: key-auth refuses without a key; with one, Kong's 503.
    let r = send(request(&gw, Method::GET, "/lone"));
    assert_refused(&r, "No API key found in request", "Key");
    let r = send(request(&gw, Method::GET, "/lone").header("apikey", KEY));
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(
        r.json(),
        json!({"message": "no Service found with those values"})
    );
    // The same through the Admin API: created with `service: null`, then served with the 503.
    let created = send(
        client()
            .post(format!("{}/routes", gw.admin_url()))
            .json(&json!({"name": "admin-lone", "paths": ["/admin-lone"]})),
    );
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.json()["service"], Value::Null, "{created:?}");
    let r = send(request(&gw, Method::GET, "/admin-lone/x"));
    assert_eq!(r.status, 503, "{r:?}");

    assert!(!gw.log().contains(KEY), "the key is in the log");
}

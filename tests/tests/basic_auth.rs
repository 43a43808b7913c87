//! Kong's basic-auth plugin end to end, through the real gateway binary to the real httpbin: good and bad
//! passwords with Kong's 401 and `Basic realm` challenge, `Proxy-Authorization`, `hide_credentials`, and
//! Kong's "logical OR" of key-auth and basic-auth on one route, both with `anonymous`: either credential
//! passes, none gives the anonymous consumer, and the consumer headers have openid-connect's shape.

mod common;

use common::{assert_echo, client, send, Reply};
use e2e::{Gateway, Httpbin, Ports};
use reqwest::Method;
use serde_json::{json, Value};

const BOB_ID: &str = "7d3c1a52-0000-4000-8000-000000000011";
const ANON_ID: &str = "7d3c1a52-0000-4000-8000-000000000012";
const PASSWORD: &str = "bob's password: with colon";
const KEY: &str = "bob-api-key";
const KEY_ID: &str = "7d3c1a52-0000-4000-8000-0000000000bb";

fn config(ports: Ports, httpbin: &str) -> Value {
    let mut config = e2e::config_value(ports, httpbin, None);
    let route = |name: &str, plugins: Value| json!({"name": name, "paths": [format!("/{name}")], "plugins": plugins});
    let basic = |cfg: Value| json!({"name": "basic-auth", "config": cfg});
    config["services"][0]["routes"] = json!([
        route("plain", json!([basic(json!({}))])),
        route(
            "hide",
            json!([basic(
                json!({"hide_credentials": true, "realm": "my-realm"})
            )])
        ),
        route(
            "either",
            json!([
                basic(json!({"anonymous": ANON_ID})),
                {"name": "key-auth", "config": {"anonymous": ANON_ID}},
            ])
        ),
    ]);
    config["consumers"] = json!([
        {"id": BOB_ID, "username": "bob", "custom_id": "c-bob",
         "basicauth_credentials": [{"username": "bob-user", "password": PASSWORD}],
         "keyauth_credentials": [{"id": KEY_ID, "key": KEY}]},
        {"id": ANON_ID, "username": "anonymous"},
    ]);
    config
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
fn assert_refused(r: &Reply, realm: &str) {
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.body, r#"{"message":"Unauthorized"}"#, "{r:?}");
    let challenge = format!("Basic realm=\"{realm}\"");
    assert_eq!(
        r.header("www-authenticate"),
        Some(challenge.as_str()),
        "{r:?}"
    );
}

#[test]
fn basic_auth_and_the_logical_or_with_key_auth() {
    let httpbin = Httpbin::start();
    let gw = Gateway::start(&e2e::to_yaml(&config(Ports::free(), &httpbin.url())));
    let get = |path: &str| client().request(Method::GET, format!("{}{path}", gw.proxy_url()));
    let bob = |credential: &'static str| {
        [
            Some(BOB_ID),
            Some("c-bob"),
            Some("bob"),
            Some(credential),
            None,
        ]
    };

    // Good password (twice: the second check comes from the cache of successes), then bad ones.
    for _ in 0..2 {
        let r = send(get("/plain").basic_auth("bob-user", Some(PASSWORD)));
        let echo = assert_echo(&r, "good password");
        assert_eq!(identity(&echo), bob("bob-user"), "{echo}");
        assert!(echo["headers"]["Authorization"].is_string(), "kept: {echo}");
    }
    assert_refused(
        &send(get("/plain").basic_auth("bob-user", Some("wrong"))),
        "service",
    );
    assert_refused(
        &send(get("/plain").basic_auth("nobody", Some(PASSWORD))),
        "service",
    );
    assert_refused(
        &send(get("/plain").header("Authorization", "Basic !!")),
        "service",
    );
    assert_refused(&send(get("/plain")), "service");
    // Proxy-Authorization is read first.
    let r = send(get("/plain").header("Proxy-Authorization", basic_header("bob-user", PASSWORD)));
    assert_eq!(
        identity(&assert_echo(&r, "proxy-authorization")),
        bob("bob-user")
    );

    // hide_credentials and realm.
    let echo = assert_echo(
        &send(get("/hide").basic_auth("bob-user", Some(PASSWORD))),
        "hidden",
    );
    assert_eq!(echo["headers"]["Authorization"], Value::Null, "{echo}");
    assert_eq!(identity(&echo), bob("bob-user"), "{echo}");
    assert_refused(
        &send(get("/hide").basic_auth("bob-user", Some("x"))),
        "my-realm",
    );

    // Logical OR: either credential passes; none (or wrong ones) gives the anonymous consumer.
    let by_basic = assert_echo(
        &send(get("/either").basic_auth("bob-user", Some(PASSWORD))),
        "either, basic",
    );
    assert_eq!(identity(&by_basic), bob("bob-user"), "{by_basic}");
    let by_key = assert_echo(&send(get("/either").header("apikey", KEY)), "either, key");
    assert_eq!(identity(&by_key), bob(KEY_ID), "{by_key}");
    let anonymous = [Some(ANON_ID), None, Some("anonymous"), None, Some("true")];
    for req in [
        get("/either"),
        get("/either").header("apikey", "wrong"),
        get("/either").basic_auth("bob-user", Some("wrong")),
    ] {
        let echo = assert_echo(&send(req), "either, none");
        assert_eq!(identity(&echo), anonymous, "{echo}");
    }
    // The same header names and values as openid-connect sets (consumers.rs): only these five.
    let names = |echo: &Value| -> Vec<String> {
        let mut n: Vec<String> = echo["headers"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| {
                k.starts_with("X-Consumer")
                    || k.starts_with("X-Credential")
                    || k.starts_with("X-Anonymous")
            })
            .cloned()
            .collect();
        n.sort();
        n
    };
    assert_eq!(
        names(&by_key),
        [
            "X-Consumer-Custom-Id",
            "X-Consumer-Id",
            "X-Consumer-Username",
            "X-Credential-Identifier"
        ]
    );
    assert!(!gw.log().contains(PASSWORD), "the password is in the log");
}

fn basic_header(user: &str, password: &str) -> String {
    use base64::Engine;
    let raw = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

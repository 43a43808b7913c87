//! Kong consumers end to end: tokens from the real Glewlwyd IdP mapped to consumers by `consumer_claim`,
//! the `X-Consumer-*` headers the real httpbin receives, spoofed identity headers stripped,
//! `consumer_optional` and `anonymous` as Kong, and the `/consumers` Admin API.

mod common;

use common::{assert_401, assert_echo, client, routes_config_value, send, Reply, FORBIDDEN};
use e2e::{oidc_config, Gateway, Httpbin, Idp, Ports, ALICE, JANE, JOHN};
use reqwest::Method;
use serde_json::{json, Value};

/// Consumer ids fixed in the file, to compare with what the upstream sees.
const JOHN_ID: &str = "0b5f7a4e-7d59-4f7e-9a32-6a0c1f6c1a01";
const ANON_ID: &str = "0b5f7a4e-7d59-4f7e-9a32-6a0c1f6c1a02";

struct Servers {
    gateway: Gateway,
    _httpbin: Httpbin,
    idp: Idp,
}

fn mapped(idp: &Idp, extra: Value) -> Value {
    let mut extra = extra;
    extra["consumer_claim"] = json!(["username"]);
    oidc_config(idp.issuer(), &["introspection"], extra)
}

fn start() -> Servers {
    let (idp, httpbin) = e2e::start_idp_and_httpbin();
    let routes = vec![
        ("/mapped", Some(mapped(&idp, json!({})))),
        (
            "/optional",
            Some(mapped(&idp, json!({"consumer_optional": true}))),
        ),
        (
            "/anon",
            Some(mapped(&idp, json!({"anonymous": "anonymous-user"}))),
        ),
        (
            "/by-custom-id",
            Some(mapped(&idp, json!({"consumer_by": ["custom_id"]}))),
        ),
        ("/open", None),
    ];
    let mut config = routes_config_value(Ports::free(), &httpbin.url(), &routes);
    config["consumers"] = json!([
        {"id": JOHN_ID, "username": "john", "custom_id": "c-john"},
        {"username": "alice"},
        {"id": ANON_ID, "username": "anonymous-user"},
    ]);
    let gateway = Gateway::start(&e2e::to_yaml(&config));
    Servers {
        gateway,
        _httpbin: httpbin,
        idp,
    }
}

impl Servers {
    fn get(&self, path: &str, token: Option<&str>, headers: &[(&str, &str)]) -> Reply {
        let mut req = client().get(format!("{}{path}", self.gateway.proxy_url()));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        send(req)
    }
}

/// The identity headers httpbin echoed (Title-Case names), absent ones as `None`.
fn identity(echo: &Value) -> [Option<String>; 5] {
    [
        "X-Consumer-Id",
        "X-Consumer-Custom-Id",
        "X-Consumer-Username",
        "X-Credential-Identifier",
        "X-Anonymous-Consumer",
    ]
    .map(|h| echo["headers"][h].as_str().map(str::to_string))
}

#[test]
fn idp_tokens_map_to_consumers_and_spoofed_identity_never_reaches_the_upstream() {
    let s = start();
    let john = s.idp.password_token(JOHN.0, JOHN.1);
    let sub = s.idp.introspect(&john)["sub"].as_str().unwrap().to_string();
    let spoof = [
        ("X-Consumer-Username", "admin"),
        ("X-Consumer-ID", "00000000-0000-0000-0000-000000000000"),
        ("X-Anonymous-Consumer", "false"),
        ("X-Credential-Identifier", "someone-else"),
    ];

    let echo = assert_echo(&s.get("/mapped", Some(&john), &spoof), "john, mapped");
    assert_eq!(
        identity(&echo),
        [
            Some(JOHN_ID.to_string()),
            Some("c-john".into()),
            Some("john".into()),
            Some(sub.clone()),
            None
        ],
        "{echo}"
    );

    // By custom_id only: john's username is not a custom_id, so the mapping fails: 403.
    let r = s.get("/by-custom-id", Some(&john), &[]);
    assert_eq!((r.status, r.body.as_str()), (403, FORBIDDEN), "{r:?}");

    // A route without any plugin still strips every inbound identity header.
    let echo = assert_echo(&s.get("/open", None, &spoof), "no plugin");
    assert_eq!(identity(&echo), [None, None, None, None, None], "{echo}");

    // jane has no consumer: 403 by default, proxied without consumer headers with consumer_optional.
    let jane = s.idp.password_token(JANE.0, JANE.1);
    let r = s.get("/mapped", Some(&jane), &[]);
    assert_eq!((r.status, r.body.as_str()), (403, FORBIDDEN), "{r:?}");
    let echo = assert_echo(&s.get("/optional", Some(&jane), &spoof), "jane, optional");
    let jane_sub = s.idp.introspect(&jane)["sub"].as_str().unwrap().to_string();
    assert_eq!(
        identity(&echo),
        [None, None, None, Some(jane_sub), None],
        "{echo}"
    );

    // anonymous: a request without a token, and one whose token maps to no consumer, run as the
    // anonymous consumer; a mapped one runs as itself.
    for (what, token) in [("no token", None), ("unmapped jane", Some(jane.as_str()))] {
        let echo = assert_echo(&s.get("/anon", token, &spoof), what);
        assert_eq!(
            identity(&echo),
            [
                Some(ANON_ID.to_string()),
                None,
                Some("anonymous-user".into()),
                None,
                Some("true".into())
            ],
            "{what}: {echo}"
        );
    }
    let alice = s.idp.password_token(ALICE.0, ALICE.1);
    let echo = assert_echo(&s.get("/anon", Some(&alice), &[]), "alice, anon route");
    assert_eq!(identity(&echo)[2].as_deref(), Some("alice"), "{echo}");
    assert_eq!(identity(&echo)[4], None, "{echo}");

    // Without anonymous, no token is Kong's 401.
    assert_401(&s.get("/mapped", None, &spoof), "no token, mapped route");
}

#[test]
fn consumers_admin_api_speaks_kongs_shapes_and_reaches_the_mapping() {
    let s = start();
    let admin = s.gateway.admin_url();
    let (status, body) = e2e::admin::get(&format!("{admin}/consumers/john"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], JOHN_ID);
    assert_eq!(body["custom_id"], "c-john");
    assert_eq!(body["tags"], Value::Null);

    let (status, body) = e2e::admin::json_req(
        Method::POST,
        &format!("{admin}/consumers"),
        json!({"username": "alice"}),
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["name"], "unique constraint violation");
    let (status, body) = e2e::admin::json_req(
        Method::POST,
        &format!("{admin}/consumers"),
        json!({"tags": ["x"]}),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["fields"]["@entity"],
        json!(["at least one of these fields must be non-empty: 'custom_id', 'username'"]),
        "{body}"
    );
    let (status, body) = e2e::admin::json_req(
        Method::POST,
        &format!("{admin}/consumers/john/plugins"),
        json!({"name": "openid-connect", "config": {"issuer": s.idp.issuer()}}),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["fields"]["consumer"], "value must be null", "{body}");

    // jane becomes a consumer through the Admin API: her token now maps.
    let jane = s.idp.password_token(JANE.0, JANE.1);
    assert_eq!(s.get("/mapped", Some(&jane), &[]).status, 403);
    let (status, body) = e2e::admin::form(
        Method::POST,
        &format!("{admin}/consumers"),
        &[("username", "jane"), ("custom_id", "c-jane")],
    );
    assert_eq!(status, 201, "{body}");
    let echo = assert_echo(
        &s.get("/mapped", Some(&jane), &[]),
        "jane after POST /consumers",
    );
    assert_eq!(identity(&echo)[0].as_deref(), body["id"].as_str(), "{echo}");
    assert!(s.gateway.config().contains("c-jane"), "written to the file");
    let (status, _) = e2e::admin::call(Method::DELETE, &format!("{admin}/consumers/jane"));
    assert_eq!(status, 204);
    assert_eq!(s.get("/mapped", Some(&jane), &[]).status, 403);
}

//! Kong's `acl` plugin end to end, with one set of real servers for the binary (the Glewlwyd IdP, httpbin,
//! the gateway): consumers mapped by openid-connect's `consumer_claim` and their `acls` groups against
//! `allow` and `deny` lists, `X-Consumer-Groups` upstream (and hidden), a client's copy never passed on;
//! then groups taken from the token by `authenticated_groups_claim` (Glewlwyd's introspection answer has no
//! groups claim, so the `scope` claim stands in) and sent as `X-Authenticated-Groups`.

mod common;

use common::{assert_echo, client, routes_config_value, send, Reply};
use e2e::{oidc_config, Gateway, Httpbin, Idp, Ports, ALICE, JANE, JOHN};
use serde_json::{json, Value};

const CANNOT: &str = r#"{"message":"You cannot consume this service"}"#;
const UNAUTHORIZED: &str = r#"{"message":"Unauthorized"}"#;

struct Servers {
    gateway: Gateway,
    _httpbin: Httpbin,
    idp: Idp,
}

fn mapped(idp: &Idp) -> Value {
    oidc_config(
        idp.issuer(),
        &["introspection"],
        json!({"consumer_claim": ["username"]}),
    )
}

fn by_scope(idp: &Idp) -> Value {
    oidc_config(
        idp.issuer(),
        &["introspection"],
        json!({"authenticated_groups_claim": ["scope"]}),
    )
}

fn start() -> Servers {
    let (idp, httpbin) = e2e::start_idp_and_httpbin();
    // (path, openid-connect config, acl config)
    let routes: Vec<(&str, Option<Value>, Value)> = vec![
        ("/admins", Some(mapped(&idp)), json!({"allow": ["admin"]})),
        (
            "/not-admins",
            Some(mapped(&idp)),
            json!({"deny": ["admin"]}),
        ),
        (
            "/hidden",
            Some(mapped(&idp)),
            json!({"allow": ["hello"], "hide_groups_header": true}),
        ),
        ("/no-auth", None, json!({"allow": ["admin"]})),
        (
            "/writers",
            Some(by_scope(&idp)),
            json!({"allow": ["write"]}),
        ),
        (
            "/not-writers",
            Some(by_scope(&idp)),
            json!({"deny": ["write"]}),
        ),
    ];
    let oidc: Vec<(&str, Option<Value>)> = routes.iter().map(|(p, o, _)| (*p, o.clone())).collect();
    let mut config = routes_config_value(Ports::free(), &httpbin.url(), &oidc);
    for (i, (_, _, acl)) in routes.iter().enumerate() {
        let route = &mut config["services"][0]["routes"][i];
        let mut plugins = route["plugins"].as_array().cloned().unwrap_or_default();
        plugins.push(json!({"name": "acl", "config": acl}));
        route["plugins"] = Value::Array(plugins);
    }
    config["consumers"] = json!([
        {"username": "john", "acls": [{"group": "admin"}]},
        {"username": "alice", "acls": [{"group": "pro"}, {"group": "hello"}]},
        {"username": "jane"},
    ]);
    let gateway = Gateway::start(&e2e::to_yaml(&config));
    Servers {
        gateway,
        _httpbin: httpbin,
        idp,
    }
}

impl Servers {
    fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut req = client()
            .get(format!("{}{path}", self.gateway.proxy_url()))
            .header("X-Consumer-Groups", "admin")
            .header("X-Authenticated-Groups", "admin");
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        send(req)
    }
}

/// The groups headers httpbin echoed: (`X-Consumer-Groups`, `X-Authenticated-Groups`).
fn groups(echo: &Value) -> (Option<&str>, Option<&str>) {
    let h = |n: &str| echo["headers"][n].as_str();
    (h("X-Consumer-Groups"), h("X-Authenticated-Groups"))
}

fn assert_refused(r: &Reply, status: u16, body: &str, what: &str) {
    assert_eq!((r.status, r.body.as_str()), (status, body), "{what}: {r:?}");
}

#[test]
fn consumer_groups_and_token_groups_decide_with_kongs_answers() {
    let s = start();
    let john = s.idp.password_token(JOHN.0, JOHN.1);
    let alice = s
        .idp
        .password_token_with_scope(ALICE.0, ALICE.1, "openid read write");
    let jane = s.idp.password_token(JANE.0, JANE.1);

    // (1) Consumer groups from the acls entities.
    let echo = assert_echo(&s.get("/admins", Some(&john)), "john is an admin");
    assert_eq!(groups(&echo), (Some("admin"), None), "{echo}");
    assert_refused(
        &s.get("/admins", Some(&alice)),
        403,
        CANNOT,
        "alice is no admin",
    );
    assert_refused(
        &s.get("/admins", Some(&jane)),
        403,
        CANNOT,
        "jane has no groups",
    );
    assert_refused(
        &s.get("/not-admins", Some(&john)),
        403,
        CANNOT,
        "admins denied",
    );
    let echo = assert_echo(&s.get("/not-admins", Some(&alice)), "alice is not denied");
    assert_eq!(groups(&echo), (Some("pro, hello"), None), "{echo}");
    // A consumer without groups passes a deny list, and a client's copy of the header never goes upstream.
    let echo = assert_echo(
        &s.get("/not-admins", Some(&jane)),
        "jane passes a deny list",
    );
    assert_eq!(groups(&echo), (None, None), "{echo}");
    let echo = assert_echo(&s.get("/hidden", Some(&alice)), "hide_groups_header");
    assert_eq!(groups(&echo), (None, None), "{echo}");
    assert_refused(
        &s.get("/hidden", Some(&john)),
        403,
        CANNOT,
        "john not in hello",
    );
    // No consumer and no authenticated groups: Kong's 401.
    assert_refused(
        &s.get("/no-auth", None),
        401,
        UNAUTHORIZED,
        "no auth plugin",
    );

    // (2) Groups from the token (the scope claim), no consumer.
    let echo = assert_echo(&s.get("/writers", Some(&alice)), "alice has write");
    assert_eq!(groups(&echo), (None, Some("openid, read, write")), "{echo}");
    assert_refused(
        &s.get("/writers", Some(&john)),
        403,
        CANNOT,
        "john has no write",
    );
    assert_refused(
        &s.get("/not-writers", Some(&alice)),
        403,
        CANNOT,
        "write denied",
    );
    // Kong sends no X-Authenticated-Groups in deny mode.
    let echo = assert_echo(&s.get("/not-writers", Some(&john)), "john is no writer");
    assert_eq!(groups(&echo), (None, None), "{echo}");
    // A bad token is still refused by openid-connect before acl runs.
    assert_eq!(s.get("/writers", Some("not-a-token")).status, 401);
}

//! The second real IdP, oidc-provider (Node): its opaque client_credentials tokens introspected through
//! discovery (`/token/introspection`), its JWT access tokens (resource indicators, `typ: at+jwt`) verified
//! locally with no introspection call, and the claim checks on both. One IdP, one httpbin, one gateway.

mod common;

use common::{assert_401, assert_403, assert_echo, client, routes_config, send, Reply};
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
    let echo = assert_echo(&get(&gw, "/signed", &opaque), "a verified signed answer");
    assert_eq!(echo["headers"]["X-Client"], "app");
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

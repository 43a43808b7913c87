//! `extra_issuers` end to end: Glewlwyd and oidc-provider behind one route. Each IdP's tokens pass (opaque
//! ones introspected in order, JWTs by their `iss`), each answer is the issuer's own (the `iss` claim
//! upstream, the per-endpoint request counters), cache hits ask no IdP, and a token of one is never
//! accepted as the other's.

mod common;

use base64::Engine as _;
use common::{assert_401, assert_echo, client, routes_config, send, Reply};
use e2e::metrics::{introspection_calls, scrape_sum};
use e2e::oidc_provider::{OidcProvider, OP_CLIENT};
use e2e::{oidc_config, Gateway, Ports, JOHN};
use serde_json::{json, Value};

fn get(gw: &Gateway, path: &str, token: &str) -> Reply {
    send(
        client()
            .get(format!("{}{path}", gw.proxy_url()))
            .bearer_auth(token),
    )
}

/// The discovery document of `issuer`.
fn discovery(issuer: &str) -> Value {
    let r = send(client().get(format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )));
    assert_eq!(r.status, 200, "{r:?}");
    r.json()
}

/// Requests the gateway sent to one endpoint URL (`gateway_idp_endpoint_requests_total`).
fn sent_to(admin: &str, url: &Value) -> u64 {
    let url = url.as_str().expect("an endpoint URL");
    scrape_sum(
        admin,
        "gateway_idp_endpoint_requests_total",
        &[("endpoint", url)],
    ) as u64
}

/// The header `name` httpbin saw (a claim of the answering issuer).
fn upstream(r: &Reply, name: &str, what: &str) -> String {
    let echo = assert_echo(r, what);
    echo["headers"][name]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no {name} upstream: {echo}"))
        .to_owned()
}

/// The `iss` claim upstream.
fn iss_upstream(r: &Reply, what: &str) -> String {
    upstream(r, "X-Iss", what)
}

#[test]
fn glewlwyd_and_oidc_provider_behind_one_route_each_authenticate_their_own_tokens() {
    let op = OidcProvider::start();
    let (idp, httpbin) = e2e::start_idp_and_httpbin();
    let both = |methods: &[&str]| {
        oidc_config(
            idp.issuer(),
            methods,
            json!({
                "extra_issuers": [{"issuer": op.issuer(), "client_id": OP_CLIENT.0,
                                   "client_secret": OP_CLIENT.1}],
                "upstream_headers_claims": ["iss", "client_id"],
                "upstream_headers_names": ["x-iss", "x-client"],
            }),
        )
    };
    let routes = [
        ("/intro", Some(both(&["introspection"]))),
        ("/jwt", Some(both(&["bearer", "introspection"]))),
        (
            "/glewlwyd-only",
            Some(oidc_config(
                idp.issuer(),
                &["bearer", "introspection"],
                json!({}),
            )),
        ),
    ];
    let gw = Gateway::start(&routes_config(Ports::free(), &httpbin.url(), &routes));
    let admin = gw.admin_url();
    let (g, o) = (discovery(idp.issuer()), discovery(op.issuer()));
    let (g_intro, o_intro) = (&g["introspection_endpoint"], &o["introspection_endpoint"]);
    let counts = || (sent_to(&admin, g_intro), sent_to(&admin, o_intro));

    // oidc-provider's opaque token: Glewlwyd (first) does not know it, oidc-provider does.
    let opaque = op.opaque_token("read");
    let r = get(&gw, "/intro", &opaque);
    assert_eq!(
        iss_upstream(&r, "oidc-provider's opaque token"),
        o["issuer"].as_str().expect("issuer")
    );
    assert_eq!(upstream(&r, "X-Client", "oidc-provider's answer"), "app");
    assert_eq!(
        counts(),
        (1, 1),
        "asked in order: Glewlwyd, then oidc-provider"
    );
    // Glewlwyd's token (a JWT): introspected at the issuer its iss names, only there (Glewlwyd's
    // introspection answer has no `iss`; its `client_id` is the gateway's client there).
    let jwt_g = idp.password_token(JOHN.0, JOHN.1);
    let r = get(&gw, "/intro", &jwt_g);
    assert_eq!(
        upstream(&r, "X-Client", "Glewlwyd's answer"),
        e2e::CLIENT_ID
    );
    assert!(
        assert_echo(&r, "Glewlwyd's answer")["headers"]["X-Iss"].is_null(),
        "{r:?}"
    );
    assert_eq!(
        counts(),
        (2, 1),
        "oidc-provider never sees Glewlwyd's token"
    );
    // Cache hits: no IdP asked again.
    for _ in 0..3 {
        assert_echo(&get(&gw, "/intro", &opaque), "cached");
        assert_echo(&get(&gw, "/intro", &jwt_g), "cached");
    }
    assert_eq!(counts(), (2, 1), "cache hits ask no one");
    // Known to neither: both asked, refused.
    assert_401(
        &get(&gw, "/intro", "not-a-token-either-issued"),
        "unknown token",
    );
    assert_eq!(counts(), (3, 2));

    // JWTs verified locally with the keys of the issuer their iss names.
    let jwt_o = op.jwt_token("read", "https://api.test");
    let calls = introspection_calls(&admin);
    assert_eq!(
        iss_upstream(&get(&gw, "/jwt", &jwt_g), "Glewlwyd's JWT"),
        idp.issuer()
    );
    assert_eq!(
        iss_upstream(&get(&gw, "/jwt", &jwt_o), "oidc-provider's JWT"),
        o["issuer"].as_str().expect("issuer")
    );
    assert_eq!(introspection_calls(&admin), calls, "verified locally");
    assert_eq!(sent_to(&admin, &g["jwks_uri"]), 1);
    assert_eq!(sent_to(&admin, &o["jwks_uri"]), 1);

    // Never the other's: Glewlwyd's JWT claiming to be oidc-provider's (payload rewritten) is refused,
    // and oidc-provider's tokens do not pass a route that only knows Glewlwyd.
    let p: Vec<&str> = jwt_g.split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value =
        serde_json::from_slice(&b64.decode(p[1]).expect("base64url")).expect("JSON claims");
    claims["iss"] = o["issuer"].clone();
    let claimed = format!("{}.{}.{}", p[0], b64.encode(claims.to_string()), p[2]);
    assert_401(
        &get(&gw, "/jwt", &claimed),
        "Glewlwyd's JWT naming oidc-provider",
    );
    assert_401(
        &get(&gw, "/glewlwyd-only", &jwt_o),
        "oidc-provider's JWT at Glewlwyd",
    );
    assert_401(
        &get(&gw, "/glewlwyd-only", &opaque),
        "oidc-provider's opaque token at Glewlwyd",
    );
    assert_echo(&get(&gw, "/glewlwyd-only", &jwt_g), "Glewlwyd's own JWT");
}

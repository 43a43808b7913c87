//! The gateway's own client authentication at a real IdP (oidc-provider in client-authentication mode):
//! introspection succeeds with `private_key_jwt` (ES256, and an RSA key with `client_alg: PS256`),
//! `client_secret_jwt` and `tls_client_auth` (the gateway's certificate, a `certificates` entity, on an HTTPS
//! side that asks for one), and fails closed — the same 401 as a wrong client secret — with an unregistered
//! key, a wrong secret or a certificate from another CA. Then the claim rules: `groups_required`,
//! `roles_required` and `claims_forbidden` decide 200/403 on the IdP's introspection claims, cached or not.
//! One IdP, one httpbin, one gateway.

mod common;

use common::{assert_401, assert_403, assert_echo, client, routes_config_value, send, Reply};
use e2e::metrics::introspection_calls;
use e2e::oidc_provider::{OidcProvider, OP_CLIENT};
use e2e::{Gateway, Httpbin, Ports};
use serde_json::{json, Map, Value};

const CERT: &str = "8a3c1b0e-59d4-4f7e-9d59-2f1b7f0c1a01";
const ROGUE: &str = "8a3c1b0e-59d4-4f7e-9d59-2f1b7f0c1a02";
const CSJWT_SECRET: &str = "kong-csjwt-secret-0123456789-0123456789-0123456789";

fn plugin(op: &OidcProvider, client_id: &str, extra: Value) -> Value {
    let mut c = Map::new();
    c.insert("issuer".into(), json!(op.issuer()));
    c.insert("client_id".into(), json!([client_id]));
    c.insert("auth_methods".into(), json!(["introspection"]));
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
fn client_authentication_methods_and_claim_rules_at_oidc_provider() {
    let op = OidcProvider::start_with_client_auth();
    let httpbin = Httpbin::start();
    let keys = op.keys();
    let mtls_introspection = format!(
        "https://127.0.0.1:{}/token/introspection",
        keys["tls_port"].as_u64().expect("tls_port")
    );
    let mtls = |cert: &str| {
        json!({"introspection_endpoint_auth_method": "tls_client_auth",
               "introspection_endpoint": mtls_introspection,
               "tls_client_auth_cert_id": cert, "tls_client_auth_ssl_verify": false})
    };
    let kong = |extra: Value| {
        let mut p = plugin(&op, OP_CLIENT.0, extra);
        p["client_secret"] = json!([OP_CLIENT.1]);
        p
    };
    let routes = [
        (
            "/pk-es",
            Some(plugin(
                &op,
                "kong-pkjwt-es",
                json!({"client_jwk": [keys["es256"]],
                       "introspection_endpoint_auth_method": "private_key_jwt"}),
            )),
        ),
        (
            // No method named, no secret: the key decides (Kong's private_key_jwt).
            "/pk-rs",
            Some(plugin(
                &op,
                "kong-pkjwt-rs",
                json!({"client_jwk": [keys["rs256"]], "client_alg": ["PS256"]}),
            )),
        ),
        (
            "/pk-wrong",
            Some(plugin(
                &op,
                "kong-pkjwt-es",
                json!({"client_jwk": [keys["unregistered"]], "client_auth": ["private_key_jwt"]}),
            )),
        ),
        (
            "/cs",
            Some(plugin(
                &op,
                "kong-csjwt",
                json!({"client_secret": [CSJWT_SECRET], "client_auth": ["client_secret_jwt"]}),
            )),
        ),
        (
            "/cs-wrong",
            Some(plugin(
                &op,
                "kong-csjwt",
                json!({"client_secret": ["not-the-secret-0123456789-0123456789-01234567"],
                       "client_auth": ["client_secret_jwt"]}),
            )),
        ),
        (
            "/basic-wrong",
            Some(plugin(
                &op,
                OP_CLIENT.0,
                json!({"client_secret": ["wrong"]}),
            )),
        ),
        ("/mtls", Some(plugin(&op, "kong-mtls", mtls(CERT)))),
        ("/mtls-rogue", Some(plugin(&op, "kong-mtls", mtls(ROGUE)))),
        (
            "/groups",
            Some(kong(
                json!({"groups_required": ["nobody", "dev admins"], "roles_required": ["reader"]}),
            )),
        ),
        (
            "/groups-ops",
            Some(kong(json!({"groups_required": ["ops", "admins nobody"]}))),
        ),
        (
            "/forbidden",
            Some(kong(json!({"claims_forbidden": ["act", "may_act"]}))),
        ),
    ];
    let mut config = routes_config_value(Ports::free(), &httpbin.url(), &routes);
    config["certificates"] = json!([
        {"id": CERT, "cert": op.pem("client.pem"), "key": op.pem("client.key")},
        {"id": ROGUE, "cert": op.pem("rogue.pem"), "key": op.pem("rogue.key")},
    ]);
    let gw = Gateway::start(&e2e::to_yaml(&config));
    let admin = gw.admin_url();

    let token = op.opaque_token("read");
    for path in ["/pk-es", "/pk-rs", "/cs", "/mtls"] {
        let before = introspection_calls(&admin);
        assert_echo(&get(&gw, path, &token), path);
        assert_eq!(
            introspection_calls(&admin),
            before + 1,
            "{path}: introspected once"
        );
        assert_echo(&get(&gw, path, &token), "cached");
        assert_eq!(introspection_calls(&admin), before + 1, "{path}: cached");
        // A fresh assertion per call (oidc-provider refuses a replayed jti): a second token is introspected
        // with a new one.
        assert_echo(&get(&gw, path, &op.opaque_token("read")), "another token");
    }
    // Refused by the IdP: the same answer as a wrong client secret (fail closed, never proxied).
    assert_401(&get(&gw, "/basic-wrong", &token), "a wrong client secret");
    for path in ["/pk-wrong", "/cs-wrong", "/mtls-rogue"] {
        assert_401(&get(&gw, path, &token), path);
    }

    // Claim rules: the introspection's groups and roles (oidc-provider's extraTokenClaims).
    let groups = op.token_of("app-groups", "read");
    let forbidden = op.token_of("app-forbidden", "read");
    assert_echo(
        &get(&gw, "/groups", &groups),
        "groups dev+admins, role reader",
    );
    assert_echo(&get(&gw, "/groups", &groups), "cached: checked again");
    assert_403(&get(&gw, "/groups", &token), "no groups claim");
    assert_403(&get(&gw, "/groups-ops", &groups), "neither alternative");
    assert_echo(&get(&gw, "/forbidden", &groups), "no forbidden claim");
    assert_403(&get(&gw, "/forbidden", &forbidden), "an act claim");
    assert_403(&get(&gw, "/forbidden", &forbidden), "cached: still refused");

    // Secrets never in the log.
    let log = gw.log();
    for secret in [
        CSJWT_SECRET,
        keys["es256"]["d"].as_str().unwrap(),
        keys["rs256"]["d"].as_str().unwrap(),
    ] {
        assert!(!log.contains(secret), "a secret in the gateway's log");
    }
    let key_pem = op.pem("client.key");
    let key_line = key_pem.lines().nth(1).expect("a PEM body line");
    assert!(
        !log.contains(key_line),
        "the client key in the gateway's log"
    );
}

#[test]
fn bad_client_authentication_settings_are_refused_at_load() {
    let op = OidcProvider::start_with_client_auth();
    let keys = op.keys();
    let mut rsa_no_primes = keys["rs256"].clone();
    rsa_no_primes["n"] = json!("AQAB");
    let cases = [
        (
            json!({"client_jwk": [rsa_no_primes], "client_auth": ["private_key_jwt"]}),
            "config.client_jwk[0]",
        ),
        (
            json!({"client_jwk": [keys["es256"]], "client_alg": ["RS256"], "client_auth": ["private_key_jwt"]}),
            "config.client_alg[0]",
        ),
        (
            json!({"introspection_endpoint_auth_method": "tls_client_auth"}),
            "config.tls_client_auth_cert_id",
        ),
        (
            json!({"introspection_endpoint_auth_method": "tls_client_auth",
                   "tls_client_auth_cert_id": CERT}),
            "config.tls_client_auth_cert_id",
        ),
    ];
    for (extra, path) in cases {
        let routes = [("/x", Some(plugin(&op, "kong-x", extra.clone())))];
        let config = routes_config_value(Ports::free(), "http://127.0.0.1:9", &routes);
        let err = Gateway::try_start(&e2e::to_yaml(&config))
            .err()
            .unwrap_or_else(|| panic!("{extra}: loaded"));
        assert!(err.contains(path), "{extra}: {err}");
        let d = keys["es256"]["d"].as_str().unwrap();
        assert!(!err.contains(d), "the key in the error");
    }
}

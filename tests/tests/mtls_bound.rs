//! Certificate-bound tokens (RFC 8705) against a real IdP: oidc-provider binds `app-mtls`'s client_credentials
//! token to the certificate it presented on the IdP's HTTPS side (`cnf.x5t#S256` in the introspection answer).
//! The gateway's `ssl` listener requests a client certificate (a global `tls-handshake-modifier`), and
//! openid-connect's `proof_of_possession_mtls` lets the token through only with that certificate: refused
//! (401, RFC 6750 `invalid_token`) with another certificate or none; `optional` lets unbound tokens through
//! without a certificate. One IdP, one httpbin, one gateway.

mod common;

use common::routes_config_value;
use e2e::oidc_provider::{OidcProvider, OP_CLIENT};
use e2e::{Gateway, Httpbin, Ports};
use serde_json::{json, Value};

/// `GET url` over TLS with `token`, presenting the certificate `cert` (`client`, `rogue`) or none: status and
/// `WWW-Authenticate`.
fn get(op: &OidcProvider, url: &str, token: &str, cert: Option<&str>) -> (u16, String) {
    let mut b = reqwest::blocking::Client::builder()
        .no_proxy()
        .danger_accept_invalid_certs(true);
    if let Some(name) = cert {
        let identity = reqwest::Identity::from_pkcs8_pem(
            op.pem(&format!("{name}.pem")).as_bytes(),
            op.pem(&format!("{name}.key")).as_bytes(),
        )
        .expect("an identity");
        b = b.identity(identity);
    }
    let (url, token) = (url.to_owned(), token.to_owned());
    std::thread::scope(|s| {
        s.spawn(move || {
            let resp = b
                .build()
                .expect("a client")
                .get(&url)
                .bearer_auth(token)
                .send()
                .unwrap_or_else(|e| panic!("GET {url}: {e}"));
            let www = resp
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            (resp.status().as_u16(), www)
        })
        .join()
        .expect("the request thread")
    })
}

#[test]
fn certificate_bound_tokens_at_oidc_provider() {
    let op = OidcProvider::start_with_client_auth();
    let httpbin = Httpbin::start();
    let plugin = |mode: &str| {
        json!({"issuer": op.issuer(), "client_id": [OP_CLIENT.0], "client_secret": [OP_CLIENT.1],
               "auth_methods": ["introspection"], "proof_of_possession_mtls": mode})
    };
    let routes = [
        ("/strict", Some(plugin("strict"))),
        ("/optional", Some(plugin("optional"))),
    ];
    let ports = Ports::free();
    let mut config: Value = routes_config_value(ports, &httpbin.url(), &routes);
    config["gateway"]["proxy_listen"] = json!(format!("127.0.0.1:{} ssl", ports.proxy));
    config["gateway"]["ssl_cert"] = json!(op.file("server.pem").display().to_string());
    config["gateway"]["ssl_cert_key"] = json!(op.file("server.key").display().to_string());
    config["plugins"] = json!([{"name": "tls-handshake-modifier",
        "config": {"tls_client_certificate": "REQUEST"}}]);
    let gw = Gateway::start(&e2e::to_yaml(&config));
    let url = |path: &str| format!("https://127.0.0.1:{}{path}", ports.proxy);

    let bound = op.mtls_token("read", "client");
    let (status, _) = get(&op, &url("/strict"), &bound, Some("client"));
    assert_eq!(status, 200, "its certificate");
    let (status, www) = get(&op, &url("/strict"), &bound, Some("rogue"));
    assert_eq!(
        (status, www.as_str()),
        (401, r#"Bearer realm="127.0.0.1", error="invalid_token""#),
        "another certificate"
    );
    let (status, _) = get(&op, &url("/strict"), &bound, None);
    assert_eq!(status, 401, "no certificate");
    let (status, _) = get(&op, &url("/optional"), &bound, None);
    assert_eq!(
        status, 401,
        "a bound token without its certificate (optional)"
    );
    let (status, _) = get(&op, &url("/optional"), &bound, Some("client"));
    assert_eq!(status, 200, "optional, with its certificate");

    // An unbound token: strict wants a binding; optional does not.
    let plain = op.opaque_token("read");
    let (status, _) = get(&op, &url("/strict"), &plain, Some("client"));
    assert_eq!(status, 401, "an unbound token (strict)");
    let (status, _) = get(&op, &url("/optional"), &plain, None);
    assert_eq!(
        status, 200,
        "an unbound token without a certificate (optional)"
    );
    drop(gw);
}

#[test]
fn tls_handshake_modifier_is_global_only() {
    let mut config = routes_config_value(Ports::free(), "http://127.0.0.1:9", &[("/x", None)]);
    config["services"][0]["plugins"] = json!([{"name": "tls-handshake-modifier"}]);
    let err = Gateway::try_start(&e2e::to_yaml(&config))
        .err()
        .unwrap_or_else(|| panic!("a service-scoped tls-handshake-modifier loaded"));
    assert!(err.contains("tls-handshake-modifier"), "{err}");
    let mut config = routes_config_value(Ports::free(), "http://127.0.0.1:9", &[("/x", None)]);
    config["plugins"] = json!([{"name": "tls-handshake-modifier",
        "config": {"tls_client_certificate": "REQUIRE"}}]);
    let err = Gateway::try_start(&e2e::to_yaml(&config))
        .err()
        .unwrap_or_else(|| panic!("tls_client_certificate: REQUIRE loaded"));
    assert!(err.contains("tls_client_certificate"), "{err}");
}

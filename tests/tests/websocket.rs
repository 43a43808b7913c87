//! End-to-end WebSocket through an authenticated route: a real `websockets` echo server and client, the
//! real IdP's token at the handshake (header, or `access_token` in the query when the plugin looks there),
//! then messages both ways over the tunnel; without a token the handshake is answered 401 and never
//! reaches the server.

use e2e::peers::{client, PeerServer};
use e2e::{oidc_config, start_idp_and_httpbin, to_yaml, Gateway, Ports, JOHN};
use serde_json::json;

#[test]
fn a_websocket_echo_works_with_a_token_and_the_handshake_is_401_without() {
    let (idp, _httpbin) = start_idp_and_httpbin();
    let echo = PeerServer::start("ws_echo.py", &[]);
    let ports = Ports::free();
    let oidc = |extra| oidc_config(idp.issuer(), &["introspection"], extra);
    let doc = json!({
        "_format_version": "3.0",
        "gateway": {
            "proxy_listen": format!("127.0.0.1:{}", ports.proxy),
            "admin_listen": format!("127.0.0.1:{}", ports.admin),
            "worker_threads": 1,
        },
        "services": [{
            "name": "echo", "url": format!("http://127.0.0.1:{}", echo.port()),
            "read_timeout": 5000, "write_timeout": 5000,
            "routes": [
                {"name": "header", "paths": ["/ws"],
                 "plugins": [{"name": "openid-connect", "config": oidc(json!({}))}]},
                {"name": "query", "paths": ["/wsq"],
                 "plugins": [{"name": "openid-connect", "config": oidc(json!({"bearer_token_param_type": ["query"]}))}]},
            ],
        }],
    });
    let gw = Gateway::start(&to_yaml(&doc));
    let token = idp.password_token(JOHN.0, JOHN.1);
    let ws = format!("ws://127.0.0.1:{}", ports.proxy);
    let bearer = format!("Authorization: Bearer {token}");

    let r = client("ws_echo.py", &["talk", &format!("{ws}/ws"), &bearer]);
    assert_eq!(r["status"], 101, "{r}");
    assert_eq!(r["echo"], json!(["hello", "<65536 bytes>"]), "{r}");
    assert_eq!(
        r["seen_authorization"], "yes",
        "the bearer reached the server: {r}"
    );

    let r = client("ws_echo.py", &["talk", &format!("{ws}/ws")]);
    assert_eq!(
        (r["status"].clone(), r["echo"].clone()),
        (json!(401), json!([])),
        "{r}"
    );
    let r = client(
        "ws_echo.py",
        &["talk", &format!("{ws}/ws"), "Authorization: Bearer forged"],
    );
    assert_eq!(r["status"], 401, "{r}");

    let r = client(
        "ws_echo.py",
        &["talk", &format!("{ws}/wsq?access_token={token}")],
    );
    assert_eq!(r["status"], 101, "token in the query: {r}");
    assert_eq!(r["echo"], json!(["hello", "<65536 bytes>"]), "{r}");

    assert!(
        !gw.log().contains(&token),
        "the token never reaches the log"
    );
}

//! End-to-end gRPC through the gateway: grpcio's real health server behind a `grpc` service (h2c to the
//! upstream), grpcio's real client in front over an h2c listener, the real IdP's token as `authorization`
//! metadata. A valid token gets SERVING, none or a bad one UNAUTHENTICATED (a trailers-only gRPC answer, never
//! a hung stream), and a server-streaming call streams: its first message arrives while the stream stays open.

use e2e::peers::{client, PeerServer};
use e2e::{free_port, oidc_config, start_idp_and_httpbin, to_yaml, Gateway, JOHN};
use serde_json::json;

#[test]
fn grpc_health_through_an_authenticated_route() {
    let (idp, _httpbin) = start_idp_and_httpbin();
    let server = PeerServer::start("grpc_peer.py", &[]);
    let (proxy, admin) = (free_port(), free_port());
    let doc = json!({
        "_format_version": "3.0",
        "gateway": {
            "proxy_listen": format!("127.0.0.1:{proxy} http2"),
            "admin_listen": format!("127.0.0.1:{admin}"),
            "worker_threads": 1,
        },
        "services": [{
            "name": "health", "url": format!("grpc://127.0.0.1:{}", server.port()),
            "routes": [{
                "name": "health", "protocols": ["grpc"], "paths": ["/grpc.health.v1.Health/"],
                "strip_path": false,
                "plugins": [{"name": "openid-connect",
                             "config": oidc_config(idp.issuer(), &["introspection"], json!({}))}],
            }],
        }],
    });
    let gw = Gateway::start(&to_yaml(&doc));
    let target = format!("127.0.0.1:{proxy}");
    let token = idp.password_token(JOHN.0, JOHN.1);

    let r = client("grpc_peer.py", &["check", &target, &token]);
    assert_eq!(r, json!({"code": "OK", "status": "SERVING"}));
    let r = client("grpc_peer.py", &["check", &target]);
    assert_eq!(r["code"], "UNAUTHENTICATED", "{r}");
    assert_eq!(r["details"], "Unauthorized", "{r}");
    let r = client("grpc_peer.py", &["check", &target, "forged"]);
    assert_eq!(r["code"], "UNAUTHENTICATED", "{r}");

    let r = client("grpc_peer.py", &["watch", &target, &token]);
    assert_eq!(
        r,
        json!({"code": "OK", "first": "SERVING", "ended_before_first": false}),
        "the first streamed message arrives before the stream ends"
    );
    let r = client("grpc_peer.py", &["watch", &target]);
    assert_eq!(r["code"], "UNAUTHENTICATED", "{r}");
    assert!(!gw.log().contains(&token));
}

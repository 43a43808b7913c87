//! A service's TLS to its upstream (Kong `tls_verify`, `ca_certificates`, `client_certificate`) against real
//! TLS servers: `openssl s_server -www` (it answers any GET with a status page that names the client
//! certificate it received), with a private CA made by `openssl` in the test. A second, unrelated CA plays
//! the wrong trust store.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::send;
use e2e::ca::LocalCa;
use e2e::process::{wait_for_port, ChildGroup};
use e2e::{free_port, to_yaml, Gateway, Ports};
use serde_json::{json, Value};

const CA_ID: &str = "0b7e6a52-6c3e-4c55-9e0e-000000000001";
const OTHER_CA_ID: &str = "0b7e6a52-6c3e-4c55-9e0e-000000000002";
const CLIENT_CERT_ID: &str = "0b7e6a52-6c3e-4c55-9e0e-000000000003";
const BAD_GATEWAY: &str =
    r#"{"message":"An invalid response was received from the upstream server"}"#;

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).expect("read a PEM file")
}

/// `openssl s_server -www` on 127.0.0.1 with the CA's `localhost` certificate; with `client_ca` it requires a
/// client certificate signed by that CA (`-Verify`).
fn s_server(ca: &LocalCa, client_ca: Option<&LocalCa>) -> (ChildGroup, u16) {
    let port = free_port();
    let mut cmd = Command::new("openssl");
    cmd.args(["s_server", "-quiet", "-www", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(ca.cert())
        .arg("-key")
        .arg(ca.key());
    if let Some(c) = client_ca {
        cmd.arg("-Verify").arg("2").arg("-CAfile").arg(c.ca_pem());
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut server =
        ChildGroup::spawn("s_server", cmd, libc::SIGKILL, None).expect("start s_server");
    let up = wait_for_port(
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(10),
        || server.try_wait().is_none(),
    );
    assert!(up, "openssl s_server did not start");
    (server, port)
}

fn service(name: &str, port: u16, extra: Value) -> Value {
    let mut s = json!({
        "name": name,
        "url": format!("https://localhost:{port}/"),
        "routes": [{"name": name, "paths": [format!("/{name}")]}],
    });
    for (k, v) in extra.as_object().expect("an object") {
        s[k] = v.clone();
    }
    s
}

fn gateway(
    ports: Ports,
    services: Vec<Value>,
    ca: &LocalCa,
    other: &LocalCa,
    client: Option<(String, String)>,
) -> Gateway {
    let mut config = json!({
        "_format_version": "3.0",
        "gateway": {
            "proxy_listen": format!("127.0.0.1:{}", ports.proxy),
            "admin_listen": format!("127.0.0.1:{}", ports.admin),
            "worker_threads": 1,
        },
        "ca_certificates": [
            {"id": CA_ID, "cert": read(&ca.ca_pem())},
            {"id": OTHER_CA_ID, "cert": read(&other.ca_pem())},
        ],
        "services": services,
    });
    if let Some((cert, key)) = client {
        config["certificates"] = json!([{"id": CLIENT_CERT_ID, "cert": cert, "key": key}]);
    }
    Gateway::start(&to_yaml(&config))
}

#[test]
fn private_ca_verifies_and_a_wrong_ca_is_a_502() {
    let ca = LocalCa::new();
    let other = LocalCa::new();
    let (_server, port) = s_server(&ca, None);
    let gw = gateway(
        Ports::free(),
        vec![
            service(
                "good",
                port,
                json!({"tls_verify": true, "ca_certificates": [CA_ID]}),
            ),
            service(
                "wrong",
                port,
                json!({"tls_verify": true, "ca_certificates": [OTHER_CA_ID]}),
            ),
            service(
                "unchecked",
                port,
                json!({"tls_verify": false, "ca_certificates": [OTHER_CA_ID]}),
            ),
            // No ca_certificates: the system's roots, which do not know the test CA.
            service("system", port, json!({})),
        ],
        &ca,
        &other,
        None,
    );
    let client = common::client();
    let base = gw.proxy_url();

    let r = send(client.get(format!("{base}/good")));
    assert_eq!(r.status, 200, "{r:?}\n{}", gw.log());
    assert!(
        r.body.contains("s_server"),
        "not s_server's page: {}",
        r.body
    );

    for name in ["wrong", "system"] {
        let r = send(client.get(format!("{base}/{name}")));
        assert_eq!((r.status, r.body.as_str()), (502, BAD_GATEWAY), "{name}");
    }
    // tls_verify: false skips verification whatever the trust store.
    let r = send(client.get(format!("{base}/unchecked")));
    assert_eq!(r.status, 200, "{r:?}");
    // The verified one still works after the failures (no pooled connection crossed services).
    let r = send(client.get(format!("{base}/good")));
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn client_certificate_is_presented_to_an_upstream_that_requires_one() {
    let ca = LocalCa::new();
    let other = LocalCa::new();
    let (cert, key) = ca.issue_client("gateway-client", "client");
    let (_server, port) = s_server(&ca, Some(&ca));
    let gw = gateway(
        Ports::free(),
        vec![
            service(
                "mtls",
                port,
                json!({
                    "ca_certificates": [CA_ID],
                    "client_certificate": {"id": CLIENT_CERT_ID},
                }),
            ),
            service("anonymous", port, json!({"ca_certificates": [CA_ID]})),
        ],
        &ca,
        &other,
        Some((read(&cert), read(&key))),
    );
    let client = common::client();
    let base = gw.proxy_url();

    let r = send(client.get(format!("{base}/mtls")));
    assert_eq!(r.status, 200, "{r:?}\n{}", gw.log());
    assert!(
        r.body.contains("Subject: CN=gateway-client"),
        "s_server did not receive the client certificate: {}",
        r.body
    );
    // Without a client certificate the server refuses the handshake.
    let r = send(client.get(format!("{base}/anonymous")));
    assert_eq!((r.status, r.body.as_str()), (502, BAD_GATEWAY));
}

#[test]
fn tls_fields_are_checked_at_load() {
    let ca = LocalCa::new();
    let ports = Ports::free();
    let config = json!({
        "_format_version": "3.0",
        "gateway": {"proxy_listen": format!("127.0.0.1:{}", ports.proxy), "admin_listen": format!("127.0.0.1:{}", ports.admin), "worker_threads": 1},
        "ca_certificates": [{"cert": read(&ca.cert())}],
        "services": [
            {"name": "plain", "url": "http://127.0.0.1:1/", "tls_verify": true},
            {"name": "ref", "url": "https://127.0.0.1:1/", "ca_certificates": [OTHER_CA_ID],
             "client_certificate": {"id": CLIENT_CERT_ID}, "tls_verify_depth": 3},
        ],
    });
    let err = Gateway::try_start(&to_yaml(&config)).expect_err("the config must be refused");
    for needle in [
        "ca_certificates[0]: certificate does not appear to be a CA because it is missing the \"CA\" basic constraint",
        "services[0].tls_verify: value must be null (failed conditional validation given value of field 'protocol': http)",
        &format!("services[1].ca_certificates[0]: invalid reference 'ca_certificates: {OTHER_CA_ID}' (no such entry in 'ca_certificates')"),
        "services[1].client_certificate: invalid reference 'client_certificate: id \"",
        "services[1].tls_verify_depth: not supported yet",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
}

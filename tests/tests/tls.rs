//! TLS on both sides, with a local CA made by `openssl` in the test: the proxy listener serves HTTPS from
//! `gateway.ssl_cert`/`ssl_cert_key` (and says `X-Forwarded-Proto: https` upstream), and IdP calls verify
//! the IdP's certificate against the system roots plus `gateway.lua_ssl_trusted_certificate`, unless the
//! plugin sets `ssl_verify: false`.
//!
//! The IdP side uses a fake introspection endpoint (Python's `http.server` wrapped in `ssl`, always
//! answering `active: true`): these tests are about TLS verification, not about the IdP's behaviour.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{routes_config_value, send, Reply};
use e2e::ca::LocalCa;
use e2e::process::{wait_for_port, ChildGroup};
use e2e::{free_port, oidc_config, to_yaml, Gateway, Httpbin, Ports};
use reqwest::blocking::Client;
use serde_json::{json, Value};

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// `GET <url>/anything?show_env=1` through the gateway; httpbin shows the `X-Forwarded-*` headers only with
/// `show_env`.
fn forwarded_proto(client: &Client, base: &str) -> String {
    let r = send(client.get(format!("{base}/anything?show_env=1")));
    assert_eq!(r.status, 200, "{base}: {r:?}");
    r.json()["headers"]["X-Forwarded-Proto"]
        .as_str()
        .unwrap_or_else(|| panic!("no X-Forwarded-Proto upstream: {}", r.body))
        .to_string()
}

#[test]
fn ssl_listener_serves_https_and_forwards_proto_https() {
    let ca = LocalCa::new();
    let httpbin = Httpbin::start();
    let ports = Ports::free();
    let tls_port = free_port();
    let mut config = e2e::config_value(ports, &httpbin.url(), None);
    config["services"][0]["url"] = json!(httpbin.url());
    config["gateway"]["proxy_listen"] = json!(format!(
        "127.0.0.1:{}, 127.0.0.1:{tls_port} ssl",
        ports.proxy
    ));
    config["gateway"]["ssl_cert"] = json!(path_str(&ca.cert()));
    config["gateway"]["ssl_cert_key"] = json!(path_str(&ca.key()));
    let gw = Gateway::start(&to_yaml(&config));
    let tls_addr = std::net::SocketAddr::from(([127, 0, 0, 1], tls_port));
    assert!(
        wait_for_port(tls_addr, Duration::from_secs(10), || true),
        "the ssl listener is not up:\n{}",
        gw.log()
    );

    let https = ca.client();
    for base in [
        format!("https://127.0.0.1:{tls_port}"),
        format!("https://localhost:{tls_port}"),
    ] {
        assert_eq!(forwarded_proto(&https, &base), "https", "{base}");
    }
    // The plain listener of the same gateway still says http.
    assert_eq!(forwarded_proto(&common::client(), &gw.proxy_url()), "http");

    // A client without the local CA refuses the gateway's certificate.
    let err = common::client()
        .get(format!("https://127.0.0.1:{tls_port}/anything"))
        .send()
        .expect_err("a client without the test CA must refuse the certificate");
    assert!(
        format!("{err:?}").contains("certificate"),
        "unexpected error: {err:?}"
    );
}

#[test]
fn ssl_listener_config_errors_are_clear() {
    let ports = Ports::free();
    let upstream = format!("http://127.0.0.1:{}", free_port());
    let mut config = e2e::config_value(ports, &upstream, None);
    config["gateway"]["proxy_listen"] = json!(format!("127.0.0.1:{} ssl", ports.proxy));

    // No certificate at all: a load-time field error.
    let err = Gateway::try_start(&to_yaml(&config)).expect_err("must not start");
    assert!(
        err.contains("gateway.ssl_cert: required when a proxy_listen entry has the ssl flag"),
        "{err}"
    );
    assert!(err.contains("gateway.ssl_cert_key: required"), "{err}");

    // Unreadable files: a start error naming the setting and the file.
    config["gateway"]["ssl_cert"] = json!("/nonexistent/e2e/server.pem");
    config["gateway"]["ssl_cert_key"] = json!("/nonexistent/e2e/server.key");
    let err = Gateway::try_start(&to_yaml(&config)).expect_err("must not start");
    assert!(
        err.contains("gateway.ssl_cert: cannot read /nonexistent/e2e/server.pem"),
        "{err}"
    );

    // A CA bundle that is not PEM.
    let ca = LocalCa::new();
    config["gateway"]["proxy_listen"] = json!(format!("127.0.0.1:{}", ports.proxy));
    config["gateway"]
        .as_object_mut()
        .unwrap()
        .retain(|k, _| !k.starts_with("ssl_"));
    config["gateway"]["lua_ssl_trusted_certificate"] = json!(path_str(&ca.path("server.csr")));
    let err = Gateway::try_start(&to_yaml(&config)).expect_err("must not start");
    assert!(
        err.contains("gateway.lua_ssl_trusted_certificate:")
            && err.contains("no PEM certificate found"),
        "{err}"
    );
    // The private key never reaches the output.
    assert!(!err.contains("PRIVATE KEY"), "{err}");
}

/// The fake IdP: serves discovery on any GET and `{"active": true, ...}` on any POST, over TLS.
const FAKE_IDP: &str = r#"
import http.server, json, ssl, sys, time
port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
base = "https://127.0.0.1:%d" % port
class H(http.server.BaseHTTPRequestHandler):
    def reply(self, obj):
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self.reply({"issuer": base, "introspection_endpoint": base + "/introspect",
                    "token_endpoint": base + "/token", "jwks_uri": base + "/jwks"})
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.reply({"active": True, "sub": "tls-user", "client_id": "kong",
                    "exp": int(time.time()) + 300})
    def log_message(self, *args):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
"#;

struct FakeTlsIdp {
    _child: ChildGroup,
    port: u16,
}

impl FakeTlsIdp {
    fn start(ca: &LocalCa) -> FakeTlsIdp {
        let port = free_port();
        let script = ca.path("fake_idp.py");
        std::fs::write(&script, FAKE_IDP).expect("write the fake IdP");
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .arg(port.to_string())
            .arg(ca.cert())
            .arg(ca.key())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child =
            ChildGroup::spawn("fake-tls-idp", cmd, libc::SIGKILL, None).expect("spawn python3");
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        assert!(
            wait_for_port(addr, Duration::from_secs(15), || child.try_wait().is_none()),
            "the fake TLS IdP did not listen on {addr}"
        );
        FakeTlsIdp {
            _child: child,
            port,
        }
    }

    fn base(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }
}

/// A gateway with `/verify` (ssl_verify true, the default) and `/noverify` (ssl_verify false), both
/// introspecting at the fake IdP; `ca` becomes `gateway.lua_ssl_trusted_certificate`.
fn idp_gateway(idp: &FakeTlsIdp, upstream: &str, ca: Option<&Path>) -> Gateway {
    let plugin = |extra: Value| {
        let mut extra = extra;
        extra["introspection_endpoint"] = json!(format!("{}/introspect", idp.base()));
        extra["timeout"] = json!(5000);
        oidc_config(&idp.base(), &["introspection"], extra)
    };
    let mut config = routes_config_value(
        Ports::free(),
        upstream,
        &[
            ("/verify", Some(plugin(json!({})))),
            ("/noverify", Some(plugin(json!({ "ssl_verify": false })))),
        ],
    );
    if let Some(ca) = ca {
        config["gateway"]["lua_ssl_trusted_certificate"] = json!(path_str(ca));
    }
    Gateway::start(&to_yaml(&config))
}

fn get(gw: &Gateway, path: &str, token: &str) -> Reply {
    send(
        common::client()
            .get(format!("{}{path}", gw.proxy_url()))
            .bearer_auth(token),
    )
}

const TOKEN: &str = "tls-test-opaque-token-3f9c1d";

#[test]
fn idp_tls_verified_against_the_configured_ca() {
    let ca = LocalCa::new();
    let idp = FakeTlsIdp::start(&ca);
    let httpbin = Httpbin::start();

    // With the CA bundle: verification passes.
    let gw = idp_gateway(&idp, &httpbin.url(), Some(&ca.ca_pem()));
    let r = get(&gw, "/verify", TOKEN);
    assert_eq!(r.status, 200, "with the CA: {r:?}\n{}", gw.log());
    let r = get(&gw, "/noverify", TOKEN);
    assert_eq!(r.status, 200, "ssl_verify false: {r:?}\n{}", gw.log());
    drop(gw);

    // Without it: ssl_verify (default true) fails closed; ssl_verify false still passes.
    let gw = idp_gateway(&idp, &httpbin.url(), None);
    let r = get(&gw, "/verify", TOKEN);
    assert_eq!(r.status, 401, "without the CA: {r:?}\n{}", gw.log());
    assert!(
        !r.everything().contains("certificate"),
        "the TLS error reached the client: {r:?}"
    );
    let r = get(&gw, "/noverify", TOKEN);
    assert_eq!(r.status, 200, "ssl_verify false: {r:?}\n{}", gw.log());

    let log = gw.log();
    assert!(
        log.contains("certificate verify failed"),
        "the TLS failure is not logged:\n{log}"
    );
    for secret in [TOKEN, e2e::CLIENT_SECRET] {
        assert!(!log.contains(secret), "{secret:?} is in the log:\n{log}");
    }
}

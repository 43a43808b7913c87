//! Kong's `certificates` and `snis`: the `ssl` listener picks the certificate by the client's SNI (exact
//! name, then wildcard, else `gateway.ssl_cert`), checked with `openssl s_client -servername`; a SIGHUP
//! reload swaps certificates for the next handshake without failing a request in flight; a certificate
//! whose key does not match is refused, on reload and through the Admin API, and the running one kept.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::admin::json_req;
use e2e::ca::LocalCa;
use e2e::process::wait_for_port;
use e2e::{free_port, to_yaml, Gateway, Httpbin, Ports};
use reqwest::blocking::Client;
use reqwest::Method;
use serde_json::{json, Value};

const RELOADED: &str = "config reloaded path=";
const REFUSED: &str = "config reload refused";

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).expect("read a PEM file")
}

/// The common name of the certificate the listener on `port` serves for `sni` (`None`: no SNI sent).
fn served_cn(port: u16, sni: Option<&str>) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")]);
    match sni {
        Some(name) => cmd.args(["-servername", name]),
        None => cmd.arg("-noservername"),
    };
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .expect("run openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout);
    let subject = text
        .lines()
        .find(|l| l.starts_with("subject="))
        .unwrap_or_else(|| panic!("no certificate from s_client for {sni:?}:\n{text}"));
    // OpenSSL 3 prints `subject=CN = a.test` (or `subject=CN=a.test`).
    let cn = subject
        .split("CN")
        .nth(1)
        .unwrap_or_else(|| panic!("no CN in {subject:?}"));
    cn.trim_start_matches([' ', '='])
        .split([',', '/'])
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

/// A client that trusts the test CA and sends `name` to the gateway's TLS port (SNI and Host are `name`).
fn client_for(ca: &LocalCa, name: &str, port: u16) -> Client {
    let pem = read(&ca.ca_pem());
    Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(15))
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).expect("parse ca.pem"))
        .resolve(name, SocketAddr::from(([127, 0, 0, 1], port)))
        .build()
        .expect("build the TLS client")
}

struct Setup {
    ca: LocalCa,
    _httpbin: Httpbin,
    gw: Gateway,
    tls_port: u16,
    base: Value,
}

impl Setup {
    /// A gateway with an `ssl http2` listener whose default certificate is the CA's `localhost` one.
    fn start(certificates: impl FnOnce(&LocalCa) -> Value) -> Setup {
        let ca = LocalCa::new();
        let httpbin = Httpbin::start();
        let ports = Ports::free();
        let tls_port = free_port();
        let mut base = e2e::config_value(ports, &httpbin.url(), None);
        base["services"][0]["url"] = json!(httpbin.url());
        base["gateway"]["proxy_listen"] = json!(format!(
            "127.0.0.1:{}, 127.0.0.1:{tls_port} ssl http2",
            ports.proxy
        ));
        base["gateway"]["ssl_cert"] = json!(ca.cert().display().to_string());
        base["gateway"]["ssl_cert_key"] = json!(ca.key().display().to_string());
        let mut config = base.clone();
        config["certificates"] = certificates(&ca);
        let gw = Gateway::start(&to_yaml(&config));
        assert!(
            wait_for_port(
                SocketAddr::from(([127, 0, 0, 1], tls_port)),
                Duration::from_secs(10),
                || true
            ),
            "the ssl listener is not up:\n{}",
            gw.log()
        );
        Setup {
            ca,
            _httpbin: httpbin,
            gw,
            tls_port,
            base,
        }
    }

    /// Rewrites the file with `certificates` and sends SIGHUP; waits for the `needle` line number `n`.
    fn reload(&self, certificates: Value, needle: &str, n: usize) {
        let mut config = self.base.clone();
        config["certificates"] = certificates;
        self.gw.write_config(&to_yaml(&config));
        self.gw.signal(libc::SIGHUP);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.gw.log().matches(needle).count() < n {
            assert!(
                std::time::Instant::now() < deadline,
                "no {needle:?} after SIGHUP:\n{}",
                self.gw.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn certificate(ca: &LocalCa, name: &str, file: &str, snis: &[&str]) -> Value {
    let (cert, key) = ca.issue(name, file);
    json!({ "cert": read(&cert), "key": read(&key), "snis": snis })
}

#[test]
fn each_sni_gets_its_certificate_and_a_reload_swaps_them_without_failing_requests() {
    let s = Setup::start(|ca| {
        json!([
            certificate(ca, "a.test", "a", &["a.test"]),
            certificate(ca, "*.b.test", "wild", &["*.b.test"]),
        ])
    });
    let port = s.tls_port;
    assert_eq!(served_cn(port, Some("a.test")), "a.test");
    assert_eq!(served_cn(port, Some("x.b.test")), "*.b.test");
    // Kong's wildcard covers one label only; other names and no SNI get the default.
    assert_eq!(served_cn(port, Some("y.x.b.test")), "localhost");
    assert_eq!(served_cn(port, Some("other.test")), "localhost");
    assert_eq!(served_cn(port, None), "localhost");

    // A verifying client (hostname checked against the certificate) is proxied.
    let a = client_for(&s.ca, "a.test", port);
    let r = a
        .get(format!("https://a.test:{port}/anything"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);

    // A request in flight over TLS while the certificates change: it completes; new handshakes see the swap.
    let slow = std::thread::spawn(move || {
        a.get(format!("https://a.test:{port}/delay/2"))
            .send()
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string())
    });
    std::thread::sleep(Duration::from_millis(500));
    let swapped = json!([certificate(&s.ca, "*.test", "star", &["a.test"])]);
    s.reload(swapped, RELOADED, 1);
    assert_eq!(served_cn(port, Some("a.test")), "*.test");
    assert_eq!(
        served_cn(port, Some("x.b.test")),
        "localhost",
        "the removed certificate is no longer served"
    );
    assert_eq!(slow.join().unwrap(), Ok(200), "the request in flight");

    // A certificate whose key does not match is refused; the running certificates stay.
    let (cert, _) = s.ca.issue("c.test", "c");
    let (_, other_key) = s.ca.issue("d.test", "d");
    let bad = json!([{ "cert": read(&cert), "key": read(&other_key), "snis": ["c.test"] }]);
    s.reload(bad, REFUSED, 1);
    let log = s.gw.log();
    assert!(
        log.contains("certificates[0]: certificate does not match key"),
        "{log}"
    );
    assert!(!log.contains("PRIVATE KEY"), "a key reached the log");
    assert_eq!(served_cn(port, Some("a.test")), "*.test");
    assert_eq!(served_cn(port, Some("c.test")), "localhost");
}

#[test]
fn admin_api_adds_and_removes_certificates_and_snis() {
    let s = Setup::start(|_| json!([]));
    let port = s.tls_port;
    let admin = s.gw.admin_url();
    let (cert, key) = s.ca.issue("c.test", "c");
    let (status, body) = json_req(
        Method::POST,
        &format!("{admin}/certificates"),
        json!({ "cert": read(&cert), "key": read(&key), "snis": ["c.test"] }),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["snis"], json!(["c.test"]));
    let id = body["id"].as_str().unwrap().to_string();
    assert_eq!(served_cn(port, Some("c.test")), "c.test");

    // A second SNI for the same certificate through /snis; the certificate lists both.
    let (status, sni) = json_req(
        Method::POST,
        &format!("{admin}/snis"),
        json!({ "name": "*.c.test", "certificate": { "id": id } }),
    );
    assert_eq!(status, 201, "{sni}");
    assert_eq!(sni["certificate"], json!({ "id": id }));
    assert_eq!(served_cn(port, Some("www.c.test")), "c.test");
    let (_, got) = e2e::admin::get(&format!("{admin}/certificates/{id}"));
    assert_eq!(got["snis"], json!(["c.test", "*.c.test"]));
    let (status, dup) = json_req(
        Method::POST,
        &format!("{admin}/snis"),
        json!({ "name": "c.test", "certificate": { "id": id } }),
    );
    assert_eq!(status, 409, "{dup}");

    // A key that does not match: Kong's entity error, nothing applied.
    let (_, other_key) = s.ca.issue("d.test", "d");
    let file_before = s.gw.config();
    let (status, err) = json_req(
        Method::POST,
        &format!("{admin}/certificates"),
        json!({ "cert": read(&cert), "key": read(&other_key), "snis": ["d.test"] }),
    );
    assert_eq!(status, 400, "{err}");
    assert_eq!(
        err["fields"]["@entity"],
        json!(["certificate does not match key"]),
        "{err}"
    );
    assert_eq!(s.gw.config(), file_before, "the file is unchanged");
    assert_eq!(served_cn(port, Some("d.test")), "localhost");

    let (status, _) = e2e::admin::call(Method::DELETE, &format!("{admin}/snis/*.c.test"));
    assert_eq!(status, 204);
    assert_eq!(served_cn(port, Some("www.c.test")), "localhost");
    let (status, _) = e2e::admin::call(Method::DELETE, &format!("{admin}/certificates/{id}"));
    assert_eq!(status, 204);
    assert_eq!(served_cn(port, Some("c.test")), "localhost");
    let (status, _) = e2e::admin::get(&format!("{admin}/snis/c.test"));
    assert_eq!(status, 404, "the certificate's SNIs go with it");
}

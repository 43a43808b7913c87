//! Stream routes (`gateway.stream_listen`) against real peers on 127.0.0.1 started here: TCP echo servers
//! (each greets with its name, then echoes), a TLS echo server with a certificate of the test's CA, and a UDP
//! echo server. TCP routed by destination port, refused by source, TLS terminated with the certificate the SNI
//! selects, `tls_passthrough` to the TLS server (the client sees its certificate), UDP, a reload adding a
//! route while an established connection keeps working, and a KIC golden file proxying once its upstream has
//! a loopback target. One gateway serves the tests that do not reload; it also proxies to a host name (the
//! resolver) and to a `tls` service verified against `ca_certificates`. A binary upgrade rebinds the listeners.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use e2e::ca::LocalCa;
use e2e::{free_port, to_yaml, Gateway, Ports};
use openssl::ssl::{SslAcceptor, SslConnector, SslFiletype, SslMethod, SslStream, SslVerifyMode};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);
const TLS_NAME: &str = "tls.stream.test";
const PASS_NAME: &str = "pass.stream.test";
const CA_ID: &str = "5a0e8a52-6c3e-4c55-9e0e-000000000001";

/// A TCP server on 127.0.0.1 that writes `<name>\n` on each connection, then echoes what it reads.
fn tcp_echo(name: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the echo server");
    let port = listener.local_addr().expect("local addr").port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || echo(conn, name));
        }
    });
    port
}

fn echo<S: Read + Write>(mut s: S, name: &str) {
    if s.write_all(format!("{name}\n").as_bytes()).is_err() {
        return;
    }
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 || s.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

/// The TLS version of [`tcp_echo`], greeting with `name`, with the certificate and key at those paths.
fn tls_echo(cert: &std::path::Path, key: &std::path::Path, name: &'static str) -> u16 {
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).expect("acceptor");
    b.set_certificate_chain_file(cert).expect("cert");
    b.set_private_key_file(key, SslFiletype::PEM).expect("key");
    let acceptor = Arc::new(b.build());
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the TLS echo server");
    let port = listener.local_addr().expect("local addr").port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let acceptor = acceptor.clone();
            std::thread::spawn(move || {
                if let Ok(s) = acceptor.accept(conn) {
                    echo(s, name);
                }
            });
        }
    });
    port
}

/// A UDP server on 127.0.0.1 answering each datagram with `udp:` and the datagram.
fn udp_echo() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the UDP echo server");
    let port = socket.local_addr().expect("local addr").port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let mut answer = b"udp:".to_vec();
            answer.extend_from_slice(&buf[..n]);
            let _ = socket.send_to(&answer, from);
        }
    });
    port
}

/// Reads the greeting line, sends `ping`, reads the echo: `Some(name)` when all of it worked.
fn talk<S: Read + Write>(s: S) -> Option<String> {
    let mut r = BufReader::new(s);
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    r.get_mut().write_all(b"ping").ok()?;
    let mut back = [0u8; 4];
    r.read_exact(&mut back).ok()?;
    (&back == b"ping").then(|| line.trim_end().to_string())
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the stream listener");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    s
}

/// A TLS client trusting only the test CA, sending `sni` and verifying the certificate against it.
fn tls_connect(ca: &LocalCa, port: u16, sni: &str) -> Result<SslStream<TcpStream>, String> {
    let mut b = SslConnector::builder(SslMethod::tls()).expect("connector");
    b.set_ca_file(ca.ca_pem()).expect("CA file");
    b.set_verify(SslVerifyMode::PEER);
    b.build()
        .connect(sni, connect(port))
        .map_err(|e| e.to_string())
}

struct Shared {
    ca: LocalCa,
    gw: Gateway,
    tcp_a: u16,
    tcp_b: u16,
    tls: u16,
    udp: u16,
    reencrypt: u16,
}

fn stream_service(name: &str, port: u16, protocol: &str, routes: Value) -> Value {
    json!({"name": name, "host": "127.0.0.1", "port": port, "protocol": protocol, "routes": routes})
}

/// One gateway with two plain listeners, an `ssl` one and a UDP one, for the checks below (one test: the
/// harness ties a child process to the thread that started it).
#[test]
fn one_gateway_for_tcp_tls_passthrough_and_udp() {
    let s = shared();
    tcp_is_routed_by_destination_port(&s);
    tcp_from_a_source_outside_the_route_is_closed(&s);
    tls_is_terminated_with_the_certificate_the_sni_selects(&s);
    tls_passthrough_reaches_the_upstream_handshake(&s);
    udp_datagrams_are_relayed_both_ways(&s);
    // A `tls` service: plain TCP in, TLS to the upstream, verified against `ca_certificates`.
    assert_eq!(
        talk(connect(s.reencrypt)).as_deref(),
        Some("tls-upstream-ip"),
        "{}",
        s.gw.log()
    );
}

fn shared() -> Shared {
    {
        let ca = LocalCa::new();
        let (tls_cert, tls_key) = ca.issue(TLS_NAME, "terminated");
        let read = |p: std::path::PathBuf| std::fs::read_to_string(p).expect("read PEM");
        let (pass_cert, pass_key) = ca.issue(PASS_NAME, "upstream");
        let (echo_a, echo_b, echo_tls, upstream_tls, echo_udp) = (
            tcp_echo("echo-a"),
            tcp_echo("echo-b"),
            tcp_echo("echo-behind-tls"),
            tls_echo(&pass_cert, &pass_key, "tls-upstream"),
            udp_echo(),
        );
        // For 127.0.0.1 (the CA's server certificate): a `tls` service verifies it against the test CA.
        let upstream_ip = tls_echo(&ca.cert(), &ca.key(), "tls-upstream-ip");
        let (tcp_a, tcp_b, tls, udp) = (free_port(), free_port(), free_port(), free_port());
        let reencrypt = free_port();
        let ports = Ports::free();
        let config = json!({
            "_format_version": "3.0",
            "gateway": {
                "proxy_listen": format!("127.0.0.1:{}", ports.proxy),
                "admin_listen": format!("127.0.0.1:{}", ports.admin),
                "stream_listen": format!(
                    "127.0.0.1:{tcp_a}, 127.0.0.1:{tcp_b}, 127.0.0.1:{tls} ssl, 127.0.0.1:{udp} udp, 127.0.0.1:{reencrypt}"
                ),
                "ssl_cert": ca.cert(),
                "ssl_cert_key": ca.key(),
            },
            "certificates": [{"cert": read(tls_cert), "key": read(tls_key), "snis": [TLS_NAME]}],
            "ca_certificates": [{"id": CA_ID, "cert": read(ca.ca_pem())}],
            "services": [
                stream_service("a", echo_a, "tcp", json!([
                    {"name": "by-port", "protocols": ["tcp"], "destinations": [{"port": tcp_a}]}
                ])),
                // A host name: resolved per connection through the gateway's resolver (the hosts file).
                {
                    "name": "b", "host": "localhost", "port": echo_b, "protocol": "tcp",
                    "routes": [{"name": "by-source", "protocols": ["tcp"],
                                "sources": [{"ip": "127.0.0.2"}], "destinations": [{"port": tcp_b}]}],
                },
                stream_service("t", echo_tls, "tcp", json!([
                    {"name": "terminated", "protocols": ["tls"], "snis": [TLS_NAME]}
                ])),
                stream_service("p", upstream_tls, "tcp", json!([
                    {"name": "passthrough", "protocols": ["tls_passthrough"], "snis": [PASS_NAME]}
                ])),
                stream_service("u", echo_udp, "udp", json!([
                    {"name": "udp", "protocols": ["udp"], "destinations": [{"port": udp}]}
                ])),
                {
                    "name": "r", "host": "127.0.0.1", "port": upstream_ip, "protocol": "tls",
                    "ca_certificates": [CA_ID],
                    "routes": [{"name": "reencrypt", "protocols": ["tcp"], "destinations": [{"port": reencrypt}]}],
                },
            ],
        });
        let gw = Gateway::start(&to_yaml(&config));
        Shared {
            ca,
            gw,
            tcp_a,
            tcp_b,
            tls,
            udp,
            reencrypt,
        }
    }
}

fn tcp_is_routed_by_destination_port(s: &Shared) {
    assert_eq!(
        talk(connect(s.tcp_a)).as_deref(),
        Some("echo-a"),
        "{}",
        s.gw.log()
    );
}

fn tcp_from_a_source_outside_the_route_is_closed(s: &Shared) {
    // From 127.0.0.1: the route wants 127.0.0.2, nothing else matches: the connection is closed.
    assert_eq!(talk(connect(s.tcp_b)), None);
    // From 127.0.0.2: proxied.
    let from = socket_from("127.0.0.2", s.tcp_b);
    assert_eq!(talk(from).as_deref(), Some("echo-b"), "{}", s.gw.log());
}

/// A connection to the stream listener `port` from the source address `ip` (bound before connecting).
fn socket_from(ip: &str, port: u16) -> TcpStream {
    let rt = e2e::test_runtime();
    let s = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::new(ip.parse().expect("ip"), 0))
            .expect("bind the source address");
        socket
            .connect(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .expect("connect from the source address")
            .into_std()
            .expect("std stream")
    });
    s.set_nonblocking(false).expect("blocking");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    s
}

fn tls_is_terminated_with_the_certificate_the_sni_selects(s: &Shared) {
    let tls = tls_connect(&s.ca, s.tls, TLS_NAME).unwrap_or_else(|e| panic!("{e}\n{}", s.gw.log()));
    let cert = tls.ssl().peer_certificate().expect("a certificate");
    let names: Vec<String> = cert
        .subject_alt_names()
        .into_iter()
        .flatten()
        .filter_map(|n| n.dnsname().map(str::to_string))
        .collect();
    assert_eq!(names, vec![TLS_NAME.to_string()]);
    // The service is `tcp`: the echo server behind gets plain bytes.
    assert_eq!(talk(tls).as_deref(), Some("echo-behind-tls"));
    // An SNI no route has: closed during the handshake.
    assert!(tls_connect(&s.ca, s.tls, "nothing.stream.test").is_err());
}

fn tls_passthrough_reaches_the_upstream_handshake(s: &Shared) {
    // The gateway has no certificate for PASS_NAME: a verified handshake for it is the upstream's.
    let tls =
        tls_connect(&s.ca, s.tls, PASS_NAME).unwrap_or_else(|e| panic!("{e}\n{}", s.gw.log()));
    let cert = tls.ssl().peer_certificate().expect("a certificate");
    let cn = cert.subject_name().entries().next().expect("CN");
    assert_eq!(cn.data().as_slice(), PASS_NAME.as_bytes());
    assert_eq!(talk(tls).as_deref(), Some("tls-upstream"));
}

fn udp_datagrams_are_relayed_both_ways(s: &Shared) {
    let client = UdpSocket::bind("127.0.0.1:0").expect("bind a client socket");
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    // Datagrams may be lost: retry a few times before failing.
    let mut got = None;
    for i in 0..5 {
        let msg = format!("hello-{i}");
        client
            .send_to(msg.as_bytes(), ("127.0.0.1", s.udp))
            .expect("send");
        if let Ok((n, _)) = client.recv_from(&mut buf) {
            got = Some((msg, String::from_utf8_lossy(&buf[..n]).into_owned()));
            break;
        }
    }
    let (sent, answer) = got.unwrap_or_else(|| panic!("no UDP answer\n{}", s.gw.log()));
    assert_eq!(answer, format!("udp:{sent}"));
}

/// A reload adds a route on a listener that had none; a connection established before it keeps working.
#[test]
fn reload_adds_a_route_and_keeps_connections() {
    let (echo_a, echo_c) = (tcp_echo("echo-a"), tcp_echo("echo-c"));
    let (old, new) = (free_port(), free_port());
    let ports = Ports::free();
    let mut config = json!({
        "_format_version": "3.0",
        "gateway": {
            "proxy_listen": format!("127.0.0.1:{}", ports.proxy),
            "admin_listen": format!("127.0.0.1:{}", ports.admin),
            "stream_listen": format!("127.0.0.1:{old}, 127.0.0.1:{new}"),
        },
        "services": [stream_service("a", echo_a, "tcp", json!([
            {"name": "old", "protocols": ["tcp"], "destinations": [{"port": old}]}
        ]))],
    });
    let gw = Gateway::start(&to_yaml(&config));
    assert_eq!(talk(connect(new)), None, "no route yet");
    let mut established = BufReader::new(connect(old));
    let mut line = String::new();
    established.read_line(&mut line).expect("greeting");
    assert_eq!(line, "echo-a\n");

    config["services"]
        .as_array_mut()
        .expect("services")
        .push(stream_service(
            "c",
            echo_c,
            "tcp",
            json!([
                {"name": "new", "protocols": ["tcp"], "destinations": [{"port": new}]}
            ]),
        ));
    gw.write_config(&to_yaml(&config));
    gw.signal(libc::SIGHUP);
    assert!(gw.wait_for_log("config reloaded", WAIT), "{}", gw.log());
    assert_eq!(
        talk(connect(new)).as_deref(),
        Some("echo-c"),
        "{}",
        gw.log()
    );
    // The connection opened before the reload still echoes.
    established.get_mut().write_all(b"late").expect("write");
    let mut back = [0u8; 4];
    established.read_exact(&mut back).expect("read the echo");
    assert_eq!(&back, b"late");
}

/// KIC's golden TCPRoute file, as KIC sends it, with a loopback target added to its upstream (and its
/// destination port moved to a free one): the service's host names the upstream, which the balancer serves.
#[test]
fn a_kic_tcproute_golden_file_proxies() {
    let golden = std::fs::read_to_string(e2e::workspace_root().join(
        "tests/fixtures/kong-files/kic/internal/dataplane/testdata/golden/tcproute-example/default_golden.yaml",
    ))
    .expect("read the golden file");
    let echo = tcp_echo("kic-echo");
    let listen = free_port();
    let ports = Ports::free();
    assert!(golden.contains("- port: 1025"));
    let mut text = golden.replace("- port: 1025", &format!("- port: {listen}"));
    text.push_str(&format!(
        "  targets:\n  - target: 127.0.0.1:{echo}\ngateway:\n  proxy_listen: 127.0.0.1:{}\n  admin_listen: 127.0.0.1:{}\n  stream_listen: 127.0.0.1:{listen}\n",
        ports.proxy, ports.admin
    ));
    let gw = Gateway::start(&text);
    assert_eq!(
        talk(connect(listen)).as_deref(),
        Some("kic-echo"),
        "{}",
        gw.log()
    );
}

/// A binary upgrade: stream listeners are not handed over, the new process binds them once the old one has
/// closed them, and serves the stream routes.
#[test]
fn an_upgrade_rebinds_the_stream_listeners() {
    let echo = tcp_echo("echo-upgrade");
    let listen = free_port();
    let ports = Ports::free();
    let config = json!({
        "_format_version": "3.0",
        "gateway": {
            "proxy_listen": format!("127.0.0.1:{}", ports.proxy),
            "admin_listen": format!("127.0.0.1:{}", ports.admin),
            "stream_listen": format!("127.0.0.1:{listen}"),
            "grace_period_seconds": 1,
            "graceful_shutdown_timeout_seconds": 1,
        },
        "services": [stream_service("a", echo, "tcp", json!([
            {"name": "a", "protocols": ["tcp"], "destinations": [{"port": listen}]}
        ]))],
    });
    let yaml = to_yaml(&config);
    let old = Gateway::start(&yaml);
    assert_eq!(talk(connect(listen)).as_deref(), Some("echo-upgrade"));
    let sock = old.dir().join("gateway.yaml.upgrade.sock");
    let pid_file = old.dir().join("gateway.yaml.pid");
    let (sock_arg, pid_arg) = (sock.display().to_string(), pid_file.display().to_string());
    let new = Gateway::start_with(
        &yaml,
        &[
            "--upgrade",
            "--upgrade-sock",
            &sock_arg,
            "--pid-file",
            &pid_arg,
        ],
        &[],
    );
    let deadline = std::time::Instant::now() + WAIT;
    while !sock.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(sock.exists(), "no upgrade socket:\n{}", new.log());
    old.signal(libc::SIGQUIT);
    assert!(
        new.wait_for_log("stream: listening on", WAIT),
        "{}\n--- old ---\n{}",
        new.log(),
        old.log()
    );
    assert_eq!(
        talk(connect(listen)).as_deref(),
        Some("echo-upgrade"),
        "{}",
        new.log()
    );
}

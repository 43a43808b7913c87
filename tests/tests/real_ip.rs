//! The real client address end to end, through the real gateway binary to the real httpbin: a trusted proxy's
//! `X-Forwarded-For` (recursive) and the PROXY protocol (v1 and v2 headers written here, byte by byte, on a
//! plain and on an `ssl` listener, and once for a kept-alive connection) give the address ip-restriction
//! refuses and rate-limiting (`limit_by: ip`) counts, the `X-Real-IP` and `X-Forwarded-For` httpbin receives
//! and the access log's `client=`; an untrusted peer (a connection from 127.0.0.2) is not believed, and a
//! reload that drops `trusted_ips` applies at once. bot-detection: Kong's default rules, `allow` and `deny`;
//! the schemas' refusals (a bad regex, a bad CIDR) through the Admin API.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use common::{client, send, Reply};
use e2e::{Gateway, Httpbin, Ports};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The peer the gateways do not trust (loopback, another address).
const UNTRUSTED: &str = "127.0.0.2";

struct Servers {
    /// `real_ip_header: X-Forwarded-For`, recursive, trusting 127.0.0.1.
    xff: Gateway,
    /// `real_ip_header: proxy_protocol` on a second listener, trusting 127.0.0.1.
    pp: Gateway,
    /// The `proxy_protocol` listener of `pp`.
    pp_addr: SocketAddr,
    /// The `ssl proxy_protocol` listener of `pp`.
    pp_tls_addr: SocketAddr,
    _httpbin: Httpbin,
    _ca: e2e::ca::LocalCa,
}

fn routes() -> Value {
    let route = |name: &str, plugins: Value| json!({"name": name, "paths": [format!("/{name}")], "plugins": plugins});
    json!([
        route("echo", json!([])),
        route(
            "deny",
            json!([{"name": "ip-restriction", "config": {"deny": ["203.0.113.0/24"]}}])
        ),
        route(
            "allow",
            json!([{"name": "ip-restriction",
                    "config": {"allow": ["198.51.100.0/24"], "status": 401, "message": "Go away"}}])
        ),
        route(
            "limited",
            json!([{"name": "rate-limiting", "config": {"hour": 2, "limit_by": "ip"}}])
        ),
        route("bots", json!([{"name": "bot-detection"}])),
        route(
            "bots-custom",
            json!([{"name": "bot-detection",
                    "config": {"allow": ["^Go-http-client"], "deny": ["HelloWorld"]}}])
        ),
    ])
}

fn start() -> Servers {
    let httpbin = Httpbin::start();
    let mut xff = e2e::config_value(Ports::free(), &httpbin.url(), None);
    xff["services"][0]["routes"] = routes();
    xff["gateway"]["trusted_ips"] = json!("127.0.0.1, ::1");
    xff["gateway"]["real_ip_header"] = json!("X-Forwarded-For");
    xff["gateway"]["real_ip_recursive"] = json!("on");
    let xff = Gateway::start(&e2e::to_yaml(&xff));

    let mut pp = e2e::config_value(Ports::free(), &httpbin.url(), None);
    pp["services"][0]["routes"] = routes();
    let pp_addr: SocketAddr = ([127, 0, 0, 1], e2e::free_port()).into();
    let pp_tls_addr: SocketAddr = ([127, 0, 0, 1], e2e::free_port()).into();
    let plain = (pp["gateway"]["proxy_listen"].as_str())
        .unwrap_or_default()
        .to_owned();
    pp["gateway"]["proxy_listen"] = json!(format!(
        "{plain}, {pp_addr} proxy_protocol, {pp_tls_addr} ssl proxy_protocol"
    ));
    let ca = e2e::ca::LocalCa::new();
    pp["gateway"]["ssl_cert"] = json!(ca.cert().display().to_string());
    pp["gateway"]["ssl_cert_key"] = json!(ca.key().display().to_string());
    pp["gateway"]["trusted_ips"] = json!(["127.0.0.1"]);
    pp["gateway"]["real_ip_header"] = json!("proxy_protocol");
    let pp = Gateway::start(&e2e::to_yaml(&pp));
    for addr in [pp_addr, pp_tls_addr] {
        let up = e2e::process::wait_for_port(addr, Duration::from_secs(10), || true);
        assert!(up, "{addr} is not up:\n{}", pp.log());
    }
    Servers {
        xff,
        pp,
        pp_addr,
        pp_tls_addr,
        _httpbin: httpbin,
        _ca: ca,
    }
}

/// A GET through `gw` from `local` (the peer address the gateway sees) with `headers`.
fn get(gw: &Gateway, local: Option<&str>, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut builder = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30));
    if let Some(ip) = local {
        builder = builder.local_address(ip.parse::<IpAddr>().ok());
    }
    let c = builder.build().expect("client");
    let mut req = c.get(format!("{}{path}", gw.proxy_url()));
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    send(req)
}

/// Sends `prefix` (a PROXY header, or nothing) then a GET of `path` on a new connection to `addr` from
/// `local`, and reads the answer to the end: `(status, body)`; status 0 when the connection was closed
/// without an answer.
fn raw(addr: SocketAddr, local: &str, prefix: &[u8], path: &str, headers: &str) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::new(local.parse().expect("ip"), 0))
            .expect("bind");
        let mut s = socket.connect(addr).await.expect("connect");
        let mut req = prefix.to_vec();
        req.extend_from_slice(
            format!("GET {path} HTTP/1.1\r\nHost: pp.test\r\n{headers}Connection: close\r\n\r\n")
                .as_bytes(),
        );
        s.write_all(&req).await.expect("write");
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out)).await;
        assert!(read.is_ok(), "no answer in time");
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    })
}

/// [`raw`] over TLS: the PROXY header `prefix` in clear, then the handshake (the test CA is not checked),
/// then the request.
fn raw_tls(addr: SocketAddr, prefix: &[u8], path: &str) -> (u16, String) {
    use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    tcp.write_all(prefix).expect("write the PROXY header");
    let mut builder = SslConnector::builder(SslMethod::tls()).expect("connector");
    builder.set_verify(SslVerifyMode::NONE);
    let mut tls = builder
        .build()
        .connect("localhost", tcp)
        .expect("TLS handshake after the PROXY header");
    let req = format!("GET {path} HTTP/1.1\r\nHost: pp.test\r\nConnection: close\r\n\r\n");
    tls.write_all(req.as_bytes()).expect("write");
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// One connection to `addr` from 127.0.0.1: the PROXY header `prefix` once, then a keep-alive GET of each
/// path in turn, each answer read by its `Content-Length`; the statuses.
fn raw_keepalive(addr: SocketAddr, prefix: &[u8], paths: &[&str]) -> Vec<u16> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(prefix).await.expect("write the PROXY header");
        let mut statuses = Vec::new();
        for path in paths {
            let req = format!("GET {path} HTTP/1.1\r\nHost: pp.test\r\n\r\n");
            s.write_all(req.as_bytes()).await.expect("write");
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8; 1];
                let n = tokio::time::timeout(Duration::from_secs(30), s.read(&mut byte)).await;
                match n {
                    Ok(Ok(1)) => head.push(byte[0]),
                    _ => return statuses,
                }
            }
            let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
            statuses.push(
                head.split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
            );
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let mut body = vec![0u8; len];
            s.read_exact(&mut body).await.expect("read the body");
        }
        statuses
    })
}

fn v1(src: &str, dst: SocketAddr) -> Vec<u8> {
    format!("PROXY TCP4 {src} {} 40000 {}\r\n", dst.ip(), dst.port()).into_bytes()
}

/// A v2 PROXY header (PROXY command, TCP over IPv4) from `src`.
fn v2(src: [u8; 4], dst: SocketAddr) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&[127, 0, 0, 1]);
    h.extend_from_slice(&40000u16.to_be_bytes());
    h.extend_from_slice(&dst.port().to_be_bytes());
    h
}

/// The headers httpbin received (`/anything` echo), lower-cased names.
fn upstream_headers(body: &str) -> Value {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let map = v["headers"].as_object().cloned().unwrap_or_default();
    map.into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

#[test]
fn real_client_address() {
    let s = start();
    forwarded_for(&s);
    proxy_protocol(&s);
    bot_detection(&s);
    reload(&s);
}

/// `trusted_ips` applies on a reload: without it, the forwarded address is no longer believed.
fn reload(s: &Servers) {
    let gw = &s.xff;
    let mut doc: Value = serde_yaml::from_str(&gw.config()).expect("the config file");
    if let Some(g) = doc["gateway"].as_object_mut() {
        g.remove("trusted_ips");
    }
    gw.write_config(&e2e::to_yaml(&doc));
    gw.signal(libc::SIGHUP);
    assert!(
        gw.wait_for_log("config reloaded", Duration::from_secs(10)),
        "{}",
        gw.log()
    );
    assert!(
        !gw.log().contains("gateway.trusted_ips changed"),
        "{}",
        gw.log()
    );
    let r = get(gw, None, "/deny", &[("X-Forwarded-For", "203.0.113.5")]);
    assert_eq!(
        r.status, 200,
        "after the reload the peer is the client: {r:?}"
    );
}

fn forwarded_for(s: &Servers) {
    let gw = &s.xff;
    let xff = |v: &'static str| [("X-Forwarded-For", v)];
    // ip-restriction sees the forwarded address; recursive: a trusted hop on the right is skipped.
    let r = get(gw, None, "/deny", &xff("203.0.113.5"));
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(
        r.body,
        r#"{"message":"IP address not allowed: 203.0.113.5"}"#
    );
    let r = get(gw, None, "/deny", &xff("203.0.113.5, 127.0.0.1"));
    assert_eq!(r.status, 403, "recursive: {r:?}");
    assert_eq!(get(gw, None, "/deny", &xff("198.51.100.1")).status, 200);
    assert_eq!(get(gw, None, "/allow", &xff("198.51.100.1")).status, 200);
    // The connection's own address when no header.
    let r = get(gw, None, "/allow", &[]);
    assert_eq!(
        (r.status, r.body.as_str()),
        (401, r#"{"message":"Go away"}"#),
        "{r:?}"
    );
    // An untrusted peer's header is not believed: its own address is the client.
    let r = get(gw, Some(UNTRUSTED), "/allow", &xff("198.51.100.1"));
    assert_eq!(r.status, 401, "untrusted peer: {r:?}");
    assert_eq!(
        get(gw, Some(UNTRUSTED), "/deny", &xff("203.0.113.5")).status,
        200
    );

    // rate-limiting by ip: each forwarded address has its own budget.
    for _ in 0..2 {
        let r = get(gw, None, "/limited", &xff("198.51.100.10"));
        assert_eq!(r.status, 200, "{r:?}");
    }
    let r = get(gw, None, "/limited", &xff("198.51.100.10"));
    assert_eq!(r.status, 429, "{r:?}");
    let r = get(gw, None, "/limited", &xff("198.51.100.11"));
    assert_eq!(r.status, 200, "another address, another budget: {r:?}");
    assert_eq!(r.header("x-ratelimit-remaining-hour"), Some("1"), "{r:?}");

    // What httpbin receives: X-Real-IP the real address, X-Forwarded-For with the peer appended; a trusted
    // peer's X-Forwarded-Proto goes through, an untrusted one's is replaced.
    let r = get(
        gw,
        None,
        "/echo?show_env=1",
        &[
            ("X-Forwarded-For", "198.51.100.7"),
            ("X-Forwarded-Proto", "https"),
        ],
    );
    let h = upstream_headers(&r.body);
    assert_eq!(h["x-real-ip"], "198.51.100.7", "{h}");
    assert_eq!(h["x-forwarded-for"], "198.51.100.7, 127.0.0.1", "{h}");
    assert_eq!(h["x-forwarded-proto"], "https", "{h}");
    let r = get(
        gw,
        Some(UNTRUSTED),
        "/echo?show_env=1",
        &[
            ("X-Forwarded-For", "198.51.100.7"),
            ("X-Forwarded-Proto", "https"),
        ],
    );
    let h = upstream_headers(&r.body);
    assert_eq!(h["x-real-ip"], UNTRUSTED, "{h}");
    assert_eq!(h["x-forwarded-for"], "198.51.100.7, 127.0.0.2", "{h}");
    assert_eq!(h["x-forwarded-proto"], "http", "{h}");
    // The access log names the real client.
    assert!(
        gw.wait_for_log("client=198.51.100.7 ", Duration::from_secs(5)),
        "{}",
        gw.log()
    );
}

fn proxy_protocol(s: &Servers) {
    let a = s.pp_addr;
    // v1 and v2 headers: the PROXY source is the client.
    let (status, body) = raw(a, "127.0.0.1", &v1("203.0.113.9", a), "/deny", "");
    assert_eq!(status, 403, "{body}");
    assert_eq!(body, r#"{"message":"IP address not allowed: 203.0.113.9"}"#);
    let (status, body) = raw(a, "127.0.0.1", &v2([203, 0, 113, 10], a), "/deny", "");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("203.0.113.10"), "{body}");
    assert_eq!(
        raw(a, "127.0.0.1", &v2([198, 51, 100, 3], a), "/allow", "").0,
        200
    );
    // rate-limiting by ip over PROXY v2: separate budgets per source.
    let v2_from = |last: u8| v2([198, 51, 100, last], a);
    assert_eq!(raw(a, "127.0.0.1", &v2_from(20), "/limited", "").0, 200);
    assert_eq!(
        raw(a, "127.0.0.1", &v1("198.51.100.20", a), "/limited", "").0,
        200
    );
    assert_eq!(raw(a, "127.0.0.1", &v2_from(20), "/limited", "").0, 429);
    assert_eq!(raw(a, "127.0.0.1", &v2_from(21), "/limited", "").0, 200);
    // Upstream headers: X-Real-IP the PROXY source; X-Forwarded-For appended with the peer.
    let (status, body) = raw(
        a,
        "127.0.0.1",
        &v1("198.51.100.30", a),
        "/echo?show_env=1",
        "X-Forwarded-For: 10.9.9.9\r\n",
    );
    assert_eq!(status, 200, "{body}");
    let h = upstream_headers(&body);
    assert_eq!(h["x-real-ip"], "198.51.100.30", "{h}");
    assert_eq!(h["x-forwarded-for"], "10.9.9.9, 127.0.0.1", "{h}");
    // An `ssl proxy_protocol` listener: the header comes before the TLS handshake.
    let t = s.pp_tls_addr;
    let (status, body) = raw_tls(t, &v2([203, 0, 113, 11], t), "/deny");
    assert_eq!(
        (status, body.as_str()),
        (403, r#"{"message":"IP address not allowed: 203.0.113.11"}"#)
    );
    assert_eq!(raw_tls(t, &v1("198.51.100.4", t), "/allow").0, 200);
    // A kept-alive connection: the header is read once, every request on it has the same client.
    let statuses = raw_keepalive(a, &v1("203.0.113.12", a), &["/deny", "/deny", "/echo"]);
    assert_eq!(statuses, vec![403, 403, 200]);
    // An untrusted peer's PROXY header is read and ignored: the peer is the client.
    let (status, body) = raw(a, UNTRUSTED, &v1("198.51.100.3", a), "/allow", "");
    assert_eq!((status, body.as_str()), (401, r#"{"message":"Go away"}"#));
    // A connection without the header is closed unanswered; the plain listener needs none.
    assert_eq!(raw(a, "127.0.0.1", b"", "/echo?show_env=1", "").0, 0);
    let r = get(
        &s.pp,
        None,
        "/allow",
        &[("X-Forwarded-For", "198.51.100.3")],
    );
    assert_eq!(
        r.status, 401,
        "the header is not the source with proxy_protocol: {r:?}"
    );
}

fn bot_detection(s: &Servers) {
    let gw = &s.xff;
    let ua = |path: &str, agent: &str| get(gw, None, path, &[("User-Agent", agent)]);
    let browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
    for agent in [browser, "curl/8.5.0", "HelloWorld"] {
        assert_eq!(ua("/bots", agent).status, 200, "{agent}");
    }
    for agent in [
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
        "facebookexternalhit/1.1",
        "Go-http-client/1.1",
        "Python-urllib/3.11",
    ] {
        let r = ua("/bots", agent);
        assert_eq!(
            (r.status, r.body.as_str()),
            (403, r#"{"message":"Forbidden"}"#),
            "{agent}"
        );
    }
    // allow wins over the rules; deny adds to them.
    assert_eq!(ua("/bots-custom", "Go-http-client/1.1").status, 200);
    assert_eq!(ua("/bots-custom", "HelloWorld").status, 403);
    assert_eq!(ua("/bots-custom", "Python-urllib/3.11").status, 403);
    let r = send(
        client()
            .get(format!("{}/bots", gw.proxy_url()))
            .header("User-Agent", browser)
            .header("User-Agent", browser),
    );
    assert_eq!(r.status, 400, "{r:?}");
    // A regex that does not compile is refused by the Admin API, with Kong's message.
    let plugins = format!("{}/plugins", gw.admin_url());
    let (status, body) = e2e::admin::json_req(
        reqwest::Method::POST,
        &plugins,
        json!({"name": "bot-detection", "config": {"deny": ["(unclosed"]}}),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body.pointer("/fields/config/deny"),
        Some(&json!(["not a valid regex: (unclosed"])),
        "{body}"
    );
    let (status, body) = e2e::admin::json_req(
        reqwest::Method::POST,
        &plugins,
        json!({"name": "ip-restriction", "config": {"allow": ["10.0.0.0/33"]}}),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body.pointer("/fields/config/allow"),
        Some(&json!(["invalid ip or cidr range: '10.0.0.0/33'"])),
        "{body}"
    );
}

//! End-to-end HTTP/2 downstream and request limits, driven by the real `curl` (Debian's, built with
//! nghttp2): h2 over TLS through ALPN and h2c with prior knowledge reach an authenticated route (token from
//! the real IdP), HTTP/1.1 still works on the same ports; a listener without `http2` stays HTTP/1.1; an
//! oversized header, too many headers and an overlong URI are refused with 431/414 over both protocols;
//! a client opening and resetting streams in a loop (CVE-2023-44487) is cut off while another client is served.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use e2e::ca::LocalCa;
use e2e::dns::WhoAmI;
use e2e::{free_port, oidc_config, start_idp_and_httpbin, to_yaml, Gateway, JOHN};
use serde_json::{json, Value};

/// What curl saw: `(http_version, status)`, e.g. `("2", 200)`; `("", 0)` when curl failed.
fn curl(args: &[&str], url: &str) -> (String, u16) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
            "--max-time",
            "10",
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut parts = text.split_whitespace();
    let version = parts.next().unwrap_or_default().to_string();
    let status = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    (version, status)
}

/// `curl ... url` returning the body.
fn curl_body(args: &[&str], url: &str) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .arg(url)
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&out.stdout).to_string()
}

struct Listeners {
    h2c: u16,
    tls: u16,
    plain: u16,
    admin: u16,
}

impl Listeners {
    fn free() -> Listeners {
        Listeners {
            h2c: free_port(),
            tls: free_port(),
            plain: free_port(),
            admin: free_port(),
        }
    }

    fn gateway(&self, ca: &LocalCa, services: Value) -> Value {
        json!({
            "proxy_listen": format!(
                "127.0.0.1:{} http2, 127.0.0.1:{} ssl http2, 127.0.0.1:{}",
                self.h2c, self.tls, self.plain
            ),
            "admin_listen": format!("127.0.0.1:{}", self.admin),
            "worker_threads": 2,
            "ssl_cert": ca.cert(),
            "ssl_cert_key": ca.key(),
        })
        .as_object()
        .map(|g| {
            let mut doc = json!({"_format_version": "3.0", "services": services});
            doc["gateway"] = Value::Object(g.clone());
            doc
        })
        .unwrap_or(Value::Null)
    }
}

/// A small upstream behind a gateway listening on the three kinds of listener, route `/`.
fn behind_the_gateway() -> (WhoAmI, Listeners, Gateway) {
    let port = free_port();
    let up = WhoAmI::start("127.0.0.1", port, "up");
    let ca = LocalCa::new();
    let l = Listeners::free();
    let services = json!([{
        "name": "up", "url": format!("http://127.0.0.1:{port}"),
        "routes": [{"name": "all", "paths": ["/"]}],
    }]);
    let gw = Gateway::start(&to_yaml(&l.gateway(&ca, services)));
    (up, l, gw)
}

fn path_arg(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn h2_over_tls_and_h2c_reach_an_authenticated_route_and_http1_still_works() {
    let (idp, httpbin) = start_idp_and_httpbin();
    let ca = LocalCa::new();
    let l = Listeners::free();
    let services = json!([{
        "name": "httpbin", "url": format!("{}/anything", httpbin.url()),
        "routes": [{"name": "all", "paths": ["/"]}],
        "plugins": [{"name": "openid-connect", "config": oidc_config(idp.issuer(), &["introspection"], json!({}))}],
    }]);
    let _gw = Gateway::start(&to_yaml(&l.gateway(&ca, services)));
    let token = idp.password_token(JOHN.0, JOHN.1);
    let bearer = format!("Authorization: Bearer {token}");
    let cacert = path_arg(&ca.ca_pem());
    let h2c = format!("http://127.0.0.1:{}/", l.h2c);
    let tls = format!("https://127.0.0.1:{}/", l.tls);
    let plain = format!("http://127.0.0.1:{}/", l.plain);

    assert_eq!(
        curl(&["--http2-prior-knowledge", "-H", &bearer], &h2c),
        ("2".into(), 200)
    );
    assert_eq!(
        curl(&["--http2-prior-knowledge"], &h2c),
        ("2".into(), 401),
        "no token over h2c"
    );
    assert_eq!(
        curl(&["--http1.1", "-H", &bearer], &h2c),
        ("1.1".into(), 200),
        "HTTP/1.1 on the h2c port"
    );
    assert_eq!(
        curl(&["--http2", "--cacert", &cacert, "-H", &bearer], &tls),
        ("2".into(), 200),
        "ALPN h2"
    );
    assert_eq!(
        curl(&["--http2", "--cacert", &cacert], &tls),
        ("2".into(), 401)
    );
    assert_eq!(
        curl(&["--http1.1", "--cacert", &cacert, "-H", &bearer], &tls),
        ("1.1".into(), 200)
    );
    // A listener without the flag: HTTP/1.1 only (curl's --http2 upgrade offer is ignored; prior knowledge fails).
    assert_eq!(
        curl(&["--http2", "-H", &bearer], &plain),
        ("1.1".into(), 200)
    );
    assert_ne!(
        curl(&["--http2-prior-knowledge", "-H", &bearer], &plain).0,
        "2"
    );

    // The upstream saw the bearer token (the request went through the plugin) over h2 as over HTTP/1.1.
    let echo: Value = serde_json::from_str(&curl_body(
        &["--http2-prior-knowledge", "-H", &bearer],
        &h2c,
    ))
    .expect("httpbin's JSON");
    assert_eq!(
        echo["headers"]["Authorization"],
        format!("Bearer {token}"),
        "{echo}"
    );
}

#[test]
fn oversized_headers_and_uris_are_refused_over_http1_and_h2() {
    let (_up, l, _gw) = behind_the_gateway();
    let dir = e2e::TempDir::new("limits");
    let header_file = |name: &str, text: String| {
        let file = dir.path().join(name);
        std::fs::write(&file, text).expect("write");
        format!("@{}", file.display())
    };
    // 60 KB: over the 32 KiB default, under the 64 KiB nghttp2 (curl) lets a client send over h2.
    let big = header_file("big", format!("X-Big: {}\n", "a".repeat(60 * 1024)));
    let huge = header_file("huge", format!("X-Big: {}\n", "a".repeat(200 * 1024)));
    let many = |n: usize| {
        header_file(
            &format!("h{n}"),
            (0..n).map(|i| format!("X-H{i}: v\n")).collect(),
        )
    };
    let (h150, h500) = (many(150), many(500));
    // Over the 8 KiB default; past 64 KiB the http crate cannot hold the target and Pingora answers 400 itself.
    let long_uri = |base: &str| format!("{base}{}", "a".repeat(10 * 1024));
    let h1 = format!("http://127.0.0.1:{}/", l.plain);
    let h2 = format!("http://127.0.0.1:{}/", l.h2c);
    let too_large = r#"{"message":"Request header or cookie too large"}"#;

    assert_eq!(curl(&[], &h1), ("1.1".into(), 200));
    assert_eq!(curl(&["--http2-prior-knowledge"], &h2), ("2".into(), 200));
    for (name, flag, url) in [
        ("HTTP/1.1", "--http1.1", &h1),
        ("h2", "--http2-prior-knowledge", &h2),
    ] {
        assert_eq!(
            curl(&[flag, "-H", &big], url).1,
            431,
            "{name}: a 60 KB header"
        );
        assert_eq!(
            curl(&[flag, "-H", &h150], url).1,
            431,
            "{name}: 150 headers"
        );
        assert_eq!(curl(&[flag], &long_uri(url)).1, 414, "{name}: a 10 KB URI");
        assert_eq!(curl_body(&[flag, "-H", &big], url), too_large, "{name}");
        let body = curl_body(&[flag], &long_uri(url));
        assert_eq!(body, r#"{"message":"URI too long"}"#, "{name}");
    }
    // 200 KB: curl sends it over HTTP/1.1; over h2 it is written frame by frame (HEADERS + CONTINUATION).
    assert_eq!(
        curl(&["--http1.1", "-H", &huge], &h1).1,
        431,
        "HTTP/1.1: a 200 KB header"
    );
    let h2_addr: std::net::SocketAddr = format!("127.0.0.1:{}", l.h2c).parse().expect("addr");
    let status = h2_get_with_header(h2_addr, "x-big", &"a".repeat(200 * 1024));
    assert_eq!(status, Some(431), "h2: a 200 KB header");
    // Over 256 header lines Pingora's HTTP/1 parser answers 400 itself; over h2 the gateway's limit applies.
    assert_eq!(curl(&["--http1.1", "-H", &h500], &h1).1, 400);
    assert_eq!(curl(&["--http2-prior-knowledge", "-H", &h500], &h2).1, 431);
    // Dot segments, plain or percent-encoded, never reach the router (curl --path-as-is sends them as written).
    for (flag, url) in [("--http1.1", &h1), ("--http2-prior-knowledge", &h2)] {
        for path in ["public/../admin", "a/%2e%2e/b"] {
            let (_, status) = curl(&[flag, "--path-as-is"], &format!("{url}{path}"));
            assert_eq!(status, 400, "{flag} /{path}");
        }
        assert_eq!(
            curl(&[flag], &format!("{url}a/v1.2/..x")).1,
            200,
            "{flag}: dots inside a segment"
        );
    }
    let huge_uri = format!("{h1}{}", "a".repeat(100 * 1024));
    assert_eq!(
        curl(&["--http1.1"], &huge_uri).1,
        400,
        "a 100 KB URI over HTTP/1.1"
    );
    // And the gateway still serves.
    assert_eq!(curl(&[], &h1), ("1.1".into(), 200));
}

/// An HTTP/2 frame header: length, type, flags, stream id.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An HPACK string (no Huffman) with its 7-bit-prefix length.
fn hpack_string(out: &mut Vec<u8>, s: &[u8]) {
    hpack_int(out, 0, 7, s.len());
    out.extend_from_slice(s);
}

/// An HPACK integer with an `n`-bit prefix whose high bits are `flags`.
fn hpack_int(out: &mut Vec<u8>, flags: u8, n: u32, mut v: usize) {
    let max = (1usize << n) - 1;
    if v < max {
        out.push(flags | v as u8);
        return;
    }
    out.push(flags | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128 + 128) as u8);
        v /= 128;
    }
    out.push(v as u8);
}

/// `GET /` over h2c with one extra header, its block split into HEADERS and CONTINUATION frames of 16 KiB;
/// the response status (`None`: no response headers before the connection ended).
fn h2_get_with_header(addr: std::net::SocketAddr, name: &str, value: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let authority = addr.to_string();
    let mut block = vec![0x82, 0x86, 0x84, 0x01];
    hpack_string(&mut block, authority.as_bytes());
    block.push(0x00); // literal without indexing, new name
    hpack_string(&mut block, name.as_bytes());
    hpack_string(&mut block, value.as_bytes());
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(4, 0, 0, &[]));
    let chunks: Vec<&[u8]> = block.chunks(16384).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        let (kind, flags) = if i == 0 { (1, 0x1) } else { (9, 0) };
        out.extend(frame(kind, flags | if last { 0x4 } else { 0 }, 1, chunk));
    }
    tcp.write_all(&out).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        while buf.len() >= 9 {
            let len =
                (usize::from(buf[0]) << 16) | (usize::from(buf[1]) << 8) | usize::from(buf[2]);
            if buf.len() < 9 + len {
                break;
            }
            let stream = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
            if buf[3] == 1 && stream == 1 {
                // The response's first field is :status: an indexed 200/204/206/304/400/404/500, or a literal.
                let block = &buf[9..9 + len];
                let indexed = [
                    (0x88, 200),
                    (0x89, 204),
                    (0x8a, 206),
                    (0x8b, 304),
                    (0x8c, 400),
                    (0x8d, 404),
                    (0x8e, 500),
                ];
                if let Some((_, s)) = indexed.iter().find(|(b, _)| block.first() == Some(b)) {
                    return Some(*s);
                }
                // A literal :status (name index 8): 3 plain digits, or Huffman-coded ones.
                let len = usize::from(*block.get(1)? & 0x7f);
                let raw = block.get(2..2 + len)?;
                let text = if block[1] & 0x80 != 0 {
                    huffman_digits(raw)?
                } else {
                    String::from_utf8(raw.to_vec()).ok()?
                };
                return text.parse().ok();
            }
            buf.drain(..9 + len);
        }
        match tcp.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Decode an HPACK Huffman string made of digits only (RFC 7541 appendix B: `0`-`2` are 5-bit codes
/// 00000-00010, `3`-`9` 6-bit codes 011001-011111; the tail is padded with 1s).
fn huffman_digits(bytes: &[u8]) -> Option<String> {
    let bits: Vec<u8> = bytes
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1))
        .collect();
    let mut out = String::new();
    let mut i = 0;
    while i + 5 <= bits.len() {
        let v5 = bits[i..i + 5].iter().fold(0u8, |a, b| a << 1 | b);
        if v5 <= 2 {
            out.push(char::from(b'0' + v5));
            i += 5;
            continue;
        }
        if bits[i..].iter().all(|b| *b == 1) {
            break;
        }
        let v6 = bits.get(i..i + 6)?.iter().fold(0u8, |a, b| a << 1 | b);
        if !(0b011001..=0b011111).contains(&v6) {
            return None;
        }
        out.push(char::from(b'3' + (v6 - 0b011001)));
        i += 6;
    }
    Some(out)
}

/// What the rapid-reset client saw: how many streams it opened and reset, and the GOAWAY error code the
/// server sent (`None`: no GOAWAY, the connection stayed open or just closed).
struct Attack {
    streams: u32,
    goaway: Option<u32>,
}

/// The CVE-2023-44487 pattern, written frame by frame over h2c: HEADERS (GET /, END_STREAM) and at once
/// RST_STREAM (CANCEL) on stream after stream, in batches of 100, for up to `max` streams.
fn rapid_reset(addr: std::net::SocketAddr, max: u32) -> Attack {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(addr).expect("connect");
    tcp.set_nodelay(true).ok();
    let mut reader = tcp.try_clone().expect("clone");
    let goaway = std::sync::Arc::new(std::sync::Mutex::new(None::<u32>));
    let seen = goaway.clone();
    let read = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16384];
        loop {
            match reader.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            while buf.len() >= 9 {
                let len =
                    (usize::from(buf[0]) << 16) | (usize::from(buf[1]) << 8) | usize::from(buf[2]);
                if buf.len() < 9 + len {
                    break;
                }
                if buf[3] == 7 && len >= 8 {
                    let code = u32::from_be_bytes([buf[13], buf[14], buf[15], buf[16]]);
                    *seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(code);
                }
                buf.drain(..9 + len);
            }
        }
    });
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(4, 0, 0, &[]));
    tcp.write_all(&out).expect("preface");
    let authority = addr.to_string();
    // :method GET, :scheme http, :path / (static table), :authority as a literal without indexing.
    let mut block = vec![0x82, 0x86, 0x84, 0x01, authority.len() as u8];
    block.extend_from_slice(authority.as_bytes());
    let mut streams = 0u32;
    let mut id = 1u32;
    while streams < max {
        let mut batch = Vec::new();
        for _ in 0..100 {
            batch.extend(frame(1, 0x5, id, &block));
            batch.extend(frame(3, 0, id, &8u32.to_be_bytes()));
            id += 2;
        }
        if tcp.write_all(&batch).is_err() {
            break;
        }
        streams += 100;
        if goaway.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let _ = tcp.shutdown(std::net::Shutdown::Both);
    let _ = read.join();
    let code = *goaway.lock().unwrap_or_else(|e| e.into_inner());
    Attack {
        streams,
        goaway: code,
    }
}

#[test]
fn a_rapid_reset_client_is_cut_off_and_others_are_served() {
    let (_up, l, gw) = behind_the_gateway();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", l.h2c).parse().expect("addr");
    let other = format!("http://127.0.0.1:{}/", l.plain);
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let served_ok = std::sync::Arc::new(AtomicUsize::new(0));
    let (stop2, ok2) = (stop.clone(), served_ok.clone());
    let served = std::thread::spawn(move || {
        let client = e2e::http::client();
        let mut failed = 0;
        while !stop2.load(Ordering::SeqCst) {
            match client.get(&other).send() {
                Ok(r) if r.status() == 200 => {
                    ok2.fetch_add(1, Ordering::SeqCst);
                }
                _ => failed += 1,
            }
        }
        failed
    });
    // The other client is served before, during and after the attack.
    let wait_for = |n: usize| {
        let end = std::time::Instant::now() + Duration::from_secs(20);
        while served_ok.load(Ordering::SeqCst) < n && std::time::Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait_for(3);
    let before = served_ok.load(Ordering::SeqCst);
    let attack = rapid_reset(addr, 200_000);
    eprintln!(
        "rapid reset: cut off after {} streams, GOAWAY {:?}",
        attack.streams, attack.goaway
    );
    wait_for(served_ok.load(Ordering::SeqCst) + 3);
    stop.store(true, Ordering::SeqCst);
    let failed = served.join().expect("client thread");
    let ok = served_ok.load(Ordering::SeqCst);
    // h2's max_pending_accept_reset_streams: the connection is closed with ENHANCE_YOUR_CALM (0xb).
    assert_eq!(
        attack.goaway,
        Some(0xb),
        "GOAWAY after {} opened-and-reset streams",
        attack.streams
    );
    assert!(
        attack.streams < 200_000,
        "cut off after {} streams",
        attack.streams
    );
    assert!(
        ok >= before + 3 && before >= 3 && failed == 0,
        "the other client: {ok} ok ({before} before the attack), {failed} failed"
    );
    // The gateway is still up and serves h2 to a well-behaved client.
    assert_eq!(
        curl(&["--http2-prior-knowledge"], &format!("http://{addr}/")),
        ("2".into(), 200)
    );
    drop(gw);
}

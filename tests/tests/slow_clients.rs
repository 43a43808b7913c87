//! Slow and abusive clients end to end, through the real gateway binary to the real httpbin, with short
//! deadlines (2 s): a client trickling its header lines is answered 408 and cut at `client_header_timeout`
//! while a normal client is served; a body trickled past `client_body_total_timeout` or stalled past
//! `client_body_timeout` is answered 408; a client that does not read a large answer is cut after
//! `send_timeout`; the `keepalive_requests`-th answer on a connection carries `Connection: close` (HTTP/1.1)
//! and the next stream gets GOAWAY (HTTP/2); an HTTP/2 client that opens and cancels forwarded streams in a
//! loop gets GOAWAY. Each cut is counted in `gateway_client_timeouts_total`.

use e2e::h2_frames::{frame, get_headers};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use e2e::{Gateway, Httpbin, Ports};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Servers {
    /// Deadlines of 2 s (body per read 1 s, body total 3 s), `keepalive_requests: 3`, an h2c listener.
    short: Gateway,
    short_h2c: SocketAddr,
    /// Defaults, an h2c listener: the reset budget.
    plain_h2c: SocketAddr,
    plain: Gateway,
    _httpbin: Httpbin,
}

fn start() -> Servers {
    let httpbin = Httpbin::start();
    let with_h2c = |v: &mut serde_json::Value| {
        let addr: SocketAddr = ([127, 0, 0, 1], e2e::free_port()).into();
        let plain = v["gateway"]["proxy_listen"]
            .as_str()
            .expect("slow_clients")
            .to_owned();
        v["gateway"]["proxy_listen"] = json!(format!("{plain}, {addr} http2"));
        v["services"]
            .as_array_mut()
            .expect("slow_clients")
            .push(json!({"name": "root", "url": httpbin.url(),
                     "routes": [{"name": "raw", "paths": ["/raw"]}]}));
        addr
    };
    let mut short = e2e::config_value(Ports::free(), &httpbin.url(), None);
    let short_h2c = with_h2c(&mut short);
    for (k, v) in [
        ("client_header_timeout", json!("2s")),
        ("client_body_timeout", json!(1)),
        ("client_body_total_timeout", json!("3s")),
        ("send_timeout", json!("2s")),
        ("keepalive_requests", json!(3)),
        ("keepalive_timeout", json!("2s")),
    ] {
        short["gateway"][k] = v;
    }
    let short = Gateway::start(&e2e::to_yaml(&short));
    let mut plain = e2e::config_value(Ports::free(), &httpbin.url(), None);
    let plain_h2c = with_h2c(&mut plain);
    let plain = Gateway::start(&e2e::to_yaml(&plain));
    for (addr, gw) in [(short_h2c, &short), (plain_h2c, &plain)] {
        let up = e2e::process::wait_for_port(addr, Duration::from_secs(10), || true);
        assert!(up, "{addr} is not up:\n{}", gw.log());
    }
    Servers {
        short,
        short_h2c,
        plain_h2c,
        plain,
        _httpbin: httpbin,
    }
}

fn timeouts(gw: &Gateway, kind: &str) -> f64 {
    e2e::metrics::scrape_sum(
        &gw.admin_url(),
        "gateway_client_timeouts_total",
        &[("kind", kind)],
    )
}

/// Reads until the peer closes (or `limit` passes): the bytes and when the close came.
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, Instant) {
    let mut out = Vec::new();
    let mut buf = [0u8; 16384];
    let end = Instant::now() + limit;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return (out, Instant::now()),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn slow_and_abusive_clients() {
    let servers = start();
    let rt = e2e::test_runtime();
    rt.block_on(trickled_headers_are_cut_at_the_deadline(&servers));
    rt.block_on(slow_bodies_are_answered_408(&servers));
    rt.block_on(a_client_that_does_not_read_is_cut(&servers));
    rt.block_on(keepalive_requests_closes_the_connection(&servers));
    rt.block_on(h2_streams_past_keepalive_requests_get_goaway(&servers));
    rt.block_on(h2_cancelled_forwarded_streams_get_goaway(&servers));
}

async fn trickled_headers_are_cut_at_the_deadline(s: &Servers) {
    let addr = s.short.proxy_addr();
    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..3 {
        let mut c = TcpStream::connect(addr).await.expect("slow_clients");
        c.write_all(b"GET /get HTTP/1.1\r\nHost: slow\r\n")
            .await
            .expect("slow_clients");
        slow.push(c);
    }
    let trickle = tokio::spawn(async move {
        let mut out = Vec::new();
        let mut conns = slow;
        // One header line every 700 ms: every read is well within any per-read timeout.
        let mut tasks = Vec::new();
        for mut c in conns.drain(..) {
            tasks.push(tokio::spawn(async move {
                let mut line = 0;
                let mut got = Vec::new();
                while line < 20 {
                    if c.write_all(format!("X-Slow-{line}: 1\r\n").as_bytes())
                        .await
                        .is_err()
                    {
                        break;
                    }
                    line += 1;
                    let mut buf = [0u8; 1024];
                    match tokio::time::timeout(Duration::from_millis(700), c.read(&mut buf)).await {
                        Ok(Ok(0)) | Ok(Err(_)) => break,
                        Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                        Err(_) => {}
                    }
                }
                (got, Instant::now())
            }));
        }
        for t in tasks {
            out.push(t.await.expect("slow_clients"));
        }
        out
    });
    // A normal client is served meanwhile.
    let url = format!("{}/get", s.short.proxy_url());
    let ok = tokio::task::spawn_blocking(move || {
        reqwest::blocking::get(url).map(|r| r.status().as_u16())
    })
    .await
    .expect("slow_clients");
    assert_eq!(ok.expect("slow_clients"), 200);
    for (got, closed) in trickle.await.expect("slow_clients") {
        let took = closed - started;
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(text.contains(r#"{"message":"Request timeout"}"#), "{text}");
        assert!(
            took >= Duration::from_millis(1900) && took < Duration::from_millis(4000),
            "cut after {took:?}"
        );
        eprintln!("trickling client cut after {took:?}");
    }
    assert!(timeouts(&s.short, "header") >= 3.0);
}

async fn slow_bodies_are_answered_408(s: &Servers) {
    let addr = s.short.proxy_addr();
    // Trickled: a byte every 700 ms (within the 1 s per-read timeout), cut at the 3 s total.
    let mut c = TcpStream::connect(addr).await.expect("slow_clients");
    let head = b"POST /post HTTP/1.1\r\nHost: slow\r\nContent-Length: 100\r\n\r\n";
    c.write_all(head).await.expect("slow_clients");
    let started = Instant::now();
    let mut answer = Vec::new();
    for _ in 0..20 {
        if c.write_all(b"x").await.is_err() {
            break;
        }
        let mut buf = [0u8; 1024];
        match tokio::time::timeout(Duration::from_millis(700), c.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    eprintln!("trickled body cut after {took:?}");
    // Stalled: nothing after the first bytes, cut at the 1 s per-read timeout.
    let mut c = TcpStream::connect(addr).await.expect("slow_clients");
    c.write_all(head).await.expect("slow_clients");
    c.write_all(b"xx").await.expect("slow_clients");
    let started = Instant::now();
    let (answer, closed) = read_until_closed(&mut c, Duration::from_secs(10)).await;
    let took = closed - started;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    eprintln!("stalled body cut after {took:?}");
    assert!(timeouts(&s.short, "body") >= 2.0);
}

async fn a_client_that_does_not_read_is_cut(s: &Servers) {
    let addr = s.short.proxy_addr();
    let socket = tokio::net::TcpSocket::new_v4().expect("slow_clients");
    socket.set_recv_buffer_size(4096).expect("slow_clients");
    let mut c = socket.connect(addr).await.expect("slow_clients");
    // httpbin echoes an 8 MiB body: an answer larger than any socket buffer.
    let size = 8 << 20;
    let head = format!("POST /post HTTP/1.1\r\nHost: slow\r\nContent-Length: {size}\r\n\r\n");
    c.write_all(head.as_bytes()).await.expect("slow_clients");
    c.write_all(&vec![b'a'; size]).await.expect("slow_clients");
    let before = timeouts(&s.short, "send");
    let started = Instant::now();
    let mut cut = false;
    while started.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if timeouts(&s.short, "send") > before {
            cut = true;
            break;
        }
    }
    assert!(cut, "no send timeout counted:\n{}", s.short.log());
    let (answer, _) = read_until_closed(&mut c, Duration::from_secs(5)).await;
    assert!(
        answer.len() < size,
        "the answer was cut: {} bytes",
        answer.len()
    );
    eprintln!(
        "non-reading client: send timeout counted after {:?} (upload, answer, 2 s stall), {} bytes delivered",
        started.elapsed(),
        answer.len()
    );
}

/// One request on `c`: the answer's `Connection` header value.
async fn get_on(c: &mut TcpStream) -> String {
    c.write_all(b"GET /get HTTP/1.1\r\nHost: ka\r\n\r\n")
        .await
        .expect("slow_clients");
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = c.read(&mut buf).await.expect("slow_clients");
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse().ok())
                .expect("content-length");
            if got.len() >= end + 4 + len {
                return text
                    .lines()
                    .find_map(|l| l.strip_prefix("connection: "))
                    .unwrap_or("")
                    .trim()
                    .to_owned();
            }
        }
    }
}

async fn keepalive_requests_closes_the_connection(s: &Servers) {
    let mut c = TcpStream::connect(s.short.proxy_addr())
        .await
        .expect("slow_clients");
    assert_eq!(get_on(&mut c).await, "keep-alive");
    assert_eq!(get_on(&mut c).await, "keep-alive");
    assert_eq!(get_on(&mut c).await, "close", "the 3rd answer closes");
    let (rest, _) = read_until_closed(&mut c, Duration::from_secs(5)).await;
    assert!(rest.is_empty());
    // An idle kept-alive connection is closed after keepalive_timeout (Pingora alone waits forever).
    let mut c = TcpStream::connect(s.short.proxy_addr())
        .await
        .expect("slow_clients");
    assert_eq!(get_on(&mut c).await, "keep-alive");
    let idle = Instant::now();
    let (rest, closed) = read_until_closed(&mut c, Duration::from_secs(10)).await;
    let took = closed - idle;
    assert!(rest.is_empty());
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    eprintln!("idle kept-alive connection closed after {took:?}");
}

/// Reads frames until GOAWAY or `limit`: the GOAWAY's error code, if one came.
async fn goaway(r: &mut tokio::net::tcp::OwnedReadHalf, limit: Duration) -> Option<u32> {
    let end = Instant::now() + limit;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        while buf.len() >= 9 {
            let len =
                (usize::from(buf[0]) << 16) | (usize::from(buf[1]) << 8) | usize::from(buf[2]);
            if buf.len() < 9 + len {
                break;
            }
            if buf[3] == 0x7 && len >= 8 {
                return Some(u32::from_be_bytes([buf[13], buf[14], buf[15], buf[16]]));
            }
            buf.drain(..9 + len);
        }
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, r.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return None,
        }
    }
}

async fn h2_connect(
    addr: SocketAddr,
) -> (
    tokio::net::tcp::OwnedReadHalf,
    tokio::net::tcp::OwnedWriteHalf,
) {
    let c = TcpStream::connect(addr).await.expect("slow_clients");
    let (r, mut w) = c.into_split();
    w.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .expect("slow_clients");
    w.write_all(&frame(0x4, 0, 0, &[]))
        .await
        .expect("slow_clients");
    (r, w)
}

async fn h2_streams_past_keepalive_requests_get_goaway(s: &Servers) {
    let (mut r, mut w) = h2_connect(s.short_h2c).await;
    for i in 0..4u32 {
        w.write_all(&get_headers(2 * i + 1, "/get"))
            .await
            .expect("slow_clients");
    }
    let code = goaway(&mut r, Duration::from_secs(5)).await;
    assert_eq!(
        code,
        Some(0),
        "GOAWAY (NO_ERROR) after keepalive_requests streams"
    );
}

async fn h2_cancelled_forwarded_streams_get_goaway(s: &Servers) {
    let (mut r, mut w) = h2_connect(s.plain_h2c).await;
    let reader = tokio::spawn(async move { goaway(&mut r, Duration::from_secs(20)).await });
    let mut sent = 0u32;
    for i in 0..400u32 {
        let id = 2 * i + 1;
        // A slow upstream answer, cancelled once the gateway has had time to forward it.
        if w.write_all(&get_headers(id, "/raw/delay/2")).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        if w.write_all(&frame(0x3, 0, id, &8u32.to_be_bytes()))
            .await
            .is_err()
        {
            break;
        }
        sent += 1;
        if reader.is_finished() {
            break;
        }
    }
    let code = reader.await.expect("slow_clients");
    assert_eq!(code, Some(0), "GOAWAY after {sent} cancelled streams");
    assert!(
        sent > 100 && sent < 400,
        "GOAWAY came after {sent} cancelled streams"
    );
    let goaways = e2e::metrics::scrape_sum(
        &s.plain.admin_url(),
        "gateway_http2_goaway_total",
        &[("reason", "resets")],
    );
    assert_eq!(goaways, 1.0);
    eprintln!("h2 client cancelling forwarded streams: GOAWAY after {sent} streams");
}

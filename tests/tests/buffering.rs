//! Request and response buffering end to end, through the real gateway binary to a real HTTP/1.1 upstream
//! (`tests/peers/bulk_upstream.py`, which counts the connections it accepts and the body bytes it has read):
//! 500 slow readers of a 4 MiB answer (closing, then kept alive) cost little memory each and few upstream
//! connections; 500 slow POSTs open no upstream connection until their body is whole; a body larger than
//! Pingora's retry buffer arrives intact; `client_max_body_size` answers 413; `request_buffering: false`
//! streams (the upstream reads the first bytes before the client has sent the rest); normal requests are
//! served throughout; a cancelled request's upstream connection is reused when the rest of the answer is
//! small (`cancel`).

use std::net::SocketAddr;
use std::time::Duration;

use e2e::peers::PeerServer;
use e2e::{Gateway, Ports};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

#[path = "buffering/cancel.rs"]
mod cancel;

const BIG: usize = 4 * 1024 * 1024;
const CLIENTS: usize = 500;

struct Servers {
    gw: Gateway,
    /// The gateway's h2c listener.
    h2c: SocketAddr,
    upstream: PeerServer,
    _temp: e2e::process::TempDir,
}

fn start() -> Servers {
    let upstream = PeerServer::start("bulk_upstream.py", &[]);
    let temp = e2e::process::TempDir::new("buffering-temp");
    let ports = Ports::free();
    let url = format!("http://127.0.0.1:{}", upstream.port());
    let h2c: SocketAddr = ([127, 0, 0, 1], e2e::free_port()).into();
    let doc = json!({
        "_format_version": "3.0",
        "gateway": {
            "proxy_listen": format!("127.0.0.1:{}, {h2c} http2", ports.proxy),
            "admin_listen": format!("127.0.0.1:{}", ports.admin),
            "worker_threads": 1,
            "client_max_body_size": "1m",
            "temp_path": temp.path().display().to_string(),
            "send_timeout": "120s",
            "client_body_timeout": "120s",
        },
        "services": [{
            "name": "bulk", "url": url,
            "routes": [
                {"name": "buffered", "paths": ["/"], "strip_path": false},
                {"name": "streamed", "paths": ["/streamed"], "strip_path": true,
                 "request_buffering": false, "response_buffering": false},
            ],
        }],
    });
    let gw = Gateway::start(&e2e::to_yaml(&doc));
    let up = e2e::process::wait_for_port(h2c, Duration::from_secs(10), || true);
    assert!(up, "{h2c} is not up:\n{}", gw.log());
    Servers {
        gw,
        h2c,
        upstream,
        _temp: temp,
    }
}

/// The upstream's own counters: connections accepted, POST body bytes read.
async fn stats(s: &Servers) -> (u64, u64) {
    let addr: SocketAddr = ([127, 0, 0, 1], s.upstream.port()).into();
    let (status, body) = request(
        addr,
        "GET /stats HTTP/1.1\r\nHost: u\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).expect("stats JSON");
    (
        v["connections"].as_u64().expect("connections"),
        v["received"].as_u64().expect("received"),
    )
}

/// One request on a fresh connection: status and body (the connection is closed by `Connection: close`).
async fn request(addr: SocketAddr, head: &str) -> (u16, Vec<u8>) {
    request_with_body(addr, head, b"").await
}

async fn request_with_body(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut c = TcpStream::connect(addr).await.expect("connect");
    c.write_all(head.as_bytes()).await.expect("write head");
    c.write_all(body).await.expect("write body");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), c.read_to_end(&mut out))
        .await
        .expect("an answer within 30 s")
        .expect("read");
    let text = String::from_utf8_lossy(&out);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(out.len(), |i| i + 4);
    (status, out[split..].to_vec())
}

/// A normal client is served while the slow ones are there.
async fn normal_request_is_served(s: &Servers) {
    let (status, body) = request(
        s.gw.proxy_addr(),
        "GET /stats HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn request_and_response_buffering() {
    let s = start();
    let rt = e2e::test_runtime();
    // First: they count the upstream connections of a pool that holds one connection at most.
    rt.block_on(cancel::h1_cancel_reuses_small_rest_closes_large(&s));
    rt.block_on(cancel::h2_reset_reuses_small_rest_closes_large(&s, s.h2c));
    rt.block_on(a_large_buffered_body_arrives_whole(&s));
    rt.block_on(client_max_body_size_is_413(&s));
    rt.block_on(request_buffering_false_streams(&s));
    rt.block_on(slow_posts_hold_no_upstream_connection(&s));
    rt.block_on(slow_readers_cost_little_and_free_the_upstream(&s));
}

fn body_of(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn a_large_buffered_body_arrives_whole(s: &Servers) {
    // 900 KiB: past Pingora's 64 KiB retry buffer and client_body_buffer_size (8k), so from the temp file.
    let body = body_of(900 * 1024);
    let head = format!(
        "POST /post HTTP/1.1\r\nHost: gw\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let (status, answer) = request_with_body(s.gw.proxy_addr(), &head, &body).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let v: Value = serde_json::from_slice(&answer).expect("upstream JSON");
    assert_eq!(v["length"], body.len());
    assert_eq!(v["sha256"], hex(&openssl::sha::sha256(&body)));
    // Chunked, too.
    let head = "POST /post HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let mut chunked = Vec::new();
    for piece in body.chunks(100_000) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (status, answer) = request_with_body(s.gw.proxy_addr(), head, &chunked).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let v: Value = serde_json::from_slice(&answer).expect("upstream JSON");
    assert_eq!(v["sha256"], hex(&openssl::sha::sha256(&body)));
}

async fn client_max_body_size_is_413(s: &Servers) {
    let head =
        "POST /post HTTP/1.1\r\nHost: gw\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n";
    let (status, answer) = request(s.gw.proxy_addr(), head).await;
    assert_eq!(status, 413);
    assert_eq!(answer, br#"{"message":"Payload too large"}"#);
    // Chunked past the bound: found while buffering.
    let (before, _) = stats(s).await;
    let head = "POST /post HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut chunked = Vec::new();
    for _ in 0..11 {
        chunked.extend_from_slice(format!("{:x}\r\n", 100_000).as_bytes());
        chunked.extend_from_slice(&[b'x'; 100_000]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (status, _) = request_with_body(s.gw.proxy_addr(), head, &chunked).await;
    assert_eq!(status, 413);
    // One connection: this call's own.
    assert_eq!(
        stats(s).await.0,
        before + 1,
        "no upstream connection for a refused body"
    );
}

/// Sends the head and half of a 20,000-byte body, and returns the connection.
async fn half_a_post(addr: SocketAddr, path: &str) -> TcpStream {
    let mut c = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: gw\r\nContent-Length: 20000\r\nConnection: close\r\n\r\n"
    );
    c.write_all(head.as_bytes()).await.expect("head");
    c.write_all(&[b'a'; 10_000]).await.expect("half");
    c
}

async fn finish_post(mut c: TcpStream) -> u16 {
    c.write_all(&[b'b'; 10_000]).await.expect("rest");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), c.read_to_end(&mut out))
        .await
        .expect("answer")
        .expect("read");
    String::from_utf8_lossy(&out)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

async fn request_buffering_false_streams(s: &Servers) {
    let (_, before) = stats(s).await;
    let c = half_a_post(s.gw.proxy_addr(), "/streamed/post").await;
    let mut seen = 0;
    for _ in 0..100 {
        seen = stats(s).await.1 - before;
        // The upstream reads 1 KiB pieces: 9 of them are whole.
        if seen >= 9 * 1024 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        seen >= 9 * 1024,
        "the upstream read {seen} bytes of the first half before the client sent the rest"
    );
    assert_eq!(finish_post(c).await, 200);

    // The buffered route, same client: the upstream sees nothing until the body is whole.
    let (_, before) = stats(s).await;
    let c = half_a_post(s.gw.proxy_addr(), "/post").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        stats(s).await.1 - before,
        0,
        "buffered: nothing forwarded yet"
    );
    assert_eq!(finish_post(c).await, 200);
    assert_eq!(stats(s).await.1 - before, 20_000);
}

async fn slow_posts_hold_no_upstream_connection(s: &Servers) {
    let (conns_before, _) = stats(s).await;
    let mut slow = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        slow.push(half_a_post(s.gw.proxy_addr(), "/post").await);
    }
    normal_request_is_served(s).await;
    let (conns, _) = stats(s).await;
    assert!(
        conns - conns_before <= 5,
        "{CLIENTS} half-sent POSTs opened {} upstream connections",
        conns - conns_before
    );
    for c in slow.drain(..) {
        assert_eq!(finish_post(c).await, 200);
    }
    let (conns, _) = stats(s).await;
    assert!(
        conns - conns_before <= 10,
        "{CLIENTS} POSTs, finished one after the other, opened {} upstream connections",
        conns - conns_before
    );
}

/// `CLIENTS` slow readers of a `BIG` answer: each sends its request, reads the first bytes, then nothing.
async fn open_slow_readers(s: &Servers, keep_alive: bool) -> Vec<(TcpStream, Vec<u8>)> {
    let connection = if keep_alive {
        ""
    } else {
        "Connection: close\r\n"
    };
    let head = format!("GET /big/{BIG} HTTP/1.1\r\nHost: gw\r\n{connection}\r\n");
    let mut readers = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let mut c = socket.connect(s.gw.proxy_addr()).await.expect("connect");
        c.write_all(head.as_bytes()).await.expect("request");
        let mut first = vec![0u8; 512];
        let n = c.read(&mut first).await.expect("first bytes");
        first.truncate(n);
        assert!(
            first.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&first)
        );
        readers.push((c, first));
    }
    readers
}

/// Reads the rest of a slow reader's answer: the body's length (to its end, or to `BIG` bytes when the
/// connection is kept alive).
async fn finish_reading(mut c: TcpStream, mut got: Vec<u8>, keep_alive: bool) -> usize {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let head = got.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
        if keep_alive && head.is_some_and(|h| got.len() - h >= BIG) {
            break;
        }
        match c.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let head = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |i| i + 4);
    got.len() - head
}

async fn slow_readers_cost_little_and_free_the_upstream(s: &Servers) {
    let pid = s.gw.pid();
    // Warm the process up (threads, pools, allocator arenas) with a few full reads first.
    for _ in 0..3 {
        let head = format!("GET /big/{BIG} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n");
        let (status, body) = request(s.gw.proxy_addr(), &head).await;
        assert_eq!((status, body.len()), (200, BIG));
    }
    let rss_before = rss_kib(pid);
    let (conns_before, _) = stats(s).await;
    let closing = open_slow_readers(s, false).await;
    normal_request_is_served(s).await;
    let (conns, _) = stats(s).await;
    let rss_closing = rss_kib(pid);
    // The kept-alive readers come while the first ones are still there (their growth is their own, not
    // memory the first ones freed).
    let kept = open_slow_readers(s, true).await;
    normal_request_is_served(s).await;
    let (conns_kept, _) = stats(s).await;
    let rss_kept = rss_kib(pid);
    let per_conn = rss_closing.saturating_sub(rss_before) / CLIENTS as u64;
    let per_kept = rss_kept.saturating_sub(rss_closing) / CLIENTS as u64;
    eprintln!(
        "slow readers: RSS {rss_before} KiB -> {rss_closing} KiB ({per_conn} KiB per connection), \
         upstream connections opened: {}; kept alive: -> {rss_kept} KiB ({per_kept} KiB per connection), \
         upstream connections opened: {}",
        conns - conns_before,
        conns_kept - conns
    );
    // Regression bounds with a margin, under the issue's 100 KiB (docs/security.md). `Connection: close`:
    // measured 38-51 KiB with jemalloc (the default allocator): the 32 KiB response buffer, the 16 KiB read
    // buffer under each plain connection, the drain task; it was 380 KiB while Pingora's session (its up to
    // 256 KiB write buffer) lived until the client had read everything, and 4 MiB per reader would be an
    // answer held whole. Kept alive: measured 60-73 KiB, the connection's Pingora task waits for the next
    // request while the buffer drains.
    assert!(per_conn < 80, "RSS grew {per_conn} KiB per slow reader");
    assert!(
        per_kept < 100,
        "RSS grew {per_kept} KiB per kept-alive slow reader"
    );
    assert!(
        conns - conns_before <= 10,
        "{CLIENTS} slow readers held {} upstream connections",
        conns - conns_before
    );
    // Each reader's request comes as soon as the previous answer's head arrived, while that answer's 4 MiB
    // may still be on its way from the upstream: how many transfers overlap depends on the machine's load
    // (3-6 alone, 40 beside the 500 readers above on a busy machine; nginx used 206 for 1,000). The bound
    // catches a regression to one upstream connection per slow reader.
    assert!(
        conns_kept - conns < CLIENTS as u64 / 5,
        "{CLIENTS} kept-alive slow readers held {} upstream connections",
        conns_kept - conns
    );
    // Every reader still gets its whole answer.
    let mut tasks = Vec::new();
    for (keep_alive, readers) in [(false, closing), (true, kept)] {
        for (c, first) in readers {
            tasks.push(tokio::spawn(finish_reading(c, first, keep_alive)));
        }
    }
    for t in tasks {
        let got = tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("every answer within 60 s")
            .expect("reader");
        assert_eq!(got, BIG, "a slow reader's body");
    }
}

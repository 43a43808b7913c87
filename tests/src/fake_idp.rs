//! The shared core of the fault-injecting fake IdPs. A fake IdP is allowed for fault injection only: the
//! main path of every test always uses the real Glewlwyd ([`crate::Idp`]).
//!
//! A [`FakeServer`] is a tiny std HTTP/1.1 server on a free loopback port: it reads each request (head and
//! `Content-Length` body), records it, and hands it to the test's handler, which writes a deliberately broken
//! answer with [`respond`] or [`head`], or none at all ([`hang`]). The tests choose the fault by the first
//! path segment ([`first_segment`]).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Request target.
    pub path: String,
    /// Body text.
    pub body: String,
}

/// The running server; stops accepting (and tells [`hang`]ing handlers to return) on drop.
#[derive(Debug)]
pub struct FakeServer {
    port: u16,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeServer {
    /// Listen on a free loopback port and serve every connection from its own thread: one request is read
    /// and recorded, then `handler(connection, request, stop)` answers it (`stop` is set on drop).
    pub fn start<H>(handler: H) -> FakeServer
    where
        H: Fn(TcpStream, Seen, &AtomicBool) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake IdP");
        let port = listener.local_addr().expect("local_addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler = Arc::new(handler);
        let (stop2, seen2) = (stop.clone(), seen.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                let (stop3, seen3, handler) = (stop2.clone(), seen2.clone(), handler.clone());
                std::thread::spawn(move || {
                    let Some(req) = read_request(&mut conn) else {
                        return;
                    };
                    seen3
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(req.clone());
                    handler(conn, req, &stop3);
                });
            }
        });
        FakeServer { port, stop, seen }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Requests received so far whose path starts with `/<segment>/`.
    pub fn requests(&self, segment: &str) -> Vec<Seen> {
        let prefix = format!("/{segment}/");
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|s| s.path.starts_with(&prefix))
            .cloned()
            .collect()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wake the accept loop
    }
}

/// The first segment of a request path (`""` for `/`).
pub fn first_segment(path: &str) -> &str {
    path.trim_start_matches('/').split('/').next().unwrap_or("")
}

/// Read one request (head and Content-Length body); `None` if the peer went away first.
fn read_request(conn: &mut TcpStream) -> Option<Seen> {
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
    Some(Seen { path, body })
}

/// A response head with `Content-Length: length`, `Connection: close` and `headers`, ending in the blank line.
pub fn head(status: u16, headers: &[(&str, &str)], length: usize) -> String {
    let reason = match status {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    };
    let mut out =
        format!("HTTP/1.1 {status} {reason}\r\nContent-Length: {length}\r\nConnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out
}

/// Write a whole response ([`head`] and `body`); write errors are ignored (the peer may have gone).
pub fn respond(conn: &mut TcpStream, status: u16, headers: &[(&str, &str)], body: &str) {
    let mut out = head(status, headers, body.len());
    out.push_str(body);
    let _ = conn.write_all(out.as_bytes());
    let _ = conn.flush();
}

/// Answer nothing: return after `at_most`, or as soon as `stop` is set (the server was dropped).
pub fn hang(stop: &AtomicBool, at_most: Duration) {
    let until = Instant::now() + at_most;
    while Instant::now() < until && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

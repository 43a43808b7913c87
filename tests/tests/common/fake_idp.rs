//! A deliberately broken IdP for fault injection only (the main path always uses the real Glewlwyd):
//! a tiny std HTTP/1.1 server whose answer depends on the first path segment (see [`Fault`]).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Text planted in every faulty answer: it must never reach a client.
pub const IDP_DETAIL: &str = "IDP-INTERNAL-DETAIL";

/// How the fake answers requests under `/<fault.segment()>/…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Read the request, then answer nothing for 60 s (or until the fake is dropped).
    Hang,
    /// 500 with a body and a header holding [`IDP_DETAIL`].
    ServerError,
    /// 401 with an RFC 6750-style challenge and JSON error holding [`IDP_DETAIL`].
    Unauthorized,
    /// 200 `application/json` that is not JSON.
    InvalidJson,
    /// 200 with a JSON array (valid JSON, not an object).
    NonObject,
    /// 200 with an empty body.
    Empty,
    /// Read the request, then close the connection without a byte.
    Close,
    /// 200 `{"active":false, ...}` with extra text (an ordinary inactive answer).
    Inactive,
    /// Discovery document without `introspection_endpoint`.
    DiscoveryWithoutEndpoint,
    /// Discovery answers 200 with a body that is not JSON.
    DiscoveryInvalidJson,
}

impl Fault {
    /// The path segment that selects this fault.
    pub fn segment(self) -> &'static str {
        match self {
            Fault::Hang => "hang",
            Fault::ServerError => "error500",
            Fault::Unauthorized => "error401",
            Fault::InvalidJson => "invalid-json",
            Fault::NonObject => "non-object",
            Fault::Empty => "empty",
            Fault::Close => "close",
            Fault::Inactive => "inactive",
            Fault::DiscoveryWithoutEndpoint => "no-endpoint",
            Fault::DiscoveryInvalidJson => "bad-discovery",
        }
    }

    fn from_segment(s: &str) -> Option<Fault> {
        [
            Fault::Hang,
            Fault::ServerError,
            Fault::Unauthorized,
            Fault::InvalidJson,
            Fault::NonObject,
            Fault::Empty,
            Fault::Close,
            Fault::Inactive,
            Fault::DiscoveryWithoutEndpoint,
            Fault::DiscoveryInvalidJson,
        ]
        .into_iter()
        .find(|f| f.segment() == s)
    }
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Request target.
    pub path: String,
    /// Body text.
    pub body: String,
}

/// The running fake; stops accepting (and releases hung connections) on drop.
pub struct FakeIdp {
    port: u16,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeIdp {
    /// Listen on a free loopback port and serve from a background thread.
    pub fn start() -> FakeIdp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake IdP");
        let port = listener.local_addr().expect("local_addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop2, seen2) = (stop.clone(), seen.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (stop3, seen3) = (stop2.clone(), seen2.clone());
                std::thread::spawn(move || serve(conn, &stop3, &seen3));
            }
        });
        FakeIdp { port, stop, seen }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The issuer whose requests get `fault`: `<base>/<segment>/oidc`.
    pub fn issuer(&self, fault: Fault) -> String {
        format!("{}/{}/oidc", self.base(), fault.segment())
    }

    /// The introspection endpoint under that issuer.
    pub fn introspection_endpoint(&self, fault: Fault) -> String {
        format!("{}/introspect", self.issuer(fault))
    }

    /// Requests received so far whose path starts with `/<segment>/`.
    pub fn requests(&self, fault: Fault) -> Vec<Seen> {
        let prefix = format!("/{}/", fault.segment());
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|s| s.path.starts_with(&prefix))
            .cloned()
            .collect()
    }
}

impl Drop for FakeIdp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wake the accept loop
    }
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

fn respond(conn: &mut TcpStream, status: u16, extra_headers: &[(&str, &str)], body: &str) {
    let reason = match status {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Internal Server Error",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in extra_headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    let _ = conn.write_all(out.as_bytes());
    let _ = conn.flush();
}

fn serve(mut conn: TcpStream, stop: &AtomicBool, seen: &Mutex<Vec<Seen>>) {
    let Some(req) = read_request(&mut conn) else {
        return;
    };
    seen.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(req.clone());
    let segment = req
        .path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    let Some(fault) = Fault::from_segment(segment) else {
        respond(&mut conn, 404, &[], "");
        return;
    };
    let json = [("Content-Type", "application/json")];
    let detail = format!("{IDP_DETAIL}: db password=hunter2 at /srv/idp/secret.c:42");
    // Discovery works (pointing back at the same fault) except for the faults that break every request.
    let breaks_everything = matches!(
        fault,
        Fault::Hang | Fault::Close | Fault::ServerError | Fault::DiscoveryInvalidJson
    );
    if req.path.contains("/.well-known/openid-configuration") && !breaks_everything {
        let issuer = format!(
            "http://{}/{segment}/oidc",
            conn.local_addr().map(|a| a.to_string()).unwrap_or_default()
        );
        let mut doc = serde_json::json!({
            "issuer": issuer,
            "introspection_endpoint": format!("{issuer}/introspect"),
            "token_endpoint": format!("{issuer}/token"),
        });
        if fault == Fault::DiscoveryWithoutEndpoint {
            doc.as_object_mut()
                .map(|o| o.remove("introspection_endpoint"));
        }
        return respond(&mut conn, 200, &json, &doc.to_string());
    }
    match fault {
        Fault::Hang => {
            let until = Instant::now() + Duration::from_secs(60);
            while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Fault::Close => {
            let _ = conn.shutdown(Shutdown::Both);
        }
        Fault::ServerError => respond(
            &mut conn,
            500,
            &[("X-Idp-Debug", IDP_DETAIL), ("Content-Type", "text/plain")],
            &detail,
        ),
        Fault::Unauthorized => respond(
            &mut conn,
            401,
            &[
                (
                    "WWW-Authenticate",
                    &format!("Basic realm=\"{IDP_DETAIL}\", error=\"invalid_client\""),
                ),
                ("Content-Type", "application/json"),
            ],
            &serde_json::json!({ "error": "invalid_client", "error_description": detail })
                .to_string(),
        ),
        Fault::InvalidJson | Fault::DiscoveryInvalidJson => respond(
            &mut conn,
            200,
            &json,
            &format!("{{\"active\": true, \"username\": \"{IDP_DETAIL}"),
        ),
        Fault::NonObject => respond(
            &mut conn,
            200,
            &json,
            &serde_json::json!([{ "active": true }, IDP_DETAIL]).to_string(),
        ),
        Fault::Empty => respond(&mut conn, 200, &json, ""),
        Fault::Inactive => respond(
            &mut conn,
            200,
            &json,
            &serde_json::json!({ "active": false, "error_description": detail }).to_string(),
        ),
        Fault::DiscoveryWithoutEndpoint => respond(&mut conn, 404, &[], ""),
    }
}

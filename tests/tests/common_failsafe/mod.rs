//! A fault-injecting fake IdP for `failsafe.rs` only (the main path always uses the real Glewlwyd): a tiny
//! std HTTP/1.1 server whose introspection answer depends on the first path segment (see [`Fault`]), and,
//! under `/switch/`, on a mode changed at run time. It counts the requests it receives per segment.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Text planted in every faulty answer: it must never reach a client.
pub const IDP_DETAIL: &str = "FAILSAFE-IDP-DETAIL";

/// How the fake answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Read the request, then answer nothing (until the fake is dropped, at most 60 s).
    Hang,
    /// 500 with a text body.
    Error500,
    /// 503 with `Retry-After: 120`.
    Unavailable503,
    /// 200 whose body is not JSON.
    InvalidJson,
    /// 200 with a 4 MiB JSON body (larger than the gateway accepts from an IdP).
    HugeBody,
    /// 200 with headers sent at once, then the body one byte every 200 ms.
    SlowDrip,
    /// A valid `active: true` answer (only to show a circuit closing again after a probe).
    Active,
}

impl Fault {
    /// Every fault, in matrix order.
    pub const ALL: [Fault; 6] = [
        Fault::Hang,
        Fault::Error500,
        Fault::Unavailable503,
        Fault::InvalidJson,
        Fault::HugeBody,
        Fault::SlowDrip,
    ];

    /// The path segment that selects this fault.
    pub fn segment(self) -> &'static str {
        match self {
            Fault::Hang => "hang",
            Fault::Error500 => "error500",
            Fault::Unavailable503 => "unavailable503",
            Fault::InvalidJson => "invalid-json",
            Fault::HugeBody => "huge-body",
            Fault::SlowDrip => "slow-drip",
            Fault::Active => "active",
        }
    }

    fn from_segment(s: &str) -> Option<Fault> {
        Fault::ALL
            .into_iter()
            .chain([Fault::Active])
            .find(|f| f.segment() == s)
    }

    fn code(self) -> u8 {
        Fault::ALL
            .into_iter()
            .chain([Fault::Active])
            .position(|f| f == self)
            .unwrap_or(0) as u8
    }

    fn from_code(c: u8) -> Fault {
        Fault::ALL
            .into_iter()
            .chain([Fault::Active])
            .nth(usize::from(c))
            .unwrap_or(Fault::Error500)
    }
}

/// The running fake; stops accepting (and releases hung connections) on drop.
pub struct FakeIdp {
    port: u16,
    stop: Arc<AtomicBool>,
    switch: Arc<AtomicU8>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl FakeIdp {
    /// Listen on a free loopback port and serve from background threads.
    pub fn start() -> FakeIdp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake IdP");
        let port = listener.local_addr().expect("local_addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let switch = Arc::new(AtomicU8::new(Fault::Error500.code()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop2, switch2, seen2) = (stop.clone(), switch.clone(), seen.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (stop3, switch3, seen3) = (stop2.clone(), switch2.clone(), seen2.clone());
                std::thread::spawn(move || serve(conn, &stop3, &switch3, &seen3));
            }
        });
        FakeIdp {
            port,
            stop,
            switch,
            seen,
        }
    }

    /// The introspection endpoint answering with `fault`.
    pub fn endpoint(&self, fault: Fault) -> String {
        format!(
            "http://127.0.0.1:{}/{}/oidc/introspect",
            self.port,
            fault.segment()
        )
    }

    /// The introspection endpoint answering with the switchable mode (initially [`Fault::Error500`]).
    pub fn switch_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/switch/oidc/introspect", self.port)
    }

    /// An issuer on the fake (only used for the realm: the tests set explicit endpoints).
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}/oidc", self.port)
    }

    /// Sets what `/switch/` answers.
    pub fn set_switch(&self, fault: Fault) {
        self.switch.store(fault.code(), Ordering::SeqCst);
    }

    /// Requests received so far whose path starts with `/<segment>/`.
    pub fn count(&self, segment: &str) -> usize {
        let prefix = format!("/{segment}/");
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|p| p.starts_with(&prefix))
            .count()
    }
}

impl Drop for FakeIdp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wake the accept loop
    }
}

/// Read one request (head and Content-Length body); returns its path.
fn read_request(conn: &mut TcpStream) -> Option<String> {
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
    Some(head.split_whitespace().nth(1).unwrap_or("/").to_owned())
}

fn head(status: u16, extra: &str, length: usize) -> String {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\
         Connection: close\r\n{extra}\r\n"
    )
}

fn respond(conn: &mut TcpStream, status: u16, extra: &str, body: &str) {
    let _ = conn.write_all(head(status, extra, body.len()).as_bytes());
    let _ = conn.write_all(body.as_bytes());
    let _ = conn.flush();
}

fn serve(mut conn: TcpStream, stop: &AtomicBool, switch: &AtomicU8, seen: &Mutex<Vec<String>>) {
    let Some(path) = read_request(&mut conn) else {
        return;
    };
    seen.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(path.clone());
    let segment = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let fault = if segment == "switch" {
        Fault::from_code(switch.load(Ordering::SeqCst))
    } else {
        match Fault::from_segment(segment) {
            Some(f) => f,
            None => return respond(&mut conn, 404, "", ""),
        }
    };
    let detail = format!("{IDP_DETAIL}: db password=hunter2");
    match fault {
        Fault::Hang => {
            for _ in 0..1200 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Fault::Error500 => respond(&mut conn, 500, "", &detail),
        Fault::Unavailable503 => respond(&mut conn, 503, "Retry-After: 120\r\n", &detail),
        Fault::InvalidJson => respond(
            &mut conn,
            200,
            "",
            &format!("{{\"active\": true, \"x\": \"{detail}"),
        ),
        Fault::HugeBody => {
            let filler = "a".repeat(4 * 1024 * 1024);
            let body = format!("{{\"active\": true, \"filler\": \"{filler}\"}}");
            respond(&mut conn, 200, "", &body);
        }
        Fault::SlowDrip => {
            let body = r#"{"active": true, "username": "drip"}"#;
            let _ = conn.write_all(head(200, "", body.len()).as_bytes());
            for b in body.bytes() {
                if stop.load(Ordering::SeqCst) || conn.write_all(&[b]).is_err() {
                    return;
                }
                let _ = conn.flush();
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        Fault::Active => {
            let exp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
                + 3600;
            let body = format!(r#"{{"active": true, "username": "probe", "exp": {exp}}}"#);
            respond(&mut conn, 200, "", &body);
        }
    }
}

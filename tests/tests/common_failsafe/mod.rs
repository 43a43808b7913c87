//! A fault-injecting fake IdP for `failsafe.rs` only (the main path always uses the real Glewlwyd): the
//! harness's [`FakeServer`] whose introspection answer depends on the first path segment (see [`Fault`]),
//! and, under `/switch/`, on a mode changed at run time. It counts the requests it receives per segment.
#![allow(dead_code)]

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use e2e::fake_idp::{first_segment, hang, head, respond, FakeServer};

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
    server: FakeServer,
    switch: Arc<AtomicU8>,
}

impl FakeIdp {
    /// Listen on a free loopback port and serve from background threads.
    pub fn start() -> FakeIdp {
        let switch = Arc::new(AtomicU8::new(Fault::Error500.code()));
        let switch2 = switch.clone();
        let server =
            FakeServer::start(move |conn, req, stop| serve(conn, &req.path, stop, &switch2));
        FakeIdp { server, switch }
    }

    /// The introspection endpoint answering with `fault`.
    pub fn endpoint(&self, fault: Fault) -> String {
        format!("{}/{}/oidc/introspect", self.server.base(), fault.segment())
    }

    /// The introspection endpoint answering with the switchable mode (initially [`Fault::Error500`]).
    pub fn switch_endpoint(&self) -> String {
        format!("{}/switch/oidc/introspect", self.server.base())
    }

    /// An issuer on the fake (only used for the realm: the tests set explicit endpoints).
    pub fn issuer(&self) -> String {
        format!("{}/oidc", self.server.base())
    }

    /// Sets what `/switch/` answers.
    pub fn set_switch(&self, fault: Fault) {
        self.switch.store(fault.code(), Ordering::SeqCst);
    }

    /// Requests received so far whose path starts with `/<segment>/`.
    pub fn count(&self, segment: &str) -> usize {
        self.server.requests(segment).len()
    }
}

/// Every answer is JSON by its headers, whatever its body.
const JSON: (&str, &str) = ("Content-Type", "application/json");

fn serve(mut conn: TcpStream, path: &str, stop: &AtomicBool, switch: &AtomicU8) {
    let segment = first_segment(path);
    let fault = if segment == "switch" {
        Fault::from_code(switch.load(Ordering::SeqCst))
    } else {
        match Fault::from_segment(segment) {
            Some(f) => f,
            None => return respond(&mut conn, 404, &[JSON], ""),
        }
    };
    let detail = format!("{IDP_DETAIL}: db password=hunter2");
    match fault {
        Fault::Hang => hang(stop, Duration::from_secs(60)),
        Fault::Error500 => respond(&mut conn, 500, &[JSON], &detail),
        Fault::Unavailable503 => respond(&mut conn, 503, &[JSON, ("Retry-After", "120")], &detail),
        Fault::InvalidJson => respond(
            &mut conn,
            200,
            &[JSON],
            &format!("{{\"active\": true, \"x\": \"{detail}"),
        ),
        Fault::HugeBody => {
            let filler = "a".repeat(4 * 1024 * 1024);
            let body = format!("{{\"active\": true, \"filler\": \"{filler}\"}}");
            respond(&mut conn, 200, &[JSON], &body);
        }
        Fault::SlowDrip => {
            let body = r#"{"active": true, "username": "drip"}"#;
            let _ = conn.write_all(head(200, &[JSON], body.len()).as_bytes());
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
            respond(&mut conn, 200, &[JSON], &body);
        }
    }
}

//! A deliberately broken IdP for fault injection only (the main path always uses the real Glewlwyd):
//! the harness's [`FakeServer`] answering according to the first path segment (see [`Fault`]).

use std::net::{Shutdown, TcpStream};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

pub use e2e::fake_idp::Seen;
use e2e::fake_idp::{first_segment, hang, respond, FakeServer};

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

/// The running fake; stops accepting (and releases hung connections) on drop.
pub struct FakeIdp {
    server: FakeServer,
}

impl FakeIdp {
    /// Listen on a free loopback port and serve from background threads.
    pub fn start() -> FakeIdp {
        FakeIdp {
            server: FakeServer::start(serve),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        self.server.base()
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
        self.server.requests(fault.segment())
    }
}

fn serve(mut conn: TcpStream, req: Seen, stop: &AtomicBool) {
    let segment = first_segment(&req.path);
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
        Fault::Hang => hang(stop, Duration::from_secs(60)),
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

//! Harness for end-to-end tests: starts the real IdP, httpbin and the gateway on free loopback ports.
//!
//! Each test starts its own servers (cargo nextest runs one process per test); every server is killed with its
//! process group when its handle drops, and dies with the test process if that is killed. Start servers on the
//! test's own thread (a child dies when the thread that spawned it ends). Temp dirs (configs, logs) are
//! removed on drop, kept when the test panics or with `E2E_KEEP=1`.
//!
//! ```no_run
//! use e2e::{Stack, JOHN};
//! let stack = Stack::start(&["introspection"], serde_json::json!({}));
//! let token = stack.idp.password_token(JOHN.0, JOHN.1);
//! let resp = e2e::http::client().get(stack.gateway.proxy_url()).bearer_auth(&token).send().unwrap();
//! assert_eq!(resp.status(), 200);
//! ```
//!
//! Needs `scripts/setup.sh` (glewlwyd, `.venv` with httpbin) and, for [`Gateway`], the release binary.

pub mod admin;
pub mod ca;
pub mod config;
pub mod dns;
pub mod etcd;
pub mod fake_idp;
pub mod gateway;
pub mod h2_frames;
pub mod http;
pub mod httpbin;
pub mod idp;
pub mod metrics;
pub mod oidc_provider;
pub mod peers;
pub mod process;

use std::path::PathBuf;

use serde_json::Value;

pub use config::{
    config_value, minimal_config, oidc_config, to_yaml, Ports, PLUGIN_ID, ROUTE_ID, SERVICE_ID,
};
pub use gateway::{gateway_bin, Gateway};
pub use httpbin::Httpbin;
pub use idp::{
    Idp, ALICE, CLIENT_ID, CLIENT_SECRET, DEFAULT_SCOPE, JANE, JOHN, SHORT_TOKEN_SECONDS,
};
pub use process::{free_port, TempDir};

/// A two-worker tokio runtime for a test that drives raw clients (slow readers and writers, h2 frames).
pub fn test_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The workspace root (the parent of this crate's directory).
///
/// Read at run time first (cargo and nextest set `CARGO_MANIFEST_DIR` for a test process): test binaries
/// are shared through one target directory between checkouts of the same sources (CI's clone, a working
/// tree), and the path compiled in is the checkout that built them, which may be gone.
pub fn workspace_root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The three servers of the demo: IdP, httpbin and a gateway in front of httpbin.
#[derive(Debug)]
pub struct Stack {
    /// Dropped first: the gateway.
    pub gateway: Gateway,
    /// The upstream.
    pub httpbin: Httpbin,
    /// The IdP.
    pub idp: Idp,
    /// The gateway's ports.
    pub ports: Ports,
}

impl Stack {
    /// IdP + httpbin + a gateway whose openid-connect plugin uses the IdP's main issuer, the `kong` client,
    /// `auth_methods` and the keys of `extra` (see [`oidc_config`]).
    pub fn start(auth_methods: &[&str], extra: Value) -> Stack {
        Stack::start_with(|idp| Some(oidc_config(idp.issuer(), auth_methods, extra)))
    }

    /// IdP + httpbin + a gateway whose plugin config (or none) `oidc` derives from the running IdP.
    pub fn start_with(oidc: impl FnOnce(&Idp) -> Option<Value>) -> Stack {
        let (idp, httpbin) = start_idp_and_httpbin();
        let ports = Ports::free();
        let yaml = minimal_config(ports, &httpbin.url(), oidc(&idp));
        let gateway = Gateway::start(&yaml);
        Stack {
            gateway,
            httpbin,
            idp,
            ports,
        }
    }
}

/// Start the IdP and httpbin; they boot concurrently (the IdP is spawned before httpbin is waited for).
pub fn start_idp_and_httpbin() -> (Idp, Httpbin) {
    let pending = Idp::spawn(free_port());
    let httpbin = Httpbin::start();
    let idp = match pending.and_then(idp::PendingIdp::wait) {
        Ok(idp) => idp,
        Err(_) => Idp::start(), // e.g. the port was taken meanwhile: retry on fresh ports
    };
    (idp, httpbin)
}

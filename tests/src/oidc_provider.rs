//! The second real identity provider: panva's `oidc-provider` (npm, pinned in
//! `tests/peers/oidc-provider/package-lock.json`, installed by `scripts/setup.sh` with `npm ci`), run by
//! `tests/peers/oidc-provider/server.mjs` on 127.0.0.1. Its discovery differs from Glewlwyd's (issuer at the
//! root, introspection at `/token/introspection`); it has no password grant. Killed on drop.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::http::{off_runtime, Form};
use crate::process::{free_port, ChildGroup};
use crate::workspace_root;

/// The gateway's client at oidc-provider (introspects every client's tokens; RFC 9701 answers on request).
pub const OP_CLIENT: (&str, &str) = ("kong", "kong-secret");
/// A calling application's client (client_credentials).
pub const OP_APP: (&str, &str) = ("app", "app-secret");

const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running oidc-provider.
#[derive(Debug)]
pub struct OidcProvider {
    child: ChildGroup,
    issuer: String,
}

impl OidcProvider {
    /// Starts one on a free port; panics with a hint when it is not installed or does not start.
    pub fn start() -> OidcProvider {
        let dir = workspace_root().join("tests/peers/oidc-provider");
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "oidc-provider is not installed: run `make setup` (scripts/setup.sh runs npm ci in {})",
            dir.display()
        );
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(&dir, free_port()) {
                Ok(op) => return op,
                Err(e) => last = e,
            }
        }
        panic!("oidc-provider did not start: {last}");
    }

    fn try_start(dir: &std::path::Path, port: u16) -> Result<OidcProvider, String> {
        let mut cmd = Command::new("node");
        cmd.current_dir(dir)
            .arg("server.mjs")
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = ChildGroup::spawn("oidc-provider", cmd, libc::SIGTERM, None)
            .map_err(|e| format!("spawn node: {e}"))?;
        let stdout = child.take_stdout().ok_or("no stdout")?;
        let (tx, ready) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            for _ in lines {}
        });
        match ready.recv_timeout(READY_TIMEOUT) {
            Ok(line) => match line.strip_prefix("ready ") {
                Some(issuer) => Ok(OidcProvider {
                    child,
                    issuer: issuer.trim().to_owned(),
                }),
                None => Err(format!("unexpected first line {line:?}")),
            },
            Err(_) => Err("exited or timed out before `ready`".into()),
        }
    }

    /// Its issuer, `http://127.0.0.1:<port>` (discovery under it).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Stops it now.
    pub fn stop(&mut self) {
        self.child.kill();
    }

    fn token(&self, form: &[(&str, &str)]) -> String {
        let url = format!("{}/token", self.issuer);
        let form = Form::from(form);
        let (status, body) = off_runtime(move || crate::http::post_form(&url, Some(OP_APP), &form));
        assert_eq!(status, 200, "oidc-provider token request: {status} {body}");
        let v: Value = serde_json::from_str(&body).expect("token response is JSON");
        v["access_token"]
            .as_str()
            .expect("an access_token")
            .to_owned()
    }

    /// An opaque client_credentials token of `app` with `scope`.
    pub fn opaque_token(&self, scope: &str) -> String {
        self.token(&[("grant_type", "client_credentials"), ("scope", scope)])
    }

    /// A JWT access token (`typ: at+jwt`, RS256) of `app` for `resource` (its `aud`) with `scope`.
    pub fn jwt_token(&self, scope: &str, resource: &str) -> String {
        self.token(&[
            ("grant_type", "client_credentials"),
            ("scope", scope),
            ("resource", resource),
        ])
    }
}

//! The real identity provider: a private, provisioned Glewlwyd started through `scripts/idp.py serve`.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::http::{off_runtime, Form};
use crate::process::{free_port, read_lossy, ChildGroup, TempDir};
use crate::workspace_root;

/// The gateway's confidential client at the IdP.
pub const CLIENT_ID: &str = "kong";
/// Its secret (`client_secret_basic` or `client_secret_post`).
pub const CLIENT_SECRET: &str = "kong-secret";
/// User with scopes `openid read`.
pub const JOHN: (&str, &str) = ("john", "doe");
/// User with scope `openid` only (for insufficient-scope tests).
pub const JANE: (&str, &str) = ("jane", "doe2");
/// User with scopes `openid read write`.
pub const ALICE: (&str, &str) = ("alice", "alice-pw");
/// The scope [`Idp::password_token`] asks for (mandatory for the password grant at Glewlwyd).
pub const DEFAULT_SCOPE: &str = "openid read";
/// Lifetime of access tokens from the `oidc-short` instance, in seconds.
pub const SHORT_TOKEN_SECONDS: u64 = 2;

const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running Glewlwyd on 127.0.0.1 with users, scopes and the `kong` client provisioned (see `scripts/idp.py`).
/// Killed (with its whole process group) on drop.
#[derive(Debug)]
pub struct Idp {
    child: ChildGroup,
    dir: TempDir,
    port: u16,
    issuer: String,
}

impl Idp {
    /// Bootstrap and start a fresh IdP on a free port; panics (with its log) if it does not become ready.
    pub fn start() -> Idp {
        let mut last = String::new();
        for _ in 0..3 {
            match Idp::try_start(free_port()) {
                Ok(idp) => return idp,
                Err(e) => last = e,
            }
        }
        panic!("the IdP did not start:\n{last}");
    }

    /// Start on `port`; `Err` carries idp.py's and glewlwyd's output.
    pub fn try_start(port: u16) -> Result<Idp, String> {
        Idp::spawn(port)?.wait()
    }

    /// Spawn `scripts/idp.py serve` on `port` without waiting for it (see [`PendingIdp::wait`]).
    pub fn spawn(port: u16) -> Result<PendingIdp, String> {
        let dir = TempDir::new("idp");
        let stderr = File::create(dir.path().join("idp.log")).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(python());
        cmd.arg(workspace_root().join("scripts/idp.py"))
            .args(["serve", "--dir"])
            .arg(dir.path())
            .args(["--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        // SIGTERM: idp.py stops and reaps glewlwyd, then exits.
        let mut child = ChildGroup::spawn(
            "idp",
            cmd,
            libc::SIGTERM,
            Some((libc::SIGTERM, Duration::from_secs(3))),
        )
        .map_err(|e| format!("spawn scripts/idp.py: {e}"))?;
        let stdout = child.take_stdout().ok_or("no stdout")?;
        let (tx, ready) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            for _ in lines {} // keep draining until idp.py exits
        });
        Ok(PendingIdp {
            child,
            dir,
            port,
            ready,
        })
    }

    /// The issuer of the main OIDC instance, `http://127.0.0.1:<port>/api/oidc` (the gateway's `issuer`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The issuer of the `oidc-short` instance (access tokens live [`SHORT_TOKEN_SECONDS`]).
    pub fn short_issuer(&self) -> String {
        format!("{}/api/oidc-short", self.base_url())
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id of `scripts/idp.py` (leader of the process group that holds glewlwyd).
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// idp.py's stderr followed by glewlwyd's log.
    pub fn log(&self) -> String {
        format!(
            "{}{}",
            read_lossy(&self.dir.path().join("idp.log")),
            read_lossy(&self.dir.path().join("glewlwyd.log"))
        )
    }

    /// Gives the main OIDC instance a new RSA signing key at runtime (`scripts/idp.py rotate-key`: the
    /// instance's parameters updated over Glewlwyd's admin API, then the instance reset; no restart).
    /// Returns the `kid`s its JWKS serves afterwards; panics when the rotation fails.
    pub fn rotate_signing_key(&self) -> Vec<String> {
        let out = Command::new(python())
            .arg(workspace_root().join("scripts/idp.py"))
            .args(["rotate-key", "--dir"])
            .arg(self.dir.path())
            .args(["--port", &self.port.to_string()])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("spawn scripts/idp.py rotate-key: {e}"));
        assert!(
            out.status.success(),
            "idp.py rotate-key failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    /// Stop the IdP now (e.g. to test the gateway with an unreachable IdP).
    pub fn stop(&mut self) {
        self.child.kill();
    }

    /// POST a token request to `<issuer>/token` with client_secret_basic; returns (status, body).
    pub fn token_request(&self, issuer: &str, form: &[(&str, &str)]) -> (u16, String) {
        let url = format!("{issuer}/token");
        let form = Form::from(form);
        off_runtime(move || crate::http::post_form(&url, Some((CLIENT_ID, CLIENT_SECRET)), &form))
    }

    /// A successful token response (JSON) from `issuer`; panics otherwise.
    pub fn token_response(&self, issuer: &str, form: &[(&str, &str)]) -> Value {
        let (status, body) = self.token_request(issuer, form);
        assert_eq!(
            status, 200,
            "token request {form:?} to {issuer} failed: {status} {body:?}"
        );
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("token response is not JSON ({e}): {body:?}"))
    }

    /// The full password-grant response (access_token, refresh_token, id_token, scope, expires_in…).
    pub fn password_grant(&self, user: &str, pass: &str, scope: &str) -> Value {
        let form = [
            ("grant_type", "password"),
            ("username", user),
            ("password", pass),
            ("scope", scope),
        ];
        self.token_response(&self.issuer, &form)
    }

    /// An access token for `user` with scope `openid read` (jane gets only `openid`).
    pub fn password_token(&self, user: &str, pass: &str) -> String {
        self.password_token_with_scope(user, pass, DEFAULT_SCOPE)
    }

    /// An access token for `user` asking for `scope` (space-separated; the IdP grants the subset the user has).
    pub fn password_token_with_scope(&self, user: &str, pass: &str, scope: &str) -> String {
        access_token(&self.password_grant(user, pass, scope))
    }

    /// A client_credentials token of the `kong` client with scope `read`.
    pub fn client_credentials_token(&self) -> String {
        let form = [("grant_type", "client_credentials"), ("scope", "read")];
        access_token(&self.token_response(&self.issuer, &form))
    }

    /// An access token from the `oidc-short` instance: inactive after [`SHORT_TOKEN_SECONDS`]. Only that
    /// instance knows it: configure the gateway with [`Idp::short_issuer`] to use it.
    pub fn short_lived_token(&self, user: &str, pass: &str) -> String {
        let form = [
            ("grant_type", "password"),
            ("username", user),
            ("password", pass),
            ("scope", DEFAULT_SCOPE),
        ];
        access_token(&self.token_response(&self.short_issuer(), &form))
    }

    /// Revoke a token of the main instance (RFC 7009); panics unless the IdP answers 200.
    pub fn revoke(&self, token: &str) {
        self.revoke_at(&self.issuer, token);
    }

    /// Revoke a token at `issuer` (the main or the short instance).
    pub fn revoke_at(&self, issuer: &str, token: &str) {
        let url = format!("{issuer}/revoke");
        let form = Form::from(&[("token", token)][..]);
        let (status, body) = off_runtime(move || {
            crate::http::post_form(&url, Some((CLIENT_ID, CLIENT_SECRET)), &form)
        });
        assert_eq!(status, 200, "revoke failed: {status} {body:?}");
    }

    /// RFC 7662 introspection at the main instance, as the `kong` client.
    pub fn introspect(&self, token: &str) -> Value {
        self.introspect_at(&self.issuer, token)
    }

    /// Introspection at `issuer` (the main or the short instance).
    pub fn introspect_at(&self, issuer: &str, token: &str) -> Value {
        let url = format!("{issuer}/introspect");
        let form = Form::from(&[("token", token)][..]);
        let (status, body) = off_runtime(move || {
            crate::http::post_form(&url, Some((CLIENT_ID, CLIENT_SECRET)), &form)
        });
        assert_eq!(status, 200, "introspection failed: {status} {body:?}");
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("introspection is not JSON ({e}): {body:?}"))
    }
}

/// An IdP that was spawned but may not be ready yet.
#[derive(Debug)]
pub struct PendingIdp {
    child: ChildGroup,
    dir: TempDir,
    port: u16,
    ready: mpsc::Receiver<String>,
}

impl PendingIdp {
    /// Wait for idp.py's `READY <issuer>` line.
    pub fn wait(self) -> Result<Idp, String> {
        let PendingIdp {
            mut child,
            dir,
            port,
            ready,
        } = self;
        let failure = |why: &str| {
            format!(
                "{why}\n--- idp.log ---\n{}\n--- glewlwyd.log (tail) ---\n{}",
                read_lossy(&dir.path().join("idp.log")),
                tail(&read_lossy(&dir.path().join("glewlwyd.log")), 30)
            )
        };
        match ready.recv_timeout(READY_TIMEOUT) {
            Ok(line) => match line.strip_prefix("READY ") {
                Some(issuer) => {
                    let issuer = issuer.trim().to_string();
                    Ok(Idp {
                        child,
                        dir,
                        port,
                        issuer,
                    })
                }
                None => {
                    child.kill();
                    Err(failure(&format!(
                        "unexpected first line from idp.py: {line:?}"
                    )))
                }
            },
            Err(_) => {
                child.kill();
                Err(failure("idp.py exited or timed out before READY"))
            }
        }
    }
}

/// The venv's interpreter (a real binary, unlike a pyenv shim: saves ~0.1 s per start), else `python3`.
fn python() -> std::path::PathBuf {
    let venv = workspace_root().join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

fn access_token(response: &Value) -> String {
    response["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access_token in {response}"))
        .to_string()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

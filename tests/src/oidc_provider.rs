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
    /// Client-authentication mode: the directory of its generated keys and certificates.
    dir: Option<std::path::PathBuf>,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

impl OidcProvider {
    /// Starts one on a free port; panics with a hint when it is not installed or does not start.
    pub fn start() -> OidcProvider {
        Self::start_in(None)
    }

    /// Starts one in client-authentication mode (see `server.mjs`): signing keys, a CA, client
    /// certificates, an HTTPS side that asks for client certificates, and the gateway's clients
    /// `kong-pkjwt-es`, `kong-pkjwt-rs`, `kong-csjwt`, `kong-mtls`.
    pub fn start_with_client_auth() -> OidcProvider {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("gw-op-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self::start_in(Some(dir))
    }

    /// In client-authentication mode: the generated `keys.json` (private JWKs `es256`, `rs256`,
    /// `unregistered`, and `tls_port`).
    pub fn keys(&self) -> Value {
        let dir = self.dir.as_ref().expect("client-authentication mode");
        serde_json::from_slice(&std::fs::read(dir.join("keys.json")).expect("keys.json"))
            .expect("JSON")
    }

    /// In client-authentication mode: a generated PEM file (`client.pem`, `client.key`, `rogue.pem`, ...).
    pub fn pem(&self, name: &str) -> String {
        let dir = self.dir.as_ref().expect("client-authentication mode");
        std::fs::read_to_string(dir.join(name)).expect("a generated PEM")
    }

    /// In client-authentication mode: the path of a generated file (`server.pem`, `client.key`, ...).
    pub fn file(&self, name: &str) -> std::path::PathBuf {
        self.dir
            .as_ref()
            .expect("client-authentication mode")
            .join(name)
    }

    /// In client-authentication mode: a client_credentials token of `app-mtls` asked on the HTTPS side with
    /// the certificate `name` (`client`, `rogue`: `<name>.pem` / `<name>.key`), so bound to it (`cnf.x5t#S256`).
    pub fn mtls_token(&self, scope: &str, name: &str) -> String {
        let port = self.keys()["tls_port"].as_u64().expect("tls_port");
        let url = format!("https://127.0.0.1:{port}/token");
        let identity = reqwest::Identity::from_pkcs8_pem(
            self.pem(&format!("{name}.pem")).as_bytes(),
            self.pem(&format!("{name}.key")).as_bytes(),
        )
        .expect("a client identity");
        let form = [("grant_type", "client_credentials"), ("scope", scope)];
        let (status, body) = off_runtime(move || {
            let client = reqwest::blocking::Client::builder()
                .no_proxy()
                .identity(identity)
                .danger_accept_invalid_certs(true)
                .build()
                .expect("a TLS client");
            let resp = client
                .post(&url)
                .basic_auth("app-mtls", Some("app-secret"))
                .form(&form)
                .send()
                .unwrap_or_else(|e| panic!("POST {url}: {e}"));
            (resp.status().as_u16(), resp.text().unwrap_or_default())
        });
        assert_eq!(
            status, 200,
            "oidc-provider mTLS token request: {status} {body}"
        );
        let v: Value = serde_json::from_str(&body).expect("token response is JSON");
        v["access_token"]
            .as_str()
            .expect("an access_token")
            .to_owned()
    }

    /// An opaque client_credentials token of the calling client `id` (secret `app-secret`) with `scope`.
    pub fn token_of(&self, id: &str, scope: &str) -> String {
        self.token_as(
            (id, "app-secret"),
            &[("grant_type", "client_credentials"), ("scope", scope)],
        )
    }

    fn start_in(dir: Option<std::path::PathBuf>) -> OidcProvider {
        let keys = dir;
        let dir = workspace_root().join("tests/peers/oidc-provider");
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "oidc-provider is not installed: run `make setup` (scripts/setup.sh runs npm ci in {})",
            dir.display()
        );
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(&dir, free_port(), keys.as_deref()) {
                Ok(op) => return op,
                Err(e) => last = e,
            }
        }
        panic!("oidc-provider did not start: {last}");
    }

    fn try_start(
        dir: &std::path::Path,
        port: u16,
        keys: Option<&std::path::Path>,
    ) -> Result<OidcProvider, String> {
        let mut cmd = Command::new("node");
        cmd.current_dir(dir).arg("server.mjs").arg(port.to_string());
        if let Some(k) = keys {
            cmd.arg(k);
        }
        cmd.stdin(Stdio::null())
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
                    dir: keys.map(std::path::Path::to_path_buf),
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
        self.token_as(OP_APP, form)
    }

    fn token_as(&self, client: (&str, &str), form: &[(&str, &str)]) -> String {
        let url = format!("{}/token", self.issuer);
        let form = Form::from(form);
        let (id, secret) = (client.0.to_owned(), client.1.to_owned());
        let (status, body) = off_runtime(move || {
            crate::http::post_form(&url, Some((id.as_str(), secret.as_str())), &form)
        });
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

    /// The token endpoint (DPoP proofs for a token request name it as `htu`).
    pub fn token_url(&self) -> String {
        format!("{}/token", self.issuer)
    }

    /// A client_credentials token of `app` with `scope`, bound to the key of `proof` (a DPoP proof for
    /// `POST` [`Self::token_url`]): `(token, token_type)`.
    pub fn dpop_token(&self, scope: &str, proof: &str) -> (String, String) {
        let url = self.token_url();
        let form = [("grant_type", "client_credentials"), ("scope", scope)];
        let (status, body) = off_runtime(move || {
            let resp = crate::http::client()
                .post(&url)
                .basic_auth(OP_APP.0, Some(OP_APP.1))
                .header("DPoP", proof)
                .form(&form)
                .send()
                .unwrap_or_else(|e| panic!("POST {url}: {e}"));
            (resp.status().as_u16(), resp.text().unwrap_or_default())
        });
        assert_eq!(
            status, 200,
            "oidc-provider DPoP token request: {status} {body}"
        );
        let v: Value = serde_json::from_str(&body).expect("token response is JSON");
        (
            v["access_token"]
                .as_str()
                .expect("an access_token")
                .to_owned(),
            v["token_type"].as_str().unwrap_or_default().to_owned(),
        )
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

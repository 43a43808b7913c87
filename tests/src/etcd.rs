//! A real etcd (Debian's `etcd-server`) on two free loopback ports, its data in a temp dir; stopped and
//! started again on the same ports and data (the config-store fault tests), and `etcdctl` (Debian's
//! `etcd-client`) against it.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{free_port, wait_for_port, ChildGroup, TempDir};

/// A one-member etcd cluster.
pub struct Etcd {
    child: Option<ChildGroup>,
    dir: TempDir,
    /// The client port.
    pub port: u16,
    peer_port: u16,
    /// With TLS: etcd's server flags and etcdctl's client flags.
    tls: Option<(Vec<String>, Vec<String>)>,
    /// `etcdctl --user` once authentication is on.
    user: Option<String>,
}

impl Etcd {
    /// Starts it; panics (saying to install the Debian package) when `etcd` is missing.
    pub fn start() -> Etcd {
        Etcd::start_with(None)
    }

    /// Starts it serving clients over TLS with `ca`'s `127.0.0.1` certificate and requiring client
    /// certificates signed by `ca` (`--client-cert-auth`); etcdctl uses a client certificate for `root`.
    pub fn start_tls(ca: &crate::ca::LocalCa) -> Etcd {
        let (cert, key) = ca.issue_client("root", "etcdctl");
        let path = |p: PathBuf| p.display().to_string();
        let server = vec![
            "--cert-file".into(),
            path(ca.cert()),
            "--key-file".into(),
            path(ca.key()),
            "--client-cert-auth".into(),
            "--trusted-ca-file".into(),
            path(ca.ca_pem()),
        ];
        let client = vec![
            format!("--cacert={}", path(ca.ca_pem())),
            format!("--cert={}", path(cert)),
            format!("--key={}", path(key)),
        ];
        Etcd::start_with(Some((server, client)))
    }

    fn start_with(tls: Option<(Vec<String>, Vec<String>)>) -> Etcd {
        let mut etcd = Etcd {
            child: None,
            dir: TempDir::new("etcd"),
            port: free_port(),
            peer_port: free_port(),
            tls,
            user: None,
        };
        etcd.resume();
        etcd
    }

    /// Turns etcd's authentication on with the user `root` and `password`; etcdctl logs in as root after.
    pub fn enable_auth(&mut self, password: &str) {
        self.ctl(&["user", "add", &format!("root:{password}")], None);
        self.ctl(&["auth", "enable"], None);
        self.user = Some(format!("root:{password}"));
    }

    /// `http://127.0.0.1:<port>` (`https://` with TLS).
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The temp dir (data, log), also usable for files the test shares between nodes.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Kills it now (the data stays).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill();
        }
    }

    /// Starts it again on the same ports and data.
    pub fn resume(&mut self) {
        let client = self.endpoint();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::File::create(self.dir.path().join("etcd.log")).expect("etcd log file");
        let mut cmd = Command::new("etcd");
        cmd.args(["--name", "e2e", "--data-dir"])
            .arg(self.dir.path().join("data"))
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &format!("e2e={peer}")])
            // 10,000-service documents (the bench) are larger than the default 1.5 MiB request.
            .args(["--max-request-bytes", "33554432"])
            .args(self.tls.iter().flat_map(|t| t.0.iter()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("etcd log"))
            .stderr(log);
        let mut child = ChildGroup::spawn("etcd", cmd, libc::SIGKILL, None).unwrap_or_else(|e| {
            panic!("spawn etcd: {e} (install the Debian package etcd-server: scripts/setup.sh)")
        });
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        assert!(
            wait_for_port(addr, Duration::from_secs(10), || child.try_wait().is_none()),
            "etcd did not listen on {}",
            self.port
        );
        self.child = Some(child);
    }

    /// Runs `etcdctl <args>` (v3 API) with `stdin`; its stdout, or a panic with its stderr.
    pub fn ctl(&self, args: &[&str], stdin: Option<&str>) -> String {
        use std::io::Write;
        let mut child = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoint()))
            .args(self.tls.iter().flat_map(|t| t.1.iter()))
            .args(self.user.iter().map(|u| format!("--user={u}")))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("spawn etcdctl: {e} (install the Debian package etcd-client)")
            });
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes()).expect("etcdctl stdin");
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("etcdctl");
        assert!(
            out.status.success(),
            "etcdctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `etcdctl put KEY` with the value read from stdin (a document is too long for an argument).
    pub fn put(&self, key: &str, value: &str) {
        self.ctl(&["put", key], Some(value));
    }

    /// The `mod_revision` of `key` (0 when absent).
    pub fn mod_revision(&self, key: &str) -> i64 {
        let out = self.ctl(&["get", key, "-w", "json"], None);
        let v: serde_json::Value = serde_json::from_str(&out).expect("etcdctl json");
        v["kvs"][0]["mod_revision"].as_i64().unwrap_or(0)
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
    }
}

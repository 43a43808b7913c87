//! Real WebSocket and gRPC peers (Python `websockets`, `grpcio` from the workspace's `.venv`), run from
//! `tests/peers/*.py`: servers print `READY` once listening; clients print one JSON line.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::process::{free_port, wait_for_port, ChildGroup};
use crate::workspace_root;

/// The venv's Python.
fn python() -> std::path::PathBuf {
    workspace_root().join(".venv/bin/python")
}

fn script(name: &str) -> std::path::PathBuf {
    workspace_root().join("tests/peers").join(name)
}

/// A peer server on 127.0.0.1:<port>, stopped on drop.
#[derive(Debug)]
pub struct PeerServer {
    _child: ChildGroup,
    port: u16,
}

impl PeerServer {
    /// `tests/peers/<script> serve <port> [args]`, waited for until its port is open.
    pub fn start(script_name: &str, args: &[&str]) -> PeerServer {
        let port = free_port();
        let mut cmd = Command::new(python());
        cmd.arg(script(script_name))
            .arg("serve")
            .arg(port.to_string())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = ChildGroup::spawn(script_name, cmd, libc::SIGKILL, None)
            .unwrap_or_else(|e| panic!("start {script_name}: {e}"));
        if let Some(out) = child.take_stdout() {
            // Drain its output so it never blocks on a full pipe.
            std::thread::spawn(move || for _ in BufReader::new(out).lines() {});
        }
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        assert!(
            wait_for_port(addr, Duration::from_secs(20), || child.try_wait().is_none()),
            "{script_name} did not listen on {addr}"
        );
        PeerServer {
            _child: child,
            port,
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// Run `tests/peers/<script> <args>` as a client; its last stdout line as JSON (panics with its output
/// otherwise).
pub fn client(script_name: &str, args: &[&str]) -> Value {
    let out = Command::new(python())
        .arg(script(script_name))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {script_name}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| {
        panic!(
            "{script_name} {args:?} printed no JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

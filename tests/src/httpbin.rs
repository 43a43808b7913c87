//! The real upstream: httpbin under gunicorn from the workspace's `.venv` (made by `scripts/setup.sh`).

use std::fs::File;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::http::off_runtime;
use crate::process::{free_port, read_lossy, ChildGroup, TempDir};
use crate::workspace_root;

const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running httpbin on 127.0.0.1 (2 gunicorn workers); killed with its workers on drop.
#[derive(Debug)]
pub struct Httpbin {
    child: ChildGroup,
    dir: TempDir,
    port: u16,
}

impl Httpbin {
    /// Start httpbin on a free port and wait until `GET /get` answers 200; panics with its log otherwise.
    pub fn start() -> Httpbin {
        let mut last = String::new();
        for _ in 0..3 {
            match Httpbin::try_start(free_port()) {
                Ok(h) => return h,
                Err(e) => last = e,
            }
        }
        panic!("httpbin did not start:\n{last}");
    }

    /// Start on `port`; `Err` carries gunicorn's output.
    pub fn try_start(port: u16) -> Result<Httpbin, String> {
        let gunicorn = workspace_root().join(".venv/bin/gunicorn");
        if !gunicorn.exists() {
            return Err(format!(
                "{} is missing: run `make setup` (scripts/setup.sh)",
                gunicorn.display()
            ));
        }
        let dir = TempDir::new("httpbin");
        let log_path = dir.path().join("httpbin.log");
        let log = File::create(&log_path).map_err(|e| e.to_string())?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(gunicorn);
        cmd.args([
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--workers",
            "2",
            "httpbin:app",
        ])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
        // SIGINT: gunicorn's quick shutdown, which still reaps its workers. On parent death SIGTERM: it also
        // kills a gunicorn that has not installed its handlers yet (an early SIGINT can be swallowed).
        let mut child = ChildGroup::spawn(
            "httpbin",
            cmd,
            libc::SIGTERM,
            Some((libc::SIGINT, Duration::from_secs(3))),
        )
        .map_err(|e| format!("spawn gunicorn: {e}"))?;
        let url = format!("http://127.0.0.1:{port}/get");
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut delay = Duration::from_millis(20);
        while Instant::now() < deadline {
            if child.try_wait().is_some() {
                return Err(format!("gunicorn exited:\n{}", read_lossy(&log_path)));
            }
            let u = url.clone();
            let ok = off_runtime(move || {
                crate::http::client()
                    .get(&u)
                    .timeout(Duration::from_secs(2))
                    .send()
                    .is_ok_and(|r| r.status().is_success())
            });
            if ok {
                return Ok(Httpbin { child, dir, port });
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(200));
        }
        child.kill();
        Err(format!(
            "httpbin not ready after {READY_TIMEOUT:?}:\n{}",
            read_lossy(&log_path)
        ))
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<port>/anything` (echoes method, args, headers, body).
    pub fn anything_url(&self) -> String {
        format!("{}/anything", self.url())
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The gunicorn master's pid.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// gunicorn's output.
    pub fn log(&self) -> String {
        read_lossy(&self.dir.path().join("httpbin.log"))
    }
}

/// The path (and query) of the URL httpbin echoes in `url`, e.g. `/anything/v2/x` for
/// `http://127.0.0.1:8080/anything/v2/x`: where the gateway sent the request.
pub fn echoed_path(echo: &serde_json::Value) -> String {
    let url = echo["url"]
        .as_str()
        .unwrap_or_else(|| panic!("no url in {echo}"));
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    after_scheme
        .find('/')
        .map_or("/", |i| &after_scheme[i..])
        .to_string()
}

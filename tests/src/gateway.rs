//! The gateway under test: the built binary (`GATEWAY_BIN` or `<target>/release/gateway`) run on a temp config.

use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::process::{read_lossy, wait_for_port, ChildGroup, TempDir};
use crate::workspace_root;

const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Environment variables of `gateway run` that would override the test's config: removed from the child.
const GATEWAY_ENV: &[&str] = &[
    "GATEWAY_CONFIG",
    "GATEWAY_PROXY_LISTEN",
    "GATEWAY_ADMIN_LISTEN",
    "GATEWAY_WORKER_THREADS",
    "GATEWAY_UPSTREAM_KEEPALIVE_POOL_SIZE",
    "GATEWAY_LOG_LEVEL",
    "GATEWAY_PID_FILE",
    "GATEWAY_UPGRADE_SOCK",
];

/// The gateway binary: `$GATEWAY_BIN`, else `$CARGO_TARGET_DIR/release/gateway`, else the `release/gateway`
/// of the target dir this test binary was built in, else `<workspace>/target/release/gateway`.
pub fn gateway_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("GATEWAY_BIN") {
        return PathBuf::from(bin);
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        let dir = if dir.is_absolute() {
            dir
        } else {
            workspace_root().join(dir)
        };
        return dir.join("release/gateway");
    }
    // <target>/<profile>/deps/<test binary>
    if let Some(target) = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
    {
        let bin = target.join("release/gateway");
        if bin.exists() {
            return bin;
        }
    }
    workspace_root().join("target/release/gateway")
}

/// Writes the config into the gateway's temp dir and returns the path to run with.
pub type Layout = dyn Fn(&Path, &str) -> Result<PathBuf, String>;

/// A running gateway; its process is killed (SIGKILL) on drop. Output goes to `gateway.log` in its temp dir.
#[derive(Debug)]
pub struct Gateway {
    child: ChildGroup,
    dir: TempDir,
    config: PathBuf,
    proxy: SocketAddr,
    admin: Option<SocketAddr>,
}

impl Gateway {
    /// Write `yaml` to a temp dir, run `gateway run -c <file>` with `RUST_LOG=info`, and wait until the proxy
    /// (and the admin listener, when the config names one) accept connections. Panics with the log otherwise.
    pub fn start(yaml: &str) -> Gateway {
        Gateway::try_start(yaml).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Gateway::start`], with extra arguments after `run -c <file>` and extra environment variables.
    pub fn start_with(yaml: &str, args: &[&str], env: &[(&str, &str)]) -> Gateway {
        Gateway::try_start_with(yaml, args, env).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Gateway::start`]; `Err` (with the log) if the gateway exits or does not listen in time.
    pub fn try_start(yaml: &str) -> Result<Gateway, String> {
        Gateway::try_start_with(yaml, &[], &[])
    }

    /// Like [`Gateway::start_with`]; `Err` (with the log) if the gateway exits or does not listen in time.
    pub fn try_start_with(
        yaml: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Gateway, String> {
        Gateway::try_start_laid_out(yaml, args, env, &|dir, yaml| {
            let config = dir.join("gateway.yaml");
            fs::write(&config, yaml).map_err(|e| format!("write {}: {e}", config.display()))?;
            Ok(config)
        })
    }

    /// Like [`Gateway::start`], with the config file written by `layout` in the gateway's temp dir (which
    /// returns the path to run with: a symlink, a file in a sub-directory, …).
    pub fn start_laid_out(yaml: &str, layout: &Layout) -> Gateway {
        Gateway::try_start_laid_out(yaml, &[], &[], layout).unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_start_laid_out(
        yaml: &str,
        args: &[&str],
        env: &[(&str, &str)],
        layout: &Layout,
    ) -> Result<Gateway, String> {
        let (proxy, admin) = listen_addrs(yaml)?;
        let bin = gateway_bin();
        if !bin.exists() {
            return Err(format!(
                "gateway binary {} not found: build it (`cargo build --release -p gateway`) or set GATEWAY_BIN",
                bin.display()
            ));
        }
        let dir = TempDir::new("gateway");
        let config = layout(dir.path(), yaml)?;
        let log_path = dir.path().join("gateway.log");
        let log = File::create(&log_path).map_err(|e| e.to_string())?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&bin);
        cmd.arg("run")
            .arg("-c")
            .arg(&config)
            .args(args)
            .current_dir(dir.path());
        for var in GATEWAY_ENV {
            cmd.env_remove(var);
        }
        cmd.env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
        // SIGKILL: a single process, and Pingora's SIGTERM would wait out its grace period.
        let mut child = ChildGroup::spawn("gateway", cmd, libc::SIGKILL, None)
            .map_err(|e| format!("spawn {}: {e}", bin.display()))?;

        let deadline = Instant::now() + READY_TIMEOUT;
        for addr in std::iter::once(proxy).chain(admin) {
            let left = deadline.saturating_duration_since(Instant::now());
            if !wait_for_port(addr, left, || child.try_wait().is_none()) {
                let status = child.try_wait();
                child.kill();
                return Err(format!(
                    "gateway did not listen on {addr} (exit status: {status:?})\n--- gateway.log ---\n{}",
                    read_lossy(&log_path)
                ));
            }
        }
        Ok(Gateway {
            child,
            dir,
            config,
            proxy,
            admin,
        })
    }

    /// `http://<proxy_listen>`.
    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.proxy)
    }

    /// `http://<admin_listen>`; panics when the config has no `admin_listen`.
    pub fn admin_url(&self) -> String {
        format!(
            "http://{}",
            self.admin.expect("the config has no gateway.admin_listen")
        )
    }

    /// The proxy listener.
    pub fn proxy_addr(&self) -> SocketAddr {
        self.proxy
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Everything the gateway wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        read_lossy(&self.log_path())
    }

    /// Path of the log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("gateway.log")
    }

    /// Wait until the log contains `needle`; `false` after `timeout`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The config file the gateway runs with (the Admin API writes back to it; SIGHUP re-reads it).
    pub fn config_path(&self) -> PathBuf {
        self.config.clone()
    }

    /// The config file's current contents.
    pub fn config(&self) -> String {
        read_lossy(&self.config_path())
    }

    /// Replace the config file (atomically, by rename); send SIGHUP yourself to make the gateway re-read it.
    pub fn write_config(&self, yaml: &str) {
        let tmp = self.config.with_extension("yaml.tmp");
        fs::write(&tmp, yaml).expect("write the temp config");
        fs::rename(&tmp, self.config_path()).expect("rename the config into place");
    }

    /// The temp dir holding the config, the log and the pid file.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Send a signal to the gateway process (e.g. `libc::SIGHUP`, `libc::SIGTERM`).
    pub fn signal(&self, signal: i32) {
        self.child.signal(signal);
    }

    /// Wait up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.child.wait_timeout(timeout)
    }

    /// `Some(status)` once the process has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait()
    }
}

/// `gateway.proxy_listen` and `gateway.admin_listen` of a config, as addresses to connect to.
fn listen_addrs(yaml: &str) -> Result<(SocketAddr, Option<SocketAddr>), String> {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(yaml).map_err(|e| format!("the test config is not YAML: {e}"))?;
    let get = |key: &str| {
        doc.get("gateway")
            .and_then(|g| g.get(key))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let proxy = get("proxy_listen")
        .ok_or("the test config needs gateway.proxy_listen (tests never use port 8000)")?;
    // The first `proxy_listen` entry, without Kong-style flags such as ` ssl`.
    let first = proxy.split(',').next().unwrap_or_default();
    let proxy = connect_addr(first.split_whitespace().next().unwrap_or_default())?;
    let admin = get("admin_listen").map(|a| connect_addr(&a)).transpose()?;
    Ok((proxy, admin))
}

/// `0.0.0.0:P` → `127.0.0.1:P`; anything else must parse as a socket address.
fn connect_addr(listen: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = listen
        .parse()
        .map_err(|e| format!("bad listen address {listen:?}: {e}"))?;
    if addr.ip().is_unspecified() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], addr.port())));
    }
    Ok(addr)
}

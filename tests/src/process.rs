//! Child processes, temp dirs and loopback ports for the harness: nothing started here outlives its test.
//!
//! Every server runs in its own process group, so dropping its [`ChildGroup`] kills it and every process it
//! started (glewlwyd under idp.py, gunicorn's workers). Each direct child also gets `PR_SET_PDEATHSIG`, so a
//! test process killed without unwinding (nextest timeout, Ctrl-C) does not leave servers behind.

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A directory under the system temp dir, removed on drop unless the test failed or `E2E_KEEP=1`.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Create `<tmp>/e2e-<prefix>-<pid>-<n>-<nanos>`.
    pub fn new(prefix: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("e2e-{prefix}-{}-{n}-{nanos}", std::process::id()));
        fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("create temp dir {}: {e}", path.display()));
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("E2E_KEEP").is_some_and(|v| v == "1") {
            eprintln!("e2e: keeping {}", self.path.display());
            return;
        }
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A spawned server: leader of its own process group; the whole group is stopped on drop.
#[derive(Debug)]
pub struct ChildGroup {
    child: Child,
    name: String,
    /// Sent to the leader first so it can reap its own children (no zombies when PID 1 does not reap).
    stop_signal: Option<(i32, Duration)>,
}

impl ChildGroup {
    /// Spawn `cmd` as the leader of a new process group. `death_signal` is sent to the leader when this
    /// process dies (`PR_SET_PDEATHSIG`; SIGTERM lets a leader stop and reap its children, and kills a
    /// process that has no handler yet). `stop`: the signal that stops the leader cleanly on drop and how
    /// long to wait before SIGKILLing the group (`None`: SIGKILL at once).
    pub fn spawn(
        name: &str,
        mut cmd: Command,
        death_signal: i32,
        stop: Option<(i32, Duration)>,
    ) -> io::Result<ChildGroup> {
        cmd.process_group(0);
        let parent = std::process::id();
        // SAFETY: the closure runs in the forked child before exec and only calls async-signal-safe
        // functions (prctl, getppid, _exit); it allocates nothing.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    death_signal as libc::c_ulong,
                    0,
                    0,
                    0,
                );
                // The parent may have died between fork and prctl: then nobody would ever kill us.
                if libc::getppid() as u32 != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        Ok(ChildGroup {
            child,
            name: name.to_string(),
            stop_signal: stop,
        })
    }

    /// Take the child's stdout (when spawned with `Stdio::piped()`).
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// The process id (also the process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` once the leader has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Wait up to `timeout` for the leader to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Send `signal` (e.g. `libc::SIGHUP`) to the leader only.
    pub fn signal(&self, signal: i32) {
        send_signal(self.pid() as i32, signal);
    }

    /// Send `signal` to every process of the group.
    pub fn signal_group(&self, signal: i32) {
        send_signal(-(self.pid() as i32), signal);
    }

    /// Stop the whole group: the stop signal (if any) to the leader, then SIGKILL to the group; reap the leader.
    pub fn kill(&mut self) {
        if let Some((signal, grace)) = self.stop_signal {
            if self.try_wait().is_none() {
                self.signal(signal);
                self.wait_timeout(grace);
            }
        }
        self.signal_group(libc::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What this child is, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ChildGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

fn send_signal(pid: i32, signal: i32) {
    if pid == 0 || pid == -1 {
        return; // never signal our own group or every process
    }
    // SAFETY: kill(2) has no memory-safety preconditions.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid, signal);
    }
}

/// A port on 127.0.0.1 that was free a moment ago, below the ephemeral range (so outgoing connections do not
/// grab it), never handed out twice by this process, nor by another test process within
/// [`PORT_RESERVATION`] (see [`reserve_across_processes`]). Starting servers retry on a clash with anything
/// else.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let state = RandomState::new();
    for attempt in 0u64..1000 {
        let mut h = state.build_hasher();
        h.write_u64(attempt);
        h.write_u32(std::process::id());
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        let port = 20000 + (h.finish() % 12000) as u16;
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        let given = given.get_or_insert_with(HashSet::new);
        if given.contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() && reserve_across_processes(port) {
            given.insert(port);
            return port;
        }
    }
    // Fall back to the kernel's choice.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// How long a port handed out by [`free_port`] stays reserved for the test process that got it.
pub const PORT_RESERVATION: Duration = Duration::from_secs(600);

/// Claims `port` for this process in a directory every test process shares (one file per port, created
/// with `O_EXCL`), so that two tests running at once never get the same port: nextest runs each test in
/// its own process, and a port checked free here may otherwise be bound by another test's server before
/// ours binds it (a gateway whose admin port was taken by another test's httpbin). A claim older than
/// [`PORT_RESERVATION`] is stale and taken over. `true` when the port is ours.
fn reserve_across_processes(port: u16) -> bool {
    let dir = std::env::temp_dir().join("gateway-e2e-ports");
    if fs::create_dir_all(&dir).is_err() {
        return true; // no shared directory: the in-process check alone
    }
    let path = dir.join(port.to_string());
    for _ in 0..2 {
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(_) => return true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let age = fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok());
                match age {
                    Some(age) if age < PORT_RESERVATION => return false,
                    _ => {
                        let _ = fs::remove_file(&path);
                    }
                }
            }
            Err(_) => return true,
        }
    }
    false
}

/// Whether something accepts TCP connections at `addr`.
pub fn port_open(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Wait until `addr` accepts TCP connections; `false` on timeout or when `alive` says the server died.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration, mut alive: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(5);
    while Instant::now() < deadline {
        if port_open(addr) {
            return true;
        }
        if !alive() {
            return false;
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(100));
    }
    false
}

/// The file's contents, or an empty string.
pub fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

//! The DNS side of the edge tests: a real dnsmasq on a loopback port answering from its own hosts file (1 s
//! TTL), and small HTTP upstreams that say who they are, on any loopback address (127.0.0.1, 127.0.0.2, …).

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::process::{free_port, read_lossy, wait_for_port, ChildGroup, TempDir};

/// dnsmasq's path (`scripts/setup.sh` installs `dnsmasq-base`).
pub const DNSMASQ: &str = "/usr/sbin/dnsmasq";

/// A dnsmasq serving names under `.test` from a hosts file on 127.0.0.1:<port> (UDP and TCP), TTL 1 s. Names
/// under `.test` that are not in the file answer NXDOMAIN; nothing is forwarded. Stopped on drop.
#[derive(Debug)]
pub struct Dnsmasq {
    child: Option<ChildGroup>,
    port: u16,
    records: Vec<(String, String)>,
    hosts: PathBuf,
    log: PathBuf,
    dir: TempDir,
}

impl Dnsmasq {
    /// Start dnsmasq with `records` (`(name, ip)` pairs); panics with its output if it does not start.
    pub fn start(records: &[(&str, &str)]) -> Dnsmasq {
        let dir = TempDir::new("dnsmasq");
        let mut dns = Dnsmasq {
            child: None,
            port: 0,
            records: records
                .iter()
                .map(|(n, ip)| (n.to_string(), ip.to_string()))
                .collect(),
            hosts: dir.path().join("hosts"),
            log: dir.path().join("dnsmasq.log"),
            dir,
        };
        dns.write_hosts();
        for _ in 0..5 {
            if dns.spawn(free_port()) {
                return dns;
            }
        }
        panic!(
            "dnsmasq did not start\n--- dnsmasq.log ---\n{}",
            read_lossy(&dns.log)
        );
    }

    fn spawn(&mut self, port: u16) -> bool {
        let Ok(log) = fs::File::create(&self.log) else {
            return false;
        };
        let Ok(log2) = log.try_clone() else {
            return false;
        };
        let mut cmd = Command::new(DNSMASQ);
        cmd.args([
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--local=/test/",
            "--local-ttl=1",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--pid-file=",
            "--user=root",
            "--log-facility=-",
        ])
        .arg(format!("--addn-hosts={}", self.hosts.display()))
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
        let Ok(mut child) = ChildGroup::spawn("dnsmasq", cmd, libc::SIGKILL, None) else {
            return false;
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if !wait_for_port(addr, Duration::from_secs(5), || child.try_wait().is_none()) {
            child.kill();
            return false;
        }
        self.port = port;
        self.child = Some(child);
        true
    }

    /// `127.0.0.1:<port>`, the value for `gateway.dns_resolver`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Point `name` at `ip` (replacing its records) and make dnsmasq re-read its file (SIGHUP).
    pub fn set(&mut self, name: &str, ip: &str) {
        self.records.retain(|(n, _)| n != name);
        self.records.push((name.to_string(), ip.to_string()));
        self.reload();
    }

    /// Remove `name`'s records (it answers NXDOMAIN from now on).
    pub fn remove(&mut self, name: &str) {
        self.records.retain(|(n, _)| n != name);
        self.reload();
    }

    fn reload(&self) {
        self.write_hosts();
        if let Some(child) = &self.child {
            child.signal(libc::SIGHUP);
        }
        // dnsmasq re-reads the file when it handles the signal: let it.
        std::thread::sleep(Duration::from_millis(100));
    }

    /// Stop dnsmasq (queries to its port then fail); the handle can still be dropped.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill();
        }
    }

    fn write_hosts(&self) {
        let text: String = self
            .records
            .iter()
            .map(|(name, ip)| format!("{ip} {name}\n"))
            .collect();
        fs::write(&self.hosts, text).expect("write dnsmasq's hosts file");
    }

    /// dnsmasq's temp dir (an empty file there makes a good `gateway.dns_hostsfile`).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// A minimal HTTP/1.1 upstream (keep-alive) on `ip:port` answering every request with `200` and its name.
/// Dropping it stops accepting; [`WhoAmI::kill`] also resets every open connection, as a crashed process would.
#[derive(Debug)]
pub struct WhoAmI {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl WhoAmI {
    /// Serve `name` on `ip:port` (e.g. `127.0.0.2`); panics if the address cannot be bound.
    pub fn start(ip: &str, port: u16, name: &str) -> WhoAmI {
        let addr: SocketAddr = format!("{ip}:{port}").parse().expect("an ip:port");
        let listener =
            TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind the upstream {addr}: {e}"));
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (stop2, conns2, body) = (stop.clone(), conns.clone(), name.to_string());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                if let Ok(c) = conn.try_clone() {
                    conns2.lock().unwrap_or_else(|e| e.into_inner()).push(c);
                }
                let (body, stop) = (body.clone(), stop2.clone());
                std::thread::spawn(move || serve(conn, &body, &stop));
            }
        });
        WhoAmI { addr, stop, conns }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop listening and shut every open connection down: the port refuses connections from now on.
    pub fn kill(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        for c in self
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for WhoAmI {
    fn drop(&mut self) {
        if !self.stop.swap(true, Ordering::Relaxed) {
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        }
    }
}

fn serve(conn: TcpStream, body: &str, stop: &AtomicBool) {
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    loop {
        let mut line = String::new();
        let mut close = false;
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        loop {
            let mut header = String::new();
            match reader.read_line(&mut header) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let header = header.trim_end().to_ascii_lowercase();
            if header.is_empty() {
                break;
            }
            if header.starts_with("connection:") && header.contains("close") {
                close = true;
            }
        }
        let close = close || stop.load(Ordering::Relaxed);
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n{body}",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        if out.write_all(response.as_bytes()).is_err() || close {
            return;
        }
    }
}

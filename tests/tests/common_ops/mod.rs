//! Helpers of the operations tests (`reload.rs`, `upgrade.rs`): a tiny in-test upstream, a bounded HTTP load
//! from client threads, and small waiting and counting helpers.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A minimal HTTP/1.1 upstream on 127.0.0.1 that answers every request with its `name` as the body
/// (keep-alive). `GET /slow` is held until [`TinyUpstream::release_slow`] is called.
pub struct TinyUpstream {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    slow: Arc<SlowGate>,
}

#[derive(Default)]
struct SlowGate {
    arrived: AtomicUsize,
    released: Mutex<bool>,
    cond: Condvar,
}

impl TinyUpstream {
    /// Start serving `name` on a kernel-chosen port.
    pub fn start(name: &str) -> TinyUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the tiny upstream");
        let addr = listener.local_addr().expect("local_addr");
        let stop = Arc::new(AtomicBool::new(false));
        let slow = Arc::new(SlowGate::default());
        let body: Arc<str> = Arc::from(name);
        let (stop2, slow2) = (stop.clone(), slow.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (body, slow) = (body.clone(), slow2.clone());
                std::thread::spawn(move || serve_connection(conn, &body, &slow));
            }
        });
        TinyUpstream { addr, stop, slow }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many `/slow` requests have arrived.
    pub fn slow_arrived(&self) -> usize {
        self.slow.arrived.load(Ordering::SeqCst)
    }

    /// Let every held (and future) `/slow` request answer.
    pub fn release_slow(&self) {
        *self.slow.released.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.slow.cond.notify_all();
    }
}

impl Drop for TinyUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.release_slow();
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn serve_connection(conn: TcpStream, body: &str, slow: &SlowGate) {
    let Ok(write_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    let mut out = write_half;
    loop {
        // Request line and headers (the gateway sends no request body for GET).
        let mut request_line = String::new();
        match reader.read_line(&mut request_line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut close = false;
        let mut content_length = 0usize;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("connection:") && lower.contains("close") {
                close = true;
            }
            if let Some(v) = lower.strip_prefix("content-length:") {
                content_length = v.trim().parse().unwrap_or(0);
            }
        }
        if content_length > 0 {
            let mut buf = vec![0u8; content_length];
            if std::io::Read::read_exact(&mut reader, &mut buf).is_err() {
                return;
            }
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or("/");
        if path.ends_with("/slow") {
            slow.arrived.fetch_add(1, Ordering::SeqCst);
            let mut released = slow.released.lock().unwrap_or_else(|e| e.into_inner());
            while !*released {
                released = slow.cond.wait(released).unwrap_or_else(|e| e.into_inner());
            }
        }
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

/// One request of a load run.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The value of the load's `epoch` just before the request was sent.
    pub before: u64,
    /// The value of `epoch` just after the response was read.
    pub after: u64,
    /// `Ok(body)` for a 200; `Err(reason)` for any other status or a transport error.
    pub outcome: Result<String, String>,
    /// The first attempt's connection was closed before any response (see [`Load::start`]'s `retry_closed`).
    pub retried: bool,
}

/// Whether a transport error is "the server closed the connection before answering": the case in which
/// RFC 9112 §9.3.1 lets a client retry an idempotent request on a new connection. Refused connections,
/// timeouts and error statuses are not.
fn closed_before_response(e: &reqwest::Error) -> bool {
    let text = format!("{e:?}");
    !e.is_connect()
        && !e.is_timeout()
        && (text.contains("IncompleteMessage") || text.contains("ConnectionReset"))
}

/// Client threads sending `GET url` until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<Vec<Sample>>>,
}

/// How the load's clients use connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connections {
    /// One keep-alive connection per client thread.
    KeepAlive,
    /// A new connection for every request (`Connection: close`).
    PerRequest,
}

impl Load {
    /// Start `threads` clients; each sends a request, records it, sleeps `pause`, and repeats. `epoch` is read
    /// around every request (see [`Sample`]). With `retry_closed`, a request whose connection the server closed
    /// before answering is sent once more (as HTTP clients may for idempotent requests) and marked `retried`.
    pub fn start(
        url: &str,
        threads: usize,
        connections: Connections,
        pause: Duration,
        epoch: Arc<AtomicU64>,
        retry_closed: bool,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let threads = (0..threads)
            .map(|_| {
                let (url, stop, done, epoch) =
                    (url.to_string(), stop.clone(), done.clone(), epoch.clone());
                std::thread::spawn(move || {
                    let mut builder = reqwest::blocking::Client::builder()
                        .no_proxy()
                        .timeout(Duration::from_secs(20));
                    if connections == Connections::PerRequest {
                        builder = builder.pool_max_idle_per_host(0);
                    }
                    let client = builder.build().expect("build the load client");
                    let mut samples = Vec::new();
                    while !stop.load(Ordering::SeqCst) {
                        let before = epoch.load(Ordering::SeqCst);
                        let send = || {
                            let mut req = client.get(&url);
                            if connections == Connections::PerRequest {
                                req = req.header("Connection", "close");
                            }
                            req.send()
                        };
                        let mut retried = false;
                        let mut sent = send();
                        if retry_closed && sent.as_ref().is_err_and(closed_before_response) {
                            retried = true;
                            sent = send();
                        }
                        let outcome = match sent {
                            Ok(resp) if resp.status() == 200 => {
                                resp.text().map_err(|e| format!("reading the body: {e}"))
                            }
                            Ok(resp) => Err(format!(
                                "status {}: {}",
                                resp.status(),
                                resp.text().unwrap_or_default()
                            )),
                            Err(e) => Err(format!("transport: {e:?}")),
                        };
                        let after = epoch.load(Ordering::SeqCst);
                        samples.push(Sample {
                            before,
                            after,
                            outcome,
                            retried,
                        });
                        done.fetch_add(1, Ordering::SeqCst);
                        if !pause.is_zero() {
                            std::thread::sleep(pause);
                        }
                    }
                    samples
                })
            })
            .collect();
        Load {
            stop,
            done,
            threads,
        }
    }

    /// Requests completed so far.
    pub fn done(&self) -> usize {
        self.done.load(Ordering::SeqCst)
    }

    /// Wait until at least `n` requests have completed in total; `false` after `timeout`.
    pub fn wait_done(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.done() < n {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    /// Stop the clients and return every sample.
    pub fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::SeqCst);
        self.threads
            .into_iter()
            .flat_map(|t| t.join().expect("a load thread panicked"))
            .collect()
    }
}

/// The failed samples, summarised for an assertion message (first few reasons).
pub fn failures(samples: &[Sample]) -> (usize, Vec<String>) {
    let failed: Vec<String> = samples
        .iter()
        .filter_map(|s| s.outcome.as_ref().err().cloned())
        .collect();
    let n = failed.len();
    (n, failed.into_iter().take(5).collect())
}

/// Occurrences of `needle` in `text`.
pub fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

/// Wait until `f()` holds; `false` after `timeout`.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

//! Test helper: a tiny HTTP/1.1 IdP on a local port that records requests and answers from a closure.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request the fake IdP received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Request path (with query).
    pub path: String,
    /// Raw header block, lowercased.
    pub headers: String,
    /// Body as text.
    pub body: String,
}

/// The answer: status, body, delay before answering.
pub type Reply = (u16, String, Duration);

type Handler = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

/// A running fake IdP.
pub struct FakeIdp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Requests received so far.
    pub calls: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeIdp {
    /// Starts a server answering with `handler`.
    pub async fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> FakeIdp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let c = calls.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(sock, handler.clone(), c.clone()));
            }
        });
        FakeIdp { base, calls }
    }

    /// Number of requests to paths ending with `suffix`.
    pub fn count(&self, suffix: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path.ends_with(suffix))
            .count()
    }

    /// The last request to a path ending with `suffix`.
    pub fn last(&self, suffix: &str) -> Option<Recorded> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|r| r.path.ends_with(suffix))
            .cloned()
    }
}

async fn serve(mut sock: TcpStream, handler: Handler, calls: Arc<Mutex<Vec<Recorded>>>) {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let mut chunk = [0u8; 4096];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())
                    .flatten()
            })
            .unwrap_or(0);
        while buf.len() < head_end + 4 + len {
            let mut chunk = [0u8; 4096];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = String::from_utf8_lossy(&buf[head_end + 4..head_end + 4 + len]).to_string();
        buf.drain(..head_end + 4 + len);
        let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
        let rec = Recorded {
            path,
            headers: head.to_ascii_lowercase(),
            body,
        };
        calls.lock().unwrap().push(rec.clone());
        let (status, body, delay) = handler(&rec);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let resp = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if sock.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
    }
}

//! Moving bytes for stream routes: a stream that replays the bytes already read (the ClientHello) before
//! the socket's, and the two-way splice with Kong's stream timeouts.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// `inner` with `prefix` read first (bytes a peek consumed); writes go to `inner`.
pub struct Rewind<S> {
    prefix: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S> Rewind<S> {
    /// Replays `prefix`, then reads `inner`.
    pub fn new(prefix: Vec<u8>, inner: S) -> Self {
        Rewind {
            prefix,
            at: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.at < self.prefix.len() {
            let rest = &self.prefix[self.at..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            self.at += n;
            if self.at == self.prefix.len() {
                self.prefix = Vec::new();
                self.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The stream timeouts of a service: Kong's `proxy_timeout` (no byte in either direction for `idle`: the
/// connection is closed) and a write that makes no progress for `write`.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// The service's `read_timeout`.
    pub idle: Duration,
    /// The service's `write_timeout`.
    pub write: Duration,
}

/// Copies both ways until both sides have closed (each EOF is passed on as a shutdown of the other side's
/// write half), an error, or the timeouts. Returns the bytes sent upstream and to the client.
pub async fn splice<A, B>(client: A, upstream: B, t: Timeouts) -> (u64, u64)
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let start = Instant::now();
    let last = AtomicU64::new(0);
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut ur, mut uw) = tokio::io::split(upstream);
    let up = one_way(&mut cr, &mut uw, t, start, &last);
    let down = one_way(&mut ur, &mut cw, t, start, &last);
    tokio::pin!(up, down);
    // When one direction fails (not a clean EOF), the other is dropped: the connection ends.
    let (mut sent, mut received) = (None, None);
    while sent.is_none() || received.is_none() {
        tokio::select! {
            r = &mut up, if sent.is_none() => match r {
                Ok(n) => sent = Some(n),
                Err(n) => return (n, received.unwrap_or(0)),
            },
            r = &mut down, if received.is_none() => match r {
                Ok(n) => received = Some(n),
                Err(n) => return (sent.unwrap_or(0), n),
            },
        }
    }
    (sent.unwrap_or(0), received.unwrap_or(0))
}

/// One direction: `Ok(bytes)` at a clean EOF (passed on), `Err(bytes)` on an error or a timeout.
async fn one_way<R, W>(
    r: &mut R,
    w: &mut W,
    t: Timeouts,
    start: Instant,
    last: &AtomicU64,
) -> Result<u64, u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0u64;
    loop {
        let n = match tokio::time::timeout(t.idle, r.read(&mut buf)).await {
            Ok(Ok(0)) => {
                let _ = tokio::time::timeout(t.write, w.shutdown()).await;
                return Ok(total);
            }
            Ok(Ok(n)) => n,
            Ok(Err(_)) => return Err(total),
            Err(_) => {
                // Idle in this direction: the connection is idle only when the other one is too.
                let since = start.elapsed().as_millis() as u64 - last.load(Ordering::Relaxed);
                if Duration::from_millis(since) >= t.idle {
                    return Err(total);
                }
                continue;
            }
        };
        last.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
        match tokio::time::timeout(t.write, w.write_all(&buf[..n])).await {
            Ok(Ok(())) => {}
            _ => return Err(total),
        }
        let _ = tokio::time::timeout(t.write, w.flush()).await;
        last.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
        total += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rewind_replays_then_reads() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut r = Rewind::new(b"hello ".to_vec(), a);
        b.write_all(b"world").await.unwrap();
        drop(b);
        let mut out = String::new();
        r.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "hello world");
    }

    #[tokio::test]
    async fn splice_both_ways_and_half_close() {
        let (client, mut client_far) = tokio::io::duplex(1024);
        let (upstream, mut upstream_far) = tokio::io::duplex(1024);
        let t = Timeouts {
            idle: Duration::from_secs(5),
            write: Duration::from_secs(5),
        };
        let task = tokio::spawn(async move { splice(client, upstream, t).await });
        client_far.write_all(b"ping").await.unwrap();
        client_far.shutdown().await.unwrap();
        let mut got = Vec::new();
        upstream_far.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"ping");
        upstream_far.write_all(b"pong!").await.unwrap();
        drop(upstream_far);
        let mut back = Vec::new();
        client_far.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"pong!");
        assert_eq!(task.await.unwrap(), (4, 5));
    }

    #[tokio::test]
    async fn idle_connections_close() {
        let (client, _client_far) = tokio::io::duplex(64);
        let (upstream, _upstream_far) = tokio::io::duplex(64);
        let t = Timeouts {
            idle: Duration::from_millis(100),
            write: Duration::from_millis(100),
        };
        assert_eq!(splice(client, upstream, t).await, (0, 0));
    }
}

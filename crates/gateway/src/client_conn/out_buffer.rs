//! Response buffering (Kong's `response_buffering`) at the client's socket: what the proxy writes to an
//! HTTP/1 client that is not reading fast enough is taken at once, into memory up to
//! `response_buffer_size`, then into the connection's temporary file up to `proxy_max_temp_file_size`, so
//! Pingora's proxy loop reads the upstream's answer as fast as it comes and hands the upstream connection
//! back to its pool; the buffer drains to the socket as the client reads. Past both bounds (or with
//! `response_buffering: false`) writes wait for the client, as without buffering. `send_timeout` bounds
//! the wait for any progress of the drain.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use pingora::protocols::Stream;
use tokio::io::AsyncWrite;
use tokio::time::{Instant, Sleep};

use crate::buffering::temp::TempFile;
use crate::buffering::BufferLimits;
use crate::metrics::Metrics;

/// Bytes read back from the temporary file at a time.
const FILE_CHUNK: usize = 16 * 1024;

/// The bytes written for the client and not yet taken by its socket, in order: memory, then the file.
pub(super) struct OutBuffer {
    mem: VecDeque<Bytes>,
    mem_len: usize,
    mem_max: usize,
    file: Option<TempFile>,
    /// Bytes of the file already moved back to memory.
    file_read: u64,
    file_max: u64,
    limits: Arc<BufferLimits>,
    send_timeout: Duration,
    last_progress: Instant,
    /// The `send_timeout` timer, made the first time the socket is full.
    sleep: Option<Pin<Box<Sleep>>>,
    metrics: Arc<Metrics>,
    /// The file was full once since it last emptied (counted once).
    overflowed: bool,
}

impl OutBuffer {
    pub(super) fn new(
        limits: Arc<BufferLimits>,
        send_timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        OutBuffer {
            mem: VecDeque::new(),
            mem_len: 0,
            mem_max: limits.response_memory,
            file: None,
            file_read: 0,
            file_max: limits.response_file,
            limits,
            send_timeout,
            last_progress: Instant::now(),
            sleep: None,
            metrics,
            overflowed: false,
        }
    }

    /// The limits it was made with.
    pub(super) fn limits(&self) -> Arc<BufferLimits> {
        self.limits.clone()
    }

    fn file_unread(&self) -> u64 {
        self.file.as_ref().map_or(0, |f| f.len() - self.file_read)
    }

    /// Whether every byte reached the socket.
    pub(super) fn is_empty(&self) -> bool {
        self.mem_len == 0 && self.file_unread() == 0
    }

    /// Takes as much of `buf` as the bounds allow (memory, then the file); `Ok(0)`: none.
    pub(super) fn push(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.is_empty() {
            self.last_progress = Instant::now();
        }
        let mut taken = 0;
        if self.file_unread() == 0 {
            taken = self.mem_max.saturating_sub(self.mem_len).min(buf.len());
            if taken > 0 {
                self.mem.push_back(Bytes::copy_from_slice(&buf[..taken]));
                self.mem_len += taken;
            }
        }
        let rest = &buf[taken..];
        if rest.is_empty() || self.file_max == 0 {
            return Ok(taken);
        }
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(TempFile::create(&self.limits.files)?),
        };
        if file.append(rest, self.file_max)? {
            taken += rest.len();
        } else if !self.overflowed {
            self.overflowed = true;
            self.metrics.buffer_overflows.inc();
        }
        Ok(taken)
    }

    /// Writes buffered bytes to `inner` until none is left (`Ready(Ok)`) or the socket is full (`Pending`,
    /// with the waker registered, and `send_timeout` armed).
    pub(super) fn poll_drain(
        &mut self,
        cx: &mut Context<'_>,
        inner: &mut Stream,
    ) -> Poll<io::Result<()>> {
        loop {
            if let Some(front) = self.mem.front_mut() {
                match Pin::new(&mut *inner).poll_write(cx, front) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(n)) => {
                        front.advance(n);
                        self.mem_len -= n;
                        if front.is_empty() {
                            self.mem.pop_front();
                        }
                        self.last_progress = Instant::now();
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return self.poll_timeout(cx),
                }
            }
            let Some(file) = &mut self.file else {
                return Poll::Ready(Ok(()));
            };
            let unread = file.len() - self.file_read;
            if unread == 0 {
                if file.len() > 0 {
                    file.clear()?;
                    self.file_read = 0;
                    self.overflowed = false;
                }
                return Poll::Ready(Ok(()));
            }
            let mut chunk = vec![0u8; FILE_CHUNK.min(unread as usize)];
            let n = file.read_at(&mut chunk, self.file_read)?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
            }
            chunk.truncate(n);
            self.file_read += n as u64;
            self.mem_len += n;
            self.mem.push_back(Bytes::from(chunk));
        }
    }

    /// The socket took nothing: `send_timeout` after the last progress, the client is cut.
    fn poll_timeout(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let deadline = self.last_progress + self.send_timeout;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        if sleep.as_mut().poll(cx).is_ready() {
            self.metrics
                .client_timeouts
                .with_label_values(&["send"])
                .inc();
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "send_timeout")));
        }
        Poll::Pending
    }
}

/// Drains what a dropped connection still had buffered, then shuts the socket down (the proxy is done with
/// the connection: Pingora's keep-alive wait ended, or the request failed after the answer was buffered).
pub(super) async fn drain_then_close(mut out: OutBuffer, mut inner: Stream) {
    let drained = std::future::poll_fn(|cx| out.poll_drain(cx, &mut inner)).await;
    if let Err(e) = drained {
        log::debug!("a buffered answer was not fully sent: {e}");
    }
    inner.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_keep_their_order_through_memory_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Arc::new(BufferLimits {
            body_memory: 8,
            max_body: None,
            response_memory: 4,
            response_file: 10,
            files: Arc::new(crate::buffering::temp::TempFiles::new(
                dir.path().into(),
                1 << 20,
            )),
        });
        let metrics = Arc::new(Metrics::new(&prometheus::Registry::new()).unwrap());
        let mut out = OutBuffer::new(limits, Duration::from_secs(1), metrics);
        assert_eq!(
            out.push(b"abcdef").unwrap(),
            6,
            "4 in memory, 2 in the file"
        );
        assert_eq!(
            out.push(b"gh").unwrap(),
            2,
            "after the file's bytes: the file"
        );
        assert_eq!(
            out.push(b"0123456789").unwrap(),
            0,
            "past proxy_max_temp_file_size"
        );
        assert_eq!(out.file_unread(), 4);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            use tokio::io::AsyncReadExt;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (tcp, accepted) =
                tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
            let mut peer = accepted.unwrap().0;
            let mut inner: Stream =
                Box::new(pingora::protocols::l4::stream::Stream::from(tcp.unwrap()));
            std::future::poll_fn(|cx| out.poll_drain(cx, &mut inner))
                .await
                .unwrap();
            assert!(out.is_empty());
            assert_eq!(out.push(b"ij").unwrap(), 2, "memory again once drained");
            drain_then_close(out, inner).await;
            let mut got = Vec::new();
            peer.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, b"abcdefghij");
        });
    }
}

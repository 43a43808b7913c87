//! Slow and abusive clients, per connection: every accepted proxy connection is wrapped ([`ClientLimitsApp`],
//! [`ClientStream`]) so that
//! - the request head has a **total** deadline (`client_header_timeout`; Pingora's own read timeout is per
//!   read, so a client trickling a byte now and then held a connection forever): from the accept, or on a
//!   kept-alive connection from the head's first byte, to the end of the head (the proxy's
//!   `early_request_filter` says so through [`state`]). Past it the client gets `408` and the connection is
//!   closed;
//! - the request body has a total deadline (`client_body_total_timeout`) from the end of its head to its
//!   last byte (the per-read `client_body_timeout` and `send_timeout` are Pingora's session timeouts, set per
//!   request by the proxy);
//! - an HTTP/2 connection's incoming frame headers are read as they pass (nothing is buffered or changed):
//!   past `keepalive_requests` streams, or past [`H2_MAX_CLIENT_RESETS`] streams the client reset
//!   (`RST_STREAM`, whether or not the stream was already forwarded), the connection gets a graceful GOAWAY
//!   (the per-connection shutdown signal Pingora's HTTP/2 accept loop already obeys); a client that keeps
//!   going far past it is disconnected.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::Stream;
use pingora::proxy::Session;
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use crate::buffering::BufferLimits;
use crate::metrics::Metrics;

mod delegate;
mod h2_frames;
mod hooks;
mod out_buffer;
use h2_frames::H2Frames;
pub use hooks::{body_read, client_timeout_response, request_ended, request_started};

/// Client resets (`RST_STREAM`) an HTTP/2 connection may send before it gets GOAWAY (rapid reset,
/// CVE-2023-44487, including streams cancelled after they were forwarded, which h2's own
/// `max_pending_accept_reset_streams` does not see).
pub const H2_MAX_CLIENT_RESETS: u32 = 100;
/// Streams (and resets) past the GOAWAY threshold a client may still send before it is disconnected.
const H2_GOAWAY_GRACE: u32 = 100;
/// The HTTP/2 connection preface.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// What a client whose head took too long gets (Kong's 408 body), before the connection is closed.
const REQUEST_TIMEOUT_408: &[u8] = b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 30\r\nConnection: close\r\n\r\n{\"message\":\"Request timeout\"}";

/// The per-connection limits, fixed at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// `client_header_timeout`.
    pub header: Duration,
    /// `client_body_total_timeout` (`None`: no bound).
    pub body_total: Option<Duration>,
    /// `keepalive_requests`: streams per HTTP/2 connection.
    pub h2_streams: u32,
    /// [`H2_MAX_CLIENT_RESETS`].
    pub h2_resets: u32,
    /// `client_body_timeout`: Pingora's per-read timeout of the body.
    pub body_read: Duration,
    /// `send_timeout`: Pingora's per-write timeout of the answer.
    pub send: Duration,
    /// `keepalive_timeout`: Pingora's idle wait for the next HTTP/1.1 request (whole seconds, at least 1).
    pub keepalive_secs: u64,
}

impl ConnLimits {
    /// From the `gateway:` settings.
    pub fn new(s: &gateway_config::client_limits::ClientLimits) -> Self {
        ConnLimits {
            header: s.client_header_timeout.0,
            body_total: Some(s.client_body_total_timeout.0).filter(|d| !d.is_zero()),
            h2_streams: s.keepalive_requests,
            h2_resets: H2_MAX_CLIENT_RESETS,
            body_read: s.client_body_timeout.0,
            send: s.send_timeout.0,
            keepalive_secs: s.keepalive_timeout.0.as_secs().max(1),
        }
    }
}

/// Where a connection is in its request cycle (HTTP/1), which decides the deadline its reads have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// Reading a request head: `client_header_timeout` from its start.
    Head = 0,
    /// Reading a request body: `client_body_total_timeout` from the end of the head.
    Body = 1,
    /// The request is read; its answer is on its way.
    Done = 2,
    /// Between requests: `keepalive_timeout` from the end of the last request (Pingora's own keep-alive wait
    /// is left unbounded, see [`hooks::request_started`]); the first byte starts a head.
    Idle = 3,
    /// An HTTP/2 connection: frames are counted, the streams have h2's and Pingora's timeouts.
    H2 = 4,
}

/// [`ConnState::deadline`]'s mark of a head started on a kept-alive connection ([`ConnState::head_deadline`]).
const HEAD_STARTED: u64 = u64::MAX - 1;

/// What a connection's stream and the proxy's hooks share.
pub struct ConnState {
    phase: AtomicU8,
    /// The deadline of the current phase, in milliseconds since `origin` (`u64::MAX`: none;
    /// [`HEAD_STARTED`]: a head whose deadline starts at its first wait).
    deadline: AtomicU64,
    origin: Instant,
    body_timed_out: AtomicBool,
    limits: ConnLimits,
    metrics: Arc<Metrics>,
    /// The current route's `response_buffering` (HTTP/1; true until a route says otherwise).
    response_buffering: AtomicBool,
    /// Set to `true` to have Pingora's HTTP/2 accept loop send GOAWAY (also set on process shutdown).
    goaway: watch::Sender<bool>,
    /// The connection's last bearer token hash (the access phase runs in its scope).
    pub token_memo: Arc<gateway_auth::token_memo::TokenMemo>,
}

impl ConnState {
    fn new(limits: ConnLimits, metrics: Arc<Metrics>, goaway: watch::Sender<bool>) -> Self {
        let s = ConnState {
            phase: AtomicU8::new(Phase::Head as u8),
            deadline: AtomicU64::new(u64::MAX),
            origin: Instant::now(),
            body_timed_out: AtomicBool::new(false),
            response_buffering: AtomicBool::new(true),
            limits,
            metrics,
            goaway,
            token_memo: Arc::default(),
        };
        s.enter(Phase::Head, Some(limits.header));
        s
    }

    fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Head,
            1 => Phase::Body,
            2 => Phase::Done,
            3 => Phase::Idle,
            _ => Phase::H2,
        }
    }

    fn enter(&self, phase: Phase, within: Option<Duration>) {
        let deadline = within.map_or(u64::MAX, |d| {
            (self.origin.elapsed() + d)
                .as_millis()
                .min(u128::from(HEAD_STARTED) - 1) as u64
        });
        self.deadline.store(deadline, Ordering::Relaxed);
        self.phase.store(phase as u8, Ordering::Relaxed);
    }

    fn deadline(&self) -> Option<Instant> {
        match self.deadline.load(Ordering::Relaxed) {
            u64::MAX | HEAD_STARTED => None,
            ms => Some(self.origin + Duration::from_millis(ms)),
        }
    }

    /// The deadline of a head that has to be waited for: a kept-alive connection's head counts from its
    /// first byte, taken as its first wait (the read that found the first byte and the one that waits are
    /// the same poll of the connection's task), so a head that arrives whole reads no clock.
    fn head_deadline(&self) -> Option<Instant> {
        if self.deadline.load(Ordering::Relaxed) == HEAD_STARTED {
            self.enter(Phase::Head, Some(self.limits.header));
        }
        self.deadline()
    }

    /// The request head is read: the body's total deadline starts (none when the request has no body).
    pub fn head_done(&self, has_body: bool) {
        if self.phase() == Phase::H2 {
            return;
        }
        if has_body {
            self.enter(Phase::Body, self.limits.body_total);
        } else {
            self.enter(Phase::Done, None);
        }
    }

    /// The request body was read to its end.
    pub fn body_done(&self) {
        if self.phase() == Phase::Body {
            self.enter(Phase::Done, None);
        }
    }

    /// The request is over: the connection waits for the next one, at most `keepalive_timeout`.
    pub fn request_done(&self) {
        if self.phase() != Phase::H2 {
            let keepalive = Duration::from_secs(self.limits.keepalive_secs);
            self.enter(Phase::Idle, Some(keepalive));
        }
    }

    /// The current request's route buffers its answer (`response_buffering`) or not.
    pub fn set_response_buffering(&self, on: bool) {
        self.response_buffering.store(on, Ordering::Relaxed);
    }

    /// Whether the body's total deadline cut this connection's request.
    pub fn body_timed_out(&self) -> bool {
        self.body_timed_out.load(Ordering::Relaxed)
    }

    fn send_goaway(&self, reason: &str) {
        if !*self.goaway.borrow() {
            self.metrics.h2_goaway.with_label_values(&[reason]).inc();
            self.goaway.send_replace(true);
        }
    }
}

/// The connection state of an HTTP/1 request's connection (`None` for HTTP/2 streams and for connections
/// not accepted through [`ClientLimitsApp`]).
pub fn state(session: &Session) -> Option<&ConnState> {
    let stream = session.as_ref().stream()?;
    let any = (**stream).as_any();
    any.downcast_ref::<ClientStream>().map(|s| &*s.state)
}

/// Why `ClientStream::inner` is always there: it is taken only when the stream is dropped.
const PRESENT: &str = "the accepted stream is present until drop";

/// The accepted stream with the connection's deadlines, HTTP/2 frame count and response buffer.
pub struct ClientStream {
    inner: Option<Stream>,
    /// What was written for the client and not yet taken by its socket (`response_buffering`).
    out: out_buffer::OutBuffer,
    state: Arc<ConnState>,
    sleep: Pin<Box<Sleep>>,
    /// The deadline `sleep` is set to.
    armed: Option<Instant>,
    /// Bytes of the HTTP/2 preface matched so far (`None`: decided).
    preface: Option<usize>,
    frames: H2Frames,
    /// The connection was cut: every further read fails.
    cut: bool,
}

impl ClientStream {
    fn new(inner: Stream, state: Arc<ConnState>, buffers: Arc<BufferLimits>) -> Self {
        let out = out_buffer::OutBuffer::new(buffers, state.limits.send, state.metrics.clone());
        ClientStream {
            inner: Some(inner),
            out,
            state,
            sleep: Box::pin(tokio::time::sleep_until(Instant::now())),
            armed: None,
            preface: Some(0),
            frames: H2Frames::default(),
            cut: false,
        }
    }

    /// The current phase's deadline passed: count it, answer 408 to a head (best effort, one write), fail.
    fn fire(&mut self, cx: &mut Context<'_>, phase: Phase) -> Poll<io::Result<()>> {
        self.cut = true;
        let kind = if phase == Phase::Head {
            let _ = Pin::new(self.io()).poll_write(cx, REQUEST_TIMEOUT_408);
            let _ = Pin::new(self.io()).poll_flush(cx);
            "header"
        } else {
            self.state.body_timed_out.store(true, Ordering::Relaxed);
            "body"
        };
        self.state
            .metrics
            .client_timeouts
            .with_label_values(&[kind])
            .inc();
        log::info!("closing a client connection: client_{kind}_timeout");
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("client_{kind}_timeout"),
        )))
    }

    /// Looks at bytes just read: the HTTP/2 preface, frame headers, the first byte of a head after idling.
    fn observe(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        if let Some(seen) = self.preface {
            let n = (H2_PREFACE.len() - seen).min(rest.len());
            if rest[..n] == H2_PREFACE[seen..seen + n] {
                if seen + n == H2_PREFACE.len() {
                    self.preface = None;
                    self.state.enter(Phase::H2, None);
                } else {
                    self.preface = Some(seen + n);
                }
                rest = &rest[n..];
            } else {
                self.preface = None;
            }
        }
        match self.state.phase() {
            Phase::H2 => self.count_frames(rest),
            Phase::Idle => {
                (self.state.deadline).store(HEAD_STARTED, Ordering::Relaxed);
                (self.state.phase).store(Phase::Head as u8, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    /// Waiting for the next request (`keepalive_timeout`): the timer is armed once and moved only when it
    /// rings, not for each request (the deadline moves with every request; a timer armed earlier than it
    /// wakes the connection once, to be re-armed). Past the deadline the read ends as a client's close
    /// would: Pingora drops the connection without an answer, as its own keep-alive timeout does.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(end) = self.state.deadline() else {
            return Poll::Pending;
        };
        if self.armed.is_none_or(|at| at > end) {
            self.sleep.as_mut().reset(end);
            self.armed = Some(end);
        }
        while self.sleep.as_mut().poll(cx).is_ready() {
            if self.armed.is_some_and(|at| at >= end) {
                log::debug!("closing an idle kept-alive connection: keepalive_timeout");
                return Poll::Ready(Ok(()));
            }
            self.sleep.as_mut().reset(end);
            self.armed = Some(end);
        }
        Poll::Pending
    }

    fn count_frames(&mut self, bytes: &[u8]) {
        self.frames.feed(bytes);
        let (limits, f) = (self.state.limits, &self.frames);
        if f.streams > limits.h2_streams {
            self.state.send_goaway("streams");
        }
        if f.resets > limits.h2_resets {
            self.state.send_goaway("resets");
        }
        if f.streams > limits.h2_streams.saturating_add(H2_GOAWAY_GRACE)
            || f.resets > limits.h2_resets.saturating_add(H2_GOAWAY_GRACE)
        {
            log::info!("closing an HTTP/2 connection that ignored GOAWAY");
            self.cut = true;
        }
    }
}

impl std::fmt::Debug for ClientStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientStream")
            .field("inner", self.io_ref())
            .field("phase", &self.state.phase())
            .field("cut", &self.cut)
            .finish()
    }
}

fn cut_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "connection cut")
}

impl AsyncRead for ClientStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.cut {
            return Poll::Ready(Err(cut_error()));
        }
        let phase = this.state.phase();
        let deadline = match phase {
            Phase::Head | Phase::Body => this.state.deadline(),
            _ => None,
        };
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return this.fire(cx, phase);
        }
        let before = buf.filled().len();
        // A buffered answer drains while the connection waits for (or reads) the next request.
        if !this.out.is_empty() {
            let inner = this.inner.as_mut().expect(PRESENT);
            if let Poll::Ready(Err(e)) = this.out.poll_drain(cx, inner) {
                this.cut = true;
                return Poll::Ready(Err(e));
            }
        }
        match Pin::new(this.io()).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let filled = buf.filled();
                if filled.len() > before {
                    this.observe(&filled[before..]);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending if phase == Phase::Idle => this.poll_idle(cx),
            Poll::Pending => {
                let deadline = match phase {
                    Phase::Head => this.state.head_deadline(),
                    _ => deadline,
                };
                if let Some(d) = deadline {
                    if this.armed != Some(d) {
                        this.sleep.as_mut().reset(d);
                        this.armed = Some(d);
                    }
                    if this.sleep.as_mut().poll(cx).is_ready() {
                        return this.fire(cx, phase);
                    }
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let buffering = this.buffering();
        let inner = this.inner.as_mut().expect(PRESENT);
        let drained = if this.out.is_empty() {
            Poll::Ready(Ok(()))
        } else {
            this.out.poll_drain(cx, inner)
        };
        match drained {
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => match Pin::new(&mut *inner).poll_write(cx, buf) {
                Poll::Pending if buffering => {}
                other => return other,
            },
            Poll::Pending if buffering => {}
            Poll::Pending => return Poll::Pending,
        }
        // The socket is full: take what the bounds allow (the waker is registered by the write that waited).
        match this.out.push(buf)? {
            0 => Poll::Pending,
            n => Poll::Ready(Ok(n)),
        }
    }

    /// With buffering, what is buffered counts as flushed (it drains as the client reads).
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let buffering = this.buffering();
        let inner = this.inner.as_mut().expect(PRESENT);
        if !this.out.is_empty() {
            match this.out.poll_drain(cx, inner) {
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending if buffering => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) => {}
            }
        }
        Pin::new(inner).poll_flush(cx)
    }

    /// With bytes still buffered, the shutdown is left to the drain task [`Drop`] starts: Pingora shuts a
    /// connection down before it drops its session, and waiting here for a slow client would hold the whole
    /// session (its request, its up to 256 KiB write buffer, the proxy's context) until the client has read
    /// everything.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let inner = this.inner.as_mut().expect(PRESENT);
        if !this.out.is_empty() {
            match this.out.poll_drain(cx, inner) {
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {}
            }
        }
        Pin::new(inner).poll_shutdown(cx)
    }
}

impl ClientStream {
    fn io(&mut self) -> &mut Stream {
        self.inner.as_mut().expect(PRESENT)
    }

    /// The buffer, replaced by an empty one (its content goes to a drain task).
    fn take_out(&mut self) -> out_buffer::OutBuffer {
        let empty = out_buffer::OutBuffer::new(
            self.out.limits(),
            self.state.limits.send,
            self.state.metrics.clone(),
        );
        std::mem::replace(&mut self.out, empty)
    }

    fn io_ref(&self) -> &Stream {
        self.inner.as_ref().expect(PRESENT)
    }

    /// Whether answers are buffered now: an HTTP/1 connection whose current route has `response_buffering`.
    fn buffering(&self) -> bool {
        self.state.phase() != Phase::H2 && self.state.response_buffering.load(Ordering::Relaxed)
    }
}

impl Drop for ClientStream {
    /// A buffered answer still on its way is drained by a task of its own (bounded by `send_timeout`).
    fn drop(&mut self) {
        if self.out.is_empty() {
            return;
        }
        let (Some(inner), Ok(rt)) = (self.inner.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        rt.spawn(out_buffer::drain_then_close(self.take_out(), inner));
    }
}

/// A proxy app whose connections are accepted as [`ClientStream`]s, each with its own shutdown signal
/// (the process's, forwarded, or the connection's GOAWAY).
pub struct ClientLimitsApp<A> {
    inner: Arc<A>,
    limits: ConnLimits,
    buffers: Arc<BufferLimits>,
    metrics: Arc<Metrics>,
}

impl<A> ClientLimitsApp<A> {
    /// Wraps `inner`.
    pub fn new(
        inner: A,
        limits: ConnLimits,
        buffers: Arc<BufferLimits>,
        metrics: Arc<Metrics>,
    ) -> Self {
        ClientLimitsApp {
            inner: Arc::new(inner),
            limits,
            buffers,
            metrics,
        }
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for ClientLimitsApp<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let (tx, rx) = watch::channel(*shutdown.borrow());
        let state = Arc::new(ConnState::new(self.limits, self.metrics.clone(), tx));
        let wrapped: Stream = Box::new(ClientStream::new(
            stream,
            state.clone(),
            self.buffers.clone(),
        ));
        let work = self.inner.process_new(wrapped, &rx);
        tokio::pin!(work);
        let mut process = shutdown.clone();
        let mut forwarding = true;
        loop {
            tokio::select! {
                out = &mut work => return out,
                changed = process.changed(), if forwarding => {
                    if changed.is_err() || *process.borrow() {
                        forwarding = false;
                    }
                    if changed.is_ok() && *process.borrow() {
                        state.goaway.send_replace(true);
                    }
                }
            }
        }
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await
    }
}

#[cfg(test)]
mod tests;

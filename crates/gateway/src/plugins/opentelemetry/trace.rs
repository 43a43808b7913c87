//! One request's trace, held in [`crate::plugins::Exchange::trace`] from the start of the access phase to
//! the log phase: ids, the sampling decision, and the spans recorded so far (router, each plugin's access
//! handler, the IdP calls, the upstream attempts). A sampled-out request keeps only its ids (for
//! propagation) and records nothing.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use http::{HeaderName, HeaderValue};

use super::otlp::{Span, Value, KIND_CLIENT, KIND_INTERNAL};
use super::propagation::{self, Format, Outgoing};

/// A new random span id.
pub fn new_span_id() -> [u8; 8] {
    loop {
        let id: [u8; 8] = rand::random();
        if id != [0; 8] {
            return id;
        }
    }
}

/// A request's trace.
#[derive(Debug)]
pub struct Trace {
    /// The trace id (the incoming one when continued).
    pub trace_id: [u8; 16],
    /// The root span's id.
    pub root_id: [u8; 8],
    /// The caller's span, when the trace was continued.
    pub parent_id: Option<[u8; 8]>,
    /// Whether spans are recorded and exported.
    pub sampled: bool,
    /// The formats injected upstream.
    pub inject: Vec<Format>,
    /// The address of the plugin instance that exports the trace.
    pub exporter: usize,
    /// Unix nanoseconds at `base`.
    base_ns: u64,
    base: Instant,
    /// When the request started.
    pub start: Instant,
    /// Spans recorded (not the root).
    pub spans: Vec<Span>,
    /// The upstream attempt in progress.
    pub attempt: Option<Span>,
}

impl Trace {
    /// A trace started at `start`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        trace_id: [u8; 16],
        parent_id: Option<[u8; 8]>,
        sampled: bool,
        inject: Vec<Format>,
        exporter: usize,
        start: Instant,
    ) -> Self {
        let base = Instant::now();
        let base_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Trace {
            trace_id,
            root_id: new_span_id(),
            parent_id,
            sampled,
            inject,
            exporter,
            base_ns,
            base,
            start,
            spans: Vec::new(),
            attempt: None,
        }
    }

    /// Unix nanoseconds of `t`.
    pub fn ns(&self, t: Instant) -> u64 {
        if t >= self.base {
            self.base_ns + (t - self.base).as_nanos() as u64
        } else {
            self.base_ns
                .saturating_sub((self.base - t).as_nanos() as u64)
        }
    }

    /// Records an internal child span of the root.
    pub fn internal(&mut self, id: [u8; 8], name: std::borrow::Cow<'static, str>, start: Instant) {
        if !self.sampled {
            return;
        }
        let span = Span {
            id,
            parent: Some(self.root_id),
            name,
            kind: KIND_INTERNAL,
            start: self.ns(start),
            end: self.ns(Instant::now()),
            attributes: Vec::new(),
            error: None,
        };
        self.spans.push(span);
    }

    /// Records the IdP calls of a plugin's step as children of the plugin's span `parent`.
    pub fn idp_calls(&mut self, parent: [u8; 8], calls: Vec<gateway_auth::trace::IdpSpan>) {
        let unix = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        };
        for c in calls {
            let mut attributes = vec![
                ("http.method", Value::Str(c.method.to_string())),
                ("http.url", Value::Str(c.url)),
                (
                    "kong.idp.endpoint",
                    Value::Str(c.endpoint.as_str().to_string()),
                ),
            ];
            if let Some(s) = c.status {
                attributes.push(("http.status_code", Value::Int(s as i64)));
            }
            self.spans.push(Span {
                id: c.span_id,
                parent: Some(parent),
                name: "kong.internal.request".into(),
                kind: KIND_CLIENT,
                start: unix(c.start),
                end: unix(c.end),
                attributes,
                error: c.error,
            });
        }
    }

    /// An upstream attempt to `addr` starts (the previous one, if any, ended).
    pub fn attempt(&mut self, try_count: u32, addr: std::net::SocketAddr) {
        self.end_attempt(None, None);
        if !self.sampled {
            // Never exported: the upstream's parent is then the (equally unrecorded) root span.
            return;
        }
        let now = self.ns(Instant::now());
        self.attempt = Some(Span {
            id: new_span_id(),
            parent: Some(self.root_id),
            name: "kong.balancer".into(),
            kind: KIND_CLIENT,
            start: now,
            end: now,
            attributes: vec![
                ("try_count", Value::Int(try_count as i64)),
                ("net.peer.ip", Value::Str(addr.ip().to_string())),
                ("net.peer.port", Value::Int(addr.port() as i64)),
            ],
            error: None,
        });
    }

    /// The attempt in progress ended (with the upstream's status, or an error).
    pub fn end_attempt(&mut self, status: Option<u16>, error: Option<String>) {
        let Some(mut span) = self.attempt.take() else {
            return;
        };
        if !self.sampled {
            return;
        }
        span.end = self.ns(Instant::now());
        if let Some(s) = status {
            span.attributes
                .push(("http.status_code", Value::Int(s as i64)));
        }
        span.error = error;
        self.spans.push(span);
    }

    /// The upstream attempt's status, when its response header arrives.
    pub fn attempt_status(&mut self, status: u16) {
        if let Some(a) = self.attempt.as_mut() {
            a.attributes
                .push(("http.status_code", Value::Int(status as i64)));
        }
    }

    /// The headers propagated to the upstream (the attempt's span as the parent, else the root's).
    pub fn outgoing(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::new();
        let span_id = self.attempt.as_ref().map_or(&self.root_id, |a| &a.id);
        let ctx = Outgoing {
            trace_id: &self.trace_id,
            span_id,
            parent_id: Some(&self.root_id),
            sampled: self.sampled,
        };
        for f in &self.inject {
            propagation::inject(*f, &ctx, &mut out);
        }
        out
    }
}

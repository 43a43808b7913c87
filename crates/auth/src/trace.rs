//! Tracing of the IdP calls (introspection, token, JWKS, discovery) without a tracing dependency: the
//! gateway runs a request's openid-connect step inside [`scope`] with the request's trace ids; each IdP call
//! made within it gets a child span id, sends W3C `traceparent` (and the scope's other headers) to the IdP,
//! and records an [`IdpSpan`] the gateway exports with the request's trace. Outside a scope (no tracing, or
//! a call made by a background refresh) nothing is recorded and nothing is added.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::errors::Endpoint;

/// One IdP call, as a span of the request's trace.
#[derive(Debug, Clone)]
pub struct IdpSpan {
    /// The span's id.
    pub span_id: [u8; 8],
    /// Which endpoint was called.
    pub endpoint: Endpoint,
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The URL called.
    pub url: String,
    /// When the call started.
    pub start: SystemTime,
    /// When it ended.
    pub end: SystemTime,
    /// The IdP's status, when it answered.
    pub status: Option<u16>,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

/// The trace a request's IdP calls belong to.
#[derive(Debug)]
pub struct TraceScope {
    /// The trace id.
    pub trace_id: [u8; 16],
    /// The span the IdP calls are children of.
    pub parent_id: [u8; 8],
    /// Makes span ids.
    pub new_id: fn() -> [u8; 8],
    /// The calls made so far.
    pub spans: Mutex<Vec<IdpSpan>>,
}

impl TraceScope {
    /// A scope for `trace_id` under `parent_id`.
    pub fn new(trace_id: [u8; 16], parent_id: [u8; 8], new_id: fn() -> [u8; 8]) -> Arc<Self> {
        Arc::new(TraceScope {
            trace_id,
            parent_id,
            new_id,
            spans: Mutex::new(Vec::new()),
        })
    }

    /// The calls recorded, taken out.
    pub fn take(&self) -> Vec<IdpSpan> {
        std::mem::take(&mut *self.spans.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

tokio::task_local! {
    static SCOPE: Arc<TraceScope>;
}

/// Runs `fut` with IdP calls traced under `scope`.
pub async fn scope<F: Future>(scope: Arc<TraceScope>, fut: F) -> F::Output {
    SCOPE.scope(scope, fut).await
}

/// A call being traced.
pub(crate) struct Started {
    scope: Arc<TraceScope>,
    span_id: [u8; 8],
    start: SystemTime,
}

fn hex(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
}

impl Started {
    /// Starts a span for a call, when the current task is traced.
    pub(crate) fn now() -> Option<Started> {
        let scope = SCOPE.try_with(Arc::clone).ok()?;
        let span_id = (scope.new_id)();
        Some(Started {
            scope,
            span_id,
            start: SystemTime::now(),
        })
    }

    /// The `traceparent` header value for the call (sampled).
    pub(crate) fn traceparent(&self) -> String {
        let mut s = String::with_capacity(55);
        s.push_str("00-");
        hex(&self.scope.trace_id, &mut s);
        s.push('-');
        hex(&self.span_id, &mut s);
        s.push_str("-01");
        s
    }

    /// Records the call.
    pub(crate) fn finish(
        self,
        endpoint: Endpoint,
        method: &'static str,
        url: &str,
        status: Option<u16>,
        error: Option<String>,
    ) {
        let span = IdpSpan {
            span_id: self.span_id,
            endpoint,
            method,
            url: url.to_string(),
            start: self.start,
            end: SystemTime::now(),
            status,
            error,
        };
        (self.scope.spans.lock().unwrap_or_else(|e| e.into_inner())).push(span);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_are_recorded_only_within_a_scope() {
        assert!(Started::now().is_none());
        let s = TraceScope::new([1; 16], [2; 8], || [3; 8]);
        let tp = scope(s.clone(), async {
            let st = Started::now().unwrap();
            let tp = st.traceparent();
            st.finish(Endpoint::Jwks, "GET", "http://idp/jwks", Some(200), None);
            tp
        })
        .await;
        assert_eq!(
            tp,
            "00-01010101010101010101010101010101-0303030303030303-01"
        );
        let spans = s.take();
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].status, Some(200));
    }
}

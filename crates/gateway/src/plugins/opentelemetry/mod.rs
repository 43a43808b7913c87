//! Kong's `opentelemetry` plugin (priority 14, `kong/plugins/opentelemetry/`): traces exported over OTLP/HTTP
//! (protobuf) to `traces_endpoint`, with Kong's propagation (w3c, b3, b3-single, jaeger, ot).
//!
//! The proxy starts a request's [`trace::Trace`] when the access phase begins on a route whose chain holds
//! this plugin ([`OpenTelemetry::start`]): the incoming context is extracted (continued: same trace id, the
//! caller's span as the root's parent) and the sampling decision made (the caller's when it sent one, else
//! `sampling_rate` over the trace id, as Kong's sampler). A sampled request records the root span `kong`
//! (SERVER), `kong.router`, one `kong.access.plugin.<name>` per plugin, the IdP calls of openid-connect as
//! `kong.internal.request` children of its span (`gateway_auth::trace`, with `traceparent` sent to the
//! IdP), and one `kong.balancer` (CLIENT) per upstream attempt, whose id is the parent injected upstream.
//!
//! In the log phase the spans are encoded ([`otlp`], a few hundred bytes) and queued; the export — batching,
//! retries, the memory bound, drops counted in `gateway_log_entries_dropped_total{plugin="opentelemetry"}` —
//! is http-log's queue ([`crate::plugins::http_log::queue`]) on its own runtime, never on a request's task.

pub mod otlp;
pub mod propagation;
pub mod trace;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use gateway_config::plugins::opentelemetry::OpenTelemetryConfig;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::http_log::queue::{Handler, Queue};
use super::{Access, Exchange, Flow, LogView, Phases, Plugin, Request, ResponseHead};
use otlp::{Span, Value, KIND_SERVER};
use propagation::Format;
use trace::Trace;

/// Posts a batch of encoded spans.
pub struct Exporter {
    client: reqwest::Client,
    url: String,
    headers: HeaderMap,
    resource: Vec<(String, String)>,
}

impl Handler for Exporter {
    type Entry = Vec<u8>;
    const PLUGIN: &'static str = "opentelemetry";

    fn send(&self, entries: Vec<Vec<u8>>) -> impl Future<Output = Result<(), String>> + Send {
        let body = otlp::export_request(&self.resource, &entries);
        let req = (self.client.post(&self.url))
            .headers(self.headers.clone())
            .header(http::header::CONTENT_TYPE, "application/x-protobuf")
            .body(body);
        let url = self.url.clone();
        async move {
            let res = req
                .send()
                .await
                .map_err(|e| format!("failed request to {url}: {e}"))?;
            let status = res.status().as_u16();
            if status < 300 {
                Ok(())
            } else {
                let text = res.text().await.unwrap_or_default();
                Err(format!("response code {status}: {text}"))
            }
        }
    }
}

impl Exporter {
    fn new(cfg: &OpenTelemetryConfig) -> Result<Self, String> {
        let url = cfg.traces_endpoint.clone().unwrap_or_default();
        let mut headers = HeaderMap::new();
        for (name, value) in cfg.headers.iter().flatten() {
            if let (Ok(n), Some(Ok(v))) = (
                HeaderName::from_bytes(name.as_bytes()),
                value.as_str().map(HeaderValue::from_str),
            ) {
                headers.insert(n, v);
            }
        }
        let mut resource = vec![
            ("service.name".to_string(), "kong".to_string()),
            (
                "service.version".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            ),
        ];
        for (k, v) in cfg.resource_attributes.iter().flatten() {
            let v = v.as_str().unwrap_or_default().to_string();
            match resource.iter_mut().find(|(rk, _)| rk == k) {
                Some(slot) => slot.1 = v,
                None => resource.push((k.clone(), v)),
            }
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(cfg.connect_timeout.max(1)))
            .timeout(Duration::from_millis(
                (cfg.send_timeout + cfg.read_timeout).max(1),
            ))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Exporter {
            client,
            url,
            headers,
            resource,
        })
    }
}

type SharedQueue = Arc<Queue<Exporter>>;

/// The export queue of a config (shared by equal configs and across reloads).
fn shared_queue(
    key: &str,
    cfg: &OpenTelemetryConfig,
    metrics: &crate::metrics::Metrics,
) -> Option<SharedQueue> {
    static QUEUES: Mutex<Option<HashMap<String, Weak<Queue<Exporter>>>>> = Mutex::new(None);
    let mut guard = QUEUES.lock().unwrap_or_else(|e| e.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    if let Some(q) = map.get(key).and_then(Weak::upgrade) {
        return Some(q);
    }
    map.retain(|_, q| q.strong_count() > 0);
    let exporter = match Exporter::new(cfg) {
        Ok(e) => e,
        Err(e) => {
            log::error!("opentelemetry: cannot export to the endpoint: {e}");
            return None;
        }
    };
    let name = format!("{}:traces", exporter.url);
    let dropped = (metrics.log_dropped).with_label_values(&["opentelemetry", "queue_full"]);
    let lost = (metrics.log_dropped).with_label_values(&["opentelemetry", "send_failed"]);
    let q = Queue::start(name, cfg.queue.clone(), exporter, dropped, lost);
    map.insert(key.to_string(), Arc::downgrade(&q));
    Some(q)
}

/// One opentelemetry config, running.
pub struct OpenTelemetry {
    cfg: Arc<OpenTelemetryConfig>,
    key: String,
    extract: Vec<Format>,
    inject: Vec<Option<Format>>,
    default_format: Format,
    clear: Vec<HeaderName>,
    threshold: u64,
    trace_header: Option<HeaderName>,
    queue: OnceLock<Option<SharedQueue>>,
}

impl std::fmt::Debug for OpenTelemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenTelemetry")
            .field("key", &self.key)
            .finish()
    }
}

impl OpenTelemetry {
    /// The plugin for `cfg`; `key` identifies the config (equal keys share an export queue).
    pub fn new(cfg: Arc<OpenTelemetryConfig>, key: [u8; 32]) -> Self {
        let p = cfg.effective_propagation();
        let formats = |l: &Option<Vec<String>>| -> Vec<Option<Format>> {
            l.iter().flatten().map(|s| Format::parse(s)).collect()
        };
        // Kong's default sampling rate (kong.conf's `tracing_sampling_rate`) is 0.01.
        let rate = cfg.sampling_rate.unwrap_or(0.01);
        OpenTelemetry {
            key: key.iter().map(|b| format!("{b:02x}")).collect(),
            extract: formats(&p.extract).into_iter().flatten().collect(),
            inject: formats(&p.inject),
            default_format: Format::parse(&p.default_format).unwrap_or(Format::W3c),
            clear: (p.clear.iter().flatten())
                .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok())
                .collect(),
            threshold: (rate * u64::MAX as f64) as u64,
            trace_header: (cfg.http_response_header_for_traceid.as_deref())
                .and_then(|h| HeaderName::from_bytes(h.as_bytes()).ok()),
            queue: OnceLock::new(),
            cfg,
        }
    }

    /// Starts the trace of a request (at the start of its access phase; `start`: when it arrived,
    /// `routed`: when the router ran).
    pub fn start(
        &self,
        headers: &HeaderMap,
        start: Instant,
        routed: Option<(Instant, Instant)>,
    ) -> Trace {
        let ex = propagation::extract(headers, &self.extract);
        let trace_id = ex.trace_id.unwrap_or_else(|| loop {
            let id: [u8; 16] = rand::random();
            if id != [0; 16] {
                break id;
            }
        });
        // Kong's sampler: the caller's decision when it sent one, else the rate over the trace id.
        let sampled = match ex.sampled {
            Some(s) => s,
            None => {
                let mut low = [0u8; 8];
                low.copy_from_slice(&trace_id[8..]);
                self.threshold > 0 && u64::from_be_bytes(low) <= self.threshold
            }
        };
        let inject = (self.inject.iter())
            .map(|f| match f {
                Some(f) => *f,
                None => match ex.format.unwrap_or(self.default_format) {
                    Format::B3 if ex.format == Some(Format::B3Single) => Format::B3Single,
                    f => f,
                },
            })
            .collect();
        let mut t = Trace::new(
            trace_id,
            ex.span_id,
            sampled,
            inject,
            self as *const Self as usize,
            start,
        );
        if let Some((a, b)) = routed.filter(|_| t.sampled) {
            let id = trace::new_span_id();
            t.internal(id, "kong.router".into(), a);
            let end = t.ns(b);
            if let Some(s) = t.spans.last_mut() {
                s.end = end.max(s.start);
            }
        }
        t
    }

    /// Encodes and queues the spans of a finished request.
    fn export(&self, t: &Trace, entry: &LogView<'_>) {
        let queue = (self.queue).get_or_init(|| shared_queue(&self.key, &self.cfg, entry.metrics));
        let Some(q) = queue else { return };
        let host = (entry.headers.get(http::header::HOST))
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let scheme = if entry.https { "https" } else { "http" };
        let mut attributes = vec![
            ("http.method", Value::Str(entry.method.to_string())),
            (
                "http.url",
                Value::Str(format!("{scheme}://{host}{}", entry.uri)),
            ),
            ("http.host", Value::Str(host.to_string())),
            ("http.scheme", Value::Str(scheme.to_string())),
            ("http.status_code", Value::Int(entry.status as i64)),
        ];
        if let Some(ip) = entry.client_ip {
            attributes.push(("net.peer.ip", Value::Str(ip.to_string())));
        }
        let root = Span {
            id: t.root_id,
            parent: t.parent_id,
            name: "kong".into(),
            kind: KIND_SERVER,
            start: t.ns(t.start),
            end: t.ns(Instant::now()),
            attributes,
            error: None,
        };
        let mut out = Vec::with_capacity(256 * (t.spans.len() + 2));
        otlp::encode_span(&mut out, &t.trace_id, &root);
        for s in t.spans.iter().chain(t.attempt.iter()) {
            let mut s = s.clone();
            if s.end <= s.start {
                s.end = root.end;
            }
            otlp::encode_span(&mut out, &t.trace_id, &s);
        }
        q.enqueue(out);
    }
}

impl Plugin for OpenTelemetry {
    fn name(&self) -> &'static str {
        "opentelemetry"
    }

    fn phases(&self) -> Phases {
        // The header phase only writes `http_response_header_for_traceid`: without it the route's response
        // phase has no step of ours (and reserves no room in the response's header maps for one).
        match self.trace_header {
            Some(_) => Phases::ACCESS.with(Phases::HEADER).with(Phases::LOG),
            None => Phases::ACCESS.with(Phases::LOG),
        }
    }

    fn tracer(&self) -> Option<&OpenTelemetry> {
        Some(self)
    }

    /// `propagation.clear`: the headers removed from the upstream request.
    fn access<'a>(&'a self, _req: &'a Request<'a>, ex: &'a mut Exchange) -> Access<'a> {
        for h in &self.clear {
            ex.edits.headers.push((h.clone(), None));
        }
        Access::Done(Flow::Continue)
    }

    fn header_filter(&self, resp: &mut dyn ResponseHead, ex: &mut Exchange) {
        if let (Some(name), Some(t)) = (&self.trace_header, ex.trace.as_ref()) {
            if let Ok(v) = HeaderValue::from_str(&propagation::hex(&t.trace_id)) {
                resp.append(name.clone(), v);
            }
        }
    }

    fn wants_log(&self, ex: &Exchange) -> bool {
        ex.trace.as_ref().is_some_and(|t| t.sampled)
    }

    fn log(&self, entry: &LogView<'_>, ex: &Exchange) {
        if let Some(t) = ex.trace.as_ref().filter(|t| t.sampled) {
            if t.exporter == self as *const Self as usize {
                self.export(t, entry);
            }
        }
    }
}

//! Kong's `http-log` plugin (priority 12, `kong/plugins/http-log/handler.lua`): Kong's log record
//! ([`crate::log_record`]) sent to `http_endpoint` with `method`, `content_type` and `headers`, through
//! Kong 3.x's queue ([`queue`]): one entry per call with `max_batch_size: 1`, else a JSON array of up to
//! `max_batch_size` entries. User info in the URL becomes a Basic `Authorization` header, as in Kong; the
//! endpoint's certificate is not verified (Kong's `ssl_verify = false`). The schema is
//! `gateway_config::plugins::http_log`.
//!
//! Instances with the same config share one queue (as Kong shares a queue by name), across reloads too, so a
//! reload loses nothing that is queued. What the queue drops is counted in
//! `gateway_log_entries_dropped_total{plugin="http-log"}` (`queue_full`, `send_failed`).

pub mod queue;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use base64::Engine;
use gateway_config::plugins::http_log::HttpLogConfig;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::{Exchange, LogView, Phases, Plugin};
use crate::log_record;
use queue::{Handler, Queue};

/// How a batch reaches the endpoint.
pub struct Sender {
    client: reqwest::Client,
    method: reqwest::Method,
    url: url::Url,
    headers: HeaderMap,
    single: bool,
}

impl Sender {
    /// The sender of `cfg`.
    pub fn new(cfg: &HttpLogConfig) -> Result<Self, String> {
        let mut url = url::Url::parse(&cfg.http_endpoint).map_err(|e| e.to_string())?;
        let mut headers = HeaderMap::new();
        let ct = HeaderValue::from_str(&cfg.content_type).map_err(|e| e.to_string())?;
        headers.insert(http::header::CONTENT_TYPE, ct);
        if !url.username().is_empty() || url.password().is_some() {
            // Kong: "Basic " .. encode_base64(userinfo), the user info as written in the URL.
            let userinfo = match url.password() {
                Some(p) => format!("{}:{p}", url.username()),
                None => url.username().to_string(),
            };
            let b64 = base64::engine::general_purpose::STANDARD.encode(userinfo);
            let v = HeaderValue::from_str(&format!("Basic {b64}")).map_err(|e| e.to_string())?;
            headers.insert(http::header::AUTHORIZATION, v);
            let _ = url.set_username("");
            let _ = url.set_password(None);
        }
        for (name, value) in cfg.headers.iter().flatten() {
            let (Ok(n), Some(Ok(v))) = (
                HeaderName::from_bytes(name.as_bytes()),
                value.as_str().map(HeaderValue::from_str),
            ) else {
                continue;
            };
            // Kong: configured headers never override Content-Type or Authorization.
            headers.entry(n).or_insert(v);
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.timeout as u64))
            .pool_idle_timeout(Duration::from_millis(cfg.keepalive as u64))
            .danger_accept_invalid_certs(true)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Sender {
            client,
            method: reqwest::Method::from_bytes(cfg.method.as_bytes())
                .unwrap_or(reqwest::Method::POST),
            url,
            headers,
            single: cfg.queue.max_batch_size == 1,
        })
    }

    /// `host:port` of the endpoint, for messages.
    fn target(&self) -> String {
        format!(
            "{}:{}",
            self.url.host_str().unwrap_or(""),
            self.url.port_or_known_default().unwrap_or(0)
        )
    }
}

impl Handler for Sender {
    type Entry = String;
    fn send(&self, entries: Vec<String>) -> impl Future<Output = Result<(), String>> + Send {
        let body = if self.single && entries.len() == 1 {
            entries.into_iter().next().unwrap_or_default()
        } else {
            format!("[{}]", entries.join(","))
        };
        let req = self
            .client
            .request(self.method.clone(), self.url.clone())
            .headers(self.headers.clone())
            .body(body);
        let target = self.target();
        async move {
            let res = req
                .send()
                .await
                .map_err(|e| format!("failed request to {target}: {e}"))?;
            let status = res.status().as_u16();
            let text = res.text().await.unwrap_or_default();
            if status < 300 {
                Ok(())
            } else {
                Err(format!(
                    "request to {target} returned status code {status} and body {text}"
                ))
            }
        }
    }
}

type SharedQueue = Arc<Queue<Sender>>;

/// The queue of a config (shared by equal configs, created on first use).
fn shared_queue(
    key: &str,
    cfg: &HttpLogConfig,
    metrics: &crate::metrics::Metrics,
) -> Option<SharedQueue> {
    static QUEUES: Mutex<Option<HashMap<String, Weak<Queue<Sender>>>>> = Mutex::new(None);
    let mut guard = QUEUES.lock().unwrap_or_else(|e| e.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    if let Some(q) = map.get(key).and_then(Weak::upgrade) {
        return Some(q);
    }
    map.retain(|_, q| q.strong_count() > 0);
    let sender = match Sender::new(cfg) {
        Ok(s) => s,
        Err(e) => {
            log::error!("http-log: cannot send to the endpoint: {e}");
            return None;
        }
    };
    let name = format!("{}{}", sender.target(), sender.url.path());
    let dropped = metrics
        .log_dropped
        .with_label_values(&["http-log", "queue_full"]);
    let lost = metrics
        .log_dropped
        .with_label_values(&["http-log", "send_failed"]);
    let q = Queue::start(name, cfg.queue.clone(), sender, dropped, lost);
    map.insert(key.to_string(), Arc::downgrade(&q));
    Some(q)
}

/// One http-log config, running.
pub struct HttpLog {
    cfg: Arc<HttpLogConfig>,
    key: String,
    queue: OnceLock<Option<SharedQueue>>,
}

impl HttpLog {
    /// The plugin for `cfg`; `key` identifies the config (equal keys share a queue).
    pub fn new(cfg: Arc<HttpLogConfig>, key: [u8; 32]) -> Self {
        HttpLog {
            cfg,
            key: key.iter().map(|b| format!("{b:02x}")).collect(),
            queue: OnceLock::new(),
        }
    }
}

impl Plugin for HttpLog {
    fn name(&self) -> &'static str {
        "http-log"
    }

    fn phases(&self) -> Phases {
        Phases::LOG
    }

    fn log(&self, entry: &LogView<'_>, ex: &Exchange) {
        let queue = self
            .queue
            .get_or_init(|| shared_queue(&self.key, &self.cfg, entry.metrics));
        if let Some(q) = queue {
            q.enqueue(log_record::serialize(entry, ex).to_string());
        }
    }
}

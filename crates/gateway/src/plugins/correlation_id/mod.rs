//! Kong's `correlation-id` plugin (priority 100001, `kong/plugins/correlation-id/handler.lua`): gives every
//! request an id in a header: the client's own when it sent one, else a generated one, set on the request sent
//! upstream; with `echo_downstream`, set on every answer to the client too (the upstream's and the gateway's
//! own). The id also goes to the access-log line (`request_id=`). The schema is
//! `gateway_config::plugins::correlation_id`.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use gateway_config::plugins::correlation_id::CorrelationIdConfig;
use http::{HeaderName, HeaderValue};

use super::{Access, Exchange, Flow, Phases, Plugin, Request, ResponseHead};

/// Kong's generators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Generator {
    /// A random UUID.
    Uuid,
    /// The process's UUID, `#`, a counter.
    UuidCounter,
    /// `server_addr-server_port-pid-connection-connection_requests-now`.
    Tracker,
}

/// The longest `uuid#counter`: a hyphenated UUID, `#`, a `u64` in decimal.
const ID_MAX: usize = 36 + 1 + 20;

/// The id's bytes as a `Bytes` owner: one allocation for the value and its copies (a `Bytes` copied from a
/// slice allocates again, a shared block, when it is first cloned, and the id is held twice: the upstream
/// header and the log's `request_id`).
struct IdText {
    buf: [u8; ID_MAX],
    len: usize,
}

impl AsRef<[u8]> for IdText {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// A worker thread's UUID and counter (Kong's per-worker `worker_uuid` and `worker_counter`: a worker thread
/// here is what a worker process is to Kong), shared by every instance on the thread. Per thread, not per
/// process: one counter for all threads was a cache line every request on every core wrote to.
struct Worker {
    uuid: [u8; 36],
    count: Cell<u64>,
}

thread_local! {
    static WORKER: Worker = {
        let mut uuid = [0u8; 36];
        uuid::Uuid::new_v4().hyphenated().encode_lower(&mut uuid);
        Worker { uuid, count: Cell::new(0) }
    };
}

/// `{uuid}#{n}`: this worker thread's UUID and next number.
fn counted() -> HeaderValue {
    WORKER.with(|w| {
        let n = w.count.get() + 1;
        w.count.set(n);
        let mut id = IdText {
            buf: [0u8; ID_MAX],
            len: 0,
        };
        id.buf[..36].copy_from_slice(&w.uuid);
        id.buf[36] = b'#';
        id.len = 37 + crate::text::decimal(&mut id.buf[37..], n);
        HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(id))
            .unwrap_or(HeaderValue::from_static("-"))
    })
}

/// The tracker's sequence: each request gets the next number, standing in for nginx's connection serial.
static TRACKED: AtomicU64 = AtomicU64::new(0);

/// One correlation-id config, running.
pub struct CorrelationId {
    header: HeaderName,
    generator: Generator,
    echo_downstream: bool,
}

impl CorrelationId {
    /// The plugin for `cfg` (the header name is checked at load).
    pub fn new(cfg: &CorrelationIdConfig) -> Self {
        let generator = match cfg.generator.as_str() {
            "uuid" => Generator::Uuid,
            "tracker" => Generator::Tracker,
            _ => Generator::UuidCounter,
        };
        CorrelationId {
            header: gateway_config::statics::name(
                HeaderName::from_bytes(cfg.header_name.as_bytes())
                    .unwrap_or(HeaderName::from_static("kong-request-id")),
            ),
            generator,
            echo_downstream: cfg.echo_downstream,
        }
    }

    /// A new id (`req` is `None` in the response phase, where the tracker has no listener address).
    fn generate(&self, req: Option<&Request<'_>>) -> HeaderValue {
        let text = match self.generator {
            Generator::Uuid => {
                let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
                let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
                return HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("-"));
            }
            Generator::UuidCounter => return counted(),
            Generator::Tracker => {
                let server = req.and_then(|r| r.server_addr);
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                format!(
                    "{}-{}-{}-{}-{}-{now:.3}",
                    server.map_or("-".to_owned(), |a| a.ip().to_string()),
                    server.map_or(0, |a| a.port()),
                    std::process::id(),
                    TRACKED.fetch_add(1, Ordering::Relaxed) + 1,
                    1,
                )
            }
        };
        // Generated ids are ASCII without control characters.
        HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("-"))
    }

    /// The client's id, when it sent a non-empty one.
    fn client_id(&self, req: &Request<'_>) -> Option<HeaderValue> {
        req.headers
            .get(&self.header)
            .filter(|v| !v.is_empty())
            .cloned()
    }
}

impl Plugin for CorrelationId {
    fn name(&self) -> &'static str {
        "correlation-id"
    }

    fn phases(&self) -> Phases {
        let phases = Phases::REWRITE.with(Phases::ACCESS);
        if self.echo_downstream {
            phases.with(Phases::HEADER)
        } else {
            phases
        }
    }

    /// A global instance notes the client's id before routing, so an answer given before the access phase
    /// (a 404) echoes it as Kong does (`kong.request.get_header` in its header filter).
    fn rewrite(&self, req: &Request<'_>, ex: &mut Exchange) -> Flow {
        if let Some(id) = self.client_id(req) {
            ex.correlation_id = Some(id);
        }
        Flow::Continue
    }

    fn access<'a>(&'a self, req: &'a Request<'a>, ex: &'a mut Exchange) -> Access<'a> {
        let id = match self.client_id(req) {
            Some(id) => id,
            None => {
                let id = self.generate(Some(req));
                ex.edits
                    .headers
                    .push((self.header.clone(), Some(id.clone())));
                id
            }
        };
        ex.correlation_id = Some(id);
        Access::Done(Flow::Continue)
    }

    fn header_filter(&self, resp: &mut dyn ResponseHead, ex: &mut Exchange) {
        if !self.echo_downstream {
            return;
        }
        let id = match &ex.correlation_id {
            Some(id) => id.clone(),
            None => {
                let id = self.generate(None);
                ex.correlation_id = Some(id.clone());
                id
            }
        };
        resp.insert(self.header.clone(), id);
    }
}

#[cfg(test)]
mod tests;

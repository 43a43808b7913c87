//! Kong's `rate-limiting` plugin on the pipeline (priority 910, after the auth plugins, so a consumer's own
//! instance applies once the consumer is known): the counters are [`limiter`], the schema is
//! `gateway_config::plugins::rate_limiting`. A limited request gets Kong's 429 and headers; a request let
//! through gets the `RateLimit-*` headers on its response ([`Exchange::response_headers`], which the proxy
//! puts on every answer).

pub mod limiter;

use std::collections::HashMap;
use std::sync::Arc;

use gateway_config::plugins::rate_limiting::RateLimitingConfig;
use uuid::Uuid;

use super::{Access, Exchange, Flow, Phases, Plugin, Reply, Request};
use crate::responses;
use crate::snapshot::CompileError;
use limiter::{RateLimiter, Subject, Verdict};

/// One rate-limiting plugin, running: its limiter is `Snapshot::limiters[limiter]` (a reload takes the
/// running limiter over when the plugin and its config are unchanged, `Snapshot::adopt_limiters`).
pub struct RateLimiting {
    /// Index into `Snapshot::limiters`.
    pub limiter: usize,
}

impl RateLimiting {
    fn verdict(ex: &mut Exchange, verdict: Verdict, req: &Request<'_>) -> Flow {
        match verdict {
            Verdict::Pass(headers) => {
                // Usually the first to add response headers: take the list instead of copying it.
                if ex.response_headers.is_empty() {
                    ex.response_headers = headers;
                } else {
                    ex.response_headers.extend(headers);
                }
                Flow::Continue
            }
            Verdict::Limited(status, body, headers) => {
                if ex.auth == "none" {
                    ex.auth = "limited";
                }
                Flow::Respond(Reply::Body {
                    status,
                    headers,
                    body,
                })
            }
            Verdict::StoreFailed(serve) => {
                req.metrics.rate_limit_store_errors.inc();
                if serve {
                    return Flow::Continue;
                }
                Flow::Respond(Reply::Body {
                    status: 500,
                    headers: Vec::new(),
                    body: bytes::Bytes::from_static(responses::UNEXPECTED.as_bytes()),
                })
            }
        }
    }
}

impl Plugin for RateLimiting {
    fn name(&self) -> &'static str {
        "rate-limiting"
    }

    fn phases(&self) -> Phases {
        Phases::ACCESS
    }

    fn access<'a>(&'a self, req: &'a Request<'a>, ex: &'a mut Exchange) -> Access<'a> {
        let Some(limiter) = req.snap.limiters.get(self.limiter) else {
            return Access::Done(Flow::Continue);
        };
        // The service's id as text only where it is the identifier.
        let service = (req.matched)
            .filter(|_| limiter.by_service())
            .and_then(|m| req.snap.config.services.get(m.service?))
            .map(|s| s.id.to_string());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let verdict = limiter.check_now(&subject(req, ex, service.as_deref()), now);
        if let Some(verdict) = verdict {
            return Access::Done(Self::verdict(ex, verdict, req));
        }
        Access::Pending(Box::pin(async move {
            let verdict = limiter
                .check(&subject(req, ex, service.as_deref()), now)
                .await;
            Self::verdict(ex, verdict, req)
        }))
    }
}

/// What the request is counted by: its consumer, credential, address, service, headers and path.
fn subject<'a>(req: &'a Request<'_>, ex: &'a Exchange, service: Option<&'a str>) -> Subject<'a> {
    Subject {
        consumer: (ex.caller.consumer)
            .and_then(|c| req.snap.consumer_headers.get(c))
            .map(|c| c.id.as_str()),
        credential: ex.caller.credential.as_ref(),
        ip: req.client_ip,
        service,
        headers: Some(req.headers),
        path: req.uri.path(),
    }
}

/// The distinct rate-limiting plugins of one compile, by plugin id and config key.
#[derive(Default)]
pub struct LimiterSet {
    /// Every limiter, in the order built (`Snapshot::limiters`).
    pub all: Vec<Arc<RateLimiter>>,
    index: HashMap<(Uuid, [u8; 32]), usize>,
}

impl LimiterSet {
    /// The index of the limiter of plugin `plugin` with config `cfg` (keyed `key`), built on first use.
    pub fn get(
        &mut self,
        plugin: Uuid,
        key: [u8; 32],
        cfg: &Arc<RateLimitingConfig>,
    ) -> Result<usize, CompileError> {
        if let Some(i) = self.index.get(&(plugin, key)) {
            return Ok(*i);
        }
        let limiter =
            RateLimiter::new(cfg.clone(), plugin, key).map_err(CompileError::Unsupported)?;
        self.all.push(Arc::new(limiter));
        self.index.insert((plugin, key), self.all.len() - 1);
        Ok(self.all.len() - 1)
    }
}

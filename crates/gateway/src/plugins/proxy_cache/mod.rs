//! Kong's `proxy-cache` plugin (priority 100, `kong/plugins/proxy-cache/handler.lua`), memory strategy.
//!
//! Access: a request whose method is not cacheable (or, with `cache_control`, that says `no-store` or
//! `no-cache`) is `Bypass`; else its key ([`key`]) is looked up in the gateway's [`ResponseCache`]. A fresh
//! entry is answered from the access phase (`Hit`: the stored status, headers and body, with `Age`), so the
//! upstream never sees the request; a stale one (`Refresh`) or none (`Miss`) goes upstream with a
//! [`Pending`] store on the [`Exchange`]. The response header phase decides whether the answer is cacheable
//! (status, content type, with `cache_control` the response's directives) — `Bypass` if not — and the body
//! phase collects it and stores it at its end, unless it outgrows the cache's bound. The diagnostic headers
//! (`X-Cache-Status`, `X-Cache-Key`, `Age`) follow `response_headers`, or are all sent when the request
//! has a `Kong-Debug` header. The plugin runs after the auth plugins, so the key holds the consumer they
//! identified: an answer is only served to requests of the same consumer on the same route.

pub mod key;
pub mod rules;
pub mod store;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use gateway_config::plugins::proxy_cache::ProxyCacheConfig;
use http::header::{AGE, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, EXPIRES};
use http::{HeaderName, HeaderValue, Method};

use super::{Access, Exchange, Flow, Phases, Plugin, Reply, Request, ResponseHead};
use key::{KeyConfig, KeyInput};
use rules::{Directives, MediaType};
use store::Entry;
pub use store::ResponseCache;

/// `X-Cache-Status`.
pub const X_CACHE_STATUS: HeaderName = HeaderName::from_static("x-cache-status");
/// `X-Cache-Key`.
pub const X_CACHE_KEY: HeaderName = HeaderName::from_static("x-cache-key");
const KONG_DEBUG: HeaderName = HeaderName::from_static("kong-debug");

/// Headers a hit never replays (Kong's `hop_by_hop_headers`, `Content-Length` included: the reply has its
/// own).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// One proxy-cache config, running.
pub struct ProxyCache {
    methods: Vec<Method>,
    codes: Vec<u16>,
    /// `content_type`, parsed once (`None`: an entry outside the grammar, which matches nothing).
    types: Vec<Option<MediaType>>,
    cache_ttl: u64,
    storage_ttl: Option<i64>,
    cache_control: bool,
    key: KeyConfig,
    age: bool,
    status_header: bool,
    key_header: bool,
}

/// An answer's status, headers and resource TTL.
type Head = (u16, Vec<(HeaderName, HeaderValue)>, f64);

/// A cacheable request on its way upstream: what to store once the answer is known.
pub struct Pending {
    key: Arc<str>,
    store: Arc<ResponseCache>,
    /// The answer's head, once the header phase found it cacheable.
    head: Option<Head>,
    body: BytesMut,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").field("key", &self.key).finish()
    }
}

/// Unix seconds (`ngx.time()`).
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl ProxyCache {
    /// The plugin for `cfg`.
    pub fn new(cfg: &ProxyCacheConfig) -> Self {
        ProxyCache {
            methods: (cfg.request_method.iter())
                .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
                .collect(),
            codes: cfg.response_code.clone(),
            types: cfg
                .content_type
                .iter()
                .map(|t| MediaType::parse(t))
                .collect(),
            cache_ttl: cfg.cache_ttl,
            storage_ttl: cfg.storage_ttl,
            cache_control: cfg.cache_control,
            key: KeyConfig {
                ignore_uri_case: cfg.ignore_uri_case,
                vary_query_params: cfg.vary_query_params.clone(),
                vary_headers: cfg.vary_headers.clone(),
            },
            age: cfg.response_headers.age,
            status_header: cfg.response_headers.x_cache_status,
            key_header: cfg.response_headers.x_cache_key,
        }
    }

    /// Kong's `cacheable_response` over the answer's head.
    fn cacheable(&self, resp: &dyn ResponseHead, cc: &Directives) -> bool {
        if !self.codes.contains(&resp.status()) {
            return false;
        }
        let Some(ct) = resp.get(&CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        if ct.is_empty() {
            return false;
        }
        let got = MediaType::parse(ct);
        if !(self.types.iter().flatten()).any(|t| t.accepts(got.as_ref())) {
            return false;
        }
        if self.cache_control {
            if cc.has("private") || cc.has("no-store") || cc.has("no-cache") {
                return false;
            }
            if rules::resource_ttl(cc, resp.get(&EXPIRES), SystemTime::now()) <= 0.0 {
                return false;
            }
        }
        true
    }

    /// The reply of a hit: the stored answer's replayed headers and body, with this request's diagnostic
    /// headers.
    fn hit(&self, entry: &Entry, key: Option<HeaderValue>, debug: bool) -> Reply {
        let mut headers = Vec::with_capacity(entry.replay.len() + 3);
        headers.extend(entry.replay.iter().cloned());
        if debug || self.age {
            let age = now().saturating_sub(entry.timestamp);
            headers.push((AGE, HeaderValue::from(age)));
        }
        if debug || self.status_header {
            headers.push((X_CACHE_STATUS, HeaderValue::from_static("Hit")));
        }
        if let Some(key) = key {
            headers.push((X_CACHE_KEY, key));
        }
        Reply::Body {
            status: entry.status,
            headers,
            body: entry.body.clone(),
        }
    }

    /// Whether a stored entry is stale for this request (Kong: `Refresh`).
    fn stale(&self, entry: &Entry, cc: &Directives) -> bool {
        let age = now() as f64 - entry.timestamp as f64;
        if !self.cache_control {
            return age > self.cache_ttl as f64;
        }
        cc.number("max-age").is_some_and(|m| age > m)
            || cc.number("max-stale").is_some_and(|m| age - entry.ttl > m)
            || cc.number("min-fresh").is_some_and(|m| entry.ttl - age < m)
    }

    fn decide(&self, req: &Request<'_>, ex: &mut Exchange) -> Flow {
        let debug = req.headers.contains_key(KONG_DEBUG);
        let cc = match self.cache_control {
            true => Directives::parse(req.headers.get_all(CACHE_CONTROL).iter()),
            false => Directives::default(),
        };
        let status = debug || self.status_header;
        let bypass = self.cache_control && (cc.has("no-store") || cc.has("no-cache"));
        if !self.methods.contains(req.method) || bypass {
            if status {
                set(ex, X_CACHE_STATUS, HeaderValue::from_static("Bypass"));
            }
            return Flow::Continue;
        }
        let route = req.matched.and_then(|m| req.snap.routes.get(m.route));
        let consumer = (ex.caller.consumer).and_then(|i| req.snap.config.consumers.get(i));
        let key = key::build(
            &KeyInput {
                consumer: consumer.map(|c| c.id),
                route: route.map(|r| r.id),
                method: req.method,
                path: req.uri.path(),
                query: req.uri.query(),
                version: req.version,
                headers: req.headers,
            },
            &self.key,
        );
        // Kong sets X-Cache-Key before the lookup, so every answer from here on carries it; a hit's reply
        // has it among its own headers.
        let key_value = (debug || self.key_header)
            .then(|| HeaderValue::from_maybe_shared(Bytes::from(key.clone())).ok())
            .flatten();
        let store = &req.snap.response_cache;
        let entry = store.get(&key);
        if let Some(entry) = entry.as_ref().filter(|e| !self.stale(e, &cc)) {
            return Flow::Respond(self.hit(entry, key_value, debug));
        }
        if let Some(v) = key_value {
            set(ex, X_CACHE_KEY, v);
        }
        let outcome = match entry {
            None if self.cache_control && cc.has("only-if-cached") => {
                return Flow::Respond(Reply::Body {
                    status: 504,
                    headers: Vec::new(),
                    body: Bytes::new(),
                });
            }
            None => "Miss",
            Some(_) => "Refresh",
        };
        if status {
            set(ex, X_CACHE_STATUS, HeaderValue::from_static(outcome));
        }
        ex.proxy_cache = Some(Box::new(Pending {
            key: key.into(),
            store: store.clone(),
            head: None,
            body: BytesMut::new(),
        }));
        Flow::Continue
    }
}

/// Whether a hit replays a stored header: not a hop-by-hop one, a rate-limit counter (Kong's
/// `overwritable_header`) or a diagnostic header (set anew for each hit).
fn replayed(name: &HeaderName) -> bool {
    let n = name.as_str();
    !HOP_BY_HOP.contains(&n)
        && !n.contains("ratelimit-remaining")
        && n != "age"
        && n != "x-cache-status"
        && n != "x-cache-key"
}

/// Sets a response header for every answer (replacing one set earlier in the request).
fn set(ex: &mut Exchange, name: HeaderName, value: HeaderValue) {
    match ex.response_headers.iter_mut().find(|(n, _)| *n == name) {
        Some((_, v)) => *v = value,
        None => ex.response_headers.push((name, value)),
    }
}

impl Plugin for ProxyCache {
    fn name(&self) -> &'static str {
        "proxy-cache"
    }

    fn phases(&self) -> Phases {
        Phases::ACCESS.with(Phases::HEADER).with(Phases::BODY)
    }

    fn access<'a>(&'a self, req: &'a Request<'a>, ex: &'a mut Exchange) -> Access<'a> {
        Access::Done(self.decide(req, ex))
    }

    fn header_filter(&self, resp: &mut dyn ResponseHead, ex: &mut Exchange) {
        let Some(pending) = ex.proxy_cache.as_mut() else {
            return;
        };
        if pending.head.is_some() {
            return;
        }
        let cc = match self.cache_control {
            true => Directives::parse(resp.get(&CACHE_CONTROL).into_iter()),
            false => Directives::default(),
        };
        let too_large = (resp.get(&CONTENT_LENGTH))
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .is_some_and(|n| n >= pending.store.capacity());
        if !self.cacheable(resp, &cc) {
            ex.proxy_cache = None;
            if let Some((_, v)) =
                (ex.response_headers.iter_mut()).find(|(n, _)| *n == X_CACHE_STATUS)
            {
                *v = HeaderValue::from_static("Bypass");
            }
            return;
        }
        if too_large {
            // Kong's store fails for it (the dictionary has no room): still a `Miss`, nothing stored.
            ex.proxy_cache = None;
            return;
        }
        let ttl = match self.cache_control {
            true => rules::resource_ttl(&cc, resp.get(&EXPIRES), SystemTime::now()),
            false => self.cache_ttl as f64,
        };
        let mut headers = resp.entries();
        // The headers the access phase set go out with this answer too (they are applied after this phase).
        for (name, value) in &ex.response_headers {
            headers.retain(|(n, _)| n != name);
            headers.push((name.clone(), value.clone()));
        }
        let status = resp.status();
        if let Some(p) = ex.proxy_cache.as_mut() {
            p.head = Some((status, headers, ttl));
        }
    }

    fn body_filter(&self, chunk: &mut Option<Bytes>, end: bool, ex: &mut Exchange) {
        let Some(pending) = ex.proxy_cache.as_mut() else {
            return;
        };
        if pending.head.is_none() {
            return;
        }
        if let Some(c) = chunk.as_ref() {
            if (pending.body.len() + c.len()) as u64 >= pending.store.capacity() {
                ex.proxy_cache = None;
                return;
            }
            pending.body.extend_from_slice(c);
        }
        if !end {
            return;
        }
        let Some(p) = ex.proxy_cache.take() else {
            return;
        };
        let Some((status, headers, ttl)) = p.head else {
            return;
        };
        // Kong: `storage_ttl`, else (with cache_control) the resource's TTL, else `cache_ttl`; 0 keeps it
        // until evicted, a negative one stores nothing (the dictionary refuses it).
        let keep = match (self.storage_ttl, self.cache_control) {
            (Some(t), _) => t,
            (None, true) => ttl.ceil() as i64,
            (None, false) => self.cache_ttl as i64,
        };
        if keep < 0 {
            return;
        }
        let replay = (headers.iter())
            .filter(|(n, _)| replayed(n))
            .cloned()
            .collect();
        let entry = Entry {
            status,
            headers,
            replay,
            body: p.body.freeze(),
            timestamp: now(),
            ttl,
            keep: (keep > 0).then(|| Duration::from_secs(keep as u64)),
        };
        p.store.insert(p.key, entry);
    }
}

//! The counters of Kong's `rate-limiting` plugin (priority 910: after the auth plugins): counts requests per
//! identifier (`limit_by`) in fixed windows per period, answers 429 when a limit is reached, and sets
//! Kong's `RateLimit-*` / `X-RateLimit-*-<Period>` headers (`kong/plugins/rate-limiting/handler.lua`).
//!
//! `policy: local` counts in this process, exactly under concurrency: each identifier has one packed
//! atomic per period (window number and count), reserved with a compare-and-swap that never goes past
//! the limit; a request refused by one period gives back what it reserved in the others, so refused
//! requests consume nothing (Kong only increments requests it lets through). The identifier is a keyed
//! hash (it can be a header value). The counters are found in a lock-free map (flurry: reads are atomic
//! loads under an epoch guard; a new identifier takes its bin's lock once); expired identifiers are swept
//! every few thousand inserts. Counters belong to the compiled plugin: a reload or an Admin API write starts them afresh.
//!
//! `policy: redis` ([`redis_store`]) counts in one Redis for every node, atomically (one Lua script per
//! request); when Redis fails, `fault_tolerant` lets the request through without headers (counted in
//! `gateway_rate_limiting_store_errors_total`), else it is a 500, as in Kong.

#[path = "redis_store.rs"]
mod redis_store;

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use gateway_config::plugins::rate_limiting::{LimitBy, RateLimitingConfig};
use http::{HeaderName, HeaderValue};

/// Identifiers inserted between two sweeps of expired counters.
const SWEEP_EVERY: u64 = 4096;

/// One period's limit and its headers.
#[derive(Debug)]
struct Limit {
    /// Index into Kong's periods (second … year).
    period: usize,
    window: u64,
    limit: u64,
    /// `limit` as a header value, built once.
    limit_value: HeaderValue,
    limit_header: HeaderName,
    remaining_header: HeaderName,
}

/// Where a request stands against each limit.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Let it through, with these response headers.
    Pass(Vec<(HeaderName, HeaderValue)>),
    /// Refuse it: status, body and headers.
    Limited(u16, bytes::Bytes, Vec<(HeaderName, HeaderValue)>),
    /// The counter store failed (Redis): serve without headers when `fault_tolerant` (true), else 500.
    StoreFailed(bool),
}

/// What the request is counted by, as found by the proxy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Subject<'a> {
    /// The consumer's id.
    pub consumer: Option<&'a str>,
    /// The credential identifier, as the header value passed upstream (read as text only when it is the
    /// identifier: checking a UUID's 36 bytes is most of building a subject).
    pub credential: Option<&'a HeaderValue>,
    /// The client's address.
    pub ip: Option<std::net::IpAddr>,
    /// The matched service's id.
    pub service: Option<&'a str>,
    /// The request's headers.
    pub headers: Option<&'a http::HeaderMap>,
    /// The request path.
    pub path: &'a str,
}

/// One rate-limiting plugin, compiled.
pub struct RateLimiter {
    cfg: Arc<RateLimitingConfig>,
    limits: Vec<Limit>,
    header: Option<HeaderName>,
    body: bytes::Bytes,
    /// How identifiers are hashed into counter keys.
    keys: Keys,
    counters: flurry::HashMap<[u8; 16], Arc<[AtomicU64]>>,
    inserts: AtomicU64,
    /// `policy: redis`: the shared counters, and the key prefix (`ratelimit:<plugin id>:`).
    redis: Option<(redis_store::RedisCounters, String)>,
    /// The plugin's id and config key: a new snapshot takes over the limiter with the same identity.
    pub identity: (uuid::Uuid, [u8; 32]),
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("cfg", &self.cfg)
            .finish()
    }
}

/// `X-RateLimit-Limit-<Period>` and `X-RateLimit-Remaining-<Period>` by period, built at compile time: a
/// static name is copied for free, where a name built at run time is a shared buffer whose every copy (two
/// per period per request) is an atomic count up and down.
const LIMIT_HEADERS: [HeaderName; 6] = [
    HeaderName::from_static("x-ratelimit-limit-second"),
    HeaderName::from_static("x-ratelimit-limit-minute"),
    HeaderName::from_static("x-ratelimit-limit-hour"),
    HeaderName::from_static("x-ratelimit-limit-day"),
    HeaderName::from_static("x-ratelimit-limit-month"),
    HeaderName::from_static("x-ratelimit-limit-year"),
];
const REMAINING_HEADERS: [HeaderName; 6] = [
    HeaderName::from_static("x-ratelimit-remaining-second"),
    HeaderName::from_static("x-ratelimit-remaining-minute"),
    HeaderName::from_static("x-ratelimit-remaining-hour"),
    HeaderName::from_static("x-ratelimit-remaining-day"),
    HeaderName::from_static("x-ratelimit-remaining-month"),
    HeaderName::from_static("x-ratelimit-remaining-year"),
];

impl RateLimiter {
    /// Compiles the config of the plugin `plugin` (counters empty; no connection made yet).
    pub fn new(
        cfg: Arc<RateLimitingConfig>,
        plugin: uuid::Uuid,
        key: [u8; 32],
    ) -> Result<Self, String> {
        let limits = cfg
            .limits()
            .into_iter()
            .map(|(name, window, limit)| {
                let period = gateway_config::plugins::rate_limiting::PERIODS
                    .iter()
                    .position(|(p, _)| *p == name)
                    .unwrap_or(0);
                Limit {
                    period,
                    window,
                    limit,
                    limit_value: gateway_config::statics::value(HeaderValue::from(limit)),
                    limit_header: LIMIT_HEADERS[period].clone(),
                    remaining_header: REMAINING_HEADERS[period].clone(),
                }
            })
            .collect();
        let header = cfg
            .header_name
            .as_deref()
            .and_then(|h| HeaderName::from_bytes(h.as_bytes()).ok());
        let body = serde_json::json!({ "message": cfg.error_message }).to_string();
        let use_redis = cfg.policy == gateway_config::plugins::rate_limiting::Policy::Redis;
        let (keys, redis) = if use_redis {
            // The same on every node (the plugin's id), so they count the same keys.
            let salt = blake3::derive_key("gateway rate-limiting identifier v1", plugin.as_bytes());
            let counters = redis_store::RedisCounters::new(&cfg.redis)?;
            (
                Keys::Shared(salt),
                Some((counters, format!("ratelimit:{plugin}:"))),
            )
        } else {
            let random = [ahash::RandomState::new(), ahash::RandomState::new()];
            (Keys::Local(random), None)
        };
        Ok(RateLimiter {
            cfg,
            limits,
            header,
            body: bytes::Bytes::from(body),
            keys,
            counters: flurry::HashMap::new(),
            inserts: AtomicU64::new(0),
            redis,
            identity: (plugin, key),
        })
    }

    /// Whether the identifier can be the service's id (`limit_by: service`): only then does the proxy
    /// give [`Subject::service`].
    pub fn by_service(&self) -> bool {
        self.cfg.limit_by == LimitBy::Service
    }

    /// Kong's identifier for `limit_by`, falling back to the client IP.
    fn identifier<'s>(&self, s: &Subject<'s>) -> Cow<'s, str> {
        let found = match self.cfg.limit_by {
            LimitBy::Consumer => (s.consumer)
                .or_else(|| s.credential.and_then(|v| v.to_str().ok()))
                .map(Cow::Borrowed),
            LimitBy::Credential => (s.credential)
                .and_then(|v| v.to_str().ok())
                .map(Cow::Borrowed),
            LimitBy::Service => s.service.map(Cow::Borrowed),
            LimitBy::Header => self
                .header
                .as_ref()
                .and_then(|h| s.headers?.get(h))
                .map(|v| String::from_utf8_lossy(v.as_bytes())),
            LimitBy::Path => {
                (self.cfg.path.as_deref() == Some(s.path)).then_some(Cow::Borrowed(s.path))
            }
            LimitBy::Ip => None,
        };
        found.unwrap_or_else(|| {
            s.ip.map_or(Cow::Borrowed(""), |ip| Cow::Owned(crate::text::ip_text(ip)))
        })
    }

    /// The verdict without waiting, for `policy: local` (`None`: the counters are in Redis, see [`Self::check`]).
    pub fn check_now(&self, subject: &Subject<'_>, now: u64) -> Option<Verdict> {
        match self.redis {
            None => Some(self.check_local(self.key(subject), now)),
            Some(_) => None,
        }
    }

    /// Counts the request at `now` (unix seconds) and decides, in Redis for `policy: redis`.
    pub async fn check(&self, subject: &Subject<'_>, now: u64) -> Verdict {
        let key = self.key(subject);
        let Some((counters, prefix)) = &self.redis else {
            return self.check_local(key, now);
        };
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        let slots: Vec<redis_store::Slot> = (self.limits.iter())
            .map(|l| redis_store::Slot {
                key: format!(
                    "{prefix}{hex}:{}:{}",
                    period_start(l.period, now),
                    gateway_config::plugins::rate_limiting::PERIODS[l.period].0
                ),
                limit: l.limit,
                ttl: l.window,
            })
            .collect();
        // Boxed: the Redis client's future would otherwise enlarge every request's access-phase future.
        match Box::pin(counters.count(&slots)).await {
            Ok((0, used)) => Verdict::Pass(self.headers(&used, None, now)),
            Ok((stop, used)) => {
                let headers = self.headers(&used, Some(stop - 1), now);
                Verdict::Limited(self.cfg.error_code as u16, self.body.clone(), headers)
            }
            Err(e) => {
                log::warn!(
                    "rate-limiting: counter store failed error={e:?} fault_tolerant={}",
                    self.cfg.fault_tolerant
                );
                Verdict::StoreFailed(self.cfg.fault_tolerant)
            }
        }
    }

    /// The identifier as a keyed hash (it can be a header value or a credential id).
    fn key(&self, subject: &Subject<'_>) -> [u8; 16] {
        let id = self.identifier(subject);
        let mut k = [0u8; 16];
        match &self.keys {
            Keys::Local([a, b]) => {
                k[..8].copy_from_slice(&a.hash_one(id.as_bytes()).to_le_bytes());
                k[8..].copy_from_slice(&b.hash_one(id.as_bytes()).to_le_bytes());
            }
            Keys::Shared(salt) => {
                let mut h = blake3::Hasher::new_keyed(salt);
                h.update(id.as_bytes());
                k.copy_from_slice(&h.finalize().as_bytes()[..16]);
            }
        }
        k
    }

    /// `policy: local`: the in-process counters.
    fn check_local(&self, key: [u8; 16], now: u64) -> Verdict {
        let slots = self.slots(key, now);
        // One count per period (at most six: second to year), on the stack.
        let mut used = [0u64; 6];
        let mut stop = None;
        for (i, l) in self.limits.iter().enumerate() {
            let win = period_start(l.period, now);
            match reserve(&slots[i], win, l.limit) {
                Ok(count) => used[i] = count,
                Err(count) => {
                    stop = Some(i);
                    used[i] = count;
                    for (j, back) in self.limits.iter().enumerate().take(i) {
                        release(&slots[j], period_start(back.period, now));
                        used[j] -= 1;
                    }
                    break;
                }
            }
        }
        // Periods after the one that stopped the request: their current counts, untouched.
        if let Some(s) = stop {
            for (i, l) in self.limits.iter().enumerate().skip(s + 1) {
                used[i] = current(&slots[i], period_start(l.period, now));
            }
        }
        let headers = self.headers(&used[..self.limits.len()], stop, now);
        match stop {
            None => Verdict::Pass(headers),
            Some(_) => Verdict::Limited(self.cfg.error_code as u16, self.body.clone(), headers),
        }
    }

    /// Kong's headers: each period's limit and remaining, then the period with the least remaining
    /// (ties: the longer window) as `RateLimit-*`, and `Retry-After` when refused.
    fn headers(
        &self,
        used: &[u64],
        stop: Option<usize>,
        now: u64,
    ) -> Vec<(HeaderName, HeaderValue)> {
        if self.cfg.hide_client_headers {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(2 * self.limits.len() + 4);
        let mut best: Option<(u64, u64, &HeaderValue, u64)> = None; // (remaining, window, limit, reset)
        for (i, l) in self.limits.iter().enumerate() {
            // On a refusal `used` of the stopping period is its count before this request (Kong:
            // remaining - 1, floored at 0); on a pass it includes this request.
            let remaining = match stop {
                Some(s) if s == i => 0,
                _ => l.limit.saturating_sub(used[i]),
            };
            let reset = l
                .window
                .saturating_sub(now - period_start(l.period, now))
                .max(1);
            let better =
                best.is_none_or(|(r, w, _, _)| remaining < r || (remaining == r && l.window > w));
            if better {
                best = Some((remaining, l.window, &l.limit_value, reset));
            }
            out.push((l.limit_header.clone(), l.limit_value.clone()));
            out.push((l.remaining_header.clone(), HeaderValue::from(remaining)));
        }
        if let Some((remaining, _, limit, reset)) = best {
            // `RateLimit-Remaining` is the best period's `X-RateLimit-Remaining-<Period>` value, formatted
            // again: a copy of a value made this request would first move its bytes into a shared block (one
            // allocation more than a second small value).
            let remaining = HeaderValue::from(remaining);
            let reset = reset_value(reset);
            out.push((RATELIMIT_LIMIT, limit.clone()));
            out.push((RATELIMIT_REMAINING, remaining));
            if stop.is_some() {
                out.push((RATELIMIT_RESET, reset.clone()));
                out.push((http::header::RETRY_AFTER, reset));
            } else {
                out.push((RATELIMIT_RESET, reset));
            }
        }
        out
    }

    fn slots(&self, key: [u8; 16], now: u64) -> Arc<[AtomicU64]> {
        let map = self.counters.pin();
        if let Some(s) = map.get(&key) {
            return s.clone();
        }
        let fresh: Arc<[AtomicU64]> = (0..self.limits.len()).map(|_| AtomicU64::new(0)).collect();
        let slots = match map.try_insert(key, fresh) {
            Ok(inserted) => inserted.clone(),
            Err(taken) => taken.current.clone(),
        };
        drop(map);
        if self.inserts.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep(now);
        }
        slots
    }

    /// Drops identifiers whose every window has passed.
    fn sweep(&self, now: u64) {
        self.counters.pin().retain(|_, slots| {
            self.limits
                .iter()
                .zip(slots.iter())
                .any(|(l, s)| unpack(s.load(Ordering::Relaxed)).0 == period_start(l.period, now))
        });
    }
}

fn pack(window: u64, count: u64) -> u64 {
    (window << 32) | (count & 0xffff_ffff)
}

fn unpack(v: u64) -> (u64, u64) {
    (v >> 32, v & 0xffff_ffff)
}

/// Window numbers are period starts in seconds, kept in 32 bits (enough until 2106).
fn win_id(start: u64) -> u64 {
    start & 0xffff_ffff
}

/// Takes one unit in the window starting at `start` unless `limit` are taken: `Ok(count after)`,
/// `Err(count)` when full.
fn reserve(slot: &AtomicU64, start: u64, limit: u64) -> Result<u64, u64> {
    let w = win_id(start);
    let mut v = slot.load(Ordering::Acquire);
    loop {
        let (win, count) = unpack(v);
        let count = if win == w { count } else { 0 };
        if count >= limit {
            return Err(count);
        }
        match slot.compare_exchange_weak(v, pack(w, count + 1), Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => return Ok(count + 1),
            Err(now) => v = now,
        }
    }
}

/// Gives back one unit taken in the window starting at `start` (nothing once the window changed).
fn release(slot: &AtomicU64, start: u64) {
    let w = win_id(start);
    let _ = slot.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
        let (win, count) = unpack(v);
        (win == w && count > 0).then(|| pack(w, count - 1))
    });
}

fn current(slot: &AtomicU64, start: u64) -> u64 {
    let (win, count) = unpack(slot.load(Ordering::Acquire));
    if win == win_id(start) {
        count
    } else {
        0
    }
}

/// The start (unix seconds, UTC) of the period containing `now`, as Kong's `timestamp.get_timestamps`:
/// fixed-size second/minute/hour/day, calendar month and year.
pub fn period_start(period: usize, now: u64) -> u64 {
    match period {
        0 => now,
        1 => now - now % 60,
        2 => now - now % 3_600,
        3 => now - now % 86_400,
        _ => {
            let days = (now / 86_400) as i64;
            let (y, m, _) = civil_from_days(days);
            let m = if period == 4 { m } else { 1 };
            (days_from_civil(y, m, 1) as u64) * 86_400
        }
    }
}

/// Howard Hinnant's `civil_from_days`: (year, month 1-12, day 1-31) of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Howard Hinnant's `days_from_civil`.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

// Built at compile time: `from_static` outside a const context parses the name on every call.
const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// How a limiter turns identifiers into 128-bit counter keys (never the identifier itself: it can be a
/// header value or a credential id).
enum Keys {
    /// `policy: local`: two aHash states with random keys per limiter (aHash is keyed and built against
    /// collision flooding, as SipHash; the two 64-bit halves cost a fifth of two SipHash-1-3 passes over a
    /// consumer's id, which every request of a `limit_by: consumer` route hashes).
    Local([ahash::RandomState; 2]),
    /// `policy: redis`: keyed BLAKE3 with the plugin's derived salt, the same on every node.
    Shared([u8; 32]),
}

/// `RateLimit-Reset` / `Retry-After` for `secs`: the values up to a minute (every reset of the `second` and
/// `minute` periods) are static text (a copy is free: no shared buffer to count), the rest formatted.
fn reset_value(secs: u64) -> HeaderValue {
    const SMALL: [&str; 61] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
        "17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31",
        "32", "33", "34", "35", "36", "37", "38", "39", "40", "41", "42", "43", "44", "45", "46",
        "47", "48", "49", "50", "51", "52", "53", "54", "55", "56", "57", "58", "59", "60",
    ];
    match SMALL.get(secs as usize) {
        Some(text) => HeaderValue::from_static(text),
        None => HeaderValue::from(secs),
    }
}

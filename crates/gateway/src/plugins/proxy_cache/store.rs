//! The gateway's one response cache (Kong's `kong_db_cache` shared dictionary for the memory strategy):
//! entries by cache key, bounded in bytes (`gateway.proxy_cache_memory_size`) with least-recently-used
//! eviction, each kept for its storage TTL. moka's sync cache does the bookkeeping (lock-free reads, a
//! weigher, per-entry expiry, LRU policy); the cache is built on its first use, so a snapshot compiled and
//! dropped (reload, `validate`) costs nothing.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use moka::sync::Cache;
use serde_json::{json, Map, Value};

/// Kong's `CACHE_VERSION`.
pub const VERSION: u64 = 1;

/// A stored answer (Kong's cached `res` table).
#[derive(Debug)]
pub struct Entry {
    /// The status.
    pub status: u16,
    /// The headers as they went to the client (the Admin API's view).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The headers a hit replays (hop-by-hop ones, rate-limit counters and the diagnostic headers left out),
    /// chosen once when it is stored.
    pub replay: Vec<(HeaderName, HeaderValue)>,
    /// The body.
    pub body: Bytes,
    /// Unix seconds when it was stored.
    pub timestamp: u64,
    /// The resource's TTL: `cache_ttl`, or what `Cache-Control`/`Expires` said with `cache_control`.
    pub ttl: f64,
    /// How long the store keeps it (`None`: until evicted).
    pub keep: Option<Duration>,
}

impl Entry {
    /// The bytes it holds, for the bound.
    fn weight(&self, key: &str) -> u32 {
        let headers: usize = (self.headers.iter().chain(&self.replay))
            .map(|(n, v)| n.as_str().len() + v.len() + 32)
            .sum();
        u32::try_from(key.len() + headers + self.body.len() + 128).unwrap_or(u32::MAX)
    }

    /// The Admin API's view, Kong's stored JSON: `status`, `headers` (a name's several values as an
    /// array), `body`, `body_len`, `timestamp`, `ttl`, `version`.
    pub fn view(&self) -> Value {
        let mut headers = Map::new();
        for (name, value) in &self.headers {
            let name = title_case(name.as_str());
            let value = Value::from(String::from_utf8_lossy(value.as_bytes()).into_owned());
            match headers.get_mut(&name) {
                Some(Value::Array(values)) => values.push(value),
                Some(first) => *first = Value::Array(vec![first.take(), value]),
                None => {
                    headers.insert(name, value);
                }
            }
        }
        let ttl = match self.ttl.fract() == 0.0 {
            true => json!(self.ttl as i64),
            false => json!(self.ttl),
        };
        json!({
            "status": self.status,
            "headers": headers,
            "body": String::from_utf8_lossy(&self.body),
            "body_len": self.body.len(),
            "timestamp": self.timestamp,
            "ttl": ttl,
            "version": VERSION,
        })
    }
}

/// `x-cache-key` → `X-Cache-Key`: names as upstreams write them (the store keeps them lower-cased).
fn title_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut up = true;
    for c in name.chars() {
        out.push(if up { c.to_ascii_uppercase() } else { c });
        up = c == '-';
    }
    out
}

struct KeepFor;

impl moka::Expiry<Arc<str>, Arc<Entry>> for KeepFor {
    fn expire_after_create(
        &self,
        _key: &Arc<str>,
        value: &Arc<Entry>,
        _created_at: Instant,
    ) -> Option<Duration> {
        value.keep
    }
}

/// The response cache.
pub struct ResponseCache {
    capacity: u64,
    entries: OnceLock<Cache<Arc<str>, Arc<Entry>>>,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl ResponseCache {
    /// A cache of at most `capacity` bytes (built on first use).
    pub fn new(capacity: u64) -> Self {
        ResponseCache {
            capacity,
            entries: OnceLock::new(),
        }
    }

    /// The bound, in bytes: a body at least this large is never stored.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    fn entries(&self) -> &Cache<Arc<str>, Arc<Entry>> {
        self.entries.get_or_init(|| {
            Cache::builder()
                .max_capacity(self.capacity)
                .weigher(|k: &Arc<str>, v: &Arc<Entry>| v.weight(k))
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .expire_after(KeepFor)
                .build()
        })
    }

    /// The entry stored under `key`, fresh or not (until its storage TTL passes).
    pub fn get(&self, key: &str) -> Option<Arc<Entry>> {
        self.entries.get()?.get(key)
    }

    /// Stores `entry` under `key`, replacing any; an entry larger than the bound is not stored.
    pub fn insert(&self, key: Arc<str>, entry: Entry) -> bool {
        if u64::from(entry.weight(&key)) > self.capacity {
            return false;
        }
        self.entries().insert(key, Arc::new(entry));
        true
    }

    /// Removes the entry under `key`; whether there was one.
    pub fn purge(&self, key: &str) -> bool {
        self.entries.get().and_then(|c| c.remove(key)).is_some()
    }

    /// Removes every entry.
    pub fn flush(&self) {
        if let Some(c) = self.entries.get() {
            c.invalidate_all();
            c.run_pending_tasks();
        }
    }

    /// Entries and bytes held (after pending evictions ran).
    #[cfg(test)]
    pub fn usage(&self) -> (u64, u64) {
        match self.entries.get() {
            Some(c) => {
                c.run_pending_tasks();
                (c.entry_count(), c.weighted_size())
            }
            None => (0, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(body: usize, keep: Option<Duration>) -> Entry {
        Entry {
            status: 200,
            headers: vec![(
                HeaderName::from_static("x-cache-key"),
                HeaderValue::from_static("k"),
            )],
            body: Bytes::from(vec![b'x'; body]),
            replay: Vec::new(),
            timestamp: 1,
            ttl: 300.0,
            keep,
        }
    }

    #[test]
    fn bounded_lru_with_purge_and_flush() {
        let cache = ResponseCache::new(10_000);
        assert!(!cache.insert("big".into(), entry(20_000, None)));
        assert!(cache.get("big").is_none());
        for i in 0..30 {
            assert!(cache.insert(format!("k{i}").into(), entry(1000, None)));
        }
        let (count, bytes) = cache.usage();
        assert!(
            bytes <= 10_000 && count < 30,
            "{count} entries, {bytes} bytes"
        );
        // The most recent entries stay.
        assert!(cache.get("k29").is_some());
        assert!(cache.purge("k29"));
        assert!(!cache.purge("k29"));
        assert!(cache.get("k28").is_some());
        cache.flush();
        assert!(cache.get("k28").is_none());
    }

    #[test]
    fn entries_expire_after_their_storage_ttl() {
        let cache = ResponseCache::new(1 << 20);
        cache.insert("short".into(), entry(1, Some(Duration::from_millis(50))));
        cache.insert("long".into(), entry(1, None));
        assert!(cache.get("short").is_some());
        std::thread::sleep(Duration::from_millis(120));
        assert!(cache.get("short").is_none());
        assert!(cache.get("long").is_some());
    }

    #[test]
    fn view_is_kongs_stored_json() {
        let mut e = entry(2, None);
        e.headers.push((
            HeaderName::from_static("set-cookie"),
            HeaderValue::from_static("a"),
        ));
        e.headers.push((
            HeaderName::from_static("set-cookie"),
            HeaderValue::from_static("b"),
        ));
        let v = e.view();
        assert_eq!(v["headers"]["X-Cache-Key"], json!("k"));
        assert_eq!(v["headers"]["Set-Cookie"], json!(["a", "b"]));
        assert_eq!(
            (v["body"].clone(), v["body_len"].clone()),
            (json!("xx"), json!(2))
        );
        assert_eq!(
            (v["ttl"].clone(), v["version"].clone()),
            (json!(300), json!(1))
        );
    }
}

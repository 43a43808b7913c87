//! Token caches: salted cache keys, entry lifetimes, and a bounded quick_cache with coalesced loads.
//!
//! quick_cache has no per-entry TTL, so every value carries its own deadline ([`Expiring`]); an
//! expired hit is removed and reloaded, and concurrent misses for one key share one load.
//! Errors are never cached: a failed load inserts nothing.

use std::future::Future;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use gateway_config::plugins::openid_connect::OidcConfig;
use rand::RngCore as _;

use crate::metrics::{AuthMetrics, Cache};

/// A cache key: a keyed BLAKE3 hash, never the raw token.
pub type CacheKey = [u8; 32];

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Makes cache keys and log fingerprints from a secret per-process key.
#[derive(Clone)]
pub struct Keyer {
    key: [u8; 32],
}

impl std::fmt::Debug for Keyer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyer(..)")
    }
}

impl Keyer {
    /// A keyer with a fresh random key.
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        Keyer { key }
    }

    /// A keyer with a fixed key (tests).
    pub fn from_key(key: [u8; 32]) -> Self {
        Keyer { key }
    }

    /// The keyed hash of length-prefixed parts (so part boundaries cannot be shifted).
    pub fn key(&self, parts: &[&[u8]]) -> CacheKey {
        // The same message either way; short ones (every per-request key) are laid out on the stack and
        // hashed in one call, which costs about half of the incremental hasher's six updates.
        const STACK: usize = 256;
        let len: usize = parts.iter().map(|p| 8 + p.len()).sum();
        if len <= STACK {
            let mut buf = [0u8; STACK];
            let mut at = 0;
            for p in parts {
                buf[at..at + 8].copy_from_slice(&(p.len() as u64).to_le_bytes());
                buf[at + 8..at + 8 + p.len()].copy_from_slice(p);
                at += 8 + p.len();
            }
            return *blake3::keyed_hash(&self.key, &buf[..at]).as_bytes();
        }
        let mut h = blake3::Hasher::new_keyed(&self.key);
        for p in parts {
            h.update(&(p.len() as u64).to_le_bytes());
            h.update(p);
        }
        *h.finalize().as_bytes()
    }

    /// The key itself (to tell keyers apart; never logged).
    pub(crate) fn secret(&self) -> &[u8; 32] {
        &self.key
    }

    /// A short, salted fingerprint of a secret, safe to log (8 hex digits).
    pub fn fingerprint(&self, secret: &str) -> String {
        let k = self.key(&[b"log", secret.as_bytes()]);
        k[..4].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Entry lifetimes, from the plugin config (all in milliseconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TtlPolicy {
    /// `cache_ttl`: lifetime when the IdP gives no expiry.
    pub ttl: u64,
    /// `cache_ttl_min`.
    pub min: Option<u64>,
    /// `cache_ttl_max`.
    pub max: Option<u64>,
    /// `cache_ttl_neg`: lifetime of negative (inactive) results.
    pub neg: u64,
    /// `leeway`.
    pub leeway: u64,
}

/// Seconds (config units) to milliseconds, saturating.
pub fn secs_to_ms(s: f64) -> u64 {
    if s.is_finite() && s > 0.0 {
        (s * 1000.0).min(u64::MAX as f64) as u64
    } else {
        0
    }
}

impl TtlPolicy {
    /// The config's `cache_ttl*` and `leeway` settings.
    pub fn from_config(cfg: &OidcConfig) -> Self {
        Self::from_secs(
            cfg.cache_ttl,
            cfg.cache_ttl_min,
            cfg.cache_ttl_max,
            cfg.cache_ttl_neg,
            cfg.leeway,
        )
    }

    /// Builds the policy from the config's seconds.
    pub fn from_secs(ttl: f64, min: Option<f64>, max: Option<f64>, neg: f64, leeway: f64) -> Self {
        TtlPolicy {
            ttl: secs_to_ms(ttl),
            min: min.map(secs_to_ms),
            max: max.map(secs_to_ms),
            neg: secs_to_ms(neg),
            leeway: secs_to_ms(leeway),
        }
    }

    /// Deadline (ms since epoch) of a positive entry: `min(exp − leeway, now + max)`, at least
    /// `now + min`; `now + cache_ttl` (clamped) when there is no `exp` (or `exp == 0`).
    pub fn positive_until(&self, now_ms: u64, exp_secs: Option<i64>) -> u64 {
        let life = match exp_secs.filter(|e| *e != 0) {
            Some(exp) => {
                let exp_ms = u64::try_from(exp).unwrap_or(0).saturating_mul(1000);
                exp_ms.saturating_sub(self.leeway).saturating_sub(now_ms)
            }
            None => self.ttl,
        };
        let life = self.max.map_or(life, |m| life.min(m));
        let life = self.min.map_or(life, |m| life.max(m));
        now_ms.saturating_add(life)
    }

    /// Deadline of a negative entry: `now + cache_ttl_neg`.
    pub fn negative_until(&self, now_ms: u64) -> u64 {
        now_ms.saturating_add(self.neg)
    }
}

/// A cached value that knows until when it may be used.
pub trait Expiring {
    /// Whether the value may still be served at `now_ms`.
    fn fresh_at(&self, now_ms: u64) -> bool;
}

impl<T: Expiring> Expiring for Arc<T> {
    fn fresh_at(&self, now_ms: u64) -> bool {
        (**self).fresh_at(now_ms)
    }
}

/// How a cache lookup was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A fresh entry was found.
    Hit,
    /// This call loaded the value.
    Miss,
    /// Another concurrent call loaded it; this one waited.
    Coalesced,
}

impl Lookup {
    /// Every variant, in index order (metric children are resolved per variant).
    pub const ALL: [Lookup; 3] = [Lookup::Hit, Lookup::Miss, Lookup::Coalesced];

    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Lookup::Hit => "hit",
            Lookup::Miss => "miss",
            Lookup::Coalesced => "coalesced",
        }
    }
}

/// A bounded cache of expiring values with coalesced loading.
pub struct TimedCache<V> {
    which: Cache,
    inner: quick_cache::sync::Cache<CacheKey, V>,
    metrics: Arc<AuthMetrics>,
}

impl<V: Clone> std::fmt::Debug for TimedCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimedCache")
            .field("cache", &self.which)
            .field("len", &self.inner.len())
            .finish()
    }
}

impl<V: Clone + Expiring> TimedCache<V> {
    /// A cache holding at most `capacity` entries, counting its lookups on `metrics` as `which`.
    pub fn new(which: Cache, capacity: usize, metrics: Arc<AuthMetrics>) -> Self {
        TimedCache {
            which,
            inner: quick_cache::sync::Cache::new(capacity.max(1)),
            metrics,
        }
    }

    /// Number of entries (fresh or not).
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Removes one entry (a purge); whether it was there.
    pub fn remove(&self, key: &CacheKey) -> bool {
        self.inner.remove(key).is_some()
    }

    /// Removes every entry.
    pub fn clear(&self) {
        self.inner.clear();
    }

    /// A fresh value for `key`, without loading (counted as a hit when there is one).
    pub fn peek(&self, key: &CacheKey) -> Option<V> {
        let v = self.inner.get(key).filter(|v| v.fresh_at(now_ms()))?;
        self.metrics.cache_lookup(self.which, Lookup::Hit);
        Some(v)
    }

    /// A fresh value for `key` that `valid` accepts, without loading (counted as a hit when there is one).
    pub fn peek_if(&self, key: &CacheKey, valid: impl Fn(&V) -> bool) -> Option<V> {
        let v = (self.inner.get(key)).filter(|v| v.fresh_at(now_ms()) && valid(v))?;
        self.metrics.cache_lookup(self.which, Lookup::Hit);
        Some(v)
    }

    /// A fresh value for `key`, else the result of `load` (one load per key at a time).
    ///
    /// `load`'s errors are returned and nothing is cached; waiting callers then retry the load
    /// themselves (bound the whole call with a timeout).
    pub async fn get_or_load<E, F, Fut>(&self, key: CacheKey, load: F) -> Result<(V, Lookup), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let now = now_ms();
        if let Some(v) = self.inner.get(&key) {
            if v.fresh_at(now) {
                self.metrics.cache_lookup(self.which, Lookup::Hit);
                return Ok((v, Lookup::Hit));
            }
            // Expired: drop it (unless a concurrent load already replaced it) and reload.
            self.inner.remove_if(&key, |v| !v.fresh_at(now));
        }
        let mut loaded = false;
        let result = self
            .inner
            .get_or_insert_async(&key, async {
                loaded = true;
                load().await
            })
            .await;
        let how = if loaded {
            Lookup::Miss
        } else {
            Lookup::Coalesced
        };
        if result.is_ok() {
            self.metrics.cache_lookup(self.which, how);
        }
        result.map(|v| (v, how))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const NOW: u64 = 1_700_000_000_000;

    fn metrics() -> Arc<AuthMetrics> {
        Arc::new(AuthMetrics::new(&prometheus::Registry::new()))
    }

    fn policy() -> TtlPolicy {
        TtlPolicy::from_secs(3600.0, None, None, 10.0, 0.0)
    }

    #[test]
    fn ttl_from_exp() {
        let p = policy();
        let exp = (NOW / 1000) as i64 + 120;
        assert_eq!(p.positive_until(NOW, Some(exp)), NOW + 120_000);
    }

    #[test]
    fn ttl_without_exp_uses_cache_ttl() {
        assert_eq!(policy().positive_until(NOW, None), NOW + 3_600_000);
        assert_eq!(policy().positive_until(NOW, Some(0)), NOW + 3_600_000);
    }

    #[test]
    fn ttl_leeway_max_min() {
        let exp = (NOW / 1000) as i64 + 120;
        let p = TtlPolicy::from_secs(3600.0, None, None, 10.0, 30.0);
        assert_eq!(p.positive_until(NOW, Some(exp)), NOW + 90_000);
        let p = TtlPolicy::from_secs(3600.0, None, Some(60.0), 10.0, 0.0);
        assert_eq!(p.positive_until(NOW, Some(exp)), NOW + 60_000);
        assert_eq!(p.positive_until(NOW, None), NOW + 60_000);
        let p = TtlPolicy::from_secs(3600.0, Some(300.0), None, 10.0, 0.0);
        assert_eq!(p.positive_until(NOW, Some(exp)), NOW + 300_000);
        // already expired: zero life (not cached usefully)
        let p = policy();
        assert_eq!(p.positive_until(NOW, Some(exp - 1000)), NOW);
        // negative entries
        assert_eq!(p.negative_until(NOW), NOW + 10_000);
        let p = TtlPolicy::from_secs(3600.0, None, None, 0.0, 0.0);
        assert_eq!(p.negative_until(NOW), NOW);
    }

    #[test]
    fn keys_are_salted_and_unambiguous() {
        let a = Keyer::from_key([1; 32]);
        let b = Keyer::from_key([2; 32]);
        assert_ne!(a.key(&[b"tok"]), b.key(&[b"tok"]));
        assert_ne!(a.key(&[b"ab", b"c"]), a.key(&[b"a", b"bc"]));
        assert_eq!(a.key(&[b"x"]), a.key(&[b"x"]));
        assert_eq!(a.fingerprint("secret").len(), 8);
        assert!(!a.fingerprint("secret").contains("secret"));
    }

    #[test]
    fn keys_are_the_keyed_hash_of_the_length_prefixed_parts_at_every_size() {
        // Keys are shared with other nodes (the cluster cache): the short-message path must give exactly
        // the hash of the length-prefixed message, as the incremental path does, on both sides of the
        // stack buffer's size.
        let keyer = Keyer::from_key([7; 32]);
        for n in [0usize, 1, 31, 100, 223, 224, 239, 240, 241, 300, 2000] {
            let token = vec![b'a' + (n % 26) as u8; n];
            let parts: [&[u8]; 2] = [b"token", &token];
            let mut message = Vec::new();
            for p in parts {
                message.extend_from_slice(&(p.len() as u64).to_le_bytes());
                message.extend_from_slice(p);
            }
            let want = *blake3::keyed_hash(&[7; 32], &message).as_bytes();
            assert_eq!(keyer.key(&parts), want, "token of {n} bytes");
        }
    }

    #[derive(Clone)]
    struct V(u64, u32);
    impl Expiring for V {
        fn fresh_at(&self, now: u64) -> bool {
            now < self.0
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn coalesces_concurrent_misses() {
        let m = metrics();
        let cache = Arc::new(TimedCache::<V>::new(Cache::Token, 10, m.clone()));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let cache = cache.clone();
            let calls = calls.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_load([7; 32], || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        Ok::<_, ()>(V(u64::MAX, 1))
                    })
                    .await
                    .unwrap()
                    .1
            }));
        }
        let mut misses = 0;
        for t in tasks {
            if t.await.unwrap() == Lookup::Miss {
                misses += 1;
            }
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(misses, 1);
        assert_eq!(m.cache_count(Cache::Token, Lookup::Miss), 1);
        let waited = m.cache_count(Cache::Token, Lookup::Coalesced);
        assert_eq!(waited + m.cache_count(Cache::Token, Lookup::Hit), 31);
        assert_eq!(m.cache_count(Cache::Introspection, Lookup::Miss), 0);
    }

    #[tokio::test]
    async fn expired_hit_reloads_and_errors_are_not_cached() {
        let m = metrics();
        let cache = TimedCache::<V>::new(Cache::Introspection, 10, m.clone());
        let (v, how) = cache
            .get_or_load([1; 32], || async { Ok::<_, ()>(V(0, 1)) })
            .await
            .unwrap();
        assert_eq!((v.1, how), (1, Lookup::Miss));
        let (v, how) = cache
            .get_or_load([1; 32], || async { Ok::<_, ()>(V(u64::MAX, 2)) })
            .await
            .unwrap();
        assert_eq!((v.1, how), (2, Lookup::Miss));
        let (v, how) = cache
            .get_or_load([1; 32], || async { Ok::<_, ()>(V(u64::MAX, 3)) })
            .await
            .unwrap();
        assert_eq!((v.1, how), (2, Lookup::Hit));

        let r = cache
            .get_or_load([2; 32], || async { Err::<V, _>("boom") })
            .await;
        assert!(r.is_err());
        assert_eq!(cache.len(), 1);
        // errors are not counted
        assert_eq!(m.cache_count(Cache::Introspection, Lookup::Miss), 2);
        assert_eq!(m.cache_count(Cache::Introspection, Lookup::Hit), 1);
    }
}

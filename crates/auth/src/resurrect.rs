//! Stale-if-error (`cache_ttl_resurrect`): the last active introspection result per cache key, kept in a
//! bounded side table so it can be served for a window after its normal cache expiry while the IdP fails.
//!
//! Only active results are kept; an inactive answer removes the entry (the IdP answered: never resurrect).
//! A result is served only while its `exp` (plus leeway) has not passed and `now < valid_until + window`.

use std::sync::Arc;

use crate::cache::CacheKey;
use crate::introspect::Introspected;

/// The side table of last-good introspection results.
pub struct Resurrect {
    window_ms: u64,
    entries: quick_cache::sync::Cache<CacheKey, Arc<Introspected>>,
}

impl std::fmt::Debug for Resurrect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resurrect")
            .field("window_ms", &self.window_ms)
            .field("len", &self.entries.len())
            .finish()
    }
}

impl Resurrect {
    /// A table of at most `capacity` entries serving results up to `window_ms` after their expiry.
    pub fn new(window_ms: u64, capacity: usize) -> Self {
        Resurrect {
            window_ms,
            entries: quick_cache::sync::Cache::new(capacity.max(1)),
        }
    }

    /// Records a fresh answer of the IdP: keeps active results, forgets the key otherwise.
    pub fn record(&self, key: CacheKey, info: &Arc<Introspected>) {
        if info.active {
            self.entries.insert(key, Arc::clone(info));
        } else {
            self.forget(&key);
        }
    }

    /// Forgets the key (a purge): it will not be served stale.
    pub fn forget(&self, key: &CacheKey) {
        self.entries.remove(key);
    }

    /// The stale result for `key` that may still be served at `now_ms`, if any.
    pub fn serve(&self, key: &CacheKey, now_ms: u64) -> Option<Arc<Introspected>> {
        let info = self.entries.get(key)?;
        let usable = info.active
            && !info.expired_at(now_ms)
            && now_ms < info.valid_until_ms.saturating_add(self.window_ms);
        if usable {
            Some(info)
        } else {
            self.entries.remove(key);
            None
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn info(active: bool, exp_s: Option<i64>, valid_until_ms: u64) -> Arc<Introspected> {
        Arc::new(Introspected {
            active,
            exp: exp_s,
            valid_until_ms,
            ..Introspected::purged()
        })
    }

    #[test]
    fn serves_within_the_window_only() {
        let r = Resurrect::new(30_000, 10);
        let exp = (NOW / 1000) as i64 + 3600;
        r.record([1; 32], &info(true, Some(exp), NOW));
        assert!(r.serve(&[1; 32], NOW + 29_999).is_some());
        assert!(r.serve(&[1; 32], NOW + 30_000).is_none());
        // gone for good once past the window
        assert!(r.serve(&[1; 32], NOW).is_none());
    }

    #[test]
    fn never_past_exp_and_never_inactive() {
        let r = Resurrect::new(60_000, 10);
        let exp = (NOW / 1000) as i64 + 10;
        r.record([1; 32], &info(true, Some(exp), NOW));
        assert!(r.serve(&[1; 32], NOW + 9_999).is_some());
        assert!(r.serve(&[1; 32], NOW + 10_000).is_none());

        r.record([2; 32], &info(true, None, NOW));
        assert!(r.serve(&[2; 32], NOW + 1).is_some());
        r.record([2; 32], &info(false, None, NOW + 10_000));
        assert!(r.serve(&[2; 32], NOW + 1).is_none());
        assert!(r.is_empty());
    }

    #[test]
    fn bounded() {
        let r = Resurrect::new(60_000, 16);
        for i in 0..1000u32 {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_le_bytes());
            r.record(k, &info(true, None, NOW));
        }
        assert!(r.len() <= 32, "len {}", r.len());
    }
}

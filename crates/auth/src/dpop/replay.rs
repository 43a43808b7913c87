//! The DPoP replay store: a proof's `jti` (with its key's thumbprint) is accepted once within its window. Each
//! node keeps a bounded map (quick_cache; an entry holds its end of window), and with the cluster cache on,
//! the first use is also claimed in Redis (`SET NX PX`), so a proof used on one node is refused on the others.
//! Redis failing degrades to the node's own store, never to a refused request.

use std::time::Duration;

use quick_cache::sync::GuardResult;

use crate::cache::{CacheKey, Keyer};
use crate::cluster::Cluster;

/// The proof ids seen within their windows.
#[derive(Debug)]
pub struct ReplayStore {
    seen: quick_cache::sync::Cache<CacheKey, u64>,
    keyer: Keyer,
    cluster: Option<Cluster>,
}

impl ReplayStore {
    /// A store of at most `capacity` ids on this node, hashed with `keyer`, shared through `cluster` when set.
    pub fn new(capacity: usize, keyer: Keyer, cluster: Option<Cluster>) -> Self {
        ReplayStore {
            seen: quick_cache::sync::Cache::new(capacity.max(1)),
            keyer,
            cluster,
        }
    }

    /// Whether this is the first use of (`jkt`, `jti`); a first use is remembered until `until_ms`.
    pub async fn first_use(&self, jkt: &str, jti: &str, until_ms: u64, now_ms: u64) -> bool {
        let key = self
            .keyer
            .key(&[b"dpop-jti", jkt.as_bytes(), &[0], jti.as_bytes()]);
        match self.seen.get_value_or_guard(&key, Some(Duration::ZERO)) {
            GuardResult::Value(until) if until > now_ms => return false,
            GuardResult::Value(_) => self.seen.insert(key, until_ms),
            GuardResult::Guard(g) => {
                let _ = g.insert(until_ms);
            }
            // Another request is recording the same id right now: one of the two is a replay.
            GuardResult::Timeout => return false,
        }
        match &self.cluster {
            Some(c) => match c.mark_once(&key, until_ms.saturating_sub(now_ms)).await {
                Ok(first) => first,
                Err(e) => {
                    log::debug!("dpop replay mark not shared (redis): {e}");
                    true
                }
            },
            None => true,
        }
    }

    /// Ids remembered on this node.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_id_is_accepted_once_per_window_and_per_key() {
        let s = ReplayStore::new(100, Keyer::from_key([3; 32]), None);
        assert!(s.first_use("k1", "j1", 2_000, 1_000).await);
        assert!(!s.first_use("k1", "j1", 2_000, 1_500).await);
        assert!(s.first_use("k2", "j1", 2_000, 1_500).await, "another key");
        assert!(s.first_use("k1", "j2", 2_000, 1_500).await, "another id");
        // After its window the id is gone (and then refused by the window check anyway).
        assert!(s.first_use("k1", "j1", 4_000, 2_500).await);
        assert_eq!(s.len(), 3);
    }
}

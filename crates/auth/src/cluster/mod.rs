//! The optional cluster-wide introspection cache on Redis (`gateway.cluster_cache`): a second level
//! behind each node's local cache, cross-node coalescing with a short Redis lock per key, and token
//! purges propagated to every node by Redis pub/sub. See `docs/scale-out.md`.
//!
//! - [`keys`]: cluster-wide keyed hashes (from the shared salt); [`codec`]: the compact stored value;
//! - [`redis_store`]: the connection, command timeouts and the up/down state;
//! - [`lock`]: the two-level load (L2 read, lock, IdP, write); [`purge`]: purges and the subscriber.
//!
//! Redis failing never fails a request: every Redis error degrades to "local cache + IdP".

pub mod codec;
pub mod keys;
pub mod lock;
pub mod metrics;
pub mod purge;
pub mod redis_store;
pub mod replay;
pub mod revoke;

use std::sync::Arc;
use std::time::Duration;

use gateway_config::cluster_cache::{redact_url, ClusterCacheSettings};

use crate::cache::{CacheKey, Keyer};
use crate::metrics::AuthMetrics;
use redis_store::RedisStore;

/// Why the cluster cache could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The Redis URL or credentials are unusable.
    #[error("gateway.cluster_cache.redis_url: {0}")]
    Url(String),
}

/// A handle on the cluster cache (cheap to clone); one per process, shared by every authenticator.
#[derive(Clone, Debug)]
pub struct Cluster {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: RedisStore,
    keyer: Keyer,
    prefix: String,
    node_id: String,
    lock_ttl: Duration,
    metrics: Arc<AuthMetrics>,
}

impl Cluster {
    /// The cluster cache for the settings, counting on `metrics`; `Ok(None)` when `enabled` is false.
    /// Connects lazily.
    pub fn from_settings(
        s: &ClusterCacheSettings,
        metrics: Arc<AuthMetrics>,
    ) -> Result<Option<Cluster>, ClusterError> {
        if !s.enabled {
            return Ok(None);
        }
        let store = RedisStore::new(s, Arc::clone(&metrics))
            .map_err(|e| ClusterError::Url(e.to_string()))?;
        metrics.cluster.state(true);
        let node_id = format!("{:016x}", rand::random::<u64>());
        log::info!(
            "cluster cache enabled url={} key_prefix={} node={node_id}",
            redact_url(&s.redis_url),
            s.key_prefix
        );
        Ok(Some(Cluster {
            inner: Arc::new(Inner {
                store,
                keyer: keys::keyer_from_salt(&s.salt),
                prefix: s.key_prefix.clone(),
                node_id,
                lock_ttl: Duration::from_millis(s.lock_ttl.max(1)),
                metrics,
            }),
        }))
    }

    /// The keyer derived from the shared salt (local cache keys use it too, so one hash works everywhere).
    pub fn keyer(&self) -> Keyer {
        self.inner.keyer.clone()
    }

    /// This process's random node id (lock owner, purge sender).
    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// The metrics it counts on.
    pub fn metrics(&self) -> &Arc<AuthMetrics> {
        &self.inner.metrics
    }

    /// Whether Redis answered the last command.
    pub fn is_up(&self) -> bool {
        self.inner.store.is_up()
    }

    /// The pub/sub channel of purge messages.
    pub fn channel(&self) -> String {
        format!("{}purge", self.inner.prefix)
    }

    fn entry_key(&self, key: &CacheKey) -> String {
        format!("{}i:{}", self.inner.prefix, keys::hex(key))
    }

    fn lock_key(&self, key: &CacheKey) -> String {
        format!("{}i:{}:lock", self.inner.prefix, keys::hex(key))
    }

    fn user_key(&self, user_hash: &CacheKey) -> String {
        format!("{}u:{}", self.inner.prefix, keys::hex(user_hash))
    }
}

#[cfg(test)]
pub(crate) mod test_redis;
#[cfg(test)]
mod tests;

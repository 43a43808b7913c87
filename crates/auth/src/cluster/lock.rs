//! The two-level load of one introspection result after a local miss: read Redis; on a miss take the
//! key's lock (`SET <key>:lock <owner> NX PX lock_ttl`) and call the IdP, or wait for the holder's
//! result. A dead holder is bounded by the lock's expiry; any Redis failure falls back to the IdP.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::metrics::L2Lookup;
use super::redis_store::StoreError;
use super::{codec, keys, Cluster};
use crate::cache::{now_ms, CacheKey, Expiring as _};
use crate::introspect::Introspected;

/// First and longest pause between two polls of a waiter.
const POLL_MIN: Duration = Duration::from_millis(5);
const POLL_MAX: Duration = Duration::from_millis(50);

/// Compare-and-delete: releases a lock only if it is still ours.
const UNLOCK: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/// What a load from the IdP gives: the result and, for the purge-by-user index, its `username` claim.
#[derive(Debug)]
pub struct Loaded {
    /// The compact result.
    pub info: Arc<Introspected>,
    /// The `username` claim of an active result, if any.
    pub username: Option<String>,
}

impl Cluster {
    /// The result for entry `key` (of the token `token_hash`): from Redis, from another node's load, or
    /// from `load` (the IdP), whose successful result is written to Redis. Errors are never stored.
    pub async fn introspection<E, F, Fut>(
        &self,
        key: CacheKey,
        token_hash: &CacheKey,
        load: F,
    ) -> Result<Arc<Introspected>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Loaded, E>>,
    {
        let entry = self.entry_key(&key);
        let lock = self.lock_key(&key);
        let owner = format!("{}:{:08x}", self.node_id(), rand::random::<u32>());
        let deadline = Instant::now() + self.inner.lock_ttl;
        let mut pause = POLL_MIN;
        let mut waited = false;
        loop {
            match self.read(&entry).await {
                Ok(Some(info)) => {
                    self.inner.metrics.cluster.lookup(if waited {
                        L2Lookup::Waited
                    } else {
                        L2Lookup::Hit
                    });
                    return Ok(info);
                }
                Ok(None) => {}
                Err(_) => return self.fallback(load).await,
            }
            match self.try_lock(&lock, &owner).await {
                Ok(true) => {
                    return self
                        .load_as_holder(&entry, &lock, &owner, token_hash, load)
                        .await
                }
                Ok(false) if Instant::now() < deadline => {
                    waited = true;
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(POLL_MAX);
                }
                // Waited a whole lock lifetime (holder stuck), or Redis failed: ask the IdP ourselves.
                Ok(false) | Err(_) => return self.fallback(load).await,
            }
        }
    }

    async fn load_as_holder<E, F, Fut>(
        &self,
        entry: &str,
        lock: &str,
        owner: &str,
        token_hash: &CacheKey,
        load: F,
    ) -> Result<Arc<Introspected>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Loaded, E>>,
    {
        // A holder that finished between our read and our lock wrote its result first: use it.
        if let Ok(Some(info)) = self.read(entry).await {
            self.unlock(lock, owner).await;
            self.inner.metrics.cluster.lookup(L2Lookup::Waited);
            return Ok(info);
        }
        self.inner.metrics.cluster.lookup(L2Lookup::Miss);
        let result = load().await;
        if let Ok(loaded) = &result {
            self.write(entry, token_hash, loaded).await;
        }
        self.unlock(lock, owner).await;
        result.map(|l| l.info)
    }

    /// A fresh decoded value, `Ok(None)` on a miss (or an unusable value).
    async fn read(&self, entry: &str) -> Result<Option<Arc<Introspected>>, StoreError> {
        let bytes: Option<Vec<u8>> = self
            .inner
            .store
            .run(|mut c| async move { redis::cmd("GET").arg(entry).query_async(&mut c).await })
            .await?;
        Ok(bytes
            .and_then(|b| codec::decode(&b))
            .filter(|i| i.fresh_at(now_ms())))
    }

    /// `SET lock owner NX PX lock_ttl`: whether we got it.
    pub(crate) async fn try_lock(&self, lock: &str, owner: &str) -> Result<bool, StoreError> {
        let ttl = u64::try_from(self.inner.lock_ttl.as_millis()).unwrap_or(u64::MAX);
        let ok: Option<String> = self
            .inner
            .store
            .run(|mut c| async move {
                redis::cmd("SET")
                    .arg(lock)
                    .arg(owner)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(ok.is_some())
    }

    /// Releases the lock if it is still ours (errors ignored: it expires anyway).
    pub(crate) async fn unlock(&self, lock: &str, owner: &str) {
        let _: Result<i64, _> = self
            .inner
            .store
            .run(|mut c| async move {
                redis::cmd("EVAL")
                    .arg(UNLOCK)
                    .arg(1)
                    .arg(lock)
                    .arg(owner)
                    .query_async(&mut c)
                    .await
            })
            .await;
    }

    /// Stores a result with the TTL of its local deadline; indexes active results by user.
    async fn write(&self, entry: &str, token_hash: &CacheKey, loaded: &Loaded) {
        let ttl = loaded.info.valid_until_ms.saturating_sub(now_ms());
        if ttl == 0 {
            return;
        }
        let value = codec::encode(&loaded.info);
        let user = loaded
            .username
            .as_deref()
            .map(|u| self.user_key(&keys::user_hash(&self.inner.keyer, u)));
        let member = keys::hex(token_hash);
        let r: Result<(), _> = self
            .inner
            .store
            .run(|mut c| async move {
                let mut p = redis::pipe();
                p.cmd("SET")
                    .arg(entry)
                    .arg(value)
                    .arg("PX")
                    .arg(ttl)
                    .ignore();
                if let Some(user) = &user {
                    p.cmd("SADD").arg(user).arg(&member).ignore();
                    // The index lives as long as the longest entry it points to.
                    p.cmd("PEXPIRE").arg(user).arg(ttl).arg("NX").ignore();
                    p.cmd("PEXPIRE").arg(user).arg(ttl).arg("GT").ignore();
                }
                p.query_async(&mut c).await
            })
            .await;
        if let Err(e) = r {
            log::debug!("cluster cache: write skipped error={e}");
        }
    }

    /// Redis is unusable for this lookup: the node's own IdP call (still coalesced locally).
    async fn fallback<E, F, Fut>(&self, load: F) -> Result<Arc<Introspected>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Loaded, E>>,
    {
        self.inner.metrics.cluster.lookup(L2Lookup::Error);
        load().await.map(|l| l.info)
    }
}

//! Cluster-wide "seen once" marks for DPoP proof ids: `SET <prefix>d:<hash> 1 NX PX <ttl>`, so a proof used on
//! one node is a replay on every other until its window ends.

use super::redis_store::StoreError;
use super::{keys, Cluster};
use crate::cache::CacheKey;

impl Cluster {
    /// Marks `key` as used for `ttl_ms`: `Ok(true)` when this call set it (first use), `Ok(false)` when it was
    /// already there (a replay).
    pub async fn mark_once(&self, key: &CacheKey, ttl_ms: u64) -> Result<bool, StoreError> {
        let name = format!("{}d:{}", self.inner.prefix, keys::hex(key));
        let set: Option<String> = self
            .inner
            .store
            .run(|mut c| async move {
                redis::cmd("SET")
                    .arg(name)
                    .arg("1")
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms.max(1))
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(set.is_some())
    }
}

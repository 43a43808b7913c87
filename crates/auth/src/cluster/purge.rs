//! Token purges: deleting entries (and a user's index) from Redis, the pub/sub message every node
//! applies to its local caches, and the subscriber loop.

use std::future::Future;
use std::time::Duration;

use futures::StreamExt as _;
use serde_json::{json, Value};

use super::redis_store::StoreError;
use super::{keys, Cluster};
use crate::cache::CacheKey;

/// Pause before re-subscribing after the pub/sub connection failed.
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(1);

/// What every node removes from its local caches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeMessage {
    /// The sending node.
    pub node: String,
    /// Token hashes whose introspection entries go.
    pub tokens: Vec<CacheKey>,
    /// Whether the grant caches (username/password → access token) go too (a purge by user).
    pub grants: bool,
}

impl PurgeMessage {
    /// The JSON text published.
    pub fn encode(&self) -> String {
        let tokens: Vec<String> = self.tokens.iter().map(|t| keys::hex(t)).collect();
        json!({"node": self.node, "tokens": tokens, "grants": self.grants}).to_string()
    }

    /// Parses a published message; `None` for anything else.
    pub fn decode(text: &str) -> Option<PurgeMessage> {
        let v: Value = serde_json::from_str(text).ok()?;
        let tokens = v
            .get("tokens")?
            .as_array()?
            .iter()
            .map(|t| t.as_str().and_then(keys::parse_hex))
            .collect::<Option<Vec<_>>>()?;
        Some(PurgeMessage {
            node: v.get("node")?.as_str()?.to_owned(),
            tokens,
            grants: v.get("grants").and_then(Value::as_bool).unwrap_or(false),
        })
    }
}

/// What the subscriber reports to the local caches.
#[derive(Debug)]
pub enum Event {
    /// A purge message.
    Purge(PurgeMessage),
    /// Subscribed again after losing the channel: purges may have been missed meanwhile.
    Resubscribed,
}

impl Cluster {
    /// The token hashes indexed under a user, removing the index.
    pub async fn take_user_tokens(&self, username: &str) -> Result<Vec<CacheKey>, StoreError> {
        let key = self.user_key(&keys::user_hash(&self.inner.keyer, username));
        let (members, _): (Vec<String>, i64) = self
            .inner
            .store
            .run(|mut c| async move {
                redis::pipe()
                    .cmd("SMEMBERS")
                    .arg(&key)
                    .cmd("DEL")
                    .arg(&key)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(members.iter().filter_map(|m| keys::parse_hex(m)).collect())
    }

    /// Deletes entries (and their locks) from Redis; the number of entries deleted.
    pub async fn delete(&self, entries: &[CacheKey]) -> Result<u64, StoreError> {
        if entries.is_empty() {
            return Ok(0);
        }
        let names: Vec<String> = entries.iter().map(|k| self.entry_key(k)).collect();
        let locks: Vec<String> = entries.iter().map(|k| self.lock_key(k)).collect();
        let (n, _): (u64, u64) = self
            .inner
            .store
            .run(|mut c| async move {
                redis::pipe()
                    .cmd("DEL")
                    .arg(&names)
                    .cmd("DEL")
                    .arg(&locks)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(n)
    }

    /// Publishes a purge to every node (this one included); the number of subscribers reached.
    pub async fn publish(&self, tokens: Vec<CacheKey>, grants: bool) -> Result<u64, StoreError> {
        let msg = PurgeMessage {
            node: self.node_id().to_owned(),
            tokens,
            grants,
        }
        .encode();
        let channel = self.channel();
        self.inner
            .store
            .run(|mut c| async move {
                redis::cmd("PUBLISH")
                    .arg(&channel)
                    .arg(&msg)
                    .query_async(&mut c)
                    .await
            })
            .await
    }

    /// Listens to the purge channel for ever (re-subscribing after failures), calling `on` per event.
    pub async fn listen(&self, mut on: impl FnMut(Event)) {
        let channel = self.channel();
        let mut subscribed_before = false;
        loop {
            match self.subscribe(&channel).await {
                Ok(mut pubsub) => {
                    log::info!("cluster cache: subscribed to the purge channel");
                    if subscribed_before {
                        on(Event::Resubscribed);
                    }
                    subscribed_before = true;
                    let mut messages = pubsub.on_message();
                    while let Some(msg) = messages.next().await {
                        let text: String = msg.get_payload().unwrap_or_default();
                        match PurgeMessage::decode(&text) {
                            Some(m) => on(Event::Purge(m)),
                            None => log::warn!("cluster cache: ignoring a malformed purge message"),
                        }
                    }
                    log::warn!("cluster cache: purge channel lost; re-subscribing");
                }
                Err(e) => log::debug!("cluster cache: purge channel unavailable error={e}"),
            }
            tokio::time::sleep(RESUBSCRIBE_AFTER).await;
        }
    }

    async fn subscribe(&self, channel: &str) -> Result<redis::aio::PubSub, StoreError> {
        let timeout = self.inner.store.connect_timeout();
        let connect = async {
            let mut p = self.inner.store.client().get_async_pubsub().await?;
            p.subscribe(channel).await?;
            Ok::<_, redis::RedisError>(p)
        };
        match tokio::time::timeout(timeout * 2, connect).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(StoreError::Timeout),
        }
    }
}

/// Runs `listen` until `stop` completes.
pub async fn listen_until(
    cluster: &Cluster,
    on: impl FnMut(Event),
    stop: impl Future<Output = ()>,
) {
    tokio::select! {
        _ = cluster.listen(on) => {}
        _ = stop => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_round_trip() {
        let m = PurgeMessage {
            node: "n1".into(),
            tokens: vec![[1; 32], [0xab; 32]],
            grants: true,
        };
        assert_eq!(PurgeMessage::decode(&m.encode()), Some(m));
        assert_eq!(PurgeMessage::decode("{}"), None);
        assert_eq!(
            PurgeMessage::decode(r#"{"node":"n","tokens":["zz"]}"#),
            None
        );
    }
}

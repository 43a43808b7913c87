//! Purging tokens through the registry: the Admin API's `POST /openid-connect/purge` lands here, and
//! the subscriber applies other nodes' purges. Works without the cluster too (local node only).

use std::future::Future;

use serde::Serialize;

use super::keys;
use super::metrics::PurgeSource;
use super::purge::{listen_until, Event};
use crate::cache::CacheKey;
use crate::AuthRegistry;

/// What to purge: a token, or its token hash (hex), and/or all tokens of a user.
#[derive(Debug, Default, Clone)]
pub struct PurgeRequest {
    /// The raw token (hashed at once, never logged).
    pub token: Option<String>,
    /// The token hash, 64 hex digits.
    pub token_hash: Option<String>,
    /// A user name: the tokens indexed under it (cluster) and every cached grant.
    pub username: Option<String>,
}

impl std::fmt::Debug for PurgeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PurgeReport")
            .field("local", &self.local)
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

/// What a purge did.
#[derive(Clone, Serialize)]
pub struct PurgeReport {
    /// The token hashes purged (hex).
    pub token_hashes: Vec<String>,
    /// Local introspection entries removed on this node.
    pub local: usize,
    /// `disabled` (no cluster cache), `ok`, or `unavailable` (Redis failed: only this node purged).
    pub cluster: &'static str,
    /// Entries deleted from Redis.
    pub redis_deleted: u64,
    /// Nodes that received the purge message (this one included).
    pub nodes_notified: u64,
}

/// A request that names nothing to purge, or a malformed hash.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PurgeError {
    /// Neither `token`, `token_hash` nor `username`.
    #[error("one of token, token_hash or username is required")]
    Nothing,
    /// `token_hash` is not 64 hex digits.
    #[error("token_hash: expected 64 hex digits")]
    BadHash,
}

impl AuthRegistry {
    /// Purges from this node's caches, from Redis, and (by pub/sub) from every other node.
    pub async fn purge(&self, req: &PurgeRequest) -> Result<PurgeReport, PurgeError> {
        let nonempty =
            |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
        let (token, hash, user) = (
            nonempty(&req.token),
            nonempty(&req.token_hash),
            nonempty(&req.username),
        );
        if token.is_none() && hash.is_none() && user.is_none() {
            return Err(PurgeError::Nothing);
        }
        let mut tokens: Vec<CacheKey> = Vec::new();
        if let Some(t) = &token {
            tokens.push(keys::token_hash(self.keyer(), t));
        }
        if let Some(h) = &hash {
            tokens.push(keys::parse_hex(h).ok_or(PurgeError::BadHash)?);
        }
        let grants = user.is_some();
        let mut report = PurgeReport {
            token_hashes: Vec::new(),
            local: 0,
            cluster: "disabled",
            redis_deleted: 0,
            nodes_notified: 0,
        };
        // Local first (the count is then this node's own); the published message, which reaches this
        // node too, removes anything re-read from Redis meanwhile.
        report.local = self.purge_local(&tokens, grants);
        if let Some(cluster) = self.cluster() {
            let r = async {
                if let Some(u) = &user {
                    tokens.extend(cluster.take_user_tokens(u).await?);
                }
                let entries: Vec<CacheKey> = self
                    .authenticators()
                    .iter()
                    .flat_map(|a| {
                        tokens
                            .iter()
                            .flat_map(|t| a.introspection_keys(t))
                            .collect::<Vec<_>>()
                    })
                    .collect();
                let deleted = cluster.delete(&entries).await?;
                let notified = cluster.publish(tokens.clone(), grants).await?;
                Ok::<_, super::redis_store::StoreError>((deleted, notified))
            }
            .await;
            match r {
                Ok((deleted, notified)) => {
                    report.cluster = "ok";
                    report.redis_deleted = deleted;
                    report.nodes_notified = notified;
                }
                Err(e) => {
                    log::warn!(
                        "cluster cache: purge not propagated (only this node purged) error={e}"
                    );
                    report.cluster = "unavailable";
                }
            }
        }
        if grants {
            // Tokens found through the user's index: drop them locally too.
            report.local += self.purge_local(&tokens, false);
        }
        report.token_hashes = tokens.iter().map(|t| keys::hex(t)).collect();
        self.metrics().cluster.purge(PurgeSource::Api);
        log::info!(
            "openid-connect purge tokens={} user={} local={} cluster={} redis_deleted={} nodes={}",
            tokens.len(),
            user.is_some(),
            report.local,
            report.cluster,
            report.redis_deleted,
            report.nodes_notified
        );
        Ok(report)
    }

    /// Removes the tokens from every authenticator's local caches; the entries removed.
    pub fn purge_local(&self, tokens: &[CacheKey], grants: bool) -> usize {
        self.authenticators()
            .iter()
            .map(|a| a.purge(tokens, grants))
            .sum()
    }

    /// Applies the cluster's purge messages to the local caches until `stop` (returns at once
    /// without a cluster cache). A node that lost the channel empties its local introspection
    /// caches when it re-subscribes, since it may have missed purges meanwhile.
    pub async fn run_purge_listener(&self, stop: impl Future<Output = ()>) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        let on = |event: Event| match event {
            Event::Purge(m) => {
                let n = self.purge_local(&m.tokens, m.grants);
                self.metrics().cluster.purge(PurgeSource::PubSub);
                log::debug!("cluster cache: purge from node={} removed={n}", m.node);
            }
            Event::Resubscribed => {
                for a in self.authenticators() {
                    a.clear_introspection_cache();
                }
                log::info!(
                    "cluster cache: local introspection caches emptied after re-subscribing"
                );
            }
        };
        listen_until(cluster, on, stop).await;
    }
}

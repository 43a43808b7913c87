//! The registry of authenticators: one per distinct plugin config, kept across reloads so an
//! unchanged config keeps its IdP client and token caches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gateway_config::plugins::openid_connect::OidcConfig;

use crate::authenticator::{config_key, Authenticator, DEFAULT_CACHE_CAPACITY};
use crate::cache::Keyer;
use crate::http_client::HttpClients;

/// Shared HTTP clients, the cache-key salt, and the authenticators by config hash.
#[derive(Debug)]
pub struct AuthRegistry {
    clients: HttpClients,
    keyer: Keyer,
    cache_capacity: usize,
    by_config: Mutex<HashMap<[u8; 32], Arc<Authenticator>>>,
    /// The process's cluster cache (kept across reloads), when configured.
    cluster: Option<crate::cluster::Cluster>,
}

impl Default for AuthRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl AuthRegistry {
    /// A registry with a fresh random salt and caches of [`DEFAULT_CACHE_CAPACITY`] entries.
    pub fn new() -> Self {
        Self::with_cache_capacity(DEFAULT_CACHE_CAPACITY)
    }

    /// A registry whose token caches hold at most `cache_capacity` entries each.
    pub fn with_cache_capacity(cache_capacity: usize) -> Self {
        Self::with_cluster(cache_capacity, None)
    }

    /// A registry whose authenticators use `cluster` as their second cache level; cache keys are then
    /// keyed with the cluster salt instead of a per-process random key.
    pub fn with_cluster(cache_capacity: usize, cluster: Option<crate::cluster::Cluster>) -> Self {
        crate::metrics::init();
        if cluster.is_none() {
            crate::cluster::metrics::init(false);
        }
        AuthRegistry {
            clients: HttpClients::default(),
            keyer: cluster
                .as_ref()
                .map_or_else(Keyer::random, crate::cluster::Cluster::keyer),
            cache_capacity,
            by_config: Mutex::new(HashMap::new()),
            cluster,
        }
    }

    /// The cluster cache, when configured.
    pub fn cluster(&self) -> Option<&crate::cluster::Cluster> {
        self.cluster.as_ref()
    }

    /// The keyer of cache keys (token hashes of purges).
    pub fn keyer(&self) -> &Keyer {
        &self.keyer
    }

    /// Every authenticator held.
    pub fn authenticators(&self) -> Vec<Arc<Authenticator>> {
        let map = self.by_config.lock().unwrap_or_else(|p| p.into_inner());
        map.values().cloned().collect()
    }

    /// Replaces the shared HTTP clients (e.g. with extra trusted CAs); call before the first [`Self::get`].
    pub fn with_http_clients(mut self, clients: HttpClients) -> Self {
        self.clients = clients;
        self
    }

    /// The authenticator for a config: the same one (same caches) as long as the config is unchanged.
    pub fn get(&self, cfg: &OidcConfig) -> Arc<Authenticator> {
        let key = config_key(cfg);
        let mut map = self.by_config.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(map.entry(key).or_insert_with(|| {
            Arc::new(
                Authenticator::new(cfg, &self.clients, self.keyer.clone(), self.cache_capacity)
                    .with_cluster(self.cluster.clone()),
            )
        }))
    }

    /// Keeps only the authenticators in `live` (call after a new snapshot is in place).
    pub fn retain(&self, live: &[Arc<Authenticator>]) {
        // A set: `live` has one entry per route (10k on a big config), not per distinct config.
        let keep: std::collections::HashSet<[u8; 32]> =
            live.iter().map(|a| a.config_key()).collect();
        let mut map = self.by_config.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|k, _| keep.contains(k));
    }

    /// Number of authenticators held.
    pub fn len(&self) -> usize {
        self.by_config.lock().map_or(0, |m| m.len())
    }

    /// Whether no authenticator is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_config_same_authenticator() {
        let r = AuthRegistry::with_cache_capacity(10);
        let a = OidcConfig::with_issuer("http://127.0.0.1:1/a");
        let mut b = a.clone();
        b.timeout = 500.0;
        let a1 = r.get(&a);
        let a2 = r.get(&a.clone());
        let b1 = r.get(&b);
        assert!(Arc::ptr_eq(&a1, &a2));
        assert!(!Arc::ptr_eq(&a1, &b1));
        assert_eq!(r.len(), 2);
        r.retain(std::slice::from_ref(&b1));
        assert_eq!(r.len(), 1);
        assert!(Arc::ptr_eq(&r.get(&b), &b1));
        assert!(!Arc::ptr_eq(&r.get(&a), &a1));
    }
}

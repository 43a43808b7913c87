//! The registry of authenticators: one per distinct plugin config, kept across reloads so an
//! unchanged config keeps its IdP client and token caches; it owns what they share (HTTP clients,
//! cache-key salt, metrics, cluster cache).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gateway_config::cluster_cache::ClusterCacheSettings;
use gateway_config::plugins::openid_connect::OidcConfig;

use crate::authenticator::{Authenticator, DEFAULT_CACHE_CAPACITY};
use crate::cache::Keyer;
use crate::cluster::{Cluster, ClusterError};
use crate::http_client::HttpClients;
use crate::idp::Shared;
use crate::metrics::AuthMetrics;

/// What the authenticators share, and the authenticators by config hash.
#[derive(Debug)]
pub struct AuthRegistry {
    shared: Shared,
    by_config: Mutex<HashMap<[u8; 32], Arc<Authenticator>>>,
}

/// Builds an [`AuthRegistry`]: `AuthRegistry::builder(&registry).cache_capacity(n).cluster_cache(&s)?.build()`.
#[derive(Debug)]
pub struct AuthRegistryBuilder {
    metrics: Arc<AuthMetrics>,
    cache_capacity: usize,
    clients: HttpClients,
    cluster: Option<Cluster>,
}

impl AuthRegistryBuilder {
    /// Each token cache holds at most `cache_capacity` entries (default [`DEFAULT_CACHE_CAPACITY`]).
    pub fn cache_capacity(mut self, cache_capacity: usize) -> Self {
        self.cache_capacity = cache_capacity;
        self
    }

    /// Uses these HTTP clients (e.g. with extra trusted CAs) instead of default ones.
    pub fn http_clients(mut self, clients: HttpClients) -> Self {
        self.clients = clients;
        self
    }

    /// Adds the cluster cache of `settings` (nothing when it is not enabled) as the second cache level;
    /// cache keys are then keyed with the cluster salt instead of a per-process random key.
    pub fn cluster_cache(mut self, settings: &ClusterCacheSettings) -> Result<Self, ClusterError> {
        self.cluster = Cluster::from_settings(settings, Arc::clone(&self.metrics))?;
        Ok(self)
    }

    /// The registry.
    pub fn build(self) -> AuthRegistry {
        let keyer = self
            .cluster
            .as_ref()
            .map_or_else(Keyer::random, Cluster::keyer);
        AuthRegistry {
            shared: Shared {
                clients: self.clients,
                keyer,
                cache_capacity: self.cache_capacity,
                metrics: self.metrics,
                cluster: self.cluster,
            },
            by_config: Mutex::new(HashMap::new()),
        }
    }
}

impl AuthRegistry {
    /// A registry with a fresh random salt, caches of [`DEFAULT_CACHE_CAPACITY`] entries and no
    /// cluster cache, whose metrics are registered on `metrics`.
    pub fn new(metrics: &prometheus::Registry) -> Self {
        Self::builder(metrics).build()
    }

    /// A builder whose metrics are registered on `metrics` (the server's registry).
    pub fn builder(metrics: &prometheus::Registry) -> AuthRegistryBuilder {
        AuthRegistryBuilder {
            metrics: Arc::new(AuthMetrics::new(metrics)),
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            clients: HttpClients::default(),
            cluster: None,
        }
    }

    /// The metrics every authenticator counts on.
    pub fn metrics(&self) -> &Arc<AuthMetrics> {
        &self.shared.metrics
    }

    /// The cluster cache, when configured.
    pub fn cluster(&self) -> Option<&Cluster> {
        self.shared.cluster.as_ref()
    }

    /// The keyer of cache keys (token hashes of purges).
    pub fn keyer(&self) -> &Keyer {
        &self.shared.keyer
    }

    /// Every authenticator held.
    pub fn authenticators(&self) -> Vec<Arc<Authenticator>> {
        let map = self.by_config.lock().unwrap_or_else(|p| p.into_inner());
        map.values().cloned().collect()
    }

    /// Replaces the shared HTTP clients (e.g. with extra trusted CAs); call before the first [`Self::get`].
    pub fn with_http_clients(mut self, clients: HttpClients) -> Self {
        self.shared.clients = clients;
        self
    }

    /// The authenticator for a config: the same one (same caches) as long as the config is unchanged.
    /// `key` is the config's identity, computed once by the loader (`TypedConfig::key`); it is not
    /// computed again here.
    pub fn get(&self, key: [u8; 32], cfg: &OidcConfig) -> Arc<Authenticator> {
        let mut map = self.by_config.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(
            map.entry(key)
                .or_insert_with(|| Arc::new(Authenticator::new(cfg, key, &self.shared))),
        )
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
        let r = AuthRegistry::builder(&prometheus::Registry::new())
            .cache_capacity(10)
            .build();
        let a = OidcConfig::with_issuer("http://127.0.0.1:1/a");
        let mut b = a.clone();
        b.timeout = 500.0;
        let key = |c: &OidcConfig| gateway_config::plugins::key_of(&c.to_value_with_defaults());
        let a1 = r.get(key(&a), &a);
        let a2 = r.get(key(&a), &a.clone());
        let b1 = r.get(key(&b), &b);
        assert!(Arc::ptr_eq(&a1, &a2));
        assert!(!Arc::ptr_eq(&a1, &b1));
        assert_eq!(r.len(), 2);
        r.retain(std::slice::from_ref(&b1));
        assert_eq!(r.len(), 1);
        assert!(Arc::ptr_eq(&r.get(key(&b), &b), &b1));
        assert!(!Arc::ptr_eq(&r.get(key(&a), &a), &a1));
    }

    #[test]
    fn metrics_go_to_the_given_registry_and_the_cluster_state_reads_down_without_one() {
        let registry = prometheus::Registry::new();
        let r = AuthRegistry::new(&registry);
        assert!(r.cluster().is_none());
        assert_eq!(r.metrics().cluster.state_value(), 0);
        let names: Vec<String> = registry
            .gather()
            .iter()
            .map(|f| f.name().to_owned())
            .collect();
        assert!(names.contains(&"gateway_cluster_cache_state".to_owned()));
        // a disabled cluster cache is no cluster
        let off = ClusterCacheSettings {
            enabled: false,
            redis_url: "redis://127.0.0.1:1".into(),
            username: None,
            password: None,
            key_prefix: "gw:".into(),
            salt: "0123456789abcdef-test".into(),
            connect_timeout: 200,
            command_timeout: 100,
            lock_ttl: 5000,
        };
        let r = AuthRegistry::builder(&prometheus::Registry::new())
            .cluster_cache(&off)
            .unwrap()
            .build();
        assert!(r.cluster().is_none());
    }
}

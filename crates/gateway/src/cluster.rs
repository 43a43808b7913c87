//! The optional cluster cache of the process (`gateway.cluster_cache`): set up once at start (it
//! belongs to the process, not to a snapshot, so reloads keep it) and the background service that
//! applies other nodes' purge messages to the local caches.

use std::sync::Arc;

use async_trait::async_trait;
use gateway_auth::AuthRegistry;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use crate::state::AppState;

/// The authenticator registry for the start-up settings, counting on `metrics`: with the cluster cache
/// when configured and enabled.
pub fn registry(
    settings: &gateway_config::model::Settings,
    metrics: &prometheus::Registry,
) -> Result<AuthRegistry, String> {
    let mut builder = AuthRegistry::builder(metrics).cache_capacity(settings.token_cache_size);
    if let Some(s) = &settings.cluster_cache {
        builder = builder.cluster_cache(s).map_err(|e| e.to_string())?;
    }
    Ok(builder.build())
}

/// Subscribes to the purge channel (does nothing without a cluster cache).
pub struct PurgeListener {
    state: Arc<AppState>,
}

impl PurgeListener {
    /// A listener applying purges to `state`'s registry.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

#[async_trait]
impl BackgroundService for PurgeListener {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let stop = async move {
            let _ = shutdown.changed().await;
        };
        self.state.registry.run_purge_listener(stop).await;
    }
}

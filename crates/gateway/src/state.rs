//! Process-wide state shared by the proxy, the Admin API and the reload service.

use crate::balancer::Balancers;
use crate::control::FileState;
use crate::metrics::Metrics;
use crate::server::Overrides;
use crate::snapshot::Snapshot;
use arc_swap::ArcSwap;
use gateway_auth::AuthRegistry;
use std::path::PathBuf;
use std::sync::Arc;

/// What every part of the running gateway shares: the current snapshot and how to replace it.
pub struct AppState {
    /// The config in force; one atomic load per request.
    pub snapshot: ArcSwap<Snapshot>,
    /// IdP clients and token caches, reused across reloads for unchanged plugin configs.
    pub registry: AuthRegistry,
    /// The config file: re-read on SIGHUP, rewritten by Admin API writes (on an etcd-backed node: its settings
    /// and the bootstrap entities only).
    pub config_path: PathBuf,
    /// The config file as last read or written. Holding this lock makes the holder the one writer: config
    /// changes (reloads and Admin API writes, see [`crate::control::apply`]) are serialised by it.
    pub file: tokio::sync::Mutex<FileState>,
    /// Listener-level settings the process started with (changes to them need a restart or upgrade).
    pub started_with: gateway_config::model::Settings,
    /// Command-line and environment settings, applied over the file on every load.
    pub overrides: Overrides,
    /// The gateway's metrics, registered on `prometheus`.
    pub metrics: Arc<Metrics>,
    /// The process's Prometheus registry, rendered by `/metrics`.
    pub prometheus: prometheus::Registry,
    /// Upstream balancers and their health, reused across reloads for unchanged upstreams.
    pub balancers: Arc<Balancers>,
    /// Upstream host names to addresses, at request time; its cache outlives every snapshot (reloads keep it).
    pub dns: crate::dns::Resolver,
    /// The etcd config store, on an etcd-backed node (`None`: the file holds the entities).
    pub store: Option<Arc<crate::config_store::Store>>,
}

impl AppState {
    /// The state for a freshly started process; `metrics` (and the resolver's) are registered on `prometheus`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config_path: PathBuf,
        file: FileState,
        initial: Snapshot,
        registry: AuthRegistry,
        overrides: Overrides,
        prometheus: prometheus::Registry,
        metrics: Arc<Metrics>,
        dns: crate::dns::Resolver,
    ) -> Self {
        let started_with = initial.config.gateway.clone();
        Self {
            snapshot: ArcSwap::from_pointee(initial),
            registry,
            config_path,
            file: tokio::sync::Mutex::new(file),
            started_with,
            overrides,
            metrics,
            prometheus,
            balancers: Arc::new(Balancers::detached()),
            dns,
            store: None,
        }
    }

    /// The state of an etcd-backed node.
    pub fn with_store(mut self, store: Option<Arc<crate::config_store::Store>>) -> Self {
        self.store = store;
        self
    }

    /// The state with `balancers` (the ones `initial` was compiled with) instead of a detached set.
    pub fn with_balancers(mut self, balancers: Arc<Balancers>) -> Self {
        self.balancers = balancers;
        self
    }

    /// Swap in a snapshot compiled (and, for Admin API writes, persisted) by [`crate::control`], with the
    /// rate limiters of unchanged plugins taken over from the running one, then drop the authenticators no
    /// snapshot uses any more. The replaced snapshot is dropped on a thread of its own (see [`drop_off_path`]).
    pub fn activate(&self, mut snap: Snapshot) {
        snap.adopt_limiters(&self.snapshot.load());
        let snap = Arc::new(snap);
        let old = self.snapshot.swap(snap.clone());
        let live = snap.authenticators();
        self.registry.retain(&live);
        self.balancers.retain(&snap.upstreams);
        drop_off_path(old);
    }
}

/// Drops a replaced snapshot on a short-lived thread: freeing a 10,000-service snapshot takes 5–10 ms, which
/// would otherwise be spent on the reload (or Admin API write) before it answers. Requests still holding the
/// old snapshot keep it alive as before; the last holder frees it. If the thread cannot be started, the
/// snapshot is dropped here.
fn drop_off_path(old: Arc<Snapshot>) {
    if Arc::strong_count(&old) > 1 {
        return; // a request still holds it: that request's drop frees it, not this one
    }
    let _ = std::thread::Builder::new()
        .name("gw-snapshot-drop".into())
        .spawn(move || drop(old));
}

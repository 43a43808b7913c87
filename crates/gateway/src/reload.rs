//! Config reload: SIGHUP re-reads the file, validates and compiles it, and swaps it in atomically.

use crate::state::AppState;
use async_trait::async_trait;
use gateway_config::model::Config;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::path::Path;
use std::sync::Arc;

/// Read and validate a config file; the error text has one problem per line.
pub fn read_config(path: &Path) -> Result<(Config, String), String> {
    let source = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let config = gateway_config::load::parse_str(&source).map_err(|e| e.to_string())?;
    Ok((config, source))
}

/// Re-read the config file and install it. On any error the running config stays.
pub async fn reload_from_file(state: &AppState) -> Result<(), String> {
    let _writer = state.write_lock.lock().await;
    let metrics = &state.metrics;
    let result = read_config(&state.config_path).and_then(|(mut config, source)| {
        state.overrides.apply(&mut config);
        let settings = config.gateway.clone();
        let snap = state.install(config, &source).map_err(|e| e.to_string())?;
        warn_listener_changes(&state.started_with, &settings);
        Ok(snap)
    });
    match &result {
        Ok(snap) => {
            metrics.reloads.with_label_values(&["sighup", "ok"]).inc();
            metrics.config_loaded_at.set(crate::server::unix_now());
            log::info!(
                "config reloaded path={} hash={}",
                state.config_path.display(),
                &snap.hash[..16]
            );
        }
        Err(msg) => {
            metrics
                .reloads
                .with_label_values(&["sighup", "error"])
                .inc();
            log::error!(
                "config reload refused, keeping the running config path={} errors:\n{msg}",
                state.config_path.display()
            );
        }
    }
    result.map(|_| ())
}

/// Listener and process settings are fixed at start: say so when an applied reload changes them (every
/// reload repeats the warning until the process is restarted or upgraded).
fn warn_listener_changes(
    running: &gateway_config::model::Settings,
    new: &gateway_config::model::Settings,
) {
    let changes = [
        ("proxy_listen", running.proxy_listen != new.proxy_listen),
        ("admin_listen", running.admin_listen != new.admin_listen),
        (
            "worker_threads",
            running.worker_threads != new.worker_threads,
        ),
        (
            "upstream_keepalive_pool_size",
            running.upstream_keepalive_pool_size != new.upstream_keepalive_pool_size,
        ),
        (
            "token_cache_size",
            running.token_cache_size != new.token_cache_size,
        ),
        ("log_level", running.log_level != new.log_level),
        (
            "grace_period_seconds",
            running.grace_period_seconds != new.grace_period_seconds,
        ),
        (
            "graceful_shutdown_timeout_seconds",
            running.graceful_shutdown_timeout_seconds != new.graceful_shutdown_timeout_seconds,
        ),
        ("pid_file", running.pid_file != new.pid_file),
        ("upgrade_sock", running.upgrade_sock != new.upgrade_sock),
        ("cluster_cache", running.cluster_cache != new.cluster_cache),
        ("ssl_cert", running.ssl_cert != new.ssl_cert),
        ("ssl_cert_key", running.ssl_cert_key != new.ssl_cert_key),
        (
            "lua_ssl_trusted_certificate",
            running.lua_ssl_trusted_certificate != new.lua_ssl_trusted_certificate,
        ),
    ];
    for (name, changed) in changes {
        if changed {
            log::warn!("config reload: gateway.{name} changed; it takes effect only after a restart or a binary upgrade");
        }
    }
}

/// Background service that waits for SIGHUP and reloads.
pub struct ReloadService {
    state: Arc<AppState>,
}

impl ReloadService {
    /// A reload service for `state`.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

#[async_trait]
impl BackgroundService for ReloadService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                log::error!("cannot install the SIGHUP handler, reload by signal is off: {e}");
                return;
            }
        };
        loop {
            tokio::select! {
                _ = hup.recv() => {
                    log::info!("SIGHUP received, reloading {}", self.state.config_path.display());
                    let _ = reload_from_file(&self.state).await;
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}

//! The SIGHUP service: each signal re-reads the config file through the control plane
//! ([`crate::control::apply`] with [`Change::Reload`]), which validates, compiles and swaps it in atomically.

use crate::control::{self, Change};
use crate::state::AppState;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::Arc;

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
                    // Applied or refused, the outcome is logged and counted by the control plane.
                    let _ = control::apply::<()>(&self.state, Change::Reload).await;
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}

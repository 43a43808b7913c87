//! The background watch of an etcd-backed node: every change of the document goes through
//! [`crate::control::apply`] ([`Change::Remote`]). The watch starts after the last revision this node
//! processed, so a reconnect misses nothing; a compacted start revision gives a full read of the document
//! instead. While etcd is unreachable the node keeps its running config and retries with a growing delay.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{EventType, WatchOptions};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use super::{client, Document, Store, StoreError};
use crate::control::{self, Change};
use crate::state::AppState;

/// Longest delay between two reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The watch service of an etcd-backed node.
pub struct WatchService {
    state: Arc<AppState>,
    store: Arc<Store>,
}

impl WatchService {
    /// The watch of `store` for the node `state`.
    pub fn new(state: Arc<AppState>, store: Arc<Store>) -> Self {
        Self { state, store }
    }

    /// One connection: catch up from the last processed revision, then follow. Returns why it ended.
    async fn session(&self) -> Result<(), StoreError> {
        let etcd = client::connect(&self.store.settings).await?;
        let key = self.store.settings.config_key();
        let start = self.store.seen() + 1;
        let mut stream = etcd
            .watch_client()
            .max_decoding_message_size(client::MAX_MESSAGE)
            .watch(
                key.as_str(),
                Some(WatchOptions::new().with_start_revision(start)),
            )
            .await
            .map_err(client::unavailable)?;
        log::debug!("config store: watching {key} from revision {start}");
        loop {
            let Some(resp) = stream.message().await.map_err(client::unavailable)? else {
                return Err(StoreError::Unavailable("the watch stream ended".into()));
            };
            self.store.set_reachable(true);
            if resp.canceled() {
                if resp.compact_revision() > 0 {
                    log::info!(
                        "config store: revision {start} was compacted (etcd keeps from {}); reading {key} whole",
                        resp.compact_revision()
                    );
                    return self.full_read(&etcd, &key).await;
                }
                return Err(StoreError::Unavailable(format!(
                    "the watch was cancelled: {}",
                    resp.cancel_reason()
                )));
            }
            // Only the last event of a batch matters: each is the whole document.
            let Some(event) = resp.events().last() else {
                continue;
            };
            let Some(kv) = event.kv() else { continue };
            match event.event_type() {
                EventType::Put => match kv.value_str() {
                    Ok(text) => {
                        let doc = Document {
                            text: text.to_owned(),
                            revision: kv.mod_revision(),
                        };
                        // Applied or refused, the outcome is logged and counted by the control plane.
                        let _ = control::apply::<()>(&self.state, Change::Remote(doc)).await;
                    }
                    Err(_) => {
                        self.state.metrics.config_store_refused.inc();
                        self.store.mark_seen(kv.mod_revision());
                        log::error!(
                            "config store: the value of {key} at revision {} is not UTF-8 text; keeping revision {}",
                            kv.mod_revision(),
                            self.store.applied()
                        );
                    }
                },
                EventType::Delete => {
                    self.store.mark_seen(kv.mod_revision());
                    log::warn!(
                        "config store: {key} was deleted; keeping the running config (revision {}); \
                         write one with `gateway config push`",
                        self.store.applied()
                    );
                }
            }
        }
    }

    /// Reads the document whole (after a compaction) and applies it if it is newer.
    async fn full_read(&self, etcd: &etcd_client::Client, key: &str) -> Result<(), StoreError> {
        let (doc, header) = client::get(etcd, key).await?;
        if let Some(doc) = doc {
            let _ = control::apply::<()>(&self.state, Change::Remote(doc)).await;
        }
        // Nothing changed the key between its revision and the read: the next watch starts there.
        self.store.mark_seen(header);
        Ok(())
    }
}

#[async_trait]
impl BackgroundService for WatchService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let started = std::time::Instant::now();
            tokio::select! {
                ended = self.session() => match ended {
                    Ok(()) => continue,
                    Err(e) => {
                        if matches!(e, StoreError::Unavailable(_)) {
                            self.store.set_reachable(false);
                        }
                        log::debug!("config store: watch ended: {e}");
                    }
                },
                _ = shutdown.changed() => return,
            }
            if started.elapsed() > MAX_BACKOFF * 5 {
                backoff = Duration::from_millis(100);
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

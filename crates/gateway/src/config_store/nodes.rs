//! Visibility: each etcd-backed node keeps a record at `<prefix>nodes/<node id>` under a lease (it vanishes
//! `node_ttl` seconds after the node stops renewing it), rewritten when its applied revision changes and every
//! third of `node_ttl` (`last_seen`); [`list`] is `GET /clustering/data-planes` in Kong's hybrid-mode shape.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{GetOptions, PutOptions};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use serde_json::{json, Value};

use super::{client, Store, StoreError};
use crate::state::AppState;

/// The registration service of an etcd-backed node.
pub struct Registration {
    state: Arc<AppState>,
    store: Arc<Store>,
}

impl Registration {
    /// The registration of the node `state`.
    pub fn new(state: Arc<AppState>, store: Arc<Store>) -> Self {
        Self { state, store }
    }

    /// This node's record now.
    fn record(&self, ip: &str) -> Value {
        let snap = self.state.snapshot.load();
        let now = crate::server::unix_now();
        json!({
            "id": self.store.node_id,
            "ip": ip,
            "hostname": crate::admin::hostname(),
            "version": env!("CARGO_PKG_VERSION"),
            "config_hash": snap.hash.get(..32).unwrap_or(&snap.hash),
            "config_revision": self.store.applied(),
            "last_seen": now,
            "updated_at": now,
        })
    }

    /// One lease: granted, the record written, then renewed until an error.
    async fn session(&self, lease: &mut Option<i64>) -> Result<(), StoreError> {
        let mut etcd = client::connect(&self.store.settings).await?;
        let ttl = self.store.settings.node_ttl as i64;
        let granted = etcd
            .lease_grant(ttl, None)
            .await
            .map_err(client::unavailable)?;
        *lease = Some(granted.id());
        let (mut keeper, mut acks) = etcd
            .lease_keep_alive(granted.id())
            .await
            .map_err(client::unavailable)?;
        let key = format!(
            "{}{}",
            self.store.settings.nodes_prefix(),
            self.store.node_id
        );
        let ip = local_ip(&self.store.settings.endpoints);
        let every = Duration::from_millis(self.store.settings.node_ttl * 1000 / 3);
        loop {
            let value = self.record(&ip).to_string();
            let options = PutOptions::new().with_lease(granted.id());
            client::kv(&etcd)
                .put(key.as_str(), value, Some(options))
                .await
                .map_err(client::unavailable)?;
            tokio::select! {
                _ = tokio::time::sleep(every) => {
                    keeper.keep_alive().await.map_err(client::unavailable)?;
                    match acks.message().await.map_err(client::unavailable)? {
                        Some(ack) if ack.ttl() > 0 => {}
                        _ => return Err(StoreError::Unavailable("the node's lease expired".into())),
                    }
                }
                _ = self.store.changed.notified() => {}
            }
        }
    }
}

#[async_trait]
impl BackgroundService for Registration {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut lease = None;
        loop {
            tokio::select! {
                ended = self.session(&mut lease) => {
                    if let Err(e) = ended {
                        log::debug!("config store: node registration ended: {e}");
                    }
                }
                _ = shutdown.changed() => break,
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => break,
            }
        }
        // Leave the list at once on a clean stop (best effort, bounded by the request timeout).
        if let Some(id) = lease {
            if let Ok(mut etcd) = client::connect(&self.store.settings).await {
                let _ = etcd.lease_revoke(id).await;
            }
        }
    }
}

/// The local address this host uses to reach the first etcd endpoint (no packet is sent).
fn local_ip(endpoints: &[String]) -> String {
    let target = endpoints.first().map(|e| {
        e.trim_start_matches("http://")
            .trim_start_matches("https://")
            .to_owned()
    });
    target
        .and_then(|t| {
            let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
            socket.connect(t).ok()?;
            socket.local_addr().ok()
        })
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "127.0.0.1".into())
}

/// `GET /clustering/data-planes`: every registered node, with `sync_status` `normal` when it runs the
/// document's current revision and `outdated` otherwise.
pub async fn list(store: &Store) -> Result<Value, StoreError> {
    let etcd = client::connect(&store.settings).await?;
    let (doc, _) = client::get(&etcd, &store.settings.config_key()).await?;
    let current = doc.map_or(0, |d| d.revision);
    let resp = client::kv(&etcd)
        .get(
            store.settings.nodes_prefix(),
            Some(GetOptions::new().with_prefix()),
        )
        .await
        .map_err(client::unavailable)?;
    let mut data: Vec<Value> = resp
        .kvs()
        .iter()
        .filter_map(|kv| serde_json::from_slice::<Value>(kv.value()).ok())
        .map(|mut node| {
            let revision = node["config_revision"].as_i64().unwrap_or(0);
            node["sync_status"] = json!(if revision == current {
                "normal"
            } else {
                "outdated"
            });
            node["labels"] = json!({});
            node
        })
        .collect();
    data.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Ok(json!({ "data": data, "next": null }))
}

//! The etcd config store (`gateway.config_store: {kind: etcd}`): the entities of every node live in one
//! declarative document at `<prefix>config`, versioned by etcd's `mod_revision`.
//!
//! Why one document and not one key per entity: the document is exactly what the file and `POST /config`
//! carry, so a node applies it through the same parser and `control::apply` path as a reload (one
//! validation of the whole config, references checked across entities, nothing half-applied), an Admin
//! API write is one compare-and-swap on one key (no multi-key transaction that could interleave with another
//! node's), and `gateway config push`/`pull` are plain text moves. The price is that every write sends the
//! whole document (10,000 services ≈ 2 MB, under etcd's default 1.5 MiB request limit only if raised; see
//! `docs/scale-out.md`).
//!
//! Parts: [`client`] (connect, get, compare-and-swap), [`document`] (the document read with the node's settings), [`cache`] (the local copy read when etcd is down at
//! start), [`startup`] (the first load), [`watch`] (the background watch that applies every change),
//! [`nodes`] (the node's lease-bound registration and `/clustering/data-planes`), [`apply`] (the etcd side
//! of `control::apply`), [`cli`] (`gateway config push`/`pull`).

pub mod apply;
pub mod cache;
pub mod cli;
pub mod client;
pub mod document;
pub mod nodes;
pub mod startup;
pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use gateway_config::config_store::ConfigStoreSettings;

/// A declarative document as stored in etcd, with the revision it was written at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The document's text (YAML or JSON, without a `gateway:` block).
    pub text: String,
    /// etcd's `mod_revision` of the document key.
    pub revision: i64,
}

/// Why an etcd operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// etcd cannot be reached (or answered an error): nothing was changed.
    #[error("the configuration store (etcd) is unreachable: {0}")]
    Unavailable(String),
    /// The document in etcd is not at the expected revision (another node wrote first).
    #[error("the configuration in etcd changed (now at revision {current}) since this node applied revision {expected}; retry once this node has applied it")]
    Conflict {
        /// The revision the write was based on.
        expected: i64,
        /// The document's revision in etcd now.
        current: i64,
    },
}

/// The process's view of the store: its settings, this node's identity, and the revisions applied and seen.
pub struct Store {
    /// The `gateway.config_store` block the process started with.
    pub settings: ConfigStoreSettings,
    /// This node's id in `<prefix>nodes/` and `/clustering/data-planes`.
    pub node_id: String,
    /// Where the last applied document is copied (read when etcd is down at start).
    pub cache_file: PathBuf,
    /// The revision of the document the running snapshot was compiled from.
    applied: AtomicI64,
    /// The highest revision the watch has processed (applied or refused).
    seen: AtomicI64,
    /// Whether the last etcd call succeeded.
    reachable: AtomicBool,
    /// Wakes the registration task when the applied revision changes.
    pub changed: tokio::sync::Notify,
}

impl Store {
    /// The store of a node whose config file is `config_path` and Admin API listens on `admin_listen`.
    pub fn new(settings: ConfigStoreSettings, config_path: &Path, admin_listen: &str) -> Store {
        let cache_file = settings.cache_file.clone().unwrap_or_else(|| {
            let mut p = config_path.as_os_str().to_owned();
            p.push(".etcd-cache");
            PathBuf::from(p)
        });
        let node_id = settings
            .node_id
            .clone()
            .unwrap_or_else(|| derived_node_id(&crate::admin::hostname(), admin_listen));
        Store {
            settings,
            node_id,
            cache_file,
            applied: AtomicI64::new(0),
            seen: AtomicI64::new(0),
            reachable: AtomicBool::new(true),
            changed: tokio::sync::Notify::new(),
        }
    }

    /// The revision of the running config's document.
    pub fn applied(&self) -> i64 {
        self.applied.load(Ordering::Acquire)
    }

    /// Records that the running config is the document at `revision` (and wakes the registration).
    pub fn set_applied(&self, revision: i64) {
        self.applied.store(revision, Ordering::Release);
        self.mark_seen(revision);
        self.changed.notify_one();
    }

    /// The highest revision processed by this node (applied or refused).
    pub fn seen(&self) -> i64 {
        self.seen.load(Ordering::Acquire)
    }

    /// Records that the document at `revision` was processed.
    pub fn mark_seen(&self, revision: i64) {
        self.seen.fetch_max(revision, Ordering::AcqRel);
    }

    /// Whether the last etcd call succeeded.
    pub fn reachable(&self) -> bool {
        self.reachable.load(Ordering::Relaxed)
    }

    /// Records the outcome of an etcd call.
    pub fn set_reachable(&self, up: bool) {
        let was = self.reachable.swap(up, Ordering::Relaxed);
        if was != up {
            if up {
                log::info!("config store: etcd reachable again");
            } else {
                log::warn!(
                    "config store: etcd unreachable; serving the last applied configuration"
                );
            }
        }
    }
}

/// A UUID derived from the host name and the Admin API address: stable across restarts, distinct for two
/// nodes on one host.
pub fn derived_node_id(hostname: &str, admin_listen: &str) -> String {
    let hash = blake3::hash(format!("{hostname}\n{admin_listen}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash.as_bytes()[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_are_stable_and_distinct() {
        let a = derived_node_id("h", "127.0.0.1:8001");
        assert_eq!(a, derived_node_id("h", "127.0.0.1:8001"));
        assert_ne!(a, derived_node_id("h", "127.0.0.1:8002"));
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }

    #[test]
    fn revisions_only_move_forward_when_seen() {
        let s = Store::new(
            ConfigStoreSettings::default(),
            Path::new("/etc/gw.yaml"),
            "x",
        );
        assert_eq!(s.cache_file, Path::new("/etc/gw.yaml.etcd-cache"));
        s.set_applied(5);
        s.mark_seen(3);
        assert_eq!((s.applied(), s.seen()), (5, 5));
        s.mark_seen(9);
        assert_eq!((s.applied(), s.seen()), (5, 9));
    }
}

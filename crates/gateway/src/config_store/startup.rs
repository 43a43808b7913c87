//! The first load of an etcd-backed node, before Pingora starts: the document from etcd (created from the
//! file's entities when etcd holds none: the file is the bootstrap), or, when etcd cannot be reached or
//! holds a document this node refuses, the local cache of the last document it applied.

use gateway_config::model::Config;

use super::{cache, client, document, Document, Store, StoreError};

/// What a node starts with.
pub struct Initial {
    /// The config (the file's `gateway:` settings, no overrides, and the document's entities).
    pub config: Config,
    /// The document it was loaded from.
    pub doc: Document,
}

/// Loads the node's first config; `file` is the config file as read (its settings and, for a bootstrap, its
/// entities). The error is the reason the node cannot start.
pub fn load(store: &Store, file: &Config) -> Result<Initial, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the etcd client: {e}"))?;
    let fetched = runtime.block_on(fetch(store, file));
    let key = store.settings.config_key();
    let why = match fetched {
        Ok(doc) => {
            store.set_reachable(true);
            match document::parse(&doc.text, &file.gateway) {
                Ok(config) => return Ok(Initial { config, doc }),
                Err(e) => {
                    // Counted as processed: the watch starts after it.
                    store.mark_seen(doc.revision);
                    format!(
                        "the document {key} at revision {} is refused:\n{e}",
                        doc.revision
                    )
                }
            }
        }
        Err(e) => e.to_string(),
    };
    let path = store.cache_file.display();
    match cache::read(&store.cache_file) {
        Ok(Some(doc)) => {
            let config = document::parse(&doc.text, &file.gateway)
                .map_err(|e| format!("{why}\nand the local cache {path} is refused:\n{e}"))?;
            log::warn!(
                "config store: {why}; starting from the local cache {path} (revision {})",
                doc.revision
            );
            Ok(Initial { config, doc })
        }
        Ok(None) => Err(format!("{why}\nand there is no local cache at {path}")),
        Err(e) => Err(format!("{why}\nand {e}")),
    }
}

/// The document in etcd; when there is none, the file's entities are written as the first one (only if
/// still absent: two nodes starting together agree on one).
async fn fetch(store: &Store, file: &Config) -> Result<Document, StoreError> {
    let etcd = client::connect(&store.settings).await?;
    let key = store.settings.config_key();
    let (doc, _) = client::get(&etcd, &key).await?;
    if let Some(doc) = doc {
        return Ok(doc);
    }
    let text = document::export(file).map_err(StoreError::Unavailable)?;
    match client::compare_and_swap(&etcd, &key, 0, &text).await {
        Ok(revision) => {
            log::info!(
                "config store: etcd held no configuration at {key}; wrote this file's entities (revision {revision})"
            );
            Ok(Document { text, revision })
        }
        Err(StoreError::Conflict { .. }) => client::get(&etcd, &key).await?.0.ok_or_else(|| {
            StoreError::Unavailable(format!("{key} was created and deleted meanwhile"))
        }),
        Err(e) => Err(e),
    }
}

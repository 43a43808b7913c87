//! The etcd side of [`crate::control::apply`], run under the writer lock. A reload (SIGHUP, file watch)
//! re-reads the file's settings and the document from etcd; a document from the watch is applied unless this
//! node already runs it; an Admin API write is edited and compiled as on a file-backed node, then written
//! with a compare-and-swap on the revision this node applied (409 when another node wrote first, 503 when
//! etcd cannot be reached) and only then swapped in. Every applied document is copied to the local cache.

use std::sync::Arc;

use gateway_config::kong::KongError;
use gateway_config::model::Settings;

use super::{cache, client, document, Document, Store, StoreError};
use crate::control::{self, Change, EditFn, FileState, Outcome, Refusal};
use crate::snapshot::{self, CompileError, Snapshot};
use crate::state::AppState;

/// Applies `change` on an etcd-backed node; `file` is the file state as last read.
pub async fn run<T: Send + 'static>(
    state: &Arc<AppState>,
    store: &Arc<Store>,
    file: FileState,
    change: Change<T>,
) -> Result<Outcome<T>, Refusal> {
    match change {
        Change::Reload | Change::Watch => reload(state, store).await,
        Change::Remote(doc) => remote(state, store, &file.settings, doc).await,
        Change::Edit(_, edit) => write(state, store, control::compile_error, edit).await,
        Change::Declare(edit) => write(state, store, control::declare_error, edit).await,
    }
}

/// The store's error as a refusal (and the reachability it shows).
fn refusal(store: &Store, e: StoreError) -> Refusal {
    match e {
        StoreError::Unavailable(_) => {
            store.set_reachable(false);
            Refusal::Unavailable(format!(
                "{e}; the running configuration is unchanged, retry when etcd is back"
            ))
        }
        StoreError::Conflict { .. } => {
            store.set_reachable(true);
            Refusal::Conflict(e.to_string())
        }
    }
}

/// Runs `f` off the async workers.
async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, Refusal> + Send + 'static,
) -> Result<R, Refusal> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(Refusal::Internal(format!("config change task failed: {e}"))))
}

/// Loads `doc` with the file's `settings` and the overrides, and compiles it.
fn compile_doc(state: &AppState, doc: &Document, settings: &Settings) -> Result<Snapshot, String> {
    let mut config = document::parse(&doc.text, settings)?;
    state.overrides.apply(&mut config);
    let next = config.gateway.clone();
    let snap = snapshot::compile_in(config, &doc.text, &state.registry, &state.balancers)
        .map_err(|e| e.to_string())?;
    control::warn_restart_settings(&state.started_with, &next);
    Ok(snap)
}

/// Swaps `snap` in as the document at `doc.revision`, and copies the document to the local cache.
fn activate(state: &AppState, store: &Store, snap: Snapshot, doc: &Document) -> String {
    let hash = snap.hash.clone();
    state.activate(snap);
    store.set_applied(doc.revision);
    state.metrics.config_revision.set(doc.revision);
    cache::write(&store.cache_file, doc);
    hash
}

/// SIGHUP: the file's settings again, and the document as etcd has it now.
async fn reload<T>(state: &Arc<AppState>, store: &Arc<Store>) -> Result<Outcome<T>, Refusal> {
    let key = store.settings.config_key();
    let fetched = async {
        let etcd = client::connect(&store.settings).await?;
        client::get(&etcd, &key).await
    }
    .await;
    let (doc, _) = fetched.map_err(|e| refusal(store, e))?;
    store.set_reachable(true);
    let doc = doc.ok_or_else(|| {
        Refusal::Invalid(format!(
            "etcd holds no configuration at {key}; write one with `gateway config push`"
        ))
    })?;
    let (st, stored) = (Arc::clone(state), Arc::clone(store));
    let (next_file, hash) = blocking(move || {
        let loaded = control::read(&st.config_path).map_err(Refusal::Invalid)?;
        let next_file = FileState::of(&loaded.source, &loaded.config);
        let snap = compile_doc(&st, &doc, &next_file.settings).map_err(|e| {
            stored.mark_seen(doc.revision);
            Refusal::Invalid(format!(
                "etcd document {key} at revision {}:\n{e}",
                doc.revision
            ))
        })?;
        let hash = activate(&st, &stored, snap, &doc);
        Ok((next_file, hash))
    })
    .await?;
    Ok((Some(next_file), None, Some(hash)))
}

/// A document from the watch: applied unless this node already runs that revision (its own write).
async fn remote<T>(
    state: &Arc<AppState>,
    store: &Arc<Store>,
    settings: &Settings,
    doc: Document,
) -> Result<Outcome<T>, Refusal> {
    if doc.revision <= store.applied() {
        store.mark_seen(doc.revision);
        return Ok((None, None, None));
    }
    let (st, stored, settings) = (Arc::clone(state), Arc::clone(store), settings.clone());
    let hash = blocking(move || {
        let key = stored.settings.config_key();
        let snap = compile_doc(&st, &doc, &settings).map_err(|e| {
            stored.mark_seen(doc.revision);
            st.metrics.config_store_refused.inc();
            Refusal::Invalid(format!(
                "etcd document {key} at revision {} refused (still running revision {}):\n{e}",
                doc.revision,
                stored.applied()
            ))
        })?;
        Ok(activate(&st, &stored, snap, &doc))
    })
    .await?;
    Ok((None, None, Some(hash)))
}

/// An Admin API write: edit and compile the running config, compare-and-swap the document, then swap.
async fn write<T: Send + 'static>(
    state: &Arc<AppState>,
    store: &Arc<Store>,
    on_compile_error: fn(CompileError) -> KongError,
    edit: EditFn<T>,
) -> Result<Outcome<T>, Refusal> {
    let st = Arc::clone(state);
    let (next, out) = blocking(move || {
        let current = st.snapshot.load().config.clone();
        let (next, out) = edit(&current).map_err(Refusal::Kong)?;
        let Some(next) = next else {
            return Ok((None, out));
        };
        let text = document::export(&next).map_err(Refusal::Internal)?;
        let snap = snapshot::compile_in(next, &text, &st.registry, &st.balancers)
            .map_err(|e| Refusal::Kong(on_compile_error(e)))?;
        Ok((Some((snap, text)), out))
    })
    .await?;
    let Some((snap, text)) = next else {
        return Ok((None, Some(out), None));
    };
    let key = store.settings.config_key();
    let written = async {
        let etcd = client::connect(&store.settings).await?;
        client::compare_and_swap(&etcd, &key, store.applied(), &text).await
    }
    .await;
    let revision = written.map_err(|e| refusal(store, e))?;
    store.set_reachable(true);
    let doc = Document { text, revision };
    // Off the async workers, as every swap: dropping the old snapshot and writing the cache take time with
    // large configs.
    let (st, stored) = (Arc::clone(state), Arc::clone(store));
    let hash = blocking(move || Ok(activate(&st, &stored, snap, &doc))).await?;
    Ok((None, Some(out), Some(hash)))
}

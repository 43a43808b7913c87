//! The control plane: the one path every config change takes. A SIGHUP reload (also `gateway reload`) and an
//! Admin API write both go through [`apply`]: under the writer lock, off the async workers, the next config is
//! made (re-read from the file, or edited from the running one), compiled into a snapshot, persisted (Admin
//! API writes only: atomic file replace) and only then swapped in. A refused change touches neither the file
//! nor the running snapshot.
//!
//! What the file says is kept apart from what runs: [`FileState`] holds the `gateway:` block as written in the
//! file (the running snapshot holds it with command-line and environment overrides applied), the file's header
//! comments, and the hash of the text this process last read or wrote. An Admin API write serialises the
//! edited config with those file settings, never with the overrides and never by re-reading the file; and it
//! is refused when the file on disk is not the one last read or written (hand edits not loaded yet, a file
//! hand-edited into invalid YAML, a missing file), so it can neither drop a setting such as `admin_token` nor
//! overwrite edits nobody has loaded.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use gateway_config::kong::{Kind, KongError};
use gateway_config::load::{ParseCache, Timings};
use gateway_config::model::{Config, Settings};
use gateway_config::settings::Applies;

use crate::snapshot::{self, CompileError};
use crate::state::AppState;

/// The config file as this process last read or wrote it.
#[derive(Debug, Clone)]
pub struct FileState {
    /// The `gateway:` block as written in the file (no command-line or environment overrides).
    pub settings: Settings,
    /// The comment lines at the top of the file, kept across Admin API rewrites.
    pub header: String,
    /// BLAKE3 of the file's text.
    pub hash: blake3::Hash,
}

impl FileState {
    /// The state of a file whose text is `text` and whose config is `config` (as parsed, no overrides).
    pub fn of(text: &str, config: &Config) -> FileState {
        FileState {
            settings: config.gateway.clone(),
            header: leading_comments(text),
            hash: blake3::hash(text.as_bytes()),
        }
    }
}

/// A config read from the file: the config as written (overrides not applied) and its text.
pub struct Loaded {
    /// The parsed, validated config.
    pub config: Config,
    /// The file's text.
    pub source: String,
}

/// The items of the last parse of the config file (one file per process): a reload parses only the services,
/// routes, plugins, … whose text changed (`gateway_config::load::chunked`).
static PARSE_CACHE: std::sync::LazyLock<ParseCache> = std::sync::LazyLock::new(ParseCache::default);

/// Reads and validates the config file; the error text has one problem per line.
pub fn read(path: &Path) -> Result<Loaded, String> {
    let source = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let (config, reuse) =
        gateway_config::load::parse_str_cached(&source, &PARSE_CACHE, &mut Timings::default())
            .map_err(|e| e.to_string())?;
    log::debug!(
        "config read items_parsed={} items_reused={}",
        reuse.parsed,
        reuse.reused
    );
    Ok(Loaded { config, source })
}

/// What an Admin API edit decided: the new config (`None`: nothing to write) and the value to answer with.
pub type Edit<T> = Result<(Option<Config>, T), KongError>;

/// A boxed Admin API edit of the running config.
pub type EditFn<T> = Box<dyn FnOnce(&Config) -> Edit<T> + Send>;

/// A change to the running config.
pub enum Change<T> {
    /// Re-read the config file (SIGHUP, `gateway reload`).
    Reload,
    /// Re-read the config file because it changed (`gateway.watch_config`).
    Watch,
    /// An Admin API write: the edit runs on the running config; `kind` names the edited entity kind.
    Edit(Kind, EditFn<T>),
    /// `POST /config`: the edit gives a whole new config (validated as a file); refusals are Kong's code 14.
    Declare(EditFn<T>),
    /// A document the etcd watch received (etcd-backed nodes only).
    Remote(crate::config_store::Document),
}

/// Why a change was refused. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The file cannot be read or is not a valid config (a reload); one problem per line.
    #[error("{0}")]
    Invalid(String),
    /// The Admin API edit is invalid (Kong's error body).
    #[error("{0:?}")]
    Kong(KongError),
    /// The file on disk is not the one this process last read or wrote (an Admin API write).
    #[error("{0}")]
    FileChanged(String),
    /// The etcd document changed since this node applied it (an Admin API write on an etcd-backed node).
    #[error("{0}")]
    Conflict(String),
    /// etcd cannot be reached (an Admin API write or a reload on an etcd-backed node).
    #[error("{0}")]
    Unavailable(String),
    /// Serialising or writing the file failed, or the worker task failed.
    #[error("{0}")]
    Internal(String),
}

/// Applies one change: the single path of SIGHUP reloads and Admin API writes (see the module docs). `Ok`
/// holds an edit's answer (`None` for a reload).
pub async fn apply<T: Send + 'static>(
    state: &Arc<AppState>,
    change: Change<T>,
) -> Result<Option<T>, Refusal> {
    let mut file = state.file.lock().await;
    let (source, kind) = match &change {
        Change::Reload => ("sighup", None),
        Change::Watch => ("watch", None),
        Change::Edit(kind, _) => ("admin", Some(kind.collection())),
        Change::Declare(_) => ("admin", Some("config")),
        Change::Remote(_) => ("etcd", None),
    };
    let st = Arc::clone(state);
    let current = file.clone();
    let started = std::time::Instant::now();
    let result = if let Some(store) = &state.store {
        crate::config_store::apply::run(&st, store, current, change).await
    } else {
        tokio::task::spawn_blocking(move || match change {
            Change::Reload | Change::Watch => {
                reload(&st).map(|(next, hash)| (Some(next), None, Some(hash)))
            }
            Change::Edit(_, edit) => write(&st, &current, compile_error, edit),
            Change::Declare(edit) => write(&st, &current, declare_error, edit),
            Change::Remote(_) => Err(Refusal::Internal(
                "an etcd document reached a file-backed node".into(),
            )),
        })
        .await
        .unwrap_or_else(|e| Err(Refusal::Internal(format!("config change task failed: {e}"))))
    };
    let metrics = &state.metrics;
    match result {
        Ok((next_file, out, hash)) => {
            if let Some(next_file) = next_file {
                *file = next_file;
            }
            if let Some(hash) = &hash {
                metrics.reloads.with_label_values(&[source, "ok"]).inc();
                metrics.config_loaded_at.set(crate::server::unix_now());
                let hash = hash.get(..16).unwrap_or(hash);
                let path = match &state.store {
                    Some(store) => format!(
                        "etcd:{} revision={}",
                        store.settings.config_key(),
                        store.applied()
                    ),
                    None => state.config_path.display().to_string(),
                };
                let ms = started.elapsed().as_millis();
                match kind {
                    None => log::info!("config reloaded path={path} hash={hash} ms={ms}"),
                    Some(kind) => log::info!(
                        "admin API write applied kind={kind} path={path} hash={hash} ms={ms}"
                    ),
                }
            }
            Ok(out)
        }
        Err(refusal) => {
            // A compile that got far enough to build balancers (then failed, or its file could not be written)
            // must not leave their probes running: keep only the running snapshot's.
            state.balancers.retain(&state.snapshot.load().upstreams);
            metrics.reloads.with_label_values(&[source, "error"]).inc();
            match &refusal {
                // The file's errors are the operator's to read; an Admin API refusal is the client's.
                Refusal::Invalid(msg) => log::error!(
                    "config reload refused, keeping the running config path={} errors:\n{msg}",
                    state.config_path.display()
                ),
                Refusal::Kong(k) => log::info!(
                    "admin API write refused kind={} status={}",
                    kind.unwrap_or("-"),
                    k.status()
                ),
                Refusal::FileChanged(msg)
                | Refusal::Conflict(msg)
                | Refusal::Unavailable(msg)
                | Refusal::Internal(msg) => {
                    log::warn!("config change refused source={source} reason={msg}");
                }
            }
            Err(refusal)
        }
    }
}

/// What an applied change gives: the next file state (when the file was read or written), the edit's answer,
/// and the new snapshot's hash (`None`: nothing was swapped in).
pub type Outcome<T> = (Option<FileState>, Option<T>, Option<String>);

/// Re-read the file, apply the overrides, compile and swap. Returns the new file state and snapshot hash.
fn reload(state: &AppState) -> Result<(FileState, String), Refusal> {
    let t0 = std::time::Instant::now();
    let Loaded { mut config, source } = read(&state.config_path).map_err(Refusal::Invalid)?;
    let t_read = t0.elapsed();
    let next_file = FileState::of(&source, &config);
    state.overrides.apply(&mut config);
    let settings = config.gateway.clone();
    let snap = snapshot::compile_in(config, &source, &state.registry, &state.balancers)
        .map_err(|e| Refusal::Invalid(e.to_string()))?;
    let t_compile = t0.elapsed();
    warn_restart_settings(&state.started_with, &settings);
    let hash = snap.hash.clone();
    state.activate(snap);
    let t_swap = t0.elapsed();
    log::debug!(
        "config reload phases ms: read+parse+validate {:.1}, compile {:.1}, swap {:.1}",
        t_read.as_secs_f64() * 1e3,
        (t_compile - t_read).as_secs_f64() * 1e3,
        (t_swap - t_compile).as_secs_f64() * 1e3,
    );
    Ok((next_file, hash))
}

/// Edit, compile, write the file, swap: in that order, stopping at the first error.
fn write<T>(
    state: &AppState,
    file: &FileState,
    on_compile_error: fn(CompileError) -> KongError,
    edit: EditFn<T>,
) -> Result<Outcome<T>, Refusal> {
    check_file_unchanged(&state.config_path, file)?;
    let current = state.snapshot.load().config.clone();
    let (next, out) = edit(&current).map_err(Refusal::Kong)?;
    let Some(next) = next else {
        return Ok((None, Some(out), None));
    };
    if current.deck_env_templates {
        return Err(Refusal::FileChanged(format!(
            "the config file {} uses decK env templates (${{{{ env \"DECK_…\" }}}}); an Admin API write would store their values in it: edit the file and reload instead",
            state.config_path.display()
        )));
    }
    let mut on_disk = next.clone();
    on_disk.gateway = file.settings.clone();
    let body = gateway_config::load::to_yaml(&on_disk)
        .map_err(|e| Refusal::Internal(format!("cannot serialise the config: {e}")))?;
    let text = format!("{}{body}", file.header);
    let snap = snapshot::compile_in(next, &text, &state.registry, &state.balancers)
        .map_err(|e| Refusal::Kong(on_compile_error(e)))?;
    write_atomic(&state.config_path, text.as_bytes()).map_err(|e| {
        Refusal::Internal(format!("cannot write {}: {e}", state.config_path.display()))
    })?;
    let next_file = FileState {
        hash: blake3::hash(text.as_bytes()),
        ..file.clone()
    };
    let hash = snap.hash.clone();
    state.activate(snap);
    Ok((Some(next_file), Some(out), Some(hash)))
}

/// Refuses an Admin API write when the file is not the one this process last read or wrote.
fn check_file_unchanged(path: &Path, file: &FileState) -> Result<(), Refusal> {
    let text = std::fs::read(path).map_err(|e| {
        Refusal::FileChanged(format!(
            "cannot read the config file {}: {e}; restore it (or reload a valid one) before writing through the Admin API",
            path.display()
        ))
    })?;
    if blake3::hash(&text) != file.hash {
        return Err(Refusal::FileChanged(format!(
            "the config file {} changed on disk since it was last loaded; reload it (SIGHUP) before writing through the Admin API",
            path.display()
        )));
    }
    Ok(())
}

/// Settings that only take effect at start: say so when an applied reload changes them (every reload repeats
/// the warning until the process is restarted or upgraded).
pub fn warn_restart_settings(running: &Settings, new: &Settings) {
    for setting in running.changes(new) {
        if setting.applies == Applies::OnRestart {
            log::warn!(
                "config reload: gateway.{} changed; it takes effect only after a restart or a binary upgrade",
                setting.name
            );
        }
    }
}

/// The comment lines at the top of the file, kept across rewrites.
fn leading_comments(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if !line.starts_with('#') {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// A config that validated but did not compile (no entity-specific field to point at: upstream host names
/// are not resolved when compiling, so a host that does not resolve is accepted).
pub fn compile_error(e: CompileError) -> KongError {
    KongError::field("", e.to_string())
}

/// [`compile_error`] for `POST /config`: Kong's code 14, the error at the document level.
pub fn declare_error(e: CompileError) -> KongError {
    let message = e.to_string();
    let fields = serde_json::json!({ "error": message });
    KongError::Declarative(Box::new(gateway_config::kong::errors::Declarative {
        message: format!(
            "declarative config is invalid: {}",
            gateway_config::kong::errors::lua_pretty(&fields)
        ),
        fields,
        flattened: None,
    }))
}

/// Replaces `path` with `bytes` atomically: a temp file in the same directory (same permissions as the old
/// file), fsync, rename over the old file, fsync of the directory. On error the old file is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config".into());
    let tmp = dir.join(format!(".{name}.admin-{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        if let Ok(meta) = fs::metadata(path) {
            file.set_permissions(meta.permissions())?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_the_file() {
        let dir = std::env::temp_dir().join(format!("gw-admin-atomic-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gateway.yaml");
        fs::write(&path, "old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp file left");
        assert!(write_atomic(&dir.join("missing/x.yaml"), b"x").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn file_state_keeps_the_file_settings_and_header() {
        let text =
            "# one\n# two\n_format_version: \"3.0\"\ngateway:\n  proxy_listen: 127.0.0.1:9\n";
        let config = gateway_config::load::parse_str(text).unwrap();
        let f = FileState::of(text, &config);
        assert_eq!(f.header, "# one\n# two\n");
        assert_eq!(f.settings.proxy_listen, "127.0.0.1:9");
        assert_eq!(f.hash, blake3::hash(text.as_bytes()));
        assert_eq!(leading_comments("_format_version: \"3.0\"\n"), "");
    }

    #[test]
    fn a_changed_or_missing_file_refuses_the_write() {
        let dir = std::env::temp_dir().join(format!("gw-control-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gateway.yaml");
        let text = "_format_version: \"3.0\"\n";
        std::fs::write(&path, text).unwrap();
        let config = gateway_config::load::parse_str(text).unwrap();
        let f = FileState::of(text, &config);
        assert!(check_file_unchanged(&path, &f).is_ok());
        std::fs::write(&path, "_format_version: [\n").unwrap();
        let e = check_file_unchanged(&path, &f).unwrap_err().to_string();
        assert!(e.contains("changed on disk"), "{e}");
        std::fs::remove_file(&path).unwrap();
        let e = check_file_unchanged(&path, &f).unwrap_err().to_string();
        assert!(e.contains("cannot read the config file"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! The Admin API's write path: one writer at a time, starting from the running config; the change is
//! validated and compiled, the YAML file replaced atomically (temp file, fsync, rename, fsync of the
//! directory), and only then the new snapshot swapped in. A refused write touches neither file nor snapshot.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use gateway_config::kong::{Kind, KongError};
use gateway_config::model::{Config, Settings};

use super::error::ApiError;
use crate::snapshot::{self, CompileError};
use crate::state::AppState;

/// What an edit decided: the new config (`None`: nothing to write) and the value to answer with.
pub type Edit<T> = Result<(Option<Config>, T), KongError>;

/// Runs `edit` on the current config under the writer lock and, when it returns a new config, persists and
/// installs it. `kind` names the edited entity kind for error mapping and logs.
pub async fn write<T, F>(state: &Arc<AppState>, kind: Kind, edit: F) -> Result<T, ApiError>
where
    F: FnOnce(&Config) -> Edit<T> + Send + 'static,
    T: Send + 'static,
{
    let _writer = state.write_lock.lock().await;
    let st = Arc::clone(state);
    let result = tokio::task::spawn_blocking(move || apply(&st, kind, edit))
        .await
        .unwrap_or_else(|e| Err(ApiError::Internal(format!("admin write task failed: {e}"))));
    let metrics = &state.metrics;
    match result {
        Ok((out, Some(hash))) => {
            metrics.reloads.with_label_values(&["admin", "ok"]).inc();
            metrics.config_loaded_at.set(crate::server::unix_now());
            log::info!(
                "admin API write applied kind={} path={} hash={}",
                kind.collection(),
                state.config_path.display(),
                hash.get(..16).unwrap_or(&hash)
            );
            Ok(out)
        }
        Ok((out, None)) => Ok(out),
        Err(e) => {
            metrics.reloads.with_label_values(&["admin", "error"]).inc();
            log::info!(
                "admin API write refused kind={} reason={}",
                kind.collection(),
                refusal(&e)
            );
            Err(e)
        }
    }
}

/// A short reason for the log (field names and codes only, never values from the request).
fn refusal(e: &ApiError) -> String {
    match e {
        ApiError::Kong(k) => format!("status={}", k.status()),
        ApiError::Internal(_) => "internal error".into(),
        other => format!("{other:?}"),
    }
}

/// Edit, compile, write the file, swap: in that order, stopping at the first error.
fn apply<T>(
    state: &AppState,
    kind: Kind,
    edit: impl FnOnce(&Config) -> Edit<T>,
) -> Result<(T, Option<String>), ApiError> {
    let current = state.snapshot.load().config.clone();
    let (next, out) = edit(&current)?;
    let Some(next) = next else {
        return Ok((out, None));
    };
    let existing = fs::read_to_string(&state.config_path).unwrap_or_default();
    let mut on_disk = next.clone();
    on_disk.gateway = file_settings(&existing).unwrap_or_else(|| next.gateway.clone());
    let body = gateway_config::load::to_yaml(&on_disk)
        .map_err(|e| ApiError::Internal(format!("cannot serialise the config: {e}")))?;
    let text = format!("{}{body}", leading_comments(&existing));
    let snap = snapshot::compile(next, &text, &state.registry)
        .map_err(|e| ApiError::Kong(compile_error(kind, e)))?;
    write_atomic(&state.config_path, text.as_bytes()).map_err(|e| {
        ApiError::Internal(format!("cannot write {}: {e}", state.config_path.display()))
    })?;
    let hash = snap.hash.clone();
    state.activate(Arc::new(snap));
    Ok((out, Some(hash)))
}

/// The `gateway:` block as written in the file: command-line overrides live only in memory.
fn file_settings(text: &str) -> Option<Settings> {
    let doc: serde_yaml::Value = serde_yaml::from_str(text).ok()?;
    match doc.get("gateway") {
        None => Some(Settings::default()),
        Some(block) => serde_yaml::from_value(block.clone()).ok(),
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

fn compile_error(kind: Kind, e: CompileError) -> KongError {
    match e {
        CompileError::Resolve { host, reason, .. } if kind == Kind::Service => {
            KongError::field("host", format!("cannot resolve {host:?}: {reason}"))
        }
        other => KongError::field("", other.to_string()),
    }
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
    fn file_settings_and_comments() {
        let text =
            "# one\n# two\n_format_version: \"3.0\"\ngateway:\n  proxy_listen: 127.0.0.1:9\n";
        assert_eq!(leading_comments(text), "# one\n# two\n");
        assert_eq!(file_settings(text).unwrap().proxy_listen, "127.0.0.1:9");
        assert!(file_settings("_format_version: \"3.0\"\n")
            .unwrap()
            .is_default());
        assert!(file_settings(": : :").is_none());
    }

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
}

//! `gateway.watch_config`: follow the config file without a signal. inotify (through `notify`) watches the
//! file's directory (and, when the path is a symlink, the directory of the file it resolves to), so an
//! editor's rename-on-save, an in-place write and Kubernetes' ConfigMap update (an atomic rename of the
//! `..data` symlink) are all seen. Events are debounced; then the file is read and, only when its content
//! differs from what is running and from what was last tried, the control plane reloads it exactly as on
//! SIGHUP ([`Change::Watch`]): validated, swapped, or refused and logged with the running config kept. An
//! Admin API write (which rewrites the file) therefore causes no second reload.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::sync::mpsc;

use crate::control::{self, Change};
use crate::state::AppState;

/// Quiet time after the last event before the file is read: a ConfigMap update or an editor's save is a
/// burst of a few events within milliseconds.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// Background service that reloads when the config file changes.
pub struct WatchService {
    state: Arc<AppState>,
}

impl WatchService {
    /// A watch service for `state`.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

/// True for events that can change what the path reads: creation, modification, removal, renames and a
/// close after writing (not opens and reads, which our own reads of the file cause).
fn relevant(event: &Event) -> bool {
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// The directories to watch: the path's own, and the resolved file's when it differs (a symlink).
fn directories(path: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let own = match path.parent() {
        Some(p) if p.as_os_str().is_empty() => PathBuf::from("."),
        Some(p) => p.to_path_buf(),
        None => PathBuf::from("/"),
    };
    dirs.push(own);
    if let Some(dir) = std::fs::canonicalize(path)
        .ok()
        .and_then(|real| real.parent().map(Path::to_path_buf))
    {
        if std::fs::canonicalize(&dirs[0]).ok().as_ref() != Some(&dir) {
            dirs.push(dir);
        }
    }
    dirs
}

/// The watcher and the directories it watches, re-pointed when the resolved file moves.
struct Watching {
    watcher: RecommendedWatcher,
    dirs: Vec<PathBuf>,
}

impl Watching {
    fn update(&mut self, path: &Path) {
        let wanted = directories(path);
        for dir in self.dirs.iter().filter(|d| !wanted.contains(d)) {
            let _ = self.watcher.unwatch(dir);
        }
        for dir in wanted.iter().filter(|d| !self.dirs.contains(d)) {
            if let Err(e) = self.watcher.watch(dir, RecursiveMode::NonRecursive) {
                log::warn!("watch_config: cannot watch {}: {e}", dir.display());
            }
        }
        self.dirs = wanted;
    }
}

#[async_trait]
impl BackgroundService for WatchService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let path = self.state.config_path.clone();
        let (tx, mut rx) = mpsc::unbounded_channel::<()>();
        let watcher = notify::recommended_watcher(move |res: notify::Result<Event>| match res {
            Ok(event) if relevant(&event) => {
                let _ = tx.send(());
            }
            Ok(_) => {}
            // An overflowed queue loses events: look at the file anyway.
            Err(_) => {
                let _ = tx.send(());
            }
        });
        let mut watching = match watcher {
            Ok(watcher) => Watching {
                watcher,
                dirs: Vec::new(),
            },
            Err(e) => {
                log::error!(
                    "watch_config: cannot start the file watcher, reload by signal only: {e}"
                );
                return;
            }
        };
        watching.update(&path);
        log::info!(
            "watch_config: following {} (directories: {:?})",
            path.display(),
            watching.dirs
        );
        let mut last_tried = self.state.file.lock().await.hash;
        loop {
            tokio::select! {
                got = rx.recv() => if got.is_none() { return },
                _ = shutdown.changed() => return,
            }
            // Debounce: wait for a quiet period.
            loop {
                tokio::select! {
                    more = tokio::time::timeout(DEBOUNCE, rx.recv()) => match more {
                        Ok(Some(())) => continue,
                        Ok(None) => return,
                        Err(_) => break,
                    },
                    _ = shutdown.changed() => return,
                }
            }
            watching.update(&path);
            let text = match tokio::fs::read(&path).await {
                Ok(text) => text,
                // Mid-swap or removed: the next event (or none) decides.
                Err(e) => {
                    log::warn!("watch_config: cannot read {}: {e}", path.display());
                    continue;
                }
            };
            let hash = blake3::hash(&text);
            let running = self.state.file.lock().await.hash;
            if hash == running || hash == last_tried {
                continue;
            }
            last_tried = hash;
            log::info!("config file changed, reloading {}", path.display());
            // Applied or refused, the outcome is logged and counted by the control plane.
            let _ = control::apply::<()>(&self.state, Change::Watch).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, ModifyKind, RenameMode};

    #[test]
    fn reads_of_the_file_are_not_changes() {
        let open = Event::new(EventKind::Access(AccessKind::Open(AccessMode::Read)));
        let close_read = Event::new(EventKind::Access(AccessKind::Close(AccessMode::Read)));
        assert!(!relevant(&open));
        assert!(!relevant(&close_read));
        for kind in [
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
        ] {
            assert!(relevant(&Event::new(kind)), "{kind:?}");
        }
    }

    #[test]
    fn a_symlinked_file_adds_the_directory_it_resolves_to() {
        let base = std::env::temp_dir().join(format!("gw-watch-{}", std::process::id()));
        let (real, link) = (base.join("real"), base.join("link"));
        std::fs::create_dir_all(&real).unwrap();
        std::fs::create_dir_all(&link).unwrap();
        std::fs::write(real.join("gateway.yaml"), "x").unwrap();
        let file = link.join("gateway.yaml");
        let _ = std::fs::remove_file(&file);
        std::os::unix::fs::symlink(real.join("gateway.yaml"), &file).unwrap();
        let dirs = directories(&file);
        assert_eq!(dirs[0], link);
        assert_eq!(dirs[1], std::fs::canonicalize(&real).unwrap());
        assert_eq!(directories(&real.join("gateway.yaml")).len(), 1);
        assert_eq!(directories(Path::new("gateway.yaml")), [PathBuf::from(".")]);
        std::fs::remove_dir_all(&base).unwrap();
    }
}

//! Kong's `file-log` plugin (priority 9, `kong/plugins/file-log/handler.lua`): Kong's log record
//! ([`crate::log_record`]) appended to `path` as one JSON line per request, the file created when missing
//! (mode 0644), closed and reopened for every entry with `reopen`. The schema is
//! `gateway_config::plugins::file_log`.
//!
//! A request never waits for the disk: its line goes into a bounded channel read by one writer thread per
//! path (shared by every instance and kept across reloads while an instance uses it). When the channel is
//! full the line is dropped, counted in `gateway_log_entries_dropped_total{plugin="file-log"}`, and a warning
//! is written at most every 10 s.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, Weak};

use gateway_config::plugins::file_log::FileLogConfig;

use super::{Exchange, LogView, Phases, Plugin};
use crate::log_record::{self, Throttle};

/// Lines that may wait for the writer thread of one path.
pub const CHANNEL_CAPACITY: usize = 8192;

/// One line to append, and whether to reopen the file first.
type Line = (Vec<u8>, bool);

/// The writer thread of one path: lines go to it through `tx`; dropping the last handle ends it.
struct Writer {
    tx: SyncSender<Line>,
    dropped: Throttle,
}

/// The writer of `path`, started on first use.
fn writer(path: &str) -> Arc<Writer> {
    static WRITERS: Mutex<Option<HashMap<String, Weak<Writer>>>> = Mutex::new(None);
    let mut guard = WRITERS.lock().unwrap_or_else(|e| e.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    if let Some(w) = map.get(path).and_then(Weak::upgrade) {
        return w;
    }
    map.retain(|_, w| w.strong_count() > 0);
    let (tx, rx) = sync_channel(CHANNEL_CAPACITY);
    let owned = path.to_string();
    if let Err(e) = std::thread::Builder::new()
        .name("file-log".into())
        .spawn(move || run(&owned, rx))
    {
        log::error!("file-log: could not start the writer of {path:?}: {e}");
    }
    let w = Arc::new(Writer {
        tx,
        dropped: Throttle::new(),
    });
    map.insert(path.to_string(), Arc::downgrade(&w));
    w
}

/// Opens `path` for appending (created 0644 when missing).
fn open(path: &str) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o644);
    o.open(path)
}

/// The writer thread: appends each line, batching what is already waiting into one write.
fn run(path: &str, rx: Receiver<Line>) {
    let errors = Throttle::new();
    let mut file: Option<File> = None;
    let mut buf = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some((line, reopen)) = next.take() {
            if reopen {
                // Kong closes and reopens for every entry: write what is buffered to the old file first.
                flush(path, &mut file, &mut buf, &errors);
                file = None;
            }
            buf.extend_from_slice(&line);
            if reopen {
                flush(path, &mut file, &mut buf, &errors);
                file = None;
            }
            next = rx.try_recv().ok();
        }
        flush(path, &mut file, &mut buf, &errors);
    }
}

fn flush(path: &str, file: &mut Option<File>, buf: &mut Vec<u8>, errors: &Throttle) {
    if buf.is_empty() {
        return;
    }
    if file.is_none() {
        match open(path) {
            Ok(f) => *file = Some(f),
            Err(e) => {
                errors.event(|n| {
                    log::error!(
                        "file-log: failed to open the file {path:?}: {e} ({n} entries lost)"
                    )
                });
                buf.clear();
                return;
            }
        }
    }
    if let Some(f) = file.as_mut() {
        if let Err(e) = f.write_all(buf) {
            errors.event(|n| {
                log::error!("file-log: failed to write to {path:?}: {e} ({n} writes failed)")
            });
            *file = None;
        }
    }
    buf.clear();
}

/// One file-log config, running.
pub struct FileLog {
    reopen: bool,
    writer: Arc<Writer>,
}

impl FileLog {
    /// The plugin for `cfg` (its writer thread started or shared).
    pub fn new(cfg: &FileLogConfig) -> Self {
        FileLog {
            reopen: cfg.reopen,
            writer: writer(&cfg.path),
        }
    }
}

impl Plugin for FileLog {
    fn name(&self) -> &'static str {
        "file-log"
    }

    fn phases(&self) -> Phases {
        Phases::LOG
    }

    fn log(&self, entry: &LogView<'_>, ex: &Exchange) {
        let mut line = log_record::serialize(entry, ex).to_string().into_bytes();
        line.push(b'\n');
        match self.writer.tx.try_send((line, self.reopen)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                entry
                    .metrics
                    .log_dropped
                    .with_label_values(&["file-log", "queue_full"])
                    .inc();
                self.writer.dropped.event(|n| {
                    log::warn!("file-log: the writer is behind, {n} log entries dropped")
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_appended_and_a_reopen_finds_a_renamed_file_again() {
        let dir = std::env::temp_dir().join(format!("file-log-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.log");
        let p = path.to_str().unwrap().to_string();
        let w = writer(&p);
        assert!(Arc::ptr_eq(&w, &writer(&p)), "one writer per path");
        w.tx.send((b"{\"n\":1}\n".to_vec(), true)).unwrap();
        let wait = |path: &std::path::Path, want: &str| {
            for _ in 0..200 {
                if std::fs::read_to_string(path).unwrap_or_default() == want {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            panic!("{path:?} never held {want:?}");
        };
        wait(&path, "{\"n\":1}\n");
        std::fs::rename(&path, dir.join("a.log.1")).unwrap();
        w.tx.send((b"{\"n\":2}\n".to_vec(), true)).unwrap();
        wait(&path, "{\"n\":2}\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! Process lifecycle around Pingora: the shutdown signals (SIGTERM/SIGINT graceful, SIGQUIT upgrade, a second
//! SIGTERM/SIGINT exits at once) and the pid file of a foreground process.

use async_trait::async_trait;
use pingora::server::{ShutdownSignal, ShutdownSignalWatch};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once a shutdown or upgrade signal arrived: from then on responses close their connection, so that
/// keep-alive clients move to the new process during an upgrade's overlap instead of being cut off later.
static DRAINING: AtomicBool = AtomicBool::new(false);

/// Whether this process is shutting down or handing over to a new binary.
pub fn draining() -> bool {
    DRAINING.load(Ordering::Relaxed)
}

/// The gateway's shutdown signals, given to Pingora's `Server::run`.
///
/// - SIGQUIT: graceful upgrade (hand the listening sockets to a new process started with `--upgrade`).
/// - SIGTERM and SIGINT: graceful shutdown (stop accepting, let in-flight requests finish within
///   `grace_period_seconds`, then `graceful_shutdown_timeout_seconds` for the runtimes to stop).
/// - A second SIGTERM or SIGINT while shutting down or upgrading: exit at once.
///
/// Pingora's own watcher treats SIGINT as a fast shutdown that drops in-flight requests, and once its
/// handlers are installed a second signal is ignored; both are changed here.
pub struct ShutdownSignals;

#[async_trait]
impl ShutdownSignalWatch for ShutdownSignals {
    async fn recv(&self) -> ShutdownSignal {
        use tokio::signal::unix::{signal, SignalKind};
        let handlers = (
            signal(SignalKind::quit()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        );
        let (Ok(mut quit), Ok(mut term), Ok(mut int)) = handlers else {
            log::error!("cannot install the shutdown signal handlers; stopping");
            return ShutdownSignal::FastShutdown;
        };
        let received = tokio::select! {
            _ = quit.recv() => ShutdownSignal::GracefulUpgrade,
            _ = term.recv() => ShutdownSignal::GracefulTerminate,
            _ = int.recv() => ShutdownSignal::GracefulTerminate,
        };
        DRAINING.store(true, Ordering::Relaxed);
        log::info!(
            "shutdown signal received kind={received:?}: in-flight requests may finish; send SIGTERM or SIGINT again to exit at once"
        );
        // This runs on Pingora's server runtime, which keeps running during the grace period.
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            log::warn!("second shutdown signal received: exiting now");
            std::process::exit(1);
        });
        received
    }
}

/// Write our pid to `path` (atomically: temp file, then rename). Used when not daemonized; in daemon mode
/// Pingora writes the pid file itself after forking.
pub fn write_pid_file(path: &Path) {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let result = std::fs::write(&tmp, format!("{}\n", std::process::id()))
        .and_then(|()| std::fs::rename(&tmp, path));
    match result {
        Ok(()) => log::info!("pid file written path={}", path.display()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            log::warn!(
                "cannot write the pid file {}: {e} (`gateway reload` will not find this process)",
                path.display()
            );
        }
    }
}

/// Remove the pid file at exit, unless it now names another process (the new binary after an upgrade).
pub fn remove_pid_file(path: &Path) {
    let ours = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
        == Some(std::process::id());
    if ours {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_file_written_and_removed_only_when_ours() {
        let dir = std::env::temp_dir().join(format!("gw-pid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("gateway.pid");
        write_pid_file(&path);
        let text = std::fs::read_to_string(&path).expect("pid file");
        assert_eq!(text.trim(), std::process::id().to_string());
        remove_pid_file(&path);
        assert!(!path.exists());
        std::fs::write(&path, "1\n").expect("write");
        remove_pid_file(&path);
        assert!(path.exists(), "another process's pid file must stay");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

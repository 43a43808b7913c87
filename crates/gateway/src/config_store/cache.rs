//! The local copy of the last document a node applied (`config_store.cache_file`): written after every
//! applied change (atomically, mode 0600: it holds the same secrets as the document), read at start only
//! when etcd cannot be reached.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Document;

/// The cache file's content.
#[derive(Serialize, Deserialize)]
struct Cached {
    revision: i64,
    document: String,
}

/// Writes `doc` to `path`; a failure is logged (the running config is not affected).
pub fn write(path: &Path, doc: &Document) {
    let body = match serde_json::to_vec(&Cached {
        revision: doc.revision,
        document: doc.text.clone(),
    }) {
        Ok(b) => b,
        Err(e) => {
            log::warn!("config store: cannot serialise the local cache: {e}");
            return;
        }
    };
    // Created 0600 first so that the atomic replace keeps that mode.
    if !path.exists() {
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path);
    }
    if let Err(e) = crate::control::write_atomic(path, &body) {
        log::warn!(
            "config store: cannot write the local cache {}: {e}",
            path.display()
        );
    }
}

/// Reads the cached document (`None`: no cache file; `Err`: a file that cannot be used).
pub fn read(path: &Path) -> Result<Option<Document>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let cached: Cached = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not a config store cache: {e}", path.display()))?;
    Ok(Some(Document {
        text: cached.document,
        revision: cached.revision,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn round_trip_with_private_mode() {
        let dir = std::env::temp_dir().join(format!("gw-etcd-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gw.yaml.etcd-cache");
        assert_eq!(read(&path).unwrap(), None);
        let doc = Document {
            text: "_format_version: \"3.0\"\n".into(),
            revision: 7,
        };
        write(&path, &doc);
        assert_eq!(read(&path).unwrap(), Some(doc));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::write(&path, "garbage").unwrap();
        assert!(read(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

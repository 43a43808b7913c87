//! Temporary files of buffered bodies: created in the one configured directory and unlinked at once
//! (`tempfile::tempfile_in`: `O_TMPFILE` where the file system has it), written and read at offsets, their
//! bytes counted against one bound for the whole process (`temp_max_size`).
//!
//! The writes and reads are plain blocking file calls on the request's thread, as nginx makes them: they
//! go to the page cache, and a buffered body is written once and read once.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The process's temporary files: their directory and the bytes they hold, bounded.
#[derive(Debug)]
pub struct TempFiles {
    dir: PathBuf,
    max: u64,
    used: AtomicU64,
}

impl TempFiles {
    /// Files in `dir`, `max` bytes in all.
    pub fn new(dir: PathBuf, max: u64) -> Self {
        TempFiles {
            dir,
            max,
            used: AtomicU64::new(0),
        }
    }

    /// Bytes the temporary files hold now.
    #[cfg(test)]
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    fn reserve(&self, n: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|total| *total <= self.max)
            })
            .is_ok()
    }

    fn release(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }
}

/// One unlinked temporary file, appended to and read at offsets; its bytes count in [`TempFiles`] until it
/// is cleared or dropped.
#[derive(Debug)]
pub struct TempFile {
    file: File,
    len: u64,
    files: Arc<TempFiles>,
}

impl TempFile {
    /// A new empty file in the configured directory, already unlinked.
    pub fn create(files: &Arc<TempFiles>) -> io::Result<Self> {
        Ok(TempFile {
            file: tempfile::tempfile_in(&files.dir)?,
            len: 0,
            files: files.clone(),
        })
    }

    /// Bytes written.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Appends `data` unless the file would pass `cap` bytes or the process's bound: `Ok(false)`, nothing
    /// written.
    pub fn append(&mut self, data: &[u8], cap: u64) -> io::Result<bool> {
        let n = data.len() as u64;
        if self.len.saturating_add(n) > cap || !self.files.reserve(n) {
            return Ok(false);
        }
        if let Err(e) = self.file.write_all_at(data, self.len) {
            self.files.release(n);
            return Err(e);
        }
        self.len += n;
        Ok(true)
    }

    /// Reads at `offset` into `buf` (fewer bytes at the end of the file).
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.file.read_at(buf, offset)
    }

    /// Empties the file and gives its bytes back to the process's bound.
    pub fn clear(&mut self) -> io::Result<()> {
        self.files.release(self.len);
        self.len = 0;
        self.file.set_len(0)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        self.files.release(self.len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_unlinked_bounded_and_released() {
        let dir = tempfile::tempdir().unwrap();
        let files = Arc::new(TempFiles::new(dir.path().into(), 10));
        let mut f = TempFile::create(&files).unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "unlinked"
        );
        assert!(f.append(b"hello", 100).unwrap());
        assert!(
            !f.append(b"world!", 100).unwrap(),
            "past the process's bound"
        );
        assert!(!f.append(b"wor", 7).unwrap(), "past the file's cap");
        assert!(f.append(b"wo", 7).unwrap());
        assert_eq!(files.used(), 7);
        let mut buf = [0u8; 16];
        let n = f.read_at(&mut buf, 2).unwrap();
        assert_eq!(&buf[..n], b"llowo");
        f.clear().unwrap();
        assert_eq!((files.used(), f.len()), (0, 0));
        assert!(f.append(b"0123456789", 100).unwrap());
        drop(f);
        assert_eq!(files.used(), 0);
    }
}

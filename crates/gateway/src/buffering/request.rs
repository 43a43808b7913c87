//! A request body read whole before an upstream is chosen (Kong's `request_buffering`): in memory up to
//! `client_body_buffer_size`, the rest in a temporary file, up to `client_max_body_size`. Each upstream
//! attempt replays it from the start through Pingora's `buffered_request_body` hook (the vendored
//! pingora-proxy patch), so a slow upload never holds an upstream connection, and a retry resends it whole.

use std::io;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use pingora::proxy::Session;

use super::temp::{TempFile, TempFiles};
use super::BufferLimits;

/// Bytes of the temporary file handed upstream at a time.
pub const REPLAY_CHUNK: usize = 64 * 1024;

/// Why a body could not be buffered.
#[derive(Debug)]
pub enum SpoolError {
    /// Past `client_max_body_size` (by `Content-Length`, or while reading): `413`.
    TooLarge,
    /// The process's temporary files are at `temp_max_size`: `503`.
    TempFull,
    /// The temporary file could not be created or written: `500`.
    Io(io::Error),
    /// Reading from the client failed (timeouts, a reset): handled as any client error.
    Read(Box<pingora::Error>),
}

/// A request body read whole: its head in memory, the rest in a temporary file; and where its replay is.
#[derive(Debug)]
pub struct BodySpool {
    mem: Bytes,
    file: Option<TempFile>,
    /// Replay position (bytes of the whole body).
    cursor: u64,
}

impl BodySpool {
    /// Reads the rest of the request body from `session`.
    pub async fn read(session: &mut Session, limits: &BufferLimits) -> Result<Self, SpoolError> {
        let declared = session
            .req_header()
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if let (Some(max), Some(n)) = (limits.max_body, declared) {
            if n > max {
                return Err(SpoolError::TooLarge);
            }
        }
        let mut builder = Builder::new(limits.body_memory, limits.max_body, &limits.files);
        loop {
            match session.read_request_body().await {
                Ok(Some(chunk)) => builder.push(&chunk)?,
                Ok(None) => break,
                Err(e) => return Err(SpoolError::Read(e)),
            }
        }
        Ok(builder.finish())
    }

    /// The body's length (sent upstream as `Content-Length`, a chunked body included, as nginx does).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u64 {
        self.mem.len() as u64 + self.file.as_ref().map_or(0, TempFile::len)
    }

    /// The whole body in memory when it is at most `max` bytes (the plugins that read a body: a token in a
    /// form); `None` past it.
    pub fn contents(&self, max: usize) -> io::Result<Option<Bytes>> {
        if self.len() > max as u64 {
            return Ok(None);
        }
        let Some(file) = &self.file else {
            return Ok(Some(self.mem.clone()));
        };
        let mut all = BytesMut::with_capacity(self.len() as usize);
        all.extend_from_slice(&self.mem);
        let mut buf = vec![0u8; file.len() as usize];
        let mut at = 0;
        while at < buf.len() {
            match file.read_at(&mut buf[at..], at as u64)? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => at += n,
            }
        }
        all.extend_from_slice(&buf);
        Ok(Some(all.freeze()))
    }

    /// Starts the replay over (a new upstream attempt).
    pub fn rewind(&mut self) {
        self.cursor = 0;
    }

    /// The next piece of the replay; `None` at the end.
    pub fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        let mem = self.mem.len() as u64;
        if self.cursor < mem {
            let chunk = self.mem.slice(self.cursor as usize..);
            self.cursor = mem;
            return Ok(Some(chunk));
        }
        let Some(file) = &self.file else {
            return Ok(None);
        };
        let at = self.cursor - mem;
        if at >= file.len() {
            return Ok(None);
        }
        let want = REPLAY_CHUNK.min((file.len() - at) as usize);
        let mut buf = vec![0u8; want];
        let n = file.read_at(&mut buf, at)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.truncate(n);
        self.cursor += n as u64;
        Ok(Some(Bytes::from(buf)))
    }
}

/// Collects a body: memory first, then the temporary file.
struct Builder<'a> {
    mem: BytesMut,
    mem_max: usize,
    max: Option<u64>,
    file: Option<TempFile>,
    files: &'a Arc<TempFiles>,
    total: u64,
}

impl<'a> Builder<'a> {
    fn new(mem_max: usize, max: Option<u64>, files: &'a Arc<TempFiles>) -> Self {
        Builder {
            mem: BytesMut::new(),
            mem_max,
            max,
            file: None,
            files,
            total: 0,
        }
    }

    fn push(&mut self, chunk: &[u8]) -> Result<(), SpoolError> {
        self.total += chunk.len() as u64;
        if self.max.is_some_and(|m| self.total > m) {
            return Err(SpoolError::TooLarge);
        }
        let room = self.mem_max.saturating_sub(self.mem.len());
        let (head, rest) = match &self.file {
            None => chunk.split_at(room.min(chunk.len())),
            Some(_) => chunk.split_at(0),
        };
        self.mem.extend_from_slice(head);
        if rest.is_empty() {
            return Ok(());
        }
        let file = match &mut self.file {
            Some(f) => f,
            None => self
                .file
                .insert(TempFile::create(self.files).map_err(SpoolError::Io)?),
        };
        match file.append(rest, u64::MAX) {
            Ok(true) => Ok(()),
            Ok(false) => Err(SpoolError::TempFull),
            Err(e) => Err(SpoolError::Io(e)),
        }
    }

    fn finish(self) -> BodySpool {
        BodySpool {
            mem: self.mem.freeze(),
            file: self.file,
            cursor: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spool(
        chunks: &[&[u8]],
        mem: usize,
        max: Option<u64>,
        temp_max: u64,
    ) -> Result<BodySpool, SpoolError> {
        let dir = std::env::temp_dir();
        let files = Arc::new(TempFiles::new(dir, temp_max));
        let mut b = Builder::new(mem, max, &files);
        for c in chunks {
            b.push(c)?;
        }
        Ok(b.finish())
    }

    fn replay(s: &mut BodySpool) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(c) = s.next_chunk().unwrap() {
            out.extend_from_slice(&c);
        }
        out
    }

    #[test]
    fn memory_then_file_replayed_twice() {
        let big = vec![7u8; 3 * REPLAY_CHUNK + 5];
        let mut s = spool(&[b"abc", b"defgh", &big], 4, None, u64::MAX).unwrap();
        assert_eq!(s.len(), 8 + big.len() as u64);
        let mut want = b"abcdefgh".to_vec();
        want.extend_from_slice(&big);
        assert_eq!(replay(&mut s), want);
        assert_eq!(replay(&mut s), b"", "the end stays the end");
        s.rewind();
        assert_eq!(replay(&mut s), want, "a retry resends it whole");
        assert_eq!(s.contents(16).unwrap(), None);
        let small = spool(&[b"ab", b"cdef"], 4, None, u64::MAX).unwrap();
        assert_eq!(small.contents(16).unwrap().unwrap(), &b"abcdef"[..]);
    }

    #[test]
    fn bounds_refuse() {
        assert!(matches!(
            spool(&[b"abcd", b"ef"], 4, Some(5), u64::MAX),
            Err(SpoolError::TooLarge)
        ));
        assert!(matches!(
            spool(&[b"abcd", b"efghij"], 4, None, 3),
            Err(SpoolError::TempFull)
        ));
        assert!(spool(&[b"abcd", b"e"], 4, Some(5), u64::MAX).is_ok());
    }
}

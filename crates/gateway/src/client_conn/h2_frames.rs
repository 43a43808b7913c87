//! The HTTP/2 frame headers a client sends, counted as they pass (streams opened, resets).

/// The HTTP/2 frame headers of the client's side, counted as they pass.
#[derive(Debug, Default)]
pub(super) struct H2Frames {
    pub(super) header: [u8; 9],
    pub(super) have: usize,
    /// Payload bytes of the current frame still to skip.
    pub(super) skip: usize,
    pub(super) max_stream: u32,
    pub(super) streams: u32,
    pub(super) resets: u32,
}

impl H2Frames {
    /// Reads `bytes` (the connection's next incoming bytes, after the preface).
    pub(super) fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (9 - self.have).min(bytes.len());
            self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            bytes = &bytes[n..];
            if self.have == 9 {
                self.have = 0;
                let h = &self.header;
                self.skip =
                    (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
                let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
                match h[3] {
                    // HEADERS opening a stream (a higher id than any before; trailers reuse theirs).
                    0x1 if stream > self.max_stream => {
                        self.max_stream = stream;
                        self.streams += 1;
                    }
                    0x3 => self.resets += 1,
                    _ => {}
                }
            }
        }
    }
}

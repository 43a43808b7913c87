//! Raw HTTP/2 frames for tests that drive a connection by hand (cancelled streams, resets, rapid reset).

/// One frame: 24-bit length, type, flags, stream id, payload.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// HEADERS (END_HEADERS|END_STREAM) for `GET http://h2<path>`, HPACK literals without indexing.
pub fn get_headers(stream: u32, path: &str) -> Vec<u8> {
    let mut block = vec![0x82, 0x86, 0x04, path.len() as u8];
    block.extend_from_slice(path.as_bytes());
    block.extend_from_slice(&[0x01, 2]);
    block.extend_from_slice(b"h2");
    frame(0x1, 0x5, stream, &block)
}

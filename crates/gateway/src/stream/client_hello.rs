//! Reads the server name of a TLS ClientHello without terminating TLS (nginx's `ssl_preread`): the bytes
//! are only looked at, the caller forwards or replays them.

/// What the first bytes of a connection are.
#[derive(Debug, PartialEq, Eq)]
pub enum Hello {
    /// More bytes are needed.
    NeedMore,
    /// Not a TLS ClientHello (or a malformed one).
    NotTls,
    /// A whole ClientHello, with its `server_name` (host name type) if any, in lower case.
    Parsed(Option<String>),
}

/// The largest ClientHello read (several records of 16 KiB at most; nginx reads one buffer).
pub const MAX_HELLO: usize = 64 * 1024;

/// Parses the start of a connection.
pub fn parse(buf: &[u8]) -> Hello {
    // Handshake bytes gathered from successive records.
    let mut hs = Vec::new();
    let mut at = 0;
    loop {
        let Some(header) = buf.get(at..at + 5) else {
            return need_or_not(buf, at);
        };
        if header[0] != 0x16 || header[1] != 3 {
            return Hello::NotTls;
        }
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if len == 0 {
            return Hello::NotTls;
        }
        let Some(body) = buf.get(at + 5..at + 5 + len) else {
            return Hello::NeedMore;
        };
        hs.extend_from_slice(body);
        at += 5 + len;
        if hs.len() >= 4 {
            if hs[0] != 1 {
                return Hello::NotTls;
            }
            let need =
                4 + (usize::from(hs[1]) << 16 | usize::from(hs[2]) << 8 | usize::from(hs[3]));
            if need > MAX_HELLO {
                return Hello::NotTls;
            }
            if hs.len() >= need {
                return hs
                    .get(4..need)
                    .and_then(server_name)
                    .map_or(Hello::NotTls, Hello::Parsed);
            }
        }
    }
}

fn need_or_not(buf: &[u8], at: usize) -> Hello {
    match buf.get(at) {
        Some(&b) if b != 0x16 => Hello::NotTls,
        _ if buf.len() >= MAX_HELLO => Hello::NotTls,
        _ => Hello::NeedMore,
    }
}

/// The ClientHello body's SNI: `Some(None)` when it has none, `None` when malformed.
fn server_name(body: &[u8]) -> Option<Option<String>> {
    let mut r = Reader { buf: body, at: 0 };
    r.skip(2 + 32)?; // version, random
    let n = usize::from(r.u8()?);
    r.skip(n)?; // session id
    let n = usize::from(r.u16()?);
    r.skip(n)?; // cipher suites
    let n = usize::from(r.u8()?);
    r.skip(n)?; // compression methods
    if r.at == body.len() {
        return Some(None); // no extensions
    }
    let end = usize::from(r.u16()?) + r.at;
    while r.at < end {
        let kind = r.u16()?;
        let len = usize::from(r.u16()?);
        let data = r.take(len)?;
        if kind != 0 {
            continue;
        }
        let mut s = Reader { buf: data, at: 0 };
        let list_end = usize::from(s.u16()?) + s.at;
        while s.at < list_end {
            let name_type = s.u8()?;
            let len = usize::from(s.u16()?);
            let name = s.take(len)?;
            if name_type == 0 {
                let name = std::str::from_utf8(name).ok()?;
                return Some(Some(name.to_ascii_lowercase()));
            }
        }
        return Some(None);
    }
    Some(None)
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.buf.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(out)
    }
    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real ClientHello made by OpenSSL for `sni`.
    fn hello(sni: Option<&'static str>) -> Vec<u8> {
        use openssl::ssl::{SslConnector, SslMethod};
        use std::io::{Read, Write};
        let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let t = std::thread::spawn(move || {
            let mut c = SslConnector::builder(SslMethod::tls()).unwrap();
            c.set_verify(openssl::ssl::SslVerifyMode::NONE);
            let mut cfg = c.build().configure().unwrap();
            cfg.set_use_server_name_indication(sni.is_some());
            cfg.set_verify_hostname(false);
            let _ = cfg.connect(sni.unwrap_or("x"), b);
        });
        let mut buf = vec![0u8; 8192];
        let mut got = Vec::new();
        while parse(&got) == Hello::NeedMore {
            let n = a.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        let _ = a.write_all(b"\x15\x03\x03\x00\x02\x02\x28"); // alert: let the client give up
        drop(a);
        t.join().unwrap();
        got
    }

    #[test]
    fn real_client_hellos() {
        let bytes = hello(Some("Tls9443.Kong.Example"));
        assert_eq!(
            parse(&bytes),
            Hello::Parsed(Some("tls9443.kong.example".into()))
        );
        for cut in [0, 3, 5, 40, bytes.len() - 1] {
            assert_eq!(parse(&bytes[..cut]), Hello::NeedMore, "cut at {cut}");
        }
        assert_eq!(parse(&hello(None)), Hello::Parsed(None));
    }

    #[test]
    fn split_over_records() {
        let bytes = hello(Some("a.example"));
        let body = &bytes[5..];
        let (first, second) = body.split_at(20);
        let mut two = vec![0x16, 3, 1, 0, first.len() as u8];
        two.extend_from_slice(first);
        two.extend_from_slice(&[0x16, 3, 1]);
        two.extend_from_slice(&(second.len() as u16).to_be_bytes());
        two.extend_from_slice(second);
        assert_eq!(parse(&two), Hello::Parsed(Some("a.example".into())));
    }

    #[test]
    fn not_tls() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Hello::NotTls);
        assert_eq!(
            parse(b"\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00"),
            Hello::NotTls
        );
        assert_eq!(
            parse(b"\x16\x03\x01\x00\x06\x01\x00\x00\x02\x03\x03"),
            Hello::NotTls
        );
        assert_eq!(
            parse(b"\x16\x03\x01\x00\x04\x01\x00\x00\x10"),
            Hello::NeedMore
        );
    }
}

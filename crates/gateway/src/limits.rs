//! Request limits an edge proxy enforces before routing: the size of the header section, the number of
//! header fields and the length of the request target. The same checks apply to HTTP/1.1 and HTTP/2
//! (whose decoded header list Pingora hands over the same way); beyond them Pingora's own ceilings answer
//! first (HTTP/1: 400 over 1 MiB or 256 header lines; HTTP/2: the `max_header_list_size` set in
//! [`h2_options`]).

use gateway_config::model::Settings;
use pingora::http::RequestHeader;
use pingora::protocols::http::v2::server::H2Options;

/// Kong's text for a header section that is too large (nginx's 494, answered as 431 here).
pub const HEADERS_TOO_LARGE: &str = r#"{"message":"Request header or cookie too large"}"#;
/// Kong's text for a request target that is too long.
pub const URI_TOO_LONG: &str = r#"{"message":"URI too long"}"#;

/// HTTP/2 streams a client may have open at once (nginx's `http2_max_concurrent_streams`).
pub const H2_MAX_CONCURRENT_STREAMS: u32 = 128;
/// Streams a client may reset before the server accepted them (CVE-2023-44487, rapid reset): over it
/// the connection is closed with `ENHANCE_YOUR_CALM`.
pub const H2_MAX_PENDING_ACCEPT_RESET_STREAMS: usize = 20;
/// Streams the server may reset because of a client's protocol errors before it closes the connection.
pub const H2_MAX_LOCAL_ERROR_RESET_STREAMS: usize = 1024;
/// Smallest HTTP/2 header-list ceiling: a decoded header block up to this size is handed to the gateway's
/// checks (and freed as soon as they answer); a larger one is refused by h2 itself.
pub const H2_MAX_HEADER_LIST: usize = 256 * 1024;
/// Per-stream and per-connection receive windows (h2's defaults are 64 KiB, too small for uploads).
pub const H2_STREAM_WINDOW: u32 = 1 << 20;
/// See [`H2_STREAM_WINDOW`].
pub const H2_CONNECTION_WINDOW: u32 = 4 << 20;

/// The limits, fixed at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `max_request_header_bytes`.
    pub header_bytes: usize,
    /// `max_request_headers`.
    pub headers: usize,
    /// `max_uri_length`.
    pub uri: usize,
}

/// Which limit a request broke: its status and Kong-shaped body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// Too many header fields or too many header bytes: 431.
    Headers,
    /// The request target is too long: 414.
    Uri,
    /// The path has a `.` or `..` segment (also percent-encoded): 400. Routing on `/public/../admin` as
    /// `/public` and forwarding it as written would let the upstream resolve it to a path another route
    /// (with stricter plugins) owns.
    DotSegment,
}

/// Kong's text for a 400.
pub const BAD_REQUEST: &str = r#"{"message":"Bad request"}"#;

/// Whether `path` (without the query) has a `.` or `..` segment, `%2e`/`%2E` counting as a dot.
pub fn has_dot_segment(path: &str) -> bool {
    path.split('/').skip(1).any(|seg| {
        let mut dots = 0;
        let b = seg.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'.' {
                i += 1;
            } else if b[i] == b'%'
                && b.get(i + 1) == Some(&b'2')
                && matches!(b.get(i + 2), Some(b'e' | b'E'))
            {
                i += 3;
            } else {
                return false;
            }
            dots += 1;
        }
        dots == 1 || dots == 2
    })
}

impl Exceeded {
    /// Status and body of the answer.
    pub fn response(self) -> (u16, &'static str) {
        match self {
            Exceeded::Headers => (431, HEADERS_TOO_LARGE),
            Exceeded::Uri => (414, URI_TOO_LONG),
            Exceeded::DotSegment => (400, BAD_REQUEST),
        }
    }
}

impl Limits {
    /// From the `gateway:` settings.
    pub fn new(s: &Settings) -> Limits {
        Limits {
            header_bytes: s.max_request_header_bytes,
            headers: s.max_request_headers,
            uri: s.max_uri_length,
        }
    }

    /// The first limit `req` breaks, if any. Header bytes count each field as `name: value\r\n`.
    pub fn check(&self, req: &RequestHeader) -> Option<Exceeded> {
        let target = req.uri.path_and_query().map_or(0, |pq| pq.as_str().len());
        if target > self.uri {
            return Some(Exceeded::Uri);
        }
        if has_dot_segment(req.uri.path()) {
            return Some(Exceeded::DotSegment);
        }
        if req.headers.len() > self.headers {
            return Some(Exceeded::Headers);
        }
        let mut bytes = 0usize;
        for (name, value) in &req.headers {
            bytes += name.as_str().len() + value.len() + 4;
            if bytes > self.header_bytes {
                return Some(Exceeded::Headers);
            }
        }
        None
    }

    /// The HTTP/2 server settings: bounded streams, rapid-reset protection, and a header-list ceiling well
    /// above these limits (h2 counts 32 extra bytes a field, the pseudo-headers carry the target, and h2
    /// closes the connection when a header block needs more CONTINUATION frames than the ceiling allows), so
    /// that an oversized request gets the gateway's 431/414 rather than a dropped connection.
    pub fn h2_options(&self) -> H2Options {
        let mut o = H2Options::default();
        let list =
            (self.header_bytes + self.uri + 32 * (self.headers + 8) + 1024).max(H2_MAX_HEADER_LIST);
        o.max_header_list_size(u32::try_from(list).unwrap_or(u32::MAX))
            .max_concurrent_streams(H2_MAX_CONCURRENT_STREAMS)
            .max_pending_accept_reset_streams(H2_MAX_PENDING_ACCEPT_RESET_STREAMS)
            .max_local_error_reset_streams(Some(H2_MAX_LOCAL_ERROR_RESET_STREAMS))
            .initial_window_size(H2_STREAM_WINDOW)
            .initial_connection_window_size(H2_CONNECTION_WINDOW);
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_bytes: 100,
            headers: 3,
            uri: 20,
        }
    }

    fn req(target: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", target.as_bytes(), None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    #[test]
    fn each_limit_answers_its_status() {
        let l = limits();
        assert_eq!(l.check(&req("/a?b=c", &[("host", "x")])), None);
        assert_eq!(
            l.check(&req(&format!("/{}", "a".repeat(20)), &[])),
            Some(Exceeded::Uri)
        );
        let four = [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")];
        assert_eq!(l.check(&req("/", &four)), Some(Exceeded::Headers));
        let big = "v".repeat(96);
        assert_eq!(
            l.check(&req("/", &[("x", &big)])),
            Some(Exceeded::Headers),
            "1 + 96 + 4 bytes is over 100"
        );
        let fits = "v".repeat(95);
        assert_eq!(l.check(&req("/", &[("x", &fits)])), None);
        assert_eq!(Exceeded::Uri.response().0, 414);
        assert_eq!(l.check(&req("/a/../b", &[])), Some(Exceeded::DotSegment));
    }

    #[test]
    fn dot_segments_plain_or_encoded() {
        for bad in [
            "/a/../b",
            "/..",
            "/a/.",
            "/./a",
            "/a/%2e%2E/b",
            "/%2e",
            "/a/.%2e",
        ] {
            assert!(has_dot_segment(bad), "{bad}");
        }
        for ok in [
            "/",
            "/a/b",
            "/a/...",
            "/a/.b",
            "/a/b.",
            "/v1.2/x",
            "/a//b",
            "/%2e%2e%2e",
        ] {
            assert!(!has_dot_segment(ok), "{ok}");
        }
        assert_eq!(Exceeded::Headers.response().0, 431);
    }
}

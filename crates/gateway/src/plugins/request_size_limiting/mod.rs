//! Kong's `request-size-limiting` plugin (priority 951, `kong/plugins/request-size-limiting/handler.lua`):
//! refuses a request whose body is larger than the bound. A declared `Content-Length` is checked in the
//! access phase, before any byte of the body is read; a body without one (chunked, or an HTTP/2 stream) is
//! counted as it streams: the access handler sets [`BodyLimit`] on the [`Exchange`] and the proxy's
//! `request_body_filter` counts each chunk against it, ending the request with the same answer when the
//! count goes over. The schema is `gateway_config::plugins::request_size_limiting`.

use gateway_config::plugins::request_size_limiting::RequestSizeLimitingConfig;
use pingora::ErrorType;

use super::{Access, Exchange, Flow, Phases, Plugin, Reply, Request};

/// Kong's text of the 413 (and of the 417 for `Expect: 100-continue`).
pub const EXCEEDED: &str = "Request size limit exceeded";
/// Kong's text of the 411.
pub const LENGTH_REQUIRED: &str = "A valid Content-Length header is required";

/// The error the proxy's `request_body_filter` ends a streamed body with when it goes over: answered 413.
pub const STREAMED_413: ErrorType = ErrorType::Custom("request-size-limiting: body over the bound");
/// The same for a request with `Expect: 100-continue`: answered 417.
pub const STREAMED_417: ErrorType =
    ErrorType::Custom("request-size-limiting: body over the bound (expect)");

/// How many more bytes of a streamed body the proxy reads and drops once it went over the bound, so the
/// client, still sending, gets the answer instead of a reset.
pub const DRAIN_BOUND: usize = 1024 * 1024;

/// A bound on the request body's bytes, counted by the proxy as the body streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit {
    /// Most bytes allowed.
    pub max: u64,
    /// Bytes counted so far.
    pub seen: u64,
    /// The request has `Expect: 100-continue` (Kong answers 417 then, else 413).
    pub expect: bool,
}

impl BodyLimit {
    /// Counts `len` more bytes; `Err` with the error to end the request with once the count is over `max`.
    pub fn count(&mut self, len: usize) -> Result<(), ErrorType> {
        self.seen = self.seen.saturating_add(len as u64);
        match (self.seen > self.max, self.expect) {
            (false, _) => Ok(()),
            (true, false) => Err(STREAMED_413),
            (true, true) => Err(STREAMED_417),
        }
    }
}

/// One request-size-limiting config, running.
pub struct RequestSizeLimiting {
    max: u64,
    require_content_length: bool,
}

impl RequestSizeLimiting {
    /// The plugin for `cfg`.
    pub fn new(cfg: &RequestSizeLimitingConfig) -> Self {
        RequestSizeLimiting {
            max: cfg.allowed_bytes(),
            require_content_length: cfg.require_content_length,
        }
    }
}

/// Kong's `strip(headers.expect:lower()) == "100-continue"`.
fn expects_continue(req: &Request<'_>) -> bool {
    (req.headers.get(http::header::EXPECT))
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"))
}

impl Plugin for RequestSizeLimiting {
    fn name(&self) -> &'static str {
        "request-size-limiting"
    }

    fn phases(&self) -> Phases {
        Phases::ACCESS
    }

    fn access<'a>(&'a self, req: &'a Request<'a>, ex: &'a mut Exchange) -> Access<'a> {
        let expect = expects_continue(req);
        let declared = (req.headers.get(http::header::CONTENT_LENGTH))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let flow = match declared {
            Some(n) if n > self.max => {
                Flow::Respond(Reply::message(if expect { 417 } else { 413 }, EXCEEDED))
            }
            Some(_) => Flow::Continue,
            None => {
                let chunked = (req.headers.get(http::header::TRANSFER_ENCODING))
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
                if self.require_content_length && !chunked {
                    Flow::Respond(Reply::message(411, LENGTH_REQUIRED))
                } else {
                    ex.body_limit = Some(BodyLimit {
                        max: self.max,
                        seen: 0,
                        expect,
                    });
                    Flow::Continue
                }
            }
        };
        Access::Done(flow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(cfg: serde_json::Value, headers: &[(&str, &str)]) -> (u16, Option<BodyLimit>) {
        let yaml = "_format_version: \"3.0\"\n";
        let config = gateway_config::load::parse_str(yaml).unwrap();
        let registry = gateway_auth::AuthRegistry::new(&prometheus::Registry::new());
        let snap = crate::snapshot::compile(config, yaml, &registry).unwrap();
        let metrics = crate::metrics::Metrics::new(&prometheus::Registry::new()).unwrap();
        let mut map = http::HeaderMap::new();
        for (n, v) in headers {
            map.append(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        let uri: http::Uri = "/".parse().unwrap();
        let req = Request {
            method: &http::Method::POST,
            uri: &uri,
            version: http::Version::HTTP_11,
            headers: &map,
            client_ip: None,
            https: false,
            server_addr: None,
            client_cert_sha256: None,
            raw_body: None,
            body: None,
            snap: &snap,
            matched: None,
            metrics: &metrics,
        };
        let p = RequestSizeLimiting::new(&RequestSizeLimitingConfig::from_value(&cfg).unwrap());
        let mut ex = Exchange::new();
        let status = match futures::executor::block_on(p.access(&req, &mut ex).decide()) {
            Flow::Continue => 200,
            Flow::Respond(Reply::Body { status, body, .. }) => {
                let text = match status {
                    411 => LENGTH_REQUIRED,
                    _ => EXCEEDED,
                };
                assert_eq!(body, json!({ "message": text }).to_string());
                status
            }
            Flow::Respond(other) => panic!("{other:?}"),
        };
        (status, ex.body_limit)
    }

    #[test]
    fn declared_lengths_are_checked_before_reading() {
        let cfg = json!({"allowed_payload_size": 10, "size_unit": "bytes"});
        assert_eq!(run(cfg.clone(), &[("content-length", "10")]), (200, None));
        assert_eq!(run(cfg.clone(), &[("content-length", "11")]).0, 413);
        let expect = [("content-length", "11"), ("expect", " 100-Continue ")];
        assert_eq!(run(cfg.clone(), &expect).0, 417);
        let mb = json!({"allowed_payload_size": 1});
        assert_eq!(run(mb.clone(), &[("content-length", "1048576")]).0, 200);
        assert_eq!(run(mb, &[("content-length", "1048577")]).0, 413);
    }

    #[test]
    fn bodies_without_length_are_counted_or_refused() {
        let cfg = json!({"allowed_payload_size": 10, "size_unit": "bytes"});
        let (status, limit) = run(cfg, &[("transfer-encoding", "chunked")]);
        let mut limit = limit.unwrap();
        assert_eq!((status, limit.max, limit.expect), (200, 10, false));
        assert_eq!(limit.count(6), Ok(()));
        assert_eq!(limit.count(4), Ok(()));
        assert_eq!(limit.count(1), Err(STREAMED_413));
        let required = json!({"require_content_length": true});
        assert_eq!(run(required.clone(), &[]).0, 411);
        assert_eq!(run(required.clone(), &[("content-length", "abc")]).0, 411);
        assert_eq!(run(required, &[("transfer-encoding", "chunked")]).0, 200);
        let expect = json!({"allowed_payload_size": 0, "size_unit": "bytes"});
        let mut limit = run(expect, &[("expect", "100-continue")]).1.unwrap();
        assert_eq!(limit.count(1), Err(STREAMED_417));
    }
}

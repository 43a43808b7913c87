//! Responses the gateway writes itself (Kong's JSON shapes), and how they are sent through Pingora.

use bytes::Bytes;
use gateway_auth::Authenticator;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::Session;

/// Kong's body when no route matches.
pub const NO_ROUTE: &str = r#"{"message":"no Route matched with those values"}"#;
/// Kong's body for a 502.
pub const BAD_GATEWAY: &str =
    r#"{"message":"An invalid response was received from the upstream server"}"#;
/// Kong's answer for a route without a service, once its plugins let the request through (503).
pub const NO_SERVICE: &str = r#"{"message":"no Service found with those values"}"#;
/// Kong's body for a 504.
pub const TIMEOUT: &str = r#"{"message":"The upstream server is timing out"}"#;
/// Kong's body for a 500.
pub const UNEXPECTED: &str = r#"{"message":"An unexpected error occurred"}"#;
/// Body for a request whose body is too large to look a token up in.
pub const TOO_LARGE: &str = r#"{"message":"Request size limit exceeded"}"#;
/// Kong's body when a balanced upstream has no target to send to.
pub const NO_PEER: &str = r#"{"message":"failure to get a peer from the ring-balancer"}"#;
/// Kong's body for a 408 (a request body that took too long).
pub const REQUEST_TIMEOUT: &str = r#"{"message":"Request timeout"}"#;
/// Body for a malformed request.
pub const BAD_REQUEST: &str = r#"{"message":"Bad request"}"#;
/// Kong's body for a plain-HTTP request to a route whose protocols are `[https]` (426).
pub const USE_HTTPS: &str = r#"{"message":"Please use HTTPS protocol"}"#;

/// Kong's body for a 503 when the upstream's name does not exist (NXDOMAIN or no record).
pub const NAME_RESOLUTION_FAILED: &str = r#"{"message":"name resolution failed"}"#;

/// Status and body (Kong's) for a request whose upstream `host` did not resolve: 503 "name resolution
/// failed" when the name does not exist, 500 when the DNS server failed (the reason goes to the log only).
pub fn dns_failure(host: &str, e: &crate::dns::DnsError) -> (u16, Bytes) {
    match e {
        crate::dns::DnsError::NotFound => {
            (503, Bytes::from_static(NAME_RESOLUTION_FAILED.as_bytes()))
        }
        crate::dns::DnsError::Failed(_) => {
            let message = format!(
                "failed the initial dns/balancer resolve for '{host}' with: dns server error"
            );
            let body = serde_json::json!({ "message": message }).to_string();
            (500, Bytes::from(body))
        }
    }
}

/// Kong's answer to a plain-HTTP request matched to a route whose protocols are `[https]`, by the route's
/// `https_redirect_status_code` (Kong's `kong/runloop/handler.lua`): 426 with [`USE_HTTPS`] and
/// `Upgrade: TLS/1.2, HTTP/1.1`; 301/302/307/308 with no body and `Location: https://<host><uri>` (see
/// [`https_location`]). Kong also sends `Connection: Upgrade` with the 426; Pingora writes its own
/// `Connection` (keep-alive or close) over HTTP/1.1 and none over HTTP/2, so it is not sent. A request
/// without a host to redirect to gets the 426.
pub async fn https_required(session: &mut Session, status: u16) -> Result<()> {
    let req = session.req_header();
    let host = req
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri.host());
    let path_and_query = req.uri.path_and_query().map_or("/", |p| p.as_str());
    let location = host
        .filter(|_| status != 426)
        .and_then(|h| http::HeaderValue::from_str(&https_location(h, path_and_query)).ok());
    let Some(location) = location else {
        let upgrade = http::HeaderValue::from_static("TLS/1.2, HTTP/1.1");
        let body = Bytes::from_static(USE_HTTPS.as_bytes());
        return send(session, 426, &[(http::header::UPGRADE, upgrade)], body).await;
    };
    let mut resp = ResponseHeader::build(status, Some(2))?;
    resp.insert_header(http::header::LOCATION, location)?;
    resp.insert_header(http::header::CONTENT_LENGTH, "0")?;
    session.write_response_header(Box::new(resp), true).await?;
    Ok(())
}

/// `https://` + the host without its port, lowercased (nginx's `$host`, which Kong uses: the redirect
/// goes to the default HTTPS port) + the path and query as the client sent them.
pub fn https_location(host: &str, path_and_query: &str) -> String {
    let (name, _port) = gateway_config::checks::split_host_port(host);
    format!("https://{}{path_and_query}", name.to_ascii_lowercase())
}

/// Write a complete response (status, extra headers, JSON body) from a request-phase filter.
pub async fn send(
    session: &mut Session,
    status: u16,
    headers: &[(http::HeaderName, http::HeaderValue)],
    body: Bytes,
) -> Result<()> {
    let resp = response_header(status, headers, body.len())?;
    session.write_response_header(Box::new(resp), false).await?;
    session.write_response_body(Some(body), true).await?;
    Ok(())
}

/// The HTTP responses of an authenticator's prebuilt 401 and 403 ([`Authenticator::prebuilt_denials`]), made on
/// its first refusal and kept in its extension slot: a token the negative cache knows is refused with a clone
/// of a ready response header (no header name parsed, no value formatted), then the shared body.
///
/// Each comes twice: as is, and with [`HTTP1_SLOTS`] after its own headers. Pingora's HTTP/1 writer adds
/// `Date` and `Connection` to every response; to a clone (whose maps have no spare room) that grew both header
/// maps, a reallocation each, on every refusal. With the slots already there, Pingora's inserts replace their
/// values in place: the same headers in the same order on the wire (test below), no growth.
struct PrebuiltResponses(Vec<Prebuilt>);

/// One prebuilt denial and its two ready headers.
struct Prebuilt {
    denial: gateway_auth::Denial,
    header: ResponseHeader,
    with_slots: ResponseHeader,
}

/// The headers Pingora's HTTP/1 writer sets on every response (`prepare_response_header`), in its order,
/// with placeholder values it always replaces.
const HTTP1_SLOTS: [http::HeaderName; 2] = [http::header::DATE, http::header::CONNECTION];

/// `header` with [`HTTP1_SLOTS`] added after its own headers (a plain clone if it already has one of them).
fn with_http1_slots(header: &ResponseHeader) -> ResponseHeader {
    let mut with_slots = header.clone();
    if HTTP1_SLOTS.iter().any(|n| header.headers.contains_key(n))
        || HTTP1_SLOTS
            .iter()
            .any(|n| with_slots.insert_header(n.clone(), "").is_err())
    {
        return header.clone();
    }
    with_slots
}

impl PrebuiltResponses {
    fn of(auth: &Authenticator) -> Self {
        let mut out = Vec::new();
        if let Some((unauthorized, forbidden)) = auth.prebuilt_denials() {
            for d in [unauthorized, forbidden] {
                let Ok(header) = response_header(d.status, &d.headers, d.body.len()) else {
                    continue;
                };
                out.push(Prebuilt {
                    denial: d.clone(),
                    with_slots: with_http1_slots(&header),
                    header,
                });
            }
        }
        PrebuiltResponses(out)
    }

    /// The ready header of `denial` when it is a clone of a prebuilt one (its body is the same bytes).
    fn find(&self, denial: &gateway_auth::Denial) -> Option<&Prebuilt> {
        self.0.iter().find(|p| {
            let d = &p.denial;
            d.status == denial.status
                && d.body.as_ptr() == denial.body.as_ptr()
                && d.body.len() == denial.body.len()
                && d.headers == denial.headers
        })
    }
}

/// The response header of an authenticator's denial: a clone of the prebuilt one when the denial is one of
/// them, else built as [`send`] builds it. `http1_as_is`: the header goes to Pingora's HTTP/1 writer with no
/// header added or removed on the way (no header filter, no body filter), so the clone may carry the
/// writer's own headers as slots ([`PrebuiltResponses`]).
pub fn denial_header(
    auth: &Authenticator,
    denial: &gateway_auth::Denial,
    http1_as_is: bool,
) -> Result<ResponseHeader> {
    let ready = auth
        .extension()
        .get_or_init(|| Box::new(PrebuiltResponses::of(auth)))
        .downcast_ref::<PrebuiltResponses>()
        .and_then(|p| p.find(denial));
    match ready {
        Some(p) if http1_as_is => Ok(p.with_slots.clone()),
        Some(p) => Ok(p.header.clone()),
        None => response_header(denial.status, &denial.headers, denial.body.len()),
    }
}

/// Write a complete response: `header`, then `body`.
pub async fn write(session: &mut Session, header: ResponseHeader, body: Bytes) -> Result<()> {
    session
        .write_response_header(Box::new(header), false)
        .await?;
    session.write_response_body(Some(body), true).await?;
    Ok(())
}

/// The `Content-Length` value of a body of `len` bytes: the gateway's own bodies are short, and their lengths
/// are made once instead of formatted and allocated per response, as static values (one text for all of
/// them), whose clones and drops touch no reference count.
fn content_length(len: usize) -> http::HeaderValue {
    const MADE: usize = 1024;
    static LENGTHS: std::sync::LazyLock<Vec<http::HeaderValue>> = std::sync::LazyLock::new(|| {
        let mut text = String::new();
        let mut ends = Vec::with_capacity(MADE);
        for n in 0..MADE {
            text.push_str(&n.to_string());
            ends.push(text.len());
        }
        let text: &'static str = Box::leak(text.into_boxed_str());
        let mut start = 0;
        (ends.into_iter())
            .map(|end| {
                let v = http::HeaderValue::from_static(&text[start..end]);
                start = end;
                v
            })
            .collect()
    });
    match LENGTHS.get(len) {
        Some(v) => v.clone(),
        None => http::HeaderValue::from(len),
    }
}

/// The `Content-Type` of the gateway's JSON bodies (static: no copy, no reference count).
fn json() -> http::HeaderValue {
    http::HeaderValue::from_static("application/json; charset=utf-8")
}

/// The header of a complete JSON response: `Content-Type` (unless `headers` has one or the body is empty, as
/// Kong's `kong.response.exit` sends none without a body), `Content-Length`, then `headers`.
pub fn response_header(
    status: u16,
    headers: &[(http::HeaderName, http::HeaderValue)],
    body_len: usize,
) -> Result<ResponseHeader> {
    let mut resp = ResponseHeader::build(status, Some(3 + headers.len()))?;
    if body_len > 0 && !headers.iter().any(|(n, _)| n == http::header::CONTENT_TYPE) {
        resp.insert_header(http::header::CONTENT_TYPE, json())?;
    }
    resp.insert_header(http::header::CONTENT_LENGTH, content_length(body_len))?;
    for (name, value) in headers {
        if name == http::header::CONTENT_TYPE && value.is_empty() {
            // An empty Content-Type: the reply has none (request-termination's `body` without `content_type`).
            continue;
        }
        resp.append_header(name.clone(), value.clone())?;
    }
    Ok(resp)
}

/// Whether the request is a gRPC call (`content-type: application/grpc[+proto|...]`).
pub fn is_grpc(req: &pingora::http::RequestHeader) -> bool {
    req.headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// The gRPC status of an HTTP status, as Kong maps them (`kong/pdk/response.lua`).
pub fn grpc_status(http: u16) -> u8 {
    match http {
        200 => 0,
        400 => 3,
        401 => 16,
        403 => 7,
        404 => 12,
        409 => 6,
        413 | 429 => 8,
        499 => 1,
        501 => 12,
        503 => 14,
        504 => 4,
        _ => 13,
    }
}

/// Answer a gRPC call with a trailers-only response: HTTP 200, `grpc-status` from `http_status` and
/// `grpc-message` from the JSON body's `message` (gRPC clients read the status there, never the HTTP one).
pub async fn send_grpc(session: &mut Session, http_status: u16, json_body: &[u8]) -> Result<()> {
    let message = serde_json::from_slice::<serde_json::Value>(json_body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_default();
    let mut resp = ResponseHeader::build(200, Some(3))?;
    resp.insert_header(http::header::CONTENT_TYPE, "application/grpc")?;
    resp.insert_header("grpc-status", grpc_status(http_status).to_string())?;
    // grpc-message is percent-encoded (gRPC over HTTP/2 spec); Kong's messages are plain ASCII words.
    let encoded: String = message
        .bytes()
        .map(|b| {
            if (0x20..0x7f).contains(&b) && b != b'%' {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    resp.insert_header("grpc-message", encoded)?;
    // Trailers-only needs END_STREAM on the HEADERS frame itself: Pingora's generic write would end the
    // stream with an empty DATA frame, which gRPC clients reject. gRPC runs on HTTP/2 only; anything else
    // (a gRPC-looking HTTP/1.1 request) gets the same headers the generic way.
    if let pingora::protocols::http::ServerSession::H2(h2) = session.as_downstream_mut() {
        h2.write_response_header(Box::new(resp), true)?;
    } else {
        session.write_response_header(Box::new(resp), true).await?;
    }
    Ok(())
}

/// Write one of the constant JSON bodies above.
pub async fn send_json(session: &mut Session, status: u16, body: &'static str) -> Result<()> {
    send(session, status, &[], Bytes::from_static(body.as_bytes())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_body_has_no_content_type() {
        let empty = response_header(200, &[], 0).unwrap();
        assert!(empty.headers.get(http::header::CONTENT_TYPE).is_none());
        assert_eq!(empty.headers[http::header::CONTENT_LENGTH], "0");
        let json = response_header(401, &[], 2).unwrap();
        assert_eq!(
            json.headers[http::header::CONTENT_TYPE],
            "application/json; charset=utf-8"
        );
    }

    /// What Pingora's HTTP/1 writer sends for `header` and `body` to a client that sent `request`.
    async fn written(header: ResponseHeader, request: &[u8], body: &'static [u8]) -> String {
        use pingora::protocols::http::v1::server::HttpSession;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (server, mut client) = tokio::io::duplex(8192);
        let mut session = HttpSession::new(Box::new(server));
        client.write_all(request).await.unwrap();
        session.read_request().await.unwrap();
        session
            .write_response_header(Box::new(header))
            .await
            .unwrap();
        session.write_body(body).await.unwrap();
        session.finish_body().await.unwrap();
        drop(session);
        let mut out = String::new();
        client.read_to_string(&mut out).await.unwrap();
        // The date is the writer's cached one; two writes may straddle a second.
        let at = out.find("Date: ").expect("a Date header") + 6;
        let end = at + out[at..].find("\r\n").unwrap();
        out.replace_range(at..end, "<date>");
        out
    }

    #[tokio::test]
    async fn http1_slots_are_filled_in_place_with_the_same_bytes_on_the_wire() {
        let www = http::HeaderValue::from_static("Bearer realm=\"x\", error=\"invalid_token\"");
        let body: &'static [u8] = br#"{"message":"Unauthorized"}"#;
        let plain =
            response_header(401, &[(http::header::WWW_AUTHENTICATE, www)], body.len()).unwrap();
        let slots = with_http1_slots(&plain);
        assert_eq!(slots.headers.len(), plain.headers.len() + HTTP1_SLOTS.len());
        for request in [
            &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            b"GET / HTTP/1.0\r\nHost: a\r\n\r\n",
        ] {
            let want = written(plain.clone(), request, body).await;
            assert!(want.contains("Connection: "), "{want}");
            assert_eq!(written(slots.clone(), request, body).await, want);
        }
        // A header that already has a slot's name is used as it is.
        let mut dated = plain.clone();
        dated.insert_header(http::header::DATE, "x").unwrap();
        assert_eq!(with_http1_slots(&dated).headers.len(), dated.headers.len());
    }

    #[test]
    fn content_length_is_the_decimal_length() {
        for len in [0, 1, 9, 10, 26, 999, 1023, 1024, 1025, 65_536] {
            assert_eq!(content_length(len), len.to_string().as_str(), "{len}");
        }
    }

    #[test]
    fn https_location_drops_the_port_and_keeps_path_and_query() {
        let cases = [
            (
                "Example.COM:8000",
                "/a/b?x=1&y",
                "https://example.com/a/b?x=1&y",
            ),
            ("example.com", "/", "https://example.com/"),
            ("[::1]:8000", "/p", "https://[::1]/p"),
            ("127.0.0.1", "/p?q", "https://127.0.0.1/p?q"),
        ];
        for (host, uri, want) in cases {
            assert_eq!(https_location(host, uri), want, "{host} {uri}");
        }
    }
}

//! What the proxy rewrites on the way upstream: the query without the credential, the `X-Forwarded-*`
//! headers, and request-transformer's method, header values and body.

use http::{HeaderName, HeaderValue};
use pingora::http::RequestHeader;
use pingora::prelude::*;
use pingora::proxy::Session;

use super::client::ClientAddr;
use crate::plugins::openid_connect::identity::IDENTITY_HEADERS;
use crate::plugins::UpstreamEdits;

// Typed names: Pingora inserts them without parsing or copying the name again.
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
static X_FORWARDED_PATH: HeaderName = HeaderName::from_static("x-forwarded-path");

/// Drop the named arguments (the credential, with `hide_credentials`) from a query string.
fn filter_query(query: Option<&str>, remove: &[String]) -> Option<String> {
    let query = query?;
    if remove.is_empty() {
        return Some(query.to_string());
    }
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            !remove.iter().any(|r| r == name)
        })
        .collect();
    if kept.is_empty() {
        None
    } else {
        Some(kept.join("&"))
    }
}

/// The upstream request's URI when it differs from the client's: `path` (after strip_path, the service path and
/// request-transformer), the query without `remove_args` (openid-connect's) and the plugins' removed arguments,
/// or request-transformer's query. `None`: the common case, an origin-form target whose path and query go
/// upstream unchanged, keeps the request's own URI (no rebuild).
pub(super) fn upstream_uri(
    original: &http::Uri,
    path: String,
    remove_args: &[String],
    edits: &UpstreamEdits,
) -> Result<Option<http::Uri>> {
    let edited_args = &edits.remove_query_args;
    let unchanged = remove_args.is_empty()
        && edited_args.is_empty()
        && edits.query.is_none()
        && original.scheme().is_none()
        && original.authority().is_none()
        && path == original.path();
    if unchanged {
        return Ok(None);
    }
    let query = match (&edits.query, edited_args.is_empty()) {
        (Some(q), _) => Some(std::borrow::Cow::Borrowed(q.as_str())).filter(|q| !q.is_empty()),
        (None, true) => filter_query(original.query(), remove_args).map(Into::into),
        (None, false) => {
            let query = filter_query(original.query(), remove_args);
            filter_query(query.as_deref(), edited_args).map(Into::into)
        }
    };
    let path_and_query = match query {
        Some(q) => {
            let mut text = String::with_capacity(path.len() + 1 + q.len());
            text.push_str(&path);
            text.push('?');
            text.push_str(&q);
            text
        }
        None => path,
    };
    let uri = http::Uri::builder()
        .path_and_query(path_and_query)
        .build()
        .map_err(|e| Error::because(ErrorType::InternalError, "building upstream uri", e))?;
    Ok(Some(uri))
}

/// How much room to ask `reserve_headers` for, for `additional` more headers in a message Pingora has just
/// cloned (an HTTP/2 upstream's response, which pingora-proxy's `proxy_h2` hands out a copy of; an HTTP/1
/// upstream's is the parsed header itself, vendor/pingora-core/PATCH.md, and so is the upstream request,
/// vendor/pingora-proxy/PATCH.md). A clone's entries have no spare room, and `http`'s `HeaderMap::reserve`
/// grows only the index while that has room, so each insert past the clone's length would reallocate the
/// entries once per power of two: when that is two reallocations or more, the map is made to grow once
/// instead (a larger reserve).
pub(super) fn room_after_clone(headers: &http::HeaderMap, additional: usize) -> usize {
    let (len, capacity) = (headers.keys_len(), headers.capacity());
    let need = len + additional;
    if len == 0 || need > capacity || need <= 2 * len {
        return additional;
    }
    capacity - len + 1
}

/// Kong's `X-Forwarded-*` and `X-Real-IP`: `X-Real-IP` is the client's (real) address; `X-Forwarded-For` is
/// the client's value (its lines joined) with the connection's peer appended, or the real address when there
/// was none; `-Proto/-Host/-Port/-Path` are the client's own when the peer is in `trusted_ips`, else (and
/// when absent) from what this listener saw.
///
/// Values are built without temporary strings where the text is not new (the protocol, an unchanged Host),
/// since this runs for every proxied request.
pub(super) fn set_forwarded_headers(
    session: &Session,
    req: &mut RequestHeader,
    client: &ClientAddr,
) -> Result<()> {
    let original = session.req_header();
    if let (Some(ip), Some(peer)) = (client.ip, client.peer) {
        let real = ip_value(ip)?;
        let mut prev = original.headers.get_all("x-forwarded-for").iter();
        let xff = match (prev.next(), prev.next()) {
            (Some(first), None) if first.as_bytes().trim_ascii().is_empty() => real.clone(),
            (Some(first), rest) => {
                let peer = ip_value(peer)?;
                let mut v = Vec::with_capacity(first.len() + 2 + peer.len());
                v.extend_from_slice(first.as_bytes());
                for line in rest.into_iter().chain(prev) {
                    v.extend_from_slice(b", ");
                    v.extend_from_slice(line.as_bytes());
                }
                v.extend_from_slice(b", ");
                v.extend_from_slice(peer.as_bytes());
                HeaderValue::from_bytes(&v).map_err(|_| header_error())?
            }
            (None, _) => real.clone(),
        };
        req.insert_header(&X_FORWARDED_FOR, xff)?;
        req.insert_header(&X_REAL_IP, real)?;
    }
    if client.trusted {
        // Kong: a trusted peer's own X-Forwarded-Proto/Host/Port/Path go upstream as they came.
        let own = |name: &str| original.headers.get(name).cloned();
        let proto = own("x-forwarded-proto");
        let host = own("x-forwarded-host");
        let port = own("x-forwarded-port");
        let path = own("x-forwarded-path");
        set_listener_headers(session, req, proto, host, port, path)
    } else {
        set_listener_headers(session, req, None, None, None, None)
    }
}

/// Removes every identity header ([`IDENTITY_HEADERS`]) from `req`, the upstream copy of `original` with
/// `plugin_set` (and the gateway's own `Host`/`X-Forwarded-*`) added: only those two can hold one, and a look
/// at their few names (~0.2k instructions) spares most requests five removals from both of Pingora's header
/// maps (~1.2k).
pub(super) fn strip_identity(
    req: &mut RequestHeader,
    original: &RequestHeader,
    plugin_set: &[(HeaderName, HeaderValue)],
) {
    static IDENTITY: [HeaderName; 5] = IDENTITY_HEADERS;
    let sent = original.headers.keys().any(|n| IDENTITY.contains(n))
        || plugin_set.iter().any(|(n, _)| IDENTITY.contains(n));
    if sent {
        for name in &IDENTITY {
            req.remove_header(name);
        }
    }
}

/// An address as a header value.
fn ip_value(ip: std::net::IpAddr) -> Result<HeaderValue> {
    HeaderValue::from_str(&crate::text::ip_text(ip)).map_err(|_| header_error())
}

/// `X-Forwarded-Proto/-Host/-Port/-Path`: the given value, else what this listener saw.
fn set_listener_headers(
    session: &Session,
    req: &mut RequestHeader,
    proto: Option<HeaderValue>,
    forwarded_host: Option<HeaderValue>,
    forwarded_port: Option<HeaderValue>,
    path: Option<HeaderValue>,
) -> Result<()> {
    static HTTP: HeaderValue = HeaderValue::from_static("http");
    static HTTPS: HeaderValue = HeaderValue::from_static("https");
    let original = session.req_header();
    let host_value = original.headers.get(http::header::HOST);
    let host_header = host_value.and_then(|v| v.to_str().ok()).unwrap_or("");
    let (host, port) = split_host_port(host_header);
    let server_port = session
        .server_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.port())
        .unwrap_or(0);
    let scheme = match session.digest().and_then(|d| d.ssl_digest.as_ref()) {
        Some(_) => &HTTPS,
        None => &HTTP,
    };
    req.insert_header(&X_FORWARDED_PROTO, proto.unwrap_or_else(|| scheme.clone()))?;
    if let Some(v) = forwarded_host {
        req.insert_header(&X_FORWARDED_HOST, v)?;
    } else if !host.is_empty() {
        let value = match host_value {
            // No port: the Host header as it came (no copy).
            Some(v) if host.len() == host_header.len() => v.clone(),
            _ => HeaderValue::from_str(host).map_err(|_| header_error())?,
        };
        req.insert_header(&X_FORWARDED_HOST, value)?;
    }
    let port = forwarded_port.unwrap_or_else(|| HeaderValue::from(port.unwrap_or(server_port)));
    req.insert_header(&X_FORWARDED_PORT, port)?;
    match path {
        Some(p) => req.insert_header(&X_FORWARDED_PATH, p)?,
        None => req.insert_header(&X_FORWARDED_PATH, original.uri.path())?,
    }
    Ok(())
}

fn header_error() -> Box<pingora::Error> {
    pingora::Error::new(pingora::ErrorType::InvalidHTTPHeader)
}

/// `host[:port]` (IPv6 in brackets) with a numeric port; a port that is not a number leaves the whole value
/// as the host.
fn split_host_port(host: &str) -> (&str, Option<u16>) {
    match gateway_config::checks::split_host_port(host) {
        (name, Some(port)) => match port.parse() {
            Ok(port) => (name, Some(port)),
            Err(_) => (host, None),
        },
        (name, None) => (name, None),
    }
}

/// request-transformer's edits of the upstream request that are not plain header edits: the added header
/// values, the method, and a new body's `Content-Length` (sent whole, so never chunked).
pub(super) fn apply_transforms(req: &mut RequestHeader, edits: &UpstreamEdits) -> Result<()> {
    for (name, value) in &edits.header_values {
        req.append_header(name.clone(), value.clone())?;
    }
    if let Some(method) = &edits.method {
        req.set_method(method.clone());
    }
    if let Some(body) = &edits.body {
        req.remove_header(&http::header::TRANSFER_ENCODING);
        req.insert_header(http::header::CONTENT_LENGTH, body.len())?;
    }
    Ok(())
}

/// Sends request-transformer's body instead of the client's: the client's chunks are dropped and the new body
/// goes with the last one. The whole body was read in the access phase, so it comes as one chunk (Pingora's
/// retry buffer, again on a retry) or, for a request without a body, as the end alone.
pub(super) fn replace_body(
    body: &mut Option<bytes::Bytes>,
    end_of_stream: bool,
    edits: &UpstreamEdits,
) {
    let Some(new) = &edits.body else {
        return;
    };
    *body = match end_of_stream {
        true => Some(new.clone()),
        false => Some(bytes::Bytes::new()),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_filter_drops_only_named_args() {
        assert_eq!(
            filter_query(Some("a=1&access_token=x&b=2"), &["access_token".into()]),
            Some("a=1&b=2".into())
        );
        assert_eq!(
            filter_query(Some("access_token=x"), &["access_token".into()]),
            None
        );
        assert_eq!(filter_query(Some("a=1"), &[]), Some("a=1".into()));
        assert_eq!(filter_query(None, &["a".into()]), None);
    }

    #[test]
    fn identity_headers_are_stripped_whoever_set_them() {
        let names = |r: &RequestHeader| {
            let mut v: Vec<String> = r.headers.keys().map(|k| k.to_string()).collect();
            v.sort();
            v
        };
        let mut original = RequestHeader::build("GET", b"/", None).unwrap();
        original.insert_header("X-Consumer-ID", "spoofed").unwrap();
        original.append_header("x-consumer-id", "twice").unwrap();
        original.insert_header("X-Other", "1").unwrap();
        let mut req = original.clone();
        strip_identity(&mut req, &original, &[]);
        assert_eq!(names(&req), ["x-other"]);
        // A plugin's header under an identity name (inserted into the copy before) goes too.
        let clean = RequestHeader::build("GET", b"/", None).unwrap();
        let mut req = clean.clone();
        let set = [(
            HeaderName::from_static("x-credential-identifier"),
            HeaderValue::from_static("x"),
        )];
        req.insert_header(set[0].0.clone(), set[0].1.clone())
            .unwrap();
        strip_identity(&mut req, &clean, &set);
        assert!(names(&req).is_empty());
        // Neither: the request is left as it is.
        let mut req = clean.clone();
        req.insert_header("X-Forwarded-For", "1.2.3.4").unwrap();
        strip_identity(&mut req, &clean, &[]);
        assert_eq!(names(&req), ["x-forwarded-for"]);
    }

    #[test]
    fn host_port_split() {
        assert_eq!(
            split_host_port("example.com:8000"),
            ("example.com", Some(8000))
        );
        assert_eq!(split_host_port("example.com"), ("example.com", None));
        assert_eq!(split_host_port("[::1]:8000"), ("[::1]", Some(8000)));
    }
}

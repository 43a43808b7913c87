//! What the proxy rewrites on the way upstream: the query without the credential, the `X-Forwarded-*`
//! headers, and request-transformer's method, header values and body.

use std::fmt::Write as _;

use http::HeaderValue;
use pingora::http::RequestHeader;
use pingora::prelude::*;
use pingora::proxy::Session;

use crate::plugins::UpstreamEdits;

/// Drop the named arguments (the credential, with `hide_credentials`) from a query string.
pub(super) fn filter_query(query: Option<&str>, remove: &[String]) -> Option<String> {
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

/// `X-Forwarded-For` appends the client address; `-Proto/-Host/-Port/-Path` and `X-Real-IP` are set
/// from what this listener saw (Kong's behaviour when the client is not a trusted proxy).
///
/// Values are built without temporary strings (one allocation each where the text is new, none for the
/// protocol or an unchanged Host), since this runs for every proxied request.
pub(super) fn set_forwarded_headers(session: &Session, req: &mut RequestHeader) -> Result<()> {
    static HTTP: HeaderValue = HeaderValue::from_static("http");
    static HTTPS: HeaderValue = HeaderValue::from_static("https");
    let original = session.req_header();
    if let Some(ip) = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip())
    {
        let mut buf = String::with_capacity(40);
        let _ = write!(buf, "{ip}");
        let ip = HeaderValue::from_str(&buf).map_err(|_| header_error())?;
        let xff = match original.headers.get("x-forwarded-for") {
            Some(prev) if !prev.as_bytes().trim_ascii().is_empty() => {
                let mut v = Vec::with_capacity(prev.len() + 2 + ip.len());
                v.extend_from_slice(prev.as_bytes());
                v.extend_from_slice(b", ");
                v.extend_from_slice(ip.as_bytes());
                HeaderValue::from_bytes(&v).map_err(|_| header_error())?
            }
            _ => ip.clone(),
        };
        req.insert_header("x-forwarded-for", xff)?;
        req.insert_header("x-real-ip", ip)?;
    }
    let host_value = original.headers.get(http::header::HOST);
    let host_header = host_value.and_then(|v| v.to_str().ok()).unwrap_or("");
    let (host, port) = split_host_port(host_header);
    let server_port = session
        .server_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.port())
        .unwrap_or(0);
    let proto = match session.digest().and_then(|d| d.ssl_digest.as_ref()) {
        Some(_) => &HTTPS,
        None => &HTTP,
    };
    req.insert_header("x-forwarded-proto", proto.clone())?;
    if !host.is_empty() {
        let value = match host_value {
            // No port: the Host header as it came (no copy).
            Some(v) if host.len() == host_header.len() => v.clone(),
            _ => HeaderValue::from_str(host).map_err(|_| header_error())?,
        };
        req.insert_header("x-forwarded-host", value)?;
    }
    req.insert_header(
        "x-forwarded-port",
        HeaderValue::from(port.unwrap_or(server_port)),
    )?;
    req.insert_header("x-forwarded-path", original.uri.path())?;
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
    fn host_port_split() {
        assert_eq!(
            split_host_port("example.com:8000"),
            ("example.com", Some(8000))
        );
        assert_eq!(split_host_port("example.com"), ("example.com", None));
        assert_eq!(split_host_port("[::1]:8000"), ("[::1]", Some(8000)));
    }
}

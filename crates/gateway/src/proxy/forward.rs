//! What the proxy rewrites on the way upstream: the query without the credential, and the `X-Forwarded-*`
//! headers.

use pingora::http::RequestHeader;
use pingora::prelude::*;
use pingora::proxy::Session;

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
pub(super) fn set_forwarded_headers(session: &Session, req: &mut RequestHeader) -> Result<()> {
    let client_ip = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip().to_string());
    let original = session.req_header();
    if let Some(ip) = client_ip.as_deref() {
        let xff = match original
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        {
            Some(prev) if !prev.trim().is_empty() => format!("{prev}, {ip}"),
            _ => ip.to_string(),
        };
        req.insert_header("x-forwarded-for", xff)?;
        req.insert_header("x-real-ip", ip)?;
    }
    let host_header = original
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (host, port) = split_host_port(host_header);
    let server_port = session
        .server_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.port())
        .unwrap_or(0);
    let proto = match session.digest().and_then(|d| d.ssl_digest.as_ref()) {
        Some(_) => "https",
        None => "http",
    };
    req.insert_header("x-forwarded-proto", proto)?;
    if !host.is_empty() {
        req.insert_header("x-forwarded-host", host)?;
    }
    req.insert_header("x-forwarded-port", port.unwrap_or(server_port).to_string())?;
    req.insert_header("x-forwarded-path", original.uri.path())?;
    Ok(())
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

//! Responses the gateway writes itself (Kong's JSON shapes), and how they are sent through Pingora.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::Session;

/// Kong's body when no route matches.
pub const NO_ROUTE: &str = r#"{"message":"no Route matched with those values"}"#;
/// Kong's body for a 502.
pub const BAD_GATEWAY: &str =
    r#"{"message":"An invalid response was received from the upstream server"}"#;
/// Kong's body for a 504.
pub const TIMEOUT: &str = r#"{"message":"The upstream server is timing out"}"#;
/// Kong's body for a 500.
pub const UNEXPECTED: &str = r#"{"message":"An unexpected error occurred"}"#;
/// Body for a request whose body is too large to look a token up in.
pub const TOO_LARGE: &str = r#"{"message":"Request size limit exceeded"}"#;
/// Kong's body when a balanced upstream has no target to send to.
pub const NO_PEER: &str = r#"{"message":"failure to get a peer from the ring-balancer"}"#;
/// Body for a malformed request.
pub const BAD_REQUEST: &str = r#"{"message":"Bad request"}"#;

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

/// Write a complete response (status, extra headers, JSON body) from a request-phase filter.
pub async fn send(
    session: &mut Session,
    status: u16,
    headers: &[(http::HeaderName, http::HeaderValue)],
    body: Bytes,
) -> Result<()> {
    let mut resp = ResponseHeader::build(status, Some(3 + headers.len()))?;
    if !headers.iter().any(|(n, _)| n == http::header::CONTENT_TYPE) {
        resp.insert_header(
            http::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )?;
    }
    resp.insert_header(http::header::CONTENT_LENGTH, body.len().to_string())?;
    for (name, value) in headers {
        resp.append_header(name.clone(), value.clone())?;
    }
    session.write_response_header(Box::new(resp), false).await?;
    session.write_response_body(Some(body), true).await?;
    Ok(())
}

/// Write one of the constant JSON bodies above.
pub async fn send_json(session: &mut Session, status: u16, body: &'static str) -> Result<()> {
    send(session, status, &[], Bytes::from_static(body.as_bytes())).await
}

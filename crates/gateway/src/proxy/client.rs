//! The client's address of a request, found once when the request starts (nginx's realip module as Kong
//! configures it): the connection's peer, replaced by the `real_ip_header` or the PROXY protocol source
//! when the peer is in `trusted_ips`. Every user reads [`ClientAddr`]: the plugins' `Request::client_ip`
//! (ip-restriction, rate-limiting's `limit_by: ip`), the balancer's hash, the access log and the
//! `X-Real-IP`/`X-Forwarded-*` headers sent upstream.

use std::net::IpAddr;

use gateway_config::real_ip::{RealIp, Source};
use pingora::proxy::Session;

/// The addresses of one request.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientAddr {
    /// The real client address (nginx's `$remote_addr` after realip); `None` on a unix-socket connection.
    pub ip: Option<IpAddr>,
    /// The connection's peer (nginx's `$realip_remote_addr`).
    pub peer: Option<IpAddr>,
    /// Whether the peer is in `trusted_ips` (Kong then forwards the client's `X-Forwarded-*` headers).
    pub trusted: bool,
}

impl ClientAddr {
    /// The addresses of the request on `session`, with the running snapshot's settings.
    pub fn of(session: &Session, real_ip: &RealIp) -> ClientAddr {
        let peer = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip().to_canonical());
        let Some(p) = peer else {
            return ClientAddr::default();
        };
        let trusted = real_ip.any_trusted() && real_ip.trusted.contains(p);
        if !trusted {
            return ClientAddr {
                ip: peer,
                peer,
                trusted,
            };
        }
        let ip = match &real_ip.source {
            Source::ProxyProtocol => crate::proxy_protocol::source(session).unwrap_or(p),
            Source::Header(name) => {
                let headers = &session.req_header().headers;
                let lines: Vec<&str> = if name == "x-forwarded-for" {
                    (headers.get_all(name).iter())
                        .filter_map(|v| v.to_str().ok())
                        .collect()
                } else {
                    (headers.get(name.as_str()).and_then(|v| v.to_str().ok()))
                        .into_iter()
                        .collect()
                };
                real_ip.resolve(p, &lines)
            }
        };
        ClientAddr {
            ip: Some(ip.to_canonical()),
            peer,
            trusted,
        }
    }
}

//! Upstream host names resolved at request time: an async, caching DNS resolver (hickory) with Kong's
//! `dns_*` semantics — hosts file first, record types tried in `dns_order`, record TTLs honoured, stale answers
//! served while a background refresh runs or while the DNS server fails, negative answers cached, concurrent
//! lookups of one name coalesced into one query.
//!
//! The [`Resolver`] is owned by the process (`AppState::dns`) and survives reloads; compiling a config never
//! resolves anything. The proxy calls [`Resolver::resolve`] from `upstream_peer`; so does anything else that
//! needs the addresses of a name (the balancer's targets).

mod cache;
mod hosts;
mod lookup;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use gateway_config::settings::Settings;

pub use cache::Resolver;

/// The resolver's settings (the `gateway:` block's `dns_*` keys; defaults are Kong's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSettings {
    /// DNS servers, each `ip[:port]` (port 53 by default); empty: the system's `/etc/resolv.conf`.
    pub resolver: Vec<String>,
    /// Hosts file read once at start; its entries answer before any DNS query (default `/etc/hosts`).
    pub hostsfile: PathBuf,
    /// Record types tried in order: `LAST`, `SRV`, `A`, `AAAA`, `CNAME` (default `LAST,SRV,A,CNAME`).
    pub order: Vec<String>,
    /// When set, the TTL (seconds) of every positive answer instead of the records' own TTL.
    pub valid_ttl: Option<u64>,
    /// Seconds an answer is still served after its TTL, while it is refreshed or while the DNS server fails
    /// (default 3600).
    pub stale_ttl: u64,
    /// Seconds a "name not found" (NXDOMAIN or no record of any tried type) is cached (default 30).
    pub not_found_ttl: u64,
    /// Seconds a DNS server error (timeout, SERVFAIL, refused) is cached (default 1).
    pub error_ttl: u64,
    /// Maximum cached answers, one per (name, port) (default 10000).
    pub cache_size: usize,
}

impl From<&Settings> for DnsSettings {
    fn from(s: &Settings) -> Self {
        DnsSettings {
            resolver: s.dns_resolver.clone(),
            hostsfile: s.dns_hostsfile.clone(),
            order: s.dns_order.clone(),
            valid_ttl: s.dns_valid_ttl,
            stale_ttl: s.dns_stale_ttl,
            not_found_ttl: s.dns_not_found_ttl,
            error_ttl: s.dns_error_ttl,
            cache_size: s.dns_cache_size,
        }
    }
}

impl Default for DnsSettings {
    /// Kong's defaults (those of `gateway_config::settings::Settings`).
    fn default() -> Self {
        DnsSettings::from(&Settings::default())
    }
}

/// Why a name has no address. Both are cached (`dns_not_found_ttl`, `dns_error_ttl`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// The name does not exist, or has no record of any type in `dns_order` (Kong: 503 "name resolution
    /// failed").
    #[error("name not found")]
    NotFound,
    /// The DNS server failed (timeout, SERVFAIL, refused, unreachable) and no stale answer was left.
    #[error("dns server error: {0}")]
    Failed(Arc<str>),
}

/// The addresses of one name and port, in answer order, with this request's place in the round robin.
/// Never empty (an empty answer is [`DnsError::NotFound`]).
#[derive(Debug, Clone)]
pub struct Addresses {
    list: Arc<[SocketAddr]>,
    start: usize,
}

impl Addresses {
    /// `host` as an IP literal (`10.0.0.1`, `::1`, `[::1]`) with `port`: no DNS; `None` for a name.
    pub fn literal(host: &str, port: u16) -> Option<Addresses> {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let ip: IpAddr = bare.parse().ok()?;
        Some(Addresses {
            list: Arc::from([SocketAddr::new(ip, port)]),
            start: 0,
        })
    }

    /// A non-empty list; `None` when `list` is empty.
    fn new(list: Arc<[SocketAddr]>, start: usize) -> Option<Addresses> {
        (!list.is_empty()).then_some(Addresses { list, start })
    }

    /// Every address of the answer, in answer order (SRV answers carry their own ports).
    #[allow(dead_code)] // the balancer's entry point (targets named by host); the proxy uses `pick`
    pub fn all(&self) -> &Arc<[SocketAddr]> {
        &self.list
    }

    /// The address for connection attempt `attempt` (0 = first try): successive requests start at successive
    /// addresses (round robin), and each retry of one request moves to the next address.
    pub fn pick(&self, attempt: usize) -> SocketAddr {
        let len = self.list.len().max(1);
        let i = self.start.wrapping_add(attempt) % len;
        self.list.get(i).copied().unwrap_or_else(|| {
            // Unreachable: the list is never empty. A harmless value rather than a panic.
            SocketAddr::from(([0, 0, 0, 0], 0))
        })
    }
}

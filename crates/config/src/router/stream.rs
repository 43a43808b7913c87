//! The stream routing table: routes whose protocols are `tcp`, `tls`, `udp` or `tls_passthrough`, kept apart
//! from the HTTP router (which never sees them). Kong's `traditional_compatible` stream matching
//! (`kong/router/transform.lua`): `snis` apply only to a TLS connection (`net.protocol != "tls" || tls.sni ...`),
//! any `sources` entry and any `destinations` entry must match (IP or CIDR and/or port), and routes are tried
//! in Kong's stream priority (SNI or source+destination first, then IP > port > CIDR bits of the source, then
//! of the destination), ties by id, highest first. Expression routes are tried before, by `priority`.
//! A lookup scans the table: stream configs hold few routes, and a lookup happens once per connection (or
//! UDP session), never per byte.

use std::cmp::Reverse;
use std::net::SocketAddr;

use http::HeaderMap;
use ipnet::IpNet;
use uuid::Uuid;

use super::expression::{Expression, Facts};
use crate::error::{ConfigError, ConfigErrors};
use crate::model::{Config, Protocol, Route};

/// How a connection arrived: over TCP (plain or on an `ssl` listener) or as UDP datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A TCP connection.
    Tcp,
    /// A UDP session (datagrams from one client address).
    Udp,
}

/// What the stream router reads from a connection.
#[derive(Debug, Clone, Copy)]
pub struct StreamView<'a> {
    /// TCP or UDP.
    pub transport: Transport,
    /// The client's address.
    pub src: SocketAddr,
    /// The local address the connection came in on.
    pub dst: SocketAddr,
    /// The connection is TLS (it came on an `ssl` listener and starts with a ClientHello): Kong's
    /// `net.protocol` is then `tls`, else `tcp` (or `udp`).
    pub tls: bool,
    /// The server name of the client's ClientHello (`None`: not TLS, or no SNI).
    pub sni: Option<&'a str>,
}

/// The route chosen for a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamMatch {
    /// Index of the route in `Config::routes_with_services` order (as [`super::RouteMatch::route`]).
    pub route: usize,
    /// Index into `Config::services`; `None` for a route without a service (the connection is closed).
    pub service: Option<usize>,
    /// The route has `tls`: on an `ssl` listener the gateway terminates TLS.
    pub tls: bool,
    /// The route has `tls_passthrough`: on an `ssl` listener the bytes are spliced as they are.
    pub passthrough: bool,
    /// Kong's `preserve_host`: the upstream TLS handshake sends the client's SNI.
    pub preserve_host: bool,
}

#[derive(Debug)]
struct Net {
    ip: Option<IpNet>,
    port: Option<u16>,
}

impl Net {
    fn matches(&self, addr: SocketAddr) -> bool {
        self.ip
            .is_none_or(|net| net.contains(&addr.ip().to_canonical()))
            && self.port.is_none_or(|p| p == addr.port())
    }
}

#[derive(Debug)]
enum Matcher {
    Traditional {
        /// `(exact, prefix, suffix)` names, lower case, without a trailing dot.
        snis: Vec<Sni>,
        sources: Vec<Net>,
        destinations: Vec<Net>,
    },
    Expression(Box<Expression>),
}

#[derive(Debug)]
enum Sni {
    Exact(String),
    /// `x.*`: the text before `*`.
    Prefix(String),
    /// `*.x`: the text after `*`.
    Suffix(String),
}

impl Sni {
    fn new(name: &str) -> Sni {
        let name = name.to_ascii_lowercase();
        if let Some(rest) = name.strip_prefix('*') {
            return Sni::Suffix(rest.to_string());
        }
        if let Some(rest) = name.strip_suffix('*') {
            return Sni::Prefix(rest.to_string());
        }
        let name = match name.strip_suffix('.') {
            Some(bare) if !bare.is_empty() => bare.to_string(),
            _ => name,
        };
        Sni::Exact(name)
    }

    fn matches(&self, sni: &str) -> bool {
        match self {
            Sni::Exact(n) => sni.eq_ignore_ascii_case(n),
            Sni::Prefix(p) => sni.len() >= p.len() && sni[..p.len()].eq_ignore_ascii_case(p),
            Sni::Suffix(s) => {
                sni.len() >= s.len() && sni[sni.len() - s.len()..].eq_ignore_ascii_case(s)
            }
        }
    }
}

#[derive(Debug)]
struct Entry {
    matcher: Matcher,
    udp: bool,
    tcp: bool,
    tls: bool,
    found: StreamMatch,
    order: (Reverse<bool>, Reverse<u64>, Reverse<Uuid>),
}

/// The compiled stream routes of one configuration.
#[derive(Debug, Default)]
pub struct StreamRouter {
    entries: Vec<Entry>,
}

impl StreamRouter {
    /// Compiles the stream routes of enabled services (and those without a service). Expects a validated
    /// config; an expression that does not parse is reported at its field.
    pub fn compile(config: &Config) -> Result<StreamRouter, ConfigErrors> {
        let mut entries = Vec::new();
        let mut errors = Vec::new();
        for (position, entry) in config.routes_with_services().enumerate() {
            let route = entry.route;
            if !route.is_stream() {
                continue;
            }
            if let Some(s) = entry.service {
                if !config.services.get(s).is_some_and(|s| s.enabled) {
                    continue;
                }
            }
            let has = |p: Protocol| route.protocols.contains(&p);
            let found = StreamMatch {
                route: position,
                service: entry.service,
                tls: has(Protocol::Tls),
                passthrough: has(Protocol::TlsPassthrough),
                preserve_host: route.preserve_host,
            };
            let (matcher, order) = match &route.expression {
                Some(source) => match Expression::parse_for(source, true) {
                    Ok(e) => (
                        Matcher::Expression(Box::new(e)),
                        (
                            Reverse(true),
                            Reverse(route.priority.max(0) as u64),
                            Reverse(route.id),
                        ),
                    ),
                    Err(message) => {
                        let at = format!("{}.expression", entry.position.path());
                        errors.push(ConfigError::at(at, message));
                        continue;
                    }
                },
                None => (
                    traditional(route),
                    (Reverse(false), Reverse(priority(route)), Reverse(route.id)),
                ),
            };
            entries.push(Entry {
                matcher,
                udp: has(Protocol::Udp),
                tcp: has(Protocol::Tcp),
                tls: found.tls || found.passthrough,
                found,
                order,
            });
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        entries.sort_by_key(|a| a.order);
        Ok(StreamRouter { entries })
    }

    /// Whether the configuration has no stream route.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first route (in Kong's order) that matches the connection; a UDP session sees only `udp` routes, a
    /// plain TCP connection only `tcp` ones, a TLS one (on an `ssl` listener) only `tls` and
    /// `tls_passthrough` ones (Kong closes a TLS connection that matches another).
    pub fn find(&self, view: &StreamView<'_>) -> Option<StreamMatch> {
        let udp = view.transport == Transport::Udp;
        let scheme = match (udp, view.tls) {
            (true, _) => "udp",
            (false, true) => "tls",
            (false, false) => "tcp",
        };
        let headers = HeaderMap::new();
        self.entries
            .iter()
            .filter(|e| match (udp, view.tls) {
                (true, _) => e.udp,
                (false, true) => e.tls,
                (false, false) => e.tcp,
            })
            .find(|e| match &e.matcher {
                Matcher::Traditional {
                    snis,
                    sources,
                    destinations,
                } => {
                    // Kong: `net.protocol != "tls" || tls.sni ...`; a TLS connection without SNI matches no name.
                    let sni_ok = snis.is_empty()
                        || !view.tls
                        || view
                            .sni
                            .is_some_and(|sni| snis.iter().any(|s| s.matches(sni)));
                    sni_ok
                        && (sources.is_empty() || sources.iter().any(|n| n.matches(view.src)))
                        && (destinations.is_empty()
                            || destinations.iter().any(|n| n.matches(view.dst)))
                }
                Matcher::Expression(expr) => expr
                    .matches(&Facts {
                        protocol: scheme,
                        method: "",
                        host: None,
                        path: "",
                        headers: &headers,
                        query: None,
                        src: Some(view.src),
                        dst: Some(view.dst),
                        sni: view.sni,
                    })
                    .is_some(),
            })
            .map(|e| e.found)
    }
}

fn traditional(route: &Route) -> Matcher {
    let nets = |list: &[crate::stream::StreamAddr]| {
        list.iter()
            .map(|a| Net {
                ip: a.ip.as_deref().and_then(crate::real_ip::parse_ip_or_cidr),
                port: a.port,
            })
            .collect()
    };
    Matcher::Traditional {
        snis: route.snis.iter().map(|s| Sni::new(s)).collect(),
        sources: nets(&route.sources),
        destinations: nets(&route.destinations),
    }
}

/// Kong's `stream_get_priority`.
fn priority(route: &Route) -> u64 {
    const SNI_BIT: u64 = 1 << 61;
    fn weight(list: &[crate::stream::StreamAddr]) -> u64 {
        list.iter().fold(0, |w, a| {
            let ip = match a.ip.as_deref() {
                Some(ip) if ip.contains('/') => 1,
                Some(_) => 1 << 3,
                None => 0,
            };
            let port = if a.port.is_some() { 1 << 2 } else { 0 };
            w | ip | port
        })
    }
    let mut p = 0;
    if !route.snis.is_empty() || (!route.sources.is_empty() && !route.destinations.is_empty()) {
        p = SNI_BIT;
    }
    p | (weight(&route.sources) << 4) | weight(&route.destinations)
}

#[cfg(test)]
mod tests;

//! The real client address, as Kong's `trusted_ips`, `real_ip_header` and `real_ip_recursive` set nginx's
//! realip module: [`IpMatcher`] (addresses and CIDR blocks, also ip-restriction's `allow`/`deny`), the
//! settings' checks, and [`RealIp::resolve`], nginx's `ngx_http_get_forwarded_addr` as a pure function.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

use crate::error::Collector;

/// Kong's default `real_ip_header`.
pub const DEFAULT_REAL_IP_HEADER: &str = "X-Real-IP";
/// The `real_ip_header` value that takes the address of the PROXY protocol header.
pub const PROXY_PROTOCOL: &str = "proxy_protocol";

/// A set of IPv4/IPv6 networks; an address matches when one network contains it. An IPv4-mapped IPv6
/// address (`::ffff:a.b.c.d`) is matched as its IPv4 address, as nginx's `ngx_cidr_match` does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpMatcher {
    nets: Vec<IpNet>,
}

/// One address (`10.0.0.1`, `::1`) or CIDR block (`10.0.0.0/8`, `127.0.0.1/8`: host bits allowed, as in
/// Kong); `None` when it is neither.
pub fn parse_ip_or_cidr(text: &str) -> Option<IpNet> {
    if text.contains('/') {
        text.parse::<IpNet>().ok()
    } else {
        text.parse::<IpAddr>().ok().map(IpNet::from)
    }
}

/// Kong's `typedefs.ip_or_cidr` message.
pub fn ip_or_cidr_error(text: &str) -> String {
    format!("invalid ip or cidr range: '{text}'")
}

impl IpMatcher {
    /// The matcher of `entries`; `Err` holds the index and text of the first invalid entry.
    pub fn new<S: AsRef<str>>(entries: &[S]) -> Result<Self, (usize, String)> {
        let mut nets = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            match parse_ip_or_cidr(e.as_ref()) {
                Some(net) => nets.push(net),
                None => return Err((i, e.as_ref().to_owned())),
            }
        }
        Ok(IpMatcher { nets })
    }

    /// Whether no network is set.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether `ip` is in one of the networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }
}

/// Where the real address comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A request header (lower-cased name); `X-Forwarded-For` is read as a list over all its lines.
    Header(String),
    /// The PROXY protocol header of the connection.
    ProxyProtocol,
}

/// The compiled `trusted_ips`, `real_ip_header` and `real_ip_recursive`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealIp {
    /// The peers whose header (or PROXY header) is believed (`trusted_ips`).
    pub trusted: IpMatcher,
    /// `real_ip_header`.
    pub source: Source,
    /// `real_ip_recursive`.
    pub recursive: bool,
}

impl RealIp {
    /// Compiles the settings (already checked: an invalid entry is skipped).
    pub fn new(trusted_ips: &[String], header: &str, recursive: bool) -> Self {
        let nets = trusted_ips
            .iter()
            .filter_map(|e| parse_ip_or_cidr(e))
            .collect();
        let source = if header.eq_ignore_ascii_case(PROXY_PROTOCOL) {
            Source::ProxyProtocol
        } else {
            Source::Header(header.to_ascii_lowercase())
        };
        RealIp {
            trusted: IpMatcher { nets },
            source,
            recursive,
        }
    }

    /// Whether any peer is trusted (otherwise the connection's peer is always the client).
    pub fn any_trusted(&self) -> bool {
        !self.trusted.is_empty()
    }

    /// The client address of a connection from `peer` whose `values` are the lines of the real-ip header
    /// (or the PROXY header's source address), in order: nginx's realip. Nothing is believed unless `peer`
    /// is trusted; then the last address of the last line replaces it, and with `recursive` the walk goes
    /// on leftwards (then to earlier lines) while the address found is trusted too, stopping at the first
    /// one that is not (or the leftmost). A value that is not an address (optionally with a port) leaves
    /// the address found so far.
    pub fn resolve(&self, peer: IpAddr, values: &[&str]) -> IpAddr {
        let mut addr = peer;
        for line in values.iter().rev() {
            match walk(&self.trusted, addr, line, self.recursive) {
                Walk::Declined => return addr,
                Walk::Done(a) => return a,
                Walk::Ok(a) if !self.recursive => return a,
                Walk::Ok(a) => addr = a,
            }
        }
        addr
    }
}

enum Walk {
    /// The current address is not trusted (or the value is not an address): it stays.
    Declined,
    /// Stopped at an untrusted address.
    Done(IpAddr),
    /// Every address of the line walked; the leftmost is the current one (and was trusted in turn).
    Ok(IpAddr),
}

/// `ngx_http_get_forwarded_addr_internal` over one header line.
fn walk(trusted: &IpMatcher, addr: IpAddr, line: &str, recursive: bool) -> Walk {
    if !trusted.contains(addr) {
        return Walk::Declined;
    }
    let line = line.trim_end_matches([' ', ',']);
    let (rest, last) = match line.rfind([' ', ',']) {
        Some(i) => (Some(&line[..i]), &line[i + 1..]),
        None => (None, line),
    };
    let Some(found) = parse_addr_port(last) else {
        return Walk::Declined;
    };
    match rest {
        Some(rest) if recursive => match walk(trusted, found, rest, true) {
            Walk::Declined => Walk::Done(found),
            other => other,
        },
        _ => Walk::Ok(found),
    }
}

/// nginx's `ngx_parse_addr_port`: `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]`, `[::1]:80`.
fn parse_addr_port(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(inner) = text.strip_prefix('[') {
        let (ip, rest) = inner.split_once(']')?;
        let port_ok = rest.is_empty() || rest.strip_prefix(':').is_some_and(is_port);
        return port_ok.then(|| ip.parse::<IpAddr>().ok()).flatten();
    }
    let (ip, port) = text.rsplit_once(':')?;
    (is_port(port))
        .then(|| ip.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4))
        .flatten()
}

fn is_port(p: &str) -> bool {
    p.parse::<u16>().is_ok()
}

/// Kong's `real_ip_recursive`: `on`/`off` (or a boolean).
pub fn on_off<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        Bool(bool),
        Text(String),
    }
    match Form::deserialize(deserializer) {
        Ok(Form::Bool(b)) => Ok(b),
        Ok(Form::Text(t)) if t.eq_ignore_ascii_case("on") => Ok(true),
        Ok(Form::Text(t)) if t.eq_ignore_ascii_case("off") => Ok(false),
        _ => Err(serde::de::Error::custom("expected on, off, true or false")),
    }
}

/// Checks `trusted_ips` and `real_ip_header` (`has_proxy_protocol`: a `proxy_listen` entry has the flag).
pub(crate) fn check(
    trusted_ips: &[String],
    header: &str,
    has_proxy_protocol: bool,
    errors: &mut Collector,
) {
    for address in trusted_ips {
        if address == "unix:" {
            errors.push(
                "gateway.trusted_ips",
                "'unix:' is not supported yet (the gateway has no unix-socket listeners)",
            );
        } else if parse_ip_or_cidr(address).is_none() {
            errors.push(
                "gateway.trusted_ips",
                format!("trusted_ips must be a comma separated list in the form of IPv4 or IPv6 address or CIDR block or 'unix:', got '{address}'"),
            );
        }
    }
    if header.eq_ignore_ascii_case(PROXY_PROTOCOL) {
        if !has_proxy_protocol {
            errors.push(
                "gateway.real_ip_header",
                "proxy_protocol requires at least one proxy_listen entry with the proxy_protocol flag",
            );
        }
    } else if header.is_empty()
        || !header
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        errors.push(
            "gateway.real_ip_header",
            format!("invalid header name {header:?}: expected a header name or proxy_protocol"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn rip(trusted: &[&str], header: &str, recursive: bool) -> RealIp {
        let t: Vec<String> = trusted.iter().map(|s| s.to_string()).collect();
        RealIp::new(&t, header, recursive)
    }

    #[test]
    fn matcher_parses_kongs_forms() {
        let m = IpMatcher::new(&["127.0.0.1/8", "::1", "10.1.2.3"]).unwrap();
        assert!(m.contains(ip("127.9.9.9")) && m.contains(ip("::1")) && m.contains(ip("10.1.2.3")));
        assert!(!m.contains(ip("10.1.2.4")) && !m.contains(ip("::2")));
        assert!(m.contains(ip("::ffff:127.0.0.2")));
        for bad in [
            "hello",
            "0.0.0.0/a",
            "0.0.0.0/-1",
            "0.0.0.0/33",
            "::/129",
            "::1/a",
        ] {
            assert!(parse_ip_or_cidr(bad).is_none(), "{bad}");
        }
        assert_eq!(IpMatcher::new(&["::/0", "x"]).unwrap_err(), (1, "x".into()));
        assert!(IpMatcher::new(&["0.0.0.0/0", "::/0"])
            .unwrap()
            .contains(ip("8.8.8.8")));
    }

    #[test]
    fn nginx_realip_semantics() {
        let peer = ip("10.0.0.1");
        // Untrusted peer: nothing believed.
        let r = rip(&["192.168.0.0/16"], "X-Forwarded-For", false);
        assert_eq!(r.resolve(peer, &["1.1.1.1"]), peer);
        // Trusted, not recursive: the last address.
        let r = rip(&["10.0.0.0/8"], "X-Forwarded-For", false);
        assert_eq!(r.resolve(peer, &["1.1.1.1, 10.0.0.2"]), ip("10.0.0.2"));
        assert_eq!(r.resolve(peer, &["1.1.1.1", "2.2.2.2"]), ip("2.2.2.2"));
        assert_eq!(r.resolve(peer, &["garbage"]), peer);
        assert_eq!(r.resolve(peer, &[]), peer);
        assert_eq!(r.resolve(peer, &["1.1.1.1:8080"]), ip("1.1.1.1"));
        assert_eq!(r.resolve(peer, &["[::1]:8080"]), ip("::1"));
        // Recursive: skip trusted addresses from the right.
        let r = rip(&["10.0.0.0/8"], "X-Forwarded-For", true);
        assert_eq!(
            r.resolve(peer, &["1.1.1.1, 2.2.2.2, 10.0.0.2"]),
            ip("2.2.2.2")
        );
        assert_eq!(r.resolve(peer, &["10.0.0.3, 10.0.0.2"]), ip("10.0.0.3"));
        assert_eq!(
            r.resolve(peer, &["1.1.1.1", "10.0.0.2, 10.0.0.3"]),
            ip("1.1.1.1")
        );
        assert_eq!(r.resolve(peer, &["1.1.1.1, 2.2.2.2,  "]), ip("2.2.2.2"));
        let all = rip(&["0.0.0.0/0", "::/0"], "X-Forwarded-For", true);
        assert_eq!(all.resolve(peer, &["1.1.1.1, 2.2.2.2"]), ip("1.1.1.1"));
        assert_eq!(all.source, Source::Header("x-forwarded-for".into()));
        assert_eq!(
            rip(&[], "PROXY_PROTOCOL", false).source,
            Source::ProxyProtocol
        );
    }

    #[test]
    fn checks_use_kongs_messages() {
        let mut c = Collector::default();
        check(
            &["1.2.3.4/33".into(), "unix:".into()],
            "X-Real-IP",
            false,
            &mut c,
        );
        check(&[], "proxy_protocol", false, &mut c);
        check(&[], "X Real", true, &mut c);
        let text = c.finish().unwrap_err().to_string();
        assert!(text.contains("trusted_ips must be a comma separated list in the form of IPv4 or IPv6 address or CIDR block or 'unix:', got '1.2.3.4/33'"), "{text}");
        assert!(text.contains("'unix:' is not supported yet"));
        assert!(text.contains("gateway.real_ip_header: proxy_protocol requires"));
        assert!(text.contains("invalid header name \"X Real\""));
    }
}

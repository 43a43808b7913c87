//! Kong's reading of an address (`normalize_ip`): IPv4, IPv6 or hostname with an optional port, and the
//! normalised `host:port` form of a target.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::DEFAULT_TARGET_PORT;

/// How Kong reads an address: an IPv4 or IPv6 literal or a hostname, each with an optional port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Address {
    /// An IPv4 literal.
    V4(Ipv4Addr, Option<u16>),
    /// An IPv6 literal (bracketed when a port follows).
    V6(Ipv6Addr, Option<u16>),
    /// A hostname.
    Name(String, Option<u16>),
}

/// Kong's `normalize_ip`: more than one `:` is IPv6, digits and dots IPv4, anything else a hostname
/// (letters, digits, `-`, `.`, `_`; no label ending in `-`, no empty label but a trailing one).
pub(crate) fn parse_address(text: &str) -> Option<Address> {
    let port_of = |p: &str| -> Option<u16> {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    if text.matches(':').count() > 1 {
        if let Some(rest) = text.strip_prefix('[') {
            let (inner, after) = rest.split_once(']')?;
            let addr: Ipv6Addr = inner.parse().ok()?;
            let port = match after {
                "" => None,
                p => Some(port_of(p.strip_prefix(':')?)?),
            };
            return Some(Address::V6(addr, port));
        }
        return text.parse().ok().map(|a| Address::V6(a, None));
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((h, p)) => (h, Some(port_of(p)?)),
        None => (text, None),
    };
    if !host.is_empty() && host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let parts: Vec<&str> = host.split('.').collect();
        let ok = parts.len() == 4
            && parts
                .iter()
                .all(|p| (1..=3).contains(&p.len()) && p.parse::<u8>().is_ok());
        if !ok {
            return None;
        }
        let octets: Vec<u8> = parts.iter().filter_map(|p| p.parse().ok()).collect();
        let addr = Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]);
        return Some(Address::V4(addr, port));
    }
    let valid_chars = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    let labels: Vec<&str> = host.split('.').collect();
    let last = labels.len() - 1;
    let valid_labels = labels
        .iter()
        .enumerate()
        .all(|(i, l)| !l.ends_with('-') && (!l.is_empty() || i == last));
    (valid_chars && valid_labels && host != ".").then(|| Address::Name(host.to_string(), port))
}

/// A target as Kong stores it: `host:port` with port 8000 when absent, IPv4 without leading zeros, IPv6 in
/// brackets (compressed form). `Err` is Kong's message.
pub fn normalize_target(text: &str) -> Result<String, String> {
    let (host, port) = parse_target(text)?;
    Ok(if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
}

pub(crate) fn parse_target(text: &str) -> Result<(String, u16), String> {
    let invalid = || format!("Invalid target ('{text}'); not a valid hostname or ip address");
    let address = parse_address(text).ok_or_else(invalid)?;
    if matches!(
        address,
        Address::V4(_, Some(0)) | Address::V6(_, Some(0)) | Address::Name(_, Some(0))
    ) {
        return Err(invalid());
    }
    match address {
        Address::V4(a, p) => Ok((a.to_string(), p.unwrap_or(DEFAULT_TARGET_PORT))),
        Address::V6(a, p) => Ok((a.to_string(), p.unwrap_or(DEFAULT_TARGET_PORT))),
        Address::Name(n, p) => Ok((n, p.unwrap_or(DEFAULT_TARGET_PORT))),
    }
}

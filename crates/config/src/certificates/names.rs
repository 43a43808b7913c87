//! SNI names as Kong's `wildcard_host` typedef checks them, with Kong's messages.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::checks::{hostname_labels, split_host_port};

/// A server name with at most one `*`, as the leftmost or rightmost character (`*` alone is the default
/// SNI); no IP address, no port.
pub fn check_wildcard_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("length must be at least 1".into());
    }
    let stars = host.matches('*').count();
    if stars > 0 {
        let idx = host.find('*').unwrap_or(0);
        if idx != 0 && idx != host.len() - 1 {
            return Err("wildcard must be leftmost or rightmost character".into());
        }
        if stars > 1 {
            return Err("only one wildcard must be specified".into());
        }
    }
    let mock = host.replacen('*', "wildcard", 1);
    let bare = mock
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(&mock);
    if bare.parse::<Ipv4Addr>().is_ok() || bare.parse::<Ipv6Addr>().is_ok() {
        return Err("must not be an IP".into());
    }
    let (name, port) = split_host_port(&mock);
    if port.is_some() {
        if name.parse::<Ipv4Addr>().is_ok() || name.starts_with('[') {
            return Err("must not be an IP".into());
        }
        return Err("must not have a port".into());
    }
    if hostname_labels(name) {
        Ok(())
    } else {
        Err(format!("invalid value: {host}"))
    }
}

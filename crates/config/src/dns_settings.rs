//! The `dns_*` settings of the `gateway:` block (Kong's `kong.conf` names and defaults): defaults, the
//! list-or-comma-separated reading, and their checks. The resolver itself is built by the gateway.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Deserializer};

use crate::error::Collector;

/// Default `dns_hostsfile`.
pub const DEFAULT_DNS_HOSTSFILE: &str = "/etc/hosts";
/// Default `dns_order`.
pub const DEFAULT_DNS_ORDER: &[&str] = &["LAST", "SRV", "A", "CNAME"];
/// Accepted entries of `dns_order`.
pub const DNS_RECORD_TYPES: &[&str] = &["LAST", "SRV", "A", "AAAA", "CNAME"];
/// Default `dns_stale_ttl` (seconds).
pub const DEFAULT_DNS_STALE_TTL: u64 = 3600;
/// Default `dns_not_found_ttl` (seconds).
pub const DEFAULT_DNS_NOT_FOUND_TTL: u64 = 30;
/// Default `dns_error_ttl` (seconds).
pub const DEFAULT_DNS_ERROR_TTL: u64 = 1;
/// Default `dns_cache_size` (entries).
pub const DEFAULT_DNS_CACHE_SIZE: usize = 10_000;

/// The default `dns_order`, as owned strings.
pub fn default_dns_order() -> Vec<String> {
    DEFAULT_DNS_ORDER.iter().map(|s| s.to_string()).collect()
}

/// A YAML list of strings, or Kong's comma-separated string (`"8.8.8.8, 1.1.1.1:53"`); entries trimmed,
/// empty ones dropped.
pub fn list_or_csv<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        List(Vec<String>),
        Text(String),
    }
    let items = match Form::deserialize(deserializer).map_err(|_| {
        serde::de::Error::custom("expected a list of strings or a comma-separated string")
    })? {
        Form::List(items) => items,
        Form::Text(text) => text.split(',').map(str::to_string).collect(),
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect())
}

/// [`list_or_csv`], upper-cased (`dns_order`).
pub fn upper_list_or_csv<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    Ok(list_or_csv(deserializer)?
        .into_iter()
        .map(|s| s.to_ascii_uppercase())
        .collect())
}

/// `ip`, `ip:port`, `[v6]` or `[v6]:port`; `default_port` when none is given.
pub fn ip_with_port(entry: &str, default_port: u16) -> Option<SocketAddr> {
    if let Ok(addr) = entry.parse::<SocketAddr>() {
        return Some(addr);
    }
    let bare = entry
        .strip_prefix('[')
        .and_then(|e| e.strip_suffix(']'))
        .unwrap_or(entry);
    bare.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, default_port))
}

/// A `dns_resolver` entry: an IP address with an optional port (IPv6 with a port in brackets).
pub fn resolver_address(entry: &str) -> Result<SocketAddr, String> {
    ip_with_port(entry, 53).ok_or_else(|| {
            format!(
                "invalid address {entry:?}: expected an IP address with an optional port, such as \"8.8.8.8\" or \"[::1]:53\""
            )
        })
}

/// Checks the `dns_*` values, reporting under `gateway.<field>`.
pub(crate) fn check(settings: &crate::settings::Settings, errors: &mut Collector) {
    for (k, entry) in settings.dns_resolver.iter().enumerate() {
        if let Err(m) = resolver_address(entry) {
            errors.push(format!("gateway.dns_resolver[{k}]"), m);
        }
    }
    if settings.dns_hostsfile.as_os_str().is_empty() {
        errors.push("gateway.dns_hostsfile", "must not be empty");
    }
    if settings.dns_order.is_empty() {
        errors.push("gateway.dns_order", "must not be empty");
    }
    for (k, entry) in settings.dns_order.iter().enumerate() {
        if !DNS_RECORD_TYPES.contains(&entry.as_str()) {
            errors.push(
                format!("gateway.dns_order[{k}]"),
                format!(
                    "invalid entry {entry:?}: expected one of {}",
                    DNS_RECORD_TYPES.join(", ")
                ),
            );
        }
    }
    if settings.dns_cache_size == 0 {
        errors.push("gateway.dns_cache_size", "must be at least 1");
    }
}

//! The hosts file (`dns_hostsfile`): parsed once at start; its entries answer before any DNS query.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

/// Names to addresses, split by family (A and AAAA are tried in `dns_order`'s order).
#[derive(Debug, Default)]
pub(crate) struct Hosts {
    v4: HashMap<String, Vec<IpAddr>>,
    v6: HashMap<String, Vec<IpAddr>>,
}

impl Hosts {
    /// Reads `path`; a missing or unreadable file gives no entries (with a warning), as Kong does.
    pub(crate) fn read(path: &Path) -> Hosts {
        match std::fs::read_to_string(path) {
            Ok(text) => Hosts::parse(&text),
            Err(e) => {
                log::warn!(
                    "dns: cannot read the hosts file, using no hosts entries path={} error={e}",
                    path.display()
                );
                Hosts::default()
            }
        }
    }

    /// Parses `/etc/hosts` syntax: `ip name [alias…]`, `#` starts a comment, bad lines are skipped.
    pub(crate) fn parse(text: &str) -> Hosts {
        let mut hosts = Hosts::default();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) else {
                continue;
            };
            let map = if ip.is_ipv4() {
                &mut hosts.v4
            } else {
                &mut hosts.v6
            };
            for name in words {
                let ips = map.entry(name.to_ascii_lowercase()).or_default();
                if !ips.contains(&ip) {
                    ips.push(ip);
                }
            }
        }
        hosts
    }

    /// The entries of `name` (lower-case, no trailing dot) for one family.
    pub(crate) fn get(&self, name: &str, v6: bool) -> Option<&[IpAddr]> {
        let map = if v6 { &self.v6 } else { &self.v4 };
        map.get(name).map(Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_families_aliases_and_comments() {
        let h = Hosts::parse(
            "127.0.0.1 localhost Local # comment\n::1 localhost ip6-localhost\n# 10.0.0.1 gone\nbad line\n10.0.0.2 Local\n",
        );
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(h.get("localhost", false), Some(&[ip("127.0.0.1")][..]));
        assert_eq!(h.get("localhost", true), Some(&[ip("::1")][..]));
        assert_eq!(
            h.get("local", false),
            Some(&[ip("127.0.0.1"), ip("10.0.0.2")][..])
        );
        assert_eq!(h.get("gone", false), None);
        assert_eq!(h.get("ip6-localhost", false), None);
    }
}

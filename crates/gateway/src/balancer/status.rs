//! What `/upstreams/{u}/health` shows and what `.../targets/{t}/healthy|unhealthy` sets, in Kong's shapes
//! (`kong/runloop/balancer/healthcheckers.lua` `get_upstream_health`, `get_balancer_health`, `post_health`).

use super::UpstreamBalancer;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;

/// Kong's health of a target or an address.
pub const HEALTHY: &str = "HEALTHY";
/// The target or address takes no traffic.
pub const UNHEALTHY: &str = "UNHEALTHY";
/// The upstream has no health check, so addresses are never taken out.
pub const HEALTHCHECKS_OFF: &str = "HEALTHCHECKS_OFF";
/// The target's host name gave no address.
pub const DNS_ERROR: &str = "DNS_ERROR";

/// One target's health, as `/upstreams/{u}/health` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetHealth {
    /// Index into `UpstreamBalancer::targets`.
    pub target: usize,
    /// `HEALTHY`, `UNHEALTHY`, `HEALTHCHECKS_OFF` or `DNS_ERROR`.
    pub health: &'static str,
    /// Kong's `data`: host, port, dns, nodeWeight, weight {total, available, unavailable}, addresses.
    pub data: Value,
}

impl UpstreamBalancer {
    /// Every target's health: a target is `HEALTHY` when one of its addresses is, `UNHEALTHY` when none is,
    /// `HEALTHCHECKS_OFF` without checks (or with weight 0) and `DNS_ERROR` when it has no address.
    pub fn target_health(&self) -> Vec<TargetHealth> {
        self.targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let (data, addresses) = self.target_status(i);
                let checked = self.checks_on && t.entity.weight > 0;
                let health = if addresses.is_empty() {
                    DNS_ERROR
                } else if !checked {
                    HEALTHCHECKS_OFF
                } else if addresses.iter().any(|(_, healthy)| *healthy) {
                    HEALTHY
                } else {
                    UNHEALTHY
                };
                TargetHealth {
                    target: i,
                    health,
                    data,
                }
            })
            .collect()
    }

    /// `?balancer_health=1`: `{health, balancer_health, id, details}`; the balancer is healthy while the
    /// available weight is above `healthchecks.threshold` percent of the total.
    pub fn balancer_health(&self) -> Value {
        let ring = self.ring();
        let (available, total) = ring.weights();
        let threshold = self.upstream.healthchecks.threshold;
        let healthy = total > 0 && (available as f64 / total as f64 * 100.0) > threshold;
        let balancer_health = if healthy { HEALTHY } else { UNHEALTHY };
        let hosts: Vec<Value> = (0..self.targets.len())
            .map(|i| self.target_status(i).0)
            .collect();
        json!({
            "health": if self.checks_on { balancer_health } else { HEALTHCHECKS_OFF },
            "balancer_health": balancer_health,
            "id": self.id,
            "details": {
                "healthy": healthy,
                "weight": {"total": total, "available": available, "unavailable": total - available},
                "hosts": hosts,
            },
        })
    }

    /// Kong's `getTargetStatus` of target `i`, and each address with whether it takes traffic.
    pub(crate) fn target_status(&self, i: usize) -> (Value, Vec<(SocketAddr, bool)>) {
        let Some(t) = self.targets.get(i) else {
            return (Value::Null, Vec::new());
        };
        let ring = self.ring();
        let checked = self.checks_on && t.entity.weight > 0;
        let mut addresses = Vec::new();
        let mut rows = Vec::new();
        let (mut total, mut unavailable) = (0u64, 0u64);
        for e in ring.entries.iter().filter(|e| e.state.target == i) {
            let healthy = e.state.healthy();
            total += u64::from(e.weight);
            if !healthy {
                unavailable += u64::from(e.weight);
            }
            addresses.push((e.state.addr, healthy));
            let health = match (checked, healthy) {
                (false, _) => HEALTHCHECKS_OFF,
                (true, true) => HEALTHY,
                (true, false) => UNHEALTHY,
            };
            rows.push(json!({
                "ip": e.state.addr.ip().to_string(),
                "port": e.state.addr.port(),
                "weight": e.weight,
                "health": health,
            }));
        }
        let dns = match t.ip {
            Some(IpAddr::V4(_)) => "A",
            Some(IpAddr::V6(_)) => "AAAA",
            None if t.dns_error.load(Ordering::Relaxed) => "dns server error",
            None if addresses.is_empty() => "unknown",
            None if addresses.iter().all(|(a, _)| a.is_ipv6()) => "AAAA",
            None => "A",
        };
        let data = json!({
            "host": t.host,
            "port": t.port,
            "dns": dns,
            "nodeWeight": t.entity.weight,
            "weight": {"total": total, "available": total - unavailable, "unavailable": unavailable},
            "addresses": rows,
        });
        (data, addresses)
    }

    /// Set target `target`'s addresses (or only `address`, `ip[:port]`, port defaulting to the target's)
    /// healthy or unhealthy by hand. `Err`: Kong's 400 message.
    pub fn post_health(
        &self,
        target: usize,
        address: Option<&str>,
        healthy: bool,
    ) -> Result<(), String> {
        let port = self.targets.get(target).map_or(0, |t| t.port);
        let address = match address {
            None => None,
            Some(a) => {
                Some(parse_address(a, port).ok_or_else(|| format!("invalid address {a:?}"))?)
            }
        };
        self.set_health(target, address, healthy)
    }
}

/// `ip`, `ip:port`, `[v6]` or `[v6]:port`.
fn parse_address(a: &str, default_port: u16) -> Option<SocketAddr> {
    gateway_config::dns_settings::ip_with_port(a, default_port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_take_the_targets_port_when_none_is_given() {
        let at = |s: &str| s.parse::<SocketAddr>().ok();
        assert_eq!(parse_address("127.0.0.2", 81), at("127.0.0.2:81"));
        assert_eq!(parse_address("127.0.0.2:90", 81), at("127.0.0.2:90"));
        assert_eq!(parse_address("[::1]", 81), at("[::1]:81"));
        assert_eq!(parse_address("[::1]:7", 81), at("[::1]:7"));
        assert_eq!(parse_address("::1", 81), at("[::1]:81"));
        assert_eq!(parse_address("example.com", 81), None);
    }
}

//! One route's metric children, resolved once per snapshot instead of through the labels' hash on every
//! request (`MetricVec::with_label_values` hashes every label value and takes the vector's lock): the latency
//! histograms (`{service,route,workspace}`) when the route is first counted, and the counters of each
//! (consumer, status, source) the route has seen, created on their first use exactly as
//! `with_label_values` would have created them (so `/metrics` shows the same series).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{OnceLock, RwLock};

use prometheus::{Histogram, IntCounter};

use super::exporter::KongMetrics;

/// Kong's only workspace here.
pub const WORKSPACE: &str = "default";

/// At most this many (consumer, status, source) entries per route are kept; past it the labels are hashed
/// per request as before (a route with very many consumers).
const MAX_ENTRIES: usize = 4096;

/// The route's children.
pub struct RouteMetrics {
    /// `kong_request_latency_ms{service,route,workspace}`.
    pub request: Histogram,
    /// `kong_upstream_latency_ms{service,route,workspace}`.
    pub upstream: Histogram,
    /// `kong_kong_latency_ms{service,route,workspace}`.
    pub kong: Histogram,
    counters: RwLock<HashMap<u64, Counters, BuildHasherDefault<KeyHasher>>>,
}

/// One (consumer, status, source)'s counters, each made when first counted.
#[derive(Default)]
struct Counters {
    requests: OnceLock<IntCounter>,
    ingress: OnceLock<IntCounter>,
    egress: OnceLock<IntCounter>,
}

/// The labels of one request's counters.
pub struct Labels<'a> {
    /// The service's name, else its host.
    pub service: &'a str,
    /// The route's name, else its id.
    pub route: &'a str,
    /// The consumer's username (`per_consumer`), else empty.
    pub consumer: &'a str,
    /// The consumer's position in the snapshot (`None`: no consumer label).
    pub consumer_index: Option<usize>,
    /// The status code sent.
    pub status: u16,
    /// `service` (the upstream answered) or `kong`.
    pub source: &'static str,
}

impl Labels<'_> {
    fn key(&self) -> u64 {
        let consumer = self.consumer_index.map_or(0, |i| i as u64 + 1);
        (consumer << 17) | (u64::from(self.status) << 1) | u64::from(self.source == "service")
    }
}

impl RouteMetrics {
    /// The children of `[service, route, workspace]`.
    pub fn of(m: &KongMetrics, service: &str, route: &str) -> Self {
        let labels = [service, route, WORKSPACE];
        RouteMetrics {
            request: m.request_latency.with_label_values(&labels),
            upstream: m.upstream_latency.with_label_values(&labels),
            kong: m.kong_latency.with_label_values(&labels),
            counters: RwLock::default(),
        }
    }

    /// Counts one request in `kong_http_requests_total` (`requests`) and `kong_bandwidth_bytes` (the non-zero
    /// sizes of `bytes`: ingress, egress).
    pub fn count(
        &self,
        m: &KongMetrics,
        l: &Labels<'_>,
        requests: bool,
        bytes: Option<(u64, u64)>,
    ) {
        let apply = |c: &Counters| {
            if let Some((ingress, egress)) = bytes {
                for (cell, direction, n) in [
                    (&c.ingress, "ingress", ingress),
                    (&c.egress, "egress", egress),
                ] {
                    if n > 0 {
                        cell.get_or_init(|| bandwidth(m, l, direction)).inc_by(n);
                    }
                }
            }
            if requests {
                c.requests.get_or_init(|| request_counter(m, l)).inc();
            }
        };
        let key = l.key();
        if let Ok(map) = self.counters.read() {
            if let Some(c) = map.get(&key) {
                return apply(c);
            }
        }
        let Ok(mut map) = self.counters.write() else {
            return apply(&Counters::default());
        };
        if map.len() >= MAX_ENTRIES && !map.contains_key(&key) {
            drop(map);
            return apply(&Counters::default());
        }
        apply(map.entry(key).or_default());
    }
}

fn bandwidth(m: &KongMetrics, l: &Labels<'_>, direction: &str) -> IntCounter {
    let labels = [l.service, l.route, direction, WORKSPACE, l.consumer];
    m.bandwidth.with_label_values(&labels)
}

fn request_counter(m: &KongMetrics, l: &Labels<'_>) -> IntCounter {
    let code = l.status.to_string();
    let labels = [
        l.service,
        l.route,
        code.as_str(),
        l.source,
        WORKSPACE,
        l.consumer,
    ];
    m.requests.with_label_values(&labels)
}

/// The counters' map hasher: the keys are packed small integers (consumer position, status), not input a
/// client chooses, so one multiplication spreads them.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

//! The selection algorithms over one set of addresses: weighted smooth round-robin, Kong's consistent-hashing
//! continuum, least-connections and latency (EWMA). Pure apart from the atomics they read; a `Ring` is
//! rebuilt when the address set changes (DNS) and swapped in whole.

use super::health::AddrState;
use gateway_config::model::Algorithm;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Longest round-robin wheel; larger weight sums are scaled down to it (proportions kept to within 1/65536).
const MAX_WHEEL: u64 = 1 << 16;
/// Points per address on the continuum when all addresses weigh the same (Kong's `SERVER_POINTS`).
const SERVER_POINTS: f64 = 160.0;
/// Kong's latency EWMA decay time, in seconds.
const DECAY_SECONDS: f64 = 10.0;

/// One address of a ring and its weight (its target's weight).
#[derive(Debug, Clone)]
pub struct Entry {
    /// Health and counters, shared with rebuilt rings and with the next snapshot's balancer.
    pub state: Arc<AddrState>,
    /// The target's weight (0: no traffic).
    pub weight: u32,
    /// How the continuum names this address (`ip:port`, Kong's order key).
    pub key: String,
}

/// Addresses plus the state of the upstream's algorithm.
#[derive(Debug)]
pub struct Ring {
    /// Every address of every target, weight 0 included (the health endpoint lists them).
    pub entries: Vec<Entry>,
    algo: Algo,
    next: AtomicUsize,
    epoch: Instant,
}

#[derive(Debug)]
enum Algo {
    /// Indexes into `entries`, in smooth weighted round-robin order.
    RoundRobin(Vec<u32>),
    /// `slots` points; each holds an index into `entries` or `u32::MAX` (empty).
    Consistent(Vec<u32>),
    LeastConnections,
    Latency,
}

impl Ring {
    /// A ring over `entries` for `algorithm`; `slots` sizes the consistent-hashing continuum.
    pub fn new(mut entries: Vec<Entry>, algorithm: Algorithm, slots: u32, targets: usize) -> Ring {
        let algo = match algorithm {
            Algorithm::RoundRobin => Algo::RoundRobin(wheel(&entries)),
            Algorithm::ConsistentHashing => {
                // Kong sorts by target, then by address, so every node builds the same continuum.
                entries.sort_by(|a, b| (a.state.target, &a.key).cmp(&(b.state.target, &b.key)));
                Algo::Consistent(continuum(&entries, slots.max(10), targets))
            }
            Algorithm::LeastConnections => Algo::LeastConnections,
            Algorithm::Latency => Algo::Latency,
        };
        Ring {
            entries,
            algo,
            next: AtomicUsize::new(0),
            epoch: Instant::now(),
        }
    }

    /// Sum of the weights of the addresses that take traffic, and of all addresses.
    pub fn weights(&self) -> (u64, u64) {
        let mut available = 0;
        let mut total = 0;
        for e in &self.entries {
            total += u64::from(e.weight);
            if e.state.healthy() {
                available += u64::from(e.weight);
            }
        }
        (available, total)
    }

    /// The next address for a request: healthy, weight > 0, and not in `tried` unless every candidate has
    /// been tried. `hash` is the consistent-hashing input (ignored by the other algorithms).
    pub fn pick(&self, hash: &str, tried: &[SocketAddr]) -> Option<&Entry> {
        self.pick_where(hash, |e| usable(e) && !tried.contains(&e.state.addr))
            .or_else(|| self.pick_where(hash, usable))
    }

    fn pick_where(&self, hash: &str, ok: impl Fn(&Entry) -> bool) -> Option<&Entry> {
        let n = self.entries.len();
        if n == 0 {
            return None;
        }
        match &self.algo {
            Algo::RoundRobin(wheel) => {
                let len = wheel.len();
                if len == 0 {
                    return None;
                }
                let start = self.next.fetch_add(1, Ordering::Relaxed);
                (0..len)
                    .map(|i| &self.entries[wheel[(start + i) % len] as usize])
                    .find(|e| ok(e))
            }
            Algo::Consistent(points) => {
                let len = points.len();
                let start = hash_index(hash, len);
                (0..len)
                    .map(|i| points[(start + len - i) % len])
                    .filter(|&p| p != u32::MAX)
                    .map(|p| &self.entries[p as usize])
                    .find(|e| ok(e))
            }
            Algo::LeastConnections => self.lowest(ok, |e| {
                (e.state.in_flight.load(Ordering::Relaxed) + 1) as f64 / f64::from(e.weight)
            }),
            Algo::Latency => {
                let now = self.micros();
                self.lowest(ok, |e| decayed(&e.state, 0.0, now) / f64::from(e.weight))
            }
        }
    }

    /// The candidate with the lowest score; ties go round (so sequential requests spread).
    fn lowest(&self, ok: impl Fn(&Entry) -> bool, score: impl Fn(&Entry) -> f64) -> Option<&Entry> {
        let n = self.entries.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut best: Option<(&Entry, f64)> = None;
        for i in 0..n {
            let e = &self.entries[(start + i) % n];
            if !ok(e) {
                continue;
            }
            let s = score(e);
            if best.is_none_or(|(_, b)| s < b) {
                best = Some((e, s));
            }
        }
        best.map(|(e, _)| e)
    }

    /// Record one response time (latency algorithm).
    pub fn observe(&self, state: &AddrState, seconds: f64) {
        if !matches!(self.algo, Algo::Latency) {
            return;
        }
        let now = self.micros();
        let rtt = seconds * 1e6;
        let value = if f64::from_bits(state.ewma.load(Ordering::Relaxed)) == 0.0 {
            rtt
        } else {
            decayed(state, rtt, now)
        };
        state.ewma.store(value.to_bits(), Ordering::Relaxed);
        state.touched.store(now, Ordering::Relaxed);
    }

    fn micros(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Whether the algorithm counts in-flight requests.
    pub fn counts_connections(&self) -> bool {
        matches!(self.algo, Algo::LeastConnections)
    }
}

fn usable(e: &Entry) -> bool {
    e.weight > 0 && e.state.healthy()
}

/// Kong's `decay_ewma`: the EWMA moved towards `rtt` by the time since it was last touched.
fn decayed(state: &AddrState, rtt: f64, now: u64) -> f64 {
    let ewma = f64::from_bits(state.ewma.load(Ordering::Relaxed));
    let td = now.saturating_sub(state.touched.load(Ordering::Relaxed)) as f64 / 1e6;
    let w = (-td / DECAY_SECONDS).exp();
    ewma * w + rtt * (1.0 - w)
}

/// Kong's continuum index: xxhash32 of the value, modulo the number of points (0-based here).
fn hash_index(value: &str, points: usize) -> usize {
    (xxhash_rust::xxh32::xxh32(value.as_bytes(), 0) as usize) % points.max(1)
}

/// Smooth weighted round-robin (nginx's algorithm) unrolled into one period: weights 1:3 give
/// `B B A B`-like interleaving, never `A B B B` bursts.
fn wheel(entries: &[Entry]) -> Vec<u32> {
    let g = entries
        .iter()
        .map(|e| u64::from(e.weight))
        .filter(|&w| w > 0)
        .fold(0, gcd);
    if g == 0 {
        return Vec::new();
    }
    let mut weights: Vec<u64> = entries.iter().map(|e| u64::from(e.weight) / g).collect();
    let total: u64 = weights.iter().sum();
    if total > MAX_WHEEL {
        for w in weights.iter_mut().filter(|w| **w > 0) {
            *w = (*w * MAX_WHEEL / total).max(1);
        }
    }
    let total: i64 = weights.iter().map(|&w| w as i64).sum();
    let mut current = vec![0i64; weights.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0;
        for (i, w) in weights.iter().enumerate() {
            current[i] += *w as i64;
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        out.push(best as u32);
    }
    out
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Kong's continuum: each address gets `weight / total * targets * 160` points (at least 1) at the
/// xxhash32 of `"<ip>::<port> <i>"` (Kong's exact key), a taken point moving the address on to `i + 1`.
fn continuum(entries: &[Entry], points: u32, targets: usize) -> Vec<u32> {
    let len = points as usize;
    let mut out = vec![u32::MAX; len];
    let total: u64 = entries.iter().map(|e| u64::from(e.weight)).sum();
    if total == 0 {
        return out;
    }
    let mut used = 0usize;
    for (index, e) in entries.iter().enumerate() {
        if e.weight == 0 {
            continue;
        }
        let share = f64::from(e.weight) / total as f64;
        let mut wanted = ((share * targets as f64 * SERVER_POINTS).floor() as usize).max(1);
        let (ip, port) = (e.state.addr.ip(), e.state.addr.port());
        let mut i = 1usize;
        while i <= wanted && used < len {
            let point = hash_index(&format!("{ip}::{port} {i}"), len);
            if out[point] == u32::MAX {
                out[point] = index as u32;
                used += 1;
            } else {
                wanted += 1;
            }
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(weights: &[u32]) -> Vec<Entry> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                let addr: SocketAddr = format!("127.0.0.{}:80", i + 1).parse().unwrap();
                Entry {
                    state: Arc::new(AddrState::new(
                        addr,
                        i,
                        prometheus::IntGauge::new("g", "g").unwrap(),
                    )),
                    weight: w,
                    key: addr.to_string(),
                }
            })
            .collect()
    }

    fn spread(ring: &Ring, n: usize, hash: impl Fn(usize) -> String) -> Vec<usize> {
        let mut counts = vec![0; ring.entries.len()];
        for i in 0..n {
            let e = ring.pick(&hash(i), &[]).unwrap();
            counts[e.state.target] += 1;
        }
        counts
    }

    #[test]
    fn round_robin_is_weighted_and_smooth() {
        let ring = Ring::new(entries(&[25, 75]), Algorithm::RoundRobin, 0, 2);
        assert_eq!(spread(&ring, 400, |_| String::new()), vec![100, 300]);
        // Smooth: never three picks of the heavy one in a row... and never two of the light one.
        let seq: Vec<usize> = (0..8)
            .map(|_| ring.pick("", &[]).unwrap().state.target)
            .collect();
        assert!(!seq.windows(2).any(|w| w == [0, 0]), "{seq:?}");
        let ring = Ring::new(entries(&[1, 1, 0]), Algorithm::RoundRobin, 0, 3);
        assert_eq!(spread(&ring, 10, |_| String::new()), vec![5, 5, 0]);
    }

    #[test]
    fn unhealthy_and_tried_addresses_are_skipped() {
        let ring = Ring::new(entries(&[1, 1]), Algorithm::RoundRobin, 0, 2);
        ring.entries[0].state.set_healthy(false);
        assert_eq!(spread(&ring, 10, |_| String::new()), vec![0, 10]);
        ring.entries[0].state.set_healthy(true);
        let b = ring.entries[1].state.addr;
        for _ in 0..4 {
            assert_eq!(
                ring.pick("", &[b]).unwrap().state.addr,
                ring.entries[0].state.addr
            );
        }
        // Everything tried: any healthy address again, rather than no answer.
        let a = ring.entries[0].state.addr;
        assert!(ring.pick("", &[a, b]).is_some());
        ring.entries[0].state.set_healthy(false);
        ring.entries[1].state.set_healthy(false);
        assert!(ring.pick("", &[]).is_none());
        assert_eq!(ring.weights(), (0, 2));
    }

    #[test]
    fn consistent_hashing_is_sticky_and_uses_every_address() {
        let ring = Ring::new(
            entries(&[10, 10, 10]),
            Algorithm::ConsistentHashing,
            10000,
            3,
        );
        let counts = spread(&ring, 3000, |i| format!("user-{i}"));
        assert!(counts.iter().all(|&c| c > 600), "{counts:?}");
        let first = ring.pick("user-7", &[]).unwrap().state.addr;
        for _ in 0..10 {
            assert_eq!(ring.pick("user-7", &[]).unwrap().state.addr, first);
        }
        // A retry (or an unhealthy address) moves on to the next point's address.
        let next = ring.pick("user-7", &[first]).unwrap().state.addr;
        assert_ne!(next, first);
    }

    #[test]
    fn least_connections_prefers_idle_addresses() {
        let ring = Ring::new(entries(&[1, 1]), Algorithm::LeastConnections, 0, 2);
        ring.entries[0].state.in_flight.store(3, Ordering::Relaxed);
        assert_eq!(spread(&ring, 5, |_| String::new()), vec![0, 5]);
        ring.entries[0].state.in_flight.store(0, Ordering::Relaxed);
        assert_eq!(spread(&ring, 10, |_| String::new()), vec![5, 5]);
    }

    #[test]
    fn latency_prefers_the_faster_address() {
        let ring = Ring::new(entries(&[1, 1]), Algorithm::Latency, 0, 2);
        ring.observe(&ring.entries[0].state, 0.100);
        ring.observe(&ring.entries[1].state, 0.010);
        assert_eq!(spread(&ring, 5, |_| String::new()), vec![0, 5]);
    }

    #[test]
    fn wheels_stay_bounded() {
        assert!(wheel(&entries(&[65535, 65534, 1])).len() as u64 <= MAX_WHEEL + 3);
        assert!(wheel(&entries(&[0, 0])).is_empty());
    }
}

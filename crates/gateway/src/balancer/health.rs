//! Health of one balanced address, with Kong's (lua-resty-healthcheck's) semantics: counters of successes,
//! TCP failures, timeouts and HTTP failures; a threshold of 0 turns its counter off; a success resets the
//! failure counters and a failure resets the success counter; reaching a threshold flips the state and
//! clears the counters. Events that would confirm the current state are not counted.

use gateway_config::model::{Healthchecks, PassiveHealthcheck};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// What a probe or a proxied request said about an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// An HTTP status (classified by the check's status lists; a status in neither list is ignored).
    Status(u16),
    /// A connection could not be made or broke (TCP probe success is [`Event::Success`]).
    TcpFailure,
    /// A connect, read or write timed out.
    Timeout,
    /// A TCP probe connected.
    Success,
}

/// The thresholds and status lists of one kind of check (active or passive).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    /// Statuses counted as successes.
    pub healthy_statuses: Vec<u16>,
    /// Successes that make an unhealthy address healthy (0: never by this check).
    pub successes: u32,
    /// Statuses counted as HTTP failures.
    pub unhealthy_statuses: Vec<u16>,
    /// TCP failures that make a healthy address unhealthy (0: off).
    pub tcp_failures: u32,
    /// Timeouts that make a healthy address unhealthy (0: off).
    pub timeouts: u32,
    /// HTTP failures that make a healthy address unhealthy (0: off).
    pub http_failures: u32,
}

impl Limits {
    /// The active check's limits.
    pub fn active(h: &Healthchecks) -> Limits {
        let a = &h.active;
        Limits {
            healthy_statuses: a.healthy.http_statuses.clone(),
            successes: a.healthy.successes,
            unhealthy_statuses: a.unhealthy.http_statuses.clone(),
            tcp_failures: a.unhealthy.tcp_failures,
            timeouts: a.unhealthy.timeouts,
            http_failures: a.unhealthy.http_failures,
        }
    }

    /// The passive check's limits.
    pub fn passive(p: &PassiveHealthcheck) -> Limits {
        Limits {
            healthy_statuses: p.healthy.http_statuses.clone(),
            successes: p.healthy.successes,
            unhealthy_statuses: p.unhealthy.http_statuses.clone(),
            tcp_failures: p.unhealthy.tcp_failures,
            timeouts: p.unhealthy.timeouts,
            http_failures: p.unhealthy.http_failures,
        }
    }

    /// Whether any failure counter is on (Kong: passive checks are "in use" only then).
    pub fn counts_failures(&self) -> bool {
        self.tcp_failures > 0 || self.timeouts > 0 || self.http_failures > 0
    }
}

/// Where an address stands, as lua-resty-healthcheck keeps it: a healthy address that saw a failure is
/// "mostly healthy" (still takes traffic, and now counts successes), and the reverse.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Internal {
    #[default]
    Healthy,
    MostlyHealthy,
    MostlyUnhealthy,
    Unhealthy,
}

/// The counters of one address.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    internal: Internal,
    successes: u32,
    tcp_failures: u32,
    timeouts: u32,
    http_failures: u32,
}

impl Counters {
    /// Counters of an address that is (fully) `healthy` or not.
    pub fn new(healthy: bool) -> Counters {
        Counters {
            internal: if healthy {
                Internal::Healthy
            } else {
                Internal::Unhealthy
            },
            ..Counters::default()
        }
    }

    /// Whether the address takes traffic.
    pub fn available(&self) -> bool {
        matches!(self.internal, Internal::Healthy | Internal::MostlyHealthy)
    }

    /// Count `event`; `Some(available)` when whether the address takes traffic changed.
    pub fn record(&mut self, event: Event, limits: &Limits) -> Option<bool> {
        enum Kind {
            Success,
            Tcp,
            Timeout,
            Http,
        }
        let kind = match event {
            Event::Success => Kind::Success,
            Event::TcpFailure => Kind::Tcp,
            Event::Timeout => Kind::Timeout,
            Event::Status(s) if limits.healthy_statuses.contains(&s) => Kind::Success,
            Event::Status(s) if limits.unhealthy_statuses.contains(&s) => Kind::Http,
            Event::Status(_) => return None,
        };
        let before = self.available();
        let internal = self.internal;
        let (limit, counter, is_success) = match kind {
            Kind::Success => (limits.successes, &mut self.successes, true),
            Kind::Tcp => (limits.tcp_failures, &mut self.tcp_failures, false),
            Kind::Timeout => (limits.timeouts, &mut self.timeouts, false),
            Kind::Http => (limits.http_failures, &mut self.http_failures, false),
        };
        // A disabled counter, or an event that confirms a settled state, changes nothing.
        if limit == 0
            || (is_success && internal == Internal::Healthy)
            || (!is_success && internal == Internal::Unhealthy)
        {
            return None;
        }
        *counter += 1;
        let reached = *counter >= limit;
        if is_success {
            self.tcp_failures = 0;
            self.timeouts = 0;
            self.http_failures = 0;
        } else {
            self.successes = 0;
        }
        if reached {
            *self = Counters::new(is_success);
        } else if internal == Internal::Healthy {
            self.internal = Internal::MostlyHealthy;
        } else if internal == Internal::Unhealthy {
            self.internal = Internal::MostlyUnhealthy;
        }
        let after = self.available();
        (after != before).then_some(after)
    }
}

/// One address a balancer may send to: its health (read lock-free on every pick), counters (locked only
/// when a check counts an event), in-flight requests (least-connections) and response-time EWMA (latency).
#[derive(Debug)]
pub struct AddrState {
    /// The address.
    pub addr: SocketAddr,
    /// Index of the target (in the upstream's `targets`) this address belongs to.
    pub target: usize,
    healthy: AtomicBool,
    counters: Mutex<Counters>,
    /// Requests sent and not finished yet.
    pub in_flight: AtomicU64,
    /// EWMA of the response time in microseconds, as `f64` bits (0: no sample yet).
    pub ewma: AtomicU64,
    /// When `ewma` was last updated, in microseconds since the balancer was built.
    pub touched: AtomicU64,
    /// `gateway_upstream_target_health{upstream,target,address}`.
    pub gauge: prometheus::IntGauge,
}

impl AddrState {
    /// A healthy address (Kong adds targets healthy).
    pub fn new(addr: SocketAddr, target: usize, gauge: prometheus::IntGauge) -> AddrState {
        gauge.set(1);
        AddrState {
            addr,
            target,
            healthy: AtomicBool::new(true),
            counters: Mutex::new(Counters::default()),
            in_flight: AtomicU64::new(0),
            ewma: AtomicU64::new(0),
            touched: AtomicU64::new(0),
            gauge,
        }
    }

    /// Whether the address takes traffic.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Count `event` against `limits`; returns the new state when it flipped.
    pub fn record(&self, event: Event, limits: &Limits) -> Option<bool> {
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let flipped = counters.record(event, limits)?;
        self.set(flipped);
        Some(flipped)
    }

    /// Set the state by hand (Admin API) or on a flip: counters start again from zero.
    pub fn set_healthy(&self, healthy: bool) {
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        *counters = Counters::new(healthy);
        self.set(healthy);
    }

    fn set(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
        self.gauge.set(i64::from(healthy));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            healthy_statuses: vec![200],
            successes: 2,
            unhealthy_statuses: vec![500],
            tcp_failures: 2,
            timeouts: 1,
            http_failures: 3,
        }
    }

    #[test]
    fn failures_flip_after_their_threshold_and_successes_reset_them() {
        let l = limits();
        let mut c = Counters::new(true);
        assert_eq!(c.record(Event::TcpFailure, &l), None);
        assert!(c.available(), "mostly healthy still takes traffic");
        // Mostly healthy: a success is counted and resets the failure counters.
        assert_eq!(c.record(Event::Status(200), &l), None);
        assert_eq!(c.record(Event::TcpFailure, &l), None);
        assert_eq!(c.record(Event::TcpFailure, &l), Some(false));
        assert!(!c.available());
        let mut c = Counters::new(true);
        assert_eq!(c.record(Event::Timeout, &l), Some(false));
        let mut c = Counters::new(true);
        for _ in 0..2 {
            assert_eq!(c.record(Event::Status(500), &l), None);
        }
        assert_eq!(c.record(Event::Status(500), &l), Some(false));
        // Settled unhealthy: more failures are not counted.
        assert_eq!(c.record(Event::Status(500), &l), None);
    }

    #[test]
    fn unhealthy_needs_successes_and_ignores_unknown_statuses() {
        let l = limits();
        let mut c = Counters::new(false);
        assert_eq!(c.record(Event::Status(200), &l), None);
        assert_eq!(c.record(Event::Status(404), &l), None);
        // A failure resets the success counter.
        assert_eq!(c.record(Event::Status(500), &l), None);
        assert_eq!(c.record(Event::Status(200), &l), None);
        assert_eq!(c.record(Event::Success, &l), Some(true));
        assert_eq!(c, Counters::new(true));
    }

    #[test]
    fn zero_turns_a_counter_off() {
        let l = Limits::default();
        let mut c = Counters::new(true);
        for e in [Event::TcpFailure, Event::Timeout, Event::Status(500)] {
            assert_eq!(c.record(e, &l), None);
        }
        let mut c = Counters::new(false);
        assert_eq!(c.record(Event::Success, &l), None);
    }
}

//! Kong `upstreams` and their `targets`: the model types with Kong's defaults, target normalisation, and the
//! lookup a service uses to find the upstream its `host` names.
//!
//! Building from the file is in [`build`], the checks in [`check`]. Serialisation leaves out default values so
//! a rewritten file stays short; [`crate::load::to_yaml`] then [`crate::load::parse_str`] gives an equal value.

mod address;
pub(crate) mod build;
pub(crate) mod check;
#[cfg(test)]
mod tests;

use indexmap::IndexMap;
use serde::Serialize;
use uuid::Uuid;

use crate::model::Config;

pub use address::normalize_target;
pub(crate) use address::{parse_address, parse_target, Address};

/// Port Kong gives a target written without one.
pub const DEFAULT_TARGET_PORT: u16 = 8000;
/// Default `weight` of a target.
pub const DEFAULT_WEIGHT: u32 = 100;
/// Largest `weight`.
pub const MAX_WEIGHT: u32 = 65_535;
/// Default `slots` of an upstream.
pub const DEFAULT_SLOTS: u32 = 10_000;
/// Accepted `slots`.
pub const SLOTS_RANGE: std::ops::RangeInclusive<u32> = 10..=65_536;

/// A Kong upstream: a virtual hostname whose targets are balanced and health checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Upstream {
    /// Id; generated from the name when absent from the file.
    pub id: Uuid,
    /// A hostname (no IP, no port): what a service's `host` names.
    pub name: String,
    /// Load-balancing algorithm (default `round-robin`).
    #[serde(skip_serializing_if = "Algorithm::is_default")]
    pub algorithm: Algorithm,
    /// Hash input of `consistent-hashing` (default `none`).
    #[serde(skip_serializing_if = "HashOn::is_none")]
    pub hash_on: HashOn,
    /// Hash input when `hash_on` gives nothing (default `none`).
    #[serde(skip_serializing_if = "HashOn::is_none")]
    pub hash_fallback: HashOn,
    /// Header hashed when `hash_on: header`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_on_header: Option<String>,
    /// Header hashed when `hash_fallback: header`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_fallback_header: Option<String>,
    /// Cookie hashed when hashing on `cookie`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_on_cookie: Option<String>,
    /// Path of the cookie the gateway sets (default `/`).
    #[serde(skip_serializing_if = "is_root")]
    pub hash_on_cookie_path: String,
    /// Query argument hashed when `hash_on: query_arg`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_on_query_arg: Option<String>,
    /// Query argument hashed when `hash_fallback: query_arg`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_fallback_query_arg: Option<String>,
    /// URI capture hashed when `hash_on: uri_capture`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_on_uri_capture: Option<String>,
    /// URI capture hashed when `hash_fallback: uri_capture`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_fallback_uri_capture: Option<String>,
    /// Slots of the consistent-hashing ring (default 10000, 10..=65536).
    #[serde(skip_serializing_if = "is_default_slots")]
    pub slots: u32,
    /// Active and passive health checks (default: all off).
    #[serde(skip_serializing_if = "Healthchecks::is_default")]
    pub healthchecks: Healthchecks,
    /// Host header sent to the targets (default: the target's host, or the service's per `preserve_host`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_header: Option<String>,
    /// Use the SRV record's name (not the target's) as Host/SNI (default false).
    #[serde(skip_serializing_if = "is_false")]
    pub use_srv_name: bool,
    /// Free-form tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Unix seconds, kept when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    /// Unix seconds, kept when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    /// The targets, nested as decK writes them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<Target>,
}

impl Upstream {
    /// An upstream with Kong's defaults and no targets.
    pub fn new(id: Uuid, name: impl Into<String>) -> Self {
        Upstream {
            id,
            name: name.into(),
            algorithm: Algorithm::RoundRobin,
            hash_on: HashOn::None,
            hash_fallback: HashOn::None,
            hash_on_header: None,
            hash_fallback_header: None,
            hash_on_cookie: None,
            hash_on_cookie_path: "/".to_string(),
            hash_on_query_arg: None,
            hash_fallback_query_arg: None,
            hash_on_uri_capture: None,
            hash_fallback_uri_capture: None,
            slots: DEFAULT_SLOTS,
            healthchecks: Healthchecks::default(),
            host_header: None,
            use_srv_name: false,
            tags: Vec::new(),
            created_at: None,
            updated_at: None,
            targets: Vec::new(),
        }
    }
}

/// Load-balancing algorithm of an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    /// `round-robin` (weighted).
    #[default]
    RoundRobin,
    /// `consistent-hashing` on `hash_on`.
    ConsistentHashing,
    /// `least-connections`.
    LeastConnections,
    /// `latency` (lowest EWMA response time).
    Latency,
}

impl Algorithm {
    /// Kong's list, in the order of its error message.
    pub const ALL: [Algorithm; 4] = [
        Algorithm::ConsistentHashing,
        Algorithm::LeastConnections,
        Algorithm::RoundRobin,
        Algorithm::Latency,
    ];

    /// The name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RoundRobin => "round-robin",
            Algorithm::ConsistentHashing => "consistent-hashing",
            Algorithm::LeastConnections => "least-connections",
            Algorithm::Latency => "latency",
        }
    }

    /// Parses a name; the error is Kong's `expected one of: ...`.
    pub fn parse(value: &str) -> Result<Algorithm, String> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == value)
            .ok_or_else(|| one_of(Self::ALL.iter().map(|a| a.as_str())))
    }

    fn is_default(&self) -> bool {
        *self == Algorithm::RoundRobin
    }
}

/// What `consistent-hashing` hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HashOn {
    /// `none`: no hashing.
    #[default]
    None,
    /// `consumer`: the authenticated consumer.
    Consumer,
    /// `ip`: the client address.
    Ip,
    /// `header`: a request header.
    Header,
    /// `cookie`: a cookie (set by the gateway when absent).
    Cookie,
    /// `path`: the request path.
    Path,
    /// `query_arg`: a query argument.
    QueryArg,
    /// `uri_capture`: a named capture of the route's regex path.
    UriCapture,
}

impl HashOn {
    /// Every value, in Kong's order.
    pub const ALL: [HashOn; 8] = [
        HashOn::None,
        HashOn::Consumer,
        HashOn::Ip,
        HashOn::Header,
        HashOn::Cookie,
        HashOn::Path,
        HashOn::QueryArg,
        HashOn::UriCapture,
    ];

    /// The name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            HashOn::None => "none",
            HashOn::Consumer => "consumer",
            HashOn::Ip => "ip",
            HashOn::Header => "header",
            HashOn::Cookie => "cookie",
            HashOn::Path => "path",
            HashOn::QueryArg => "query_arg",
            HashOn::UriCapture => "uri_capture",
        }
    }

    /// Parses a name; the error is Kong's `expected one of: ...`.
    pub fn parse(value: &str) -> Result<HashOn, String> {
        Self::ALL
            .into_iter()
            .find(|h| h.as_str() == value)
            .ok_or_else(|| one_of(Self::ALL.iter().map(|h| h.as_str())))
    }

    /// True for `none`.
    pub fn is_none(&self) -> bool {
        *self == HashOn::None
    }
}

/// Protocol of a health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckType {
    /// `tcp`: connect only.
    Tcp,
    /// `http` (default).
    #[default]
    Http,
    /// `https`.
    Https,
    /// `grpc`.
    Grpc,
    /// `grpcs`.
    Grpcs,
}

impl CheckType {
    /// Every value, in Kong's order.
    pub const ALL: [CheckType; 5] = [
        CheckType::Tcp,
        CheckType::Http,
        CheckType::Https,
        CheckType::Grpc,
        CheckType::Grpcs,
    ];

    /// The name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckType::Tcp => "tcp",
            CheckType::Http => "http",
            CheckType::Https => "https",
            CheckType::Grpc => "grpc",
            CheckType::Grpcs => "grpcs",
        }
    }

    /// Parses a name; the error is Kong's `expected one of: ...`.
    pub fn parse(value: &str) -> Result<CheckType, String> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == value)
            .ok_or_else(|| one_of(Self::ALL.iter().map(|c| c.as_str())))
    }
}

fn one_of<'a>(names: impl Iterator<Item = &'a str>) -> String {
    format!("expected one of: {}", names.collect::<Vec<_>>().join(", "))
}

/// A target of an upstream: an address (IP or hostname, resolved by the balancer) and a weight.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    /// Id; generated from the upstream id and `target` when absent from the file.
    pub id: Uuid,
    /// Normalised `host:port` (port 8000 when not given, IPv6 as `[::1]:8000`).
    pub target: String,
    /// Weight (default 100, 0..=65535; 0 disables the target).
    #[serde(skip_serializing_if = "is_default_weight")]
    pub weight: u32,
    /// Free-form tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Unix seconds with millisecond precision, kept when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<f64>,
    /// Unix seconds with millisecond precision, kept when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<f64>,
}

impl Target {
    /// A target with the default weight; `target` is kept as given (see [`normalize_target`]).
    pub fn new(id: Uuid, target: impl Into<String>) -> Self {
        Target {
            id,
            target: target.into(),
            weight: DEFAULT_WEIGHT,
            tags: Vec::new(),
            created_at: None,
            updated_at: None,
        }
    }

    /// The host part of `target` (without brackets for IPv6) and the port.
    pub fn host_port(&self) -> Option<(String, u16)> {
        parse_target(&self.target).ok()
    }
}

/// Health checks of an upstream (Kong `healthchecks`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Healthchecks {
    /// Probes sent by the gateway.
    pub active: ActiveHealthcheck,
    /// Observation of proxied traffic (circuit breaker).
    pub passive: PassiveHealthcheck,
    /// Percentage of healthy weight below which the upstream is unhealthy (default 0, 0..=100).
    pub threshold: f64,
}

impl Healthchecks {
    /// True when every field has Kong's default (then it is not written to the file).
    pub fn is_default(&self) -> bool {
        *self == Healthchecks::default()
    }
}

/// Active health checks (probes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActiveHealthcheck {
    /// Probe protocol (default `http`).
    pub r#type: CheckType,
    /// Probe timeout in seconds (default 1).
    pub timeout: f64,
    /// Probes run at once (default 10).
    pub concurrency: u32,
    /// Path probed (default `/`).
    pub http_path: String,
    /// SNI of `https` probes (default: the target's host).
    pub https_sni: Option<String>,
    /// Verify the target's certificate on `https` probes (default true).
    pub https_verify_certificate: bool,
    /// Extra headers sent with each probe.
    pub headers: Option<IndexMap<String, Vec<String>>>,
    /// When a target becomes healthy.
    pub healthy: ActiveHealthy,
    /// When a target becomes unhealthy.
    pub unhealthy: ActiveUnhealthy,
}

impl Default for ActiveHealthcheck {
    fn default() -> Self {
        ActiveHealthcheck {
            r#type: CheckType::Http,
            timeout: 1.0,
            concurrency: 10,
            http_path: "/".to_string(),
            https_sni: None,
            https_verify_certificate: true,
            headers: None,
            healthy: ActiveHealthy::default(),
            unhealthy: ActiveUnhealthy::default(),
        }
    }
}

/// Active checks: the healthy side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActiveHealthy {
    /// Seconds between probes of a healthy target (default 0: not probed).
    pub interval: f64,
    /// Statuses counted as successes (default `[200, 302]`).
    pub http_statuses: Vec<u16>,
    /// Successes that make a target healthy (default 0: never).
    pub successes: u32,
}

impl Default for ActiveHealthy {
    fn default() -> Self {
        ActiveHealthy {
            interval: 0.0,
            http_statuses: vec![200, 302],
            successes: 0,
        }
    }
}

/// Active checks: the unhealthy side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActiveUnhealthy {
    /// Seconds between probes of an unhealthy target (default 0: not probed).
    pub interval: f64,
    /// Statuses counted as failures (default `[429, 404, 500, 501, 502, 503, 504, 505]`).
    pub http_statuses: Vec<u16>,
    /// TCP failures that make a target unhealthy (default 0: never).
    pub tcp_failures: u32,
    /// Timeouts that make a target unhealthy (default 0: never).
    pub timeouts: u32,
    /// HTTP failures that make a target unhealthy (default 0: never).
    pub http_failures: u32,
}

impl Default for ActiveUnhealthy {
    fn default() -> Self {
        ActiveUnhealthy {
            interval: 0.0,
            http_statuses: vec![429, 404, 500, 501, 502, 503, 504, 505],
            tcp_failures: 0,
            timeouts: 0,
            http_failures: 0,
        }
    }
}

/// Passive health checks (observed traffic).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct PassiveHealthcheck {
    /// Protocol of the traffic observed (default `http`).
    pub r#type: CheckType,
    /// When a target becomes healthy again.
    pub healthy: PassiveHealthy,
    /// When a target becomes unhealthy.
    pub unhealthy: PassiveUnhealthy,
}

/// Passive checks: the healthy side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PassiveHealthy {
    /// Statuses counted as successes (default 200–208, 226, 300–308).
    pub http_statuses: Vec<u16>,
    /// Successes that make a target healthy (default 0: never).
    pub successes: u32,
}

impl Default for PassiveHealthy {
    fn default() -> Self {
        PassiveHealthy {
            http_statuses: vec![
                200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305,
                306, 307, 308,
            ],
            successes: 0,
        }
    }
}

/// Passive checks: the unhealthy side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PassiveUnhealthy {
    /// Statuses counted as failures (default `[429, 500, 503]`).
    pub http_statuses: Vec<u16>,
    /// TCP failures that make a target unhealthy (default 0: never).
    pub tcp_failures: u32,
    /// Timeouts that make a target unhealthy (default 0: never).
    pub timeouts: u32,
    /// HTTP failures that make a target unhealthy (default 0: never).
    pub http_failures: u32,
}

impl Default for PassiveUnhealthy {
    fn default() -> Self {
        PassiveUnhealthy {
            http_statuses: vec![429, 500, 503],
            tcp_failures: 0,
            timeouts: 0,
            http_failures: 0,
        }
    }
}

impl Config {
    /// The index of the upstream named `host` (case-insensitive; a trailing dot is ignored): a service whose
    /// host names an upstream is balanced over its targets.
    pub fn upstream_named(&self, host: &str) -> Option<usize> {
        let host = host.strip_suffix('.').unwrap_or(host);
        self.upstreams.iter().position(|u| {
            let name = u.name.strip_suffix('.').unwrap_or(&u.name);
            name.eq_ignore_ascii_case(host)
        })
    }
}

fn is_root(v: &str) -> bool {
    v == "/"
}
fn is_default_slots(v: &u32) -> bool {
    *v == DEFAULT_SLOTS
}
fn is_default_weight(v: &u32) -> bool {
    *v == DEFAULT_WEIGHT
}
fn is_false(v: &bool) -> bool {
    !*v
}

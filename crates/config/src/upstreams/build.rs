//! Upstreams and targets as written ([`crate::raw`]) to the model: defaults, Kong's `algorithm`/`hash_on`
//! shorthands, target normalisation, ids, top-level `targets:` moved under their upstream.

use uuid::Uuid;

use super::{
    normalize_target, ActiveHealthcheck, Algorithm, CheckType, HashOn, Healthchecks,
    PassiveHealthcheck, Target, Upstream, DEFAULT_SLOTS, DEFAULT_WEIGHT,
};
use crate::checks::REQUIRED;
use crate::error::Collector;
use crate::ids;
use crate::model::EntityRef;
use crate::raw::{RawActive, RawCounters, RawHealthchecks, RawPassive, RawTarget, RawUpstream};

/// Message for `slots` out of range (Kong's words).
pub const SLOTS_RANGE_MSG: &str = "value should be between 10 and 65536";
/// Message for `weight` out of range (Kong's words).
pub const WEIGHT_RANGE_MSG: &str = "value should be between 0 and 65535";

/// Builds every upstream, then attaches the top-level `targets` to the upstream each names.
pub(crate) fn build(
    raw: Vec<RawUpstream>,
    top_targets: Vec<RawTarget>,
    errors: &mut Collector,
) -> Vec<Upstream> {
    let mut upstreams: Vec<Upstream> = raw
        .into_iter()
        .enumerate()
        .map(|(i, ru)| build_upstream(ru, i, errors))
        .collect();
    for (i, rt) in top_targets.into_iter().enumerate() {
        let path = format!("targets[{i}]");
        let Some(reference) = rt.upstream.clone() else {
            errors.push(
                format!("{path}.upstream"),
                format!("{REQUIRED} (a top-level target must name its upstream)"),
            );
            continue;
        };
        let found = upstreams.iter().position(|u| match &reference {
            EntityRef::Key(key) => match Uuid::parse_str(key) {
                Ok(id) => id == u.id,
                Err(_) => u.name == *key,
            },
            EntityRef::Id(id) => *id == u.id,
            EntityRef::Name(name) => u.name == *name,
        });
        match found {
            Some(u) => {
                let parent = upstreams[u].id;
                let target = build_target(rt, &path, parent, false, errors);
                upstreams[u].targets.push(target);
            }
            None => errors.push(
                format!("{path}.upstream"),
                format!("no upstream with {}", reference.describe()),
            ),
        }
    }
    upstreams
}

fn build_upstream(ru: RawUpstream, i: usize, errors: &mut Collector) -> Upstream {
    let path = format!("upstreams[{i}]");
    let name = ru.name.unwrap_or_default();
    let id = parse_id(ru.id.as_deref(), &path, errors).unwrap_or_else(|| ids::upstream_id(&name));
    let mut u = Upstream::new(id, name);
    if let Some(a) = ru.algorithm.as_deref() {
        match Algorithm::parse(a) {
            Ok(a) => u.algorithm = a,
            Err(m) => errors.push(format!("{path}.algorithm"), m),
        }
    }
    let mut hash = |field: &str, value: Option<&str>| match value.map(HashOn::parse) {
        None => None,
        Some(Ok(h)) => Some(h),
        Some(Err(m)) => {
            errors.push(format!("{path}.{field}"), m);
            None
        }
    };
    let hash_on = hash("hash_on", ru.hash_on.as_deref());
    u.hash_fallback = hash("hash_fallback", ru.hash_fallback.as_deref()).unwrap_or_default();
    // Kong's shorthands: least-connections and latency clear hash_on; a given hash_on then sets the
    // algorithm (`none` → round-robin, anything else → consistent-hashing).
    let cleared = ru.algorithm.is_some()
        && matches!(
            u.algorithm,
            Algorithm::LeastConnections | Algorithm::Latency
        );
    if !cleared {
        if let Some(h) = hash_on {
            u.hash_on = h;
            u.algorithm = if h.is_none() {
                Algorithm::RoundRobin
            } else {
                Algorithm::ConsistentHashing
            };
        }
    }
    u.hash_on_header = ru.hash_on_header;
    u.hash_fallback_header = ru.hash_fallback_header;
    u.hash_on_cookie = ru.hash_on_cookie;
    if let Some(p) = ru.hash_on_cookie_path {
        u.hash_on_cookie_path = p;
    }
    u.hash_on_query_arg = ru.hash_on_query_arg;
    u.hash_fallback_query_arg = ru.hash_fallback_query_arg;
    u.hash_on_uri_capture = ru.hash_on_uri_capture;
    u.hash_fallback_uri_capture = ru.hash_fallback_uri_capture;
    u.slots = match ru.slots {
        None => DEFAULT_SLOTS,
        Some(n) => u32::try_from(n).unwrap_or_else(|_| {
            errors.push(format!("{path}.slots"), SLOTS_RANGE_MSG);
            DEFAULT_SLOTS
        }),
    };
    if let Some(h) = ru.healthchecks {
        u.healthchecks = healthchecks(h, &format!("{path}.healthchecks"), errors);
    }
    u.host_header = ru.host_header;
    if ru.client_certificate.is_some_and(|c| !c.is_null()) {
        errors.push(
            format!("{path}.client_certificate"),
            "client certificates are not supported yet",
        );
    }
    u.use_srv_name = ru.use_srv_name.unwrap_or(false);
    if u.use_srv_name {
        errors.push(
            format!("{path}.use_srv_name"),
            "use_srv_name is not supported yet",
        );
    }
    u.tags = ru.tags.unwrap_or_default();
    u.created_at = ru.created_at;
    u.updated_at = ru.updated_at;
    u.targets = (ru.targets.unwrap_or_default().into_iter().enumerate())
        .map(|(j, rt)| build_target(rt, &format!("{path}.targets[{j}]"), id, true, errors))
        .collect();
    u
}

fn build_target(
    rt: RawTarget,
    path: &str,
    upstream: Uuid,
    nested: bool,
    errors: &mut Collector,
) -> Target {
    if nested && rt.upstream.is_some() {
        errors.push(
            format!("{path}.upstream"),
            "must not be set on a nested target (it belongs to its parent upstream)",
        );
    }
    let text = match rt.target {
        // An invalid target is kept as written; the checks report it.
        Some(t) => normalize_target(&t).unwrap_or(t),
        // Reported by the checks (`required field missing`).
        None => String::new(),
    };
    let id =
        parse_id(rt.id.as_deref(), path, errors).unwrap_or_else(|| ids::target_id(upstream, &text));
    let mut t = Target::new(id, text);
    t.weight = match rt.weight {
        None => DEFAULT_WEIGHT,
        Some(n) => u32::try_from(n).unwrap_or_else(|_| {
            errors.push(format!("{path}.weight"), WEIGHT_RANGE_MSG);
            DEFAULT_WEIGHT
        }),
    };
    t.tags = rt.tags.unwrap_or_default();
    t.created_at = rt.created_at;
    t.updated_at = rt.updated_at;
    t
}

pub(crate) fn parse_id(id: Option<&str>, path: &str, errors: &mut Collector) -> Option<Uuid> {
    let text = id?;
    match Uuid::parse_str(text) {
        Ok(uuid) => Some(uuid),
        Err(_) => {
            errors.push(format!("{path}.id"), format!("invalid UUID {text:?}"));
            None
        }
    }
}

fn check_type(value: Option<String>, path: &str, errors: &mut Collector) -> CheckType {
    match value.as_deref().map(CheckType::parse) {
        None => CheckType::Http,
        Some(Ok(t)) => t,
        Some(Err(m)) => {
            errors.push(format!("{path}.type"), m);
            CheckType::Http
        }
    }
}

fn healthchecks(h: RawHealthchecks, path: &str, errors: &mut Collector) -> Healthchecks {
    let mut out = Healthchecks::default();
    if let Some(a) = h.active {
        out.active = active(a, &format!("{path}.active"), errors);
    }
    if let Some(p) = h.passive {
        out.passive = passive(p, &format!("{path}.passive"), errors);
    }
    if let Some(t) = h.threshold {
        out.threshold = t;
    }
    out
}

fn active(a: RawActive, path: &str, errors: &mut Collector) -> ActiveHealthcheck {
    let mut out = ActiveHealthcheck {
        r#type: check_type(a.kind, path, errors),
        ..ActiveHealthcheck::default()
    };
    if let Some(t) = a.timeout {
        out.timeout = t;
    }
    if let Some(c) = a.concurrency {
        out.concurrency = counter(c, &format!("{path}.concurrency"), CONCURRENCY, errors);
    }
    if let Some(p) = a.http_path {
        out.http_path = p;
    }
    out.https_sni = a.https_sni;
    if let Some(v) = a.https_verify_certificate {
        out.https_verify_certificate = v;
    }
    out.headers = a.headers;
    if let Some(c) = a.healthy {
        let at = format!("{path}.healthy");
        let c = Counters::read(c, &at, &["interval", "http_statuses", "successes"], errors);
        let h = &mut out.healthy;
        c.set_f64(&mut h.interval, c.interval);
        c.set_statuses(&mut h.http_statuses);
        c.set(&mut h.successes, c.successes);
    }
    if let Some(c) = a.unhealthy {
        let at = format!("{path}.unhealthy");
        let keys = [
            "interval",
            "http_statuses",
            "tcp_failures",
            "timeouts",
            "http_failures",
        ];
        let c = Counters::read(c, &at, &keys, errors);
        let u = &mut out.unhealthy;
        c.set_f64(&mut u.interval, c.interval);
        c.set_statuses(&mut u.http_statuses);
        c.set(&mut u.tcp_failures, c.tcp_failures);
        c.set(&mut u.timeouts, c.timeouts);
        c.set(&mut u.http_failures, c.http_failures);
    }
    out
}

fn passive(p: RawPassive, path: &str, errors: &mut Collector) -> PassiveHealthcheck {
    let mut out = PassiveHealthcheck {
        r#type: check_type(p.kind, path, errors),
        ..PassiveHealthcheck::default()
    };
    if let Some(c) = p.healthy {
        let at = format!("{path}.healthy");
        let c = Counters::read(c, &at, &["http_statuses", "successes"], errors);
        c.set_statuses(&mut out.healthy.http_statuses);
        c.set(&mut out.healthy.successes, c.successes);
    }
    if let Some(c) = p.unhealthy {
        let at = format!("{path}.unhealthy");
        let keys = ["http_statuses", "tcp_failures", "timeouts", "http_failures"];
        let c = Counters::read(c, &at, &keys, errors);
        let u = &mut out.unhealthy;
        c.set_statuses(&mut u.http_statuses);
        c.set(&mut u.tcp_failures, c.tcp_failures);
        c.set(&mut u.timeouts, c.timeouts);
        c.set(&mut u.http_failures, c.http_failures);
    }
    out
}

/// Range of `concurrency` (Kong: 1..=2^31).
pub const CONCURRENCY: (i64, i64) = (1, 1 << 31);
/// Range of the success and failure counters (Kong: one byte).
pub const ONE_BYTE: (i64, i64) = (0, 255);
/// Range of an HTTP status in `http_statuses`.
pub const STATUS: (i64, i64) = (100, 999);

/// Kong's range message.
pub fn between(range: (i64, i64)) -> String {
    format!("value should be between {} and {}", range.0, range.1)
}

fn counter(value: i64, path: &str, range: (i64, i64), errors: &mut Collector) -> u32 {
    if (range.0..=range.1).contains(&value) {
        u32::try_from(value).unwrap_or(u32::MAX)
    } else {
        errors.push(path, between(range));
        u32::try_from(range.0).unwrap_or(0)
    }
}

/// A `healthy`/`unhealthy` record after its keys were checked and its integers converted.
struct Counters {
    interval: Option<f64>,
    http_statuses: Option<Vec<u16>>,
    successes: Option<u32>,
    tcp_failures: Option<u32>,
    timeouts: Option<u32>,
    http_failures: Option<u32>,
}

impl Counters {
    fn read(c: RawCounters, path: &str, allowed: &[&str], errors: &mut Collector) -> Counters {
        let present = [
            ("interval", c.interval.is_some()),
            ("http_statuses", c.http_statuses.is_some()),
            ("successes", c.successes.is_some()),
            ("tcp_failures", c.tcp_failures.is_some()),
            ("timeouts", c.timeouts.is_some()),
            ("http_failures", c.http_failures.is_some()),
        ];
        for (key, set) in present {
            if set && !allowed.contains(&key) {
                errors.push(format!("{path}.{key}"), "unknown field");
            }
        }
        let mut count = |key: &str, v: Option<i64>| {
            v.map(|n| counter(n, &format!("{path}.{key}"), ONE_BYTE, errors))
        };
        let successes = count("successes", c.successes);
        let tcp_failures = count("tcp_failures", c.tcp_failures);
        let timeouts = count("timeouts", c.timeouts);
        let http_failures = count("http_failures", c.http_failures);
        let http_statuses = c.http_statuses.map(|list| {
            list.iter()
                .enumerate()
                .map(|(k, &s)| {
                    let at = format!("{path}.http_statuses[{k}]");
                    u16::try_from(counter(s, &at, STATUS, errors)).unwrap_or(100)
                })
                .collect()
        });
        Counters {
            interval: c.interval,
            http_statuses,
            successes,
            tcp_failures,
            timeouts,
            http_failures,
        }
    }

    fn set(&self, slot: &mut u32, value: Option<u32>) {
        if let Some(v) = value {
            *slot = v;
        }
    }

    fn set_f64(&self, slot: &mut f64, value: Option<f64>) {
        if let Some(v) = value {
            *slot = v;
        }
    }

    fn set_statuses(&self, slot: &mut Vec<u16>) {
        if let Some(v) = &self.http_statuses {
            slot.clone_from(v);
        }
    }
}

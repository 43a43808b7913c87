//! Checks of upstreams and targets with Kong's messages: the name (a hostname, no IP, no port), field
//! formats and ranges, the entity checks of Kong's `upstreams.lua`, unique names, ids and targets.

use super::build::{between, CONCURRENCY, ONE_BYTE, SLOTS_RANGE_MSG, STATUS, WEIGHT_RANGE_MSG};
use super::{
    normalize_target, parse_address, Address, CheckType, HashOn, Healthchecks, Upstream, MAX_WEIGHT,
};
use crate::checks::{self, REQUIRED};
use crate::error::Collector;
use crate::fast::FastMap;
use crate::model::Config;

/// Checks every upstream of `config`, recording problems under `upstreams[i]`.
pub(crate) fn check(config: &Config, errors: &mut Collector) {
    let mut names: FastMap<String, String> = FastMap::default();
    let mut ids: FastMap<uuid::Uuid, String> = FastMap::default();
    for (i, u) in config.upstreams.iter().enumerate() {
        let path = format!("upstreams[{i}]");
        if u.name.is_empty() {
            errors.push(format!("{path}.name"), REQUIRED);
        } else if let Err(m) = upstream_name(&u.name) {
            errors.push(format!("{path}.name"), m);
        } else {
            let key = u.name.trim_end_matches('.').to_ascii_lowercase();
            if let Some(first) = names.get(&key) {
                errors.push(
                    format!("{path}.name"),
                    format!("duplicate name {:?} (also {first})", u.name),
                );
            } else {
                names.insert(key, path.clone());
            }
        }
        if let Some(first) = ids.get(&u.id) {
            errors.push(
                format!("{path}.id"),
                format!("duplicate id \"{}\" (also {first})", u.id),
            );
        } else {
            ids.insert(u.id, path.clone());
        }
        upstream(u, &path, errors);
        let mut targets: FastMap<&str, String> = FastMap::default();
        for (j, t) in u.targets.iter().enumerate() {
            let at = format!("{path}.targets[{j}]");
            let mut duplicate = false;
            if t.target.is_empty() {
                errors.push(format!("{at}.target"), REQUIRED);
            } else {
                match normalize_target(&t.target) {
                    Err(m) => errors.push(format!("{at}.target"), m),
                    Ok(n) if n != t.target => errors.push(
                        format!("{at}.target"),
                        format!("not normalised: write {n:?}"),
                    ),
                    Ok(_) => {}
                }
                if let Some(first) = targets.get(t.target.as_str()) {
                    duplicate = true;
                    errors.push(
                        format!("{at}.target"),
                        format!("duplicate target {:?} (also {first})", t.target),
                    );
                } else {
                    targets.insert(&t.target, at.clone());
                }
            }
            if t.weight > MAX_WEIGHT {
                errors.push(format!("{at}.weight"), WEIGHT_RANGE_MSG);
            }
            tags(&t.tags, &at, errors);
            // A duplicate target also has a duplicate generated id: report it once, on the target.
            if duplicate {
                continue;
            }
            if let Some(first) = ids.get(&t.id) {
                errors.push(
                    format!("{at}.id"),
                    format!("duplicate id \"{}\" (also {first})", t.id),
                );
            } else {
                ids.insert(t.id, at);
            }
        }
    }
}

/// Kong's upstream name check: a hostname, without IP addresses and without a port.
pub fn upstream_name(name: &str) -> Result<(), String> {
    let prefix = format!("Invalid name ('{name}')");
    match parse_address(name) {
        None => Err(format!("{prefix}; must be a valid hostname")),
        Some(Address::V4(..) | Address::V6(..)) => {
            Err(format!("{prefix}; no ip addresses allowed"))
        }
        Some(Address::Name(_, Some(_))) => Err(format!("{prefix}; no port allowed")),
        Some(Address::Name(_, None)) => Ok(()),
    }
}

fn tags(tags: &[String], path: &str, errors: &mut Collector) {
    for (k, tag) in tags.iter().enumerate() {
        if let Err(m) = checks::tag(tag) {
            errors.push(format!("{path}.tags[{k}]"), m);
        }
    }
}

/// Kong's header-name check of `hash_on_header`/`hash_fallback_header`.
fn header_name(value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then_some(()).ok_or_else(|| {
        format!("bad header name '{value}', allowed characters are A-Z, a-z, 0-9, '_', and '-'")
    })
}

/// Kong's cookie-name check (an RFC 2616 token).
fn cookie_name(value: &str) -> Result<(), String> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    (!value.is_empty() && value.bytes().all(token))
        .then_some(())
        .ok_or_else(|| {
            format!("bad cookie name '{value}', allowed characters are A-Z, a-z, 0-9, '_', and '-'")
        })
}

/// Kong's `typedefs.path`: starts with `/`, no empty segment, RFC 3986 characters, valid percent-encoding.
pub(crate) fn kong_path(value: &str) -> Result<(), String> {
    if !value.starts_with('/') {
        return Err("should start with: /".into());
    }
    if value.contains("//") {
        return Err("must not have empty segments".into());
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"._-~/%:@!$&'()*+,;=".contains(&b);
    if !value.bytes().all(allowed) {
        return Err(format!(
            "invalid path: '{value}' (characters outside of the reserved list of RFC 3986 found)"
        ));
    }
    let bytes = value.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let hex = |k: usize| bytes.get(k).is_some_and(u8::is_ascii_hexdigit);
        if b == b'%' && !(hex(i + 1) && hex(i + 2)) {
            let end = (i + 3).min(value.len());
            return Err(format!(
                "invalid url-encoded value: '{}'",
                value.get(i..end).unwrap_or("%")
            ));
        }
    }
    Ok(())
}

fn upstream(u: &Upstream, path: &str, errors: &mut Collector) {
    let mut field = |name: &str, r: Result<(), String>| {
        if let Err(m) = r {
            errors.push(format!("{path}.{name}"), m);
        }
    };
    for (name, value) in [
        ("hash_on_header", &u.hash_on_header),
        ("hash_fallback_header", &u.hash_fallback_header),
    ] {
        if let Some(v) = value {
            field(name, header_name(v));
        }
    }
    if let Some(v) = &u.hash_on_cookie {
        field("hash_on_cookie", cookie_name(v));
    }
    field("hash_on_cookie_path", kong_path(&u.hash_on_cookie_path));
    for (name, value) in [
        ("hash_on_query_arg", &u.hash_on_query_arg),
        ("hash_fallback_query_arg", &u.hash_fallback_query_arg),
        ("hash_on_uri_capture", &u.hash_on_uri_capture),
        ("hash_fallback_uri_capture", &u.hash_fallback_uri_capture),
    ] {
        if value.as_deref() == Some("") {
            field(name, Err("length must be at least 1".into()));
        }
    }
    if !super::SLOTS_RANGE.contains(&u.slots) {
        field("slots", Err(SLOTS_RANGE_MSG.into()));
    }
    if let Some(h) = &u.host_header {
        if parse_address(h).is_none() {
            field("host_header", Err(format!("invalid value: {h}")));
        }
    }
    healthchecks(&u.healthchecks, &format!("{path}.healthchecks"), errors);
    tags(&u.tags, path, errors);
    entity_checks(u, path, errors);
}

/// The `entity_checks` of Kong's `upstreams.lua`.
fn entity_checks(u: &Upstream, path: &str, errors: &mut Collector) {
    let mut fail = |given: &str, field: &str, message: String| {
        errors.push(
            path,
            format!("failed conditional validation given value of field '{given}'"),
        );
        errors.push(format!("{path}.{field}"), message);
    };
    let required = [
        (
            HashOn::Header,
            "hash_on_header",
            &u.hash_on_header,
            "hash_fallback_header",
            &u.hash_fallback_header,
        ),
        (
            HashOn::Cookie,
            "hash_on_cookie",
            &u.hash_on_cookie,
            "hash_on_cookie",
            &u.hash_on_cookie,
        ),
        (
            HashOn::QueryArg,
            "hash_on_query_arg",
            &u.hash_on_query_arg,
            "hash_fallback_query_arg",
            &u.hash_fallback_query_arg,
        ),
        (
            HashOn::UriCapture,
            "hash_on_uri_capture",
            &u.hash_on_uri_capture,
            "hash_fallback_uri_capture",
            &u.hash_fallback_uri_capture,
        ),
    ];
    for (kind, on_field, on_value, fallback_field, fallback_value) in required {
        if u.hash_on == kind && on_value.is_none() {
            fail("hash_on", on_field, REQUIRED.into());
        }
        if u.hash_fallback == kind && fallback_value.is_none() {
            fail("hash_fallback", fallback_field, REQUIRED.into());
        }
    }
    let allowed: Option<&[HashOn]> = match u.hash_on {
        HashOn::None | HashOn::Cookie => Some(&[HashOn::None]),
        HashOn::Consumer | HashOn::Ip | HashOn::Path => None,
        _ => Some(&HashOn::ALL),
    };
    let allowed: Vec<HashOn> = match allowed {
        Some(list) => list.to_vec(),
        // hash_fallback must differ from hash_on (headers, query args and captures may repeat).
        None => HashOn::ALL
            .into_iter()
            .filter(|h| *h != u.hash_on)
            .collect(),
    };
    if !allowed.contains(&u.hash_fallback) {
        let names: Vec<&str> = allowed.iter().map(|h| h.as_str()).collect();
        fail(
            "hash_on",
            "hash_fallback",
            format!("expected one of: {}", names.join(", ")),
        );
    }
    for (a, b, va, vb) in [
        (
            "hash_on_header",
            "hash_fallback_header",
            &u.hash_on_header,
            &u.hash_fallback_header,
        ),
        (
            "hash_on_query_arg",
            "hash_fallback_query_arg",
            &u.hash_on_query_arg,
            &u.hash_fallback_query_arg,
        ),
        (
            "hash_on_uri_capture",
            "hash_fallback_uri_capture",
            &u.hash_on_uri_capture,
            &u.hash_fallback_uri_capture,
        ),
    ] {
        if va.is_some() && va == vb {
            errors.push(
                path,
                format!("values of these fields must be distinct: '{a}', '{b}'"),
            );
        }
    }
}

fn range_f64(value: f64, max: f64, path: String, errors: &mut Collector) {
    if !(0.0..=max).contains(&value) {
        errors.push(path, format!("value should be between 0 and {max}"));
    }
}

fn range_u32(value: u32, range: (i64, i64), path: String, errors: &mut Collector) {
    if !(range.0..=range.1).contains(&i64::from(value)) {
        errors.push(path, between(range));
    }
}

fn statuses(list: &[u16], path: &str, errors: &mut Collector) {
    for (k, s) in list.iter().enumerate() {
        range_u32(
            u32::from(*s),
            STATUS,
            format!("{path}.http_statuses[{k}]"),
            errors,
        );
    }
}

fn healthchecks(h: &Healthchecks, path: &str, errors: &mut Collector) {
    range_f64(h.threshold, 100.0, format!("{path}.threshold"), errors);
    let a = &h.active;
    let at = format!("{path}.active");
    range_f64(a.timeout, 65535.0, format!("{at}.timeout"), errors);
    range_u32(
        a.concurrency,
        CONCURRENCY,
        format!("{at}.concurrency"),
        errors,
    );
    if let Err(m) = kong_path(&a.http_path) {
        errors.push(format!("{at}.http_path"), m);
    }
    let probing = a.healthy.interval > 0.0 || a.unhealthy.interval > 0.0;
    if probing && !matches!(a.r#type, CheckType::Http | CheckType::Tcp) {
        errors.push(
            format!("{at}.type"),
            format!(
                "{} probes are not supported yet (http and tcp are)",
                a.r#type.as_str()
            ),
        );
    }
    if let Some(sni) = &a.https_sni {
        if !matches!(parse_address(sni), Some(Address::Name(_, None))) {
            errors.push(format!("{at}.https_sni"), format!("invalid value: {sni}"));
        }
    }
    if let Some(headers) = &a.headers {
        for name in headers.keys() {
            if let Err(m) = checks::header_name(name) {
                errors.push(format!("{at}.headers.{name}"), m);
            }
        }
    }
    range_f64(
        a.healthy.interval,
        65535.0,
        format!("{at}.healthy.interval"),
        errors,
    );
    statuses(&a.healthy.http_statuses, &format!("{at}.healthy"), errors);
    range_u32(
        a.healthy.successes,
        ONE_BYTE,
        format!("{at}.healthy.successes"),
        errors,
    );
    let u = &a.unhealthy;
    range_f64(
        u.interval,
        65535.0,
        format!("{at}.unhealthy.interval"),
        errors,
    );
    statuses(&u.http_statuses, &format!("{at}.unhealthy"), errors);
    for (name, v) in [
        ("tcp_failures", u.tcp_failures),
        ("timeouts", u.timeouts),
        ("http_failures", u.http_failures),
    ] {
        range_u32(v, ONE_BYTE, format!("{at}.unhealthy.{name}"), errors);
    }
    let p = &h.passive;
    let at = format!("{path}.passive");
    statuses(&p.healthy.http_statuses, &format!("{at}.healthy"), errors);
    range_u32(
        p.healthy.successes,
        ONE_BYTE,
        format!("{at}.healthy.successes"),
        errors,
    );
    let u = &p.unhealthy;
    statuses(&u.http_statuses, &format!("{at}.unhealthy"), errors);
    for (name, v) in [
        ("tcp_failures", u.tcp_failures),
        ("timeouts", u.timeouts),
        ("http_failures", u.http_failures),
    ] {
        range_u32(v, ONE_BYTE, format!("{at}.unhealthy.{name}"), errors);
    }
}

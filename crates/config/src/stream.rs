//! Kong's stream routes (`protocols` `tcp`, `tls`, `udp`, `tls_passthrough`): the `sources` /
//! `destinations` entries, and Kong's checks of stream routes, of the HTTP routes' stream fields, and of what
//! may point at a stream route (services, plugins), with Kong's messages.

use serde::{Deserialize, Serialize};

use crate::error::Collector;
use crate::lookup::EntityIndex;
use crate::model::{Config, Plugin, Protocol, Route};

/// One entry of a route's `sources` or `destinations`: an IP address or CIDR block and/or a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamAddr {
    /// `10.0.0.1`, `10.0.0.0/8`, `::1` (as written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// A port (0..=65535).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// A `sources` / `destinations` entry as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStreamAddr {
    /// IP or CIDR.
    pub ip: Option<String>,
    /// Port, range-checked here.
    pub port: Option<i64>,
}

/// Moves a raw route's `snis`, `sources` and `destinations` into `route` (`path`: the route's).
pub(crate) fn take_fields(
    route: &mut Route,
    raw: &mut crate::raw::RawRoute,
    path: &str,
    errors: &mut Collector,
) {
    route.snis = raw.snis.take().unwrap_or_default();
    route.sources = addrs(raw.sources.take(), &format!("{path}.sources"), errors);
    route.destinations = addrs(
        raw.destinations.take(),
        &format!("{path}.destinations"),
        errors,
    );
}

/// Whether a route sets a traditional matching field (HTTP or stream).
pub(crate) fn has_matchers(r: &Route) -> bool {
    !(r.methods.is_empty()
        && r.hosts.is_empty()
        && r.paths.is_empty()
        && r.headers.is_empty()
        && r.snis.is_empty()
        && r.sources.is_empty()
        && r.destinations.is_empty())
}

/// The checks of a route's kind: [`check_route`] for a stream route, [`check_http_route`] otherwise.
pub(crate) fn check_kind(r: &Route, path: &str, errors: &mut Collector) {
    if r.is_stream() {
        check_route(r, path, errors);
    } else {
        check_http_route(r, path, errors);
    }
}

/// The entries of `sources` or `destinations` (`path` is the field's), with Kong's messages.
fn addrs(raw: Option<Vec<RawStreamAddr>>, path: &str, errors: &mut Collector) -> Vec<StreamAddr> {
    let mut out = Vec::new();
    for (k, entry) in raw.unwrap_or_default().into_iter().enumerate() {
        if entry.ip.is_none() && entry.port.is_none() {
            errors.push(
                format!("{path}[{k}]"),
                "at least one of these fields must be non-empty: 'ip', 'port'",
            );
        }
        if let Some(ip) = &entry.ip {
            if crate::real_ip::parse_ip_or_cidr(ip).is_none() {
                errors.push(
                    format!("{path}[{k}].ip"),
                    crate::real_ip::ip_or_cidr_error(ip),
                );
            }
        }
        let port = entry.port.and_then(|p| match u16::try_from(p) {
            Ok(port) => Some(port),
            Err(_) => {
                errors.push(
                    format!("{path}[{k}].port"),
                    "value should be between 0 and 65535",
                );
                None
            }
        });
        out.push(StreamAddr { ip: entry.ip, port });
    }
    out
}

/// Kong's mutually exclusive subsets of route `protocols`.
const SUBSETS: &str = "these sets are mutually exclusive: ('http', 'https'), ('tcp', 'tls', 'udp'), ('tls_passthrough'), ('grpc', 'grpcs')";

fn subset(p: Protocol) -> u8 {
    match p {
        Protocol::Http | Protocol::Https => 0,
        Protocol::Tcp | Protocol::Tls | Protocol::Udp => 1,
        Protocol::TlsPassthrough => 2,
        Protocol::Grpc | Protocol::Grpcs => 3,
    }
}

/// A route's `protocols` mix subsets Kong keeps apart.
pub(crate) fn check_protocols(r: &Route, path: &str, errors: &mut Collector) {
    let first = r.protocols.first().map(|p| subset(*p));
    if r.protocols.iter().any(|p| Some(subset(*p)) != first) {
        errors.push(format!("{path}.protocols"), SUBSETS);
    }
}

const STREAM_WORDS: &str = "'tcp', 'tls', 'tls_passthrough' or 'udp'";
const SNI_PROTOCOLS: [Protocol; 4] = [
    Protocol::Grpcs,
    Protocol::Https,
    Protocol::Tls,
    Protocol::TlsPassthrough,
];

/// Kong's `routes_subschemas` stream checks of one stream route (the HTTP matching fields refused, at least
/// one stream matcher), its `snis`, and its plugins (not run on stream routes here).
pub(crate) fn check_route(r: &Route, path: &str, errors: &mut Collector) {
    for (field, set) in [
        ("methods", !r.methods.is_empty()),
        ("hosts", !r.hosts.is_empty()),
        ("paths", !r.paths.is_empty()),
        ("headers", !r.headers.is_empty()),
    ] {
        if set {
            errors.push(
                format!("{path}.{field}"),
                format!("cannot set '{field}' when 'protocols' is {STREAM_WORDS}"),
            );
        }
    }
    check_snis(r, path, errors);
    if r.expression.is_none() {
        let in_set = |set: &[Protocol]| r.protocols.iter().all(|p| set.contains(p));
        if in_set(&[Protocol::Tcp, Protocol::Tls, Protocol::Udp])
            && r.sources.is_empty()
            && r.destinations.is_empty()
            && r.snis.is_empty()
        {
            errors.push(
                path,
                "must set one of 'sources', 'destinations', 'snis' when 'protocols' is 'tcp', 'tls' or 'udp'",
            );
        }
        if in_set(&[Protocol::TlsPassthrough]) && r.snis.is_empty() {
            errors.push(path, "must set snis when 'protocols' is 'tls_passthrough'");
        }
    }
    for j in 0..r.plugins.len() {
        errors.push(format!("{path}.plugins[{j}]"), ON_STREAM_ROUTE);
    }
}

/// The message of a plugin that would run on a stream route.
const ON_STREAM_ROUTE: &str =
    "plugins on stream routes (protocols tcp, tls, tls_passthrough, udp) are not supported yet";

/// The stream fields of an HTTP route: `sources` and `destinations` refused (Kong's traditional flavors),
/// `snis` only on https/grpcs routes, and there not built (the HTTP router does not read the SNI).
pub(crate) fn check_http_route(r: &Route, path: &str, errors: &mut Collector) {
    let words = if r.protocols.iter().any(|p| p.is_grpc()) {
        "'grpc' or 'grpcs'"
    } else {
        "'http' or 'https'"
    };
    for (field, set) in [
        ("sources", !r.sources.is_empty()),
        ("destinations", !r.destinations.is_empty()),
    ] {
        if set {
            errors.push(
                format!("{path}.{field}"),
                format!("cannot set '{field}' when 'protocols' is {words}"),
            );
        }
    }
    if check_snis(r, path, errors) {
        errors.push(
            format!("{path}.snis"),
            "not supported yet on http, https, grpc and grpcs routes (snis match stream routes only)",
        );
    }
}

/// Kong's `snis` conditional and each name's `wildcard_host` check; true when `snis` is set and allowed.
fn check_snis(r: &Route, path: &str, errors: &mut Collector) -> bool {
    if r.snis.is_empty() {
        return false;
    }
    if !r.protocols.iter().any(|p| SNI_PROTOCOLS.contains(p)) {
        errors.push(
            format!("{path}.snis"),
            "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'",
        );
        return false;
    }
    for (k, sni) in r.snis.iter().enumerate() {
        if let Err(message) = crate::certificates::names::check_wildcard_host(sni) {
            errors.push(format!("{path}.snis[{k}]"), message);
        }
    }
    true
}

/// The checks across entities: a route's protocols against its service's (a stream route proxies to a
/// `tcp`, `tls`, `tls_passthrough` or `udp` service, an HTTP route to an HTTP one), and plugins scoped to a
/// stream route or listing a stream protocol (not run here: refused).
pub(crate) fn check_config(config: &Config, errors: &mut Collector) {
    for entry in config.routes_with_services() {
        let (Some(s), r) = (entry.service, entry.route) else {
            continue;
        };
        let Some(service) = config.services.get(s) else {
            continue;
        };
        let Some(first) = r.protocols.first() else {
            continue;
        };
        let p = service.protocol;
        let refused = if first.is_stream() {
            !p.is_stream() || (*first == Protocol::Udp && p == Protocol::Tls)
        } else {
            p.is_stream()
        };
        if refused {
            errors.push(
                format!("{}.protocols", entry.position.path()),
                format!(
                    "a route with protocols [{}] proxying to a service with protocol {p} is not supported yet",
                    r.protocols
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
    let index = EntityIndex::new(config);
    let mut plugin = |p: &Plugin, path: String| {
        for (k, protocol) in p.protocols.iter().enumerate() {
            if protocol.is_stream() {
                errors.push(
                    format!("{path}.protocols[{k}]"),
                    format!("plugins on {protocol} are not supported yet"),
                );
            }
        }
        if let Some(r) = &p.route {
            if index.route(r).is_some_and(Route::is_stream) {
                errors.push(format!("{path}.route"), ON_STREAM_ROUTE);
            }
        }
    };
    for (i, s) in config.services.iter().enumerate() {
        for (j, p) in s.plugins.iter().enumerate() {
            plugin(p, format!("services[{i}].plugins[{j}]"));
        }
        for (k, r) in s.routes.iter().enumerate() {
            for (j, p) in r.plugins.iter().enumerate() {
                plugin(p, format!("services[{i}].routes[{k}].plugins[{j}]"));
            }
        }
    }
    for (i, r) in config.routes.iter().enumerate() {
        for (j, p) in r.plugins.iter().enumerate() {
            plugin(p, format!("routes[{i}].plugins[{j}]"));
        }
    }
    for (i, p) in config.plugins.iter().enumerate() {
        let path = p.origin.clone().unwrap_or_else(|| format!("plugins[{i}]"));
        plugin(p, path);
    }
    for (i, c) in config.consumers.iter().enumerate() {
        for (j, p) in c.plugins.iter().enumerate() {
            plugin(p, format!("consumers[{i}].plugins[{j}]"));
        }
    }
}

#[cfg(test)]
mod tests;

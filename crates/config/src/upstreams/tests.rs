//! Tests of upstreams and targets: parsing, defaults, shorthands, validation messages and round trips.

use super::*;
use crate::load::{parse_str, to_yaml};

fn errors(yaml: &str) -> Vec<String> {
    match parse_str(yaml) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.lines(),
    }
}

fn doc(upstreams: &str) -> String {
    format!("_format_version: \"3.0\"\n{upstreams}")
}

#[test]
fn defaults_and_nested_targets() {
    let c = parse_str(&doc(
        "upstreams:\n  - name: orders.internal\n    targets:\n      - target: 10.0.0.1\n      - target: b.internal:9000\n        weight: 0\n      - target: \"::1\"\n      - target: \"[::1]:81\"\n",
    ))
    .unwrap();
    let u = &c.upstreams[0];
    assert_eq!(u.id, crate::ids::upstream_id("orders.internal"));
    assert_eq!(u.algorithm, Algorithm::RoundRobin);
    assert_eq!((u.hash_on, u.hash_fallback), (HashOn::None, HashOn::None));
    assert_eq!(u.slots, 10_000);
    assert_eq!(u.hash_on_cookie_path, "/");
    assert!(u.healthchecks.is_default());
    assert_eq!(u.healthchecks.active.unhealthy.http_statuses.len(), 8);
    assert_eq!(u.healthchecks.passive.healthy.http_statuses.len(), 19);
    let targets: Vec<(&str, u32)> = u
        .targets
        .iter()
        .map(|t| (t.target.as_str(), t.weight))
        .collect();
    assert_eq!(
        targets,
        vec![
            ("10.0.0.1:8000", 100),
            ("b.internal:9000", 0),
            ("[::1]:8000", 100),
            ("[::1]:81", 100)
        ]
    );
    assert_eq!(
        u.targets[0].id,
        crate::ids::target_id(u.id, "10.0.0.1:8000")
    );
    assert_eq!(c.upstream_named("ORDERS.internal."), Some(0));
    assert_eq!(c.upstream_named("other"), None);
    assert_eq!(
        u.targets[1].host_port(),
        Some(("b.internal".to_string(), 9000))
    );
}

#[test]
fn round_trip_keeps_everything_and_stays_short() {
    let yaml = doc(r#"upstreams:
  - name: a.internal
    algorithm: consistent-hashing
    hash_on: header
    hash_on_header: x-user
    hash_fallback: ip
    slots: 100
    host_header: a.example.com
    tags: [t1]
    created_at: 1700000000
    healthchecks:
      threshold: 50
      active:
        type: tcp
        https_sni: a.example.com
        headers: {x-probe: ["1"]}
        healthy: {interval: 5, successes: 2}
        unhealthy: {interval: 1, http_failures: 3, timeouts: 2}
      passive:
        unhealthy: {http_failures: 5, http_statuses: [500]}
    targets:
      - target: 10.0.0.1:80
        weight: 7
        created_at: 1700000000.123
  - name: b.internal
    algorithm: least-connections
  - name: c.internal
    algorithm: consistent-hashing
"#);
    let c = parse_str(&yaml).unwrap();
    let text = to_yaml(&c).unwrap();
    let again = parse_str(&text).unwrap();
    assert_eq!(c, again, "{text}");
    assert_eq!(c.upstreams[0].algorithm, Algorithm::ConsistentHashing);
    assert_eq!(c.upstreams[0].healthchecks.active.healthy.successes, 2);
    assert_eq!(c.upstreams[2].algorithm, Algorithm::ConsistentHashing);
    let short = to_yaml(
        &parse_str(&doc(
            "upstreams:\n  - name: x.internal\n    targets: [{target: a}]\n",
        ))
        .unwrap(),
    )
    .unwrap();
    assert!(!short.contains("healthchecks"), "{short}");
    assert!(!short.contains("slots"), "{short}");
    assert!(!short.contains("weight"), "{short}");
}

#[test]
fn kong_shorthands() {
    let c = parse_str(&doc(
        "upstreams:\n  - {name: a, hash_on: ip}\n  - {name: b, algorithm: least-connections, hash_on: ip}\n  - {name: c, algorithm: consistent-hashing, hash_on: none}\n",
    ))
    .unwrap();
    let got: Vec<(Algorithm, HashOn)> = c
        .upstreams
        .iter()
        .map(|u| (u.algorithm, u.hash_on))
        .collect();
    assert_eq!(
        got,
        vec![
            (Algorithm::ConsistentHashing, HashOn::Ip),
            (Algorithm::LeastConnections, HashOn::None),
            (Algorithm::RoundRobin, HashOn::None),
        ]
    );
}

#[test]
fn top_level_targets_join_their_upstream() {
    let c = parse_str(&doc(
        "upstreams:\n  - name: a.internal\ntargets:\n  - {target: x:1, upstream: a.internal}\n",
    ))
    .unwrap();
    assert_eq!(c.upstreams[0].targets[0].target, "x:1");
    let again = parse_str(&to_yaml(&c).unwrap()).unwrap();
    assert_eq!(c, again);
    assert_eq!(
        errors(&doc("targets:\n  - {target: x:1, upstream: nope}\n  - {target: y}\n")),
        vec![
            "targets[0].upstream: no upstream with id or name \"nope\"",
            "targets[1].upstream: required field missing (a top-level target must name its upstream)",
        ]
    );
}

#[test]
fn kong_messages() {
    let e = errors(&doc(r#"upstreams:
  - name: 1.2.3.4
    algorithm: fastest
  - name: a.internal:80
    slots: 5
  - name: "some invalid host name"
  - name: b.internal
    targets:
      - target: a:99999
      - target: a
        weight: 70000
      - target: "a:8000"
      - {target: c, weight: -1}
  - name: B.internal
"#));
    assert_eq!(
        e,
        vec![
            "upstreams[0].algorithm: expected one of: consistent-hashing, least-connections, round-robin, latency",
            "upstreams[3].targets[3].weight: value should be between 0 and 65535",
            "upstreams[0].name: Invalid name ('1.2.3.4'); no ip addresses allowed",
            "upstreams[1].name: Invalid name ('a.internal:80'); no port allowed",
            "upstreams[1].slots: value should be between 10 and 65536",
            "upstreams[2].name: Invalid name ('some invalid host name'); must be a valid hostname",
            "upstreams[3].targets[0].target: Invalid target ('a:99999'); not a valid hostname or ip address",
            "upstreams[3].targets[1].weight: value should be between 0 and 65535",
            "upstreams[3].targets[2].target: duplicate target \"a:8000\" (also upstreams[3].targets[1])",
            "upstreams[4].name: duplicate name \"B.internal\" (also upstreams[3])",
        ]
    );
}

#[test]
fn entity_checks() {
    let e = errors(&doc(r#"upstreams:
  - {name: a, hash_on: header}
  - {name: b, hash_on: consumer, hash_fallback: consumer}
  - {name: c, hash_on: cookie, hash_on_cookie: k, hash_fallback: ip}
  - {name: d, hash_on: header, hash_on_header: x, hash_fallback: header, hash_fallback_header: x}
  - {name: e, hash_fallback: ip}
  - {name: f, hash_on: cookie, hash_on_cookie: k, hash_on_cookie_path: nope}
  - {name: g, hash_on: header, hash_on_header: "not a <> valid"}
"#));
    let cond = "failed conditional validation given value of field 'hash_on'";
    assert_eq!(
        e,
        vec![
            format!("upstreams[0]: {cond}"),
            "upstreams[0].hash_on_header: required field missing".into(),
            format!("upstreams[1]: {cond}"),
            "upstreams[1].hash_fallback: expected one of: none, ip, header, cookie, path, query_arg, uri_capture".into(),
            format!("upstreams[2]: {cond}"),
            "upstreams[2].hash_fallback: expected one of: none".into(),
            "upstreams[3]: values of these fields must be distinct: 'hash_on_header', 'hash_fallback_header'".into(),
            format!("upstreams[4]: {cond}"),
            "upstreams[4].hash_fallback: expected one of: none".into(),
            "upstreams[5].hash_on_cookie_path: should start with: /".into(),
            "upstreams[6].hash_on_header: bad header name 'not a <> valid', allowed characters are A-Z, a-z, 0-9, '_', and '-'".into(),
        ]
    );
}

#[test]
fn healthcheck_ranges_and_unknown_keys() {
    let e = errors(&doc(r#"upstreams:
  - name: a
    healthchecks:
      threshold: 101
      active:
        type: udp
        concurrency: 0
        timeout: -1
        healthy: {http_statuses: [99], tcp_failures: 1}
      passive:
        unhealthy: {timeouts: 256, interval: 1}
"#));
    assert_eq!(
        e,
        vec![
            "upstreams[0].healthchecks.active.type: expected one of: tcp, http, https, grpc, grpcs",
            "upstreams[0].healthchecks.active.concurrency: value should be between 1 and 2147483648",
            "upstreams[0].healthchecks.active.healthy.tcp_failures: unknown field",
            "upstreams[0].healthchecks.active.healthy.http_statuses[0]: value should be between 100 and 999",
            "upstreams[0].healthchecks.passive.unhealthy.interval: unknown field",
            "upstreams[0].healthchecks.passive.unhealthy.timeouts: value should be between 0 and 255",
            "upstreams[0].healthchecks.threshold: value should be between 0 and 100",
            "upstreams[0].healthchecks.active.timeout: value should be between 0 and 65535",
        ]
    );
}

#[test]
fn addresses_and_targets() {
    for (input, out) in [
        ("a", "a:8000"),
        ("a.b_c-d.:1", "a.b_c-d.:1"),
        ("010.0.0.1", "10.0.0.1:8000"),
        ("[::1]", "[::1]:8000"),
        ("::ffff:1.2.3.4", "[::ffff:1.2.3.4]:8000"),
    ] {
        assert_eq!(normalize_target(input).as_deref(), Ok(out), "{input}");
    }
    for bad in [
        "",
        "a:0",
        "a:",
        "a b",
        "a-.b",
        "a..b",
        "1.2.3.256",
        "[::1]x",
        "a:65536",
        "http://a",
    ] {
        assert!(normalize_target(bad).is_err(), "{bad}");
    }
    assert!(check::upstream_name("orders.internal").is_ok());
    assert_eq!(
        check::upstream_name("[::1]"),
        Err("Invalid name ('[::1]'); no ip addresses allowed".into())
    );
}

#[test]
fn service_host_naming_no_upstream_is_just_a_hostname() {
    let c = parse_str(&doc(
        "services:\n  - {name: s, host: not-an-upstream.internal}\nupstreams:\n  - name: other.internal\n",
    ))
    .unwrap();
    assert_eq!(c.upstream_named(&c.services[0].host), None);
}

#[test]
fn dns_settings() {
    let c = parse_str(&doc(
        "gateway:\n  dns_resolver: \"8.8.8.8, [::1]:5353\"\n  dns_order: [last, a]\n  dns_valid_ttl: 5\n",
    ))
    .unwrap();
    let g = &c.gateway;
    assert_eq!(g.dns_resolver, vec!["8.8.8.8", "[::1]:5353"]);
    assert_eq!(g.dns_order, vec!["LAST", "A"]);
    assert_eq!(g.dns_valid_ttl, Some(5));
    assert_eq!(parse_str(&to_yaml(&c).unwrap()).unwrap(), c);
    let d = crate::Settings::default();
    assert_eq!(d.dns_order, vec!["LAST", "SRV", "A", "CNAME"]);
    assert_eq!(d.dns_hostsfile, std::path::PathBuf::from("/etc/hosts"));
    assert_eq!(
        (
            d.dns_stale_ttl,
            d.dns_not_found_ttl,
            d.dns_error_ttl,
            d.dns_cache_size
        ),
        (3600, 30, 1, 10_000)
    );
    assert_eq!(
        errors(&doc(
            "gateway:\n  dns_resolver: [8.8.8.8:53, dns.google]\n  dns_order: A,MX\n  dns_cache_size: 0\n"
        )),
        vec![
            "gateway.dns_resolver[1]: invalid address \"dns.google\": expected an IP address with an optional port, such as \"8.8.8.8\" or \"[::1]:53\"",
            "gateway.dns_order[1]: invalid entry \"MX\": expected one of LAST, SRV, A, AAAA, CNAME",
            "gateway.dns_cache_size: must be at least 1",
        ]
    );
}

#[test]
fn what_is_not_built_yet_is_refused_with_its_path() {
    let e = errors(&doc(r#"upstreams:
  - name: a.internal
    use_srv_name: true
    healthchecks:
      active:
        type: https
        healthy:
          interval: 5
  - name: b.internal
    healthchecks:
      active:
        type: grpc
"#));
    assert_eq!(
        e,
        vec![
            "upstreams[0].use_srv_name: use_srv_name is not supported yet",
            "upstreams[0].healthchecks.active.type: https probes are not supported yet (http and tcp are)",
        ],
        "a probe type without an interval sends no probe: accepted"
    );
}

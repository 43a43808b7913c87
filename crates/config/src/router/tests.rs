//! Router tests: host, method, header and path matching, Kong's priorities, and a 10k-route table.

use super::*;
use crate::load::parse_str;
use crate::model::{Route, Service};
use http::HeaderValue;
use uuid::Uuid;

/// A compiled router with the names of its config's routes (indexed like [`RouteMatch::route`]).
struct Table {
    router: Router,
    names: Vec<Option<String>>,
    ids: Vec<Uuid>,
}

impl Table {
    fn new(config: &Config) -> Table {
        Table {
            router: Router::compile(config).unwrap(),
            names: config
                .routes_with_services()
                .map(|e| e.route.name.clone())
                .collect(),
            ids: config.routes_with_services().map(|e| e.route.id).collect(),
        }
    }

    /// [`Router::find`] for a request without headers.
    fn find(&self, method: &str, host: Option<&str>, path: &str) -> Option<RouteMatch> {
        self.find_with(method, host, path, &[])
    }

    /// [`Router::find`] for a request with `headers` (repeated names become repeated headers).
    fn find_with(
        &self,
        method: &str,
        host: Option<&str>,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Option<RouteMatch> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        self.router.find(&RequestView {
            method,
            host,
            path,
            headers: &map,
            https: false,
            query: None,
            src: None,
            dst: None,
        })
    }

    /// The name of the matched route.
    fn name(&self, m: &RouteMatch) -> Option<&str> {
        self.names[m.route].as_deref()
    }

    fn len(&self) -> usize {
        self.router.len()
    }
}

fn router(yaml: &str) -> (Config, Table) {
    let config = parse_str(&format!("_format_version: \"3.0\"\n{yaml}")).unwrap();
    let table = Table::new(&config);
    (config, table)
}

/// Name of the route matched for (method, host, path).
fn hit(r: &Table, method: &str, host: Option<&str>, path: &str) -> Option<String> {
    hit_with(r, method, host, path, &[])
}

/// Name of the route matched for (method, host, path, headers).
fn hit_with(
    r: &Table,
    method: &str,
    host: Option<&str>,
    path: &str,
    headers: &[(&str, &str)],
) -> Option<String> {
    r.find_with(method, host, path, headers)
        .map(|m| r.name(&m).unwrap_or_default().to_string())
}

#[test]
fn exact_host_beats_wildcard_and_hostless() {
    let (_, r) = router(
        r#"
services:
- host: up
  routes:
  - {name: any, paths: [/]}
  - {name: wild-suffix, hosts: ["*.example.com"], paths: [/]}
  - {name: wild-prefix, hosts: ["example.*"], paths: [/]}
  - {name: exact, hosts: [api.example.com], paths: [/]}
"#,
    );
    assert_eq!(
        hit(&r, "GET", Some("api.example.com"), "/x").as_deref(),
        Some("exact")
    );
    assert_eq!(
        hit(&r, "GET", Some("API.Example.COM:8000"), "/x").as_deref(),
        Some("exact")
    );
    assert_eq!(
        hit(&r, "GET", Some("api.example.com."), "/x").as_deref(),
        Some("exact")
    );
    assert_eq!(
        hit(&r, "GET", Some("foo.example.com"), "/").as_deref(),
        Some("wild-suffix")
    );
    assert_eq!(
        hit(&r, "GET", Some("a.b.example.com"), "/").as_deref(),
        Some("wild-suffix")
    );
    assert_eq!(
        hit(&r, "GET", Some("example.org"), "/").as_deref(),
        Some("wild-prefix")
    );
    assert_eq!(
        hit(&r, "GET", Some("example.com"), "/").as_deref(),
        Some("wild-prefix")
    );
    assert_eq!(
        hit(&r, "GET", Some(".example.com"), "/").as_deref(),
        Some("any")
    );
    assert_eq!(
        hit(&r, "GET", Some("other.org"), "/").as_deref(),
        Some("any")
    );
    assert_eq!(hit(&r, "GET", None, "/").as_deref(), Some("any"));
}

#[test]
fn host_ports() {
    let (_, r) = router(
        r#"
services:
- host: up
  routes:
  - {name: plain, hosts: [a.test], paths: [/]}
  - {name: with-port, hosts: ["b.test:8443"], paths: [/]}
  - {name: wild-port, hosts: ["*.c.test:9000"], paths: [/]}
"#,
    );
    assert_eq!(
        hit(&r, "GET", Some("a.test:1234"), "/").as_deref(),
        Some("plain")
    );
    assert_eq!(
        hit(&r, "GET", Some("b.test:8443"), "/").as_deref(),
        Some("with-port")
    );
    assert_eq!(hit(&r, "GET", Some("b.test"), "/"), None);
    assert_eq!(hit(&r, "GET", Some("b.test:8444"), "/"), None);
    assert_eq!(
        hit(&r, "GET", Some("x.c.test:9000"), "/").as_deref(),
        Some("wild-port")
    );
    assert_eq!(hit(&r, "GET", Some("x.c.test"), "/"), None);
}

#[test]
fn longest_plain_prefix_wins() {
    let (_, r) = router(
        r#"
services:
- host: up
  routes:
  - {name: root, paths: [/]}
  - {name: foo, paths: [/foo]}
  - {name: foo-bar, paths: [/foo/bar]}
"#,
    );
    assert_eq!(
        hit(&r, "GET", None, "/foo/bar/baz").as_deref(),
        Some("foo-bar")
    );
    assert_eq!(hit(&r, "GET", None, "/foo/bar").as_deref(), Some("foo-bar"));
    assert_eq!(hit(&r, "GET", None, "/foo/ba").as_deref(), Some("foo"));
    assert_eq!(
        hit(&r, "GET", None, "/foobar").as_deref(),
        Some("foo"),
        "Kong prefixes are plain string prefixes"
    );
    assert_eq!(hit(&r, "GET", None, "/fo").as_deref(), Some("root"));
    let m = r.find("GET", None, "/foo/bar/baz").unwrap();
    assert_eq!(m.matched_prefix, "/foo/bar".len());
}

#[test]
fn no_match() {
    let (_, r) = router(
        r#"
services:
- host: up
  routes:
  - {name: foo, paths: [/foo], methods: [GET]}
  - {name: host, hosts: [a.test]}
"#,
    );
    assert_eq!(hit(&r, "GET", None, "/bar"), None);
    assert_eq!(hit(&r, "POST", None, "/foo"), None);
    assert_eq!(hit(&r, "GET", Some("b.test"), "/bar"), None);
    assert_eq!(
        hit(&r, "GET", Some("a.test"), "/bar").as_deref(),
        Some("host")
    );
    assert_eq!(
        r.find("GET", Some("a.test"), "/bar")
            .unwrap()
            .matched_prefix,
        0
    );
}

#[test]
fn a_route_without_a_service_matches_by_kongs_priorities() {
    let (_, r) = router(
        r#"
services:
- {name: up, host: up, routes: [{name: on-service, paths: [/a]}]}
- {name: off, host: off, enabled: false, routes: [{name: disabled, paths: [/off]}]}
routes:
- {name: lone, paths: [/a/b]}
"#,
    );
    let lone = r.find("GET", None, "/a/b/c").unwrap();
    assert_eq!((r.name(&lone), lone.service), (Some("lone"), None));
    let on = r.find("GET", None, "/a/x").unwrap();
    assert_eq!((r.name(&on), on.service), (Some("on-service"), Some(0)));
    assert!(
        r.find("GET", None, "/off").is_none(),
        "a disabled service's route stays out"
    );
}

#[test]
fn methods_and_field_count() {
    let (_, r) = router(
        r#"
services:
- host: up
  routes:
  - {name: any-method, paths: [/x]}
  - {name: get, paths: [/x], methods: [GET, HEAD]}
  - {name: host-root, hosts: [h.test], paths: [/]}
  - {name: host-only, hosts: [only.test]}
  - {name: long-path, paths: [/only/a/very/long/path]}
"#,
    );
    assert_eq!(hit(&r, "GET", None, "/x").as_deref(), Some("get"));
    assert_eq!(hit(&r, "HEAD", None, "/x/1").as_deref(), Some("get"));
    assert_eq!(hit(&r, "POST", None, "/x").as_deref(), Some("any-method"));
    // More matcher kinds beat a longer path.
    assert_eq!(
        hit(&r, "POST", Some("h.test"), "/x/y").as_deref(),
        Some("host-root")
    );
    // Same number of kinds: hosts rank above paths (Kong's category order).
    assert_eq!(
        hit(&r, "GET", Some("only.test"), "/only/a/very/long/path").as_deref(),
        Some("host-only")
    );
}

#[test]
fn headers_through_find() {
    let (_, r) = router(
        r#"
services:
- host: up
  routes:
  - {name: plain, paths: [/]}
  - {name: v2, paths: [/], headers: {X-Version: [v2, V3]}}
"#,
    );
    assert_eq!(hit(&r, "GET", None, "/").as_deref(), Some("plain"));
    let m = r
        .find_with("GET", None, "/", &[("x-version", "v3")])
        .unwrap();
    assert_eq!(r.name(&m), Some("v2"));
    assert_eq!(
        hit_with(&r, "GET", None, "/", &[("x-other", "v3")]).as_deref(),
        Some("plain")
    );
}

#[test]
fn header_names_and_values_ignore_case() {
    let (_, r) = router(
        r#"
services:
- host: up
  routes:
  - {name: v2, paths: [/api], headers: {X-Version: [v2, Beta]}}
"#,
    );
    for (name, value) in [
        ("x-version", "v2"),
        ("X-VERSION", "V2"),
        ("X-Version", "beta"),
        ("x-version", "BETA"),
    ] {
        assert_eq!(
            hit_with(&r, "GET", None, "/api/x", &[(name, value)]).as_deref(),
            Some("v2"),
            "{name}: {value}"
        );
    }
    // Whole values only: no prefix, no comma-separated list element, no missing header.
    for headers in [
        &[("x-version", "v")][..],
        &[("x-version", "v1, v2")],
        &[("x-version", "v2x")],
        &[("x-versions", "v2")],
        &[],
    ] {
        assert_eq!(
            hit_with(&r, "GET", None, "/api/x", headers),
            None,
            "{headers:?}"
        );
    }
}

#[test]
fn every_header_is_required_and_any_repeated_value_matches() {
    let (_, r) = router(
        r#"
services:
- host: up
  routes:
  - {name: two, headers: {x-version: [v2], x-tenant: [acme, globex]}}
"#,
    );
    let both = [("x-version", "v2"), ("x-tenant", "globex")];
    assert_eq!(
        hit_with(&r, "GET", None, "/p", &both).as_deref(),
        Some("two")
    );
    assert_eq!(hit_with(&r, "GET", None, "/p", &both[..1]), None);
    assert_eq!(hit_with(&r, "GET", None, "/p", &both[1..]), None);
    let repeated = [
        ("x-version", "v1"),
        ("X-Version", "V2"),
        ("x-tenant", "acme"),
    ];
    assert_eq!(
        hit_with(&r, "GET", None, "/p", &repeated).as_deref(),
        Some("two")
    );
    let m = r.find_with("GET", None, "/p/q", &both).unwrap();
    assert_eq!(
        m.matched_prefix, 0,
        "a route without paths matches no prefix"
    );
}

#[test]
fn header_priorities() {
    let (_, r) = router(
        r#"
services:
- host: up
  routes:
  - {name: path, paths: [/api/long/path]}
  - {name: one-header, paths: [/api], headers: {x-a: ["1"]}}
  - {name: two-headers, paths: [/api], headers: {x-a: ["1"], x-b: ["2"]}}
  - {name: header-only, headers: {x-c: ["3"]}}
  - {name: host-only, hosts: [h.test]}
  - {name: host-and-header, hosts: [h.test], headers: {x-c: ["3"]}}
"#,
    );
    // More matcher kinds beat a longer path.
    assert_eq!(
        hit_with(&r, "GET", None, "/api/long/path", &[("x-a", "1")]).as_deref(),
        Some("one-header")
    );
    // Same kinds: more headers win.
    assert_eq!(
        hit_with(&r, "GET", None, "/api", &[("x-a", "1"), ("x-b", "2")]).as_deref(),
        Some("two-headers")
    );
    // One kind each: headers (4) rank above paths (2), hosts (8) above headers.
    assert_eq!(
        hit_with(&r, "GET", None, "/api/long/path", &[("x-c", "3")]).as_deref(),
        Some("header-only")
    );
    assert_eq!(
        hit_with(&r, "GET", Some("h.test"), "/", &[("x-d", "3")]).as_deref(),
        Some("host-only")
    );
    assert_eq!(
        hit_with(&r, "GET", Some("h.test"), "/", &[("x-c", "3")]).as_deref(),
        Some("host-and-header")
    );
    assert_eq!(
        hit(&r, "GET", None, "/api/long/path").as_deref(),
        Some("path")
    );
}

#[test]
fn strip_path_preserve_host_and_upstream_path() {
    let (c, r) = router(
        r#"
services:
- name: s
  url: http://up/anything
  routes:
  - {name: root, paths: [/]}
  - {name: keep, paths: [/keep], strip_path: false, preserve_host: true}
- name: t
  url: http://up2
  routes:
  - {name: api, paths: [/api]}
"#,
    );
    let m = r.find("GET", None, "/").unwrap();
    assert_eq!(
        (m.service, m.strip_path, m.preserve_host),
        (Some(0), true, false)
    );
    assert_eq!(
        upstream_path(c.services[m.service.unwrap()].path.as_deref(), "/", &m),
        "/anything"
    );
    let m = r.find("GET", None, "/get").unwrap();
    assert_eq!(
        upstream_path(c.services[m.service.unwrap()].path.as_deref(), "/get", &m),
        "/anything/get"
    );
    let m = r.find("GET", None, "/keep/me").unwrap();
    assert_eq!(
        (r.name(&m), m.strip_path, m.preserve_host),
        (Some("keep"), false, true)
    );
    assert_eq!(
        upstream_path(c.services[0].path.as_deref(), "/keep/me", &m),
        "/anything/keep/me"
    );
    let m = r.find("GET", None, "/api/v1/x").unwrap();
    assert_eq!(m.service, Some(1));
    assert_eq!(
        upstream_path(c.services[1].path.as_deref(), "/api/v1/x", &m),
        "/v1/x"
    );
    assert_eq!(upstream_path(None, "/api", &m), "/");
}

#[test]
fn disabled_services_top_level_routes_and_order() {
    let (c, r) = router(
        r#"
services:
- name: off
  host: up
  enabled: false
  routes: [{name: off-route, paths: [/off]}]
- name: on
  host: up
  routes: [{name: first, paths: [/same]}, {name: second, paths: [/same]}]
routes:
- {name: top, service: on, paths: [/top]}
"#,
    );
    assert_eq!(r.len(), 3);
    assert_eq!(hit(&r, "GET", None, "/off"), None);
    assert_eq!(hit(&r, "GET", None, "/same").as_deref(), Some("first"));
    let m = r.find("GET", None, "/top/x").unwrap();
    assert_eq!((m.service, r.ids[m.route]), (Some(1), c.routes[0].id));
    assert_eq!(m.route, 3, "routes of disabled services count in the index");
}

#[test]
fn compile_reports_unresolved_services_and_bad_regex_paths() {
    let mut route = Route::new(Uuid::from_u128(1));
    route.paths = vec!["/x".into()];
    route.service = Some(crate::model::EntityRef::Key("ghost".into()));
    let mut regex = Route::new(Uuid::from_u128(2));
    regex.paths = vec!["/ok".into(), "~/a/(\\d+".into(), "~/b/\\d+".into()];
    let mut service = Service::new(Uuid::from_u128(3), "up");
    service.routes.push(regex);
    let config = Config {
        services: vec![service],
        routes: vec![route],
        ..Config::default()
    };
    let err = Router::compile(&config).unwrap_err();
    assert_eq!(
        err.lines(),
        vec![
            "services[0].routes[0].paths[1]: invalid regex: '/a/(\\d+' (unclosed group at offset 3)",
            "routes[0].service: no service with id or name \"ghost\"",
        ]
    );
}

#[test]
fn ten_thousand_routes() {
    // 1,000 services × 10 routes: hosts for half the services, a wildcard for some, paths per route.
    let mut config = Config::default();
    for s in 0..1000u128 {
        let mut service = Service::new(Uuid::from_u128(s + 1), format!("up{s}"));
        for j in 0..10u128 {
            let mut route = Route::new(Uuid::from_u128(1_000_000 + s * 100 + j));
            route.name = Some(format!("r{s}-{j}"));
            route.paths = vec![format!("/svc{s}/r{j}")];
            if s % 2 == 0 {
                route.hosts = vec![format!("h{s}.example.com")];
            }
            if s % 10 == 5 {
                route.hosts = vec![format!("*.w{s}.example.com")];
            }
            if j == 9 {
                route.methods = vec!["POST".into()];
            }
            service.routes.push(route);
        }
        config.services.push(service);
    }
    crate::validate::validate(&config).unwrap();
    let router = Table::new(&config);
    assert_eq!(router.len(), 10_000);
    for s in 0..1000usize {
        let host = if s % 10 == 5 {
            format!("x.w{s}.example.com")
        } else {
            format!("h{s}.example.com")
        };
        for j in 0..10 {
            let method = if j == 9 { "POST" } else { "GET" };
            let path = format!("/svc{s}/r{j}/items/42");
            let m = router.find(method, Some(&host), &path).unwrap();
            assert_eq!(m.service, Some(s), "{host} {path}");
            assert_eq!(router.name(&m), Some(format!("r{s}-{j}").as_str()));
            assert_eq!(m.matched_prefix, format!("/svc{s}/r{j}").len());
        }
        // Wrong method for the POST-only route; hostless-only services still match without a host.
        assert!(router
            .find("GET", Some(&host), &format!("/svc{s}/r9"))
            .is_none());
        let no_host = router.find("GET", None, &format!("/svc{s}/r0"));
        assert_eq!(
            no_host.map(|m| m.service),
            (s % 2 == 1 && s % 10 != 5).then_some(Some(s))
        );
    }
    assert!(router
        .find("GET", Some("h0.example.com"), "/nothing")
        .is_none());
    assert!(router
        .find("GET", Some("h0.example.com"), "/svc2/r0")
        .is_none());
    assert_eq!(
        router
            .find("GET", Some("h0.example.com"), "/svc1/r0")
            .map(|m| m.service),
        Some(Some(1))
    );
}

#[test]
fn compile_refuses_header_names_that_are_not_tokens() {
    let mut route = Route::new(Uuid::from_u128(1));
    route.headers.insert("x y".into(), vec!["a".into()]);
    let mut service = Service::new(Uuid::from_u128(2), "up");
    service.routes.push(route);
    let config = Config {
        services: vec![service],
        ..Config::default()
    };
    let err = Router::compile(&config).unwrap_err();
    assert_eq!(
        err.lines(),
        vec!["services[0].routes[0].headers.x y: invalid header name \"x y\""]
    );
}

/// [`Router::find`] over TLS or plain HTTP, without headers.
fn find_over(r: &Table, https: bool, path: &str) -> Option<RouteMatch> {
    r.router.find(&RequestView {
        method: "GET",
        host: None,
        path,
        headers: &HeaderMap::new(),
        https,
        query: None,
        src: None,
        dst: None,
    })
}

#[test]
fn kong_docs_evaluation_order_regex_by_priority_then_prefixes_by_length() {
    // Kong's "Evaluation order" example: regex paths first, by regex_priority; prefix paths after them,
    // longest first. The regex routes overlap on purpose so that regex_priority, not length or file order,
    // has to decide.
    let (_, r) = router(
        r#"
services:
- host: up
  routes:
  - {name: status, paths: ["~/status/\\d+"], regex_priority: 0}
  - {name: version, paths: [/version]}
  - {name: version-n, paths: ["~/version/\\d+"], regex_priority: 0}
  - {name: version-status, paths: ["~/version/\\d+/status/\\d+"], regex_priority: 6}
  - {name: version-any, paths: [/version/any/]}
"#,
    );
    let cases = [
        ("/version/1/status/2", "version-status"),
        ("/version/1/other", "version-n"),
        ("/status/3", "status"),
        ("/version/any/x", "version-any"),
        ("/version/any", "version"),
        ("/version/x", "version"),
    ];
    for (path, want) in cases {
        assert_eq!(hit(&r, "GET", None, path).as_deref(), Some(want), "{path}");
    }
    assert_eq!(hit(&r, "GET", None, "/status/x"), None);
}

#[test]
fn regex_priority_beats_length_and_file_order_and_ties_go_to_the_first() {
    let (_, r) = router(
        r#"
services:
- host: up
  routes:
  - {name: long, paths: ["~/a/b/c"], regex_priority: 1}
  - {name: short-high, paths: ["~/a"], regex_priority: 2}
  - {name: negative, paths: ["~/n/x"], regex_priority: -1}
  - {name: zero, paths: ["~/n"]}
  - {name: tie-first, paths: ["~/t/\\d"]}
  - {name: tie-second, paths: ["~/t/1"]}
"#,
    );
    assert_eq!(
        hit(&r, "GET", None, "/a/b/c").as_deref(),
        Some("short-high")
    );
    assert_eq!(hit(&r, "GET", None, "/n/x").as_deref(), Some("zero"));
    assert_eq!(hit(&r, "GET", None, "/t/1").as_deref(), Some("tie-first"));
}

#[test]
fn any_regex_path_before_any_prefix_path() {
    let (_, r) = router(
        r#"
services:
- host: up
  routes:
  - {name: long-prefix, paths: [/api/v1/users/list]}
  - {name: regex, paths: ["~/api/v\\d"]}
"#,
    );
    // The prefix is longer and also matches: regex paths still come first (Kong's REGEX_URL_BIT).
    assert_eq!(
        hit(&r, "GET", None, "/api/v1/users/list").as_deref(),
        Some("regex")
    );
    assert_eq!(
        hit(&r, "GET", None, "/api/vX/users/list"),
        None,
        "a prefix must match whole"
    );
    let (_, r) = router(
        r#"
services:
- host: up
  routes:
  - {name: long-prefix, paths: [/api/vX/users]}
  - {name: regex, paths: ["~/api/v\\d"]}
"#,
    );
    assert_eq!(
        hit(&r, "GET", None, "/api/vX/users/list").as_deref(),
        Some("long-prefix"),
        "a prefix wins when no regex matches"
    );
}

#[test]
fn more_matcher_kinds_plain_hosts_and_header_count_come_before_regex() {
    let (_, r) = router(
        r#"
services:
- host: up
  routes:
  - {name: regex, paths: ["~/api/.*"], regex_priority: 100}
  - {name: get-root, paths: [/], methods: [GET]}
  - {name: wild-regex, hosts: ["*.example.com"], paths: ["~/api"], regex_priority: 100}
  - {name: plain-root, hosts: [api.example.com], paths: [/]}
  - {name: one-header-regex, paths: ["~/h"], headers: {x-a: ["1"]}, regex_priority: 100}
  - {name: two-headers-root, paths: [/], headers: {x-a: ["1"], x-b: ["2"]}}
"#,
    );
    // Two kinds (methods + paths) before one (paths), whatever the regex priority.
    assert_eq!(hit(&r, "GET", None, "/api/x").as_deref(), Some("get-root"));
    assert_eq!(hit(&r, "POST", None, "/api/x").as_deref(), Some("regex"));
    // Same kinds (hosts + paths): only plain hosts before a wildcard.
    assert_eq!(
        hit(&r, "POST", Some("api.example.com"), "/api").as_deref(),
        Some("plain-root")
    );
    assert_eq!(
        hit(&r, "POST", Some("www.example.com"), "/api").as_deref(),
        Some("wild-regex")
    );
    // Same kinds (headers + paths): more headers before a regex.
    let both = [("x-a", "1"), ("x-b", "2")];
    assert_eq!(
        hit_with(&r, "POST", None, "/h", &both).as_deref(),
        Some("two-headers-root")
    );
    assert_eq!(
        hit_with(&r, "POST", None, "/h", &both[..1]).as_deref(),
        Some("one-header-regex")
    );
}

#[test]
fn wildcard_host_alone_ranks_below_a_path() {
    // traditional_compatible: a wildcard host adds no bit, a prefix adds its length, so at one matcher kind
    // each the path route wins (Kong's older traditional router put hosts first); a plain host still wins.
    let (_, r) = router(
        r#"
services:
- host: up
  routes:
  - {name: wild, hosts: ["*.example.com"]}
  - {name: path, paths: [/foo]}
  - {name: plain, hosts: [plain.example.com]}
"#,
    );
    assert_eq!(
        hit(&r, "GET", Some("a.example.com"), "/foo").as_deref(),
        Some("path")
    );
    assert_eq!(
        hit(&r, "GET", Some("a.example.com"), "/bar").as_deref(),
        Some("wild")
    );
    assert_eq!(
        hit(&r, "GET", Some("plain.example.com"), "/foo").as_deref(),
        Some("plain")
    );
}

#[test]
fn a_route_with_both_kinds_of_paths_ranks_each_path_on_its_own() {
    let (_, r) = router(
        r#"
services:
- host: up
  routes:
  - {name: mixed, paths: [/short, "~/re/\\d+$"]}
  - {name: longer, paths: [/short/longer]}
  - {name: re-low, paths: ["~/re/1"], regex_priority: -5}
"#,
    );
    assert_eq!(
        hit(&r, "GET", None, "/short/longer/x").as_deref(),
        Some("longer")
    );
    assert_eq!(hit(&r, "GET", None, "/short/x").as_deref(), Some("mixed"));
    assert_eq!(hit(&r, "GET", None, "/re/12").as_deref(), Some("mixed"));
    assert_eq!(hit(&r, "GET", None, "/re/1x").as_deref(), Some("re-low"));
    let m = r.find("GET", None, "/re/12").unwrap();
    assert_eq!(
        (m.matched_prefix, m.regex.is_some()),
        ("/re/12".len(), true)
    );
    let m = r.find("GET", None, "/short/x").unwrap();
    assert_eq!((m.matched_prefix, m.regex), ("/short".len(), None));
}

#[test]
fn regex_paths_are_anchored_at_the_start_as_kong_does() {
    let (_, r) = router(
        r#"
services:
- host: up
  routes:
  - {name: users, paths: ["~/users/\\d+$"]}
  - {name: alternation, paths: ["~/alt|/b"]}
  - {name: unicode, paths: ["~/caf\u00e9/(?<n>\\d+)"]}
"#,
    );
    assert_eq!(hit(&r, "GET", None, "/users/42").as_deref(), Some("users"));
    for path in ["/api/users/42", "/users/42/x", "/users/", "/usersx/42"] {
        assert_eq!(hit(&r, "GET", None, path), None, "{path}");
    }
    // Kong prepends "^" to the pattern as written: only the first alternative is anchored.
    assert_eq!(
        hit(&r, "GET", None, "/alt/x").as_deref(),
        Some("alternation")
    );
    assert_eq!(hit(&r, "GET", None, "/x/b").as_deref(), Some("alternation"));
    assert_eq!(hit(&r, "GET", None, "/x/alt"), None);
    assert_eq!(hit(&r, "GET", None, "/café/7").as_deref(), Some("unicode"));
}

#[test]
fn strip_path_removes_what_the_regex_matched() {
    // Kong's docs: `~/version/\d+/service` with strip_path, `/version/1/service/path/to/resource` goes
    // upstream as `/path/to/resource`.
    let (c, r) = router(
        r#"
services:
- host: up
  routes:
  - {name: versioned, paths: ["~/version/\\d+/service"]}
  - {name: kept, paths: ["~/keep/\\d+"], strip_path: false}
- host: up2
  path: /base
  routes:
  - {name: based, paths: ["~/b/[a-z]+"]}
"#,
    );
    let path = "/version/1/service/path/to/resource";
    let m = r.find("GET", None, path).unwrap();
    assert_eq!(r.name(&m), Some("versioned"));
    assert_eq!(m.matched_prefix, "/version/1/service".len());
    assert_eq!(upstream_path(None, path, &m), "/path/to/resource");
    let m = r.find("GET", None, "/version/12/service").unwrap();
    assert_eq!(upstream_path(None, "/version/12/service", &m), "/");
    let m = r.find("GET", None, "/keep/3/x").unwrap();
    assert_eq!(upstream_path(None, "/keep/3/x", &m), "/keep/3/x");
    let m = r.find("GET", None, "/b/abc/d").unwrap();
    assert_eq!(
        upstream_path(
            c.services[m.service.unwrap()].path.as_deref(),
            "/b/abc/d",
            &m
        ),
        "/base/d"
    );
}

#[test]
fn uri_captures_positional_and_named() {
    // Kong's docs: `/version/(?<version>\d+)/users/(?<user>\S+)` on `/version/1/users/john`.
    let (_, r) = router(
        r#"
services:
- host: up
  routes:
  - {name: named, paths: ["~/version/(?<version>\\d+)/users/(?<user>\\S+)"]}
  - {name: optional, paths: ["~/opt/(\\d+)(?P<tail>/x)?$"]}
  - {name: plain-regex, paths: ["~/plain/\\d+"]}
  - {name: prefix, paths: [/prefix]}
"#,
    );
    let path = "/version/1/users/john";
    let m = r.find("GET", None, path).unwrap();
    let caps = r.router.uri_captures(&m, path).unwrap();
    assert_eq!(caps.positional, vec![Some(path), Some("1"), Some("john")]);
    assert_eq!(caps.named, vec![("version", "1"), ("user", "john")]);
    let m = r.find("GET", None, "/opt/5").unwrap();
    let caps = r.router.uri_captures(&m, "/opt/5").unwrap();
    assert_eq!(caps.positional, vec![Some("/opt/5"), Some("5"), None]);
    assert!(
        caps.named.is_empty(),
        "a group that took no part is left out"
    );
    let m = r.find("GET", None, "/plain/1").unwrap();
    assert_eq!(r.router.uri_captures(&m, "/plain/1"), None);
    let m = r.find("GET", None, "/prefix/1").unwrap();
    assert_eq!(r.router.uri_captures(&m, "/prefix/1"), None);
}

#[test]
fn methods_and_headers_still_filter_regex_candidates() {
    // Same host bucket, several regexes (so the RegexSet is used): the best matching regex whose route
    // refuses the method or headers gives way to the next one.
    let (_, r) = router(
        r#"
services:
- host: up
  routes:
  - {name: post-only, paths: ["~/items/\\d+"], methods: [POST], regex_priority: 10}
  - {name: tenant, paths: ["~/items/\\d+"], headers: {x-tenant: [acme]}, regex_priority: 5}
  - {name: any, paths: ["~/items/"]}
  - {name: other, paths: ["~/other"]}
"#,
    );
    assert_eq!(
        hit(&r, "POST", None, "/items/1").as_deref(),
        Some("post-only")
    );
    assert_eq!(
        hit_with(&r, "GET", None, "/items/1", &[("x-tenant", "acme")]).as_deref(),
        Some("tenant")
    );
    assert_eq!(hit(&r, "GET", None, "/items/1").as_deref(), Some("any"));
    assert_eq!(hit(&r, "GET", None, "/items/x").as_deref(), Some("any"));
    assert_eq!(hit(&r, "GET", None, "/other/x").as_deref(), Some("other"));
}

#[test]
fn regex_routes_per_host_bucket() {
    let (_, r) = router(
        r#"
services:
- host: up
  routes:
  - {name: a, hosts: [a.test], paths: ["~/x/\\d+"]}
  - {name: b, hosts: [b.test, "*.wild.test"], paths: ["~/x/\\d+", "~/y"]}
  - {name: any, paths: ["~/x"]}
"#,
    );
    assert_eq!(hit(&r, "GET", Some("a.test"), "/x/1").as_deref(), Some("a"));
    assert_eq!(hit(&r, "GET", Some("a.test"), "/y").as_deref(), None);
    assert_eq!(hit(&r, "GET", Some("b.test"), "/y/z").as_deref(), Some("b"));
    assert_eq!(
        hit(&r, "GET", Some("q.wild.test"), "/x/2").as_deref(),
        Some("b")
    );
    assert_eq!(
        hit(&r, "GET", Some("c.test"), "/x/1").as_deref(),
        Some("any")
    );
    assert_eq!(
        hit(&r, "GET", Some("a.test"), "/x/z").as_deref(),
        Some("any")
    );
}

#[test]
fn https_only_routes_flag_plain_http_requests() {
    let (_, r) = router(
        r#"
services:
- host: up
  routes:
  - {name: secure, protocols: [https], paths: [/secure]}
  - {name: moved, protocols: [https], paths: ["~/moved/\\d+"], https_redirect_status_code: 301}
  - {name: both, protocols: [http, https], paths: [/both]}
  - {name: http-only, protocols: [http], paths: [/]}
"#,
    );
    let m = find_over(&r, false, "/secure/x").unwrap();
    assert_eq!((r.name(&m), m.https_redirect), (Some("secure"), Some(426)));
    let m = find_over(&r, true, "/secure/x").unwrap();
    assert_eq!((r.name(&m), m.https_redirect), (Some("secure"), None));
    let m = find_over(&r, false, "/moved/1").unwrap();
    assert_eq!((r.name(&m), m.https_redirect), (Some("moved"), Some(301)));
    let m = find_over(&r, false, "/both").unwrap();
    assert_eq!((r.name(&m), m.https_redirect), (Some("both"), None));
    // Protocols are no matcher: the https-only route keeps its place (no fallback to the http route), and
    // an http-only route also answers over TLS (both as in Kong).
    let m = find_over(&r, true, "/other").unwrap();
    assert_eq!((r.name(&m), m.https_redirect), (Some("http-only"), None));
    let m = find_over(&r, false, "/moved/x").unwrap();
    assert_eq!((r.name(&m), m.https_redirect), (Some("http-only"), None));
}

#[test]
fn compile_reports_a_regex_over_the_size_limit() {
    // Valid syntax (validation accepts it), but too big once compiled: an error at its field, no panic.
    let mut route = Route::new(Uuid::from_u128(1));
    route.paths = vec!["~/(\\w{100}){100}".into()];
    assert!(crate::checks::route_path(&route.paths[0]).is_ok());
    let mut service = Service::new(Uuid::from_u128(2), "up");
    service.routes.push(route);
    let config = Config {
        services: vec![service],
        ..Config::default()
    };
    let lines = Router::compile(&config).unwrap_err().lines();
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].starts_with("services[0].routes[0].paths[0]: invalid regex: '/(\\w{100}){100}' (")
            && lines[0].contains("size limit"),
        "{lines:?}"
    );
}

#[test]
fn thousands_of_regex_routes() {
    // 1,000 host-less regex routes in one bucket (one RegexSet), 1,000 more spread over 100 hosts, beside
    // prefix routes: every request finds its own route.
    let mut config = Config::default();
    for s in 0..100u128 {
        let mut service = Service::new(Uuid::from_u128(s + 1), format!("up{s}"));
        for j in 0..10u128 {
            let n = s * 10 + j;
            let mut anyhost = Route::new(Uuid::from_u128(1_000_000 + n));
            anyhost.name = Some(format!("any{n}"));
            anyhost.paths = vec![format!("~/svc{n}/items/(?<id>\\d+)$")];
            let mut hosted = Route::new(Uuid::from_u128(2_000_000 + n));
            hosted.name = Some(format!("host{n}"));
            hosted.hosts = vec![format!("h{s}.example.com")];
            hosted.paths = vec![format!("~/r{j}/[a-z]+/\\d+"), format!("/p{j}")];
            service.routes.push(anyhost);
            service.routes.push(hosted);
        }
        config.services.push(service);
    }
    crate::validate::validate(&config).unwrap();
    let router = Table::new(&config);
    assert_eq!(router.len(), 2000);
    for s in 0..100usize {
        let host = format!("h{s}.example.com");
        for j in 0..10 {
            let n = s * 10 + j;
            let path = format!("/svc{n}/items/{}", n * 7);
            let m = router.find("GET", Some(&host), &path).unwrap();
            assert_eq!(router.name(&m), Some(format!("any{n}").as_str()));
            let caps = router.router.uri_captures(&m, &path).unwrap();
            assert_eq!(caps.named, vec![("id", (n * 7).to_string().as_str())]);
            assert!(router
                .find("GET", None, &format!("/svc{n}/items/x"))
                .is_none());
            let m = router
                .find("GET", Some(&host), &format!("/r{j}/abc/1/z"))
                .unwrap();
            assert_eq!(router.name(&m), Some(format!("host{n}").as_str()));
            assert_eq!(m.matched_prefix, format!("/r{j}/abc/1").len());
            let m = router
                .find("GET", Some(&host), &format!("/p{j}/q"))
                .unwrap();
            assert_eq!(router.name(&m), Some(format!("host{n}").as_str()));
            assert!(router.find("GET", None, &format!("/r{j}/abc/1")).is_none());
        }
    }
}

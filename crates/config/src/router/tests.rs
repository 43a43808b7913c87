//! Router tests: host, method, header and path matching, Kong's priorities, and a 10k-route table.

use super::*;
use crate::load::parse_str;
use crate::model::{Route, Service};

fn router(yaml: &str) -> (Config, Router) {
    let config = parse_str(&format!("_format_version: \"3.0\"\n{yaml}")).unwrap();
    let router = Router::compile(&config).unwrap();
    (config, router)
}

/// Name of the route matched for (method, host, path).
fn hit(r: &Router, method: &str, host: Option<&str>, path: &str) -> Option<String> {
    r.find(method, host, path)
        .map(|m| m.route_name.unwrap_or_default())
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
fn headers_need_find_with_headers() {
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
    let has = |name: &str, value: &str| name == "x-version" && value == "v3";
    let m = r.find_with_headers("GET", None, "/", &has).unwrap();
    assert_eq!(m.route_name.as_deref(), Some("v2"));
    let other = |_: &str, _: &str| false;
    assert_eq!(
        r.find_with_headers("GET", None, "/", &other)
            .unwrap()
            .route_name
            .as_deref(),
        Some("plain")
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
    assert_eq!((m.service, m.strip_path, m.preserve_host), (0, true, false));
    assert_eq!(
        upstream_path(c.services[m.service].path.as_deref(), "/", &m),
        "/anything"
    );
    let m = r.find("GET", None, "/get").unwrap();
    assert_eq!(
        upstream_path(c.services[m.service].path.as_deref(), "/get", &m),
        "/anything/get"
    );
    let m = r.find("GET", None, "/keep/me").unwrap();
    assert_eq!(
        (m.route_name.as_deref(), m.strip_path, m.preserve_host),
        (Some("keep"), false, true)
    );
    assert_eq!(
        upstream_path(c.services[0].path.as_deref(), "/keep/me", &m),
        "/anything/keep/me"
    );
    let m = r.find("GET", None, "/api/v1/x").unwrap();
    assert_eq!(m.service, 1);
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
    assert_eq!((m.service, m.route_id), (1, c.routes[0].id));
}

#[test]
fn compile_reports_unresolved_services_and_regex_paths() {
    let mut route = Route::new(Uuid::from_u128(1));
    route.paths = vec!["/x".into()];
    route.service = Some(crate::model::EntityRef::Key("ghost".into()));
    let mut regex = Route::new(Uuid::from_u128(2));
    regex.paths = vec!["/ok".into(), "~/a/\\d+".into()];
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
            "services[0].routes[0].paths[1]: regex paths (\"~\" prefix) are not supported yet",
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
    let router = Router::compile(&config).unwrap();
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
            assert_eq!(m.service, s, "{host} {path}");
            assert_eq!(m.route_name.as_deref(), Some(format!("r{s}-{j}").as_str()));
            assert_eq!(m.matched_prefix, format!("/svc{s}/r{j}").len());
        }
        // Wrong method for the POST-only route; hostless-only services still match without a host.
        assert!(router
            .find("GET", Some(&host), &format!("/svc{s}/r9"))
            .is_none());
        let no_host = router.find("GET", None, &format!("/svc{s}/r0"));
        assert_eq!(
            no_host.map(|m| m.service),
            (s % 2 == 1 && s % 10 != 5).then_some(s)
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
        Some(1)
    );
}

//! Router tests of expression routes: priority order, ties, mixing with traditional routes, `strip_path`
//! and captures, protocols, and the load-time checks.

use http::{HeaderMap, HeaderName};

use super::{RequestView, RouteMatch, Router};
use crate::load::parse_str;
use crate::model::Config;

fn load(yaml: &str) -> Result<Config, String> {
    parse_str(&format!("_format_version: \"3.0\"\n{yaml}")).map_err(|e| e.to_string())
}

fn table(yaml: &str) -> (Config, Router) {
    let config = load(yaml).unwrap();
    let router = Router::compile(&config).unwrap();
    (config, router)
}

fn find(router: &Router, https: bool, path: &str, headers: &[(&str, &str)]) -> Option<RouteMatch> {
    let mut map = HeaderMap::new();
    for (n, v) in headers {
        map.append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    router.find(&RequestView {
        method: "GET",
        host: Some("example.com:8000"),
        path,
        headers: &map,
        https,
        query: Some("v=1"),
        src: Some("127.0.0.1:5000".parse().unwrap()),
        dst: Some("127.0.0.1:8000".parse().unwrap()),
    })
}

fn name(config: &Config, m: Option<RouteMatch>) -> Option<String> {
    let m = m?;
    config
        .routes_with_services()
        .nth(m.route)?
        .route
        .name
        .clone()
}

const ROUTES: &str = r#"
services:
- name: s
  url: http://127.0.0.1:9
  routes:
  - {name: low, expression: 'http.path ^= "/a"', priority: 1}
  - {name: high, expression: 'http.path ^= "/a/b"', priority: 10}
  - {name: header, expression: 'http.path ^= "/a" && http.headers.x_v == "2"', priority: 20}
  - {name: traditional, paths: [/a/b/c]}
  - {name: regex, paths: ["~/t/\\d+"], regex_priority: 5}
  - {name: captures, expression: 'http.path ~ "^/cap/(?<id>\\d+)" && http.queries.v == "1"'}
  - {name: host, expression: 'http.host == "example.com" && http.path == "/h"', strip_path: false}
"#;

#[test]
fn expression_routes_by_priority_before_traditional_ones() {
    let (config, r) = table(ROUTES);
    assert_eq!(r.len(), 7);
    let hit = |path: &str, headers: &[(&str, &str)]| name(&config, find(&r, false, path, headers));
    assert_eq!(hit("/a/x", &[]).as_deref(), Some("low"));
    assert_eq!(hit("/a/b/x", &[]).as_deref(), Some("high"));
    assert_eq!(hit("/a/b/x", &[("x-v", "2")]).as_deref(), Some("header"));
    // Kong's expressions flavor ranks every expression route above every traditional one.
    assert_eq!(hit("/a/b/c", &[]).as_deref(), Some("high"));
    assert_eq!(hit("/t/12", &[]).as_deref(), Some("regex"));
    assert_eq!(
        hit("/h", &[]).as_deref(),
        Some("host"),
        "http.host is without the port"
    );
    assert_eq!(hit("/zzz", &[]), None);
}

#[test]
fn strip_path_and_captures_come_from_the_http_path_predicate() {
    let (_, r) = table(ROUTES);
    let m = find(&r, false, "/a/b/rest", &[]).unwrap();
    assert_eq!((m.matched_prefix, m.strip_path), (4, true));
    let m = find(&r, false, "/cap/42/x", &[]).unwrap();
    assert_eq!(m.matched_prefix, 7);
    let caps = r.uri_captures(&m, "/cap/42/x").unwrap();
    assert_eq!(caps.positional, vec![Some("/cap/42"), Some("42")]);
    assert_eq!(caps.named, vec![("id", "42")]);
    let m = find(&r, false, "/h", &[]).unwrap();
    assert_eq!((m.matched_prefix, m.strip_path), (2, false));
}

#[test]
fn equal_priorities_go_to_the_higher_id_and_protocols_filter_as_in_kong() {
    let (config, r) = table(
        r#"
services:
- name: s
  url: http://127.0.0.1:9
  routes:
  - {name: first, id: 00000000-0000-0000-0000-000000000001, expression: 'http.path ^= "/"'}
  - {name: second, id: 00000000-0000-0000-0000-000000000002, expression: 'http.path ^= "/"'}
  - {name: plain-only, protocols: [http], expression: 'http.path ^= "/p"', priority: 5}
  - {name: tls-only, protocols: [https], expression: 'http.path ^= "/s"', priority: 5}
"#,
    );
    let hit = |https: bool, path: &str| name(&config, find(&r, https, path, &[]));
    assert_eq!(hit(false, "/x").as_deref(), Some("second"));
    assert_eq!(hit(false, "/p").as_deref(), Some("plain-only"));
    assert_eq!(
        hit(true, "/p").as_deref(),
        Some("second"),
        "[http] only: not over TLS"
    );
    let m = find(&r, false, "/s", &[]).unwrap();
    assert_eq!(
        m.https_redirect,
        Some(426),
        "[https] only: plain HTTP is redirected"
    );
    assert_eq!(find(&r, true, "/s", &[]).unwrap().https_redirect, None);
}

#[test]
fn load_refuses_mixing_and_bad_expressions_with_the_field_path() {
    let refused = |route: &str| {
        load(&format!(
            "services:\n- name: s\n  url: http://127.0.0.1:9\n  routes:\n  - {route}\n"
        ))
        .unwrap_err()
    };
    let e = refused(r#"{expression: 'http.path == "/"', paths: [/]}"#);
    assert!(e.contains("services[0].routes[0]: Router Expression failed validation: cannot set 'expression' with 'methods', 'hosts', 'paths', 'headers', 'snis', 'sources' or 'destinations' simultaneously"), "{e}");
    let e = refused(r#"{paths: [/], priority: 3}"#);
    assert!(e.contains("cannot set 'priority' with 'methods'"), "{e}");
    let e = refused(r#"{expression: 'http.path == "/"', regex_priority: 3}"#);
    assert!(
        e.contains("cannot set 'regex_priority' with 'expression' simultaneously"),
        "{e}"
    );
    let e = refused(r#"{expression: 'http.path == "/"', priority: -1}"#);
    assert!(
        e.contains("services[0].routes[0].priority: value should be between 0 and 70368744177663"),
        "{e}"
    );
    let e = refused(r#"{expression: 'http.path == 1'}"#);
    assert!(e.contains("services[0].routes[0].expression: Router Expression failed validation: Type mismatch between the LHS and RHS values of predicate"), "{e}");
    let e = refused(r#"{expression: 'http.path ~ "("'}"#);
    assert!(
        e.contains("services[0].routes[0].expression: Router Expression failed validation:"),
        "{e}"
    );
}

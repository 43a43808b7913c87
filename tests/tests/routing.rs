//! End-to-end checks of header matching (issue 13): routes with `headers` in front of a real httpbin.
//!
//! Each test starts its own httpbin and gateway on free loopback ports. Which route answered is read from
//! the upstream URL httpbin echoes: every route's service has its own path under `/anything`.

use std::time::{Duration, Instant};

use e2e::metrics::scrape_sum;
use e2e::{config_value, http, to_yaml, Gateway, Httpbin, Ports};
use reqwest::blocking::Response;
use serde_json::{json, Value};

const NO_ROUTE: &str = r#"{"message":"no Route matched with those values"}"#;

/// A gateway whose only content is `services` (JSON, Kong's declarative shape).
fn gateway_with_services(services: Value) -> Gateway {
    let mut config = config_value(Ports::free(), "http://127.0.0.1:1", None);
    config["services"] = services;
    Gateway::start(&to_yaml(&config))
}

/// GET `path` through the gateway with `headers` (repeated names are sent as repeated header lines).
fn get(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut req = http::client().get(format!("{}{path}", gw.proxy_url()));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send()
        .unwrap_or_else(|e| panic!("GET {path}: {e}\n--- gateway.log ---\n{}", gw.log()))
}

/// The path httpbin was asked for (a 200 echo is required), e.g. `/anything/v2/x`.
fn upstream_path(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> String {
    let (status, _, body) = http::parts(get(gw, path, headers));
    assert_eq!(
        status,
        200,
        "GET {path} {headers:?}: expected httpbin's echo, got {status}: {body}\n--- gateway.log ---\n{}",
        gw.log()
    );
    let echo: Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    e2e::httpbin::echoed_path(&echo)
}

fn assert_no_route(gw: &Gateway, path: &str, headers: &[(&str, &str)]) {
    let (status, content_type, body) = http::parts(get(gw, path, headers));
    assert_eq!(status, 404, "GET {path} {headers:?}: {body}");
    assert_eq!(body, NO_ROUTE, "GET {path} {headers:?}");
    assert!(
        content_type.starts_with("application/json"),
        "GET {path} {headers:?}: content type {content_type:?}"
    );
}

#[test]
fn a_headers_route_matches_only_with_one_of_its_values() {
    let httpbin = Httpbin::start();
    let gw = gateway_with_services(json!([{
        "name": "v2",
        "url": format!("{}/anything/v2", httpbin.url()),
        "routes": [{ "name": "v2-route", "paths": ["/api"], "headers": { "x-version": ["v2"] } }],
    }]));
    assert_eq!(
        upstream_path(&gw, "/api/x", &[("X-Version", "v2")]),
        "/anything/v2/x"
    );
    assert_no_route(&gw, "/api/x", &[]);
    assert_no_route(&gw, "/api/x", &[("X-Version", "v1")]);
    assert_no_route(&gw, "/api/x", &[("X-Other", "v2")]);
    assert_no_route(&gw, "/other", &[("X-Version", "v2")]);
    // Metrics name the headers route's service, and the misses as no route.
    let admin = gw.admin_url();
    let requests = "gateway_http_requests_total";
    wait_for_metric(&admin, requests, &[("service", "v2"), ("code", "2xx")], 1.0);
    wait_for_metric(&admin, requests, &[("service", "-"), ("code", "404")], 4.0);
    wait_for_metric(&admin, "gateway_no_route_total", &[], 4.0);
}

/// Waits (2 s at most) until counter `name` with `labels` sums to `expected`: metrics are recorded in the
/// logging phase, just after the response went out.
fn wait_for_metric(admin: &str, name: &str, labels: &[(&str, &str)], expected: f64) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let got = scrape_sum(admin, name, labels);
        if got == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name}{labels:?}: {got}, expected {expected}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn header_names_and_values_are_case_insensitive() {
    let httpbin = Httpbin::start();
    let gw = gateway_with_services(json!([{
        "name": "v2",
        "url": format!("{}/anything/v2", httpbin.url()),
        "routes": [{ "name": "v2-route", "paths": ["/api"], "headers": { "X-Version": ["V2", "beta"] } }],
    }]));
    for value in ["v2", "V2", "BETA", "Beta"] {
        for name in ["x-version", "X-VERSION", "X-Version"] {
            assert_eq!(
                upstream_path(&gw, "/api", &[(name, value)]),
                "/anything/v2",
                "{name}: {value}"
            );
        }
    }
    // Values are whole strings: neither a prefix nor a comma-separated list element is enough.
    assert_no_route(&gw, "/api", &[("X-Version", "v")]);
    assert_no_route(&gw, "/api", &[("X-Version", "v1, v2")]);
}

#[test]
fn every_listed_header_is_required_and_any_repeated_value_matches() {
    let httpbin = Httpbin::start();
    let gw = gateway_with_services(json!([{
        "name": "two",
        "url": format!("{}/anything/two", httpbin.url()),
        "routes": [{
            "name": "two-headers",
            "headers": { "x-version": ["v2"], "x-tenant": ["acme", "globex"] },
        }],
    }]));
    assert_eq!(
        upstream_path(&gw, "/p", &[("X-Version", "v2"), ("X-Tenant", "globex")]),
        "/anything/two/p"
    );
    assert_no_route(&gw, "/p", &[("X-Version", "v2")]);
    assert_no_route(&gw, "/p", &[("X-Tenant", "acme")]);
    // The same header sent twice: one matching value is enough.
    assert_eq!(
        upstream_path(
            &gw,
            "/p",
            &[
                ("X-Version", "v1"),
                ("X-Version", "v2"),
                ("X-Tenant", "acme")
            ]
        ),
        "/anything/two/p"
    );
}

#[test]
fn a_headers_route_beats_the_same_route_without_headers() {
    let httpbin = Httpbin::start();
    let gw = gateway_with_services(json!([
        {
            "name": "plain",
            "url": format!("{}/anything/plain", httpbin.url()),
            "routes": [{ "name": "plain-route", "paths": ["/api"] }],
        },
        {
            "name": "v2",
            "url": format!("{}/anything/v2", httpbin.url()),
            "routes": [{ "name": "v2-route", "paths": ["/api"], "headers": { "x-version": ["v2"] } }],
        },
    ]));
    assert_eq!(
        upstream_path(&gw, "/api/a", &[("X-Version", "v2")]),
        "/anything/v2/a"
    );
    assert_eq!(
        upstream_path(&gw, "/api/a", &[("X-Version", "v1")]),
        "/anything/plain/a"
    );
    assert_eq!(upstream_path(&gw, "/api/a", &[]), "/anything/plain/a");
}

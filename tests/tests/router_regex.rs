//! End-to-end checks of Kong's router: regex paths (`~/...`), `regex_priority`, `strip_path` with a regex,
//! and routes whose `protocols` are `[https]` asked over plain HTTP (426, or a redirect to `https://`).
//!
//! Each test starts its own httpbin and gateway on free loopback ports. Which route answered is read from
//! the upstream URL httpbin echoes: every route's service has its own path under `/anything`.

mod common;

use std::time::Duration;

use common::{send, Reply};
use e2e::ca::LocalCa;
use e2e::process::wait_for_port;
use e2e::{config_value, free_port, to_yaml, Gateway, Httpbin, Ports};
use serde_json::{json, Value};

/// A gateway whose only content is `services` (JSON, Kong's declarative shape); `tls` adds an ssl listener
/// on that port with that certificate.
fn gateway_with_services(services: Value, tls: Option<(u16, &LocalCa)>) -> Gateway {
    let ports = Ports::free();
    let mut config = config_value(ports, "http://127.0.0.1:1", None);
    config["services"] = services;
    if let Some((port, cert)) = tls {
        config["gateway"]["proxy_listen"] =
            json!(format!("127.0.0.1:{}, 127.0.0.1:{port} ssl", ports.proxy));
        config["gateway"]["ssl_cert"] = json!(cert.cert());
        config["gateway"]["ssl_cert_key"] = json!(cert.key());
    }
    let gw = Gateway::start(&to_yaml(&config));
    if let Some((port, _)) = tls {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        assert!(
            wait_for_port(addr, Duration::from_secs(10), || true),
            "the ssl listener is not up:\n{}",
            gw.log()
        );
    }
    gw
}

/// One service per route, each with its own path under httpbin's `/anything/<name>`.
fn service(httpbin: &Httpbin, name: &str, route: Value) -> Value {
    let mut route = route;
    route["name"] = json!(name);
    json!({
        "name": name,
        "url": format!("{}/anything/{name}", httpbin.url()),
        "routes": [route],
    })
}

/// GET `path` through the plain proxy listener.
fn get(gw: &Gateway, path: &str) -> Reply {
    send(common::client().get(format!("{}{path}", gw.proxy_url())))
}

/// The path and query httpbin was asked for (a 200 echo is required), e.g. `/anything/users/users/42`.
fn upstream(gw: &Gateway, path: &str) -> String {
    let r = get(gw, path);
    assert_eq!(
        r.status,
        200,
        "GET {path}: expected httpbin's echo, got {r:?}\n--- gateway.log ---\n{}",
        gw.log()
    );
    upstream_of(&r)
}

fn upstream_of(r: &Reply) -> String {
    e2e::httpbin::echoed_path(&r.json())
}

#[test]
fn regex_paths_match_anchored_and_regex_priority_decides() {
    let httpbin = Httpbin::start();
    let gw = gateway_with_services(
        json!([
            service(
                &httpbin,
                "users",
                json!({"paths": ["~/users/\\d+$"], "strip_path": false})
            ),
            // Overlapping regexes: the more specific one comes first in the file, but the other has the
            // higher regex_priority; a longer prefix path matches too, and regex paths come first.
            service(
                &httpbin,
                "specific",
                json!({"paths": ["~/items/\\d+/detail"], "strip_path": false})
            ),
            service(
                &httpbin,
                "general",
                json!({"paths": ["~/items/"], "regex_priority": 10, "strip_path": false})
            ),
            service(
                &httpbin,
                "prefix",
                json!({"paths": ["/items/1/detail/long"], "strip_path": false})
            ),
            service(
                &httpbin,
                "fallback",
                json!({"paths": ["/"], "strip_path": false})
            ),
        ]),
        None,
    );
    assert_eq!(upstream(&gw, "/users/42"), "/anything/users/users/42");
    // Anchored at the start (Kong prepends "^") and, here, at the end by the pattern's own `$`.
    assert_eq!(
        upstream(&gw, "/users/42/x"),
        "/anything/fallback/users/42/x"
    );
    assert_eq!(
        upstream(&gw, "/api/users/42"),
        "/anything/fallback/api/users/42"
    );
    assert_eq!(upstream(&gw, "/users/abc"), "/anything/fallback/users/abc");
    assert_eq!(
        upstream(&gw, "/items/1/detail/long"),
        "/anything/general/items/1/detail/long"
    );
    assert_eq!(upstream(&gw, "/items/x"), "/anything/general/items/x");
    assert_eq!(upstream(&gw, "/itemsx"), "/anything/fallback/itemsx");
}

#[test]
fn regex_priority_order_follows_the_config_not_the_file_order() {
    // The same two routes with their priorities swapped: the answer swaps too.
    let httpbin = Httpbin::start();
    for (specific, general, want) in [(0, 10, "general"), (10, 0, "specific")] {
        let gw = gateway_with_services(
            json!([
                service(
                    &httpbin,
                    "specific",
                    json!({"paths": ["~/items/\\d+/detail"], "regex_priority": specific})
                ),
                service(
                    &httpbin,
                    "general",
                    json!({"paths": ["~/items/"], "regex_priority": general})
                ),
            ]),
            None,
        );
        let got = upstream(&gw, "/items/7/detail");
        assert!(
            got.starts_with(&format!("/anything/{want}")),
            "priorities specific={specific} general={general}: {got}"
        );
    }
}

#[test]
fn strip_path_removes_what_the_regex_matched() {
    // Kong's docs: `~/version/\d+/service` with strip_path sends `/version/1/service/path/to/resource`
    // upstream as `/path/to/resource` (here under the service path).
    let httpbin = Httpbin::start();
    let gw = gateway_with_services(
        json!([service(
            &httpbin,
            "svc",
            json!({"paths": ["~/version/\\d+/service"]})
        )]),
        None,
    );
    let r = get(&gw, "/version/1/service/path/to/resource?q=1&r=a%20b");
    assert_eq!(r.status, 200, "{r:?}\n{}", gw.log());
    assert_eq!(
        upstream_of(&r),
        "/anything/svc/path/to/resource?q=1&r=a%20b"
    );
    assert_eq!(r.json()["args"], json!({"q": "1", "r": "a b"}));
    assert_eq!(upstream(&gw, "/version/23/service"), "/anything/svc");
    assert_eq!(get(&gw, "/version/x/service").status, 404);
}

#[test]
fn https_only_routes_answer_426_or_redirect_over_plain_http_and_proxy_over_tls() {
    let httpbin = Httpbin::start();
    let cert = LocalCa::new();
    let tls_port = free_port();
    let gw = gateway_with_services(
        json!([
            service(
                &httpbin,
                "secure",
                json!({"paths": ["/secure"], "protocols": ["https"]})
            ),
            service(
                &httpbin,
                "moved",
                json!({"paths": ["~/moved/\\d+"], "protocols": ["https"], "https_redirect_status_code": 301})
            ),
            service(
                &httpbin,
                "temp",
                json!({"paths": ["/temp"], "protocols": ["https"], "https_redirect_status_code": 307})
            ),
            service(
                &httpbin,
                "both",
                json!({"paths": ["/"], "protocols": ["http", "https"]})
            ),
        ]),
        Some((tls_port, &cert)),
    );

    // 426 with Kong's body and Upgrade header.
    let r = get(&gw, "/secure/x");
    assert_eq!(r.status, 426, "{r:?}");
    assert_eq!(r.body, r#"{"message":"Please use HTTPS protocol"}"#);
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{r:?}"
    );
    assert_eq!(r.header("upgrade"), Some("TLS/1.2, HTTP/1.1"), "{r:?}");

    // A redirect to the same URL over https: the Host without its port, path and query as sent.
    let r = send(
        common::client()
            .get(format!("{}/moved/7?a=1&b=x%2Fy", gw.proxy_url()))
            .header("Host", "API.Example.com:8000"),
    );
    assert_eq!(r.status, 301, "{r:?}");
    assert_eq!(
        r.header("location"),
        Some("https://api.example.com/moved/7?a=1&b=x%2Fy"),
        "{r:?}"
    );
    assert_eq!(r.body, "");
    let r = get(&gw, "/temp");
    assert_eq!(r.status, 307, "{r:?}");
    assert_eq!(
        r.header("location"),
        Some("https://127.0.0.1/temp"),
        "{r:?}"
    );

    // Only when the https-only route is the one that matches: `/moved/x` is not its regex.
    assert_eq!(upstream(&gw, "/moved/x"), "/anything/both/moved/x");

    // Over TLS the same routes proxy.
    let https = cert.client();
    let base = format!("https://127.0.0.1:{tls_port}");
    for (path, want) in [
        ("/secure/x", "/anything/secure/x"),
        ("/moved/7", "/anything/moved"),
        ("/temp", "/anything/temp"),
    ] {
        let r = send(https.get(format!("{base}{path}")));
        assert_eq!(r.status, 200, "https {path}: {r:?}\n{}", gw.log());
        assert_eq!(upstream_of(&r), want, "https {path}");
    }

    // The Admin API shows the field, with Kong's default.
    let (status, body) = e2e::admin::get(&format!("{}/routes/moved", gw.admin_url()));
    assert_eq!(
        (status, &body["https_redirect_status_code"]),
        (200, &json!(301))
    );
    let (_, body) = e2e::admin::get(&format!("{}/routes/secure", gw.admin_url()));
    assert_eq!(body["https_redirect_status_code"], json!(426));
}

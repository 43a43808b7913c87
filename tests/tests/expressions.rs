//! End-to-end checks of Kong's expressions router (issue 30): routes with `expression` and `priority` in
//! front of a real httpbin, beside a traditional route. Which route answered is read from the upstream URL
//! httpbin echoes: every route's service has its own path under `/anything`.

use e2e::{config_value, http, to_yaml, Gateway, Httpbin, Ports};
use serde_json::{json, Value};

const NO_ROUTE: &str = r#"{"message":"no Route matched with those values"}"#;

/// GET `path` with `headers`: (status, body).
fn get(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = http::client().get(format!("{}{path}", gw.proxy_url()));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req
        .send()
        .unwrap_or_else(|e| panic!("GET {path}: {e}\n--- gateway.log ---\n{}", gw.log()));
    let (status, _, body) = http::parts(resp);
    (status, body)
}

/// The path httpbin was asked for.
fn upstream(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> String {
    let (status, body) = get(gw, path, headers);
    assert_eq!(status, 200, "GET {path} {headers:?}: {body}\n{}", gw.log());
    let echo: Value = serde_json::from_str(&body).expect("httpbin answers JSON");
    e2e::httpbin::echoed_path(&echo)
}

#[test]
fn expression_routes_by_priority_with_headers_regex_and_strip_path() {
    let httpbin = Httpbin::start();
    let service = |name: &str, routes: Value| json!({"name": name, "url": format!("{}/anything/{name}", httpbin.url()), "routes": routes});
    let mut config = config_value(Ports::free(), "http://127.0.0.1:1", None);
    config["services"] = json!([
        service(
            "prefix",
            json!([{"name": "prefix", "expression": r#"http.path ^= "/api""#, "priority": 1}])
        ),
        service(
            "v2",
            json!([{
                "name": "v2",
                "expression": r#"http.path ^= "/api" && lower(http.headers.x_version) == "v2""#,
                "priority": 10,
            }])
        ),
        service(
            "regex",
            json!([{
                "name": "regex",
                "expression": r#"http.path ~ "^/users/\\d+$" && http.method == "GET""#,
                "strip_path": false,
                "priority": 5,
            }])
        ),
        service(
            "traditional",
            json!([{"name": "traditional", "paths": ["/api/old", "/legacy"]}])
        ),
    ]);
    let gw = Gateway::start(&to_yaml(&config));
    assert_eq!(upstream(&gw, "/api/x", &[]), "/anything/prefix/x");
    assert_eq!(
        upstream(&gw, "/api/x", &[("X-Version", "V2")]),
        "/anything/v2/x"
    );
    // The expression route (priority 1) wins over the traditional route's longer prefix.
    assert_eq!(upstream(&gw, "/api/old", &[]), "/anything/prefix/old");
    assert_eq!(upstream(&gw, "/legacy/a", &[]), "/anything/traditional/a");
    assert_eq!(upstream(&gw, "/users/42", &[]), "/anything/regex/users/42");
    for path in ["/users/42/x", "/users/abc", "/other"] {
        assert_eq!(
            get(&gw, path, &[]),
            (404, NO_ROUTE.to_string()),
            "GET {path}"
        );
    }
    // The Admin API shows the expression route's fields and refuses a bad expression with ATC's message.
    let routes: Value = http::client()
        .get(format!("{}/routes/v2", gw.admin_url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(routes["priority"], 10);
    assert_eq!(
        routes["expression"],
        r#"http.path ^= "/api" && lower(http.headers.x_version) == "v2""#
    );
    let resp = http::client()
        .post(format!("{}/routes", gw.admin_url()))
        .json(&json!({"expression": "http.path == 1"}))
        .send()
        .unwrap();
    let (status, _, body) = http::parts(resp);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("Router Expression failed validation: Type mismatch between the LHS and RHS values of predicate"),
        "{body}"
    );
}

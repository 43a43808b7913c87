//! Helpers shared by the end-to-end test files: a patient HTTP client, exact Kong-style error checks,
//! multi-route gateway configs, and the plugin config and timed request of the IdP-fault tests.
#![allow(dead_code)] // each test file uses a different subset

use std::time::{Duration, Instant};

use e2e::{Gateway, Ports};
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{json, Value};

/// `WWW-Authenticate` of every 401 for an issuer on 127.0.0.1 (the realm is the issuer's host, no port).
pub const CHALLENGE_401: &str = r#"Bearer realm="127.0.0.1", error="invalid_token""#;
/// `WWW-Authenticate` of every 403 for an issuer on 127.0.0.1.
pub const CHALLENGE_403: &str = r#"Bearer realm="127.0.0.1", error="insufficient_scope""#;
/// Body of every 401 (without `display_errors`).
pub const UNAUTHORIZED: &str = r#"{"message":"Unauthorized"}"#;
/// Body of every 403 (without `display_errors`).
pub const FORBIDDEN: &str = r#"{"message":"Forbidden"}"#;
/// Body of the 500 for impossible discovery.
pub const UNEXPECTED: &str = r#"{"message":"An unexpected error occurred"}"#;

/// Client timeout: far above any plugin `timeout` the tests set, so a hang shows up as a slow answer
/// (asserted) rather than as a client error.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// A blocking client without proxy or redirects and with [`CLIENT_TIMEOUT`].
pub fn client() -> Client {
    Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(CLIENT_TIMEOUT)
        .build()
        .expect("build the test client")
}

/// A response read to the end.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers as (lowercase name, value) pairs.
    pub headers: Vec<(String, String)>,
    /// Body text.
    pub body: String,
}

impl Reply {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (panics with the body otherwise).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// Headers and body as one string, to search for leaked text.
    pub fn everything(&self) -> String {
        let mut s = String::new();
        for (n, v) in &self.headers {
            s.push_str(&format!("{n}: {v}\n"));
        }
        s.push_str(&self.body);
        s
    }
}

/// Send a request and read the whole response; panics on transport errors (a hang hits [`CLIENT_TIMEOUT`]).
pub fn send(req: RequestBuilder) -> Reply {
    let resp = req.send().unwrap_or_else(|e| panic!("request failed: {e}"));
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = resp.text().expect("read the response body");
    Reply {
        status,
        headers,
        body,
    }
}

/// Assert Kong's exact 401: status, `WWW-Authenticate` and body.
#[track_caller]
pub fn assert_401(r: &Reply, what: &str) {
    assert_eq!(r.status, 401, "{what}: expected 401, got {r:?}");
    assert_eq!(
        r.header("www-authenticate"),
        Some(CHALLENGE_401),
        "{what}: {r:?}"
    );
    assert_eq!(r.body, UNAUTHORIZED, "{what}: {r:?}");
}

/// Assert Kong's exact 403 for missing scopes.
#[track_caller]
pub fn assert_403(r: &Reply, what: &str) {
    assert_eq!(r.status, 403, "{what}: expected 403, got {r:?}");
    assert_eq!(
        r.header("www-authenticate"),
        Some(CHALLENGE_403),
        "{what}: {r:?}"
    );
    assert_eq!(r.body, FORBIDDEN, "{what}: {r:?}");
}

/// Assert a 200 from httpbin and return its echo (`/anything` JSON).
#[track_caller]
pub fn assert_echo(r: &Reply, what: &str) -> Value {
    assert_eq!(r.status, 200, "{what}: expected 200, got {r:?}");
    r.json()
}

/// A gateway config (the harness's shape) whose service has one route per `(path, plugin config)`,
/// each route carrying its own `openid-connect` plugin (`None`: no plugin on that route).
pub fn routes_config(ports: Ports, upstream: &str, routes: &[(&str, Option<Value>)]) -> String {
    e2e::to_yaml(&routes_config_value(ports, upstream, routes))
}

/// [`routes_config`] as a JSON value, to edit further.
pub fn routes_config_value(
    ports: Ports,
    upstream: &str,
    routes: &[(&str, Option<Value>)],
) -> Value {
    let mut config = e2e::config_value(ports, upstream, None);
    let routes: Vec<Value> = routes
        .iter()
        .enumerate()
        .map(|(i, (path, oidc))| {
            let mut route = json!({ "name": format!("route-{i}"), "paths": [path] });
            if let Some(oidc) = oidc {
                route["plugins"] = json!([{ "name": "openid-connect", "config": oidc }]);
            }
            route
        })
        .collect();
    config["services"][0]["routes"] = Value::Array(routes);
    config
}

/// The plugin `timeout` (ms) of the IdP-fault tests.
pub const PLUGIN_TIMEOUT_MS: u64 = 500;
/// A loose bound on a denial's latency with that timeout (the client itself waits [`CLIENT_TIMEOUT`]).
pub const BOUNDED: Duration = Duration::from_secs(5);

/// An introspection-only plugin config for `issuer` with the keys of `extra` and `timeout` [`PLUGIN_TIMEOUT_MS`].
pub fn fault_plugin(issuer: &str, extra: Value) -> Value {
    let mut extra = extra;
    extra["timeout"] = json!(PLUGIN_TIMEOUT_MS);
    e2e::oidc_config(issuer, &["introspection"], extra)
}

/// GET `path` through the gateway with a bearer token; also returns how long the answer took.
pub fn timed_get(gw: &Gateway, path: &str, token: &str) -> (Reply, Duration) {
    let started = Instant::now();
    let r = send(
        client()
            .get(format!("{}{path}", gw.proxy_url()))
            .bearer_auth(token),
    );
    (r, started.elapsed())
}

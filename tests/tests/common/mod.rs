//! Helpers shared by the end-to-end test files: a patient HTTP client, exact Kong-style error checks,
//! multi-route gateway configs, and Prometheus metrics read from the admin listener.
#![allow(dead_code)] // each test file uses a different subset

use std::time::Duration;

use e2e::Ports;
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

/// `GET <admin>/metrics` (Prometheus text).
pub fn metrics_text(admin_url: &str) -> String {
    let r = send(client().get(format!("{admin_url}/metrics")));
    assert_eq!(r.status, 200, "GET /metrics: {r:?}");
    r.body
}

/// The sum of every sample of counter `name` whose labels include all of `labels`.
pub fn metric_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, label_text) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let all = labels
                .iter()
                .all(|(k, v)| label_text.contains(&format!("{k}=\"{v}\"")));
            all.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

/// Introspection requests the gateway made so far (every result), from its metrics.
pub fn introspection_calls(admin_url: &str) -> u64 {
    metric_sum(
        &metrics_text(admin_url),
        "gateway_idp_requests_total",
        &[("endpoint", "introspection")],
    ) as u64
}

/// Introspection-cache lookups answered from a fresh entry so far.
pub fn introspection_cache_hits(admin_url: &str) -> u64 {
    metric_sum(
        &metrics_text(admin_url),
        "gateway_auth_cache_total",
        &[("cache", "introspection"), ("result", "hit")],
    ) as u64
}

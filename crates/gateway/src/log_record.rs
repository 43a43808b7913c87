//! Kong's log record (`kong.log.serialize()`, kong/pdk/log.lua): the one JSON shape file-log and http-log
//! write, and the gateway's access log in its `json` format.
//!
//! Secrets never leave: the request headers `Authorization`, `Proxy-Authorization` (as Kong) and also
//! `Cookie`, `X-Api-Key`, `apikey` and every header a key-auth (`key_names`) or jwt (`header_names`) plugin of
//! the config reads a credential from; the response header `Set-Cookie`; and the query arguments
//! [`SECRET_ARGS`] plus key-auth's `key_names` and jwt's `uri_param_names`, in `querystring` and in the query
//! part of `uri`, `url` and `upstream_uri`. Each is written `"REDACTED"`, as Kong writes `authorization`.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use http::{HeaderMap, Method, Uri};
use serde_json::{json, Map, Value};

use crate::plugins::Exchange;
use crate::snapshot::Snapshot;
use gateway_config::model::Config;
use gateway_config::plugins::PluginConfig;

/// What replaces a secret.
pub const REDACTED: &str = "REDACTED";

/// Query arguments always redacted (OAuth 2.0 tokens and common API-key names).
pub const SECRET_ARGS: &[&str] = &[
    "access_token",
    "id_token",
    "refresh_token",
    "client_secret",
    "password",
    "apikey",
    "api_key",
    "jwt",
];

/// Request headers always redacted.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "apikey",
];

/// When a request started, as wall-clock time: read from the clocks only when a record is written (most log
/// handlers, prometheus for one, never ask: a wall-clock read and a subtraction saved per request).
#[derive(Debug, Clone, Copy)]
pub enum StartedAt {
    /// This time (the tests' fixed records).
    #[cfg_attr(not(test), allow(dead_code))]
    At(SystemTime),
    /// This monotonic instant: the wall clock now less the time since.
    Since(std::time::Instant),
}

impl StartedAt {
    /// The wall-clock time.
    pub fn get(self) -> SystemTime {
        match self {
            StartedAt::At(t) => t,
            StartedAt::Since(start) => SystemTime::now() - start.elapsed(),
        }
    }
}

/// What the log phase sees of a finished request: everything Kong's record is made of.
pub struct LogView<'a> {
    /// The request as received.
    pub method: &'a Method,
    /// The request target as received.
    pub uri: &'a Uri,
    /// The request headers as received.
    pub headers: &'a HeaderMap,
    /// The response headers sent to the client (`None` when nothing was sent).
    pub response_headers: Option<&'a HeaderMap>,
    /// The status sent to the client (0 when nothing was sent).
    pub status: u16,
    /// Time from the request's start to now.
    pub elapsed: Duration,
    /// When the request started.
    pub started_at: StartedAt,
    /// Time spent in the gateway before the request went upstream (all of it for the gateway's own answers).
    pub kong_latency: Duration,
    /// Time from sending the request upstream to the upstream's response header (`None`: not proxied).
    pub proxy_latency: Option<Duration>,
    /// The upstream's status, when it answered.
    pub upstream_status: Option<u16>,
    /// The address of each upstream attempt.
    pub tries: &'a [SocketAddr],
    /// The client's address.
    pub client_ip: Option<IpAddr>,
    /// Whether the request came over TLS.
    pub https: bool,
    /// The port of the listener that accepted the request.
    pub server_port: Option<u16>,
    /// Bytes received (request line and headers estimated, body counted).
    pub request_size: u64,
    /// Bytes sent (headers estimated, body counted).
    pub response_size: u64,
    /// The request target sent upstream when it differs from the client's (`None`: the same, or not proxied).
    pub upstream_uri: Option<&'a Uri>,
    /// Whether the request was proxied (else the gateway answered itself).
    pub proxied: bool,
    /// The snapshot the request was served by.
    pub snap: &'a Snapshot,
    /// The matched route (index into `Snapshot::routes`).
    pub route: Option<usize>,
    /// The matched route's service (index into `Snapshot::services`).
    pub service: Option<usize>,
    /// The gateway's metrics (the log plugins count what they drop there).
    pub metrics: &'a crate::metrics::Metrics,
}

/// A snapshot's parts of the record, computed on the first logged request: the entities as JSON and the
/// names to redact.
pub struct LogEntities {
    routes: Vec<Value>,
    services: Vec<Value>,
    consumers: Vec<Value>,
    secret_headers: HashSet<String>,
    secret_args: HashSet<String>,
}

/// An entity as JSON without its nested children (plugins hold secrets; routes are separate).
fn entity<T: serde::Serialize>(e: &T) -> Value {
    let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.remove("plugins");
        m.remove("routes");
        for secret in [
            "keyauth_credentials",
            "basicauth_credentials",
            "hmacauth_credentials",
            "jwt_secrets",
            "acls",
        ] {
            m.remove(secret);
        }
    }
    v
}

impl LogEntities {
    /// The entities and secret names of `config`.
    pub fn new(config: &Config) -> Self {
        let mut secret_headers: HashSet<String> =
            SECRET_HEADERS.iter().map(|s| s.to_string()).collect();
        let mut secret_args: HashSet<String> = SECRET_ARGS.iter().map(|s| s.to_string()).collect();
        let plugins = config
            .plugins
            .iter()
            .chain(config.services.iter().flat_map(|s| s.plugins.iter()))
            .chain(
                (config.services.iter().flat_map(|s| s.routes.iter()))
                    .chain(config.routes.iter())
                    .flat_map(|r| r.plugins.iter()),
            );
        for p in plugins {
            match p.typed.as_ref().map(|t| &t.config) {
                Some(PluginConfig::KeyAuth(k)) => {
                    for n in &k.key_names {
                        secret_headers.insert(n.to_ascii_lowercase());
                        secret_args.insert(n.clone());
                    }
                }
                Some(PluginConfig::Jwt(j)) => {
                    secret_headers.extend(j.header_names.iter().map(|n| n.to_ascii_lowercase()));
                    secret_args.extend(j.uri_param_names.iter().cloned());
                }
                _ => {}
            }
        }
        LogEntities {
            routes: config
                .routes_with_services()
                .map(|e| {
                    let mut r = entity(e.route);
                    if let (Value::Object(m), Some(s)) = (&mut r, e.service) {
                        let id = config.services[s].id;
                        m.insert("service".into(), json!({ "id": id }));
                    }
                    r
                })
                .collect(),
            services: config.services.iter().map(entity).collect(),
            consumers: config.consumers.iter().map(entity).collect(),
            secret_headers,
            secret_args,
        }
    }

    fn is_secret_arg(&self, name: &str) -> bool {
        self.secret_args.contains(name)
    }
}

/// `k=v&k2=v2` with the secret arguments' values replaced.
fn redact_query(q: &str, ent: &LogEntities) -> String {
    q.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if ent.is_secret_arg(&decode(k)) => format!("{k}={REDACTED}"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn decode(s: &str) -> String {
    url::form_urlencoded::parse(s.as_bytes())
        .next()
        .map(|(k, _)| k.into_owned())
        .unwrap_or_default()
}

/// A path and query with the secret arguments redacted.
fn redacted_target(uri: &Uri, ent: &LogEntities) -> String {
    match uri.query() {
        Some(q) => format!("{}?{}", uri.path(), redact_query(q, ent)),
        None => uri.path().to_string(),
    }
}

/// Kong's `get_query()`: each argument once (repeated ones as an array), `true` for a bare name.
fn querystring(uri: &Uri, ent: &LogEntities) -> Value {
    let mut out = Map::new();
    let Some(q) = uri.query() else {
        return Value::Object(out);
    };
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = match pair.split_once('=') {
            Some((k, v)) => (decode(k), Value::String(decode_value(v))),
            None => (decode(pair), Value::Bool(true)),
        };
        let v = if ent.is_secret_arg(&k) {
            Value::String(REDACTED.into())
        } else {
            v
        };
        match out.get_mut(&k) {
            Some(Value::Array(items)) => items.push(v),
            Some(prev) => *prev = Value::Array(vec![prev.take(), v]),
            None => {
                out.insert(k, v);
            }
        }
    }
    Value::Object(out)
}

fn decode_value(v: &str) -> String {
    url::form_urlencoded::parse(format!("x={v}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Kong's header table: lower-case names, a repeated header as an array; `secret` names redacted.
fn headers(h: &HeaderMap, secret: impl Fn(&str) -> bool) -> Value {
    let mut out = Map::new();
    for name in h.keys() {
        let key = name.as_str();
        let values: Vec<Value> = if secret(key) {
            vec![Value::String(REDACTED.into())]
        } else {
            h.get_all(name)
                .iter()
                .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect()
        };
        let v = match values.len() {
            1 => values.into_iter().next().unwrap_or(Value::Null),
            _ => Value::Array(values),
        };
        out.insert(key.to_string(), v);
    }
    Value::Object(out)
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// Kong's record of one request (see the module's note on what is redacted).
pub fn serialize(v: &LogView<'_>, ex: &Exchange) -> Value {
    let ent = v.snap.log_entities();
    let target = redacted_target(v.uri, ent);
    let host = v
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.split(':').next().unwrap_or(h).to_string())
        .or_else(|| v.uri.host().map(str::to_string))
        .unwrap_or_default();
    let scheme = if v.https { "https" } else { "http" };
    let url = match v.server_port {
        Some(p) => format!("{scheme}://{host}:{p}{target}"),
        None => format!("{scheme}://{host}{target}"),
    };
    let upstream_uri = match (v.proxied, v.upstream_uri) {
        (false, _) => String::new(),
        (true, Some(u)) => redacted_target(u, ent),
        (true, None) => target.clone(),
    };
    let mut request = json!({
        "id": ex.correlation_id.as_ref().and_then(|c| c.to_str().ok()).unwrap_or(""),
        "uri": target,
        "url": url,
        "querystring": querystring(v.uri, ent),
        "method": v.method.as_str(),
        "headers": headers(v.headers, |n| ent.secret_headers.contains(n)),
        "size": v.request_size,
    });
    if v.https {
        request["tls"] = json!({ "version": "TLSv1.3" });
    }
    let response_headers = v
        .response_headers
        .map_or(json!({}), |h| headers(h, |n| n == "set-cookie"));
    let mut root = json!({
        "request": request,
        "upstream_uri": upstream_uri,
        "upstream_status": v.upstream_status.map_or(String::new(), |s| s.to_string()),
        "response": {
            "status": v.status,
            "headers": response_headers,
            "size": v.response_size,
        },
        "latencies": {
            "kong": ms(v.kong_latency),
            "proxy": v.proxy_latency.map_or(-1, |d| ms(d) as i64),
            "request": ms(v.elapsed),
            "receive": 0,
        },
        "tries": v.tries.iter().map(|a| json!({ "ip": a.ip().to_string(), "port": a.port() })).collect::<Vec<_>>(),
        "client_ip": v.client_ip.map(|ip| ip.to_string()).unwrap_or_default(),
        "started_at": v.started_at.get().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
        "source": if v.proxied && v.upstream_status.is_some() { "upstream" } else { "kong" },
        "workspace": "00000000-0000-0000-0000-000000000000",
        "workspace_name": "default",
    });
    let Value::Object(m) = &mut root else {
        return root;
    };
    if let Some(r) = v.route.and_then(|i| ent.routes.get(i)) {
        m.insert("route".into(), r.clone());
    }
    if let Some(s) = v.service.and_then(|i| ent.services.get(i)) {
        m.insert("service".into(), s.clone());
    }
    if let Some(c) = ex.caller.consumer.and_then(|i| ent.consumers.get(i)) {
        m.insert("consumer".into(), c.clone());
        if let Some(cred) = ex.caller.credential.as_ref().and_then(|c| c.to_str().ok()) {
            let consumer_id = c.get("id").cloned().unwrap_or(Value::Null);
            m.insert(
                "authenticated_entity".into(),
                json!({ "id": cred, "consumer_id": consumer_id }),
            );
        }
    }
    if let Some(id) = ex.correlation_id.as_ref().and_then(|c| c.to_str().ok()) {
        m.insert("correlation_id".into(), Value::String(id.to_string()));
    }
    root
}

/// An estimate of a header section's size on the wire (`name: value\r\n` per field, the final `\r\n`).
pub fn header_bytes(h: &HeaderMap) -> u64 {
    h.iter()
        .map(|(n, v)| (n.as_str().len() + v.len() + 4) as u64)
        .sum::<u64>()
        + 2
}

/// A warning written at most once per interval, with the number of events since the last one (a log sink
/// that is down must not flood the error log).
pub struct Throttle {
    last: std::sync::atomic::AtomicU64,
    skipped: std::sync::atomic::AtomicU64,
}

impl Throttle {
    /// A throttle that has not warned yet.
    pub const fn new() -> Self {
        Throttle {
            last: std::sync::atomic::AtomicU64::new(0),
            skipped: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Calls `warn` with the number of events (this one included) when 10 s passed since the last call.
    pub fn event(&self, warn: impl FnOnce(u64)) {
        use std::sync::atomic::Ordering::Relaxed;
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.last.load(Relaxed);
        if now >= last + 10
            && self
                .last
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_ok()
        {
            warn(self.skipped.swap(0, Relaxed) + 1);
        } else {
            self.skipped.fetch_add(1, Relaxed);
        }
    }
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::test_support::{snapshot, TestRequest};

    const YAML: &str = r#"
_format_version: "3.0"
consumers: [{username: alice}]
services:
- name: orders
  url: http://127.0.0.1:9/
  routes: [{name: list, paths: [/orders]}]
  plugins: [{name: key-auth, config: {key_names: [x-my-key]}}]
"#;

    #[test]
    fn kongs_shape_with_secrets_redacted() {
        let snap = snapshot(YAML);
        let req = TestRequest::new(
            Method::GET,
            "/orders?x-my-key=s1&access_token=s2&page=2&page=3&flag",
            &[
                ("host", "api.test"),
                ("authorization", "Bearer s3"),
                ("cookie", "session=s4"),
                ("x-my-key", "s5"),
                ("accept", "application/json"),
            ],
        );
        let mut resp = HeaderMap::new();
        resp.insert("set-cookie", "session=s6".parse().unwrap());
        resp.insert("content-type", "text/plain".parse().unwrap());
        let view = req.log_view(&snap, &resp, 200, Some(0));
        let mut ex = Exchange::new();
        ex.caller.consumer = Some(0);
        ex.caller.credential = Some(http::HeaderValue::from_static("cred-1"));
        let r = serialize(&view, &ex);
        let text = r.to_string();
        for secret in ["s1", "s2", "s3", "s4", "s5", "s6"] {
            assert!(
                !text.contains(&format!("{secret}\"")) && !text.contains(&format!("={secret}")),
                "{secret} leaked: {text}"
            );
        }
        assert_eq!(r["request"]["method"], "GET");
        assert_eq!(
            r["request"]["uri"],
            "/orders?x-my-key=REDACTED&access_token=REDACTED&page=2&page=3&flag"
        );
        assert_eq!(r["request"]["url"], "http://api.test:8000/orders?x-my-key=REDACTED&access_token=REDACTED&page=2&page=3&flag");
        assert_eq!(
            r["request"]["querystring"],
            json!({"x-my-key": "REDACTED", "access_token": "REDACTED", "page": ["2", "3"], "flag": true})
        );
        assert_eq!(r["request"]["headers"]["authorization"], "REDACTED");
        assert_eq!(r["request"]["headers"]["cookie"], "REDACTED");
        assert_eq!(r["request"]["headers"]["x-my-key"], "REDACTED");
        assert_eq!(r["request"]["headers"]["accept"], "application/json");
        assert_eq!(r["request"]["size"], 120);
        assert_eq!(
            r["response"],
            json!({"status": 200, "headers": {"set-cookie": "REDACTED", "content-type": "text/plain"}, "size": 300})
        );
        assert_eq!(
            r["latencies"],
            json!({"kong": 2, "proxy": 30, "request": 42, "receive": 0})
        );
        assert_eq!(r["tries"], json!([{"ip": "10.0.0.1", "port": 80}]));
        assert_eq!(r["upstream_uri"], r["request"]["uri"]);
        assert_eq!(r["started_at"], 1_700_000_000_000u64);
        assert_eq!(r["client_ip"], "127.0.0.1");
        assert_eq!(r["route"]["name"], "list");
        assert_eq!(r["route"]["service"]["id"], r["service"]["id"]);
        assert_eq!(r["service"]["name"], "orders");
        assert!(
            r["service"].get("plugins").is_none(),
            "no plugin configs in the record"
        );
        assert_eq!(r["consumer"]["username"], "alice");
        assert_eq!(r["authenticated_entity"]["id"], "cred-1");
        assert_eq!(
            r["authenticated_entity"]["consumer_id"],
            r["consumer"]["id"]
        );
        assert_eq!(r["source"], "upstream");
    }
}

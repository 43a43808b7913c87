//! Renders gateway configs for tests: the demo's shape (one httpbin service, route `/`, optional
//! openid-connect plugin) on free loopback ports.

use serde_json::{json, Map, Value};

use crate::idp::{CLIENT_ID, CLIENT_SECRET};
use crate::process::free_port;

/// The demo service's id (same as in the root `gateway.yaml`).
pub const SERVICE_ID: &str = "5fa9e468-0007-4d7e-9aeb-49ca9edd6ccd";
/// The demo route's id.
pub const ROUTE_ID: &str = "9a6f1a1e-5e0f-4b0c-8c6e-6f0f4d2b7a11";
/// The demo openid-connect plugin's id (same as in the root `gateway.yaml`).
pub const PLUGIN_ID: &str = "5f35b796-ced6-4c00-9b2a-90eef745f4f9";

/// Loopback ports for one gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// Proxy port.
    pub proxy: u16,
    /// Admin API port.
    pub admin: u16,
}

impl Ports {
    /// Two free ports on 127.0.0.1.
    pub fn free() -> Ports {
        Ports {
            proxy: free_port(),
            admin: free_port(),
        }
    }
}

/// The openid-connect plugin config the tests start from: `issuer`, `client_id: [kong]`,
/// `client_secret: [kong-secret]`, `auth_methods`, then every key of `extra` (an object; it wins on clashes).
pub fn oidc_config(issuer: &str, auth_methods: &[&str], extra: Value) -> Value {
    let mut config = Map::new();
    config.insert("issuer".into(), json!(issuer));
    config.insert("client_id".into(), json!([CLIENT_ID]));
    config.insert("client_secret".into(), json!([CLIENT_SECRET]));
    config.insert("auth_methods".into(), json!(auth_methods));
    match extra {
        Value::Object(extra) => config.extend(extra),
        Value::Null => {}
        other => panic!("extra plugin config must be a JSON object, got {other}"),
    }
    Value::Object(config)
}

/// The whole config as a JSON value (edit it, then [`to_yaml`]): `_format_version: "3.0"`, a `gateway:` block
/// listening on `ports` with one worker thread, service `httpbin` → `<upstream>/anything`, route `httpbin-route`
/// on `/`, and when `oidc` is `Some(config)` the plugin `openid-connect` with that config (see [`oidc_config`]).
pub fn config_value(ports: Ports, upstream: &str, oidc: Option<Value>) -> Value {
    let mut service = json!({
        "id": SERVICE_ID,
        "name": "httpbin",
        "url": format!("{}/anything", upstream.trim_end_matches('/')),
        "routes": [{ "id": ROUTE_ID, "name": "httpbin-route", "paths": ["/"] }],
    });
    if let Some(config) = oidc {
        service["plugins"] =
            json!([{ "id": PLUGIN_ID, "name": "openid-connect", "config": config }]);
    }
    json!({
        "_format_version": "3.0",
        "gateway": {
            "proxy_listen": format!("127.0.0.1:{}", ports.proxy),
            "admin_listen": format!("127.0.0.1:{}", ports.admin),
            "worker_threads": 1,
        },
        "services": [service],
    })
}

/// [`config_value`] rendered as YAML.
pub fn minimal_config(ports: Ports, upstream: &str, oidc: Option<Value>) -> String {
    to_yaml(&config_value(ports, upstream, oidc))
}

/// Render a JSON value as YAML.
pub fn to_yaml(value: &Value) -> String {
    serde_yaml::to_string(value).expect("a JSON value always renders as YAML")
}

//! A Kong client nobody here wrote: PyPI `aio-kong` (pinned in `scripts/requirements.txt`), its
//! `kongfig yaml FILE --url <admin>` applying a multi-service file (services with routes, an openid-connect
//! plugin) through the Admin API, then a second run with changes updating it. Checked through the Admin API,
//! the config file, and by proxying to a real httpbin.

use std::path::Path;
use std::process::Command;

use e2e::admin::get;
use e2e::http::client;
use e2e::{config_value, to_yaml, workspace_root, Gateway, Httpbin, Ports};
use serde_json::{json, Value};

/// The file `kongfig yaml` reads: `orders` on `/orders`, `billing` on `/billing` behind openid-connect
/// (`message` is its 401 message), and `stock` on `/stock` when `with_stock`.
fn kongfig_file(httpbin: &Httpbin, orders_path: &str, message: &str, with_stock: bool) -> Value {
    // aio-kong replaces a `host` of 127.0.0.1 with the machine's outward address: give a `url` instead.
    let url = format!("{}/anything", httpbin.url());
    let mut services = vec![
        json!({
            "name": "orders",
            "url": url,
            "tags": ["shop"],
            "routes": [{ "name": "orders-route", "paths": [orders_path] }],
        }),
        json!({
            "name": "billing",
            "url": url,
            "routes": [{ "name": "billing-route", "paths": ["/billing"] }],
            "plugins": [{
                "name": "openid-connect",
                "config": {
                    // Never reached: requests without a token are refused before any IdP call.
                    "issuer": "http://127.0.0.1:9/oidc",
                    "client_id": ["kong"],
                    "client_secret": ["kong-secret"],
                    "auth_methods": ["introspection"],
                    "unauthorized_error_message": message,
                },
            }],
        }),
    ];
    if with_stock {
        services.push(json!({
            "name": "stock",
            "url": url,
            "routes": [{ "name": "stock-route", "paths": ["/stock"] }],
        }));
    }
    json!({ "services": services })
}

fn kongfig(gw: &Gateway, file: &Path) {
    let out = Command::new(workspace_root().join(".venv/bin/kongfig"))
        .arg("yaml")
        .arg(file)
        .arg("--url")
        .arg(gw.admin_url())
        .output()
        .expect("run .venv/bin/kongfig (scripts/setup.sh installs aio-kong)");
    assert!(
        out.status.success(),
        "kongfig failed: {}\n{}\ngateway log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        gw.log()
    );
}

/// Status and JSON body (Null when not JSON) of a proxied GET.
fn proxied(gw: &Gateway, path: &str) -> (u16, Value) {
    match client().get(format!("{}{path}", gw.proxy_url())).send() {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

fn names(gw: &Gateway, collection: &str) -> Vec<String> {
    let (code, body) = get(&format!("{}/{collection}", gw.admin_url()));
    assert_eq!(code, 200, "{body}");
    let mut names: Vec<String> = body["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e["name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

#[test]
fn kongfig_applies_a_multi_service_file_and_a_second_run_updates_it() {
    let httpbin = Httpbin::start();
    let ports = Ports::free();
    let mut start = config_value(ports, &httpbin.url(), None);
    if let Some(map) = start.as_object_mut() {
        map.remove("services");
    }
    let gw = Gateway::start(&to_yaml(&start));
    let file = gw.dir().join("kongfig.yaml");

    std::fs::write(
        &file,
        to_yaml(&kongfig_file(&httpbin, "/orders", "Who are you?", false)),
    )
    .expect("write the kongfig file");
    kongfig(&gw, &file);
    assert_eq!(names(&gw, "services"), ["billing", "orders"]);
    assert_eq!(names(&gw, "routes"), ["billing-route", "orders-route"]);
    let (_, plugins) = get(&format!("{}/plugins", gw.admin_url()));
    let plugin = plugins["data"][0].clone();
    assert_eq!(plugin["name"], "openid-connect", "{plugins}");
    let (_, billing) = get(&format!("{}/services/billing", gw.admin_url()));
    assert_eq!(plugin["service"], json!({ "id": billing["id"] }));
    let (_, orders) = get(&format!("{}/services/orders", gw.admin_url()));
    assert_eq!(orders["host"], "127.0.0.1");
    assert_eq!(orders["tags"], json!(["shop"]));

    let (code, echo) = proxied(&gw, "/orders");
    assert_eq!(code, 200, "{echo}");
    assert!(
        echo["url"]
            .as_str()
            .unwrap_or_default()
            .contains("/anything"),
        "{echo}"
    );
    let (code, body) = proxied(&gw, "/billing");
    assert_eq!(code, 401);
    assert_eq!(body, json!({ "message": "Who are you?" }));
    assert!(gw.config().contains("billing-route"), "written to the file");

    // Second run: a route moved, the plugin's config changed, a service added.
    std::fs::write(
        &file,
        to_yaml(&kongfig_file(&httpbin, "/orders-v2", "Token, please", true)),
    )
    .expect("rewrite the kongfig file");
    kongfig(&gw, &file);
    assert_eq!(names(&gw, "services"), ["billing", "orders", "stock"]);
    let (_, plugins) = get(&format!("{}/plugins", gw.admin_url()));
    assert_eq!(
        plugins["data"].as_array().map(Vec::len),
        Some(1),
        "{plugins}"
    );
    assert_eq!(
        plugins["data"][0]["id"], plugin["id"],
        "updated, not replaced"
    );
    assert_eq!(
        plugins["data"][0]["config"]["unauthorized_error_message"],
        "Token, please"
    );
    assert_eq!(proxied(&gw, "/orders-v2").0, 200);
    assert_eq!(proxied(&gw, "/orders").0, 404);
    assert_eq!(proxied(&gw, "/stock").0, 200);
    assert_eq!(
        proxied(&gw, "/billing"),
        (401, json!({ "message": "Token, please" }))
    );
    let written = gw.config();
    assert!(written.contains("/orders-v2") && written.contains("stock-route"));
}

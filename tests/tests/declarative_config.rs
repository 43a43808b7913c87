//! Kong's DB-less `/config` against a real gateway and httpbin: a whole declarative config posted (JSON body,
//! `config` string, YAML body, form field) is served at once and written to the file; one bad entity is a
//! `400` with Kong's code-14 body naming that entity, and neither the file nor the running config changes;
//! `?check_hash=1` with the running config is a `304`; `GET /config` exports the running config without the
//! `gateway:` settings.

use e2e::admin::{get, json_req, send};
use e2e::http::client;
use e2e::{config_value, to_yaml, Gateway, Httpbin, Ports};
use reqwest::Method;
use serde_json::{json, Value};

const ORDERS_ID: &str = "6f3c5a64-6f0e-4f4c-9a55-3a5b8d6d1c01";

/// A declarative document (no `gateway:` block): service `orders` → httpbin with a route on `/orders`.
fn orders_doc(httpbin: &Httpbin, path: &str) -> Value {
    json!({
        "_format_version": "3.0",
        "services": [{
            "id": ORDERS_ID,
            "name": "orders",
            "url": format!("{}/anything", httpbin.url()),
            "routes": [{ "name": "orders-route", "paths": [path] }],
        }],
    })
}

fn proxied(gw: &Gateway, path: &str) -> u16 {
    client()
        .get(format!("{}{path}", gw.proxy_url()))
        .send()
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

fn post_text(gw: &Gateway, query: &str, content_type: &str, body: String) -> (u16, Value) {
    send(
        client()
            .post(format!("{}/config{query}", gw.admin_url()))
            .header("content-type", content_type)
            .body(body),
    )
}

#[test]
fn a_posted_config_is_served_at_once_and_written() {
    let httpbin = Httpbin::start();
    let ports = Ports::free();
    let gw = Gateway::start(&to_yaml(&config_value(ports, &httpbin.url(), None)));
    assert_eq!(proxied(&gw, "/anything-at-all"), 200);

    // `{"config": "<yaml>"}`, as Kong's tools send it.
    let yaml = to_yaml(&orders_doc(&httpbin, "/orders"));
    let (code, body) = json_req(
        Method::POST,
        &format!("{}/config", gw.admin_url()),
        json!({ "config": yaml }),
    );
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["services"][ORDERS_ID]["name"], "orders");
    let route = body["routes"]
        .as_object()
        .and_then(|m| m.values().next())
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(route["service"], json!({ "id": ORDERS_ID }), "{body}");
    assert_eq!(route["paths"], json!(["/orders"]));

    // Served at once: the new route proxies, the old one is gone.
    assert_eq!(proxied(&gw, "/orders"), 200);
    assert_eq!(proxied(&gw, "/anything-at-all"), 404);
    // Written: the file has the new entities and keeps its `gateway:` block.
    let file = gw.config();
    assert!(file.contains("/orders"), "{file}");
    assert!(!file.contains("httpbin-route"), "{file}");
    assert!(
        file.contains(&format!("127.0.0.1:{}", ports.proxy)),
        "{file}"
    );
    assert!(gw.log().contains("admin API write applied kind=config"));

    // `GET /config`: the running config, without the settings.
    let (code, body) = get(&format!("{}/config", gw.admin_url()));
    assert_eq!(code, 200);
    let exported = body["config"].as_str().unwrap_or_default();
    assert!(exported.contains("/orders"), "{exported}");
    assert!(!exported.contains("gateway"), "{exported}");
    assert!(!exported.contains("proxy_listen"), "{exported}");

    // `?check_hash=1` with the same entities: 304, nothing written.
    let before = gw.config();
    let (code, _) = post_text(&gw, "?check_hash=1", "application/x-yaml", yaml.clone());
    assert_eq!(code, 304);
    assert_eq!(gw.config(), before);

    // A YAML body; then the whole document as the JSON body; then a form field.
    let (code, body) = post_text(
        &gw,
        "",
        "application/yaml",
        to_yaml(&orders_doc(&httpbin, "/yaml")),
    );
    assert_eq!(code, 201, "{body}");
    assert_eq!(proxied(&gw, "/yaml"), 200);
    assert_eq!(proxied(&gw, "/orders"), 404);
    let (code, body) = json_req(
        Method::POST,
        &format!("{}/config", gw.admin_url()),
        orders_doc(&httpbin, "/json"),
    );
    assert_eq!(code, 201, "{body}");
    assert_eq!(proxied(&gw, "/json"), 200);
    let form_yaml = to_yaml(&orders_doc(&httpbin, "/form"));
    let (code, body) = send(
        client()
            .post(format!("{}/config", gw.admin_url()))
            .form(&[("config", form_yaml.as_str())]),
    );
    assert_eq!(code, 201, "{body}");
    assert_eq!(proxied(&gw, "/form"), 200);
    assert!(gw.config().contains("/form"));
}

#[test]
fn one_bad_entity_is_named_and_nothing_changes() {
    let httpbin = Httpbin::start();
    let ports = Ports::free();
    let gw = Gateway::start(&to_yaml(&config_value(ports, &httpbin.url(), None)));
    let file_before = gw.config();
    let services_before = get(&format!("{}/services", gw.admin_url()));

    let mut doc = orders_doc(&httpbin, "/orders");
    doc["services"]
        .as_array_mut()
        .expect("services")
        .push(json!({ "name": "bad", "host": "127.0.0.1", "port": 70000 }));
    let yaml = to_yaml(&doc);

    let (code, body) = post_text(&gw, "?flatten_errors=1", "application/yaml", yaml.clone());
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["code"], 14);
    assert_eq!(body["name"], "invalid declarative configuration");
    let flat = body["flattened_errors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(flat.len(), 1, "{body}");
    assert_eq!(flat[0]["entity_type"], "service");
    assert_eq!(flat[0]["entity_name"], "bad");
    assert_eq!(flat[0]["entity"]["port"], 70000);
    assert_eq!(flat[0]["errors"][0]["field"], "port", "{body}");

    // Without `flatten_errors`: nested by position, the good service has no errors.
    let (code, body) = post_text(&gw, "", "application/yaml", yaml);
    assert_eq!(code, 400);
    assert!(body["fields"]["services"][0].is_null(), "{body}");
    assert!(body["fields"]["services"][1]["port"].is_string(), "{body}");
    assert!(body["message"]
        .as_str()
        .unwrap_or_default()
        .starts_with("declarative config is invalid: "));

    // Not a document, a `gateway:` block, an empty body: refused too.
    let (code, body) = json_req(
        Method::POST,
        &format!("{}/config", gw.admin_url()),
        json!({ "config": "bobby tables" }),
    );
    assert_eq!(code, 400);
    assert_eq!(
        body["fields"]["error"],
        "failed parsing declarative configuration: expected an object"
    );
    let mut with_settings = orders_doc(&httpbin, "/orders");
    with_settings["gateway"] = json!({ "admin_token": "x" });
    let (code, body) = post_text(&gw, "", "application/yaml", to_yaml(&with_settings));
    assert_eq!(code, 400);
    assert!(body["fields"]["gateway"].is_string(), "{body}");
    let (code, body) = post_text(&gw, "", "application/yaml", String::new());
    assert_eq!(code, 400);
    assert_eq!(body["message"], "expected a declarative configuration");

    // Nothing applied: the file is byte-identical, the entities and the proxy as before.
    assert_eq!(gw.config(), file_before);
    assert_eq!(
        get(&format!("{}/services", gw.admin_url())),
        services_before
    );
    assert_eq!(
        get(&format!("{}/routes", gw.admin_url())).1["data"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(proxied(&gw, "/anything-at-all"), 200);
}

//! Shapes Kong's Admin API tests check, against a real gateway: `GET /` (Kong 3's `plugins` block,
//! `configuration`, `node_id`, `version`), `/schemas` (entity and plugin schemas, `validate`), `/tags`, the
//! `?tags=` filter, enum errors, emptying a required field (form `host=` or JSON `null`) and route defaults.

use e2e::admin::{form, get, json_req};
use e2e::{config_value, oidc_config, to_yaml, Gateway, Httpbin, Ports};
use reqwest::Method;
use serde_json::{json, Value};

fn field<'a>(fields: &'a Value, name: &str) -> &'a Value {
    fields
        .as_array()
        .and_then(|a| a.iter().find_map(|f| f.get(name)))
        .unwrap_or(&Value::Null)
}

fn start() -> (Httpbin, Gateway) {
    let httpbin = Httpbin::start();
    let ports = Ports::free();
    let oidc = oidc_config("http://127.0.0.1:9/oidc", &["introspection"], Value::Null);
    let gw = Gateway::start(&to_yaml(&config_value(ports, &httpbin.url(), Some(oidc))));
    (httpbin, gw)
}

#[test]
fn root_and_schemas_answer_kong_shapes() {
    let (_httpbin, gw) = start();
    let admin = gw.admin_url();

    let (code, root) = get(&format!("{admin}/"));
    assert_eq!(code, 200);
    let available = &root["plugins"]["available_on_server"];
    assert_eq!(available["openid-connect"]["priority"], 1050, "{root}");
    assert_eq!(available["rate-limiting"]["priority"], 910);
    assert_eq!(
        root["plugins"]["enabled_in_cluster"],
        json!(["openid-connect"])
    );
    let node_id = root["node_id"].as_str().unwrap_or_default();
    assert_eq!(node_id.len(), 36, "{root}");
    assert_eq!(node_id.matches('-').count(), 4, "{root}");
    assert!(root["version"].is_string());
    assert_eq!(root["configuration"]["database"], "off");

    let (code, s) = get(&format!("{admin}/schemas/services"));
    assert_eq!(code, 200);
    assert_eq!(field(&s["fields"], "port")["type"], "integer", "{s}");
    assert_eq!(field(&s["fields"], "id")["uuid"], true);
    let (code, body) = get(&format!("{admin}/schemas/nope"));
    assert_eq!(
        (code, body),
        (404, json!({"message": "No entity named 'nope'"}))
    );

    let (code, s) = get(&format!("{admin}/schemas/plugins/openid-connect"));
    assert_eq!(code, 200);
    let config = field(&s["fields"], "config");
    assert_eq!(field(&config["fields"], "issuer")["required"], true, "{s}");
    let (code, body) = get(&format!("{admin}/schemas/plugins/kafka-upstream"));
    assert_eq!(
        (code, body),
        (404, json!({"message": "No plugin named 'kafka-upstream'"}))
    );

    let validate = format!("{admin}/schemas/services/validate");
    let (code, body) = json_req(Method::POST, &validate, json!({"host": "example.test"}));
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["message"], "schema validation successful");
    let (code, body) = json_req(Method::POST, &validate, json!({"host": "a", "port": "x"}));
    assert_eq!(code, 400);
    assert_eq!(body["code"], 2);
    assert_eq!(body["fields"]["port"], "expected an integer");
    let (code, body) = json_req(
        Method::POST,
        &format!("{admin}/schemas/plugins/validate"),
        json!({"name": "openid-connect", "config": {}}),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body["fields"]["config"]["issuer"].is_string(), "{body}");
    // Validation writes nothing.
    let (_, services) = get(&format!("{admin}/services"));
    assert_eq!(services["data"].as_array().map(Vec::len), Some(1));
}

#[test]
fn tags_enum_errors_required_fields_and_route_defaults() {
    let (_httpbin, gw) = start();
    let admin = gw.admin_url();

    let (code, created) = json_req(
        Method::POST,
        &format!("{admin}/services"),
        json!({"name": "shop", "host": "127.0.0.1", "tags": ["shop", "eu"]}),
    );
    assert_eq!(code, 201, "{created}");
    let (code, tags) = get(&format!("{admin}/tags"));
    assert_eq!(code, 200);
    let data = tags["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(data.len(), 2, "{tags}");
    assert_eq!(
        data[0],
        json!({"entity_name": "services", "entity_id": created["id"], "tag": "shop"})
    );
    let (_, shop) = get(&format!("{admin}/tags/shop"));
    assert_eq!(shop["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(shop["next"], Value::Null);
    let (_, two) = get(&format!("{admin}/tags?size=1"));
    assert_eq!(two["next"], "/tags?offset=1&size=1", "{two}");
    for (collection, n) in [("services", 1), ("routes", 0), ("plugins", 0)] {
        let (_, list) = get(&format!("{admin}/{collection}?tags=shop,eu"));
        assert_eq!(
            list["data"].as_array().map(Vec::len),
            Some(n),
            "{collection}"
        );
    }

    let (code, body) = json_req(
        Method::POST,
        &format!("{admin}/services"),
        json!({"name": "ftp", "host": "a", "protocol": "ftp"}),
    );
    assert_eq!(code, 400);
    assert!(body["fields"]["protocol"]
        .as_str()
        .unwrap_or_default()
        .starts_with("expected one of: http, https"));

    let (code, body) = form(
        Method::PATCH,
        &format!("{admin}/services/shop"),
        &[("host", "")],
    );
    assert_eq!(code, 400, "{body}");
    assert!(body["fields"]["host"].is_string(), "{body}");
    let (code, body) = json_req(
        Method::PATCH,
        &format!("{admin}/services/shop"),
        json!({"host": null}),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body["fields"]["host"].is_string(), "{body}");

    let (code, route) = json_req(
        Method::POST,
        &format!("{admin}/services/shop/routes"),
        json!({"paths": ["/shop"]}),
    );
    assert_eq!(code, 201, "{route}");
    assert_eq!(route["https_redirect_status_code"], 426);
    assert_eq!(route["protocols"], json!(["http", "https"]));
    assert_eq!(route["strip_path"], true);
    assert_eq!(route["preserve_host"], false);
    assert_eq!(route["regex_priority"], 0);
    assert_eq!(route["path_handling"], "v0");
}

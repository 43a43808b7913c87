use super::*;
use crate::model::Settings;

const GOOD: &str = r#"
_format_version: "3.0"
services:
  - name: orders
    url: http://127.0.0.1:9/anything
    routes:
      - name: orders-route
        paths: ["/orders"]
"#;

#[test]
fn a_valid_document_reads_as_the_file_does() {
    let config = parse(GOOD, &Settings::default(), false).unwrap();
    assert_eq!(config.services.len(), 1);
    let body = entities(&config);
    let services = body["services"].as_object().unwrap();
    let (id, service) = services.iter().next().unwrap();
    assert_eq!(service["id"], json!(id));
    assert_eq!(service["host"], "127.0.0.1");
    let route = body["routes"].as_object().unwrap().values().next().unwrap();
    assert_eq!(route["service"], json!({ "id": id }));
    assert!(body.get("plugins").is_none());
}

#[test]
fn the_document_is_validated_with_the_running_settings() {
    let json_doc = r#"{"_format_version":"3.0","services":[{"name":"a","host":"h"}]}"#;
    let settings = Settings {
        proxy_listen: "127.0.0.1:9".into(),
        ..Settings::default()
    };
    let config = parse(json_doc, &settings, false).unwrap();
    assert_eq!(config.gateway.proxy_listen, "127.0.0.1:9");
    let e = parse(
        "_format_version: \"3.0\"\ngateway:\n  admin_listen: 0.0.0.0:1\n",
        &settings,
        false,
    )
    .unwrap_err();
    assert!(e.body()["fields"]["gateway"]
        .as_str()
        .unwrap()
        .contains("not accepted by POST /config"));
}

#[test]
fn errors_are_nested_by_entity_with_kong_code_14() {
    let text = "_format_version: \"3.0\"\nservices:\n  - name: ok\n    host: a\n  - name: bad\n    host: b\n    port: 70000\n";
    let e = parse(text, &Settings::default(), false).unwrap_err();
    let body = e.body();
    assert_eq!(body["code"], 14);
    assert_eq!(body["name"], "invalid declarative configuration");
    assert!(body["fields"]["services"][0].is_null(), "{body}");
    assert!(body["fields"]["services"][1]["port"].is_string(), "{body}");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("declarative config is invalid: {services={null,{port="));
    assert!(body.get("flattened_errors").is_none());
}

#[test]
fn flattened_errors_name_the_entity() {
    let text = "_format_version: \"3.0\"\nservices:\n  - name: ok\n    host: a\n    routes:\n      - name: r1\n        paths: [\"nope\"]\n";
    let e = parse(text, &Settings::default(), true).unwrap_err();
    let body = e.body();
    let flat = body["flattened_errors"].as_array().unwrap();
    assert_eq!(flat.len(), 1, "{body}");
    assert_eq!(flat[0]["entity_type"], "route");
    assert_eq!(flat[0]["entity_name"], "r1");
    assert_eq!(flat[0]["entity"]["paths"], json!(["nope"]));
    assert_eq!(flat[0]["errors"][0]["type"], "field");
    assert_eq!(flat[0]["errors"][0]["field"], "paths.1");
    assert_eq!(body["fields"], json!({}));
}

#[test]
fn entity_level_and_document_errors() {
    let text = "_format_version: \"3.0\"\nservices:\n  - name: s\n    host: a\n    routes:\n      - name: r\n";
    let body = parse(text, &Settings::default(), false).unwrap_err().body();
    let entity = &body["fields"]["services"][0]["routes"][0]["@entity"];
    assert!(entity[0].is_string(), "{body}");
    let body = parse("- a\n", &Settings::default(), false)
        .unwrap_err()
        .body();
    assert_eq!(
        body["fields"],
        json!({"error": "failed parsing declarative configuration: expected an object"})
    );
    let body = parse("bobby: [", &Settings::default(), true)
        .unwrap_err()
        .body();
    assert!(body["fields"]["error"]
        .as_str()
        .unwrap()
        .starts_with("failed parsing declarative configuration: "));
    assert_eq!(body["flattened_errors"], json!([]));
    assert_eq!(
        parse("  ", &Settings::default(), false).unwrap_err().body(),
        json!({"message": "expected a declarative configuration"})
    );
}

#[test]
fn the_export_has_no_settings_and_reads_back() {
    let settings = Settings {
        admin_token: Some("s3cret-token".into()),
        ..Settings::default()
    };
    let config = parse(GOOD, &settings, false).unwrap();
    let text = export(&config).unwrap();
    assert!(!text.contains("s3cret-token"), "{text}");
    assert!(!text.contains("gateway"), "{text}");
    let back = crate::load::parse_str(&text).unwrap();
    assert!(same_entities(&back, &config));
    let other = parse(&GOOD.replace("/orders", "/other"), &settings, false).unwrap();
    assert!(!same_entities(&other, &config));
}

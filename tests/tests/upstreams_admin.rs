//! End-to-end tests of `/upstreams` and `/upstreams/{u}/targets` against the real binary: CRUD round trips in
//! form and JSON, Kong's error bodies for bad input, and the upstream landing in the YAML file on disk.

use e2e::admin::{form, get, json_req, send};
use e2e::{http, minimal_config, Gateway, Ports};
use serde_json::{json, Value};

fn gateway() -> Gateway {
    Gateway::start(&minimal_config(Ports::free(), "http://127.0.0.1:9", None))
}

/// The config file as YAML, parsed.
fn file_doc(gw: &Gateway) -> serde_yaml::Value {
    serde_yaml::from_str(&gw.config()).expect("the written config is YAML")
}

#[test]
fn upstreams_and_targets_round_trip_and_persist() {
    use reqwest::Method;
    let gw = gateway();
    let admin = gw.admin_url();

    // Form POST with dotted keys and repeated keys.
    let (s, u) = form(
        Method::POST,
        &format!("{admin}/upstreams"),
        &[
            ("name", "orders.internal"),
            ("algorithm", "least-connections"),
            ("healthchecks.active.healthy.interval", "5"),
            ("healthchecks.active.unhealthy.http_statuses", "500"),
            ("healthchecks.active.unhealthy.http_statuses", "503"),
            ("tags", "edge"),
        ],
    );
    assert_eq!(s, 201, "{u}");
    assert_eq!(u["algorithm"], "least-connections");
    assert_eq!(u["slots"], 10000);
    assert_eq!(u["healthchecks"]["active"]["healthy"]["interval"], 5);
    assert_eq!(
        u["healthchecks"]["active"]["unhealthy"]["http_statuses"],
        json!([500, 503])
    );
    assert_eq!(u["healthchecks"]["passive"]["type"], "http");
    let id = u["id"].as_str().expect("id").to_string();

    // JSON POST of targets, form POST of another.
    let targets = format!("{admin}/upstreams/orders.internal/targets");
    let (s, t1) = json_req(
        Method::POST,
        &targets,
        json!({"target": "127.0.0.1:9001", "weight": 10}),
    );
    assert_eq!(s, 201, "{t1}");
    assert_eq!(t1["upstream"], json!({"id": id}));
    let (s, t2) = form(Method::POST, &targets, &[("target", "b.internal")]);
    assert_eq!(s, 201, "{t2}");
    assert_eq!(t2["target"], "b.internal:8000");
    assert_eq!(t2["weight"], 100);

    // The file holds the upstream with its nested targets.
    let doc = file_doc(&gw);
    let up = &doc["upstreams"][0];
    assert_eq!(up["name"].as_str(), Some("orders.internal"));
    assert_eq!(up["id"].as_str(), Some(id.as_str()));
    assert_eq!(up["algorithm"].as_str(), Some("least-connections"));
    assert_eq!(up["targets"][0]["target"].as_str(), Some("127.0.0.1:9001"));
    assert_eq!(up["targets"][1]["target"].as_str(), Some("b.internal:8000"));

    // GET by name and id; PATCH (JSON) merges the health checks; PATCH (form) on a target.
    let (s, g) = get(&format!("{admin}/upstreams/{id}"));
    assert_eq!((s, g["name"].clone()), (200, json!("orders.internal")));
    let (s, p) = json_req(
        Method::PATCH,
        &format!("{admin}/upstreams/orders.internal"),
        json!({"healthchecks": {"active": {"timeout": 2}}, "slots": 20}),
    );
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["healthchecks"]["active"]["timeout"], 2);
    assert_eq!(p["healthchecks"]["active"]["healthy"]["interval"], 5);
    assert_eq!(p["slots"], 20);
    let (s, p) = form(
        Method::PATCH,
        &format!("{targets}/b.internal:8000"),
        &[("weight", "0")],
    );
    assert_eq!((s, p["weight"].clone()), (200, json!(0)), "{p}");
    let (s, list) = get(&targets);
    assert_eq!(s, 200);
    assert_eq!(list["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(list["next"], Value::Null);
    let (s, list) = get(&format!("{admin}/upstreams?tags=edge"));
    assert_eq!((s, list["data"][0]["id"].clone()), (200, json!(id)));

    // DELETE a target, then the upstream (its targets go with it).
    let t1_id = t1["id"].as_str().expect("target id");
    let (s, _) = send(http::client().delete(format!("{targets}/{t1_id}")));
    assert_eq!(s, 204);
    let (s, _) = send(http::client().delete(format!("{admin}/upstreams/orders.internal")));
    assert_eq!(s, 204);
    let (s, v) = get(&targets);
    assert_eq!((s, v), (404, json!({"message": "Not found"})));
    let text = gw.config();
    assert!(!text.contains("orders.internal"), "{text}");
}

#[test]
fn bad_input_is_refused_with_kong_errors() {
    use reqwest::Method;
    let gw = gateway();
    let admin = gw.admin_url();
    let before = gw.config();

    let (s, v) = json_req(
        Method::POST,
        &format!("{admin}/upstreams"),
        json!({"name": "a.internal", "algorithm": "fastest"}),
    );
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["code"], 2);
    assert_eq!(v["name"], "schema violation");
    assert_eq!(
        v["fields"]["algorithm"],
        "expected one of: consistent-hashing, least-connections, round-robin, latency"
    );

    let (s, v) = form(
        Method::POST,
        &format!("{admin}/upstreams"),
        &[("name", "10.0.0.1")],
    );
    assert_eq!(s, 400, "{v}");
    assert_eq!(
        v["fields"]["name"],
        "Invalid name ('10.0.0.1'); no ip addresses allowed"
    );
    assert_eq!(
        v["message"],
        "schema violation (name: Invalid name ('10.0.0.1'); no ip addresses allowed)"
    );
    assert_eq!(gw.config(), before, "a refused write leaves the file alone");

    let (s, _) = json_req(
        Method::POST,
        &format!("{admin}/upstreams"),
        json!({"name": "a.internal"}),
    );
    assert_eq!(s, 201);
    let targets = format!("{admin}/upstreams/a.internal/targets");
    let (s, v) = form(Method::POST, &targets, &[("target", "a.internal:99999")]);
    assert_eq!(s, 400, "{v}");
    assert_eq!(
        v["fields"]["target"],
        "Invalid target ('a.internal:99999'); not a valid hostname or ip address"
    );
    let (s, v) = json_req(
        Method::POST,
        &targets,
        json!({"target": "127.0.0.1:80", "weight": 70000}),
    );
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["fields"]["weight"], "value should be between 0 and 65535");
    let (s, v) = form(
        Method::POST,
        &targets,
        &[("target", "127.0.0.1:80"), ("weight", "heavy")],
    );
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["fields"]["weight"], "expected an integer");

    let (s, _) = json_req(Method::POST, &targets, json!({"target": "127.0.0.1:80"}));
    assert_eq!(s, 201);
    let (s, v) = json_req(Method::POST, &targets, json!({"target": "127.0.0.1"}));
    assert_eq!(s, 201, "127.0.0.1 is 127.0.0.1:8000, another target: {v}");
    let (s, v) = json_req(Method::POST, &targets, json!({"target": "127.0.0.1:80"}));
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["code"], 5);
}

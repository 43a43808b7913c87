//! Handler tests of `/upstreams` and `/upstreams/{u}/targets`: Kong's shapes, codes and the file on disk.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{yaml, Fixture};

#[tokio::test]
async fn upstream_crud_in_form_and_json() {
    let f = Fixture::new(&yaml(""));
    let (s, u) = f
        .form(
            "POST",
            "/upstreams",
            "name=orders.internal&slots=100&tags=a&healthchecks.active.healthy.interval=5&healthchecks.active.healthy.http_statuses=200&healthchecks.active.healthy.http_statuses=204",
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{u}");
    assert_eq!(u["name"], "orders.internal");
    assert_eq!(u["slots"], 100);
    assert_eq!(u["algorithm"], "round-robin");
    assert_eq!(u["hash_on"], "none");
    assert_eq!(u["hash_on_header"], Value::Null);
    assert_eq!(u["tags"], json!(["a"]));
    let active = &u["healthchecks"]["active"];
    assert_eq!(active["healthy"]["interval"], 5);
    assert_eq!(active["healthy"]["http_statuses"], json!([200, 204]));
    assert_eq!(active["timeout"], 1);
    assert_eq!(
        u["healthchecks"]["passive"]["unhealthy"]["http_statuses"],
        json!([429, 500, 503])
    );
    assert!(u["created_at"].is_i64());
    let id = u["id"].as_str().unwrap().to_string();
    assert!(f.file().contains("orders.internal"), "{}", f.file());

    // PATCH merges records key by key.
    let (s, p) = f
        .json(
            "PATCH",
            "/upstreams/orders.internal",
            json!({"hash_on": "header", "hash_on_header": "x-user", "healthchecks": {"active": {"timeout": 3}}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["id"], id);
    assert_eq!(p["algorithm"], "consistent-hashing");
    assert_eq!(p["healthchecks"]["active"]["timeout"], 3);
    assert_eq!(p["healthchecks"]["active"]["healthy"]["interval"], 5);
    assert_eq!(p["created_at"], u["created_at"]);

    // PUT by name replaces (defaults back) and keeps the id.
    let (s, p) = f.json("PUT", "/upstreams/orders.internal", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(
        (p["id"].as_str(), p["slots"].as_u64()),
        (Some(id.as_str()), Some(10000))
    );
    assert_eq!(p["hash_on"], "none");

    let (s, list) = f.call("GET", "/upstreams?tags=nope", None, "").await;
    assert_eq!(
        (s, list),
        (StatusCode::OK, json!({"data": [], "next": null}))
    );
    let (s, list) = f.call("GET", "/upstreams", None, "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["data"][0]["id"], id);

    let (s, v) = f
        .json("POST", "/upstreams", json!({"name": "orders.internal"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["fields"], json!({"name": "orders.internal"}));

    let (s, _) = f
        .call("DELETE", &format!("/upstreams/{id}"), None, "")
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = f.call("GET", "/upstreams/orders.internal", None, "").await;
    assert_eq!(
        (s, v),
        (StatusCode::NOT_FOUND, json!({"message": "Not found"}))
    );
    assert!(!f.file().contains("orders.internal"));
}

#[tokio::test]
async fn upstream_errors_use_kong_words() {
    let f = Fixture::new(&yaml(""));
    let before = f.file();
    let cases = [
        (
            json!({"name": "a.internal", "algorithm": "fastest"}),
            json!({"algorithm": "expected one of: consistent-hashing, least-connections, round-robin, latency"}),
        ),
        (
            json!({"name": "1.2.3.4"}),
            json!({"name": "Invalid name ('1.2.3.4'); no ip addresses allowed"}),
        ),
        (
            json!({"name": "a.internal:80"}),
            json!({"name": "Invalid name ('a.internal:80'); no port allowed"}),
        ),
        (json!({}), json!({"name": "required field missing"})),
        (
            json!({"name": "a", "slots": 5}),
            json!({"slots": "value should be between 10 and 65536"}),
        ),
        (
            json!({"name": "a", "slots": "5"}),
            json!({"slots": "expected an integer"}),
        ),
        (
            json!({"name": "a", "hash_on": "header"}),
            json!({"@entity": ["failed conditional validation given value of field 'hash_on'"], "hash_on_header": "required field missing"}),
        ),
        (
            json!({"name": "a", "bogus": 1}),
            json!({"bogus": "unknown field"}),
        ),
    ];
    for (body, fields) in cases {
        let (s, v) = f.json("POST", "/upstreams", body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body} {v}");
        assert_eq!(v["code"], 2);
        assert_eq!(v["fields"], fields, "{body}");
    }
    let (s, v) = f.json("PUT", "/upstreams/1.2.3.4", json!({})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["message"],
        "schema violation (name: Invalid name ('1.2.3.4'); no ip addresses allowed)"
    );
    assert_eq!(f.file(), before);
}

#[tokio::test]
async fn targets_crud_and_errors() {
    let f = Fixture::new(&yaml(""));
    let (s, u) = f
        .json("POST", "/upstreams", json!({"name": "a.internal"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, u2) = f
        .json("POST", "/upstreams", json!({"name": "b.internal"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);

    let (s, t) = f
        .form(
            "POST",
            "/upstreams/a.internal/targets",
            "target=10.0.0.1&weight=5",
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!(t["target"], "10.0.0.1:8000");
    assert_eq!(t["weight"], 5);
    assert_eq!(t["upstream"], json!({"id": u["id"]}));
    assert_eq!(t["tags"], Value::Null);
    assert!(t["created_at"].is_number());
    let (s, t2) = f
        .json(
            "POST",
            "/upstreams/b.internal/targets",
            json!({"target": "10.0.0.1:8000"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t2}");
    assert_eq!(t2["upstream"], json!({"id": u2["id"]}));
    assert_eq!(t2["weight"], 100);

    let (s, v) = f
        .json(
            "POST",
            "/upstreams/a.internal/targets",
            json!({"target": "10.0.0.1"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    for (body, fields) in [
        (
            json!({"target": "a:99999"}),
            json!({"target": "Invalid target ('a:99999'); not a valid hostname or ip address"}),
        ),
        (
            json!({"target": "a", "weight": 70000}),
            json!({"weight": "value should be between 0 and 65535"}),
        ),
        (
            json!({"weight": 1}),
            json!({"target": "required field missing"}),
        ),
    ] {
        let (s, v) = f
            .json("POST", "/upstreams/a.internal/targets", body.clone())
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body} {v}");
        assert_eq!(v["fields"], fields, "{body}");
    }
    let (s, v) = f
        .json("POST", "/upstreams/nope/targets", json!({"target": "a"}))
        .await;
    assert_eq!(
        (s, v),
        (StatusCode::NOT_FOUND, json!({"message": "Not found"}))
    );

    // By address (normalised) or id, scoped to the upstream in the URL.
    let (s, g) = f
        .call("GET", "/upstreams/b.internal/targets/10.0.0.1", None, "")
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(g["id"], t2["id"]);
    let (s, p) = f
        .form(
            "PATCH",
            "/upstreams/b.internal/targets/10.0.0.1:8000",
            "weight=0",
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(
        (p["id"].clone(), p["weight"].clone()),
        (t2["id"].clone(), json!(0))
    );
    let (s, p) = f
        .json(
            "PUT",
            "/upstreams/a.internal/targets/10.0.0.1",
            json!({"tags": ["x"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(
        (p["weight"].clone(), p["tags"].clone()),
        (json!(5), json!(["x"]))
    );
    let (s, _) = f
        .json("PUT", "/upstreams/a.internal/targets/nope:1", json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, list) = f
        .call("GET", "/upstreams/a.internal/targets", None, "")
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
    let t_id = t["id"].as_str().unwrap();
    let (s, _) = f
        .call(
            "GET",
            &format!("/upstreams/b.internal/targets/{t_id}"),
            None,
            "",
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, _) = f
        .call(
            "DELETE",
            &format!("/upstreams/a.internal/targets/{t_id}"),
            None,
            "",
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, list) = f
        .call("GET", "/upstreams/a.internal/targets", None, "")
        .await;
    assert_eq!(
        (s, list),
        (StatusCode::OK, json!({"data": [], "next": null}))
    );

    // Deleting an upstream deletes its targets.
    let (s, _) = f.call("DELETE", "/upstreams/b.internal", None, "").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let text = f.file();
    assert!(
        !text.contains("b.internal") && !text.contains("10.0.0.1"),
        "{text}"
    );
    let reloaded = gateway_config::load::parse_str(&text).unwrap();
    assert_eq!(reloaded.upstreams.len(), 1);
}

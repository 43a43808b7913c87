//! Handler tests of the credential routes (`/consumers/{c}/key-auth`, `/key-auths`, `/basic-auths`, `/jwts`,
//! `/acls`, …): Kong's shapes, codes, paging, the cascade, and the file on disk.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{yaml, Fixture};

const ALICE: &str = "00000000-0000-0000-0000-0000000000a1";

fn with_consumers() -> String {
    format!(
        "{}consumers:\n  - id: {ALICE}\n    username: alice\n    keyauth_credentials:\n      - key: alice-key\n  - username: bob\n",
        yaml("")
    )
}

#[tokio::test]
async fn key_auth_routes_nested_and_top_level() {
    let f = Fixture::new(&with_consumers());
    let (s, k) = f
        .form("POST", "/consumers/bob/key-auth", "key=bob-key&tags=t1")
        .await;
    assert_eq!(s, StatusCode::CREATED, "{k}");
    assert_eq!(k["key"], "bob-key");
    assert_eq!(k["tags"], json!(["t1"]));
    let bob = k["consumer"]["id"].as_str().unwrap().to_string();
    assert!(f.file().contains("bob-key"), "{}", f.file());

    // Generated key when none is posted, unique each time.
    let (s, g1) = f.json("POST", "/consumers/bob/key-auth", json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{g1}");
    let (_, g2) = f.json("POST", "/consumers/bob/key-auth", json!({})).await;
    assert_ne!(g1["key"], g2["key"]);
    assert_eq!(g1["key"].as_str().unwrap().len(), 32);

    let (s, list) = f.call("GET", "/consumers/bob/key-auth", None, "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["data"].as_array().unwrap().len(), 3);
    let (_, all) = f.call("GET", "/key-auths", None, "").await;
    assert_eq!(all["data"].as_array().unwrap().len(), 4);
    // Paging as Kong: size, then next.
    let (_, page) = f.call("GET", "/key-auths?size=3", None, "").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 3);
    let next = page["next"].as_str().unwrap().to_string();
    let (_, rest) = f.call("GET", &next, None, "").await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);

    // By key and by id, nested under its own consumer only.
    let (s, v) = f.call("GET", "/key-auths/bob-key", None, "").await;
    assert_eq!(
        (s, v["consumer"]["id"].as_str()),
        (StatusCode::OK, Some(bob.as_str()))
    );
    let (s, _) = f
        .call("GET", "/consumers/alice/key-auth/bob-key", None, "")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, c) = f.call("GET", "/key-auths/bob-key/consumer", None, "").await;
    assert_eq!((s, c["username"].as_str()), (StatusCode::OK, Some("bob")));
    let (s, _) = f
        .call("GET", &format!("/key-auths/{ALICE}/consumer"), None, "")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // PATCH by key; a non-string key is Kong's 400.
    let (s, p) = f
        .json(
            "PATCH",
            "/consumers/bob/key-auth/bob-key",
            json!({"key": "bob-key-2"}),
        )
        .await;
    assert_eq!(
        (s, p["key"].as_str()),
        (StatusCode::OK, Some("bob-key-2")),
        "{p}"
    );
    let (s, e) = f
        .json("PATCH", "/key-auths/bob-key-2", json!({"key": 123}))
        .await;
    assert_eq!(
        (s, e["fields"].clone()),
        (StatusCode::BAD_REQUEST, json!({"key": "expected a string"}))
    );

    // Top-level POST needs a consumer; PUT by key creates.
    let (s, e) = f.json("POST", "/key-auths", json!({"key": "x"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        e["message"],
        "schema violation (consumer: required field missing)"
    );
    let (s, v) = f
        .json(
            "PUT",
            "/key-auths/put-key",
            json!({"consumer": {"id": ALICE}}),
        )
        .await;
    assert_eq!(
        (s, v["key"].as_str()),
        (StatusCode::OK, Some("put-key")),
        "{v}"
    );

    let (s, _) = f
        .call("DELETE", "/consumers/bob/key-auth/bob-key-2", None, "")
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = f.call("GET", "/key-auths/bob-key-2", None, "").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(!f.file().contains("bob-key-2"));
}

#[tokio::test]
async fn a_duplicate_key_is_409_and_leaves_the_file_byte_for_byte() {
    let f = Fixture::new(&with_consumers());
    let before = f.file();
    let (s, e) = f
        .json(
            "POST",
            "/consumers/bob/key-auth",
            json!({"key": "alice-key"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["name"], "unique constraint violation");
    assert!(!e.to_string().contains("alice-key"), "{e}");
    let (s, _) = f
        .json("POST", "/consumers/nobody/key-auth", json!({"key": "k"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, e) = f
        .json(
            "POST",
            "/consumers/bob/jwt",
            json!({"algorithm": "RS256", "rsa_public_key": "x"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["fields"]["rsa_public_key"], "invalid key");
    assert_eq!(f.file(), before);
}

#[tokio::test]
async fn basic_auth_shows_and_stores_only_the_hash() {
    let f = Fixture::new(&with_consumers());
    let (s, b) = f
        .form(
            "POST",
            "/consumers/alice/basic-auth",
            "username=al&password=kong",
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let expected = gateway_config::credentials::basic_auth::hash(ALICE.parse().unwrap(), "kong");
    assert_eq!(b["password"], expected);
    let file = f.file();
    assert!(
        file.contains(&expected) && file.contains("_transform: false"),
        "{file}"
    );
    assert!(!file.contains("password: kong"), "{file}");
    let snap = f.state.snapshot.load();
    assert!(snap.config.basicauth_credentials[0].verify("kong"));
    drop(snap);
    let (s, e) = f.form("POST", "/basic-auths", "username=x").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        e["message"],
        "2 schema violations (consumer: required field missing; password: required field missing)"
    );
    let (s, list) = f.call("GET", "/basic-auths", None, "").await;
    assert_eq!(
        (s, list["data"][0]["username"].as_str()),
        (StatusCode::OK, Some("al"))
    );
}

#[tokio::test]
async fn jwt_and_acl_routes_and_the_consumer_cascade() {
    let f = Fixture::new(&with_consumers());
    let (s, j) = f.json("POST", "/consumers/alice/jwt", json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{j}");
    assert_eq!(j["algorithm"], "HS256");
    assert_eq!(j["secret"].as_str().map(str::len), Some(32));
    let key = j["key"].as_str().unwrap().to_string();
    let (s, c) = f
        .call("GET", &format!("/jwts/{key}/consumer"), None, "")
        .await;
    assert_eq!((s, c["username"].as_str()), (StatusCode::OK, Some("alice")));

    let (s, a) = f
        .form("POST", "/consumers/alice/acls", "group=admins")
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let (s, _) = f.form("POST", "/consumers/bob/acls", "group=admins").await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, e) = f
        .form("POST", "/consumers/alice/acls", "group=admins")
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    // Within a consumer its group designates the acl; top-level only its id does.
    let (s, v) = f
        .call("GET", "/consumers/alice/acls/admins", None, "")
        .await;
    assert_eq!((s, v["id"].clone()), (StatusCode::OK, a["id"].clone()));
    let (s, _) = f.call("GET", "/acls/admins", None, "").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = f.json("PUT", "/consumers/alice/acls/ops", json!({})).await;
    assert_eq!(
        (s, v["group"].as_str()),
        (StatusCode::OK, Some("ops")),
        "{v}"
    );
    let (_, acls) = f.call("GET", "/acls", None, "").await;
    assert_eq!(acls["data"].as_array().unwrap().len(), 3);

    let (s, _) = f.call("DELETE", "/consumers/alice", None, "").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    for path in ["/acls", "/jwts", "/key-auths"] {
        let (_, list) = f.call("GET", path, None, "").await;
        let owners: Vec<Value> = (list["data"].as_array().unwrap().iter())
            .map(|c| c["consumer"]["id"].clone())
            .collect();
        assert!(!owners.contains(&json!(ALICE)), "{path}: {list}");
    }
    let (_, acls) = f.call("GET", "/acls", None, "").await;
    assert_eq!(acls["data"].as_array().unwrap().len(), 1);
    assert!(!f.file().contains(ALICE), "{}", f.file());
}

#[tokio::test]
async fn schemas_and_tags_know_the_credential_kinds() {
    let f = Fixture::new(&with_consumers());
    let (s, v) = f
        .call("GET", "/schemas/keyauth_credentials", None, "")
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let names: Vec<&str> = (v["fields"].as_array().unwrap().iter())
        .filter_map(|f| f.as_object()?.keys().next().map(String::as_str))
        .collect();
    assert_eq!(
        names,
        ["id", "consumer", "created_at", "key", "tags", "ttl"]
    );
    let (s, _) = f
        .form("POST", "/consumers/bob/acls", "group=g&tags=team")
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, tags) = f.call("GET", "/tags/team", None, "").await;
    assert_eq!(tags["data"][0]["entity_name"], "acls");
}

#[tokio::test]
async fn schema_validation_of_a_credential_runs_the_kinds_checks_and_writes_nothing() {
    let f = Fixture::new(&with_consumers());
    let before = f.file();
    let (s, v) = f
        .json(
            "POST",
            "/schemas/jwt_secrets/validate",
            json!({"consumer": {"id": ALICE}, "algorithm": "PS256"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["fields"]["rsa_public_key"], "required field missing");
    let (s, v) = f
        .json("POST", "/schemas/acls/validate", json!({"group": "g"}))
        .await;
    assert_eq!(
        (s, v["fields"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!({"consumer": "required field missing"})
        )
    );
    let (s, v) = f
        .json(
            "POST",
            "/schemas/basicauth_credentials/validate",
            json!({"consumer": {"username": "ghost"}, "username": "u", "password": "p"}),
        )
        .await;
    assert_eq!(
        (s, v["message"].as_str()),
        (StatusCode::OK, Some("schema validation successful")),
        "{v}"
    );
    assert_eq!(f.file(), before);
}

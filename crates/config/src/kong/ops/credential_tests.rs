//! Unit tests of the credential kinds' Admin API writes: Kong's shapes, generated values, uniqueness
//! (409), basic-auth hashing, the consumer cascade, and `POST /config`.

use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::*;
use crate::credentials::CredKind;
use crate::kong::entity::{entries, find, view};
use crate::load::{parse_str, to_yaml};

const NOW: i64 = 1_700_000_000;
const ALICE: &str = "00000000-0000-0000-0000-0000000000a1";

const KEY: Kind = Kind::Credential(CredKind::KeyAuth);
const BASIC: Kind = Kind::Credential(CredKind::BasicAuth);
const JWT: Kind = Kind::Credential(CredKind::Jwt);
const ACL: Kind = Kind::Credential(CredKind::Acl);

fn base() -> Config {
    parse_str(&format!(
        "_format_version: '3.0'\nconsumers:\n  - id: {ALICE}\n    username: alice\n    keyauth_credentials: [{{key: alice-key}}]\n  - username: bob\n"
    ))
    .unwrap()
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn get(config: &Config, kind: Kind, key: &str) -> Value {
    view(config, &find(config, kind, key).unwrap())
}

#[test]
fn key_auth_create_shows_kongs_shape_and_generates_a_key() {
    let w = create(
        &base(),
        KEY,
        obj(json!({"consumer": {"username": "bob"}})),
        NOW,
    )
    .unwrap();
    let v = get(&w.config, KEY, &w.id.to_string());
    let bob = w.config.consumers[1].id;
    assert_eq!(v["consumer"], json!({"id": bob}));
    assert_eq!(v["key"].as_str().unwrap().len(), 32);
    assert_eq!(v["created_at"], NOW);
    assert_eq!(v["tags"], Value::Null);
    let mut fields: Vec<&String> = v.as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(fields, ["consumer", "created_at", "id", "key", "tags"]);
    // Found by its key too (Kong's endpoint key).
    let key = v["key"].as_str().unwrap();
    assert_eq!(find(&w.config, KEY, key).unwrap().id, w.id);
}

#[test]
fn key_auth_uniqueness_is_kongs_409_without_the_key() {
    let e = create(
        &base(),
        KEY,
        obj(json!({"consumer": {"id": ALICE}, "key": "alice-key"})),
        NOW,
    )
    .unwrap_err();
    assert_eq!(e.status(), 409);
    let body = e.body();
    assert_eq!(body["name"], "unique constraint violation");
    assert_eq!(body["fields"], json!({"key": "<redacted>"}));
    assert!(!body.to_string().contains("alice-key"));
}

#[test]
fn a_credential_needs_an_existing_consumer() {
    let e = create(&base(), KEY, obj(json!({"key": "k"})), NOW).unwrap_err();
    assert_eq!(
        e.body()["message"],
        "schema violation (consumer: required field missing)"
    );
    let ghost = Uuid::from_u128(9);
    let e = create(
        &base(),
        ACL,
        obj(json!({"consumer": {"id": ghost}, "group": "g"})),
        NOW,
    )
    .unwrap_err();
    assert_eq!(e.body()["code"], 4);
    assert_eq!(
        e.body()["fields"],
        json!({"consumer": {"id": ghost.to_string()}})
    );
}

#[test]
fn basic_auth_passwords_are_hashed_before_anything_is_stored() {
    let w = create(
        &base(),
        BASIC,
        obj(json!({"consumer": {"id": ALICE}, "username": "al", "password": "kong"})),
        NOW,
    )
    .unwrap();
    let alice = Uuid::parse_str(ALICE).unwrap();
    let expected = crate::credentials::basic_auth::hash(alice, "kong");
    assert_eq!(get(&w.config, BASIC, "al")["password"], expected);
    let text = to_yaml(&w.config).unwrap();
    assert!(!text.contains("password: kong"), "{text}");
    assert_eq!(parse_str(&text).unwrap(), w.config);
    // A PATCH without password keeps the hash; with one, hashes the new one.
    let kept = update(&w.config, BASIC, "al", obj(json!({"username": "al2"})), NOW).unwrap();
    assert_eq!(get(&kept.config, BASIC, "al2")["password"], expected);
    let changed = update(
        &kept.config,
        BASIC,
        "al2",
        obj(json!({"password": "new"})),
        NOW,
    )
    .unwrap();
    let cred = &changed.config.basicauth_credentials[0];
    assert!(cred.verify("new") && !cred.verify("kong"));
    // Moving it to another consumer needs the password (the hash is salted with the consumer).
    let e = update(
        &changed.config,
        BASIC,
        "al2",
        obj(json!({"consumer": {"username": "bob"}})),
        NOW,
    )
    .unwrap_err();
    assert_eq!(
        e.body()["message"],
        "schema violation (all or none of these fields must be set: 'password', 'consumer.id')"
    );
    let e = create(
        &w.config,
        BASIC,
        obj(json!({"consumer": {"id": ALICE}, "username": "x"})),
        NOW,
    )
    .unwrap_err();
    assert_eq!(
        e.body()["fields"],
        json!({"password": "required field missing"})
    );
    let e = create(
        &w.config,
        BASIC,
        obj(json!({"consumer": {"id": ALICE}, "username": "al", "password": "p"})),
        NOW,
    )
    .unwrap_err();
    assert_eq!(
        (e.status(), e.body()["fields"].clone()),
        (409, json!({"username": "al"}))
    );
}

#[test]
fn jwt_generates_key_and_secret_and_checks_the_public_key() {
    let w = create(&base(), JWT, obj(json!({"consumer": {"id": ALICE}})), NOW).unwrap();
    let v = get(&w.config, JWT, &w.id.to_string());
    assert_eq!(v["algorithm"], "HS256");
    assert_eq!(v["rsa_public_key"], Value::Null);
    assert_eq!(v["secret"].as_str().unwrap().len(), 32);
    let e = create(
        &base(),
        JWT,
        obj(json!({"consumer": {"id": ALICE}, "algorithm": "RS256", "rsa_public_key": "test"})),
        NOW,
    )
    .unwrap_err();
    assert_eq!(
        e.body()["fields"],
        json!({
            "rsa_public_key": "invalid key",
            "@entity": ["failed conditional validation given value of field 'algorithm'"],
        })
    );
}

#[test]
fn acls_are_unique_per_consumer_and_found_by_group_only_there() {
    let c = base();
    let w = create(
        &c,
        ACL,
        obj(json!({"consumer": {"id": ALICE}, "group": "admins"})),
        NOW,
    )
    .unwrap();
    let bob = create(
        &w.config,
        ACL,
        obj(json!({"consumer": {"username": "bob"}, "group": "admins"})),
        NOW,
    )
    .unwrap();
    let e = create(
        &bob.config,
        ACL,
        obj(json!({"consumer": ALICE, "group": "admins"})),
        NOW,
    )
    .unwrap_err();
    assert_eq!(e.status(), 409);
    assert_eq!(
        e.body()["fields"],
        json!({"consumer": {"id": ALICE}, "group": "admins"})
    );
    // Top-level, a group designates nothing (Kong's acls have no endpoint key).
    assert!(find(&bob.config, ACL, "admins").is_none());
    assert!(find(&bob.config, ACL, &w.id.to_string()).is_some());
}

#[test]
fn deleting_a_consumer_deletes_its_credentials() {
    let mut c = base();
    for kind_fields in [
        (ACL, json!({"consumer": {"id": ALICE}, "group": "g"})),
        (ACL, json!({"consumer": {"username": "bob"}, "group": "g"})),
        (
            BASIC,
            json!({"consumer": {"id": ALICE}, "username": "a", "password": "p"}),
        ),
        (JWT, json!({"consumer": {"id": ALICE}})),
    ] {
        c = create(&c, kind_fields.0, obj(kind_fields.1), NOW)
            .unwrap()
            .config;
    }
    let gone = delete(&c, Kind::Consumer, "alice").unwrap().unwrap();
    for kind in [KEY, BASIC, JWT] {
        assert!(entries(&gone, kind).is_empty(), "{kind:?}");
    }
    let acls = entries(&gone, ACL);
    assert_eq!(acls.len(), 1);
    assert_eq!(acls[0].consumer, Some(gone.consumers[0].id));
    // Deleting one credential leaves the rest.
    let one = delete(&c, KEY, "alice-key").unwrap().unwrap();
    assert!(one.keyauth_credentials.is_empty());
    assert_eq!(one.acls.len(), 2);
}

#[test]
fn put_by_endpoint_key_creates_then_replaces() {
    let w = upsert(
        &base(),
        KEY,
        "k-put",
        obj(json!({"consumer": {"username": "bob"}})),
        NOW,
    )
    .unwrap();
    assert_eq!(
        get(&w.config, KEY, "k-put")["consumer"]["id"],
        json!(w.config.consumers[1].id)
    );
    let again = upsert(
        &w.config,
        KEY,
        "k-put",
        obj(json!({"consumer": ALICE})),
        NOW + 1,
    )
    .unwrap();
    assert_eq!(again.id, w.id);
    let v = get(&again.config, KEY, "k-put");
    assert_eq!(
        (v["consumer"]["id"].clone(), v["created_at"].clone()),
        (json!(ALICE), json!(NOW))
    );
}

#[test]
fn post_config_reads_credentials_and_answers_them_by_entity_name() {
    let text = format!(
        "_format_version: '3.0'\nconsumers:\n  - id: {ALICE}\n    username: alice\n    acls: [{{group: g}}]\nbasicauth_credentials:\n  - {{consumer: alice, username: a, password: p}}\n"
    );
    let c = crate::kong::declarative::parse(&text, &Default::default(), false).unwrap();
    let body = crate::kong::declarative::entities(&c);
    assert_eq!(body["acls"].as_object().unwrap().len(), 1);
    let basic = body["basicauth_credentials"].as_object().unwrap();
    let (_, cred) = basic.iter().next().unwrap();
    assert_eq!(cred["password"].as_str().unwrap().len(), 40);
    let export = crate::kong::declarative::export(&c).unwrap();
    assert!(!export.contains("password: p\n"), "{export}");
    let bad = text.replace("consumer: alice", "consumer: nobody");
    let e = crate::kong::declarative::parse(&bad, &Default::default(), false).unwrap_err();
    assert_eq!(
        e.body()["fields"],
        json!({"basicauth_credentials": [{"consumer": "no consumer with id or username \"nobody\""}]})
    );
}

#[test]
fn flattened_errors_never_echo_a_secret() {
    let text = format!(
        "_format_version: '3.0'\nconsumers:\n  - id: {ALICE}\n    username: alice\n    keyauth_credentials: [{{key: sekrit-key, ttl: 5}}]\n    basicauth_credentials: [{{username: u, password: hunter2, tags: [1]}}]\n"
    );
    let e = crate::kong::declarative::parse(&text, &Default::default(), true).unwrap_err();
    let body = e.body().to_string();
    assert!(
        !body.contains("sekrit-key") && !body.contains("hunter2"),
        "{body}"
    );
    let flat = e.body()["flattened_errors"].as_array().unwrap().clone();
    assert_eq!(flat.len(), 2, "{body}");
    assert_eq!(flat[0]["entity"]["key"], "<redacted>");
    assert_eq!(flat[0]["entity"]["ttl"], 5);
    assert_eq!(flat[1]["entity"]["password"], "<redacted>");
}

#[test]
fn hmac_auth_create_generates_a_secret_and_usernames_are_unique() {
    const HMAC: Kind = Kind::Credential(CredKind::HmacAuth);
    let w = create(
        &base(),
        HMAC,
        obj(json!({"consumer": {"id": ALICE}, "username": "alice-hmac"})),
        NOW,
    )
    .unwrap();
    let v = get(&w.config, HMAC, "alice-hmac");
    assert_eq!(v["consumer"], json!({"id": ALICE}));
    assert_eq!(v["secret"].as_str().unwrap().len(), 32);
    let mut fields: Vec<&String> = v.as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(
        fields,
        ["consumer", "created_at", "id", "secret", "tags", "username"]
    );
    let again = obj(
        json!({"consumer": {"username": "bob"}, "username": "alice-hmac", "secret": "bob-hush"}),
    );
    let e = create(&w.config, HMAC, again, NOW).unwrap_err();
    assert_eq!(e.status(), 409);
    assert_eq!(e.body()["fields"], json!({"username": "alice-hmac"}));
    assert!(!e.body().to_string().contains("bob-hush"));
    let e = create(
        &w.config,
        HMAC,
        obj(json!({"consumer": {"id": ALICE}})),
        NOW,
    )
    .unwrap_err();
    assert_eq!(
        e.body()["fields"],
        json!({"username": "required field missing"})
    );
}

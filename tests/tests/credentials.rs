//! Kong's credential entities end to end through the real binary: a file with consumers and all four kinds
//! (nested and top-level) loads, `/key-auths`, `/basic-auths`, `/jwts`, `/acls` answer through the real admin
//! listener, basic-auth passwords are shown and written only as Kong's hash (a SIGHUP re-read of the
//! written-back file does not hash them again), refused writes leave the file byte for byte, and deleting a
//! consumer deletes its credentials.

use std::time::{Duration, Instant};

use e2e::admin::{call, form, get, json_req};
use e2e::{config_value, to_yaml, Gateway, Ports};
use reqwest::Method;
use serde_json::{json, Value};

const ALICE: &str = "0b5f7a4e-7d59-4f7e-9a32-6a0c1f6c1aa1";
const ED25519_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAyCeO9W7tCF7uRZIdcERTYhUwLRv3ZAp31yTTxV95Erw=\n-----END PUBLIC KEY-----\n";
/// Kong's stored form of alice's password `secret` (sha1 of `secret` followed by her id), from Python's
/// hashlib, not from the gateway's code.
const ALICE_HASH: &str = "8aa02744c41966d6f8b94bd778f83ee2224a2c7d";

fn start() -> Gateway {
    let mut config = config_value(Ports::free(), "http://127.0.0.1:9", None);
    config["consumers"] = json!([
        {
            "id": ALICE,
            "username": "alice",
            "keyauth_credentials": [{"key": "alice-key"}],
            "basicauth_credentials": [{"username": "alice", "password": "secret"}],
            "jwt_secrets": [{"key": "alice-iss", "secret": "alice-secret"}],
            "acls": [{"group": "admins"}],
        },
        {"username": "bob"},
    ]);
    config["keyauth_credentials"] =
        json!([{"consumer": "bob", "key": "bob-key", "tags": ["edge"]}]);
    config["basicauth_credentials"] =
        json!([{"consumer": {"username": "bob"}, "username": "bob", "password": "pw"}]);
    config["jwt_secrets"] = json!([
        {"consumer": ALICE, "key": "alice-ed", "algorithm": "EdDSA", "rsa_public_key": ED25519_PEM}
    ]);
    config["acls"] = json!([{"consumer": "bob", "group": "admins"}, {"consumer": {"id": ALICE}, "group": "ops"}]);
    Gateway::start(&to_yaml(&config))
}

fn data(url: &str) -> Vec<Value> {
    let (s, v) = get(url);
    assert_eq!(s, 200, "{url}: {v}");
    v["data"].as_array().cloned().unwrap_or_default()
}

fn field<'a>(items: &'a [Value], name: &str) -> Vec<&'a str> {
    items.iter().filter_map(|i| i[name].as_str()).collect()
}

#[test]
fn a_file_with_all_four_kinds_loads_and_the_admin_api_answers() {
    let gw = start();
    let admin = gw.admin_url();

    let keys = data(&format!("{admin}/key-auths"));
    assert_eq!(field(&keys, "key"), ["alice-key", "bob-key"]);
    assert_eq!(keys[0]["consumer"], json!({"id": ALICE}));
    assert_eq!(keys[1]["tags"], json!(["edge"]));

    let basics = data(&format!("{admin}/basic-auths"));
    assert_eq!(field(&basics, "username"), ["alice", "bob"]);
    assert_eq!(basics[0]["password"], ALICE_HASH);
    assert!(!gw.log().contains("alice-secret") && !gw.log().contains("alice-key"));

    let jwts = data(&format!("{admin}/consumers/alice/jwt"));
    assert_eq!(field(&jwts, "algorithm"), ["HS256", "EdDSA"]);
    assert_eq!(jwts[1]["rsa_public_key"], ED25519_PEM);

    let acls = data(&format!("{admin}/acls"));
    assert_eq!(field(&acls, "group"), ["admins", "admins", "ops"]);
    assert_eq!(
        field(&data(&format!("{admin}/consumers/bob/acls")), "group"),
        ["admins"]
    );
    let (s, c) = get(&format!("{admin}/key-auths/bob-key/consumer"));
    assert_eq!((s, c["username"].as_str()), (200, Some("bob")));

    // GET /config exports the hash, never the clear password.
    let (s, export) = get(&format!("{admin}/config"));
    assert_eq!(s, 200, "{export}");
    let text = export["config"].as_str().unwrap_or_default().to_string();
    assert!(text.contains(ALICE_HASH), "{export}");
    assert!(!text.contains("password: secret"), "{export}");
}

#[test]
fn refused_writes_leave_the_file_byte_for_byte_and_accepted_ones_hash_once() {
    let gw = start();
    let admin = gw.admin_url();
    let before = std::fs::read(gw.config_path()).expect("the config file");

    let (s, e) = json_req(
        Method::POST,
        &format!("{admin}/consumers/bob/key-auth"),
        json!({"key": "alice-key"}),
    );
    assert_eq!(s, 409, "{e}");
    assert!(!e.to_string().contains("alice-key"), "{e}");
    let (s, e) = form(
        Method::POST,
        &format!("{admin}/jwts"),
        &[("consumer.id", ALICE), ("algorithm", "RS256")],
    );
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["fields"]["rsa_public_key"], "required field missing");
    let (s, _) = form(
        Method::POST,
        &format!("{admin}/consumers/nobody/acls"),
        &[("group", "g")],
    );
    assert_eq!(s, 404);
    let (s, e) = form(
        Method::POST,
        &format!("{admin}/basic-auths"),
        &[("username", "x")],
    );
    assert_eq!(s, 400, "{e}");
    assert_eq!(
        std::fs::read(gw.config_path()).expect("the config file"),
        before
    );

    // An accepted write rewrites the file with hashes only; SIGHUP re-reads it without hashing twice.
    let (s, b) = form(
        Method::POST,
        &format!("{admin}/consumers/bob/basic-auth"),
        &[("username", "bob2"), ("password", "hunter2")],
    );
    assert_eq!(s, 201, "{b}");
    let file = gw.config();
    assert!(
        file.contains("_transform: false") && file.contains(ALICE_HASH),
        "{file}"
    );
    assert!(
        !file.contains("hunter2") && !file.contains("password: secret"),
        "{file}"
    );
    gw.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !gw.log().contains("config reloaded path=") {
        assert!(Instant::now() < deadline, "no reload: {}", gw.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let basics = data(&format!("{admin}/basic-auths"));
    assert_eq!(basics[0]["password"], ALICE_HASH);
    assert_eq!(basics[2]["password"], b["password"]);

    // Deleting a consumer deletes its credentials.
    let (s, _) = call(Method::DELETE, &format!("{admin}/consumers/alice"));
    assert_eq!(s, 204);
    for kind in ["key-auths", "basic-auths", "jwts", "acls"] {
        let owners: Vec<Value> = (data(&format!("{admin}/{kind}")).iter())
            .map(|c| c["consumer"]["id"].clone())
            .collect();
        assert!(!owners.is_empty() || kind == "jwts", "{kind}");
        assert!(!owners.contains(&json!(ALICE)), "{kind}: {owners:?}");
    }
    assert!(!gw.config().contains(ALICE), "{}", gw.config());
}

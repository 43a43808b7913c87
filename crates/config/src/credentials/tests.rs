//! Tests of the credential kinds: loading (nested and top-level), Kong's checks and messages, the basic-auth
//! hash and `_transform`, the round trip of a written-back file, the index.

use uuid::Uuid;

use super::*;
use crate::load::{parse_str, to_yaml};

/// An Ed25519 public key (EdDSA).
pub(crate) const ED25519_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAyCeO9W7tCF7uRZIdcERTYhUwLRv3ZAp31yTTxV95Erw=\n-----END PUBLIC KEY-----\n";

const ALICE: &str = "00000000-0000-0000-0000-000000000001";

fn yaml() -> String {
    format!(
        r#"
_format_version: "3.0"
consumers:
  - id: {ALICE}
    username: alice
    keyauth_credentials:
      - key: alice-key
    basicauth_credentials:
      - username: alice
        password: secret
    jwt_secrets:
      - key: alice-iss
        secret: alice-secret
    acls:
      - group: admins
  - username: bob
keyauth_credentials:
  - consumer: bob
    key: bob-key
    tags: [t1]
basicauth_credentials:
  - consumer: {{username: bob}}
    username: bob
    password: " pw "
jwt_secrets:
  - consumer: {ALICE}
    key: alice-ed
    algorithm: EdDSA
    rsa_public_key: "{}"
acls:
  - consumer: {{id: {ALICE}}}
    group: ops
  - consumer: bob
    group: admins
"#,
        ED25519_PEM.replace('\n', "\\n")
    )
}

fn errors(yaml: &str) -> Vec<String> {
    parse_str(yaml)
        .unwrap_err()
        .0
        .iter()
        .map(|e| format!("{}: {}", e.path, e.message))
        .collect()
}

fn alice() -> Uuid {
    Uuid::parse_str(ALICE).unwrap()
}

#[test]
fn nested_and_top_level_credentials_load_with_their_consumer() {
    let c = parse_str(&yaml()).unwrap();
    let bob = c.consumers[1].id;
    let keys: Vec<(&str, Uuid)> = (c.keyauth_credentials.iter())
        .map(|k| (k.key.as_str(), k.consumer))
        .collect();
    assert_eq!(keys, [("alice-key", alice()), ("bob-key", bob)]);
    assert_eq!(c.keyauth_credentials[1].tags, ["t1"]);
    assert_eq!(c.basicauth_credentials[1].consumer, bob);
    assert_eq!(c.jwt_secrets[0].algorithm, JwtAlgorithm::HS256);
    assert_eq!(c.jwt_secrets[1].algorithm, JwtAlgorithm::EdDSA);
    assert_eq!(
        c.jwt_secrets[1].rsa_public_key.as_deref(),
        Some(ED25519_PEM)
    );
    let groups: Vec<(&str, Uuid)> = c
        .acls
        .iter()
        .map(|a| (a.group.as_str(), a.consumer))
        .collect();
    assert_eq!(
        groups,
        [("admins", alice()), ("ops", alice()), ("admins", bob)]
    );
    // Ids are derived, stable across loads.
    assert_eq!(parse_str(&yaml()).unwrap().acls[2].id, c.acls[2].id);
    assert_ne!(c.acls[0].id, c.acls[2].id);
}

#[test]
fn passwords_are_kongs_hash_and_verify() {
    let c = parse_str(&yaml()).unwrap();
    let alice = &c.basicauth_credentials[0];
    // sha1("secret" .. "00000000-0000-0000-0000-000000000001"), as Kong's crypto.lua computes it.
    assert_eq!(alice.password, "957006fa54b042fc81ba7ab56d3d6740f1c8c6f9");
    assert!(alice.verify("secret"));
    assert!(!alice.verify("Secret"));
    assert!(!alice.verify(""));
    // Not trimmed (Kong's spec "hashes the password without trimming whitespace").
    let bob = &c.basicauth_credentials[1];
    assert!(bob.verify(" pw "));
    assert!(!bob.verify("pw"));
    assert_eq!(c.transform, Some(false));
    assert!(!format!("{alice:?}").contains(&alice.password));
}

#[test]
fn a_written_back_file_loads_to_the_same_config_without_hashing_twice() {
    let c = parse_str(&yaml()).unwrap();
    let text = to_yaml(&c).unwrap();
    assert!(text.contains("_transform: false"), "{text}");
    assert!(
        !text.contains("password: secret") && !text.contains(" pw "),
        "{text}"
    );
    let again = parse_str(&text).unwrap();
    assert_eq!(again, c);
    assert!(again.basicauth_credentials[0].verify("secret"));
    // Credentials are written top-level with their consumer's id.
    assert!(text.contains(&format!("consumer: {ALICE}")), "{text}");
}

#[test]
fn a_kong_export_with_transform_false_keeps_its_hashes() {
    let hash = "957006FA54B042FC81BA7AB56D3D6740F1C8C6F9";
    let text = format!(
        "_format_version: '3.0'\n_transform: false\nconsumers:\n  - id: {ALICE}\n    username: alice\nbasicauth_credentials:\n  - consumer: alice\n    username: alice\n    password: {hash}\n"
    );
    let c = parse_str(&text).unwrap();
    assert_eq!(
        c.basicauth_credentials[0].password,
        hash.to_ascii_lowercase()
    );
    assert!(c.basicauth_credentials[0].verify("secret"));
    let clear = text.replace(hash, "secret");
    assert_eq!(
        errors(&clear),
        [format!(
            "basicauth_credentials[0].password: {}",
            basic_auth::NOT_A_HASH
        )]
    );
}

#[test]
fn generated_values_where_kong_generates_them() {
    let c = parse_str(
        "_format_version: '3.0'\nconsumers:\n  - username: a\n    keyauth_credentials: [{}]\n    jwt_secrets: [{}]\n",
    )
    .unwrap();
    let key = &c.keyauth_credentials[0].key;
    assert_eq!(key.len(), 32);
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
    let jwt = &c.jwt_secrets[0];
    assert_eq!((jwt.key.len(), jwt.secret.len()), (32, 32));
    assert_ne!(jwt.key, jwt.secret);
}

#[test]
fn kongs_field_checks_with_paths() {
    let e = errors(&format!(
        r#"
_format_version: "3.0"
consumers:
  - username: alice
    id: {ALICE}
    keyauth_credentials:
      - key: k1
      - {{key: k1, ttl: 10}}
    basicauth_credentials:
      - username: u
      - {{password: p}}
    jwt_secrets:
      - {{key: j, algorithm: HS1024}}
      - {{key: r, algorithm: RS256}}
      - {{key: p, algorithm: PS256, rsa_public_key: "not a key"}}
      - {{key: e, algorithm: ES256}}
    acls:
      - group: g
      - group: g
      - {{}}
      - {{group: "", colour: red}}
keyauth_credentials:
  - key: orphan
  - consumer: nobody
    key: k2
  - consumer: {{id: {ALICE}}}
    key: k1
"#
    ));
    let one_of = jwt::one_of_message();
    assert_eq!(
        e,
        [
            "consumers[0].keyauth_credentials[1].ttl: not supported yet: credentials do not expire in this gateway (leave `ttl` out or null)".to_string(),
            "consumers[0].basicauth_credentials[0].password: required field missing".into(),
            "consumers[0].basicauth_credentials[1].username: required field missing".into(),
            format!("consumers[0].jwt_secrets[0].algorithm: {one_of}"),
            "consumers[0].jwt_secrets[1].rsa_public_key: required field missing".into(),
            "consumers[0].jwt_secrets[1]: failed conditional validation given value of field 'algorithm'".into(),
            "consumers[0].jwt_secrets[2].rsa_public_key: invalid key".into(),
            "consumers[0].jwt_secrets[2]: failed conditional validation given value of field 'algorithm'".into(),
            "consumers[0].acls[2].group: required field missing".into(),
            "consumers[0].acls[3].group: length must be at least 1".into(),
            "consumers[0].acls[3].colour: unknown field".into(),
            "keyauth_credentials[0].consumer: required field missing".into(),
            "keyauth_credentials[1].consumer: no consumer with id or username \"nobody\"".into(),
            "keyauth_credentials[2].key: duplicate key (also consumers[0].keyauth_credentials[0])".into(),
            "consumers[0].acls[1].group: duplicate group \"g\" for this consumer (also consumers[0].acls[0])".into(),
        ]
    );
    // A key-auth key is a secret: never in a message.
    assert!(e.iter().all(|m| !m.contains("k1")));
}

#[test]
fn the_index_gives_what_the_plugins_need() {
    let c = parse_str(&yaml()).unwrap();
    let index = CredentialIndex::new(&c);
    assert_eq!(index.keyauth("alice-key"), Some(0));
    assert_eq!(index.keyauth("bob-key"), Some(1));
    assert_eq!(index.keyauth("nope"), None);
    let bob_key = c.keyauth_credentials[1].id;
    let (who, id) = index.keyauth_credential("bob-key").unwrap();
    assert_eq!((who, id.as_bytes()), (1, bob_key.to_string().as_bytes()));
    assert_eq!(index.keyauth_credential("nope"), None);
    let (who, cred) = index.basicauth("bob").unwrap();
    assert_eq!(who, 1);
    assert!(cred.verify(" pw "));
    assert!(index.basicauth("carol").is_none());
    let hs = index.jwt("alice-iss").unwrap();
    assert_eq!(
        (hs.consumer, hs.algorithm, &hs.key, hs.credential),
        (
            0,
            JwtAlgorithm::HS256,
            &JwtKey::Secret(b"alice-secret".to_vec()),
            c.jwt_secrets[0].id
        )
    );
    let ed = index.jwt("alice-ed").unwrap();
    assert_eq!(ed.key, JwtKey::PublicKeyPem(Some(ED25519_PEM.to_string())));
    assert_eq!(index.groups(0), ["admins", "ops"]);
    assert_eq!(index.groups(1), ["admins"]);
    assert!(index.groups(7).is_empty());
    assert!(!format!("{hs:?}").contains("alice-secret"));
}

#[test]
fn the_table_declares_kongs_names() {
    let names: Vec<(&str, &str, &str)> = CredKind::ALL
        .iter()
        .map(|k| (k.spec().name, k.spec().admin_api_name, k.spec().nested_name))
        .collect();
    assert_eq!(
        names,
        [
            ("keyauth_credentials", "key-auths", "key-auth"),
            ("basicauth_credentials", "basic-auths", "basic-auth"),
            ("hmacauth_credentials", "hmac-auths", "hmac-auth"),
            ("jwt_secrets", "jwts", "jwt"),
            ("acls", "acls", "acls"),
        ]
    );
    assert_eq!(CredKind::named("jwt_secrets"), Some(CredKind::Jwt));
    assert_eq!(JwtAlgorithm::ALL.len(), 13);
    assert!(JwtAlgorithm::EdDSA.needs_public_key() && !JwtAlgorithm::ES256.needs_public_key());
}

#[test]
fn hmac_credentials_load_nested_and_top_level_with_generated_secrets() {
    let c = parse_str(&format!(
        r#"
_format_version: "3.0"
consumers:
  - id: {ALICE}
    username: alice
    hmacauth_credentials:
      - username: alice-hmac
        secret: alice-secret
        tags: [t]
  - username: bob
hmacauth_credentials:
  - consumer: bob
    username: bob-hmac
"#
    ))
    .unwrap();
    let alice = &c.hmacauth_credentials[0];
    assert_eq!(
        (alice.username.as_str(), alice.secret.as_str()),
        ("alice-hmac", "alice-secret")
    );
    assert_eq!(alice.consumer, Uuid::parse_str(ALICE).unwrap());
    let bob = &c.hmacauth_credentials[1];
    assert_eq!(bob.secret.len(), 32, "Kong's auto secret");
    assert!(!format!("{alice:?}").contains("alice-secret"));
    let index = CredentialIndex::new(&c);
    let (who, cred) = index.hmacauth("bob-hmac").unwrap();
    assert_eq!((who, &cred.secret), (1, &bob.secret));
    assert!(index.hmacauth("carol").is_none());
    // The written-back file keeps the generated secret, so a reload authenticates the same signatures.
    let again = parse_str(&to_yaml(&c).unwrap()).unwrap();
    assert_eq!(again.hmacauth_credentials, c.hmacauth_credentials);
}

#[test]
fn hmac_credentials_checks_with_paths_and_no_secret_in_messages() {
    let e = errors(&format!(
        r#"
_format_version: "3.0"
consumers:
  - id: {ALICE}
    username: alice
    hmacauth_credentials:
      - {{secret: hush-hush}}
      - {{username: v, secret: 12}}
      - {{username: u, secret: other-hush}}
      - {{username: u}}
hmacauth_credentials:
  - {{username: orphan, secret: hush-hush}}
"#
    ));
    assert_eq!(
        e,
        [
            "consumers[0].hmacauth_credentials[0].username: required field missing".to_string(),
            "consumers[0].hmacauth_credentials[1].secret: expected a string".into(),
            "hmacauth_credentials[0].consumer: required field missing".into(),
            "consumers[0].hmacauth_credentials[3].username: duplicate username \"u\" (also consumers[0].hmacauth_credentials[2])".into(),
        ]
    );
    assert!(e.iter().all(|m| !m.contains("hush")));
}

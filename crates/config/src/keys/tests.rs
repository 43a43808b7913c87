//! Kong's checks of `key_sets` and `keys`, with keys made in the test.

use base64::Engine;
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use serde_json::json;

use crate::load::parse_str;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa_jwk(kid: &str) -> String {
    let rsa = Rsa::generate(2048).unwrap();
    json!({"kty": "RSA", "kid": kid, "n": b64(&rsa.n().to_vec()), "e": b64(&rsa.e().to_vec()), "alg": "RS256"})
        .to_string()
}

fn ec_jwk(kid: &str) -> String {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = EcKey::generate(&group).unwrap();
    let mut ctx = openssl::bn::BigNumContext::new().unwrap();
    let (mut x, mut y) = (
        openssl::bn::BigNum::new().unwrap(),
        openssl::bn::BigNum::new().unwrap(),
    );
    key.public_key()
        .affine_coordinates(&group, &mut x, &mut y, &mut ctx)
        .unwrap();
    let d = key.private_key().to_vec_padded(32).unwrap();
    json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": b64(&x.to_vec_padded(32).unwrap()),
        "y": b64(&y.to_vec_padded(32).unwrap()), "d": b64(&d)})
    .to_string()
}

fn pem_pair() -> (String, String) {
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    (
        String::from_utf8(key.private_key_to_pem_pkcs8().unwrap()).unwrap(),
        String::from_utf8(key.public_key_to_pem().unwrap()).unwrap(),
    )
}

/// The document with `keys` and `key_sets` as JSON (YAML's superset).
fn doc(sets: serde_json::Value, keys: serde_json::Value) -> String {
    json!({"_format_version": "3.0", "key_sets": sets, "keys": keys}).to_string()
}

fn errors(text: &str) -> Vec<String> {
    match parse_str(text) {
        Ok(_) => Vec::new(),
        Err(e) => e.lines(),
    }
}

#[test]
fn jwk_and_pem_keys_load_in_their_sets() {
    let (private, public) = pem_pair();
    let text = doc(
        json!([{"id": "d46b0e15-ffbc-4b15-ad92-09ef67935453", "name": "bar"}, {"name": "nested", "keys": [{"kid": "n1", "jwk": ec_jwk("n1")}]}]),
        json!([
            {"name": "foo", "kid": "k1", "jwk": rsa_jwk("k1"), "set": {"name": "bar"}},
            {"kid": "k2", "pem": {"private_key": private, "public_key": public}, "set": {"id": "d46b0e15-ffbc-4b15-ad92-09ef67935453", "name": "bar"}},
            {"kid": "k3", "pem": {"public_key": public}},
        ]),
    );
    let c = parse_str(&text).unwrap();
    assert_eq!(c.key_sets.len(), 2);
    assert_eq!(c.keys.len(), 4);
    let bar = c.key_sets[0].id;
    assert_eq!(c.keys[0].set, Some(bar));
    assert_eq!(c.keys[1].set, Some(bar));
    assert_eq!(c.keys[2].set, None);
    assert_eq!(c.keys[3].set, Some(c.key_sets[1].id));
    // Round trip: the model written back reads the same (the Admin API persists it so).
    let again = parse_str(&crate::load::to_yaml(&c).unwrap()).unwrap();
    assert_eq!(again.keys, c.keys);
    assert_eq!(again.key_sets, c.key_sets);
    // Secrets stay out of Debug.
    let debug = format!("{:?}", c.keys);
    assert!(
        !debug.contains("PRIVATE KEY") && !debug.contains("\"n\""),
        "{debug}"
    );
}

#[test]
fn kongs_messages_for_bad_keys() {
    let (private, public) = pem_pair();
    let (other_private, _) = pem_pair();
    let cases = [
        (json!({"kid": "a", "jwk": "{"}), "keys[0]: could not json decode jwk string"),
        (json!({"kid": "a", "jwk": rsa_jwk("b")}), "keys[0]: kid in jwk.kid must be equal to keys.kid"),
        (
            json!({"kid": "a", "jwk": json!({"kty": "oct", "kid": "a", "k": "c2VjcmV0"}).to_string()}),
            "keys[0]: could not load JWK, likely not a valid key",
        ),
        (
            json!({"kid": "a", "jwk": json!({"kty": "RSA", "kid": "a", "n": "AQAB", "e": "AQAB", "foo": 1}).to_string()}),
            "keys[0]: foo: unknown field",
        ),
        (json!({"kid": "a"}), "keys[0]: at least one of these fields must be non-empty: 'jwk', 'pem'"),
        (
            json!({"kid": "a", "jwk": rsa_jwk("a"), "pem": {"public_key": public}}),
            "keys[0]: only one or none of these fields must be set: 'jwk', 'pem'",
        ),
        (
            json!({"kid": "a", "pem": {}}),
            "keys[0].pem: at least one of these fields must be non-empty: 'private_key', 'public_key'",
        ),
        (json!({"kid": "a", "pem": {"public_key": "nope"}}), "keys[0].pem: could not load public key"),
        (json!({"kid": "a", "pem": {"private_key": "nope"}}), "keys[0].pem: could not load private key"),
        (
            json!({"kid": "a", "pem": {"private_key": other_private, "public_key": public}}),
            "keys[0].pem: public key does not match private key",
        ),
        (json!({"jwk": rsa_jwk("a")}), "keys[0].kid: required field missing"),
        (json!({"kid": "a", "jwk": rsa_jwk("a"), "set": "nope"}), "keys[0].set: no key set with id or name \"nope\""),
        (
            json!({"kid": "a", "jwk": rsa_jwk("a"), "set": {"id": "d46b0e15-ffbc-4b15-ad92-09ef67935453", "name": "x"}}),
            "keys[0].set: no key set with id \"d46b0e15-ffbc-4b15-ad92-09ef67935453\" and name \"x\"",
        ),
        (
            json!({"kid": "a", "jwk": "{vault://env/my-jwk}"}),
            "keys[0].jwk: vault references are not supported yet",
        ),
    ];
    for (key, want) in cases {
        let got = errors(&doc(json!([]), json!([key])));
        assert_eq!(got, vec![want.to_string()], "{key}");
    }
    let _ = private;
}

#[test]
fn names_and_ids_are_unique() {
    let got = errors(&doc(
        json!([{"name": "s"}, {"name": "s"}]),
        json!([{"name": "k", "kid": "1", "jwk": rsa_jwk("1")}, {"name": "k", "kid": "2", "jwk": rsa_jwk("2")}]),
    ));
    assert_eq!(
        got,
        vec![
            "key_sets[1].name: uniqueness violation: 'key_sets' entity with name set to 's' already declared",
            "keys[1].name: uniqueness violation: 'keys' entity with name set to 'k' already declared",
        ]
    );
    let id = "d46b0e15-ffbc-4b15-ad92-09ef67935453";
    let got = errors(&doc(json!([{"id": id}, {"id": id}]), json!([])));
    assert_eq!(
        got,
        vec![format!("key_sets[1].id: uniqueness violation: 'key_sets' entity with primary key set to '{id}' already declared")]
    );
}

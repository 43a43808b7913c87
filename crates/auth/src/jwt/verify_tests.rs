//! Unit tests of [`super::verify`] and [`super::header`], with keys made in the test.

use super::*;
use crate::jwt::keys::KeySet;
use crate::jwt::test_keys::{hs256, jwks, unsigned, TestKey};
use serde_json::json;

const ISS: &str = "http://127.0.0.1:9/oidc";
const NOW: f64 = 1_700_000_000.0;

fn rules(extra: serde_json::Value) -> Rules {
    let mut v = json!({"issuer": ISS});
    if let serde_json::Value::Object(m) = extra {
        v.as_object_mut().unwrap().extend(m);
    }
    Rules::new(&OidcConfig::from_value(&v).unwrap())
}

fn set(keys: &[&TestKey]) -> KeySet {
    let doc = jwks(keys);
    KeySet::from_documents([doc.as_object().unwrap()])
}

fn claims() -> serde_json::Value {
    json!({"iss": ISS, "sub": "john", "exp": NOW + 60.0, "iat": NOW - 1.0, "scope": "openid read"})
}

fn check(token: &str, keys: &KeySet, rules: &Rules) -> Result<Map<String, Value>, JwtError> {
    let h = header(token)?;
    verify(token, &h, keys, rules, None, NOW)
}

#[test]
fn es256_and_eddsa_verify() {
    let (ec, ed) = (TestKey::es256("ec"), TestKey::ed25519("ed"));
    let keys = set(&[&ec, &ed]);
    for k in [&ec, &ed] {
        let c = check(&k.sign(&claims()), &keys, &rules(json!({}))).unwrap();
        assert_eq!(c["sub"], "john");
    }
}

#[test]
fn tampered_signature_or_payload_is_refused() {
    let k = TestKey::es256("k");
    let keys = set(&[&k]);
    let t = k.sign(&claims());
    let (head, sig) = t.rsplit_once('.').unwrap();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    let bad_sig = format!("{head}.{flipped}{}", &sig[1..]);
    assert!(matches!(
        check(&bad_sig, &keys, &rules(json!({}))),
        Err(JwtError::Signature)
    ));
    // Another payload under the same signature.
    let other = k.sign(&json!({"iss": ISS, "sub": "admin", "exp": NOW + 60.0}));
    let mut parts: Vec<&str> = t.split('.').collect();
    parts[1] = other.split('.').nth(1).unwrap();
    assert!(matches!(
        check(&parts.join("."), &keys, &rules(json!({}))),
        Err(JwtError::Signature)
    ));
    // A token signed by a key the issuer does not have (same kid).
    let impostor = TestKey::es256("k");
    assert!(matches!(
        check(&impostor.sign(&claims()), &keys, &rules(json!({}))),
        Err(JwtError::Signature)
    ));
}

#[test]
fn none_and_hmac_are_never_accepted() {
    let k = TestKey::es256("k");
    let none = format!("{}sig", unsigned(&claims()));
    assert!(matches!(header(&none), Err(JwtError::Algorithm)));
    // The classic confusion: HS256 keyed with the public key.
    let hs = hs256(&k.public, "k", &claims());
    assert!(matches!(header(&hs), Err(JwtError::Algorithm)));
    let x = k.jwk["x"].as_str().unwrap().as_bytes().to_vec();
    assert!(matches!(
        header(&hs256(&x, "k", &claims())),
        Err(JwtError::Algorithm)
    ));
    // An empty signature is not even a JWT.
    assert!(matches!(
        header(&unsigned(&claims())),
        Err(JwtError::NotJwt)
    ));
}

#[test]
fn keys_only_verify_their_own_algorithms() {
    let ec = TestKey::es256("same");
    let ed = TestKey::ed25519("same");
    // The EC key under the Ed25519 key's kid: the Ed25519 key is never tried with ES256.
    let keys = set(&[&ed]);
    assert!(matches!(
        check(&ec.sign(&claims()), &keys, &rules(json!({}))),
        Err(JwtError::UnknownKey)
    ));
    // A pinned `alg` that differs from the token's.
    let mut pinned = ec.jwk.clone();
    pinned["alg"] = json!("ES384");
    let doc = json!({"keys": [pinned]});
    let keys = KeySet::from_documents([doc.as_object().unwrap()]);
    assert!(matches!(
        check(&ec.sign(&claims()), &keys, &rules(json!({}))),
        Err(JwtError::UnknownKey)
    ));
}

#[test]
fn unusable_keys_are_skipped_one_by_one() {
    let ec = TestKey::es256("ec");
    let mut enc = TestKey::es256("enc").jwk;
    enc["use"] = json!("enc");
    let doc = json!({"keys": [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
        {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"},
        {"kty": "weird"},
        enc,
        ec.jwk.clone(),
    ]});
    let keys = KeySet::from_documents([doc.as_object().unwrap()]);
    assert_eq!(keys.len(), 1);
    assert!(keys.has_kid("ec") && !keys.has_kid("hmac") && !keys.has_kid("enc"));
    assert!(check(&ec.sign(&claims()), &keys, &rules(json!({}))).is_ok());
}

#[test]
fn no_kid_tries_every_fitting_key() {
    let (a, b) = (TestKey::es256("a"), TestKey::es256("b"));
    let keys = set(&[&a, &b]);
    let t = b.sign_with(jsonwebtoken::Header::new(b.alg), &claims());
    assert!(check(&t, &keys, &rules(json!({}))).is_ok());
}

#[test]
fn issuer_rules() {
    let k = TestKey::es256("k");
    let keys = set(&[&k]);
    let with_iss = |iss: serde_json::Value| {
        let mut c = claims();
        c["iss"] = iss;
        k.sign(&c)
    };
    let r = rules(json!({}));
    assert!(check(&with_iss(json!(format!("{ISS}/"))), &keys, &r).is_ok());
    for bad in [json!("http://evil/oidc"), json!(5), serde_json::Value::Null] {
        assert!(
            matches!(
                check(&with_iss(bad.clone()), &keys, &r),
                Err(JwtError::Issuer)
            ),
            "{bad}"
        );
    }
    let other = with_iss(json!("http://other/realm"));
    let r2 = rules(json!({"issuers_allowed": ["http://other/realm"]}));
    assert!(check(&other, &keys, &r2).is_ok());
    // The discovered issuer counts too.
    let h = header(&other).unwrap();
    assert!(verify(&other, &h, &keys, &r, Some("http://other/realm"), NOW).is_ok());
    // The configured issuer may be a discovery URL.
    let r3 = rules(json!({"issuer": format!("{ISS}/.well-known/openid-configuration")}));
    assert!(check(&k.sign(&claims()), &keys, &r3).is_ok());
}

#[test]
fn time_claims_with_leeway() {
    let k = TestKey::es256("k");
    let keys = set(&[&k]);
    let with = |name: &str, v: serde_json::Value| {
        let mut c = claims();
        if v.is_null() {
            c.as_object_mut().unwrap().remove(name);
        } else {
            c[name] = v;
        }
        k.sign(&c)
    };
    let strict = rules(json!({}));
    let lenient = rules(json!({"leeway": 30}));
    let expired = with("exp", json!(NOW - 10.0));
    assert!(matches!(
        check(&expired, &keys, &strict),
        Err(JwtError::Expired)
    ));
    assert!(check(&expired, &keys, &lenient).is_ok());
    assert!(matches!(
        check(&with("exp", json!(NOW)), &keys, &strict),
        Err(JwtError::Expired)
    ));
    assert!(matches!(
        check(&with("exp", serde_json::Value::Null), &keys, &strict),
        Err(JwtError::NoExpiry)
    ));
    assert!(matches!(
        check(&with("exp", json!("soon")), &keys, &strict),
        Err(JwtError::Malformed)
    ));
    let early = with("nbf", json!(NOW + 10.0));
    assert!(matches!(
        check(&early, &keys, &strict),
        Err(JwtError::NotYetValid)
    ));
    assert!(check(&early, &keys, &lenient).is_ok());
    let future = with("iat", json!(NOW + 10.0));
    assert!(matches!(
        check(&future, &keys, &strict),
        Err(JwtError::IssuedInFuture)
    ));
    assert!(check(&future, &keys, &lenient).is_ok());
}

#[test]
fn typ_of_an_access_token() {
    let k = TestKey::es256("k");
    let keys = set(&[&k]);
    for (typ, ok) in [
        (Some("at+jwt"), true),
        (Some("application/at+JWT"), true),
        (Some("JWT"), true),
        (None, true),
        (Some("token-introspection+jwt"), false),
        (Some("logout+jwt"), false),
    ] {
        let mut h = jsonwebtoken::Header::new(k.alg);
        h.kid = Some("k".into());
        h.typ = typ.map(str::to_owned);
        let r = check(&k.sign_with(h, &claims()), &keys, &rules(json!({})));
        assert_eq!(r.is_ok(), ok, "{typ:?}");
        if !ok {
            assert!(matches!(r, Err(JwtError::Type)));
        }
    }
}

fn signed_answer(k: &TestKey, typ: Option<&str>, claims: serde_json::Value) -> String {
    let mut h = jsonwebtoken::Header::new(k.alg);
    h.kid = Some(k.kid.clone());
    h.typ = typ.map(str::to_owned);
    k.sign_with(h, &claims)
}

#[test]
fn signed_introspection_answers() {
    let k = TestKey::es256("k");
    let keys = set(&[&k]);
    let r = rules(json!({}));
    let answer =
        |claims: serde_json::Value| signed_answer(&k, Some("token-introspection+jwt"), claims);
    let good = json!({"iss": ISS, "aud": "kong", "iat": NOW, "token_introspection": {"active": true, "scope": "read"}});
    let check = |jwt: &str| {
        let h = introspection_header(jwt)?;
        verify_introspection(jwt, &h, &keys, &r, None, "kong", NOW)
    };
    assert_eq!(check(&answer(good.clone())).unwrap()["scope"], "read");
    let mut arr = good.clone();
    arr["aud"] = json!(["other", "kong"]);
    assert!(check(&answer(arr)).is_ok());
    let mut aud = good.clone();
    aud["aud"] = json!("someone-else");
    assert!(matches!(check(&answer(aud)), Err(JwtError::Audience)));
    let mut iss = good.clone();
    iss["iss"] = json!("http://evil");
    assert!(matches!(check(&answer(iss)), Err(JwtError::Issuer)));
    let mut none = good.clone();
    none.as_object_mut().unwrap().remove("token_introspection");
    assert!(matches!(check(&answer(none)), Err(JwtError::Malformed)));
    // An access token is not an introspection answer, nor is an untyped JWT.
    assert!(matches!(
        check(&signed_answer(&k, Some("at+jwt"), good.clone())),
        Err(JwtError::Type)
    ));
    assert!(matches!(
        check(&signed_answer(&k, None, good.clone())),
        Err(JwtError::Type)
    ));
    // Signed by another key.
    let other = TestKey::es256("k");
    assert!(matches!(
        check(&signed_answer(
            &other,
            Some("token-introspection+jwt"),
            good
        )),
        Err(JwtError::Signature)
    ));
}

//! Unit tests of the DPoP proof checks, with proofs signed by fresh keys.

use super::*;
use crate::jwt::test_keys::{hs256, TestKey};
use jsonwebtoken::Header;
use serde_json::json;

pub(crate) const NOW: i64 = 1_700_000_000;

pub(crate) fn target() -> Target<'static> {
    Target {
        https: true,
        authority: Some("api.example.com"),
        path: "/v1/things",
        client_cert_sha256: None,
    }
}

/// A proof for `GET https://api.example.com/v1/things` carrying `token`, signed by `key`, with `claims` merged.
pub(crate) fn proof(key: &TestKey, token: &str, claims: Value) -> String {
    let mut h = Header::new(key.alg);
    h.typ = Some("dpop+jwt".into());
    h.jwk = Some(serde_json::from_value(key.jwk.clone()).unwrap());
    let mut c = json!({
        "jti": "id-1", "htm": "GET", "htu": "https://api.example.com/v1/things",
        "iat": NOW, "ath": token_hash(token),
    });
    for (k, v) in claims.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    key.sign_with(h, &c)
}

fn algs() -> Vec<Algorithm> {
    vec![Algorithm::ES256, Algorithm::EdDSA]
}

fn check(p: &str) -> Result<Verified, ProofError> {
    verify(p, "GET", &target(), "tok", &algs())
}

#[test]
fn a_good_proof_gives_the_key_thumbprint() {
    for key in [TestKey::es256("k"), TestKey::ed25519("k")] {
        let v = check(&proof(&key, "tok", json!({}))).unwrap();
        assert_eq!(v.jkt, thumbprint(&key.jwk).unwrap());
        assert_eq!((v.jti.as_str(), v.iat, v.nonce), ("id-1", NOW, None));
    }
}

#[test]
fn rfc7638_thumbprint_example() {
    // RFC 7638 §3.1.
    let jwk = json!({"kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"});
    assert_eq!(
        thumbprint(&jwk).unwrap(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

#[test]
fn each_claim_is_checked() {
    let key = TestKey::es256("k");
    let bad = |claims: Value| check(&proof(&key, "tok", claims)).unwrap_err();
    assert_eq!(bad(json!({"htm": "POST"})), ProofError::Method);
    assert_eq!(bad(json!({"htm": "get"})), ProofError::Method);
    assert_eq!(
        bad(json!({"htu": "https://api.example.com/v1/other"})),
        ProofError::Url
    );
    assert_eq!(
        bad(json!({"htu": "http://api.example.com/v1/things"})),
        ProofError::Url
    );
    assert_eq!(
        bad(json!({"htu": "https://evil.example.com/v1/things"})),
        ProofError::Url
    );
    assert_eq!(
        bad(json!({"htu": "https://api.example.com:8443/v1/things"})),
        ProofError::Url
    );
    assert_eq!(bad(json!({"htu": null})), ProofError::Url);
    assert_eq!(
        bad(json!({"ath": token_hash("other")})),
        ProofError::TokenHash
    );
    assert_eq!(bad(json!({"ath": null})), ProofError::TokenHash);
    assert_eq!(bad(json!({"jti": null})), ProofError::Jti);
    assert_eq!(bad(json!({"jti": ""})), ProofError::Jti);
    assert_eq!(bad(json!({"iat": null})), ProofError::IssuedAt);
    assert_eq!(bad(json!({"iat": "now"})), ProofError::IssuedAt);
}

#[test]
fn htu_is_normalised_and_ignores_query() {
    let key = TestKey::es256("k");
    for htu in [
        "https://API.example.com/v1/things",
        "HTTPS://api.example.com:443/v1/things",
        "https://api.example.com/v1/./things?x=1#frag",
    ] {
        check(&proof(&key, "tok", json!({ "htu": htu }))).unwrap();
    }
    let t = Target {
        https: false,
        authority: Some("127.0.0.1:8000"),
        path: "/a",
        client_cert_sha256: None,
    };
    assert!(same_url("http://127.0.0.1:8000/a", &t));
    assert!(!same_url("http://127.0.0.1/a", &t));
    assert!(!same_url("ftp://127.0.0.1:8000/a", &t));
    assert!(!same_url(
        "http://127.0.0.1:8000/a",
        &Target {
            authority: None,
            ..t
        }
    ));
}

#[test]
fn header_rules() {
    let key = TestKey::es256("k");
    let claims = json!({"jti": "j", "htm": "GET", "htu": "https://api.example.com/v1/things",
        "iat": NOW, "ath": token_hash("tok")});
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.jwk.clone()).unwrap();
    // typ
    let mut h = Header::new(key.alg);
    h.jwk = Some(jwk.clone());
    assert_eq!(
        check(&key.sign_with(h.clone(), &claims)),
        Err(ProofError::Type)
    );
    h.typ = Some("jwt".into());
    assert_eq!(
        check(&key.sign_with(h.clone(), &claims)),
        Err(ProofError::Type)
    );
    // no jwk
    h.typ = Some("dpop+jwt".into());
    h.jwk = None;
    assert_eq!(
        check(&key.sign_with(h.clone(), &claims)),
        Err(ProofError::Key)
    );
    // alg not allowed here (EdDSA key checked against an ES256-only list)
    let ed = TestKey::ed25519("e");
    let p = proof(&ed, "tok", json!({}));
    assert_eq!(
        verify(&p, "GET", &target(), "tok", &[Algorithm::ES256]),
        Err(ProofError::Algorithm)
    );
    // HMAC and none
    let mut hh = Header::new(Algorithm::HS256);
    hh.typ = Some("dpop+jwt".into());
    hh.jwk = Some(jwk.clone());
    let forged = jsonwebtoken::encode(
        &hh,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&key.public),
    )
    .unwrap();
    assert_eq!(check(&forged), Err(ProofError::Algorithm));
    let _ = hs256(b"x", "k", &claims);
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD
            .encode(json!({"alg": "none", "typ": "dpop+jwt", "jwk": key.jwk}).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    assert_eq!(check(&none), Err(ProofError::Malformed));
    // a key that does not sign it: the embedded key of another pair
    let other = TestKey::es256("o");
    let mut h2 = Header::new(key.alg);
    h2.typ = Some("dpop+jwt".into());
    h2.jwk = Some(serde_json::from_value(other.jwk.clone()).unwrap());
    assert_eq!(
        check(&key.sign_with(h2, &claims)),
        Err(ProofError::Signature)
    );
    // a key of the wrong type for the algorithm
    let mut h3 = Header::new(key.alg);
    h3.typ = Some("dpop+jwt".into());
    h3.jwk = Some(serde_json::from_value(ed.jwk.clone()).unwrap());
    assert_eq!(check(&key.sign_with(h3, &claims)), Err(ProofError::Key));
}

#[test]
fn a_private_jwk_is_refused() {
    let key = TestKey::es256("k");
    let good = proof(&key, "tok", json!({}));
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[0]).unwrap()).unwrap();
    header["jwk"]["d"] = json!("AAAA");
    parts[0] = URL_SAFE_NO_PAD.encode(header.to_string());
    assert_eq!(check(&parts.join(".")), Err(ProofError::Key));
}

#[test]
fn garbage_is_malformed_never_a_panic() {
    for p in ["", "a.b", "a.b.c", "....", &"x".repeat(MAX_PROOF_LEN + 1)] {
        assert!(check(p).is_err());
    }
}

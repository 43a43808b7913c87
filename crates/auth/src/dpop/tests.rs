//! Unit tests of the DPoP checks of a config: modes, window, nonce, binding and replay.

use std::sync::Arc;

use super::proof::tests::{proof, target, NOW};
use super::*;
use crate::cache::Keyer;
use crate::jwt::test_keys::TestKey;
use crate::metrics::AuthMetrics;
use http::{HeaderMap, HeaderValue};
use serde_json::json;

const NOW_MS: u64 = NOW as u64 * 1000;

fn shared() -> Shared {
    Shared {
        clients: crate::http_client::HttpClients::default(),
        keyer: Keyer::from_key([9; 32]),
        cache_capacity: 100,
        metrics: Arc::new(AuthMetrics::new(&prometheus::Registry::new())),
        cluster: None,
    }
}

fn dpop(mode: &str, nonce: bool) -> Dpop {
    let cfg = OidcConfig::from_value(&json!({
        "issuer": "http://127.0.0.1:1/oidc", "auth_methods": ["introspection"],
        "proof_of_possession_dpop": mode, "dpop_use_nonce": nonce,
    }))
    .unwrap();
    Dpop::new(&cfg, [1; 32], &shared()).unwrap()
}

fn bearer(token: &str) -> Credential {
    Credential::Bearer {
        token: token.into(),
        source: Source::Header(AUTHORIZATION),
    }
}

fn headers(scheme: &str, proofs: &[&str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("{scheme} tok")).unwrap(),
    );
    for p in proofs {
        h.append(DPOP, HeaderValue::from_str(p).unwrap());
    }
    h
}

fn presented(d: &Dpop, h: &HeaderMap, now_ms: u64) -> Result<Option<Presented>, Failure> {
    let req = RequestParts {
        method: "GET",
        headers: h,
        query: None,
        body: None,
        target: target(),
    };
    d.presented(&req, &bearer("tok"), now_ms)
}

fn bound(jkt: Option<&str>) -> Introspected {
    let mut i = Introspected {
        active: true,
        ..Introspected::purged()
    };
    i.update_extras(|e| e.cnf_jkt = jkt.map(Box::from));
    i
}

#[tokio::test]
async fn a_good_proof_binds_once() {
    let d = dpop("strict", false);
    let key = TestKey::es256("k");
    let p = proof(&key, "tok", json!({}));
    let got = presented(&d, &headers("DPoP", &[&p]), NOW_MS)
        .unwrap()
        .unwrap();
    let jkt = proof::thumbprint(&key.jwk).unwrap();
    d.bind(&got, &bound(Some(&jkt))).unwrap();
    assert!(matches!(
        d.bind(&got, &bound(Some("other"))),
        Err(Failure::DpopBound)
    ));
    assert!(matches!(
        d.bind(&got, &bound(None)),
        Err(Failure::DpopBound)
    ));
    d.use_once(&got, NOW_MS).await.unwrap();
    assert!(matches!(
        d.use_once(&got, NOW_MS + 1000).await,
        Err(Failure::Dpop(ProofError::Replayed))
    ));
}

#[test]
fn modes() {
    let key = TestKey::es256("k");
    let p = proof(&key, "tok", json!({}));
    // strict: a bearer is refused before any lookup.
    let strict = dpop("strict", false);
    assert!(matches!(
        presented(&strict, &headers("Bearer", &[&p]), NOW_MS),
        Err(Failure::DpopRequired)
    ));
    // optional: a bearer is let through to the binding check, which refuses a bound token.
    let optional = dpop("optional", false);
    let b = presented(&optional, &headers("Bearer", &[]), NOW_MS)
        .unwrap()
        .unwrap();
    assert_eq!(b, Presented::Bearer);
    optional.bind(&b, &bound(None)).unwrap();
    assert!(matches!(
        optional.bind(&b, &bound(Some("j"))),
        Err(Failure::DpopBound)
    ));
    // the DPoP scheme needs exactly one proof.
    assert!(matches!(
        presented(&optional, &headers("DPoP", &[]), NOW_MS),
        Err(Failure::Dpop(ProofError::Missing))
    ));
    assert!(matches!(
        presented(&optional, &headers("dpop", &[&p, &p]), NOW_MS),
        Err(Failure::Dpop(ProofError::Multiple))
    ));
    // grants are not checked.
    let req = RequestParts {
        method: "GET",
        headers: &HeaderMap::new(),
        query: None,
        body: None,
        target: target(),
    };
    let grant = Credential::Password {
        username: "u".into(),
        password: "p".into(),
        source: Source::Body,
    };
    assert_eq!(strict.presented(&req, &grant, NOW_MS).unwrap(), None);
}

#[test]
fn the_window() {
    let d = dpop("strict", false);
    let key = TestKey::es256("k");
    let at = |iat: i64| {
        let p = proof(&key, "tok", json!({ "iat": iat }));
        presented(&d, &headers("DPoP", &[&p]), NOW_MS)
    };
    at(NOW - 300).unwrap();
    at(NOW + 60).unwrap();
    for iat in [NOW - 301, NOW + 61, -5] {
        assert!(
            matches!(at(iat), Err(Failure::Dpop(ProofError::Stale))),
            "{iat}"
        );
    }
}

#[test]
fn nonces() {
    let d = dpop("strict", true);
    let key = TestKey::es256("k");
    let without = proof(&key, "tok", json!({}));
    let Err(Failure::DpopNonce(nonce)) = presented(&d, &headers("DPoP", &[&without]), NOW_MS)
    else {
        panic!("a nonce is asked for")
    };
    let with = proof(&key, "tok", json!({ "nonce": nonce }));
    presented(&d, &headers("DPoP", &[&with]), NOW_MS + 10_000).unwrap();
    // The proof's age runs from the nonce: past the lifetime a new nonce is asked for.
    assert!(matches!(
        presented(&d, &headers("DPoP", &[&with]), NOW_MS + 301_000),
        Err(Failure::DpopNonce(_))
    ));
    let forged = proof(
        &key,
        "tok",
        json!({ "nonce": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }),
    );
    assert!(matches!(
        presented(&d, &headers("DPoP", &[&forged]), NOW_MS),
        Err(Failure::DpopNonce(_))
    ));
}

//! `bearer` through the whole authenticator, against a local fake IdP serving discovery and JWKS: local
//! verification without introspection, key rotation with one coalesced, rate-limited JWKS fetch, Kong's
//! precedence (bearer, then introspection) and `introspect_jwt_tokens`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gateway_config::plugins::openid_connect::{AuthMethod, OidcConfig};
use serde_json::{json, Value};

use super::test_keys::{jwks, TestKey};
use crate::cache::now_ms;
use crate::fake_idp::{FakeIdp, Reply};
use crate::idp::Shared;
use crate::metrics::AuthMetrics;
use crate::test_support::{allowed, call, denial};
use crate::Authenticator;

/// What the fake IdP serves: the JWKS and whether introspection says active.
struct Served {
    jwks: Value,
    active: bool,
}

async fn idp(served: Arc<Mutex<Served>>) -> FakeIdp {
    let base = Arc::new(Mutex::new(String::new()));
    let b = base.clone();
    let idp = FakeIdp::start(move |r| {
        let base = b.lock().unwrap().clone();
        let ok = |v: Value| -> Reply { (200, v.to_string(), Duration::ZERO) };
        let s = served.lock().unwrap();
        if r.path.ends_with("/.well-known/openid-configuration") {
            ok(json!({
                "issuer": format!("{base}/oidc"),
                "jwks_uri": format!("{base}/oidc/jwks"),
                "introspection_endpoint": format!("{base}/oidc/introspect"),
            }))
        } else if r.path.ends_with("/jwks") {
            ok(s.jwks.clone())
        } else {
            ok(json!({"active": s.active, "scope": "openid read"}))
        }
    })
    .await;
    *base.lock().unwrap() = idp.base.clone();
    idp
}

fn cfg(idp: &FakeIdp, methods: &[AuthMethod]) -> OidcConfig {
    let mut c = OidcConfig::with_issuer(format!("{}/oidc", idp.base));
    c.client_id = Some(vec!["kong".into()]);
    c.client_secret = Some(vec!["kong-secret".into()]);
    c.auth_methods = methods.to_vec();
    c
}

fn auth(c: &OidcConfig) -> Authenticator {
    let shared = Shared {
        clients: crate::http_client::HttpClients::default(),
        keyer: crate::cache::Keyer::random(),
        cache_capacity: 1000,
        metrics: Arc::new(AuthMetrics::new(&prometheus::Registry::new())),
        cluster: None,
    };
    let key = gateway_config::plugins::key_of(&c.to_value_with_defaults());
    Authenticator::new(c, key, &shared)
}

fn claims(idp: &FakeIdp, scope: &str) -> Value {
    let now = (now_ms() / 1000) as i64;
    json!({"iss": format!("{}/oidc", idp.base), "sub": "john", "exp": now + 600, "iat": now, "scope": scope})
}

fn served(keys: &[&TestKey]) -> Arc<Mutex<Served>> {
    Arc::new(Mutex::new(Served {
        jwks: jwks(keys),
        active: true,
    }))
}

#[tokio::test]
async fn verified_locally_without_introspection() {
    let k = TestKey::es256("k1");
    let idp = idp(served(&[&k])).await;
    let mut c = cfg(&idp, &[AuthMethod::Bearer]);
    c.scopes_required = Some(vec!["admin".into(), "openid read".into()]);
    let a = auth(&c);
    for _ in 0..3 {
        let up = allowed(call(&a, &k.sign(&claims(&idp, "openid read"))).await);
        assert!(up.set_headers[0]
            .1
            .to_str()
            .unwrap()
            .starts_with("Bearer ey"));
    }
    assert_eq!(idp.count("/introspect"), 0);
    assert_eq!(idp.count("/jwks"), 1, "keys are cached");
    // Scopes come from the JWT: too few is a 403.
    assert_eq!(
        denial(call(&a, &k.sign(&claims(&idp, "openid"))).await).status,
        403
    );
    // Only bearer: an opaque token or a forged JWT is a 401 without introspection.
    assert_eq!(denial(call(&a, "opaque-token").await).status, 401);
    let forged = TestKey::es256("k1").sign(&claims(&idp, "openid read"));
    assert_eq!(denial(call(&a, &forged).await).status, 401);
    assert_eq!(idp.count("/introspect"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_is_one_coalesced_rate_limited_fetch() {
    let (old, new) = (TestKey::es256("old"), TestKey::es256("new"));
    let s = served(&[&old]);
    let idp = idp(s.clone()).await;
    let mut c = cfg(&idp, &[AuthMethod::Bearer]);
    c.rediscovery_lifetime = 1.0;
    let a = Arc::new(auth(&c));
    allowed(call(&a, &old.sign(&claims(&idp, "x"))).await);
    assert_eq!(idp.count("/jwks"), 1);
    // Wait out the rate limit of the first fetch, then rotate.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.lock().unwrap().jwks = jwks(&[&old, &new]);
    let token = new.sign(&claims(&idp, "x"));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (a, t) = (a.clone(), token.clone());
        tasks.push(tokio::spawn(async move { call(&a, &t).await }));
    }
    for t in tasks {
        allowed(t.await.unwrap());
    }
    assert_eq!(
        idp.count("/jwks"),
        2,
        "one fetch for 16 requests with the new kid"
    );
    // Forged kids right after: no more fetches within rediscovery_lifetime.
    for i in 0..20 {
        let forged = TestKey::es256(&format!("forged-{i}")).sign(&claims(&idp, "x"));
        assert_eq!(denial(call(&a, &forged).await).status, 401);
    }
    assert_eq!(idp.count("/jwks"), 2);
}

#[tokio::test]
async fn bearer_then_introspection_and_introspect_jwt_tokens() {
    let k = TestKey::ed25519("k");
    let s = served(&[&k]);
    let idp = idp(s.clone()).await;
    // Both methods: a JWT that verifies is not introspected; an opaque token or a JWT of another
    // issuer is.
    let a = auth(&cfg(&idp, &[AuthMethod::Bearer, AuthMethod::Introspection]));
    allowed(call(&a, &k.sign(&claims(&idp, "x"))).await);
    assert_eq!(idp.count("/introspect"), 0);
    allowed(call(&a, "opaque").await);
    assert_eq!(idp.count("/introspect"), 1);
    let mut foreign = claims(&idp, "x");
    foreign["iss"] = json!("http://elsewhere/");
    allowed(call(&a, &k.sign(&foreign)).await);
    assert_eq!(idp.count("/introspect"), 2);

    // introspect_jwt_tokens: a verified JWT the IdP calls inactive (revoked) is refused.
    let mut c = cfg(&idp, &[AuthMethod::Bearer]);
    c.introspect_jwt_tokens = true;
    let a = auth(&c);
    let t = k.sign(&claims(&idp, "x"));
    allowed(call(&a, &t).await);
    assert_eq!(idp.count("/introspect"), 3);
    s.lock().unwrap().active = false;
    let revoked = k.sign(&claims(&idp, "y"));
    assert_eq!(denial(call(&a, &revoked).await).status, 401);
    assert_eq!(idp.count("/introspect"), 4);
    // A JWT that does not verify is never introspected.
    let forged = TestKey::ed25519("k").sign(&claims(&idp, "x"));
    assert_eq!(denial(call(&a, &forged).await).status, 401);
    assert_eq!(idp.count("/introspect"), 4);
}

#[tokio::test]
async fn jwks_outage_is_401_and_extra_uris_add_keys() {
    let (k, extra) = (TestKey::es256("k"), TestKey::es256("extra"));
    let idp = idp(served(&[&k])).await;
    let other = FakeIdp::start({
        let doc = jwks(&[&extra]).to_string();
        move |_| (200, doc.clone(), Duration::ZERO)
    })
    .await;
    let mut c = cfg(&idp, &[AuthMethod::Bearer]);
    c.extra_jwks_uris = Some(vec![format!("{}/keys", other.base)]);
    let a = auth(&c);
    allowed(call(&a, &k.sign(&claims(&idp, "x"))).await);
    allowed(call(&a, &extra.sign(&claims(&idp, "x"))).await);
    assert_eq!((idp.count("/jwks"), other.count("/keys")), (1, 1));

    let mut c = OidcConfig::with_issuer("http://127.0.0.1:1/oidc");
    c.auth_methods = vec![AuthMethod::Bearer];
    c.extra_jwks_uris = Some(vec!["http://127.0.0.1:1/jwks".into()]);
    let d = denial(call(&auth(&c), &k.sign(&claims(&idp, "x"))).await);
    assert_eq!(d.status, 401);
}

#[tokio::test]
async fn signed_introspection_verified_and_forgeries_refused() {
    let k = TestKey::es256("k");
    let s = served(&[&k]);
    // The answer the fake IdP signs: by the issuer's key, or by an impostor's.
    let signer = Arc::new(Mutex::new(TestKey::es256("k")));
    let base = Arc::new(Mutex::new(String::new()));
    let (b, sg, sv) = (base.clone(), signer.clone(), s.clone());
    let idp =
        FakeIdp::start(move |r| {
            let base = b.lock().unwrap().clone();
            let ok = |body: String| -> Reply { (200, body, Duration::ZERO) };
            if r.path.ends_with("/.well-known/openid-configuration") {
                ok(json!({"issuer": format!("{base}/oidc"), "jwks_uri": format!("{base}/oidc/jwks"),
                      "introspection_endpoint": format!("{base}/oidc/introspect")})
            .to_string())
            } else if r.path.ends_with("/jwks") {
                ok(sv.lock().unwrap().jwks.to_string())
            } else {
                assert!(r
                    .headers
                    .contains("accept: application/token-introspection+jwt"));
                let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
                h.kid = Some("k".into());
                h.typ = Some("token-introspection+jwt".into());
                let claims = json!({"iss": format!("{base}/oidc"), "aud": "kong",
                                "iat": (now_ms() / 1000) as i64,
                                "token_introspection": {"active": true, "scope": "read"}});
                ok(sg.lock().unwrap().sign_with(h, &claims))
            }
        })
        .await;
    *base.lock().unwrap() = idp.base.clone();
    *signer.lock().unwrap() = k;
    let mut c = cfg(&idp, &[AuthMethod::Introspection]);
    c.introspection_accept = "application/token-introspection+jwt".into();
    c.scopes_required = Some(vec!["read".into()]);
    c.upstream_introspection_jwt_header = Some("x-introspection-jwt".into());
    let a = auth(&c);
    for _ in 0..2 {
        // The verified answer goes upstream as received (cached with the result).
        let up = allowed(call(&a, "opaque-1").await);
        let (_, jwt) = up
            .set_headers
            .iter()
            .find(|(n, _)| n == "x-introspection-jwt")
            .expect("the answer JWT upstream");
        let header = super::verify::introspection_header(jwt.to_str().unwrap()).unwrap();
        assert_eq!(header.kid.as_deref(), Some("k"));
    }
    assert_eq!(idp.count("/introspect"), 1);
    // An answer signed by another key (same kid): refused, not cached as a result.
    *signer.lock().unwrap() = TestKey::es256("k");
    assert_eq!(denial(call(&a, "opaque-2").await).status, 401);
    assert_eq!(denial(call(&a, "opaque-2").await).status, 401);
    assert_eq!(idp.count("/introspect"), 3);
    // A plain JSON answer is refused too (unsigned).
    let mut c2 = cfg(&idp, &[AuthMethod::Introspection]);
    c2.introspection_accept = "application/token-introspection+jwt".into();
    c2.introspection_endpoint = Some(format!("{}/oidc/jwks", idp.base));
    assert_eq!(denial(call(&auth(&c2), "opaque-3").await).status, 401);
}

#[tokio::test]
async fn verified_tokens_are_cached_until_exp_and_purged_on_demand() {
    use crate::cache::{Keyer, Lookup};
    use crate::metrics::Cache;
    let k = TestKey::es256("k1");
    let idp = idp(served(&[&k])).await;
    let c = cfg(&idp, &[AuthMethod::Bearer]);
    let metrics = Arc::new(AuthMetrics::new(&prometheus::Registry::new()));
    let keyer = Keyer::random();
    let shared = Shared {
        clients: crate::http_client::HttpClients::default(),
        keyer: keyer.clone(),
        cache_capacity: 1000,
        metrics: metrics.clone(),
        cluster: None,
    };
    let a = Authenticator::new(
        &c,
        gateway_config::plugins::key_of(&c.to_value_with_defaults()),
        &shared,
    );
    let count = |how| metrics.cache_count(Cache::Jwt, how);
    let token = k.sign(&claims(&idp, "openid"));
    for _ in 0..3 {
        allowed(call(&a, &token).await);
    }
    // Verified once; the next two were answered by the cache (no signature check).
    assert_eq!((count(Lookup::Miss), count(Lookup::Hit)), (1, 2));
    // A purge of the token drops its result: verified again.
    assert_eq!(
        a.purge(&[crate::cluster::keys::token_hash(&keyer, &token)], false),
        1
    );
    allowed(call(&a, &token).await);
    assert_eq!(count(Lookup::Miss), 2);
    // A token is served from the cache only until its exp: past it, verification runs and refuses it.
    let now = (now_ms() / 1000) as i64;
    let short = k.sign(
        &json!({"iss": format!("{}/oidc", idp.base), "sub": "john", "exp": now + 1, "iat": now}),
    );
    allowed(call(&a, &short).await);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(denial(call(&a, &short).await).status, 401);
    // A forged token is never cached: each try is verified (and refused).
    let forged = TestKey::es256("k1").sign(&claims(&idp, "openid"));
    for _ in 0..2 {
        assert_eq!(denial(call(&a, &forged).await).status, 401);
    }
    assert_eq!(count(Lookup::Hit), 2);
}

#[tokio::test]
async fn a_retired_key_s_cached_tokens_stop_passing_once_the_new_set_is_in() {
    let (old, new) = (TestKey::es256("old"), TestKey::es256("new"));
    let s = served(&[&old]);
    let idp = idp(s.clone()).await;
    let mut c = cfg(&idp, &[AuthMethod::Bearer]);
    c.rediscovery_lifetime = 1.0;
    let a = auth(&c);
    let before = old.sign(&claims(&idp, "x"));
    for _ in 0..2 {
        allowed(call(&a, &before).await);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.lock().unwrap().jwks = jwks(&[&new]);
    // A token with the new kid makes the one fetch; the old key is gone from the set it brings.
    allowed(call(&a, &new.sign(&claims(&idp, "x"))).await);
    assert_eq!(idp.count("/jwks"), 2);
    assert_eq!(denial(call(&a, &before).await).status, 401);
}

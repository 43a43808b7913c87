//! `extra_issuers` through the whole authenticator, against two local fake IdPs (each with its own keys,
//! tokens and client): each issuer's opaque tokens and JWTs pass, never the other's; cache hits ask no
//! one; an outage at one issuer while the other says inactive is refused with `idp_outage_status`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use gateway_config::plugins::openid_connect::{AuthMethod, ExtraIssuer, OidcConfig};
use serde_json::{json, Value};

use crate::cache::now_ms;
use crate::fake_idp::{FakeIdp, Reply};
use crate::idp::Shared;
use crate::jwt::test_keys::{jwks, TestKey};
use crate::metrics::AuthMetrics;
use crate::test_support::{allowed, call, denial};
use crate::{Authenticator, Upstream};

/// One fake issuer: its name (the `sub` of its tokens), the opaque token it knows, its key, and whether
/// it is down (503).
struct Issuer {
    idp: FakeIdp,
    key: TestKey,
    down: Arc<AtomicBool>,
}

async fn issuer(name: &'static str, known: &'static str) -> Issuer {
    let key = TestKey::es256(&format!("{name}-key"));
    let set = jwks(&[&key]);
    let base = Arc::new(Mutex::new(String::new()));
    let down = Arc::new(AtomicBool::new(false));
    let (b, d) = (base.clone(), down.clone());
    let idp = FakeIdp::start(move |r| {
        let base = b.lock().unwrap().clone();
        let ok = |v: Value| -> Reply { (200, v.to_string(), Duration::ZERO) };
        if r.path.ends_with("/.well-known/openid-configuration") {
            ok(json!({
                "issuer": format!("{base}/oidc"),
                "jwks_uri": format!("{base}/oidc/jwks"),
                "introspection_endpoint": format!("{base}/oidc/introspect"),
            }))
        } else if r.path.ends_with("/jwks") {
            ok(set.clone())
        } else if d.load(Ordering::SeqCst) {
            (503, "down".into(), Duration::ZERO)
        } else if r.body.starts_with(&format!("token={known}&")) {
            ok(json!({"active": true, "sub": name, "scope": "openid",
                      "exp": now_ms() / 1000 + 600}))
        } else {
            ok(json!({"active": false}))
        }
    })
    .await;
    *base.lock().unwrap() = idp.base.clone();
    Issuer { idp, key, down }
}

impl Issuer {
    fn iss(&self) -> String {
        format!("{}/oidc", self.idp.base)
    }

    fn jwt(&self, iss: &str, key: &TestKey) -> String {
        let now = now_ms() / 1000;
        key.sign(&json!({"iss": iss, "sub": format!("jwt@{iss}"), "exp": now + 600, "iat": now}))
    }
}

/// The plugin on issuer `a` with `b` as its extra issuer (client `gw-b`), `x-sub` from `sub`.
fn cfg(a: &Issuer, b: &Issuer, methods: &[AuthMethod]) -> OidcConfig {
    let mut c = OidcConfig::with_issuer(a.iss());
    c.client_id = Some(vec!["kong".into()]);
    c.client_secret = Some(vec!["kong-secret".into()]);
    c.auth_methods = methods.to_vec();
    c.introspection_headers_names = Some(vec!["x-api-key".into()]);
    c.introspection_headers_values = Some(vec!["only-for-a".into()]);
    c.upstream_headers_claims = Some(vec!["sub".into()]);
    c.upstream_headers_names = Some(vec!["x-sub".into()]);
    c.extra_issuers = Some(vec![ExtraIssuer {
        issuer: b.iss(),
        introspection_endpoint: None,
        client_id: Some("gw-b".into()),
        client_secret: Some("secret-b".into()),
        introspection_endpoint_auth_method: None,
    }]);
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

fn sub(up: &Upstream) -> String {
    let (_, v) = up
        .set_headers
        .iter()
        .find(|(n, _)| n == "x-sub")
        .expect("x-sub set");
    v.to_str().unwrap().to_owned()
}

#[tokio::test]
async fn opaque_tokens_are_tried_in_order_and_cache_hits_ask_no_one() {
    let (a, b) = (issuer("A", "tok-a").await, issuer("B", "tok-b").await);
    let mut c = cfg(&a, &b, &[AuthMethod::Introspection]);
    c.cache_ttl_neg = 0.0; // A's "inactive" for B's token is not what saves the second call
    let auth = auth(&c);
    assert_eq!(sub(&allowed(call(&auth, "tok-a").await)), "A");
    assert_eq!(
        (a.idp.count("/introspect"), b.idp.count("/introspect")),
        (1, 0)
    );
    assert_eq!(sub(&allowed(call(&auth, "tok-b").await)), "B");
    assert_eq!(
        (a.idp.count("/introspect"), b.idp.count("/introspect")),
        (2, 1)
    );
    for _ in 0..3 {
        assert_eq!(sub(&allowed(call(&auth, "tok-a").await)), "A");
        assert_eq!(sub(&allowed(call(&auth, "tok-b").await)), "B");
    }
    assert_eq!(
        (a.idp.count("/introspect"), b.idp.count("/introspect")),
        (2, 1),
        "cache hits ask no issuer"
    );
    // B is asked with its own client, never with A's credentials or A's extra headers.
    let r = b.idp.last("/introspect").unwrap();
    let basic = base64::engine::general_purpose::STANDARD.encode("gw-b:secret-b");
    assert!(
        r.headers
            .contains(&format!("authorization: basic {}", basic.to_lowercase())),
        "{}",
        r.headers
    );
    assert!(!r.headers.contains("only-for-a") && !r.headers.contains("x-api-key"));
    assert!(a
        .idp
        .last("/introspect")
        .unwrap()
        .headers
        .contains("only-for-a"));
    // Known to neither: both asked, 401.
    assert_eq!(denial(call(&auth, "tok-c").await).status, 401);
    assert_eq!(
        (a.idp.count("/introspect"), b.idp.count("/introspect")),
        (3, 2)
    );
    assert_eq!(auth.introspection_keys(&[0; 32]).len(), 2);
    assert_eq!(auth.purge(&[], false), 0);
}

#[tokio::test]
async fn jwts_go_to_the_issuer_their_iss_names_and_only_verify_with_its_keys() {
    let (a, b) = (issuer("A", "tok-a").await, issuer("B", "tok-b").await);
    let c = cfg(&a, &b, &[AuthMethod::Bearer, AuthMethod::Introspection]);
    let auth = auth(&c);
    let from_b = b.jwt(&b.iss(), &b.key);
    assert_eq!(
        sub(&allowed(call(&auth, &from_b).await)),
        format!("jwt@{}", b.iss())
    );
    assert_eq!((a.idp.count("/jwks"), b.idp.count("/jwks")), (0, 1));
    let from_a = a.jwt(&a.iss(), &a.key);
    assert_eq!(
        sub(&allowed(call(&auth, &from_a).await)),
        format!("jwt@{}", a.iss())
    );
    assert_eq!((a.idp.count("/jwks"), b.idp.count("/jwks")), (1, 1));
    // Signed by one issuer, naming the other: refused (the named issuer's keys do not verify it, and
    // its introspection does not know it).
    for forged in [b.jwt(&a.iss(), &b.key), a.jwt(&b.iss(), &a.key)] {
        assert_eq!(denial(call(&auth, &forged).await).status, 401);
    }
    assert_eq!(a.idp.count("/introspect") + b.idp.count("/introspect"), 2);
    // Opaque tokens still work through introspection.
    assert_eq!(sub(&allowed(call(&auth, "tok-b").await)), "B");
}

#[tokio::test]
async fn an_outage_at_one_issuer_is_refused_with_the_outage_status() {
    let (a, b) = (issuer("A", "tok-a").await, issuer("B", "tok-b").await);
    let mut c = cfg(&a, &b, &[AuthMethod::Introspection]);
    c.idp_outage_status = 503.0;
    c.cache_ttl_neg = 0.0;
    let auth = auth(&c);
    b.down.store(true, Ordering::SeqCst);
    // A says inactive, B cannot answer: the token may be B's, so refused with the outage status.
    assert_eq!(denial(call(&auth, "tok-b").await).status, 503);
    // A's own tokens are unaffected.
    assert_eq!(sub(&allowed(call(&auth, "tok-a").await)), "A");
    // A down, B answering: B's token passes.
    b.down.store(false, Ordering::SeqCst);
    a.down.store(true, Ordering::SeqCst);
    assert_eq!(sub(&allowed(call(&auth, "tok-b").await)), "B");
    // Kong's 401 when so configured.
    c.idp_outage_status = 401.0;
    assert_eq!(denial(call(&self::auth(&c), "tok-x").await).status, 401);
}

//! `idp_outage_status`: an IdP that cannot answer gives Kong's 401 by default, or a 503 with `Retry-After`
//! from the circuit breaker; answers of the IdP (inactive, 4xx) stay 401s either way.

use std::sync::Arc;
use std::time::Duration;

use gateway_config::plugins::openid_connect::{AuthMethod, OidcConfig};
use http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use serde_json::json;

use crate::fake_idp::FakeIdp;
use crate::idp::Shared;
use crate::metrics::{AuthMetrics, Outcome};
use crate::test_support::{call, denial};
use crate::{Authenticator, Denial};

fn auth(c: &OidcConfig) -> (Authenticator, Arc<AuthMetrics>) {
    let metrics = Arc::new(AuthMetrics::new(&prometheus::Registry::new()));
    let shared = Shared {
        clients: crate::http_client::HttpClients::default(),
        keyer: crate::cache::Keyer::random(),
        cache_capacity: 1000,
        metrics: Arc::clone(&metrics),
        cluster: None,
    };
    let key = gateway_config::plugins::key_of(&c.to_value_with_defaults());
    (Authenticator::new(c, key, &shared), metrics)
}

fn header<'d>(d: &'d Denial, name: &http::HeaderName) -> Option<&'d str> {
    d.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.to_str().unwrap())
}

fn cfg(introspection: String, status: f64) -> OidcConfig {
    let mut c = OidcConfig::with_issuer("http://127.0.0.1:1/oidc");
    c.auth_methods = vec![AuthMethod::Introspection];
    c.introspection_endpoint = Some(introspection);
    c.idp_outage_status = status;
    c.idp_circuit_breaker_failures = 3.0;
    c.idp_circuit_breaker_cooldown = 30.0;
    c
}

#[tokio::test]
async fn outage_is_503_with_retry_after_from_the_breaker() {
    let idp = FakeIdp::start(|_| (500, "down".into(), Duration::ZERO)).await;
    let (a, metrics) = auth(&cfg(format!("{}/introspect", idp.base), 503.0));
    // Circuit closed (and still closed after the failure): retry soon.
    for _ in 0..2 {
        let d = denial(call(&a, "t").await);
        assert_eq!(d.status, 503);
        assert_eq!(&d.body[..], br#"{"message":"Service Unavailable"}"#);
        assert_eq!(header(&d, &RETRY_AFTER), Some("1"));
        assert_eq!(header(&d, &WWW_AUTHENTICATE), None);
    }
    // The third failure opens the circuit; then no call: Retry-After is what is left of the cool-down.
    for _ in 0..2 {
        let d = denial(call(&a, "t").await);
        assert_eq!(d.status, 503);
        let secs: u64 = header(&d, &RETRY_AFTER).unwrap().parse().unwrap();
        assert!((29..=30).contains(&secs), "{secs}");
    }
    assert_eq!(idp.count("/introspect"), 3);
    assert_eq!(metrics.decision_count(Outcome::Unavailable503), 4);
    assert_eq!(metrics.decision_count(Outcome::Deny401), 0);
}

#[tokio::test]
async fn refused_connection_is_503_and_answers_stay_401() {
    let (a, _) = auth(&cfg("http://127.0.0.1:1/introspect".into(), 503.0));
    assert_eq!(denial(call(&a, "t").await).status, 503);

    let idp = FakeIdp::start(|r| {
        if r.body.contains("token=bad") {
            (200, json!({"active": false}).to_string(), Duration::ZERO)
        } else {
            (400, String::new(), Duration::ZERO)
        }
    })
    .await;
    let (a, _) = auth(&cfg(format!("{}/introspect", idp.base), 503.0));
    for token in ["bad", "other"] {
        let d = denial(call(&a, token).await);
        assert_eq!(d.status, 401, "{token}: the IdP answered");
        assert_eq!(header(&d, &RETRY_AFTER), None);
    }
}

#[tokio::test]
async fn default_is_kongs_401() {
    let idp = FakeIdp::start(|_| (503, String::new(), Duration::ZERO)).await;
    let (a, _) = auth(&cfg(format!("{}/introspect", idp.base), 401.0));
    let d = denial(call(&a, "t").await);
    assert_eq!(d.status, 401);
    assert_eq!(header(&d, &RETRY_AFTER), None);
}

//! `idp_outage_status` end to end: the real Glewlwyd is stopped under a running gateway; requests that need
//! it get Kong's 401 on a default route and a 503 with `Retry-After` (from the circuit breaker) on a route
//! with `idp_outage_status: 503`, promptly; cached tokens still pass.

mod common;

use common::{assert_401, assert_echo, routes_config, timed_get, BOUNDED};
use e2e::{oidc_config, Gateway, Ports, JOHN};
use serde_json::json;

#[test]
fn stopped_idp_gives_the_configured_status_in_bounded_time() {
    let (mut idp, httpbin) = e2e::start_idp_and_httpbin();
    let plugin = |extra| oidc_config(idp.issuer(), &["introspection"], extra);
    let routes = [
        ("/kong", Some(plugin(json!({"timeout": 500})))),
        (
            "/unavailable",
            Some(plugin(json!({
                "timeout": 500, "idp_outage_status": 503,
                "idp_circuit_breaker_failures": 2, "idp_circuit_breaker_cooldown": 20,
            }))),
        ),
    ];
    let gw = Gateway::start(&routes_config(Ports::free(), &httpbin.url(), &routes));

    // While the IdP is up: discovery done, one token cached per route.
    let cached = idp.password_token(JOHN.0, JOHN.1);
    let fresh: Vec<String> = (0..3).map(|_| idp.password_token(JOHN.0, JOHN.1)).collect();
    for path in ["/kong", "/unavailable"] {
        assert_echo(&timed_get(&gw, path, &cached).0, "IdP up");
    }
    idp.stop();

    let (r, took) = timed_get(&gw, "/kong", &fresh[0]);
    assert_401(&r, "default: Kong's 401");
    assert_eq!(r.header("retry-after"), None);
    assert!(took < BOUNDED, "took {took:?}");

    // First failure: circuit still closed, retry soon.
    let (r, took) = timed_get(&gw, "/unavailable", &fresh[0]);
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.body, r#"{"message":"Service Unavailable"}"#);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.header("www-authenticate"), None);
    assert!(took < BOUNDED, "took {took:?}");
    // The second failure opens the circuit: Retry-After is the rest of the 20 s cool-down.
    for token in &fresh[1..] {
        let (r, took) = timed_get(&gw, "/unavailable", token);
        assert_eq!(r.status, 503, "{r:?}");
        let secs: u64 = r
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("Retry-After in seconds: {r:?}"));
        assert!((10..=20).contains(&secs), "Retry-After {secs}");
        assert!(took < BOUNDED, "took {took:?}");
    }
    // Tokens the gateway knows still pass on both routes.
    for path in ["/kong", "/unavailable"] {
        assert_echo(
            &timed_get(&gw, path, &cached).0,
            "cached while the IdP is down",
        );
    }
    let metrics = e2e::metrics::metrics_text(&gw.admin_url());
    assert_eq!(
        e2e::metrics::metric_sum(
            &metrics,
            "gateway_auth_decisions_total",
            &[("outcome", "unavailable_503")]
        ),
        3.0
    );
}

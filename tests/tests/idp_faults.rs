//! The gateway in front of a deliberately broken IdP (a fake, for fault injection only): every IdP failure
//! is a 401 that shows none of the IdP's text, and impossible discovery is a 500.

mod common;
#[path = "common/fake_idp.rs"]
mod fake_idp;

use std::time::Duration;

use common::{
    assert_401, client, fault_plugin, routes_config, send, timed_get, Reply, BOUNDED,
    CHALLENGE_401, UNEXPECTED,
};
use e2e::{free_port, Gateway, Ports};
use fake_idp::{FakeIdp, Fault, IDP_DETAIL};
use serde_json::{json, Value};

/// Texts of the fake's faulty answers that must never reach a client.
const LEAKS: &[&str] = &[
    IDP_DETAIL,
    "hunter2",
    "secret.c",
    "invalid_client",
    "Basic realm",
];

/// A gateway with the given routes, in front of an upstream that is never reached.
fn gateway(routes: &[(&str, Option<Value>)]) -> Gateway {
    let upstream = format!("http://127.0.0.1:{}", free_port());
    Gateway::start(&routes_config(Ports::free(), &upstream, routes))
}

#[track_caller]
fn assert_no_leak(r: &Reply, what: &str) {
    let all = r.everything();
    for leak in LEAKS {
        assert!(
            !all.contains(leak),
            "{what}: the IdP's text {leak:?} reached the client: {r:?}"
        );
    }
}

/// The 401 with `display_errors: true`: same challenge, a fixed reason, no IdP text.
#[track_caller]
fn assert_401_with_reason(r: &Reply, what: &str) {
    assert_eq!(r.status, 401, "{what}: {r:?}");
    assert_eq!(
        r.header("www-authenticate"),
        Some(CHALLENGE_401),
        "{what}: {r:?}"
    );
    let message = r.json()["message"].as_str().unwrap_or_default().to_owned();
    assert!(
        message.starts_with("Unauthorized (") && message.ends_with(')'),
        "{what}: {r:?}"
    );
    assert_no_leak(r, what);
}

/// Runs the common checks for one fault of the introspection endpoint.
fn check_introspection_fault(fault: Fault) {
    let idp = FakeIdp::start();
    let explicit = json!({ "introspection_endpoint": idp.introspection_endpoint(fault) });
    let mut display = explicit.clone();
    display["display_errors"] = json!(true);
    // Discovery on the fake works except for the faults that break every request.
    let discovery_works = !matches!(fault, Fault::Hang | Fault::Close | Fault::ServerError);
    let mut routes = vec![
        ("/plain", Some(fault_plugin(&idp.issuer(fault), explicit))),
        ("/display", Some(fault_plugin(&idp.issuer(fault), display))),
    ];
    if discovery_works {
        routes.push((
            "/discovered",
            Some(fault_plugin(&idp.issuer(fault), json!({}))),
        ));
    }
    let gw = gateway(&routes);
    let token = format!("opaque-token-{}-5e3a9c", fault.segment());

    for attempt in 1..=2 {
        let what = format!("{fault:?}, attempt {attempt}");
        let (r, took) = timed_get(&gw, "/plain", &token);
        assert_401(&r, &what);
        assert_no_leak(&r, &what);
        assert!(took < BOUNDED, "{what}: took {took:?}");
    }
    let (r, took) = timed_get(&gw, "/display", &token);
    assert_401_with_reason(&r, &format!("{fault:?} with display_errors"));
    assert!(
        took < BOUNDED,
        "{fault:?} with display_errors: took {took:?}"
    );
    if discovery_works {
        let (r, took) = timed_get(&gw, "/discovered", &token);
        assert_401(&r, &format!("{fault:?} through discovery"));
        assert_no_leak(&r, &format!("{fault:?} through discovery"));
        assert!(took < BOUNDED, "{fault:?} through discovery: took {took:?}");
    }

    let introspections: Vec<_> = idp
        .requests(fault)
        .into_iter()
        .filter(|s| s.path.ends_with("/introspect"))
        .collect();
    assert!(
        introspections
            .iter()
            .all(|s| s.body.contains(&format!("token={token}"))),
        "{introspections:?}"
    );
    if fault != Fault::Inactive {
        // Errors are never cached: each request asked the IdP again (2 on /plain, 1 on /display, ...).
        let expected = if discovery_works { 4 } else { 3 };
        assert_eq!(introspections.len(), expected, "{introspections:?}");
    }
    std::thread::sleep(Duration::from_millis(200)); // let the last access-log line land
    let log = gw.log();
    assert!(!log.contains(&token), "the token reached the log:\n{log}");
    assert!(
        !log.contains(IDP_DETAIL),
        "the IdP's response text reached the log:\n{log}"
    );
}

#[test]
fn idp_hanging_past_timeout_is_a_prompt_401() {
    check_introspection_fault(Fault::Hang);
}

#[test]
fn idp_hanging_with_concurrent_callers_is_a_prompt_401_for_each() {
    let idp = FakeIdp::start();
    let fault = Fault::Hang;
    let gw = gateway(&[(
        "/",
        Some(fault_plugin(
            &idp.issuer(fault),
            json!({ "introspection_endpoint": idp.introspection_endpoint(fault) }),
        )),
    )]);
    let replies: Vec<(Reply, Duration)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| timed_get(&gw, "/", "one-token-for-all-waiters")))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("request thread"))
            .collect()
    });
    for (r, took) in &replies {
        assert_401(r, "a waiter on a hung introspection");
        assert!(*took < BOUNDED, "a waiter took {took:?}");
    }
}

#[test]
fn idp_500_is_401_without_its_text() {
    check_introspection_fault(Fault::ServerError);
}

#[test]
fn idp_401_is_401_with_the_gateways_own_challenge() {
    check_introspection_fault(Fault::Unauthorized);
}

#[test]
fn idp_invalid_json_is_401() {
    check_introspection_fault(Fault::InvalidJson);
}

#[test]
fn idp_non_object_json_is_401() {
    check_introspection_fault(Fault::NonObject);
}

#[test]
fn idp_empty_body_is_401() {
    check_introspection_fault(Fault::Empty);
}

#[test]
fn idp_closing_the_connection_is_401() {
    check_introspection_fault(Fault::Close);
}

#[test]
fn idp_inactive_answer_with_extra_text_is_401() {
    check_introspection_fault(Fault::Inactive);
}

#[test]
fn idp_connection_refused_is_401() {
    let dead = format!("http://127.0.0.1:{}", free_port());
    let issuer = format!("{dead}/oidc");
    let explicit = json!({ "introspection_endpoint": format!("{issuer}/introspect") });
    let mut display = explicit.clone();
    display["display_errors"] = json!(true);
    let gw = gateway(&[
        ("/plain", Some(fault_plugin(&issuer, explicit))),
        ("/display", Some(fault_plugin(&issuer, display))),
    ]);
    for _ in 0..2 {
        let (r, took) = timed_get(&gw, "/plain", "token-to-nowhere");
        assert_401(&r, "connection refused");
        assert!(took < BOUNDED, "took {took:?}");
    }
    let (r, _) = timed_get(&gw, "/display", "token-to-nowhere");
    assert_401_with_reason(&r, "connection refused with display_errors");
    // reqwest's error text names the endpoint; it must not reach the client either.
    assert!(!r.everything().contains(&dead), "{r:?}");
    assert!(!r.body.to_ascii_lowercase().contains("refused"), "{r:?}");
}

#[test]
fn impossible_discovery_is_500() {
    let idp = FakeIdp::start();
    let refused = format!("http://127.0.0.1:{}/oidc", free_port());
    let cases: Vec<(&str, String)> = vec![
        ("/refused", refused),
        ("/error", idp.issuer(Fault::ServerError)),
        ("/hang", idp.issuer(Fault::Hang)),
        ("/invalid", idp.issuer(Fault::DiscoveryInvalidJson)),
        ("/no-endpoint", idp.issuer(Fault::DiscoveryWithoutEndpoint)),
    ];
    let mut routes: Vec<(&str, Option<Value>)> = Vec::new();
    let display_paths: Vec<String> = cases.iter().map(|(p, _)| format!("{p}-display")).collect();
    for ((path, issuer), display_path) in cases.iter().zip(&display_paths) {
        routes.push((path, Some(fault_plugin(issuer, json!({})))));
        routes.push((
            display_path,
            Some(fault_plugin(issuer, json!({ "display_errors": true }))),
        ));
    }
    let gw = gateway(&routes);
    for (path, issuer) in &cases {
        for p in [path.to_string(), format!("{path}-display")] {
            let what = format!("{p} (issuer {issuer})");
            let (r, took) = timed_get(&gw, &p, "some-opaque-token");
            assert_eq!(r.status, 500, "{what}: {r:?}");
            assert_eq!(r.body, UNEXPECTED, "{what}: {r:?}");
            assert_eq!(r.header("www-authenticate"), None, "{what}: {r:?}");
            assert_no_leak(&r, &what);
            assert!(took < BOUNDED, "{what}: took {took:?}");
        }
    }
    // Without a credential the request is refused before discovery is needed.
    let r = send(client().get(format!("{}/refused", gw.proxy_url())));
    assert_401(&r, "no credential, discovery impossible");
}

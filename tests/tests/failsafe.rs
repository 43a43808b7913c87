//! Fail-safe under IdP faults and hostile input: the fault matrix (every IdP failure is a prompt 401 and
//! nothing crashes), stale-if-error through a real IdP outage (`cache_ttl_resurrect`), the circuit
//! breaker (no IdP call during the cool-down), and the request limits (each a clear 4xx).
//!
//! The main path uses the real Glewlwyd; the fake in `common_failsafe` (over `e2e::fake_idp`) is for
//! fault injection only.

mod common;
mod common_failsafe;

use std::time::{Duration, Instant};

use common::{assert_401, client, fault_plugin, routes_config, send, timed_get, BOUNDED};
use common_failsafe::{FakeIdp, Fault, IDP_DETAIL};
use e2e::metrics::scrape_sum;
use e2e::{free_port, oidc_config, start_idp_and_httpbin, Gateway, Ports, JOHN};
use serde_json::{json, Value};

fn stale_served(gw: &Gateway) -> f64 {
    scrape_sum(&gw.admin_url(), "gateway_auth_stale_served_total", &[])
}

#[test]
fn every_idp_fault_is_a_prompt_401_and_nothing_crashes() {
    let idp = FakeIdp::start();
    let refused = format!("http://127.0.0.1:{}/oidc/introspect", free_port());
    let mut routes: Vec<(String, Option<Value>)> = Fault::ALL
        .iter()
        .map(|f| {
            let cfg = fault_plugin(
                &idp.issuer(),
                json!({ "introspection_endpoint": idp.endpoint(*f) }),
            );
            (format!("/{}", f.segment()), Some(cfg))
        })
        .collect();
    routes.push((
        "/refused".into(),
        Some(fault_plugin(
            &idp.issuer(),
            json!({ "introspection_endpoint": refused }),
        )),
    ));
    let borrowed: Vec<(&str, Option<Value>)> = routes
        .iter()
        .map(|(p, c)| (p.as_str(), c.clone()))
        .collect();
    let upstream = format!("http://127.0.0.1:{}", free_port());
    let mut gw = Gateway::start(&routes_config(Ports::free(), &upstream, &borrowed));

    let token = "opaque-failsafe-token-7c1d";
    for (path, _) in &routes {
        for attempt in 1..=2 {
            let what = format!("{path}, attempt {attempt}");
            let (r, took) = timed_get(&gw, path, token);
            assert_401(&r, &what);
            assert!(!r.everything().contains(IDP_DETAIL), "{what}: {r:?}");
            assert!(took < BOUNDED, "{what}: took {took:?}");
        }
    }
    for f in Fault::ALL {
        assert_eq!(idp.count(f.segment()), 2, "{f:?}: errors are not cached");
    }
    assert!(gw.try_wait().is_none(), "the gateway exited");
    std::thread::sleep(Duration::from_millis(200));
    let log = gw.log();
    assert!(!log.contains(token), "the token reached the log:\n{log}");
    assert!(
        !log.contains(IDP_DETAIL),
        "IdP text reached the log:\n{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn resurrect_keeps_an_active_token_working_through_an_idp_outage_inside_the_window_only() {
    let (mut idp, httpbin) = start_idp_and_httpbin();
    let issuer = idp.issuer().to_owned();
    let ttl = json!({ "cache_ttl_max": 1, "timeout": 1000 });
    let mut resurrect = ttl.clone();
    resurrect["cache_ttl_resurrect"] = json!(4);
    let routes = [
        (
            "/resurrect",
            Some(oidc_config(&issuer, &["introspection"], resurrect)),
        ),
        (
            "/plain",
            Some(oidc_config(&issuer, &["introspection"], ttl)),
        ),
    ];
    let gw = Gateway::start(&routes_config(Ports::free(), &httpbin.url(), &routes));
    let token = idp.password_token(JOHN.0, JOHN.1);
    let cached_at = Instant::now();
    for path in ["/resurrect", "/plain"] {
        let (r, _) = timed_get(&gw, path, &token);
        assert_eq!(r.status, 200, "{path} with the IdP up: {r:?}");
    }

    idp.stop();
    std::thread::sleep(Duration::from_millis(1300)); // past cache_ttl_max
    let (r, took) = timed_get(&gw, "/plain", &token);
    assert_401(&r, "without resurrect, after the cache entry expired");
    assert!(took < BOUNDED, "took {took:?}");
    let before = stale_served(&gw);
    for _ in 0..3 {
        let (r, took) = timed_get(&gw, "/resurrect", &token);
        assert_eq!(r.status, 200, "inside the resurrect window: {r:?}");
        assert!(took < BOUNDED, "took {took:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(stale_served(&gw) >= before + 3.0);
    assert!(
        cached_at.elapsed() < Duration::from_secs(5),
        "the window checks ran late"
    );
    let (r, _) = timed_get(&gw, "/resurrect", "never-seen-token");
    assert_401(&r, "a token never seen active is not resurrected");

    // cache_ttl_max (1 s) + cache_ttl_resurrect (4 s) after the entry was cached
    let end = cached_at + Duration::from_millis(5300);
    std::thread::sleep(end.saturating_duration_since(Instant::now()));
    let (r, took) = timed_get(&gw, "/resurrect", &token);
    assert_401(&r, "after the resurrect window");
    assert!(took < BOUNDED, "took {took:?}");
    std::thread::sleep(Duration::from_millis(200));
    let log = gw.log();
    assert!(log.contains("serving stale introspection result"), "{log}");
    assert!(!log.contains(&token), "the token reached the log");
}

#[test]
fn circuit_breaker_sends_no_call_during_the_cool_down_then_probes_and_closes() {
    let idp = FakeIdp::start();
    idp.set_switch(Fault::Unavailable503);
    let httpbin = e2e::Httpbin::start();
    let endpoint = idp.switch_endpoint();
    let cfg = fault_plugin(
        &idp.issuer(),
        json!({
            "introspection_endpoint": endpoint,
            "idp_circuit_breaker_failures": 3,
            "idp_circuit_breaker_cooldown": 5,
        }),
    );
    let gw = Gateway::start(&routes_config(
        Ports::free(),
        &httpbin.url(),
        &[("/", Some(cfg))],
    ));
    let state = || {
        scrape_sum(
            &gw.admin_url(),
            "gateway_idp_circuit_state",
            &[("endpoint", &endpoint)],
        )
    };
    for i in 0..3 {
        assert_401(&timed_get(&gw, "/", &format!("t{i}")).0, "failing IdP");
    }
    assert_eq!(idp.count("switch"), 3);
    assert_eq!(state(), 1.0, "open");
    let opened = Instant::now();
    for i in 0..10 {
        let (r, took) = timed_get(&gw, "/", &format!("fast{i}"));
        assert_401(&r, "open circuit");
        assert!(took < BOUNDED, "took {took:?}");
    }
    assert!(
        opened.elapsed() < Duration::from_secs(5),
        "the cool-down ended during the checks"
    );
    assert_eq!(
        idp.count("switch"),
        3,
        "the IdP got calls during the cool-down"
    );

    std::thread::sleep(Duration::from_millis(5200));
    // half-open: one probe, which fails and re-opens
    assert_401(&timed_get(&gw, "/", "probe1").0, "failed probe");
    assert_401(&timed_get(&gw, "/", "probe2").0, "re-opened");
    assert_eq!(idp.count("switch"), 4);
    assert_eq!(state(), 1.0);

    std::thread::sleep(Duration::from_millis(5200));
    idp.set_switch(Fault::Active);
    let (r, _) = timed_get(&gw, "/", "probe3");
    assert_eq!(r.status, 200, "successful probe: {r:?}");
    assert_eq!(state(), 0.0, "closed");
    let (r, _) = timed_get(&gw, "/", "after");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(idp.count("switch"), 6);
}

#[test]
fn limits_are_each_a_clear_4xx() {
    let idp = FakeIdp::start();
    let upstream = format!("http://127.0.0.1:{}", free_port());
    let base = json!({
        "introspection_endpoint": idp.endpoint(Fault::Error500),
        "idp_circuit_breaker_failures": 0,
    });
    let mut body = base.clone();
    body["bearer_token_param_type"] = json!(["body"]);
    let routes = [
        ("/header", Some(fault_plugin(&idp.issuer(), base))),
        ("/body", Some(fault_plugin(&idp.issuer(), body))),
    ];
    let mut gw = Gateway::start(&routes_config(Ports::free(), &upstream, &routes));

    // Token length: over 8 KiB is a 401 without an IdP call; 8 KiB is introspected.
    let (r, _) = timed_get(&gw, "/header", &"t".repeat(8 * 1024 + 1));
    assert_401(&r, "token over 8 KiB");
    assert_eq!(idp.count("error500"), 0);
    let (r, _) = timed_get(&gw, "/header", &"t".repeat(8 * 1024));
    assert_401(&r, "8 KiB token, failing IdP");
    assert_eq!(idp.count("error500"), 1);

    // Body for the token lookup: over 64 KiB is a 413, declared or chunked.
    let form = format!("access_token=abc&pad={}", "p".repeat(64 * 1024));
    let post = || {
        client()
            .post(format!("{}/body", gw.proxy_url()))
            .header("content-type", "application/x-www-form-urlencoded")
    };
    let r = send(post().body(form.clone()));
    assert_eq!(r.status, 413, "declared length: {r:?}");
    assert_eq!(r.body, r#"{"message":"Request size limit exceeded"}"#);
    let chunked = reqwest::blocking::Body::new(std::io::Cursor::new(form.into_bytes()));
    let r = send(post().body(chunked));
    assert_eq!(r.status, 413, "chunked: {r:?}");
    let r = send(post().body("access_token=abc"));
    assert_401(&r, "small body, failing IdP");
    assert_eq!(idp.count("error500"), 2);
    let r = send(post().body(format!("access_token={}", "t".repeat(8 * 1024 + 1))));
    assert_401(&r, "token over 8 KiB in the body");
    assert_eq!(idp.count("error500"), 2);

    // Request header: Pingora refuses a header block over 1 MiB (or over 256 headers) with 400.
    let huge = "h".repeat(1024 * 1024 + 16);
    let r = client()
        .get(format!("{}/header", gw.proxy_url()))
        .header("x-huge", huge)
        .send();
    if let Ok(r) = r {
        assert_eq!(r.status().as_u16(), 400, "header block over 1 MiB");
    }
    let mut many = client().get(format!("{}/header", gw.proxy_url()));
    for i in 0..300 {
        many = many.header(format!("x-h{i}"), "v");
    }
    let r = send(many);
    assert_eq!(r.status, 400, "300 headers: {r:?}");

    // Still up and answering.
    let (r, _) = timed_get(&gw, "/header", "after");
    assert_401(&r, "after the hostile requests");
    assert!(gw.try_wait().is_none(), "the gateway exited");
    assert!(!gw.log().contains("panicked"));
}

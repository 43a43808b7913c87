//! End-to-end load balancing over Kong upstreams and targets: real upstream servers on 127.0.0.1 and
//! 127.0.0.2 that say who they are, the real binary in front. Round-robin spreads evenly, weights hold,
//! consistent hashing on a header is sticky, a target killed under steady traffic costs no request and shows
//! UNHEALTHY in `/upstreams/{u}/health`, comes back and takes traffic again; health set by hand; bad upstream
//! input refused by `validate` with field paths.

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e::admin::call;
use e2e::dns::WhoAmI;
use e2e::metrics::scrape_sum;
use e2e::{free_port, gateway_bin, to_yaml, Gateway, Ports, TempDir};
use serde_json::{json, Value};

/// A config on free ports: one service `svc` on `/` whose host is the upstream `u.internal`.
fn config(ports: Ports, upstream: Value) -> String {
    to_yaml(&json!({
        "_format_version": "3.0",
        "gateway": {
            "proxy_listen": format!("127.0.0.1:{}", ports.proxy),
            "admin_listen": format!("127.0.0.1:{}", ports.admin),
            "worker_threads": 2,
        },
        "services": [{
            "name": "svc", "host": "u.internal", "port": 80, "retries": 5,
            "connect_timeout": 500,
            "routes": [{"name": "all", "paths": ["/"]}],
        }],
        "upstreams": [upstream],
    }))
}

fn targets(port: u16, weights: &[u32]) -> Value {
    weights
        .iter()
        .enumerate()
        .map(|(i, w)| json!({"target": format!("127.0.0.{}:{port}", i + 1), "weight": w}))
        .collect()
}

/// `GET <url>` with `headers`: (status, body); a transport error is status 0 with the error as body.
fn get(client: &reqwest::blocking::Client, url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = client.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    match req.send() {
        Ok(resp) => {
            let status = resp.status().as_u16();
            (status, resp.text().unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

/// `n` requests to `/`; how many each upstream answered. Panics on a non-200.
fn spread(gw: &Gateway, n: usize) -> HashMap<String, usize> {
    let client = e2e::http::client();
    let url = format!("{}/", gw.proxy_url());
    let mut seen = HashMap::new();
    for _ in 0..n {
        let (status, body) = get(&client, &url, &[]);
        assert_eq!(status, 200, "{body}");
        *seen.entry(body).or_insert(0) += 1;
    }
    seen
}

/// Each target's health in `/upstreams/u.internal/health`, by target.
fn health(gw: &Gateway) -> HashMap<String, String> {
    let (s, v) = call(
        reqwest::Method::GET,
        &format!("{}/upstreams/u.internal/health", gw.admin_url()),
    );
    assert_eq!(s, 200, "{v}");
    v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|t| {
            let target = t["target"].as_str().unwrap_or_default().to_string();
            (target, t["health"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

/// Upstream servers `A` on 127.0.0.1 and `B` on 127.0.0.2 (one port), and a gateway balancing over both with
/// the upstream fields of `extra` (`targets` given: weights 100/100).
fn two_targets(extra: Value) -> (u16, WhoAmI, WhoAmI, Gateway) {
    let port = free_port();
    let a = WhoAmI::start("127.0.0.1", port, "A");
    let b = WhoAmI::start("127.0.0.2", port, "B");
    let mut upstream = json!({"name": "u.internal", "targets": targets(port, &[100, 100])});
    if let (Some(u), Value::Object(extra)) = (upstream.as_object_mut(), extra) {
        u.extend(extra);
    }
    let gw = Gateway::start(&config(Ports::free(), upstream));
    (port, a, b, gw)
}

fn wait_until(timeout: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    ok()
}

#[test]
fn round_robin_spreads_evenly_and_weights_hold() {
    let port = free_port();
    let _a = WhoAmI::start("127.0.0.1", port, "A");
    let _b = WhoAmI::start("127.0.0.2", port, "B");
    let ports = Ports::free();
    let gw = Gateway::start(&config(
        ports,
        json!({"name": "u.internal", "targets": targets(port, &[100, 100])}),
    ));
    let seen = spread(&gw, 200);
    let (a, b) = (seen.get("A").copied(), seen.get("B").copied());
    assert!(
        a.is_some_and(|a| (95..=105).contains(&a)) && b.is_some_and(|b| (95..=105).contains(&b)),
        "even round-robin over two targets: {seen:?}"
    );
    let picks = scrape_sum(
        &gw.admin_url(),
        "gateway_upstream_picks_total",
        &[("upstream", "u.internal")],
    );
    assert_eq!(picks, 200.0, "one pick per request");

    // 25/75 by a reload of the file, no restart.
    gw.write_config(&config(
        ports,
        json!({"name": "u.internal", "targets": targets(port, &[25, 75])}),
    ));
    gw.signal(libc::SIGHUP);
    assert!(
        gw.wait_for_log("config reloaded path=", Duration::from_secs(10)),
        "{}",
        gw.log()
    );
    let seen = spread(&gw, 400);
    let b = seen.get("B").copied().unwrap_or(0);
    assert!(
        (285..=315).contains(&b),
        "weights 25/75 give B ~300 of 400: {seen:?}"
    );
}

#[test]
fn consistent_hashing_on_a_header_is_sticky_and_uses_both_targets() {
    let (_port, _a, _b, gw) = two_targets(json!({
        "algorithm": "consistent-hashing", "hash_on": "header", "hash_on_header": "x-user",
    }));
    let client = e2e::http::client();
    let url = format!("{}/", gw.proxy_url());
    let mut first: HashMap<String, String> = HashMap::new();
    for round in 0..3 {
        for user in 0..40 {
            let user = format!("user-{user}");
            let (status, body) = get(&client, &url, &[("x-user", &user)]);
            assert_eq!(status, 200, "{body}");
            let was = first.entry(user.clone()).or_insert_with(|| body.clone());
            assert_eq!(*was, body, "{user} moved in round {round}");
        }
    }
    let on_b = first.values().filter(|b| *b == "B").count();
    assert!(
        (5..=35).contains(&on_b),
        "both targets get users: {on_b} of 40 on B"
    );
}

#[test]
fn a_target_killed_under_traffic_costs_no_request_and_comes_back() {
    let (port, _a, b, gw) = two_targets(json!({
            "healthchecks": {
                "active": {
                    "type": "http", "http_path": "/", "timeout": 1,
                    "healthy": {"interval": 0.2, "successes": 1},
                    "unhealthy": {"interval": 0.2, "tcp_failures": 1, "http_failures": 1, "timeouts": 1},
                },
                "passive": {"unhealthy": {"tcp_failures": 1, "timeouts": 1}},
            },
    }));
    let url = format!("{}/", gw.proxy_url());
    assert!(
        wait_until(Duration::from_secs(5), || health(&gw)
            .values()
            .all(|h| h == "HEALTHY")),
        "{:?}",
        health(&gw)
    );

    // A steady client: a request every 5 ms over one keep-alive connection.
    let stop = Arc::new(AtomicBool::new(false));
    let (stop2, url2) = (stop.clone(), url.clone());
    let load = std::thread::spawn(move || {
        let client = e2e::http::client();
        let mut samples = Vec::new();
        while !stop2.load(Ordering::SeqCst) {
            samples.push(get(&client, &url2, &[]));
            std::thread::sleep(Duration::from_millis(5));
        }
        samples
    });
    std::thread::sleep(Duration::from_millis(500));
    b.kill();
    let down = wait_until(Duration::from_secs(5), || {
        health(&gw)
            .get(&format!("127.0.0.2:{port}"))
            .map(String::as_str)
            == Some("UNHEALTHY")
    });
    std::thread::sleep(Duration::from_millis(500));
    let _b = WhoAmI::start("127.0.0.2", port, "B");
    let up = wait_until(Duration::from_secs(5), || {
        health(&gw)
            .get(&format!("127.0.0.2:{port}"))
            .map(String::as_str)
            == Some("HEALTHY")
    });
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    let samples = load.join().expect("load thread");

    assert!(down, "B shows UNHEALTHY after it died: {:?}", health(&gw));
    assert!(up, "B shows HEALTHY once it is back: {:?}", health(&gw));
    let failed: Vec<&(u16, String)> = samples.iter().filter(|(s, _)| *s != 200).collect();
    assert!(samples.len() > 100, "the client ran: {}", samples.len());
    assert!(
        failed.is_empty(),
        "{} of {} failed: {:?}",
        failed.len(),
        samples.len(),
        &failed[..failed.len().min(5)]
    );
    let tail = &samples[samples.len() * 4 / 5..];
    assert!(
        tail.iter().any(|(_, body)| body == "B"),
        "B takes traffic again after it came back"
    );
    assert!(
        gw.log().contains("health=unhealthy"),
        "the flip is logged: {}",
        gw.log()
    );
}

#[test]
fn health_set_by_hand_takes_a_target_out_and_back() {
    let (port, _a, _b, gw) = two_targets(json!({
        "healthchecks": {"passive": {"unhealthy": {"tcp_failures": 3}}},
    }));
    let admin = gw.admin_url();
    let target_b = format!("{admin}/upstreams/u.internal/targets/127.0.0.2:{port}");
    let (s, v) = call(reqwest::Method::PUT, &format!("{target_b}/unhealthy"));
    assert_eq!(s, 204, "{v}");
    assert_eq!(
        health(&gw)
            .get(&format!("127.0.0.2:{port}"))
            .map(String::as_str),
        Some("UNHEALTHY")
    );
    let seen = spread(&gw, 20);
    assert_eq!(
        seen.get("A"),
        Some(&20),
        "an unhealthy target gets no traffic: {seen:?}"
    );

    // Kong before 2.x took POST: accepted too. The address form sets one address of the target.
    let (s, v) = call(
        reqwest::Method::POST,
        &format!("{target_b}/127.0.0.2/healthy"),
    );
    assert_eq!(s, 204, "{v}");
    let seen = spread(&gw, 20);
    assert_eq!(seen.get("B"), Some(&10), "back in the rotation: {seen:?}");

    // Both out: Kong's ring-balancer 503.
    for t in ["127.0.0.1", "127.0.0.2"] {
        let url = format!("{admin}/upstreams/u.internal/targets/{t}:{port}/unhealthy");
        assert_eq!(call(reqwest::Method::PUT, &url).0, 204);
    }
    let (status, body) = get(&e2e::http::client(), &format!("{}/", gw.proxy_url()), &[]);
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).ok()),
        (
            503,
            Some(json!({"message": "failure to get a peer from the ring-balancer"}))
        )
    );
    let (s, v) = call(
        reqwest::Method::GET,
        &format!("{admin}/upstreams/u.internal/health?balancer_health=1"),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["health"], "UNHEALTHY", "{v}");
    assert_eq!(v["data"]["details"]["weight"]["available"], 0, "{v}");

    // Unknown target: 404; an upstream without checks: Kong's 400.
    let url = format!("{admin}/upstreams/u.internal/targets/127.0.0.9:1/healthy");
    assert_eq!(
        call(reqwest::Method::PUT, &url),
        (404, json!({"message": "Not found"}))
    );
    let (s, _) = call(
        reqwest::Method::GET,
        &format!("{admin}/upstreams/nope/health"),
    );
    assert_eq!(s, 404);
}

#[test]
fn without_checks_targets_show_healthchecks_off_and_cannot_be_set() {
    let port = free_port();
    let _a = WhoAmI::start("127.0.0.1", port, "A");
    let gw = Gateway::start(&config(
        Ports::free(),
        json!({"name": "u.internal", "targets": targets(port, &[100])}),
    ));
    let admin = gw.admin_url();
    let (s, v) = call(
        reqwest::Method::GET,
        &format!("{admin}/upstreams/u.internal/health"),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"][0]["health"], "HEALTHCHECKS_OFF", "{v}");
    assert_eq!(
        v["data"][0]["data"]["addresses"][0]["ip"], "127.0.0.1",
        "{v}"
    );
    assert_eq!(v["data"][0]["data"]["addresses"][0]["port"], port, "{v}");
    let url = format!("{admin}/upstreams/u.internal/targets/127.0.0.1:{port}/unhealthy");
    assert_eq!(
        call(reqwest::Method::PUT, &url),
        (
            400,
            json!({"message": "no healthchecker found for u.internal"})
        )
    );
    let (s, v) = call(
        reqwest::Method::GET,
        &format!("{admin}/upstreams/u.internal/targets/all"),
    );
    assert_eq!(
        (s, v["data"][0]["target"].clone()),
        (200, json!(format!("127.0.0.1:{port}"))),
        "{v}"
    );
}

#[test]
fn a_service_naming_no_upstream_is_a_hostname() {
    // `nothere.test` is not an upstream (only u.internal is): it is looked up as a name, and a name that does
    // not resolve answers Kong's 503 while the balanced route keeps serving.
    let port = free_port();
    let _a = WhoAmI::start("127.0.0.1", port, "A");
    let ports = Ports::free();
    let mut doc: Value = serde_yaml::from_str(&config(
        ports,
        json!({"name": "u.internal", "targets": targets(port, &[100])}),
    ))
    .expect("yaml");
    doc["services"]
        .as_array_mut()
        .expect("services")
        .push(json!({
            "name": "other", "host": "nothere.invalid", "port": 80,
            "routes": [{"name": "other", "paths": ["/other"]}],
        }));
    let gw = Gateway::start(&to_yaml(&doc));
    let client = e2e::http::client();
    let (status, body) = get(&client, &format!("{}/other", gw.proxy_url()), &[]);
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).ok()),
        (503, Some(json!({"message": "name resolution failed"})))
    );
    assert_eq!(
        get(&client, &format!("{}/", gw.proxy_url()), &[]),
        (200, "A".to_string())
    );
}

#[test]
fn validate_refuses_bad_upstreams_with_field_paths() {
    let dir = TempDir::new("balancer-validate");
    let path = dir.path().join("gateway.yaml");
    let doc = json!({
        "_format_version": "3.0",
        "services": [{"name": "svc", "host": "u.internal", "routes": [{"paths": ["/"]}]}],
        "upstreams": [{
            "name": "u.internal", "algorithm": "fastest",
            "targets": [{"target": "127.0.0.1:99999"}, {"target": "127.0.0.2", "weight": 70000}],
        }],
    });
    std::fs::write(&path, to_yaml(&doc)).expect("write");
    let out = Command::new(gateway_bin())
        .args(["validate", "-c"])
        .arg(&path)
        .output()
        .expect("run validate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    for needle in [
        "upstreams[0].algorithm",
        "upstreams[0].targets[0].target",
        "upstreams[0].targets[1].weight",
    ] {
        assert!(stderr.contains(needle), "{needle} in: {stderr}");
    }
}

#[test]
fn consistent_hashing_on_a_uri_capture_is_sticky_per_captured_value() {
    let port = free_port();
    let _a = WhoAmI::start("127.0.0.1", port, "A");
    let _b = WhoAmI::start("127.0.0.2", port, "B");
    let ports = Ports::free();
    let mut doc: Value = serde_yaml::from_str(&config(
        ports,
        json!({
            "name": "u.internal", "algorithm": "consistent-hashing",
            "hash_on": "uri_capture", "hash_on_uri_capture": "id",
            "targets": targets(port, &[100, 100]),
        }),
    ))
    .expect("yaml");
    doc["services"][0]["routes"] = json!([{"name": "users", "paths": [r"~/users/(?<id>\d+)"]}]);
    let gw = Gateway::start(&to_yaml(&doc));
    let client = e2e::http::client();
    let mut first: HashMap<String, String> = HashMap::new();
    for round in 0..3 {
        for id in 0..40 {
            // The rest of the path changes every round: only the captured id decides.
            let url = format!("{}/users/{id}/r{round}", gw.proxy_url());
            let (status, body) = get(&client, &url, &[]);
            assert_eq!(status, 200, "{body}");
            let was = first.entry(id.to_string()).or_insert_with(|| body.clone());
            assert_eq!(*was, body, "user {id} moved in round {round}");
        }
    }
    let on_b = first.values().filter(|b| *b == "B").count();
    assert!(
        (5..=35).contains(&on_b),
        "both targets get ids: {on_b} of 40 on B"
    );
}

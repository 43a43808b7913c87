//! End-to-end DNS at request time: a real dnsmasq (1 s TTL) answers the gateway's queries, real upstreams on
//! 127.0.0.1 and 127.0.0.2 say who they are. A record change is followed without a reload and without a
//! failed request; a name that does not resolve is a valid config and answers 503 at request time; when the
//! DNS server goes away the last answer is served stale.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use e2e::dns::{Dnsmasq, WhoAmI};
use e2e::metrics::scrape_sum;
use e2e::{free_port, gateway_bin, to_yaml, Gateway, Ports};
use serde_json::{json, Value};

/// dnsmasq's record TTL.
const TTL: Duration = Duration::from_secs(1);

/// A config on free ports whose resolver is `dns` only (an empty hosts file, so /etc/hosts plays no part),
/// with `services` and the extra `gateway:` keys of `extra`.
fn config(ports: Ports, dns: &Dnsmasq, services: Value, extra: Value) -> String {
    let hosts: PathBuf = dns.dir().join("gateway-hosts");
    std::fs::write(&hosts, "").expect("write the empty hosts file");
    let mut gateway = json!({
        "proxy_listen": format!("127.0.0.1:{}", ports.proxy),
        "admin_listen": format!("127.0.0.1:{}", ports.admin),
        "worker_threads": 1,
        "dns_resolver": [dns.addr()],
        "dns_hostsfile": hosts,
    });
    if let (Some(g), Value::Object(extra)) = (gateway.as_object_mut(), extra) {
        g.extend(extra);
    }
    to_yaml(&json!({"_format_version": "3.0", "gateway": gateway, "services": services}))
}

fn service(name: &str, url: &str, path: &str) -> Value {
    json!({"name": name, "url": url, "routes": [{"name": format!("{name}-route"), "paths": [path]}]})
}

/// `GET <url>`: (status, body); a transport error is status 0 with the error as body.
fn get(client: &reqwest::blocking::Client, url: &str) -> (u16, String) {
    match client.get(url).send() {
        Ok(resp) => {
            let status = resp.status().as_u16();
            (status, resp.text().unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

#[test]
fn a_record_change_is_followed_within_the_ttl_without_reload_or_failed_request() {
    let port = free_port();
    let _a = WhoAmI::start("127.0.0.1", port, "A");
    let _b = WhoAmI::start("127.0.0.2", port, "B");
    let mut dns = Dnsmasq::start(&[("api.test", "127.0.0.1")]);
    let ports = Ports::free();
    let url = format!("http://api.test:{port}");
    let gw = Gateway::start(&config(
        ports,
        &dns,
        json!([service("api", &url, "/")]),
        json!({}),
    ));
    let proxy = gw.proxy_url();

    // A steady client (one keep-alive connection, a request every 10 ms) runs across the change.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let client_url = format!("{proxy}/who");
    let load = std::thread::spawn(move || {
        let client = e2e::http::client();
        let mut samples = Vec::new();
        while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
            let (status, body) = get(&client, &client_url);
            samples.push((Instant::now(), status, body));
            std::thread::sleep(Duration::from_millis(10));
        }
        samples
    });
    std::thread::sleep(Duration::from_millis(1500));
    dns.set("api.test", "127.0.0.2");
    let changed = Instant::now();
    // Let the gateway follow, then keep the client running a little longer.
    let client = e2e::http::client();
    let deadline = changed + TTL + Duration::from_secs(4);
    while get(&client, &format!("{proxy}/who")).1 != "B" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let samples = load.join().expect("the client thread");

    let failed: Vec<_> = samples.iter().filter(|(_, s, _)| *s != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {:?}\n{}",
        failed.len(),
        samples.len(),
        failed.iter().take(5).collect::<Vec<_>>(),
        gw.log()
    );
    let before: Vec<_> = samples.iter().filter(|(t, _, _)| *t < changed).collect();
    assert!(
        !before.is_empty() && before.iter().all(|(_, _, b)| b == "A"),
        "before the change every answer is A"
    );
    let first_b = samples
        .iter()
        .position(|(_, _, b)| b == "B")
        .unwrap_or_else(|| panic!("the gateway never followed the change\n{}", gw.log()));
    let followed_after = samples[first_b].0.duration_since(changed);
    eprintln!(
        "dns e2e: record change followed after {followed_after:?} (TTL {TTL:?}); {} requests, 0 failed",
        samples.len()
    );
    assert!(
        followed_after <= TTL + Duration::from_millis(1500),
        "followed after {followed_after:?}"
    );
    assert!(
        samples[first_b..].iter().all(|(_, _, b)| b == "B"),
        "once followed, every answer is B"
    );
    let admin = gw.admin_url();
    assert!(scrape_sum(&admin, "gateway_dns_lookups_total", &[("result", "ok")]) >= 2.0);
    assert!(scrape_sum(&admin, "gateway_dns_cache_total", &[("result", "hit")]) >= 1.0);
    assert!(!gw.log().contains("config reloaded"), "no reload happened");
}

#[test]
fn a_name_that_does_not_resolve_is_accepted_and_answers_503_at_request_time() {
    let port = free_port();
    let _a = WhoAmI::start("127.0.0.1", port, "A");
    let _b = WhoAmI::start("127.0.0.2", port, "B");
    let mut dns = Dnsmasq::start(&[]);
    let ports = Ports::free();
    let good = service("good", &format!("http://127.0.0.1:{port}"), "/good");
    let nope = service("nope", &format!("http://nope.test:{port}"), "/nope");
    let extra = json!({"dns_not_found_ttl": 1});
    let yaml = config(ports, &dns, json!([good, nope]), extra.clone());

    // `gateway validate` accepts it (it resolves nothing).
    let file = dns.dir().join("validate.yaml");
    std::fs::write(&file, &yaml).expect("write the config");
    let out = std::process::Command::new(gateway_bin())
        .args(["validate", "-c"])
        .arg(&file)
        .output()
        .expect("run gateway validate");
    assert!(
        out.status.success(),
        "validate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");

    let gw = Gateway::start(&yaml);
    let client = e2e::http::client();
    let proxy = gw.proxy_url();
    let name_resolution_failed = json!({"message": "name resolution failed"});
    let check_503 = |path: &str| {
        let (status, body) = get(&client, &format!("{proxy}{path}"));
        assert_eq!(status, 503, "{path}: {body}");
        let body: Value = serde_json::from_str(&body).expect("a JSON body");
        assert_eq!(body, name_resolution_failed);
    };
    check_503("/nope");
    assert_eq!(get(&client, &format!("{proxy}/good")), (200, "A".into()));

    // A SIGHUP reload with another name that does not resolve is applied.
    let nope2 = service("nope2", &format!("http://nope2.test:{port}"), "/nope2");
    let good = service("good", &format!("http://127.0.0.1:{port}"), "/good");
    let nope = service("nope", &format!("http://nope.test:{port}"), "/nope");
    gw.write_config(&config(ports, &dns, json!([good, nope, nope2]), extra));
    gw.signal(libc::SIGHUP);
    assert!(
        gw.wait_for_log("config reloaded", Duration::from_secs(10)),
        "{}",
        gw.log()
    );
    check_503("/nope2");
    assert_eq!(get(&client, &format!("{proxy}/good")), (200, "A".into()));

    // An Admin API write of a service whose host does not resolve is accepted.
    let admin = gw.admin_url();
    let resp = client
        .post(format!("{admin}/services"))
        .json(&json!({"name": "later", "host": "later.test", "port": port}))
        .send()
        .expect("POST /services");
    assert_eq!(resp.status().as_u16(), 201, "{:?}", resp.text());
    let resp = client
        .post(format!("{admin}/services/later/routes"))
        .json(&json!({"paths": ["/later"]}))
        .send()
        .expect("POST /services/later/routes");
    assert_eq!(resp.status().as_u16(), 201, "{:?}", resp.text());
    check_503("/later");
    assert_eq!(get(&client, &format!("{proxy}/good")), (200, "A".into()));

    // Once the name exists, it answers (after dns_not_found_ttl), with no reload.
    dns.set("later.test", "127.0.0.2");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = get(&client, &format!("{proxy}/later"));
    while last != (200, "B".to_string()) && Instant::now() < deadline {
        assert!(
            last.0 == 503 || last.0 == 200,
            "only 503 then 200: {last:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
        last = get(&client, &format!("{proxy}/later"));
    }
    assert_eq!(last, (200, "B".into()), "{}", gw.log());
    assert!(
        scrape_sum(
            &admin,
            "gateway_dns_lookups_total",
            &[("result", "not_found")]
        ) >= 3.0
    );
    let code_503 = scrape_sum(&admin, "gateway_http_requests_total", &[("code", "5xx")]);
    assert!(code_503 >= 3.0, "503s are counted: {code_503}");
}

#[test]
fn the_last_answer_is_served_stale_when_the_dns_server_stops() {
    let port = free_port();
    let _a = WhoAmI::start("127.0.0.1", port, "A");
    let mut dns = Dnsmasq::start(&[("api.test", "127.0.0.1")]);
    let ports = Ports::free();
    let url = format!("http://api.test:{port}");
    let stale_ttl = 10;
    let gw = Gateway::start(&config(
        ports,
        &dns,
        json!([service("api", &url, "/")]),
        json!({"dns_stale_ttl": stale_ttl}),
    ));
    let client = e2e::http::client();
    let proxy = gw.proxy_url();
    assert_eq!(get(&client, &proxy), (200, "A".into()));
    dns.stop();
    let stopped = Instant::now();

    // Past the 1 s TTL, within dns_stale_ttl: every request succeeds with the last answer, while the
    // background refreshes fail (each waits out the resolver's timeout against the dead server).
    let admin = gw.admin_url();
    let mut served = 0;
    let mut kept = 0.0;
    while stopped.elapsed() < Duration::from_secs(3)
        || (kept < 1.0 && stopped.elapsed() < Duration::from_secs(stale_ttl - 1))
    {
        let (status, body) = get(&client, &proxy);
        assert_eq!((status, body.as_str()), (200, "A"), "{}", gw.log());
        served += 1;
        std::thread::sleep(Duration::from_millis(50));
        kept = scrape_sum(&admin, "gateway_dns_lookups_total", &[("result", "stale")]);
    }
    let refresh_failed_after = stopped.elapsed();
    let stale = scrape_sum(&admin, "gateway_dns_cache_total", &[("result", "stale")]);
    assert!(
        kept >= 1.0,
        "failed refreshes kept the answer: {kept}\n{}",
        gw.log()
    );
    assert!(stale >= 1.0, "stale answers served: {stale}");
    eprintln!(
        "dns e2e: first failed refresh counted {refresh_failed_after:?} after the server stopped"
    );

    // Past TTL + dns_stale_ttl the answer is gone: Kong's 500 for a DNS server error.
    let deadline = stopped + TTL + Duration::from_secs(stale_ttl + 10);
    let mut last = get(&client, &proxy);
    while last.0 == 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        last = get(&client, &proxy);
    }
    let gone_after = stopped.elapsed();
    eprintln!(
        "dns e2e: {served} requests served stale; answer dropped {gone_after:?} after the server stopped"
    );
    assert_eq!(last.0, 500, "{last:?}");
    assert!(
        last.1
            .contains("failed the initial dns/balancer resolve for 'api.test'"),
        "{}",
        last.1
    );
    assert!(
        gone_after >= Duration::from_secs(stale_ttl),
        "{gone_after:?}"
    );
}

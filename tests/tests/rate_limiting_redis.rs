//! rate-limiting with `policy: redis` end to end: three gateway nodes counting in one real `redis-server`
//! (300 concurrent requests against a limit of 100 let exactly 100 through, cluster-wide), and Redis
//! stopped: `fault_tolerant: true` serves and counts the error, `false` answers Kong's 500.

#[path = "common_cluster/mod.rs"]
mod common_cluster;

use common_cluster::Redis;
use e2e::metrics::{metric_sum, metrics_text};
use e2e::{config_value, Gateway, Httpbin, Ports};
use serde_json::{json, Value};

fn limited(redis_port: u16, extra: Value) -> Value {
    let mut config = json!({
        "limit_by": "header",
        "header_name": "X-Tenant",
        "policy": "redis",
        "redis": {"host": "127.0.0.1", "port": redis_port, "timeout": 300},
    });
    if let (Some(c), Value::Object(extra)) = (config.as_object_mut(), extra) {
        c.extend(extra);
    }
    json!({"name": "rate-limiting", "config": config})
}

/// A node: httpbin behind route `path` → plugin, for each `(path, plugin)`. Plugin ids are fixed so every
/// node counts under the same keys.
fn node_yaml(httpbin: &Httpbin, routes: &[(&str, &str, Value)]) -> String {
    let mut config = config_value(Ports::free(), &httpbin.url(), None);
    let routes: Vec<Value> = routes
        .iter()
        .map(|(path, id, plugin)| {
            let mut plugin = plugin.clone();
            plugin["id"] = json!(id);
            json!({"name": format!("r{}", path.trim_start_matches('/')), "paths": [path], "plugins": [plugin]})
        })
        .collect();
    config["services"][0]["routes"] = Value::Array(routes);
    e2e::to_yaml(&config)
}

fn hour_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 3600)
}

#[test]
fn three_nodes_on_one_redis_let_exactly_the_limit_through() {
    let redis = Redis::start();
    let httpbin = Httpbin::start();
    let plugin = limited(redis.port, json!({"hour": 100}));
    let yaml = |_: usize| {
        node_yaml(
            &httpbin,
            &[("/", "3d6c0b8e-2f51-4d0e-9a57-0d1f6c9b7e01", plugin.clone())],
        )
    };
    let nodes: Vec<Gateway> = (0..3).map(|i| Gateway::start(&yaml(i))).collect();
    let urls: Vec<String> = nodes.iter().map(Gateway::proxy_url).collect();
    // A fresh tenant per attempt; an attempt that crossed an hour boundary (two windows) is run again.
    for attempt in 0..3 {
        let tenant = format!("tenant-{attempt}");
        let before = hour_now();
        let barrier = std::sync::Barrier::new(30);
        let statuses: Vec<u16> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..30)
                .map(|t| {
                    let (barrier, urls, tenant) = (&barrier, &urls, &tenant);
                    s.spawn(move || {
                        let client = e2e::http::client();
                        barrier.wait();
                        (t..300)
                            .step_by(30)
                            .map(|i| {
                                client
                                    .get(format!("{}/", urls[i % urls.len()]))
                                    .header("X-Tenant", tenant.as_str())
                                    .send()
                                    .map_or(0, |r| r.status().as_u16())
                            })
                            .collect::<Vec<u16>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("request thread"))
                .collect()
        });
        if hour_now() != before {
            continue;
        }
        let ok = statuses.iter().filter(|s| **s == 200).count();
        let limited = statuses.iter().filter(|s| **s == 429).count();
        assert_eq!((ok, limited), (100, 200), "{statuses:?}");
        // Every node sees the shared count.
        for url in &urls {
            let r = e2e::http::client()
                .get(format!("{url}/"))
                .header("X-Tenant", tenant.as_str())
                .send()
                .expect("request");
            assert_eq!(r.status().as_u16(), 429);
            assert_eq!(r.headers()["x-ratelimit-remaining-hour"], "0");
        }
        return;
    }
    panic!("three attempts in a row crossed an hour boundary");
}

#[test]
fn redis_down_serves_when_fault_tolerant_and_refuses_with_500_otherwise() {
    let mut redis = Redis::start();
    let httpbin = Httpbin::start();
    let yaml = node_yaml(
        &httpbin,
        &[
            (
                "/tolerant",
                "3d6c0b8e-2f51-4d0e-9a57-0d1f6c9b7e02",
                limited(redis.port, json!({"minute": 50})),
            ),
            (
                "/strict",
                "3d6c0b8e-2f51-4d0e-9a57-0d1f6c9b7e03",
                limited(redis.port, json!({"minute": 50, "fault_tolerant": false})),
            ),
        ],
    );
    let gw = Gateway::start(&yaml);
    let get = |path: &str| {
        e2e::http::client()
            .get(format!("{}{path}", gw.proxy_url()))
            .header("X-Tenant", "t")
            .send()
            .expect("request")
    };
    for path in ["/tolerant", "/strict"] {
        let r = get(path);
        assert_eq!(r.status().as_u16(), 200, "{path} with redis up");
        assert_eq!(r.headers()["x-ratelimit-remaining-minute"], "49", "{path}");
    }
    let errors = |gw: &Gateway| {
        metric_sum(
            &metrics_text(&gw.admin_url()),
            "gateway_rate_limiting_store_errors_total",
            &[],
        )
    };
    assert_eq!(errors(&gw), 0.0);
    redis.stop();

    let r = get("/tolerant");
    assert_eq!(r.status().as_u16(), 200, "fault_tolerant: served");
    assert!(
        r.headers().get("x-ratelimit-limit-minute").is_none(),
        "no usage, no headers (Kong)"
    );
    assert!(errors(&gw) >= 1.0);
    let r = get("/strict");
    assert_eq!(r.status().as_u16(), 500);
    assert_eq!(
        r.text().expect("body"),
        r#"{"message":"An unexpected error occurred"}"#
    );
    assert!(errors(&gw) >= 2.0);
    assert!(!gw.log().contains("password"), "no secret in the log");
}

//! Kong's rate-limiting plugin end to end (`policy: local`), after openid-connect with consumers mapped from
//! real Glewlwyd tokens: `minute: 5` per consumer, the 6th is a 429 with Kong's headers; two consumers have
//! separate budgets; a 401 consumes nothing; a consumer's own plugin wins over the service's; bad configs
//! are refused with Kong's errors. The response header phase runs on the gateway's own answers too: a 502
//! for an upstream that refuses the connection carries the headers of the request it counted, as Kong's
//! `header_filter` adds them to every answer.

mod common;

use common::{assert_401, client, routes_config_value, send, Reply};
use e2e::{oidc_config, Gateway, Ports, ALICE, JOHN};
use reqwest::Method;
use serde_json::json;

#[test]
fn five_per_minute_per_consumer_with_kongs_429_and_headers() {
    let (idp, httpbin) = e2e::start_idp_and_httpbin();
    let mut oidc = oidc_config(idp.issuer(), &["introspection"], json!({}));
    oidc["consumer_claim"] = json!(["username"]);
    let mut config = routes_config_value(Ports::free(), &httpbin.url(), &[("/", Some(oidc))]);
    config["services"][0]["plugins"] =
        json!([{"name": "rate-limiting", "config": {"minute": 5, "limit_by": "consumer"}}]);
    config["consumers"] = json!([
        {"username": "john"},
        // alice's own plugin wins over the service's (Kong's precedence: consumer before service).
        {"username": "alice", "plugins": [{"name": "rate-limiting", "config": {"minute": 2}}]},
    ]);
    let gateway = Gateway::start(&e2e::to_yaml(&config));
    let get = |token: Option<&str>| -> Reply {
        let mut req = client().get(format!("{}/", gateway.proxy_url()));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        send(req)
    };
    let john = idp.password_token(JOHN.0, JOHN.1);
    let alice = idp.password_token(ALICE.0, ALICE.1);
    // The budgets are per minute: start early in a minute so the whole sequence (a few dozen requests)
    // runs in one window. Nothing below is timed; this only keeps a minute from turning over mid-test.
    let into_minute = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() % 60);
    if into_minute > 30 {
        std::thread::sleep(std::time::Duration::from_secs(61 - into_minute));
    }

    // A 401 (bad token, or none) consumes no budget: it never reaches rate-limiting.
    assert_401(&get(Some("not-a-token")), "garbage token");
    assert_401(&get(None), "no token");

    let mut resets = Vec::new();
    for i in 1..=5 {
        let r = get(Some(&john));
        assert_eq!(r.status, 200, "john #{i}: {r:?}");
        let left = (5 - i).to_string();
        assert_eq!(r.header("x-ratelimit-limit-minute"), Some("5"), "{r:?}");
        assert_eq!(
            r.header("x-ratelimit-remaining-minute"),
            Some(left.as_str()),
            "{r:?}"
        );
        assert_eq!(r.header("ratelimit-limit"), Some("5"), "{r:?}");
        assert_eq!(
            r.header("ratelimit-remaining"),
            Some(left.as_str()),
            "{r:?}"
        );
        assert_eq!(r.header("retry-after"), None, "{r:?}");
        resets.push(
            r.header("ratelimit-reset")
                .unwrap_or("")
                .parse::<u64>()
                .unwrap_or(0),
        );
        // A 401 in between still consumes nothing.
        assert_401(&get(Some("not-a-token")), "garbage token");
    }
    assert!(resets.iter().all(|r| (1..=60).contains(r)), "{resets:?}");
    let r = get(Some(&john));
    assert_eq!(r.status, 429, "john #6: {r:?}");
    assert_eq!(r.body, r#"{"message":"API rate limit exceeded"}"#);
    assert_eq!(r.header("ratelimit-remaining"), Some("0"), "{r:?}");
    assert_eq!(r.header("x-ratelimit-remaining-minute"), Some("0"), "{r:?}");
    let retry: u64 = r.header("retry-after").unwrap_or("").parse().unwrap_or(0);
    assert!((1..=60).contains(&retry), "{r:?}");

    // alice has her own budget (and her own plugin: 2 a minute).
    for i in 1..=2 {
        let r = get(Some(&alice));
        assert_eq!(r.status, 200, "alice #{i}: {r:?}");
        assert_eq!(r.header("x-ratelimit-limit-minute"), Some("2"), "{r:?}");
    }
    assert_eq!(get(Some(&alice)).status, 429);
    // Unless the minute turned over meanwhile (then john's budget is back, which is also right).
    let again = get(Some(&john));
    assert!(
        again.status == 429 || again.header("x-ratelimit-remaining-minute") == Some("4"),
        "{again:?}"
    );

    // An Admin API write elsewhere keeps the counters of unchanged plugins: john is still limited.
    let admin = gateway.admin_url();
    let (status, body) = e2e::admin::json_req(
        Method::POST,
        &format!("{admin}/consumers"),
        json!({"username": "carol"}),
    );
    assert_eq!(status, 201, "{body}");
    let after_write = get(Some(&john));
    assert!(
        after_write.status == 429
            || after_write.header("x-ratelimit-remaining-minute") == Some("4"),
        "{after_write:?}"
    );

    // Bad configs through the Admin API: Kong's errors, nothing changed.
    let before = gateway.config();
    for (config, pointer, message) in [
        (json!({}), "/fields/config", "at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'"),
        (json!({"minute": -1}), "/fields/config/minute", "value must be greater than 0"),
        (json!({"minute": 1, "limit_by": "planet"}), "/fields/config/limit_by", "expected one of: consumer, credential, ip, service, header, path"),
        (json!({"minute": 1, "policy": "cluster"}), "/fields/config/policy", "cluster is not supported yet (supported: local, redis)"),
        (json!({"minute": 1, "policy": "redis"}), "/fields/config/redis/host", "required field missing"),
    ] {
        let (status, body) = e2e::admin::json_req(
            Method::POST,
            &format!("{admin}/plugins"),
            json!({"name": "rate-limiting", "config": config}),
        );
        assert_eq!(status, 400, "{body}");
        assert_eq!(body.pointer(pointer), Some(&json!(message)), "{body}");
    }
    assert_eq!(
        gateway.config(),
        before,
        "refused writes leave the file alone"
    );
}

#[test]
fn the_gateway_s_own_502_carries_the_rate_limit_headers_of_the_request_it_counted() {
    // An upstream port nothing listens on: the request is counted, then the proxy fails (502).
    let dead = format!("http://127.0.0.1:{}", e2e::free_port());
    let mut config = routes_config_value(Ports::free(), &dead, &[("/", None)]);
    config["services"][0]["plugins"] =
        json!([{"name": "rate-limiting", "config": {"hour": 2, "limit_by": "ip"}}]);
    let gateway = Gateway::start(&e2e::to_yaml(&config));
    let get = || send(client().get(format!("{}/x", gateway.proxy_url())));
    for left in ["1", "0"] {
        let r = get();
        assert_eq!(r.status, 502, "{r:?}");
        assert_eq!(
            r.body, r#"{"message":"An invalid response was received from the upstream server"}"#,
            "{r:?}"
        );
        assert_eq!(r.header("x-ratelimit-limit-hour"), Some("2"), "{r:?}");
        assert_eq!(r.header("x-ratelimit-remaining-hour"), Some(left), "{r:?}");
    }
    let r = get();
    assert_eq!(r.status, 429, "{r:?}");
    assert_eq!(r.header("x-ratelimit-remaining-hour"), Some("0"), "{r:?}");
}

//! Kong's proxy-cache plugin (memory strategy) end to end, through the real gateway binary to the real
//! httpbin: a first request is a `Miss` that reaches httpbin, the second a `Hit` that does not (httpbin's
//! `/uuid` answers a new uuid every time it is asked, so an unchanged uuid is an answer httpbin never gave
//! twice); `POST` is `Bypass`; a consumer authenticated by key-auth never gets another consumer's answer;
//! `vary_headers`; `cache_ttl` expiry (`Miss` once the entry is gone, `Refresh` while `storage_ttl` keeps
//! it); `cache_control`; the diagnostic headers' toggles and `Kong-Debug`; a body larger than
//! `gateway.proxy_cache_memory_size` is not stored; the Admin API's purge routes with Kong's statuses; and
//! bad configs refused with Kong's messages, at load and by the Admin API. One gateway and one httpbin.

mod common;

use std::time::Duration;

use common::{client, send, Reply};
use e2e::admin;
use e2e::{Gateway, Httpbin, Ports};
use reqwest::Method;
use serde_json::{json, Value};

const PLUGIN_ID: &str = "9c0c5a8e-0000-4000-8000-000000000001";
const ROUTE_ID: &str = "9c0c5a8e-0000-4000-8000-0000000000a1";
/// The cache's bound: 256 KiB, far above the small answers below, below the large one.
const BOUND: u64 = 256 * 1024;

fn config(ports: Ports, httpbin: &str) -> Value {
    let mut config = e2e::config_value(ports, httpbin, None);
    config["gateway"]["proxy_cache_memory_size"] = json!(BOUND);
    config["services"][0]["url"] = json!(httpbin);
    let route = |name: &str, plugins: Value| json!({"name": name, "paths": [format!("/{name}")], "plugins": plugins});
    let cache = |mut cfg: Value| {
        cfg["strategy"] = json!("memory");
        json!({"name": "proxy-cache", "config": cfg})
    };
    let mut cached = route("cached", json!([cache(json!({}))]));
    cached["id"] = json!(ROUTE_ID);
    cached["plugins"][0]["id"] = json!(PLUGIN_ID);
    config["services"][0]["routes"] = json!([
        cached,
        route("auth", json!([{"name": "key-auth"}, cache(json!({}))])),
        route(
            "vary",
            json!([cache(json!({"vary_headers": ["X-Tenant"]}))])
        ),
        route("short", json!([cache(json!({"cache_ttl": 1}))])),
        route(
            "kept",
            json!([cache(json!({"cache_ttl": 1, "storage_ttl": 60}))])
        ),
        route("cc", json!([cache(json!({"cache_control": true}))])),
        route(
            "quiet",
            json!([cache(json!({"response_headers":
                {"age": false, "X-Cache-Status": false, "X-Cache-Key": false}}))])
        ),
        route("posts", json!([cache(json!({"request_method": ["POST"]}))])),
    ]);
    config["consumers"] = json!([
        {"username": "alice", "keyauth_credentials": [{"key": "alice-key"}]},
        {"username": "bob", "keyauth_credentials": [{"key": "bob-key"}]},
    ]);
    config
}

fn get(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = client().get(format!("{}{path}", gw.proxy_url()));
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    send(req)
}

#[track_caller]
fn status(r: &Reply, expected: &str) {
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("x-cache-status"), Some(expected), "{r:?}");
}

fn uuid(r: &Reply) -> String {
    r.json()["uuid"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn proxy_cache_end_to_end() {
    let httpbin = Httpbin::start();
    let gw = Gateway::start(&e2e::to_yaml(&config(Ports::free(), &httpbin.url())));

    // Miss reaches httpbin; Hit is the same answer, never asked of httpbin again.
    let miss = get(&gw, "/cached/uuid", &[]);
    status(&miss, "Miss");
    let key = miss.header("x-cache-key").unwrap_or_default().to_owned();
    assert_eq!(key.len(), 64, "{miss:?}");
    assert!(miss.header("age").is_none(), "{miss:?}");
    let hit = get(&gw, "/cached/uuid", &[]);
    status(&hit, "Hit");
    assert_eq!(uuid(&hit), uuid(&miss));
    assert_eq!(hit.body, miss.body);
    assert_eq!(hit.header("x-cache-key"), Some(key.as_str()));
    // Age counts whole seconds since the store: 0, or 1 when the second turned between the two requests.
    let age: u64 = hit
        .header("age")
        .and_then(|a| a.parse().ok())
        .expect("an Age header");
    assert!(age <= 1, "{hit:?}");
    assert_eq!(hit.header("content-type"), Some("application/json"));
    // Another query is another key; the order of the arguments is not.
    status(&get(&gw, "/cached/uuid?a=1&b=2", &[]), "Miss");
    status(&get(&gw, "/cached/uuid?b=2&a=1", &[]), "Hit");

    // POST is not a cacheable method by default: Bypass, and httpbin answers each one.
    let post = |path: &str, body: String| {
        send(
            client()
                .post(format!("{}{path}", gw.proxy_url()))
                .body(body),
        )
    };
    let r = post("/cached/anything", "one".into());
    status(&r, "Bypass");
    assert!(r.header("x-cache-key").is_none(), "{r:?}");
    assert_eq!(r.json()["data"], "one");
    // Uncacheable answers: a status or a content type not configured.
    let r = get(&gw, "/cached/status/418", &[]);
    assert_eq!(
        (r.status, r.header("x-cache-status")),
        (418, Some("Bypass"))
    );
    status(&get(&gw, "/cached/xml", &[]), "Bypass");
    status(&get(&gw, "/cached/xml", &[]), "Bypass");

    // Each consumer has its own entries: bob never gets alice's answer.
    let alice = [("apikey", "alice-key")];
    let a1 = get(&gw, "/auth/uuid", &alice);
    status(&a1, "Miss");
    status(&get(&gw, "/auth/uuid", &alice), "Hit");
    let b1 = get(&gw, "/auth/uuid", &[("apikey", "bob-key")]);
    status(&b1, "Miss");
    assert_ne!(uuid(&b1), uuid(&a1));
    assert_ne!(b1.header("x-cache-key"), a1.header("x-cache-key"));
    let b2 = get(&gw, "/auth/uuid", &[("apikey", "bob-key")]);
    status(&b2, "Hit");
    assert_eq!(uuid(&b2), uuid(&b1));
    // A refused request never reaches the cache.
    let r = get(&gw, "/auth/uuid", &[]);
    assert_eq!((r.status, r.header("x-cache-status")), (401, None), "{r:?}");

    // vary_headers: a tenant's answer is not another tenant's.
    let t1 = get(&gw, "/vary/uuid", &[("X-Tenant", "one")]);
    status(&t1, "Miss");
    status(&get(&gw, "/vary/uuid", &[("X-Tenant", "one")]), "Hit");
    let t2 = get(&gw, "/vary/uuid", &[("X-Tenant", "two")]);
    status(&t2, "Miss");
    assert_ne!(uuid(&t2), uuid(&t1));

    // Diagnostic headers off, unless the request has Kong-Debug.
    let r = get(&gw, "/quiet/uuid", &[]);
    assert!(r.header("x-cache-status").is_none() && r.header("x-cache-key").is_none());
    let r = get(&gw, "/quiet/uuid", &[]);
    assert!(r.header("x-cache-status").is_none() && r.header("age").is_none());
    let r = get(&gw, "/quiet/uuid", &[("Kong-Debug", "1")]);
    status(&r, "Hit");
    assert!(r.header("age").is_some() && r.header("x-cache-key").is_some());

    // cache_control: the answer's max-age decides; a client's no-cache bypasses, only-if-cached gets 504.
    status(&get(&gw, "/cc/cache/60", &[]), "Miss");
    status(&get(&gw, "/cc/cache/60", &[]), "Hit");
    status(&get(&gw, "/cc/cache/0", &[]), "Bypass");
    status(&get(&gw, "/cc/get", &[]), "Bypass");
    let no_cache = [("Cache-Control", "no-cache")];
    status(&get(&gw, "/cc/cache/60", &no_cache), "Bypass");
    let r = get(
        &gw,
        "/cc/get?not=here",
        &[("Cache-Control", "only-if-cached")],
    );
    assert_eq!((r.status, r.body.as_str()), (504, ""), "{r:?}");

    // A body larger than the cache's bound is not stored; a small one is.
    let big = "x".repeat(BOUND as usize + 1);
    status(&post("/posts/anything", big.clone()), "Miss");
    status(&post("/posts/anything", big), "Miss");
    status(&post("/posts/anything", "small".into()), "Miss");
    status(&post("/posts/anything", "small".into()), "Hit");

    // cache_ttl: 1 s. Past it, an entry kept only that long is gone (Miss); one kept by storage_ttl is
    // stale (Refresh), then fresh again.
    status(&get(&gw, "/short/uuid", &[]), "Miss");
    status(&get(&gw, "/short/uuid", &[]), "Hit");
    let kept = get(&gw, "/kept/uuid", &[]);
    status(&kept, "Miss");
    status(&get(&gw, "/kept/uuid", &[]), "Hit");
    std::thread::sleep(Duration::from_millis(2200));
    status(&get(&gw, "/short/uuid", &[]), "Miss");
    let refreshed = get(&gw, "/kept/uuid", &[]);
    status(&refreshed, "Refresh");
    assert_ne!(uuid(&refreshed), uuid(&kept), "a refresh is a new answer");
    let again = get(&gw, "/kept/uuid", &[]);
    status(&again, "Hit");
    assert_eq!(uuid(&again), uuid(&refreshed));

    admin_api(&gw, &key);
    bad_configs(&gw);
}

/// Kong's api.lua: read and purge an entry through the plugin or any plugin, flush everything.
fn admin_api(gw: &Gateway, key: &str) {
    let admin = gw.admin_url();
    let (code, entry) = admin::get(&format!("{admin}/proxy-cache/{PLUGIN_ID}/caches/{key}"));
    assert_eq!(code, 200, "{entry}");
    assert_eq!(entry["headers"]["X-Cache-Key"], key, "{entry}");
    assert_eq!(
        (entry["status"].clone(), entry["version"].clone()),
        (json!(200), json!(1))
    );
    assert!(
        entry["body"].as_str().unwrap_or_default().contains("uuid"),
        "{entry}"
    );
    let (code, _) = admin::get(&format!("{admin}/proxy-cache/{key}"));
    assert_eq!(code, 200);

    let delete = |path: &str| admin::call(Method::DELETE, &format!("{admin}{path}"));
    assert_eq!(
        delete(&format!("/proxy-cache/{PLUGIN_ID}/caches/{key}")),
        (204, Value::Null)
    );
    assert_eq!(
        delete(&format!("/proxy-cache/{PLUGIN_ID}/caches/{key}")),
        (404, Value::Null)
    );
    assert_eq!(
        admin::get(&format!("{admin}/proxy-cache/{key}")),
        (404, Value::Null)
    );
    status(&get(gw, "/cached/uuid", &[]), "Miss");
    assert_eq!(delete(&format!("/proxy-cache/{key}")), (204, Value::Null));
    status(&get(gw, "/cached/uuid", &[]), "Miss");
    status(&get(gw, "/cached/uuid", &[]), "Hit");
    // Not a proxy-cache plugin (a route's id), or not stored: 404.
    assert_eq!(
        delete(&format!("/proxy-cache/{ROUTE_ID}/caches/{key}")).0,
        404
    );
    assert_eq!(
        delete(&format!("/proxy-cache/{PLUGIN_ID}/caches/123")).0,
        404
    );
    // Flush: every entry goes.
    assert_eq!(delete("/proxy-cache"), (204, Value::Null));
    status(&get(gw, "/cached/uuid", &[]), "Miss");
    status(&get(gw, "/vary/uuid", &[("X-Tenant", "one")]), "Miss");
}

/// Kong's messages for bad configs, by the Admin API and at load.
fn bad_configs(gw: &Gateway) {
    let url = format!("{}/plugins", gw.admin_url());
    let refused = |config: Value| {
        let (code, body) = admin::json_req(
            Method::POST,
            &url,
            json!({"name": "proxy-cache", "config": config}),
        );
        assert_eq!(code, 400, "{body}");
        body["fields"]["config"].clone()
    };
    let fields = refused(json!({"strategy": "redis"}));
    assert_eq!(fields["strategy"], "expected one of: memory", "{fields}");
    let fields = refused(json!({"strategy": "memory", "response_code": []}));
    assert_eq!(fields["response_code"], "length must be at least 1");
    let fields = refused(json!({"strategy": "memory", "response_code": [true, "alo", 123]}));
    assert_eq!(
        fields["response_code"],
        json!(["expected an integer", "expected an integer"])
    );
    let fields = refused(json!({"strategy": "memory", "response_code": [90]}));
    assert_eq!(
        fields["response_code"],
        json!(["value should be between 100 and 900"])
    );
    let fields = refused(json!({"strategy": "memory", "cache_ttl": -1}));
    assert_eq!(fields["cache_ttl"], "value must be greater than 0");
    // Accepted: Kong's example from its spec (numbers as an array, a custom content type).
    let (code, body) = admin::json_req(
        Method::POST,
        &url,
        json!({"name": "proxy-cache", "config": {"strategy": "memory", "response_code": [123, 200],
               "cache_ttl": 600, "request_method": ["GET"], "content_type": ["text/json"]}}),
    );
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["config"]["response_code"], json!([123, 200]));

    let ports = Ports::free();
    let mut bad = config(ports, "http://127.0.0.1:9");
    bad["services"][0]["routes"][0]["plugins"][0]["config"]["memory"] =
        json!({"dictionary_name": "nope"});
    let Err(err) = Gateway::try_start(&e2e::to_yaml(&bad)) else {
        panic!("a missing dictionary is refused");
    };
    assert!(err.contains("missing shared dict 'nope'"), "{err}");
}

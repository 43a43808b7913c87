use super::*;
use crate::plugins::test_support::{snapshot, TestRequest};
use http::HeaderMap;

const YAML: &str = r#"
_format_version: "3.0"
consumers: [{username: alice}]
keyauth_credentials: [{consumer: alice, key: k1}]
services:
- name: orders
  url: http://127.0.0.1:9/
  routes: [{name: list, paths: [/orders]}]
"#;

fn all_flags() -> Prometheus {
    Prometheus::new(&PrometheusConfig {
        per_consumer: true,
        status_code_metrics: true,
        ai_metrics: false,
        latency_metrics: true,
        bandwidth_metrics: true,
        upstream_health_metrics: true,
        wasm_metrics: false,
    })
}

#[test]
fn a_request_is_counted_with_kongs_names_and_labels() {
    let snap = snapshot(YAML);
    let registry = prometheus::Registry::new();
    let req = TestRequest::get("/orders/12?page=1");
    let metrics = crate::metrics::Metrics::new(&registry).unwrap();
    let resp = HeaderMap::new();
    let mut view = req.log_view(&snap, &resp, 200, Some(0));
    view.metrics = &metrics;
    let mut ex = Exchange::new();
    ex.caller.consumer = Some(0);
    all_flags().log(&view, &ex);
    // No route: not counted (Kong returns early).
    let mut unrouted = req.log_view(&snap, &resp, 404, None);
    unrouted.metrics = &metrics;
    all_flags().log(&unrouted, &ex);
    let text = crate::metrics::render(&registry);
    for line in [
        r#"kong_http_requests_total{code="200",consumer="alice",route="list",service="orders",source="service",workspace="default"} 1"#,
        r#"kong_bandwidth_bytes{consumer="alice",direction="ingress",route="list",service="orders",workspace="default"} 120"#,
        r#"kong_bandwidth_bytes{consumer="alice",direction="egress",route="list",service="orders",workspace="default"} 300"#,
        r#"kong_request_latency_ms_bucket{route="list",service="orders",workspace="default",le="50"} 1"#,
        r#"kong_upstream_latency_ms_bucket{route="list",service="orders",workspace="default",le="25"} 0"#,
        r#"kong_upstream_latency_ms_bucket{route="list",service="orders",workspace="default",le="50"} 1"#,
        r#"kong_kong_latency_ms_bucket{route="list",service="orders",workspace="default",le="2"} 1"#,
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    assert!(!text.contains("code=\"404\""), "{text}");
    assert!(!text.contains("/orders/12"), "no path in a label");
}

#[test]
fn the_routes_children_count_each_consumer_and_status_apart() {
    let snap = snapshot(YAML);
    let registry = prometheus::Registry::new();
    let req = TestRequest::get("/orders");
    let metrics = crate::metrics::Metrics::new(&registry).unwrap();
    let resp = HeaderMap::new();
    let mut alice = Exchange::new();
    alice.caller.consumer = Some(0);
    let nobody = Exchange::new();
    for (status, ex, ingress) in [
        (200, &alice, 10),
        (200, &alice, 10),
        (500, &alice, 10),
        (200, &nobody, 0),
    ] {
        let mut view = req.log_view(&snap, &resp, status, Some(0));
        view.metrics = &metrics;
        view.request_size = ingress;
        all_flags().log(&view, ex);
    }
    let text = crate::metrics::render(&registry);
    for line in [
        r#"kong_http_requests_total{code="200",consumer="alice",route="list",service="orders",source="service",workspace="default"} 2"#,
        r#"kong_http_requests_total{code="500",consumer="alice",route="list",service="orders",source="service",workspace="default"} 1"#,
        r#"kong_http_requests_total{code="200",consumer="",route="list",service="orders",source="service",workspace="default"} 1"#,
        r#"kong_bandwidth_bytes{consumer="alice",direction="ingress",route="list",service="orders",workspace="default"} 30"#,
        r#"kong_bandwidth_bytes{consumer="",direction="egress",route="list",service="orders",workspace="default"} 300"#,
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    // No ingress bytes, no ingress series (as `with_label_values` only when counting).
    assert!(
        !text.contains(r#"kong_bandwidth_bytes{consumer="",direction="ingress""#),
        "{text}"
    );
}

#[test]
fn flags_off_count_nothing() {
    let snap = snapshot(YAML);
    let registry = prometheus::Registry::new();
    let req = TestRequest::get("/orders");
    let metrics = crate::metrics::Metrics::new(&registry).unwrap();
    let resp = HeaderMap::new();
    let mut view = req.log_view(&snap, &resp, 200, Some(0));
    view.metrics = &metrics;
    let off = PrometheusConfig::from_value(&serde_json::json!({})).unwrap();
    Prometheus::new(&off).log(&view, &Exchange::new());
    let text = crate::metrics::render(&registry);
    assert!(!text.contains("kong_http_requests_total"), "{text}");
    // per_consumer off: the consumer label stays empty.
    let codes =
        PrometheusConfig::from_value(&serde_json::json!({"status_code_metrics": true})).unwrap();
    let mut ex = Exchange::new();
    ex.caller.consumer = Some(0);
    Prometheus::new(&codes).log(&view, &ex);
    let text = crate::metrics::render(&registry);
    assert!(
        text.contains(r#"code="200",consumer="",route="list""#),
        "{text}"
    );
}

/// Every metric Kong's official Grafana dashboard (kong/plugins/prometheus/grafana/kong-official.json,
/// copied in tests/fixtures/grafana) queries exists here, but the nginx shared-dict memory panel's.
#[test]
fn kongs_grafana_dashboard_finds_its_metrics() {
    // The manifest directory at run time first: a test binary can be shared between checkouts.
    let path = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(
            || env!("CARGO_MANIFEST_DIR").into(),
            std::path::PathBuf::from,
        )
        .join("../../tests/fixtures/grafana/kong-official.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut exprs = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v.as_str()) {
                        ("expr" | "query", Some(s)) => out.push(s.to_string()),
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&dashboard, &mut exprs);
    let re = regex::Regex::new(r"kong_[a-z_]+").unwrap();
    let mut names: Vec<String> = exprs
        .iter()
        .flat_map(|e| re.find_iter(e).map(|m| m.as_str().to_string()))
        .collect();
    names.sort();
    names.dedup();
    assert!(names.len() >= 8, "{names:?}");

    // Fill every family once, then scrape.
    let snap = snapshot(YAML);
    let registry = prometheus::Registry::new();
    let metrics = crate::metrics::Metrics::new(&registry).unwrap();
    let req = TestRequest::get("/orders");
    let resp = HeaderMap::new();
    let mut view = req.log_view(&snap, &resp, 200, Some(0));
    view.metrics = &metrics;
    all_flags().log(&view, &Exchange::new());
    metrics.kong.refresh(&snap);
    metrics
        .kong
        .target_health
        .with_label_values(&["u", "t:80", "10.0.0.1:80", "healthy", "http"])
        .set(1);
    let text = crate::metrics::render(&registry);
    // Lua VM shared dicts do not exist here (docs/configuration.md, prometheus plugin).
    let not_built = [
        "kong_memory_lua_shared_dict_bytes",
        "kong_memory_lua_shared_dict_total_bytes",
    ];
    for name in names.iter().filter(|n| !not_built.contains(&n.as_str())) {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} "))),
            "the dashboard queries {name}, missing from\n{text}"
        );
    }
}

//! Scale-out end to end: a real `redis-server`, the real IdP, httpbin and three gateway nodes sharing the
//! cluster cache (`gateway.cluster_cache`) with the same salt.

mod common_cluster;

use std::time::Duration;

use common_cluster::{
    concurrent, introspection_calls, purge, start_nodes, status, until_all, Redis,
};
use e2e::metrics::{metric_sum, metrics_text};
use e2e::{ALICE, JANE, JOHN};
use serde_json::json;

#[test]
fn three_nodes_one_introspection_purge_everywhere_and_survive_redis_loss() {
    let mut redis = Redis::start();
    let (idp, httpbin) = e2e::start_idp_and_httpbin();
    let nodes = start_nodes(3, &idp, &httpbin, &redis.url());
    for n in &nodes {
        assert!(
            n.wait_for_log("subscribed to the purge channel", Duration::from_secs(10)),
            "{}",
            n.log()
        );
    }

    // 300 concurrent requests with one unseen token over three nodes: one introspection in all.
    let token = idp.password_token(JOHN.0, JOHN.1);
    let statuses = concurrent(&nodes, &token, 300, 30);
    assert_eq!(statuses.len(), 300);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(introspection_calls(&nodes), 1);
    let l2: f64 = nodes
        .iter()
        .map(|n| {
            metric_sum(
                &metrics_text(&n.admin_url()),
                "gateway_cluster_cache_total",
                &[],
            )
        })
        .sum();
    assert!(l2 >= 3.0, "each node went to Redis once at least: {l2}");

    // Revoked at the IdP and purged through one node: every node answers 401 within one second.
    idp.revoke(&token);
    let (code, report) = purge(&nodes[0], json!({ "token": token }));
    assert_eq!(code, 200, "{report}");
    assert_eq!(report["cluster"], "ok", "{report}");
    assert_eq!(report["nodes_notified"], 3, "{report}");
    assert_eq!(report["local"], 1, "{report}");
    assert_eq!(report["token_hashes"].as_array().map(Vec::len), Some(1));
    let took = until_all(&nodes, &token, 401, Duration::from_secs(1));
    assert!(took.is_some(), "not every node answered 401 within 1 s");
    // the report never echoes the token
    assert!(!report.to_string().contains(&token));
    // bad requests
    assert_eq!(purge(&nodes[1], json!({})).0, 400);
    assert_eq!(purge(&nodes[1], json!({"token_hash": "xyz"})).0, 400);
    // purge by hash works too (any node, any hash format)
    let hash = report["token_hashes"][0]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (code, r) = purge(&nodes[2], json!({ "token_hash": hash }));
    assert_eq!((code, &r["cluster"]), (200, &json!("ok")), "{r}");

    // Purge by user: the tokens indexed under the introspection result's `username` claim.
    let janes = idp.password_token(JANE.0, JANE.1);
    assert_eq!(status(&nodes[1], &janes), 200);
    let (code, r) = purge(&nodes[2], json!({ "username": JANE.0 }));
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["token_hashes"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(r["redis_deleted"], 1, "{r}");
    let calls = introspection_calls(&nodes);
    assert_eq!(status(&nodes[1], &janes), 200);
    assert_eq!(
        introspection_calls(&nodes),
        calls + 1,
        "purged from node 1 by pub/sub"
    );

    // A cached token, then Redis stops: the nodes keep serving from their local caches and the IdP.
    let cached = idp.password_token(ALICE.0, ALICE.1);
    for n in &nodes {
        assert_eq!(status(n, &cached), 200);
    }
    let before = introspection_calls(&nodes);
    redis.stop();
    for n in &nodes {
        assert_eq!(status(n, &cached), 200, "cached token with redis down");
    }
    assert_eq!(
        introspection_calls(&nodes),
        before,
        "served from the local caches"
    );
    let fresh = idp.password_token(JOHN.0, JOHN.1);
    for n in &nodes {
        let start = std::time::Instant::now();
        assert_eq!(status(n, &fresh), 200, "new token with redis down");
        assert!(start.elapsed() < Duration::from_secs(2));
    }
    for n in &nodes {
        let m = metrics_text(&n.admin_url());
        assert_eq!(
            metric_sum(&m, "gateway_cluster_cache_state", &[]),
            0.0,
            "{m}"
        );
        assert!(n.wait_for_log("redis is down", Duration::from_secs(1)));
        assert_eq!(
            n.log().matches("redis is down").count(),
            1,
            "logged once per change"
        );
        assert!(!n.log().contains(&fresh) && !n.log().contains(common_cluster::SALT));
    }
    // purge still works on the local node
    let (code, r) = purge(&nodes[0], json!({ "token": fresh }));
    assert_eq!((code, &r["cluster"]), (200, &json!("unavailable")), "{r}");
}

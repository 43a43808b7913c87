//! `gateway.config_store: {kind: etcd}` end to end: a real etcd (Debian's `etcd-server`, loopback, data in a
//! temp dir) and several gateway nodes. An Admin API write on one node is served by the others; two
//! concurrent writes on two nodes give one 200 and one 409 and every node ends on one revision; with etcd
//! stopped traffic is served and writes answer 503; etcd back, a document written with `etcdctl` is applied
//! everywhere; a bad document is refused by every node (logged, counted) and they keep the old config; a node
//! that starts while etcd is down starts from its local cache, and one without a cache refuses to start.

use std::path::Path;
use std::time::{Duration, Instant};

use e2e::etcd::Etcd;
use e2e::metrics::{metric_sum, metrics_text};
use e2e::{config_value, Gateway, Httpbin, Ports, ROUTE_ID, SERVICE_ID};
use reqwest::Method;
use serde_json::{json, Value};

const KEY: &str = "/gateway/config";

/// A node's file: the demo service (its bootstrap entities) and the etcd store.
fn node_yaml(etcd: &Etcd, httpbin: &Httpbin, cache_file: Option<&Path>) -> String {
    let mut config = config_value(Ports::free(), &httpbin.url(), None);
    config["gateway"]["config_store"] = json!({
        "kind": "etcd",
        "endpoints": [etcd.endpoint()],
        "timeout": 1000,
    });
    if let Some(path) = cache_file {
        config["gateway"]["config_store"]["cache_file"] = json!(path);
    }
    e2e::to_yaml(&config)
}

/// A document (no `gateway:` block) whose service sends to `<httpbin>/<path>`; `url` replaces the whole URL.
fn document(httpbin: &Httpbin, path: &str, url: Option<&str>) -> String {
    let url = url.map_or_else(|| format!("{}{path}", httpbin.url()), str::to_owned);
    json!({
        "_format_version": "3.0",
        "services": [{
            "id": SERVICE_ID, "name": "httpbin", "url": url,
            "routes": [{"id": ROUTE_ID, "name": "httpbin-route", "paths": ["/"]}],
        }],
    })
    .to_string()
}

/// True once `f` holds, polling for at most `timeout`.
fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Where the node sends `GET /x` (httpbin's echoed path), or the status when it is not a 200.
fn upstream_path(node: &Gateway) -> String {
    match e2e::http::client()
        .get(format!("{}/x", node.proxy_url()))
        .send()
    {
        Ok(r) if r.status() == 200 => {
            e2e::httpbin::echoed_path(&r.json::<Value>().unwrap_or(Value::Null))
        }
        Ok(r) => format!("status {}", r.status()),
        Err(e) => format!("error {e}"),
    }
}

/// The revision `/status` says the node runs.
fn revision(node: &Gateway) -> i64 {
    let (_, status) = e2e::admin::get(&format!("{}/status", node.admin_url()));
    status["config"]["revision"].as_i64().unwrap_or(-1)
}

fn patch_path(node: &Gateway, path: &str) -> (u16, Value) {
    let url = format!("{}/services/httpbin", node.admin_url());
    e2e::admin::form(Method::PATCH, &url, &[("path", path)])
}

#[test]
fn three_nodes_follow_one_document_and_concurrent_writes_conflict() {
    let etcd = Etcd::start();
    let httpbin = Httpbin::start();
    let nodes: Vec<Gateway> = (0..3)
        .map(|_| Gateway::start(&node_yaml(&etcd, &httpbin, None)))
        .collect();
    // The first node wrote its file's entities; every node runs that revision.
    let first = etcd.mod_revision(KEY);
    assert!(first > 0, "the document was bootstrapped");
    for n in &nodes {
        assert_eq!(revision(n), first, "{}", n.log());
        assert_eq!(upstream_path(n), "/anything/x");
    }

    // The seed's PATCH on node A is served by B and C.
    let (status, body) = patch_path(&nodes[0], "/anything/v2");
    assert_eq!(status, 200, "{body}");
    for n in &nodes[1..] {
        assert!(
            eventually(Duration::from_secs(5), || upstream_path(n)
                == "/anything/v2/x"),
            "{}: {}\n{}",
            n.admin_url(),
            upstream_path(n),
            n.log()
        );
    }

    // Every node is listed, converged.
    let url = format!("{}/clustering/data-planes", nodes[0].admin_url());
    let converged = eventually(Duration::from_secs(5), || {
        let (status, body) = e2e::admin::get(&url);
        let data = body["data"].as_array().cloned().unwrap_or_default();
        status == 200
            && body["next"].is_null()
            && data.len() == 3
            && data.iter().all(|n| {
                n["sync_status"] == "normal"
                    && n["version"].is_string()
                    && n["hostname"].is_string()
                    && n["ip"] == "127.0.0.1"
                    && n["last_seen"].is_i64()
            })
    });
    assert!(converged, "{:?}", e2e::admin::get(&url));

    // Two writes at once on B and C, both based on the same revision: one wins, the other is told (409).
    let mut outcome = Vec::new();
    for attempt in 0..5 {
        let barrier = std::sync::Barrier::new(2);
        let mut statuses: Vec<(u16, Value)> = std::thread::scope(|s| {
            let handles: Vec<_> = [&nodes[1], &nodes[2]]
                .into_iter()
                .enumerate()
                .map(|(i, node)| {
                    let barrier = &barrier;
                    s.spawn(move || {
                        let path = format!("/anything/race{attempt}-{i}");
                        barrier.wait();
                        patch_path(node, &path)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        statuses.sort_by_key(|s| s.0);
        assert!(
            statuses.iter().all(|(s, _)| *s == 200 || *s == 409) && statuses[0].0 == 200,
            "{statuses:?}"
        );
        let rev = etcd.mod_revision(KEY);
        assert!(
            eventually(Duration::from_secs(5), || nodes
                .iter()
                .all(|n| revision(n) == rev)),
            "every node ends on revision {rev}: {:?}",
            nodes.iter().map(revision).collect::<Vec<_>>()
        );
        if statuses[1].0 == 409 {
            outcome = statuses;
            break;
        }
    }
    assert!(!outcome.is_empty(), "no attempt had the two writes overlap");
    let message = outcome[1].1["message"].as_str().unwrap_or_default();
    assert!(message.contains("changed"), "{message}");
    // Nothing was merged: every node serves the winner's path.
    let served: Vec<String> = nodes.iter().map(upstream_path).collect();
    assert!(
        served
            .iter()
            .all(|p| p == &served[0] && p.contains("/race")),
        "{served:?}"
    );
}

#[test]
fn etcd_faults_keep_the_running_config() {
    let mut etcd = Etcd::start();
    let httpbin = Httpbin::start();
    let cache = etcd.dir().join("node-a.etcd-cache");
    let a = Gateway::start(&node_yaml(&etcd, &httpbin, Some(&cache)));
    let b = Gateway::start(&node_yaml(&etcd, &httpbin, None));
    assert!(cache.exists(), "the applied document is cached");

    etcd.stop();
    // Traffic is unaffected; writes are refused with 503, nothing changed.
    for n in [&a, &b] {
        assert_eq!(upstream_path(n), "/anything/x");
    }
    let (status, body) = patch_path(&a, "/anything/offline");
    assert_eq!(status, 503, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("etcd) is unreachable"), "{message}");
    assert_eq!(upstream_path(&a), "/anything/x");
    let (_, status) = e2e::admin::get(&format!("{}/status", a.admin_url()));
    assert_eq!(status["database"]["reachable"], false, "{status}");

    // A node that starts while etcd is down: from its local cache if it has one, else it refuses to start.
    let missing = etcd.dir().join("never-written.etcd-cache");
    let refused = Gateway::try_start(&node_yaml(&etcd, &httpbin, Some(&missing))).err();
    let refused = refused.expect("a node without etcd and without a cache does not start");
    assert!(refused.contains("no local cache"), "{refused}");
    let c = Gateway::start(&node_yaml(&etcd, &httpbin, Some(&cache)));
    assert!(
        c.log().contains("starting from the local cache"),
        "{}",
        c.log()
    );
    assert_eq!(upstream_path(&c), "/anything/x");

    // etcd back: a document written with etcdctl reaches every node. The history is compacted right after,
    // so a node that reconnects later finds its resume revision gone and reads the document whole.
    etcd.resume();
    etcd.put(KEY, &document(&httpbin, "/anything/ctl", None));
    etcd.put("/other/key", "x");
    let latest = etcd.mod_revision("/other/key").to_string();
    etcd.ctl(&["compact", &latest], None);
    for n in [&a, &b, &c] {
        assert!(
            eventually(Duration::from_secs(10), || upstream_path(n)
                == "/anything/ctl/x"),
            "{}\n{}",
            upstream_path(n),
            n.log()
        );
    }
    let good = etcd.mod_revision(KEY);
    let compacted = [&a, &b, &c]
        .iter()
        .filter(|n| n.log().contains("was compacted"))
        .count();
    eprintln!("nodes that resumed after the compaction (full read): {compacted} of 3");

    // A document no node accepts: refused everywhere, logged and counted; the old config keeps running.
    etcd.put(KEY, &document(&httpbin, "", Some("ftp://127.0.0.1:1")));
    for n in [&a, &b, &c] {
        let counted = eventually(Duration::from_secs(10), || {
            metric_sum(
                &metrics_text(&n.admin_url()),
                "gateway_config_store_refused_total",
                &[],
            ) >= 1.0
        });
        assert!(counted, "{}", n.log());
        assert!(
            n.log().contains("refused (still running revision"),
            "{}",
            n.log()
        );
        assert_eq!(revision(n), good);
        assert_eq!(upstream_path(n), "/anything/ctl/x");
    }
    // The node's writes are refused too (409) until the document is fixed: nothing overwrites it silently.
    let (status, body) = patch_path(&a, "/anything/after-bad");
    assert_eq!(status, 409, "{body}");
}

#[test]
fn push_and_pull_move_the_document_and_sighup_rereads_etcd() {
    let etcd = Etcd::start();
    let httpbin = Httpbin::start();
    let node = Gateway::start(&node_yaml(&etcd, &httpbin, None));
    let run = |args: &[&str]| {
        let out = std::process::Command::new(e2e::gateway_bin())
            .args(args)
            .arg("-c")
            .arg(node.config_path())
            .output()
            .expect("run gateway config");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // push: a declarative file (a gateway: block in it is left out), validated first.
    let file = etcd.dir().join("pushed.yaml");
    let mut config: Value = serde_yaml::from_str(&node.config()).unwrap();
    config["services"][0]["url"] = json!(format!("{}/anything/pushed", httpbin.url()));
    std::fs::write(&file, e2e::to_yaml(&config)).unwrap();
    let (ok, stdout, stderr) = run(&["config", "push", file.to_str().unwrap()]);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("pushed") && stderr.contains("gateway: block is left out"));
    assert!(eventually(Duration::from_secs(5), || upstream_path(&node)
        == "/anything/pushed/x"));
    let rev = etcd.mod_revision(KEY);

    // A file that does not validate is refused with its field path; etcd keeps its document.
    std::fs::write(&file, document(&httpbin, "", Some("ftp://x"))).unwrap();
    let (ok, _, stderr) = run(&["config", "push", file.to_str().unwrap()]);
    assert!(!ok && stderr.contains("services[0]"), "{stderr}");
    assert_eq!(etcd.mod_revision(KEY), rev);

    // pull: the document as stored, without the gateway: block.
    let (ok, stdout, stderr) = run(&["config", "pull"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("/anything/pushed") && !stdout.contains("gateway:"),
        "{stdout}"
    );

    // SIGHUP on an etcd-backed node re-reads etcd.
    node.signal(libc::SIGHUP);
    assert!(
        node.wait_for_log(
            "config reloaded path=etcd:/gateway/config",
            Duration::from_secs(5)
        ),
        "{}",
        node.log()
    );
}

#[test]
fn tls_with_client_certificates_and_user_auth() {
    let ca = e2e::ca::LocalCa::new();
    let mut etcd = Etcd::start_tls(&ca);
    etcd.enable_auth("s3cret-root");
    let httpbin = Httpbin::start();
    let (cert, key) = ca.issue_client("gateway", "gateway-client");
    let yaml = |password: &str| {
        let mut config: Value = serde_yaml::from_str(&node_yaml(&etcd, &httpbin, None)).unwrap();
        let store = &mut config["gateway"]["config_store"];
        store["username"] = json!("root");
        store["password"] = json!(password);
        store["tls"] = json!({"ca_cert": ca.ca_pem(), "client_cert": cert, "client_key": key});
        e2e::to_yaml(&config)
    };
    // Over TLS, logged in: the node bootstraps the document and its writes land in etcd.
    let node = Gateway::start(&yaml("s3cret-root"));
    assert!(etcd.mod_revision(KEY) > 0, "{}", node.log());
    let (status, body) = patch_path(&node, "/anything/tls");
    assert_eq!(status, 200, "{body}");
    assert!(etcd.ctl(&["get", KEY], None).contains("/anything/tls"));
    // A wrong password: the node does not start, and says why without the password.
    let refused = Gateway::try_start(&yaml("wrong-password-x")).err();
    let refused = refused.expect("a node etcd refuses does not start");
    assert!(refused.contains("authentication failed"), "{refused}");
    assert!(!refused.contains("wrong-password-x"), "{refused}");
}

//! Helpers for `cluster.rs`: a throw-away `redis-server`, N gateway nodes sharing it, their introspection
//! counts and concurrent requests.
#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::process::{free_port, wait_for_port, ChildGroup};
use e2e::{config_value, oidc_config, Gateway, Httpbin, Idp, Ports};
use serde_json::json;

/// The salt every node shares.
pub const SALT: &str = "e2e-cluster-salt-0123456789";

/// A `redis-server` on a free loopback port, without persistence; killed on drop.
pub struct Redis {
    child: Option<ChildGroup>,
    /// Its port.
    pub port: u16,
}

impl Redis {
    /// Starts it; panics (saying to install the Debian package) when `redis-server` is missing.
    pub fn start() -> Redis {
        let port = free_port();
        let mut cmd = Command::new("redis-server");
        cmd.args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(["--bind", "127.0.0.1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        let mut child = ChildGroup::spawn("redis", cmd, libc::SIGKILL, None).unwrap_or_else(|e| {
            panic!("spawn redis-server: {e} (install the Debian package redis-server: scripts/setup.sh)")
        });
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        assert!(
            wait_for_port(addr, Duration::from_secs(10), || child.try_wait().is_none()),
            "redis-server did not listen on {port}"
        );
        Redis {
            child: Some(child),
            port,
        }
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it now.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A gateway node's YAML: the demo service with introspection, and the shared `cluster_cache`.
pub fn node_yaml(idp: &Idp, httpbin: &Httpbin, redis_url: &str) -> String {
    let oidc = oidc_config(idp.issuer(), &["introspection"], json!({}));
    let mut v = config_value(Ports::free(), &httpbin.url(), Some(oidc));
    v["gateway"]["cluster_cache"] = json!({
        "redis_url": redis_url,
        "salt": SALT,
        "connect_timeout": 200,
        "command_timeout": 100,
        "lock_ttl": 5000,
    });
    e2e::to_yaml(&v)
}

/// `n` nodes (started one after another, each on its own ports), same config otherwise.
pub fn start_nodes(n: usize, idp: &Idp, httpbin: &Httpbin, redis_url: &str) -> Vec<Gateway> {
    (0..n)
        .map(|_| Gateway::start(&node_yaml(idp, httpbin, redis_url)))
        .collect()
}

/// Introspection requests the nodes made, summed.
pub fn introspection_calls(nodes: &[Gateway]) -> u64 {
    nodes
        .iter()
        .map(|n| e2e::metrics::introspection_calls(&n.admin_url()))
        .sum()
}

/// The status of `GET /` on a node with a bearer token.
pub fn status(node: &Gateway, token: &str) -> u16 {
    e2e::http::client()
        .get(format!("{}/anything", node.proxy_url()))
        .bearer_auth(token)
        .send()
        .map_or(0, |r| r.status().as_u16())
}

/// `total` requests with `token`, spread round-robin over the nodes, from `threads` threads released
/// together; every status.
pub fn concurrent(nodes: &[Gateway], token: &str, total: usize, threads: usize) -> Vec<u16> {
    let barrier = std::sync::Barrier::new(threads);
    let urls: Vec<String> = nodes.iter().map(Gateway::proxy_url).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, urls) = (&barrier, &urls);
                s.spawn(move || {
                    let client = e2e::http::client();
                    barrier.wait();
                    (t..total)
                        .step_by(threads)
                        .map(|i| {
                            client
                                .get(format!("{}/anything", urls[i % urls.len()]))
                                .bearer_auth(token)
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
    })
}

/// Waits until every node answers `want` for `token`; the time it took, or `None` after `timeout`.
pub fn until_all(nodes: &[Gateway], token: &str, want: u16, timeout: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut done = vec![false; nodes.len()];
    while start.elapsed() < timeout {
        for (i, n) in nodes.iter().enumerate() {
            if !done[i] && status(n, token) == want {
                done[i] = true;
            }
        }
        if done.iter().all(|d| *d) {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// `POST /openid-connect/purge` on a node with a JSON body; (status, body).
pub fn purge(node: &Gateway, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = e2e::http::client()
        .post(format!("{}/openid-connect/purge", node.admin_url()))
        .json(&body)
        .send()
        .expect("POST /openid-connect/purge");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(serde_json::Value::Null))
}

//! Kong's log and metrics plugins end to end, through the real gateway binary to the real httpbin:
//! file-log writes Kong-shaped JSON lines with the secrets redacted; http-log delivers batches (a JSON
//! array, Basic auth from the URL's user info) to a receiver that goes down and comes back, and nothing
//! queued inside the retry window is lost; prometheus is scraped by a real Prometheus server (Debian's
//! `prometheus`) from the `status_listen` listener and a PromQL query returns the request count; the Admin
//! API's `/metrics` serves the same registry. Bad input is refused at load with Kong's messages.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{client, send};
use e2e::{free_port, Gateway, Httpbin, Ports, TempDir};
use serde_json::{json, Value};

const KEY: &str = "alice-secret-key-0001";
const BEARER: &str = "bearer-secret-0002";
const COOKIE: &str = "cookie-secret-0003";

/// One request the receiver got: its `Authorization` header and its body.
#[derive(Debug, Clone)]
struct Got {
    authorization: Option<String>,
    body: String,
}

/// A tiny HTTP/1.1 log receiver on a fixed port that can go down (its socket closed: connections are
/// refused) and come back.
struct Receiver {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn start(port: u16, got: Arc<Mutex<Vec<Got>>>) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the receiver");
        listener
            .set_nonblocking(true)
            .expect("log receiver / prometheus helper");
        let stop = Arc::new(AtomicBool::new(false));
        let (stop2, got2) = (stop.clone(), got.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (got, stop) = (got2.clone(), stop2.clone());
                        std::thread::spawn(move || serve(conn, &got, &stop));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Receiver {
            stop,
            thread: Some(thread),
        }
    }

    /// Closes the listening socket; open connections are closed at their next request, unanswered.
    fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("log receiver / prometheus helper");
        }
    }
}

/// Serves the requests of one connection (keep-alive), answering 200, until `stop`.
fn serve(conn: TcpStream, got: &Mutex<Vec<Got>>, stop: &AtomicBool) {
    conn.set_nonblocking(false)
        .expect("log receiver / prometheus helper");
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("log receiver / prometheus helper");
    let mut reader = BufReader::new(conn.try_clone().expect("log receiver / prometheus helper"));
    let mut conn = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let (mut length, mut authorization) = (0usize, None);
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (name, value) = h.split_once(':').expect("log receiver / prometheus helper");
            match name.to_ascii_lowercase().as_str() {
                "content-length" => {
                    length = value
                        .trim()
                        .parse()
                        .expect("log receiver / prometheus helper")
                }
                "authorization" => authorization = Some(value.trim().to_string()),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() || stop.load(Ordering::SeqCst) {
            return;
        }
        got.lock()
            .expect("log receiver / prometheus helper")
            .push(Got {
                authorization,
                body: String::from_utf8(body).expect("log receiver / prometheus helper"),
            });
        if conn
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .is_err()
        {
            return;
        }
    }
}

/// Every log entry the receiver got, in order (each body is a JSON array of records).
fn entries(got: &Mutex<Vec<Got>>) -> Vec<Value> {
    got.lock()
        .expect("log receiver / prometheus helper")
        .iter()
        .flat_map(|g| {
            match serde_json::from_str::<Value>(&g.body).expect("log receiver / prometheus helper")
            {
                Value::Array(items) => items,
                other => vec![other],
            }
        })
        .collect()
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

fn config(ports: Ports, httpbin: &str, log_path: &str, receiver: u16, status: u16) -> Value {
    let mut config = e2e::config_value(ports, httpbin, None);
    config["gateway"]["status_listen"] = json!(format!("127.0.0.1:{status}"));
    config["gateway"]["access_log_format"] = json!("json");
    config["services"][0]["routes"] = json!([
        {"name": "filed", "paths": ["/filed"], "plugins": [
            {"name": "key-auth", "config": {}},
            {"name": "file-log", "config": {"path": log_path}},
        ]},
        {"name": "shipped", "paths": ["/shipped"], "plugins": [
            {"name": "http-log", "config": {
                "http_endpoint": format!("http://logger:s3cret@127.0.0.1:{receiver}/logs"),
                "headers": {"X-Source": "gateway"},
                "queue": {"max_batch_size": 5, "max_coalescing_delay": 0.2,
                          "initial_retry_delay": 0.05, "max_retry_delay": 0.5, "max_retry_time": 60}
            }},
        ]},
        {"name": "counted", "paths": ["/counted"]},
    ]);
    config["plugins"] = json!([{"name": "prometheus", "config": {
        "per_consumer": true, "status_code_metrics": true, "latency_metrics": true,
        "bandwidth_metrics": true, "upstream_health_metrics": true
    }}]);
    config["consumers"] = json!([{"username": "alice", "keyauth_credentials": [{"key": KEY}]}]);
    config
}

/// A real Prometheus server scraping `target` every second; stopped on drop.
struct PrometheusServer {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl PrometheusServer {
    fn start(target: &str) -> PrometheusServer {
        let dir = TempDir::new("prometheus");
        let port = free_port();
        let conf = dir.path().join("prometheus.yml");
        std::fs::write(
            &conf,
            format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n- job_name: gateway\n  static_configs: [{{targets: ['{target}']}}]\n"
            ),
        )
        .expect("log receiver / prometheus helper");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", conf.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run Debian's prometheus (scripts/setup.sh installs it)");
        PrometheusServer {
            child,
            port,
            _dir: dir,
        }
    }

    /// The value of the instant `query`, when it has exactly one sample.
    fn query(&self, query: &str) -> Option<f64> {
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        let r = client().get(url).query(&[("query", query)]).send().ok()?;
        let v: Value = r.json().ok()?;
        let result = v["data"]["result"].as_array()?;
        if result.len() != 1 {
            return None;
        }
        result[0]["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn log_plugins_and_prometheus_end_to_end() {
    let httpbin = Httpbin::start();
    let dir = TempDir::new("observability");
    let log_path = dir.path().join("file-log.json");
    let receiver_port = free_port();
    let status_port = free_port();
    let ports = Ports::free();
    let cfg = config(
        ports,
        &httpbin.url(),
        log_path.to_str().unwrap(),
        receiver_port,
        status_port,
    );
    let gw = Gateway::start(&e2e::to_yaml(&cfg));
    let url = |p: &str| format!("{}{p}", gw.proxy_url());

    // file-log: Kong's record, one JSON line per request, secrets redacted.
    for i in 0..3 {
        let r = send(
            client()
                .get(url(&format!("/filed/x?n={i}&apikey={KEY}")))
                .header("authorization", format!("Bearer {BEARER}"))
                .header("cookie", format!("session={COOKIE}")),
        );
        assert_eq!(r.status, 200, "{r:?}");
    }
    let r = send(client().get(url("/filed/x?n=3")));
    assert_eq!(r.status, 401, "{r:?}");
    wait_until("four file-log lines", Duration::from_secs(10), || {
        std::fs::read_to_string(&log_path).is_ok_and(|t| t.lines().count() == 4)
    });
    let text = std::fs::read_to_string(&log_path).unwrap();
    for secret in [KEY, BEARER, COOKIE] {
        assert!(!text.contains(secret), "{secret} in the file: {text}");
    }
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let first = &lines[0];
    assert_eq!(first["request"]["method"], "GET");
    assert_eq!(first["request"]["uri"], "/filed/x?n=0&apikey=REDACTED");
    assert_eq!(
        first["request"]["querystring"],
        json!({"n": "0", "apikey": "REDACTED"})
    );
    assert_eq!(first["request"]["headers"]["authorization"], "REDACTED");
    assert_eq!(first["request"]["headers"]["cookie"], "REDACTED");
    assert_eq!(first["response"]["status"], 200);
    assert!(first["response"]["size"].as_u64().unwrap() > 0);
    assert_eq!(first["route"]["name"], "filed");
    assert_eq!(first["service"]["name"], "httpbin");
    assert_eq!(first["consumer"]["username"], "alice");
    assert_eq!(first["upstream_status"], "200");
    assert_eq!(first["upstream_uri"], "/anything/x?n=0&apikey=REDACTED");
    assert_eq!(first["tries"][0]["ip"], "127.0.0.1");
    assert_eq!(first["client_ip"], "127.0.0.1");
    let lat = &first["latencies"];
    assert!(
        lat["request"].as_u64().unwrap() >= lat["proxy"].as_u64().unwrap(),
        "{lat}"
    );
    assert!(first["started_at"].as_u64().unwrap() > 1_700_000_000_000);
    assert_eq!(lines[3]["response"]["status"], 401);
    assert_eq!(lines[3]["latencies"]["proxy"], -1, "not proxied");
    assert!(lines[3].get("consumer").is_none());
    // Sizes are nginx's $request_length and $bytes_sent: the bytes the client sent and received, to the byte.
    let raw = format!(
        "GET /filed/raw?apikey={KEY} HTTP/1.1\r\nHost: sizes.test\r\nX-Padding: {}\r\n\
         Connection: close\r\n\r\n",
        "p".repeat(37)
    );
    let mut conn = TcpStream::connect(gw.proxy_addr()).unwrap();
    conn.write_all(raw.as_bytes()).unwrap();
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    wait_until("five file-log lines", Duration::from_secs(10), || {
        std::fs::read_to_string(&log_path).is_ok_and(|t| t.lines().count() == 5)
    });
    let text = std::fs::read_to_string(&log_path).unwrap();
    let sized: Value = serde_json::from_str(text.lines().nth(4).unwrap()).unwrap();
    assert_eq!(sized["request"]["uri"], "/filed/raw?apikey=REDACTED");
    assert_eq!(sized["request"]["size"], raw.len(), "{sized}");
    assert_eq!(sized["response"]["size"], answer.len(), "{sized}");
    // The access log in its json format: the same record, the same redaction.
    assert!(
        gw.wait_for_log(
            "\"uri\":\"/filed/x?n=0&apikey=REDACTED\"",
            Duration::from_secs(5)
        ),
        "{}",
        gw.log()
    );
    for secret in [KEY, BEARER, COOKIE] {
        assert!(!gw.log().contains(secret), "{secret} in the access log");
    }

    // http-log: batches to a live receiver, with Basic auth from the URL's user info.
    let got = Arc::new(Mutex::new(Vec::new()));
    let receiver = Receiver::start(receiver_port, got.clone());
    for i in 0..5 {
        assert_eq!(
            send(client().get(url(&format!("/shipped?n={i}")))).status,
            200
        );
    }
    wait_until("five shipped entries", Duration::from_secs(10), || {
        entries(&got).len() == 5
    });
    let first = got.lock().unwrap()[0].clone();
    assert_eq!(
        first.authorization.as_deref(),
        Some("Basic bG9nZ2VyOnMzY3JldA==")
    );
    assert!(first.body.starts_with('['), "a JSON array: {}", first.body);
    // The receiver goes down; requests are served as fast as before, entries wait and are retried.
    receiver.stop();
    let start = Instant::now();
    for i in 5..15 {
        assert_eq!(
            send(client().get(url(&format!("/shipped?n={i}")))).status,
            200
        );
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "a down sink slowed requests"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(entries(&got).len(), 5, "nothing delivered while down");
    let _receiver = Receiver::start(receiver_port, got.clone());
    wait_until("all fifteen entries", Duration::from_secs(20), || {
        entries(&got).len() >= 15
    });
    let mut ns: Vec<String> = entries(&got)
        .iter()
        .map(|e| {
            e["request"]["querystring"]["n"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    ns.sort_by_key(|n| n.parse::<u32>().unwrap());
    let want: Vec<String> = (0..15).map(|i| i.to_string()).collect();
    assert_eq!(ns, want, "each entry exactly once");

    // prometheus: Kong's metrics on the status listener and on the Admin API, same registry.
    for _ in 0..7 {
        assert_eq!(send(client().get(url("/counted"))).status, 200);
    }
    let status = format!("127.0.0.1:{status_port}");
    let metrics = send(client().get(format!("http://{status}/metrics"))).body;
    let counted = r#"kong_http_requests_total{code="200",consumer="",route="counted",service="httpbin",source="service",workspace="default"} 7"#;
    assert!(metrics.contains(counted), "{metrics}");
    assert!(metrics.contains(r#"kong_http_requests_total{code="401",consumer="",route="filed""#));
    assert!(
        metrics.contains(r#"consumer="alice",route="filed""#),
        "per_consumer"
    );
    assert!(metrics.contains("kong_kong_latency_ms_bucket{"));
    assert!(metrics.contains("kong_upstream_latency_ms_bucket{"));
    assert!(metrics.contains("kong_request_latency_ms_bucket{"));
    assert!(
        metrics.contains(r#"kong_bandwidth_bytes{consumer="",direction="egress",route="counted""#)
    );
    assert!(metrics.contains("kong_datastore_reachable 1"));
    assert!(
        metrics.contains("gateway_http_requests_total"),
        "the gateway's own metrics stay"
    );
    let admin = send(client().get(format!("{}/metrics", gw.admin_url()))).body;
    assert!(admin.contains(counted), "{admin}");
    let st = send(client().get(format!("http://{status}/status")));
    assert_eq!(st.status, 200);
    assert_eq!(st.json()["database"]["reachable"], true);
    assert_eq!(
        send(client().get(format!("http://{status}/services"))).status,
        404
    );

    // A real Prometheus scrapes the status listener; PromQL returns the count.
    let prom = PrometheusServer::start(&status);
    let q = r#"sum(kong_http_requests_total{route="counted",code="200"})"#;
    wait_until(
        "Prometheus to scrape the count",
        Duration::from_secs(30),
        || prom.query(q) == Some(7.0),
    );
}

/// Refused at load with Kong's messages.
#[test]
fn bad_log_and_metrics_configs_are_refused() {
    let cases = [
        (
            json!({"name": "http-log", "config": {"http_endpoint": "http://l/", "queue": {"max_batch_size": -1}}}),
            "services[0].plugins[0].config.queue.max_batch_size: value should be between 1 and 1000000",
        ),
        (
            json!({"name": "http-log", "config": {"http_endpoint": "not-a-url"}}),
            "services[0].plugins[0].config.http_endpoint: missing host in url",
        ),
        (
            json!({"name": "file-log", "config": {"path": "/no-such-dir-e2e/x.log"}}),
            "services[0].plugins[0].config.path: not a valid filename: directory \"/no-such-dir-e2e\" does not exist",
        ),
        (
            json!({"name": "file-log", "config": {"path": "/tmp/x.log", "custom_fields_by_lua": {"a": "return 1"}}}),
            "services[0].plugins[0].config.custom_fields_by_lua: not supported yet",
        ),
        (
            json!({"name": "prometheus", "config": {"ai_metrics": true}}),
            "services[0].plugins[0].config.ai_metrics: not supported yet",
        ),
    ];
    for (plugin, message) in cases {
        let mut cfg = e2e::config_value(Ports::free(), "http://127.0.0.1:9", None);
        cfg["services"][0]["plugins"] = json!([plugin]);
        let err = match Gateway::try_start(&e2e::to_yaml(&cfg)) {
            Ok(_) => panic!("{plugin} was accepted"),
            Err(e) => e,
        };
        assert!(err.contains(message), "{message}\nnot in\n{err}");
    }
}

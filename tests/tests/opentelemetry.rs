//! The opentelemetry plugin end to end, through the real gateway binary, the real httpbin and the real IdP
//! (Glewlwyd): the gateway POSTs OTLP/HTTP protobuf to a test receiver, whose bodies are decoded with the
//! real generated classes of PyPI's `opentelemetry-proto` (`tests/peers/otlp/decode.py`). Checked: one trace
//! per request with the root (SERVER), router, plugin and upstream (CLIENT) spans linked to it; an incoming
//! `traceparent` continued; httpbin receiving the propagated `traceparent`; the introspection call a child of
//! openid-connect's span; `sampling_rate: 0` exporting nothing; bad input refused at load.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{assert_echo, client, routes_config_value, send};
use e2e::{oidc_config, Gateway, Ports, TempDir, JOHN};
use serde_json::{json, Value};

/// An OTLP/HTTP receiver: records each POST body (raw bytes), answers 200.
struct Receiver {
    port: u16,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the OTLP receiver");
        let port = listener.local_addr().expect("local addr").port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let b = bodies.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let b = b.clone();
                std::thread::spawn(move || serve(conn, &b));
            }
        });
        Receiver { port, bodies }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1/traces", self.port)
    }

    /// Every span received so far, decoded by `opentelemetry-proto`.
    fn spans(&self, dir: &TempDir) -> Vec<Value> {
        let bodies = self.bodies.lock().expect("test value").clone();
        if bodies.is_empty() {
            return Vec::new();
        }
        let mut files = Vec::new();
        for (i, body) in bodies.iter().enumerate() {
            let path = dir.path().join(format!("export-{i}.pb"));
            std::fs::write(&path, body).expect("write an export");
            files.push(path);
        }
        let root = e2e::workspace_root();
        let out = std::process::Command::new(root.join(".venv/bin/python"))
            .arg(root.join("tests/peers/otlp/decode.py"))
            .args(&files)
            .output()
            .expect("run the OTLP decoder");
        assert!(
            out.status.success(),
            "decode: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("a span as JSON"))
            .collect()
    }

    /// Waits until the spans of `n` traces arrived (or 10 s), and returns every span.
    fn wait_traces(&self, dir: &TempDir, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let spans = self.spans(dir);
            let roots = spans.iter().filter(|s| s["name"] == "kong").count();
            if roots >= n || Instant::now() > deadline {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn serve(mut conn: TcpStream, bodies: &Mutex<Vec<Vec<u8>>>) {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n");
        if let Some(end) = head_end {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let body = buf[end + 4..end + 4 + len].to_vec();
                buf.drain(..end + 4 + len);
                bodies.lock().expect("test value").push(body);
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
                continue;
            }
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn otel(receiver: &Receiver, extra: Value) -> Value {
    let mut c = json!({
        "traces_endpoint": receiver.url(),
        "sampling_rate": 1,
        "queue": {"max_coalescing_delay": 0.1},
        "resource_attributes": {"service.name": "edge-gw"},
    });
    for (k, v) in extra.as_object().expect("test value") {
        c[k] = v.clone();
    }
    json!({ "name": "opentelemetry", "config": c })
}

fn by_trace(spans: &[Value]) -> HashMap<String, Vec<Value>> {
    let mut m: HashMap<String, Vec<Value>> = HashMap::new();
    for s in spans {
        m.entry(s["trace_id"].as_str().expect("test value").to_string())
            .or_default()
            .push(s.clone());
    }
    m
}

#[test]
fn spans_link_into_one_trace_per_request_and_the_context_propagates() {
    let receiver = Receiver::start();
    let dir = TempDir::new("otel");
    let (idp, httpbin) = e2e::start_idp_and_httpbin();
    let introspection = oidc_config(idp.issuer(), &["introspection"], json!({}));
    let mut config = routes_config_value(
        Ports::free(),
        &httpbin.url(),
        &[
            ("/traced", None),
            ("/oidc", Some(introspection)),
            ("/unsampled", None),
        ],
    );
    let routes = config["services"][0]["routes"]
        .as_array_mut()
        .expect("test value");
    routes[0]["plugins"] = json!([
        otel(&receiver, json!({"http_response_header_for_traceid": "x-trace-id"})),
        {"name": "key-auth", "config": {"key_names": ["apikey"]}},
    ]);
    routes[1]["plugins"]
        .as_array_mut()
        .expect("test value")
        .push(otel(&receiver, json!({})));
    routes[2]["plugins"] = json!([otel(&receiver, json!({"sampling_rate": 0}))]);
    config["consumers"] =
        json!([{"username": "alice", "keyauth_credentials": [{"key": "k-alice"}]}]);
    let gw = Gateway::start(&e2e::to_yaml(&config));
    let url = |p: &str| format!("{}{p}", gw.proxy_url());

    // 1. A new trace: root + router + plugins + upstream; httpbin gets the attempt's span as parent.
    let r = send(
        client()
            .get(url("/traced/anything"))
            .header("apikey", "k-alice"),
    );
    let echo = assert_echo(&r, "a traced request");
    let tp = echo["headers"]["Traceparent"]
        .as_str()
        .expect("traceparent upstream")
        .to_string();
    let trace_header = r
        .headers
        .iter()
        .find(|(n, _)| n == "x-trace-id")
        .map(|(_, v)| v.clone());
    let spans = receiver.wait_traces(&dir, 1);
    let traces = by_trace(&spans);
    assert_eq!(traces.len(), 1, "one trace: {spans:#?}");
    let (trace_id, spans) = traces.into_iter().next().expect("test value");
    assert_eq!(trace_header.as_deref(), Some(trace_id.as_str()));
    assert!(
        tp.starts_with(&format!("00-{trace_id}-")) && tp.ends_with("-01"),
        "{tp}"
    );
    let named = |n: &str| {
        spans
            .iter()
            .filter(|s| s["name"] == n)
            .cloned()
            .collect::<Vec<_>>()
    };
    let root = &named("kong")[0];
    assert_eq!(root["kind"], 2, "SERVER");
    assert_eq!(root["parent"], "");
    assert_eq!(root["attributes"]["http.method"], "GET");
    assert_eq!(root["attributes"]["http.status_code"], 200);
    assert!(root["attributes"]["http.url"]
        .as_str()
        .expect("test value")
        .ends_with("/traced/anything"));
    assert_eq!(root["resource"]["service.name"], "edge-gw");
    let root_id = root["span_id"].as_str().expect("test value");
    for name in [
        "kong.router",
        "kong.access.plugin.key-auth",
        "kong.access.plugin.opentelemetry",
    ] {
        let s = named(name);
        assert_eq!(s.len(), 1, "{name}: {spans:#?}");
        assert_eq!(s[0]["parent"], root_id, "{name}");
    }
    let up = &named("kong.balancer")[0];
    assert_eq!(up["kind"], 3, "CLIENT");
    assert_eq!(up["parent"], root_id);
    assert_eq!(up["attributes"]["http.status_code"], 200);
    let up_id = up["span_id"].as_str().expect("test value");
    assert_eq!(
        tp,
        format!("00-{trace_id}-{up_id}-01"),
        "httpbin's parent is the upstream span"
    );

    // 2. An incoming traceparent is continued.
    let incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let r = send(
        client()
            .get(url("/traced/anything"))
            .header("apikey", "k-alice")
            .header("traceparent", incoming),
    );
    let echo = assert_echo(&r, "a continued trace");
    let tp = echo["headers"]["Traceparent"].as_str().expect("test value");
    assert!(
        tp.starts_with("00-0af7651916cd43dd8448eb211c80319c-"),
        "{tp}"
    );
    let spans = receiver.wait_traces(&dir, 2);
    let continued = &by_trace(&spans)["0af7651916cd43dd8448eb211c80319c"];
    let root = continued
        .iter()
        .find(|s| s["name"] == "kong")
        .expect("test value");
    assert_eq!(root["parent"], "b7ad6b7169203331");

    // 3. openid-connect's introspection is a child span of the plugin's span.
    let token = idp.password_token(JOHN.0, JOHN.1);
    let r = send(client().get(url("/oidc/anything")).bearer_auth(&token));
    let echo = assert_echo(&r, "an introspected request");
    let tp = echo["headers"]["Traceparent"]
        .as_str()
        .expect("test value")
        .to_string();
    let trace_id = tp.split('-').nth(1).expect("test value").to_string();
    let spans = receiver.wait_traces(&dir, 3);
    let spans = &by_trace(&spans)[&trace_id];
    let oidc = spans
        .iter()
        .find(|s| s["name"] == "kong.access.plugin.openid-connect")
        .expect("test value");
    let calls: Vec<_> = spans
        .iter()
        .filter(|s| s["name"] == "kong.internal.request")
        .collect();
    let introspect = calls
        .iter()
        .find(|s| s["attributes"]["kong.idp.endpoint"] == "introspection")
        .unwrap_or_else(|| panic!("an introspection span: {spans:#?}"));
    assert_eq!(introspect["parent"], oidc["span_id"]);
    assert_eq!(introspect["kind"], 3);
    assert_eq!(introspect["attributes"]["http.method"], "POST");
    assert_eq!(introspect["attributes"]["http.status_code"], 200);
    assert!(introspect["start"].as_u64() >= oidc["start"].as_u64());

    // 4. sampling_rate 0: propagated unsampled, nothing exported.
    let before = receiver.spans(&dir).len();
    let r = send(client().get(url("/unsampled/anything")));
    let echo = assert_echo(&r, "an unsampled request");
    let tp = echo["headers"]["Traceparent"].as_str().expect("test value");
    assert!(tp.ends_with("-00"), "{tp}");
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(receiver.spans(&dir).len(), before, "nothing exported");
}

#[test]
fn bad_input_is_refused_at_load_with_kongs_messages() {
    for (config, message) in [
        (
            json!({"traces_endpoint": "not-a-url"}),
            "missing host in url",
        ),
        (
            json!({"traces_endpoint": "http://otel:4318", "header_type": "zipkin"}),
            "expected one of: preserve, ignore",
        ),
        (
            json!({"traces_endpoint": "http://otel:4318", "header_type": "datadog"}),
            "not supported yet",
        ),
        (
            json!({"traces_endpoint": "http://otel:4318", "sampling_rate": 1.5}),
            "value should be between 0 and 1",
        ),
    ] {
        let mut c = e2e::config_value(Ports::free(), "http://127.0.0.1:9", None);
        c["plugins"] = json!([{ "name": "opentelemetry", "config": config }]);
        let err = Gateway::try_start(&e2e::to_yaml(&c)).expect_err("refused at load");
        assert!(err.contains(message), "{message}: {err}");
    }
}

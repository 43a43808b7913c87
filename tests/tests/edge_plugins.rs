//! Kong's small edge plugins end to end, through the real gateway binary to the real httpbin, one set of
//! servers for the file: request-termination (status and message, raw body, trigger, echo, its schema's
//! refusals through the Admin API); request-size-limiting (a declared length over the bound refused before
//! the body is read, a chunked body counted as it streams and cut with the same 413, 411 without a length);
//! correlation-id (Kong's generator formats upstream, the client's id kept, `echo_downstream` on the
//! upstream's answers and the gateway's own, the id in the access-log line).

mod common;

use common::{assert_echo, client, send, Reply};
use e2e::{Gateway, Httpbin, Ports};
use reqwest::Method;
use serde_json::{json, Value};

struct Servers {
    gateway: Gateway,
    _httpbin: Httpbin,
}

fn start() -> Servers {
    let httpbin = Httpbin::start();
    let mut config = e2e::config_value(Ports::free(), &httpbin.url(), None);
    let route = |name: &str, plugin: &str, cfg: Value| {
        json!({"name": name, "paths": [format!("/{name}")],
               "plugins": [{"name": plugin, "config": cfg}]})
    };
    config["services"][0]["routes"] = json!([
        route("term-default", "request-termination", json!({})),
        route(
            "term-body",
            "request-termination",
            json!({"status_code": 200, "body": "<h1>gone fishing</h1>", "content_type": "text/html"})
        ),
        route(
            "term-trigger",
            "request-termination",
            json!({"status_code": 404, "echo": true, "trigger": "Gimme-An-Echo"})
        ),
        route(
            "term-message",
            "request-termination",
            json!({"status_code": 406, "message": "Invalid"})
        ),
        route(
            "size-bytes",
            "request-size-limiting",
            json!({"allowed_payload_size": 10, "size_unit": "bytes"})
        ),
        route(
            "size-kb",
            "request-size-limiting",
            json!({"allowed_payload_size": 1, "size_unit": "kilobytes"})
        ),
        route(
            "size-required",
            "request-size-limiting",
            json!({"allowed_payload_size": 1, "require_content_length": true})
        ),
        route("cid", "correlation-id", json!({})),
        route(
            "cid-tracker",
            "correlation-id",
            json!({"generator": "tracker", "header_name": "X-Trace"})
        ),
        json!({"name": "cid-echo", "paths": ["/cid-echo"], "plugins": [
            {"name": "correlation-id",
             "config": {"generator": "uuid", "header_name": "X-Trace", "echo_downstream": true}},
            {"name": "request-termination", "config": {"trigger": "Stop"}},
        ]}),
    ]);
    let gateway = Gateway::start(&e2e::to_yaml(&config));
    Servers {
        gateway,
        _httpbin: httpbin,
    }
}

impl Servers {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway.proxy_url())
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = client().get(self.url(path));
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        send(req)
    }
}

fn assert_reply(r: &Reply, status: u16, content_type: Option<&str>, body: &str, what: &str) {
    assert_eq!(
        (r.status, r.header("content-type"), r.body.as_str()),
        (status, content_type, body),
        "{what}: {r:?}"
    );
}

const JSON: Option<&str> = Some("application/json; charset=utf-8");

fn request_termination(s: &Servers) {
    let r = s.get("/term-default", &[]);
    assert_reply(
        &r,
        503,
        JSON,
        r#"{"message":"Service unavailable"}"#,
        "default",
    );
    let r = s.get("/term-message/x", &[]);
    assert_reply(&r, 406, JSON, r#"{"message":"Invalid"}"#, "message");
    let r = s.get("/term-body", &[]);
    assert_reply(
        &r,
        200,
        Some("text/html"),
        "<h1>gone fishing</h1>",
        "raw body",
    );

    // Without the trigger the request goes through to httpbin.
    let echo = assert_echo(&s.get("/term-trigger", &[]), "no trigger: proxied");
    assert!(
        echo["url"].as_str().unwrap_or("").contains("/anything"),
        "{echo}"
    );
    // With it, as a header or as a query argument: the request echoed with Kong's shape.
    let r = s.get(
        "/term-trigger/status/200?hello=there",
        &[("Gimme-An-Echo", "yes")],
    );
    assert_eq!(r.status, 404, "{r:?}");
    let v = r.json();
    assert_eq!(v["message"], "Not found", "{v}");
    let req = &v["request"];
    assert_eq!(req["scheme"], "http", "{v}");
    assert_eq!(req["host"], "127.0.0.1", "{v}");
    assert_eq!(req["port"], json!(s.gateway.proxy_addr().port()), "{v}");
    assert_eq!(req["headers"]["gimme-an-echo"], "yes", "{v}");
    assert_eq!(req["query"], json!({"hello": "there"}), "{v}");
    assert_eq!(req["path"], "/term-trigger/status/200", "{v}");
    assert_eq!(req["method"], "GET", "{v}");
    assert_eq!(
        req["uri_captures"],
        json!({"named": {}, "unnamed": []}),
        "{v}"
    );
    assert_eq!(v["matched_route"]["name"], "term-trigger", "{v}");
    assert_eq!(v["matched_service"]["name"], "httpbin", "{v}");
    let r = s.get("/term-trigger?Gimme-An-Echo", &[]);
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(r.json()["request"]["query"], json!({"Gimme-An-Echo": true}));
    // A JSON body is echoed parsed and raw.
    let r = send(
        client()
            .post(s.url("/term-trigger"))
            .header("Gimme-An-Echo", "1")
            .json(&json!({"a": [1, 2]})),
    );
    let v = r.json();
    assert_eq!(v["request"]["body"], json!({"a": [1, 2]}), "{v}");
    assert_eq!(v["request"]["raw_body"], json!(r#"{"a":[1,2]}"#), "{v}");

    // Kong's schema checks through the Admin API; nothing written.
    let admin = s.gateway.admin_url();
    let before = s.gateway.config();
    for (config, pointer, message) in [
        (
            json!({"status_code": 99}),
            "/fields/config/status_code",
            "value should be between 100 and 599",
        ),
        (
            json!({"status_code": "abcd"}),
            "/fields/config/status_code",
            "expected an integer",
        ),
        (
            json!({"message": "error", "body": "test"}),
            "/fields/config",
            "message cannot be used with content_type or body",
        ),
        (
            json!({"content_type": "text/html"}),
            "/fields/config",
            "content_type requires a body",
        ),
        (
            json!({"echo": true, "body": "x"}),
            "/fields/config",
            "echo cannot be used with content_type and body",
        ),
        (
            json!({"trigger": "a b"}),
            "/fields/config/trigger",
            "bad header name 'a b', allowed characters are A-Z, a-z, 0-9, '_', and '-'",
        ),
    ] {
        let (status, body) = e2e::admin::json_req(
            Method::POST,
            &format!("{admin}/plugins"),
            json!({"name": "request-termination", "config": config}),
        );
        assert_eq!(status, 400, "{body}");
        assert_eq!(body.pointer(pointer), Some(&json!(message)), "{body}");
    }
    assert_eq!(
        s.gateway.config(),
        before,
        "refused writes leave the file alone"
    );
}

/// A body reqwest sends chunked (no `Content-Length`): `chunks` pieces of `size` bytes.
fn chunked(chunks: usize, size: usize) -> reqwest::blocking::Body {
    struct Pieces(usize, usize);
    impl std::io::Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Ok(0);
            }
            self.0 -= 1;
            let n = self.1.min(buf.len());
            buf[..n].fill(b'x');
            Ok(n)
        }
    }
    reqwest::blocking::Body::new(Pieces(chunks, size))
}

const EXCEEDED: &str = r#"{"message":"Request size limit exceeded"}"#;

fn request_size_limiting(s: &Servers) {
    let post =
        |path: &str, body: reqwest::blocking::Body| send(client().post(s.url(path)).body(body));
    // Declared lengths: at the bound through to httpbin, one byte over refused.
    let echo = assert_echo(&post("/size-bytes", "0123456789".into()), "10 bytes");
    assert_eq!(echo["data"], "0123456789", "{echo}");
    let r = post("/size-bytes", "0123456789A".into());
    assert_reply(&r, 413, JSON, EXCEEDED, "11 bytes");
    let r = send(
        client()
            .post(s.url("/size-bytes"))
            .header("Expect", "100-continue")
            .body("0123456789A"),
    );
    assert_reply(&r, 417, JSON, EXCEEDED, "11 bytes expecting 100-continue");
    assert_echo(&post("/size-kb", vec![b'k'; 1024].into()), "1 KiB");
    let r = post("/size-kb", vec![b'k'; 1025].into());
    assert_reply(&r, 413, JSON, EXCEEDED, "1 KiB + 1");
    // Chunked bodies: counted as they stream.
    assert_echo(&post("/size-bytes", chunked(2, 5)), "10 bytes chunked");
    let r = post("/size-bytes", chunked(3, 8));
    assert_reply(&r, 413, JSON, EXCEEDED, "24 bytes chunked");
    let r = post("/size-kb", chunked(40, 100));
    assert_reply(&r, 413, JSON, EXCEEDED, "4000 bytes chunked");
    // require_content_length: no length and no chunked body is a 411; a chunked body is counted.
    let r = s.get("/size-required", &[]);
    let required = r#"{"message":"A valid Content-Length header is required"}"#;
    assert_reply(&r, 411, JSON, required, "no Content-Length");
    assert_echo(&post("/size-required", chunked(2, 100)), "chunked passes");
    assert_echo(&post("/size-required", "short".into()), "declared length");
}

/// A lowercase, hyphenated version-4 UUID.
fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok_and(|u| u.get_version_num() == 4 && u.to_string() == s)
}

fn correlation_id(s: &Servers) {
    // uuid#counter (the default): the upstream gets `<process uuid>#<n>`, the client nothing.
    let r = s.get("/cid", &[]);
    assert_eq!(
        r.header("kong-request-id"),
        None,
        "no echo_downstream: {r:?}"
    );
    let first = assert_echo(&r, "default generator")["headers"]["Kong-Request-Id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let echo = assert_echo(&s.get("/cid", &[]), "second request");
    let second = echo["headers"]["Kong-Request-Id"]
        .as_str()
        .unwrap_or_default();
    let (u1, n1) = first.split_once('#').unwrap_or_else(|| panic!("{first}"));
    let (u2, n2) = second.split_once('#').unwrap_or_else(|| panic!("{second}"));
    assert!(is_uuid(u1) && u1 == u2, "{first} {second}");
    assert_eq!(
        n2.parse::<u64>().ok(),
        n1.parse::<u64>().ok().map(|n| n + 1),
        "{first} {second}"
    );
    // The id is in the access-log line.
    let needle = format!(
        r#"path="/cid" route=cid service=httpbin status=200 auth=none request_id="{second}""#
    );
    assert!(
        s.gateway
            .wait_for_log(&needle, std::time::Duration::from_secs(5)),
        "{needle} not in\n{}",
        s.gateway.log()
    );
    // A client's own id goes upstream as sent.
    let echo = assert_echo(
        &s.get("/cid", &[("Kong-Request-ID", "mine-1")]),
        "client id",
    );
    assert_eq!(echo["headers"]["Kong-Request-Id"], "mine-1", "{echo}");

    // tracker: server_addr-server_port-pid-sequence-1-time.
    let echo = assert_echo(&s.get("/cid-tracker", &[]), "tracker");
    let t = echo["headers"]["X-Trace"].as_str().unwrap_or_default();
    let parts: Vec<&str> = t.split('-').collect();
    let port = s.gateway.proxy_addr().port().to_string();
    let pid = s.gateway.pid().to_string();
    assert_eq!(parts.len(), 6, "{t}");
    assert_eq!(
        parts[..3],
        ["127.0.0.1", port.as_str(), pid.as_str()],
        "{t}"
    );
    assert!(
        parts[5]
            .split_once('.')
            .is_some_and(|(_, ms)| ms.len() == 3),
        "{t}"
    );

    // echo_downstream: on the upstream's answer, the same id the upstream got.
    let r = s.get("/cid-echo", &[]);
    let sent = r.header("x-trace").unwrap_or_default().to_owned();
    assert!(is_uuid(&sent), "{r:?}");
    assert_eq!(
        assert_echo(&r, "echoed")["headers"]["X-Trace"],
        sent.as_str()
    );
    // ... and on the gateway's own answer (request-termination's 503), the client's id kept.
    let r = s.get("/cid-echo", &[("Stop", "1"), ("X-Trace", "client-trace")]);
    assert_reply(
        &r,
        503,
        JSON,
        r#"{"message":"Service unavailable"}"#,
        "terminated",
    );
    assert_eq!(r.header("x-trace"), Some("client-trace"), "{r:?}");
    let r = s.get("/cid-echo", &[("Stop", "1")]);
    assert!(r.header("x-trace").is_some_and(is_uuid), "{r:?}");
}

#[test]
fn edge_plugins_answer_as_kong() {
    let s = start();
    request_termination(&s);
    request_size_limiting(&s);
    correlation_id(&s);
}

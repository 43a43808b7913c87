//! End-to-end checks of the routing proxy (issue 3): the built gateway in front of a real httpbin, no auth.
//!
//! Each test starts its own httpbin and gateway on free loopback ports. httpbin's `/anything` echoes the
//! method, headers (Title-Case), body and the URL it was asked for, which is what the assertions read.
//! httpbin hides `X-Forwarded-For/-Proto/-Port` and `X-Real-Ip` from its echoed headers, but reports
//! `X-Forwarded-For` as `origin`.

use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use e2e::{config_value, free_port, http, minimal_config, to_yaml, Gateway, Httpbin, Ports};
use reqwest::blocking::Response;
use serde_json::{json, Value};

/// A config with the test's `services` (JSON, Kong's declarative shape) on fresh ports.
fn config_with_services(services: Value) -> String {
    let mut config = config_value(Ports::free(), "http://127.0.0.1:1", None);
    config["services"] = services;
    to_yaml(&config)
}

/// Start a gateway whose only content is `services`.
fn gateway_with_services(services: Value) -> Gateway {
    Gateway::start(&config_with_services(services))
}

/// GET `path` through the gateway, optionally with a Host header.
fn get(gw: &Gateway, path: &str, host: Option<&str>) -> Response {
    let mut req = http::client().get(format!("{}{path}", gw.proxy_url()));
    if let Some(host) = host {
        req = req.header("Host", host);
    }
    req.send()
        .unwrap_or_else(|e| panic!("GET {path}: {e}\n--- gateway.log ---\n{}", gw.log()))
}

/// The JSON body of a 200 response (panics with status and body otherwise).
fn echo(resp: Response) -> Value {
    let status = resp.status().as_u16();
    let body = resp.text().expect("read the response body");
    assert_eq!(status, 200, "expected httpbin's echo, got {status}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// The URL httpbin was asked for, for a GET of `path` through the gateway.
fn upstream_url(gw: &Gateway, path: &str, host: Option<&str>) -> String {
    let body = echo(get(gw, path, host));
    body["url"]
        .as_str()
        .unwrap_or_else(|| panic!("no url in {body}"))
        .to_string()
}

const NO_ROUTE: &str = r#"{"message":"no Route matched with those values"}"#;

fn assert_no_route(resp: Response, what: &str) {
    let (status, content_type, body) = http::parts(resp);
    assert_eq!(status, 404, "{what}: {body}");
    assert_eq!(body, NO_ROUTE, "{what}");
    assert!(
        content_type.starts_with("application/json"),
        "{what}: content type {content_type:?}"
    );
}

#[test]
fn echo_through_the_proxy_without_auth() {
    let httpbin = Httpbin::start();
    let gw = Gateway::start(&minimal_config(Ports::free(), &httpbin.url(), None));
    let resp = http::client()
        .get(format!("{}/", gw.proxy_url()))
        .header("X-Test-Header", "hello e2e")
        .header("User-Agent", "e2e-proxy-test/1")
        .send()
        .expect("GET / through the gateway");
    let body = echo(resp);
    assert_eq!(body["method"], "GET", "{body}");
    assert_eq!(
        body["url"],
        format!("http://127.0.0.1:{}/anything", httpbin.port()),
        "{body}"
    );
    assert_eq!(body["headers"]["X-Test-Header"], "hello e2e", "{body}");
    assert_eq!(body["headers"]["User-Agent"], "e2e-proxy-test/1", "{body}");
    assert_eq!(
        body["headers"]["Host"],
        format!("127.0.0.1:{}", httpbin.port()),
        "{body}"
    );
    assert!(
        body["headers"].get("Authorization").is_none(),
        "no auth plugin, nothing added: {body}"
    );
}

#[test]
fn strip_path_true_and_false() {
    let httpbin = Httpbin::start();
    let gw = gateway_with_services(json!([{
        "name": "svc",
        "url": format!("{}/anything/sp", httpbin.url()),
        "routes": [
            { "name": "strip", "paths": ["/strip"] },
            { "name": "keep", "paths": ["/keep"], "strip_path": false },
        ],
    }]));
    let base = format!("http://127.0.0.1:{}", httpbin.port());
    assert_eq!(
        upstream_url(&gw, "/strip/a/b", None),
        format!("{base}/anything/sp/a/b")
    );
    assert_eq!(
        upstream_url(&gw, "/strip", None),
        format!("{base}/anything/sp")
    );
    assert_eq!(
        upstream_url(&gw, "/strip/", None),
        format!("{base}/anything/sp/"),
        "a trailing slash of the request is kept"
    );
    assert_eq!(
        upstream_url(&gw, "/strip/a%20b", None),
        format!("{base}/anything/sp/a%20b"),
        "percent-encoding is forwarded as sent"
    );
    assert_eq!(
        upstream_url(&gw, "/keep/a/b", None),
        format!("{base}/anything/sp/keep/a/b")
    );
    assert_eq!(
        upstream_url(&gw, "/keep", None),
        format!("{base}/anything/sp/keep")
    );
}

#[test]
fn service_path_is_prefixed_kong_v0() {
    let httpbin = Httpbin::start();
    // Kong's example: service path `/s`, route `/r`, request `/r/x` ⇒ upstream `/s/x`. httpbin only echoes
    // under `/anything`, so the service paths are `/anything/s` and `/anything/t/` (trailing slash).
    let gw = gateway_with_services(json!([
        {
            "name": "svc",
            "url": format!("{}/anything/s", httpbin.url()),
            "routes": [
                { "name": "r", "paths": ["/r"] },
                { "name": "r-nostrip", "paths": ["/n"], "strip_path": false },
            ],
        },
        {
            "name": "slash",
            "url": format!("{}/anything/t/", httpbin.url()),
            "routes": [{ "name": "t", "paths": ["/t"] }],
        },
    ]));
    let base = format!("http://127.0.0.1:{}", httpbin.port());
    // (request, upstream path): Kong's `get_upstream_uri_v0`.
    for (request, upstream) in [
        ("/r/x", "/anything/s/x"),
        ("/r", "/anything/s"),
        ("/r/", "/anything/s/"),
        ("/rx", "/anything/s/x"),
        ("/n/x", "/anything/s/n/x"),
        ("/t", "/anything/t"),
        ("/t/", "/anything/t/"),
        ("/t/x", "/anything/t/x"),
        ("/tx", "/anything/t/x"),
    ] {
        assert_eq!(
            upstream_url(&gw, request, None),
            format!("{base}{upstream}"),
            "request {request}"
        );
    }
}

#[test]
fn host_matching_exact_and_wildcard() {
    let httpbin = Httpbin::start();
    let gw = gateway_with_services(json!([
        {
            "name": "exact",
            "url": format!("{}/anything/exact", httpbin.url()),
            "routes": [{ "name": "exact-route", "hosts": ["api.example.com"] }],
        },
        {
            "name": "wild",
            "url": format!("{}/anything/wild", httpbin.url()),
            "routes": [{ "name": "wild-route", "hosts": ["*.example.org"] }],
        },
    ]));
    let base = format!("http://127.0.0.1:{}", httpbin.port());
    assert_eq!(
        upstream_url(&gw, "/p", Some("api.example.com")),
        format!("{base}/anything/exact/p")
    );
    assert_eq!(
        upstream_url(&gw, "/p", Some("API.Example.com:8000")),
        format!("{base}/anything/exact/p"),
        "host matching ignores case and the port"
    );
    assert_eq!(
        upstream_url(&gw, "/p", Some("a.example.org")),
        format!("{base}/anything/wild/p")
    );
    assert_eq!(
        upstream_url(&gw, "/p", Some("deep.a.example.org")),
        format!("{base}/anything/wild/p")
    );
    assert_no_route(get(&gw, "/p", Some("other.example.net")), "another host");
    assert_no_route(
        get(&gw, "/p", Some("example.org")),
        "the wildcard needs a label",
    );
    assert_no_route(
        get(&gw, "/p", Some("www.api.example.com")),
        "an exact host is not a suffix match",
    );
}

#[test]
fn method_matching() {
    let httpbin = Httpbin::start();
    let gw = gateway_with_services(json!([{
        "name": "svc",
        "url": format!("{}/anything", httpbin.url()),
        "routes": [{ "name": "get-only", "paths": ["/m"], "methods": ["GET"] }],
    }]));
    let body = echo(get(&gw, "/m", None));
    assert_eq!(body["method"], "GET", "{body}");
    let resp = http::client()
        .post(format!("{}/m", gw.proxy_url()))
        .body("x")
        .send()
        .expect("POST /m");
    assert_no_route(resp, "POST on a GET-only route");
    let resp = http::client()
        .delete(format!("{}/m", gw.proxy_url()))
        .send()
        .expect("DELETE /m");
    assert_no_route(resp, "DELETE on a GET-only route");
}

#[test]
fn longest_prefix_wins() {
    let httpbin = Httpbin::start();
    // The shorter prefix comes first in the file: the order must not matter.
    let gw = gateway_with_services(json!([
        {
            "name": "short",
            "url": format!("{}/anything/short", httpbin.url()),
            "routes": [{ "name": "short-route", "paths": ["/api"] }],
        },
        {
            "name": "long",
            "url": format!("{}/anything/long", httpbin.url()),
            "routes": [{ "name": "long-route", "paths": ["/api/v2"] }],
        },
    ]));
    let base = format!("http://127.0.0.1:{}", httpbin.port());
    assert_eq!(
        upstream_url(&gw, "/api/v2/users", None),
        format!("{base}/anything/long/users")
    );
    assert_eq!(
        upstream_url(&gw, "/api/v2", None),
        format!("{base}/anything/long")
    );
    assert_eq!(
        upstream_url(&gw, "/api/v1/users", None),
        format!("{base}/anything/short/v1/users")
    );
    assert_no_route(get(&gw, "/other", None), "no prefix matches");
}

#[test]
fn preserve_host_on_and_off() {
    let httpbin = Httpbin::start();
    let gw = gateway_with_services(json!([{
        "name": "svc",
        "url": format!("{}/anything", httpbin.url()),
        "routes": [
            { "name": "preserve", "paths": ["/preserve"], "preserve_host": true },
            { "name": "rewrite", "paths": ["/rewrite"] },
        ],
    }]));
    let body = echo(get(&gw, "/preserve", Some("client.example:8080")));
    assert_eq!(body["headers"]["Host"], "client.example:8080", "{body}");
    assert_eq!(body["url"], "http://client.example:8080/anything", "{body}");

    let body = echo(get(&gw, "/rewrite", Some("client.example:8080")));
    assert_eq!(
        body["headers"]["Host"],
        format!("127.0.0.1:{}", httpbin.port()),
        "{body}"
    );

    // Without an explicit Host, the client's is the gateway's own address.
    let body = echo(get(&gw, "/preserve", None));
    assert_eq!(
        body["headers"]["Host"],
        format!("127.0.0.1:{}", gw.proxy_addr().port()),
        "{body}"
    );
}

#[test]
fn query_string_is_preserved() {
    let httpbin = Httpbin::start();
    let gw = gateway_with_services(json!([{
        "name": "svc",
        "url": format!("{}/anything/q", httpbin.url()),
        "routes": [{ "name": "r", "paths": ["/r"] }],
    }]));
    let body = echo(get(&gw, "/r/x?a=1&b=two%20words&a=3&empty=", None));
    assert_eq!(
        body["url"],
        format!(
            "http://127.0.0.1:{}/anything/q/x?a=1&b=two%20words&a=3&empty=",
            httpbin.port()
        ),
        "{body}"
    );
    assert_eq!(
        body["args"],
        json!({ "a": ["1", "3"], "b": "two words", "empty": "" }),
        "{body}"
    );
}

#[test]
fn forwarded_headers_as_httpbin_echoes_them() {
    let httpbin = Httpbin::start();
    let gw = gateway_with_services(json!([{
        "name": "svc",
        "url": format!("{}/anything", httpbin.url()),
        "routes": [{ "name": "r", "paths": ["/fw"] }],
    }]));
    let resp = http::client()
        .get(format!("{}/fw/sub?x=1", gw.proxy_url()))
        .header("Host", "shop.example:8443")
        // A client that is not a trusted proxy cannot choose these (Kong overwrites them)…
        .header("X-Forwarded-Host", "spoofed.example")
        .header("X-Forwarded-Path", "/spoofed")
        // …and X-Forwarded-For gets the client address appended.
        .header("X-Forwarded-For", "203.0.113.7")
        .send()
        .expect("GET /fw/sub");
    let body = echo(resp);
    assert_eq!(
        body["headers"]["X-Forwarded-Host"], "shop.example",
        "{body}"
    );
    assert_eq!(body["headers"]["X-Forwarded-Path"], "/fw/sub", "{body}");
    // httpbin reports X-Forwarded-For as `origin` (and hides the header itself).
    assert_eq!(body["origin"], "203.0.113.7, 127.0.0.1", "{body}");

    let body = echo(get(&gw, "/fw", None));
    assert_eq!(body["headers"]["X-Forwarded-Host"], "127.0.0.1", "{body}");
    assert_eq!(body["headers"]["X-Forwarded-Path"], "/fw", "{body}");
    assert_eq!(body["origin"], "127.0.0.1", "{body}");
}

#[test]
fn no_route_is_a_kong_404() {
    let httpbin = Httpbin::start();
    let gw = gateway_with_services(json!([{
        "name": "svc",
        "url": format!("{}/anything", httpbin.url()),
        "routes": [{ "name": "only", "paths": ["/only"] }],
    }]));
    assert_no_route(get(&gw, "/", None), "GET /");
    assert_no_route(
        get(&gw, "/other/only", None),
        "a prefix is anchored at the start",
    );
    let resp = http::client()
        .post(format!("{}/nothing", gw.proxy_url()))
        .json(&json!({ "a": 1 }))
        .send()
        .expect("POST /nothing");
    assert_no_route(resp, "POST /nothing");
    // The route that exists still works, so the 404s above are about routing.
    echo(get(&gw, "/only", None));
}

#[test]
fn upstream_down_is_a_502() {
    let httpbin = Httpbin::start();
    let dead_port = free_port(); // free a moment ago; nothing listens there
    let gw = gateway_with_services(json!([
        {
            "name": "dead",
            "url": format!("http://127.0.0.1:{dead_port}/"),
            "connect_timeout": 2000,
            "routes": [{ "name": "dead-route", "paths": ["/dead"] }],
        },
        {
            "name": "alive",
            "url": format!("{}/anything", httpbin.url()),
            "routes": [{ "name": "alive-route", "paths": ["/alive"] }],
        },
    ]));
    let (status, content_type, body) = http::parts(get(&gw, "/dead/x", None));
    assert_eq!(status, 502, "{body}\n--- gateway.log ---\n{}", gw.log());
    assert_eq!(
        body,
        r#"{"message":"An invalid response was received from the upstream server"}"#
    );
    assert!(
        content_type.starts_with("application/json"),
        "content type {content_type:?}"
    );
    // The gateway keeps serving other services.
    let body = echo(get(&gw, "/alive", None));
    assert_eq!(body["method"], "GET");
}

/// An upstream that accepts connections and closes them at once, without a response.
fn slamming_upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a slamming upstream");
    let port = listener.local_addr().expect("local addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            drop(stream);
        }
    });
    port
}

#[test]
fn upstream_closing_without_response_is_a_502() {
    let port = slamming_upstream();
    let gw = gateway_with_services(json!([{
        "name": "slam",
        "url": format!("http://127.0.0.1:{port}/"),
        "routes": [{ "name": "slam-route", "paths": ["/slam"] }],
    }]));
    let (status, content_type, body) = http::parts(get(&gw, "/slam", None));
    assert_eq!(status, 502, "{body}\n--- gateway.log ---\n{}", gw.log());
    assert_eq!(
        body,
        r#"{"message":"An invalid response was received from the upstream server"}"#
    );
    assert!(
        content_type.starts_with("application/json"),
        "content type {content_type:?}"
    );
}

/// An upstream that accepts connections and never answers. Connections are kept open until the process ends.
fn silent_upstream() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a silent upstream");
    let port = listener.local_addr().expect("local addr").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    (port, accepted)
}

#[test]
fn upstream_timeout_is_a_504() {
    let (port, accepted) = silent_upstream();
    let gw = gateway_with_services(json!([{
        "name": "hang",
        "url": format!("http://127.0.0.1:{port}/"),
        "read_timeout": 500,
        "routes": [{ "name": "hang-route", "paths": ["/hang"] }],
    }]));
    let resp = http::client()
        .get(format!("{}/hang", gw.proxy_url()))
        .timeout(Duration::from_secs(30))
        .send()
        .expect("GET /hang: the gateway must answer before the client gives up");
    let (status, content_type, body) = http::parts(resp);
    assert_eq!(status, 504, "{body}\n--- gateway.log ---\n{}", gw.log());
    assert_eq!(body, r#"{"message":"The upstream server is timing out"}"#);
    assert!(
        content_type.starts_with("application/json"),
        "content type {content_type:?}"
    );
    assert!(
        accepted.load(Ordering::SeqCst) >= 1,
        "the gateway never connected to the upstream"
    );
}

/// An upstream that answers every request with an empty 200 and reports each request head it read.
fn recording_upstream() -> (u16, std::sync::mpsc::Receiver<String>) {
    use std::io::Write;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a recording upstream");
    let port = listener.local_addr().expect("local addr").port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                // One request per connection; the response closes it.
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            });
        }
    });
    (port, rx)
}

#[test]
fn request_target_is_forwarded_byte_for_byte() {
    // httpbin decodes `%2F` before echoing the URL, so the request line is read from a raw socket here.
    let (port, heads) = recording_upstream();
    let gw = gateway_with_services(json!([{
        "name": "raw",
        "url": format!("http://127.0.0.1:{port}/base"),
        "routes": [{ "name": "raw-route", "paths": ["/raw"] }],
    }]));
    for (path, expected) in [
        (
            "/raw/a%2Fb/c%20d?x=%2F&y=1+2",
            "GET /base/a%2Fb/c%20d?x=%2F&y=1+2 HTTP/1.1",
        ),
        ("/raw", "GET /base HTTP/1.1"),
        ("/raw/", "GET /base/ HTTP/1.1"),
    ] {
        let resp = get(&gw, path, None);
        assert_eq!(resp.status().as_u16(), 200, "GET {path}\n{}", gw.log());
        let head = heads
            .recv_timeout(Duration::from_secs(10))
            .expect("the upstream got a request");
        let line = head.lines().next().unwrap_or_default();
        assert_eq!(line, expected, "GET {path}; full head:\n{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains(&format!("\r\nhost: 127.0.0.1:{port}\r\n")),
            "Host is the service's: {head}"
        );
    }
}

#[test]
fn post_body_is_forwarded_intact() {
    let httpbin = Httpbin::start();
    let gw = gateway_with_services(json!([{
        "name": "svc",
        "url": format!("{}/anything", httpbin.url()),
        "routes": [{ "name": "r", "paths": ["/post"] }],
    }]));

    // JSON body.
    let payload = json!({ "name": "é ü ✓", "list": [1, 2, 3], "nested": { "ok": true } });
    let resp = http::client()
        .post(format!("{}/post/json", gw.proxy_url()))
        .json(&payload)
        .send()
        .expect("POST json");
    let body = echo(resp);
    assert_eq!(body["method"], "POST", "{body}");
    assert_eq!(body["json"], payload, "{body}");

    // A large text body (bigger than any single read buffer), byte for byte.
    let text: String = (0..200_000u32)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let resp = http::client()
        .put(format!("{}/post/text", gw.proxy_url()))
        .header("Content-Type", "text/plain")
        .body(text.clone())
        .send()
        .expect("PUT text");
    let body = echo(resp);
    assert_eq!(body["method"], "PUT");
    assert_eq!(
        body["headers"]["Content-Length"],
        text.len().to_string(),
        "content length forwarded"
    );
    assert!(
        body["data"].as_str() == Some(text.as_str()),
        "the body httpbin received differs (len {:?} vs {})",
        body["data"].as_str().map(str::len),
        text.len()
    );

    // A form body.
    let resp = http::client()
        .post(format!("{}/post/form", gw.proxy_url()))
        .form(&[("a", "1"), ("b", "x y&z")])
        .send()
        .expect("POST form");
    let body = echo(resp);
    assert_eq!(body["form"], json!({ "a": "1", "b": "x y&z" }), "{body}");

    // A chunked body (no Content-Length).
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(b"first,".to_vec()), Ok(b"second".to_vec())];
    let reader = ChunkReader::new(chunks);
    let resp = http::client()
        .post(format!("{}/post/chunked", gw.proxy_url()))
        .header("Content-Type", "text/plain")
        .body(reqwest::blocking::Body::new(reader))
        .send()
        .expect("POST chunked");
    let body = echo(resp);
    assert_eq!(body["data"], "first,second", "{body}");
}

/// A `Read` over chunks, so reqwest sends the body with chunked transfer encoding.
struct ChunkReader {
    chunks: std::vec::IntoIter<Result<Vec<u8>, std::io::Error>>,
    current: std::io::Cursor<Vec<u8>>,
}

impl ChunkReader {
    fn new(chunks: Vec<Result<Vec<u8>, std::io::Error>>) -> Self {
        ChunkReader {
            chunks: chunks.into_iter(),
            current: std::io::Cursor::new(Vec::new()),
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.current.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            match self.chunks.next() {
                Some(chunk) => self.current = std::io::Cursor::new(chunk?),
                None => return Ok(0),
            }
        }
    }
}

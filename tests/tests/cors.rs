//! Kong's `cors` plugin end to end, with one set of real servers for the binary (the Glewlwyd IdP, httpbin, the
//! gateway): a browser's preflight on a route protected by openid-connect is answered by cors (priority 2000,
//! before any auth plugin) without a token and without a call to the IdP; the 401 of that route, and httpbin's
//! answers, carry `Access-Control-Allow-Origin`; flat and regex origins, `*`, credentials and `max_age`; bad
//! origins refused at load and by the Admin API with Kong's message. Then a real browser (Debian's headless
//! Chromium): a page from another origin calls a key-auth route with `fetch` and credentials, reads the answer
//! and the 401, and is refused by the browser on a route without cors.

mod common;

use common::{assert_401, assert_echo, client, routes_config_value, send, Reply};
use e2e::{oidc_config, Gateway, Httpbin, Idp, Ports, JOHN};
use reqwest::Method;
use serde_json::{json, Value};

const ALL_METHODS: &str = "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT";

struct Servers {
    gateway: Gateway,
    _httpbin: Httpbin,
    idp: Idp,
}

fn start() -> Servers {
    let (idp, httpbin) = e2e::start_idp_and_httpbin();
    let oidc = oidc_config(idp.issuer(), &["introspection"], json!({}));
    let app = json!({
        "origins": ["http://app.test", "https://(.*\\.)?trusted\\.test", "(.*\\.)?partner\\.test"],
        "credentials": true,
        "max_age": 600,
        "exposed_headers": ["X-Request-Id"],
    });
    // (path, openid-connect config, cors config)
    let routes: Vec<(&str, Option<Value>, Value)> = vec![
        ("/oidc", Some(oidc), app.clone()),
        ("/open", None, app),
        ("/star", None, json!({})),
        ("/continue", None, json!({"preflight_continue": true})),
    ];
    let oidc: Vec<(&str, Option<Value>)> = routes.iter().map(|(p, o, _)| (*p, o.clone())).collect();
    let mut config = routes_config_value(Ports::free(), &httpbin.url(), &oidc);
    for (i, (_, _, cors)) in routes.iter().enumerate() {
        let route = &mut config["services"][0]["routes"][i];
        let mut plugins = route["plugins"].as_array().cloned().unwrap_or_default();
        plugins.push(json!({"name": "cors", "config": cors}));
        route["plugins"] = Value::Array(plugins);
    }
    let gateway = Gateway::start(&e2e::to_yaml(&config));
    Servers {
        gateway,
        _httpbin: httpbin,
        idp,
    }
}

impl Servers {
    fn req(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = client().request(method, format!("{}{path}", self.gateway.proxy_url()));
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        send(req)
    }

    /// Every request the gateway made to the IdP so far (any endpoint).
    fn idp_calls(&self) -> f64 {
        e2e::metrics::scrape_sum(&self.gateway.admin_url(), "gateway_idp_requests_total", &[])
    }
}

fn preflight(origin: &str) -> Vec<(&str, &str)> {
    vec![
        ("Origin", origin),
        ("Access-Control-Request-Method", "POST"),
        (
            "Access-Control-Request-Headers",
            "authorization,content-type",
        ),
    ]
}

#[test]
fn cors_answers_preflights_before_auth_and_marks_every_answer() {
    let s = start();

    // (1) A preflight on the openid-connect route: answered by cors, no token, no IdP call.
    let before = s.idp_calls();
    let r = s.req(Method::OPTIONS, "/oidc/x", &preflight("http://app.test"));
    assert_eq!((r.status, r.body.as_str()), (200, ""), "{r:?}");
    for (name, value) in [
        ("access-control-allow-origin", "http://app.test"),
        ("access-control-allow-credentials", "true"),
        ("access-control-allow-methods", ALL_METHODS),
        ("access-control-allow-headers", "authorization,content-type"),
        ("access-control-max-age", "600"),
        ("vary", "Origin"),
        ("content-length", "0"),
    ] {
        assert_eq!(r.header(name), Some(value), "{name}: {r:?}");
    }
    assert_eq!(r.header("www-authenticate"), None, "{r:?}");
    // Kong's kong.response.exit(200) without a body: no Content-Type.
    assert_eq!(r.header("content-type"), None, "{r:?}");
    assert_eq!(s.idp_calls(), before, "a preflight asks no IdP");

    // (2) The same route without a token: openid-connect's 401, which the browser can read.
    let r = s.req(Method::GET, "/oidc/x", &[("Origin", "http://app.test")]);
    assert_401(&r, "no token");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://app.test"),
        "{r:?}"
    );
    assert_eq!(
        r.header("access-control-allow-credentials"),
        Some("true"),
        "{r:?}"
    );
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("X-Request-Id"),
        "{r:?}"
    );
    assert_eq!(r.header("vary"), Some("Origin"), "{r:?}");
    // An OPTIONS without Access-Control-Request-Method is no preflight: openid-connect refuses it.
    let r = s.req(Method::OPTIONS, "/oidc/x", &[("Origin", "http://app.test")]);
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://app.test"),
        "{r:?}"
    );

    // (3) With a token: httpbin's answer carries the headers.
    let token = s.idp.password_token(JOHN.0, JOHN.1);
    let auth = format!("Bearer {token}");
    let r = s.req(
        Method::GET,
        "/oidc/x",
        &[("Origin", "http://app.test"), ("Authorization", &auth)],
    );
    let echo = assert_echo(&r, "authenticated");
    assert_eq!(echo["headers"]["Origin"], "http://app.test", "{echo}");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://app.test"),
        "{r:?}"
    );
    assert_eq!(
        r.header("access-control-allow-credentials"),
        Some("true"),
        "{r:?}"
    );
    assert!(s.idp_calls() > before, "the token was introspected");

    // (4) Origins: flat ones compared normalized, regexes anchored (Kong's `$` and PCRE's `a`).
    for (origin, allowed) in [
        ("http://app.test", Some("http://app.test")),
        ("http://app.test:80", Some("http://app.test")),
        ("https://app.test", None),
        ("http://evil.test", None),
        ("https://trusted.test", Some("https://trusted.test")),
        // A regex with ':' is matched on scheme://host[:port] as a whole: this port is not in it.
        ("https://api.trusted.test:8443", None),
        ("https://api.trusted.test", Some("https://api.trusted.test")),
        // A regex without ':' is matched on the host alone: any scheme and port.
        (
            "http://a.partner.test:8080",
            Some("http://a.partner.test:8080"),
        ),
        ("http://a.partner.test.evil.test", None),
        ("https://trusted.test.evil.test", None),
        ("https://untrusted.test", None),
    ] {
        let r = s.req(Method::GET, "/open/y", &[("Origin", origin)]);
        assert_echo(&r, origin);
        assert_eq!(
            r.header("access-control-allow-origin"),
            allowed,
            "{origin}: {r:?}"
        );
        assert_eq!(r.header("vary"), Some("Origin"), "{origin}: {r:?}");
        let r = s.req(Method::OPTIONS, "/open/y", &preflight(origin));
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(
            r.header("access-control-allow-origin"),
            allowed,
            "preflight {origin}: {r:?}"
        );
    }

    // (5) Kong's defaults: every origin (`*`), no credentials, no Vary, no Max-Age.
    let r = s.req(Method::OPTIONS, "/star", &preflight("http://anywhere.test"));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{r:?}");
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some(ALL_METHODS),
        "{r:?}"
    );
    for absent in [
        "access-control-allow-credentials",
        "access-control-max-age",
        "vary",
    ] {
        assert_eq!(r.header(absent), None, "{absent}: {r:?}");
    }
    let r = s.req(Method::GET, "/star", &[("Origin", "http://anywhere.test")]);
    assert_echo(&r, "star");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{r:?}");
    // A 404 of a path no route has gets nothing (no cors instance for it).
    let r = s.req(
        Method::GET,
        "/nowhere",
        &[("Origin", "http://anywhere.test")],
    );
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");

    // (6) preflight_continue: the preflight reaches httpbin, which answers it with its own CORS headers (Flask's
    // `Allow`, max-age 3600, the Origin echoed); cors adds nothing (with its defaults it would send `*`).
    let r = s.req(
        Method::OPTIONS,
        "/continue",
        &preflight("http://anywhere.test"),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.header("allow").is_some(), "httpbin answered: {r:?}");
    assert_eq!(r.header("access-control-max-age"), Some("3600"), "{r:?}");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://anywhere.test"),
        "{r:?}"
    );
}

#[test]
fn bad_origins_are_refused_with_kongs_message() {
    let httpbin_url = "http://127.0.0.1:9";
    let mut config = routes_config_value(Ports::free(), httpbin_url, &[("/", None)]);
    config["services"][0]["plugins"] =
        json!([{"name": "cors", "config": {"origins": [".*.example.com", "invalid_**regex"]}}]);
    let err = match Gateway::try_start(&e2e::to_yaml(&config)) {
        Ok(_) => panic!("an invalid origin regex must be refused"),
        Err(log) => log,
    };
    assert!(
        err.contains("config.origins[1]: 'invalid_**regex' is not a valid regex"),
        "{err}"
    );

    // The Admin API refuses it too, and a bad method, with Kong's field paths; the file is left alone.
    let mut config = routes_config_value(Ports::free(), httpbin_url, &[("/", None)]);
    config["services"][0]["plugins"] = json!([]);
    let gateway = Gateway::start(&e2e::to_yaml(&config));
    let before = gateway.config();
    for (cfg, pointer, message) in [
        (
            json!({"origins": ["(unclosed"]}),
            "/fields/config/origins/0",
            "'(unclosed' is not a valid regex",
        ),
        (
            json!({"methods": ["GET", "FAKE"]}),
            "/fields/config/methods/1",
            "expected one of: GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS, TRACE, CONNECT",
        ),
    ] {
        let (status, body) = e2e::admin::json_req(
            Method::POST,
            &format!("{}/plugins", gateway.admin_url()),
            json!({"name": "cors", "config": cfg}),
        );
        assert_eq!(status, 400, "{body}");
        assert_eq!(body.pointer(pointer), Some(&json!(message)), "{body}");
    }
    assert_eq!(
        gateway.config(),
        before,
        "refused writes leave the file alone"
    );
    // Kong accepts credentials with "*" (the Origin is echoed).
    let (status, body) = e2e::admin::json_req(
        Method::POST,
        &format!("{}/plugins", gateway.admin_url()),
        json!({"name": "cors", "config": {"origins": ["*"], "credentials": true}}),
    );
    assert_eq!(status, 201, "{body}");
}

/// Debian's Chromium, headless (`scripts/setup.sh` installs it).
const CHROMIUM: &str = "/usr/bin/chromium";

/// Serves `page` as HTML to every request on a loopback port of its own (another origin than the gateway's),
/// until the test ends; returns the page's origin.
fn serve_page(page: String) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the page server");
    let origin = format!("http://{}", listener.local_addr().expect("page address"));
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                page.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(page.as_bytes());
        }
    });
    origin
}

#[test]
fn a_real_browser_calls_an_authenticated_route_from_another_origin() {
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/setup.sh (Debian's chromium package)"
    );
    let httpbin = Httpbin::start();
    // The page needs the gateway's URL and the gateway's cors config the page's origin: ports first.
    let ports = Ports::free();
    let gw_url = format!("http://127.0.0.1:{}", ports.proxy);
    let mut config =
        routes_config_value(ports, &httpbin.url(), &[("/api", None), ("/no-cors", None)]);
    let page_text = |gw: &str| {
        format!(
            r#"<!doctype html><html><body><pre id="out">pending</pre><script>
const out = document.getElementById("out");
const call = (path, key) => fetch("{gw}" + path, {{
  method: "POST", credentials: "include",
  headers: Object.assign({{"Content-Type": "application/json"}}, key ? {{"apikey": key}} : {{}}),
  body: JSON.stringify({{hello: "browser"}}),
}}).then(r => r.text().then(t => "status=" + r.status + " " + t.length + " " + (t.includes('"browser"') ? "echo" : "no-echo")),
        e => "error=" + e.name);
Promise.all([call("/api/x", "browser-key"), call("/api/x", null), call("/no-cors/x", "browser-key")])
  .then(rs => {{ out.textContent = "RESULT[" + rs.join(" | ") + "]"; }});
</script></body></html>"#
        )
    };
    let origin = serve_page(page_text(&gw_url));
    config["services"][0]["routes"][0]["plugins"] = json!([
        {"name": "cors", "config": {"origins": [origin], "credentials": true}},
        {"name": "key-auth", "config": {}},
    ]);
    config["services"][0]["routes"][1]["plugins"] = json!([{"name": "key-auth", "config": {}}]);
    config["consumers"] = json!([
        {"username": "web", "keyauth_credentials": [{"key": "browser-key"}]}
    ]);
    let gateway = Gateway::start(&e2e::to_yaml(&config));
    assert_eq!(gateway.proxy_url(), gw_url);

    let profile = e2e::TempDir::new("chromium");
    let out = std::process::Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-proxy-server",
            "--no-first-run",
            "--virtual-time-budget=15000",
            &format!("--user-data-dir={}", profile.path().display()),
            "--dump-dom",
            &format!("{origin}/page.html"),
        ])
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&out.stdout);
    let result = dom
        .split_once("RESULT[")
        .and_then(|(_, r)| r.split_once(']'))
        .map(|(r, _)| r.to_owned())
        .unwrap_or_else(|| {
            panic!(
                "no result in the page: {dom}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let parts: Vec<&str> = result.split(" | ").collect();
    // The authenticated call (a preflight first: apikey and JSON are not CORS-safelisted) reads httpbin's echo.
    assert!(
        parts[0].starts_with("status=200 ") && parts[0].ends_with(" echo"),
        "{result}"
    );
    // Without the key: the 401 is readable, because it carries Access-Control-Allow-Origin.
    assert!(parts[1].starts_with("status=401 "), "{result}");
    // The same call on a route without cors: the browser refuses (key-auth answers the preflight's OPTIONS
    // with 401 and no CORS headers).
    assert_eq!(parts[2], "error=TypeError", "{result}");
}

//! Unit tests of cors: Kong's origin table (`spec/03-plugins/13-cors/01-access_spec.lua`'s
//! `regex_testcases`), the preflight answer and the response header phase, without a socket.

use super::origin::{normalize, Allow, Origins};
use super::*;
use crate::plugins::test_support::{self, TestRequest};
use crate::snapshot::Snapshot;

/// Kong's expected outcome: `T` (the normalized origin), `F` (none), or a fixed value.
enum Want {
    T,
    F,
    V(&'static str),
}
use Want::{F, T, V};

/// Configured origins and (request origin, outcome) pairs.
type Case = (&'static [&'static str], &'static [(&'static str, Want)]);

#[test]
fn kongs_origin_table() {
    let cases: &[Case] = &[
        (
            &["foo.test"],
            &[
                ("http://evil.test", V("foo.test")),
                ("https://bar.test:1234", V("foo.test")),
            ],
        ),
        (
            &["https://bar.test:1234"],
            &[("http://evil.test", V("https://bar.test:1234"))],
        ),
        (
            &["foo\\.test"],
            &[
                ("http://evil.test", F),
                ("http://foo.test", T),
                ("http://foo.test.evil.test", F),
                ("http://something.foo.test", F),
                ("http://evilfoo.test", F),
                ("http://foo.test:80", V("http://foo.test")),
                ("http://foo.test:8000", T),
                ("https://foo.test:8000", T),
                ("http://foobtest", F),
            ],
        ),
        (
            &["(.*[./])?foo\\.test"],
            &[
                ("http://foo.test", T),
                ("http://foo.test.evil.test", F),
                ("http://something.foo.test", T),
                ("http://evilfoo.test", F),
                ("http://foo.test:80", V("http://foo.test")),
                ("http://foo.test:90", T),
            ],
        ),
        (
            &["(.*[./])?foo\\.test:8000"],
            &[
                ("http://foo.test", F),
                ("http://foo.test:80", F),
                ("http://foo.test:8000", T),
                ("https://foo.test:8000", T),
                ("http://foo.test:90", F),
            ],
        ),
        (
            &["https://(.*[.])?foo\\.test:8000"],
            &[("http://foo.test:8000", F), ("https://foo.test:8000", T)],
        ),
        (
            &["^http://(.*[.])?foo\\.test(:(80|90))?$"],
            &[
                ("http://foo.test", T),
                ("http://something.foo.test", T),
                ("http://foo.test:80", V("http://foo.test")),
                ("http://foo.test:8000", F),
                ("https://foo.test:8000", F),
                ("http://foo.test:90", T),
            ],
        ),
        (
            &["foo.test", "bar.test"],
            &[("http://foo.test", F), ("https://bar.test:1234", F)],
        ),
        (
            &["http://foo.test", "https://bar.test:1234"],
            &[
                ("http://foo.test", T),
                ("http://foo.test:80", V("http://foo.test")),
                ("http://foo.test:8000", F),
                ("https://bar.test:1234", T),
            ],
        ),
        (
            &["bar.test", "(.*\\.)?foo\\.test"],
            &[
                ("http://foo.test.evil.test", F),
                ("http://something.foo.test", T),
                ("http://foo.test:90", T),
                ("http://foobtest", F),
            ],
        ),
        (
            &["bar.test", "https://(.*\\.)?foo\\.test:8000"],
            &[("http://foo.test:8000", F), ("https://foo.test:8000", T)],
        ),
        // "*" among several: every origin.
        (&["foo.bar", "*"], &[("http://x.test", V("*"))]),
        // An alternation is anchored as a whole (PCRE's `a` flag), not only its first branch.
        (
            &["a\\.test|b\\.test"],
            &[("http://xb.test", F), ("http://b.test", T)],
        ),
    ];
    for (origins, tests) in cases {
        let o: Vec<String> = origins.iter().map(|s| s.to_string()).collect();
        let o = Origins::new(&o);
        for (origin, want) in tests.iter() {
            let want = match want {
                T => Allow::This(origin.to_string()),
                F => Allow::None,
                V("*") => Allow::All,
                V(v) => Allow::This(v.to_string()),
            };
            assert_eq!(o.allow(Some(origin)), want, "{origins:?} {origin}");
        }
    }
}

#[test]
fn origins_normalize_as_luasocket_parses_them() {
    let n = normalize("https://user@Bar.test:443/path?q");
    assert_eq!(
        (n.domain.as_str(), n.host.as_str()),
        ("https://Bar.test", "Bar.test")
    );
    assert_eq!(normalize("foo.test:8000").domain, "foo.test:8000");
    assert_eq!(normalize("null").host, "null");
    assert_eq!(normalize("http://[::1]:8080").domain, "http://::1:8080");
}

fn snapshot() -> Snapshot {
    let text = r#"
_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:9/
    routes: [{name: r, paths: [/]}]
"#;
    test_support::snapshot(text)
}

fn plugin(cfg: serde_json::Value) -> Cors {
    Cors::new(&Arc::new(CorsConfig::from_value(&cfg).unwrap()))
}

/// Runs access, then (unless it answered) the header phase over an upstream answer with `upstream` headers;
/// the headers the client gets, lower-case names, `Vary` values joined.
fn run(
    p: &Cors,
    method: Method,
    headers: &[(&str, &str)],
    upstream: &[(&str, &str)],
) -> (u16, Vec<(String, String)>) {
    let snap = snapshot();
    let mut ex = Exchange::new();
    let flow = TestRequest::new(method, "/", headers).access_now(&snap, p, &mut ex);
    let (status, mut head) = match flow {
        Flow::Respond(Reply::Body {
            status,
            headers,
            body,
        }) => {
            assert!(body.is_empty());
            (status, Head(headers))
        }
        Flow::Respond(other) => panic!("unexpected {other:?}"),
        Flow::Continue => {
            let mut head = Head(Vec::new());
            for (n, v) in upstream {
                head.append(
                    HeaderName::from_bytes(n.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            (0, head)
        }
    };
    p.header_filter(&mut head, &mut ex);
    let mut out: Vec<(String, String)> = Vec::new();
    for (n, v) in head.0 {
        let v = v.to_str().unwrap().to_owned();
        match out.iter_mut().find(|(k, _)| k == n.as_str()) {
            Some((_, old)) => *old = format!("{old}, {v}"),
            None => out.push((n.as_str().to_owned(), v)),
        }
    }
    out.sort();
    (status, out)
}

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<_> = pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

const ALL: &str = "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT";
const PREFLIGHT: &[(&str, &str)] = &[
    ("origin", "origin1.test"),
    ("access-control-request-method", "GET"),
];

#[test]
fn a_preflight_is_answered_with_kongs_defaults() {
    let (status, got) = run(
        &plugin(serde_json::json!({})),
        Method::OPTIONS,
        PREFLIGHT,
        &[],
    );
    assert_eq!(status, 200);
    assert_eq!(
        got,
        h(&[
            ("access-control-allow-origin", "*"),
            ("access-control-allow-methods", ALL)
        ])
    );
    // Without Access-Control-Request-Method it is an ordinary OPTIONS: proxied, headers on the answer.
    let (status, got) = run(
        &plugin(serde_json::json!({})),
        Method::OPTIONS,
        &PREFLIGHT[..1],
        &[],
    );
    assert_eq!(
        (status, got),
        (0, h(&[("access-control-allow-origin", "*")]))
    );
}

#[test]
fn a_preflight_with_config_options() {
    let p = plugin(serde_json::json!({
        "origins": ["example.test"], "methods": ["GET"], "headers": ["origin", "type", "accepts"],
        "exposed_headers": ["x-auth-token"], "max_age": 23, "credentials": true, "private_network": true
    }));
    let mut req = PREFLIGHT.to_vec();
    req.push(("access-control-request-private-network", "true"));
    let (status, got) = run(&p, Method::OPTIONS, &req, &[]);
    assert_eq!(status, 200);
    assert_eq!(
        got,
        h(&[
            ("access-control-allow-origin", "example.test"),
            ("access-control-allow-methods", "GET"),
            ("access-control-allow-headers", "origin,type,accepts"),
            ("access-control-max-age", "23"),
            ("access-control-allow-credentials", "true"),
            ("access-control-allow-private-network", "true"),
            ("vary", "Origin"),
        ])
    );
    // Without configured headers the request's Access-Control-Request-Headers are echoed.
    let mut req = PREFLIGHT.to_vec();
    req.push(("access-control-request-headers", "origin,accepts"));
    let (_, got) = run(&plugin(serde_json::json!({})), Method::OPTIONS, &req, &[]);
    assert!(got.contains(&(
        "access-control-allow-headers".into(),
        "origin,accepts".into()
    )));
    // preflight_continue: proxied, and no header added to the upstream's answer.
    let p = plugin(serde_json::json!({"preflight_continue": true}));
    assert_eq!(
        run(&p, Method::OPTIONS, PREFLIGHT, &[("x-up", "1")]),
        (0, h(&[("x-up", "1")]))
    );
}

#[test]
fn answers_get_the_origin_credentials_and_exposed_headers() {
    let p = plugin(serde_json::json!({
        "origins": ["example.test", "allowed-domain.test"], "exposed_headers": ["x-auth-token"], "credentials": true
    }));
    let (_, got) = run(
        &p,
        Method::GET,
        &[("origin", "allowed-domain.test")],
        &[("vary", "Accept-Encoding")],
    );
    assert_eq!(
        got,
        h(&[
            ("access-control-allow-origin", "allowed-domain.test"),
            ("access-control-allow-credentials", "true"),
            ("access-control-expose-headers", "x-auth-token"),
            ("vary", "Accept-Encoding, Origin"),
        ])
    );
    // Not allowed: the upstream's own ACAO is removed; credentials stay, as in Kong.
    let (_, got) = run(
        &p,
        Method::GET,
        &[("origin", "disallowed-domain.test")],
        &[("access-control-allow-origin", "disallowed-domain.test")],
    );
    assert_eq!(
        got,
        h(&[
            ("access-control-allow-credentials", "true"),
            ("access-control-expose-headers", "x-auth-token"),
            ("vary", "Origin"),
        ])
    );
    // "*" with credentials echoes the Origin.
    let p = plugin(serde_json::json!({"origins": ["*"], "credentials": true}));
    let (_, got) = run(
        &p,
        Method::GET,
        &[("origin", "http://www.example.net:3000")],
        &[],
    );
    assert_eq!(
        got,
        h(&[
            ("access-control-allow-origin", "http://www.example.net:3000"),
            ("access-control-allow-credentials", "true"),
            ("vary", "Origin"),
        ])
    );
}

#[test]
fn allow_origin_absent() {
    let cfg = |absent| {
        plugin(serde_json::json!({
            "origins": ["foo.bar"], "exposed_headers": ["x-auth-token"], "credentials": true,
            "allow_origin_absent": absent
        }))
    };
    assert_eq!(run(&cfg(false), Method::GET, &[], &[]).1, h(&[]));
    assert_eq!(
        run(&cfg(true), Method::GET, &[], &[]).1,
        h(&[
            ("access-control-allow-origin", "foo.bar"),
            ("access-control-allow-credentials", "true"),
            ("access-control-expose-headers", "x-auth-token"),
            ("vary", "Origin"),
        ])
    );
}

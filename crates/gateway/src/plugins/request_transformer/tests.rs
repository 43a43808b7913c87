//! Unit tests of request-transformer over Kong's spec cases (spec/03-plugins/36-request-transformer/
//! 02-access_spec.lua): the edits it leaves for the proxy.

use super::*;
use crate::plugins::test_support::{snapshot, TestRequest};
use serde_json::{json, Value};

const YAML: &str = r#"
_format_version: "3.0"
services:
- name: s
  url: http://127.0.0.1:9/
  routes:
  - {name: caps, paths: ["~/requests/user1/(?P<user1>\\w+)/user2/(?P<user2>\\S+)"], strip_path: false}
  - {name: plain, paths: [/]}
"#;

fn plugin(cfg: Value) -> RequestTransformer {
    RequestTransformer::new(&RequestTransformerConfig::from_value(&cfg).unwrap())
}

/// Runs the plugin over `method uri` with `headers` and `body`; the exchange it leaves.
fn run(
    p: &RequestTransformer,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Exchange {
    let snap = snapshot(YAML);
    let mut t = TestRequest::new(method, uri, headers);
    t.body = body.map(|b| b.as_bytes().to_vec());
    let mut req = t.view(&snap);
    req.matched = snap.router.find(&gateway_config::router::RequestView {
        method: t.method.as_str(),
        host: None,
        path: t.uri.path(),
        headers: &t.headers,
        https: false,
        query: None,
        src: None,
        dst: None,
    });
    let mut ex = Exchange::new();
    let went_on = matches!(p.access(&req, &mut ex), Access::Done(Flow::Continue));
    assert!(went_on, "the plugin must continue without waiting");
    ex
}

/// The upstream headers the edits give: `(name, values)` for every name the edits touch.
fn headers(ex: &Exchange) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (n, v) in &ex.edits.headers {
        out.retain(|(name, _)| name != n.as_str());
        out.push((
            n.to_string(),
            v.iter().map(|v| v.to_str().unwrap().to_owned()).collect(),
        ));
    }
    for (n, v) in &ex.edits.header_values {
        let v = v.to_str().unwrap().to_owned();
        match out.iter_mut().find(|(name, _)| name == n.as_str()) {
            Some((_, values)) => values.push(v),
            None => out.push((n.to_string(), vec![v])),
        }
    }
    out
}

fn header<'a>(all: &'a [(String, Vec<String>)], name: &str) -> Option<&'a [String]> {
    all.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_slice())
}

#[test]
fn headers_in_kongs_order() {
    let p = plugin(json!({
        "add": {"headers": ["X-aDDed:a1", "x-aDDed2:b1", "x-existing:no"]},
        "remove": {"headers": ["X-To-Remove"]},
        "append": {"headers": ["X-aDDed:a2", "X-aDDed:a3", "x-existing:more"]},
        "replace": {"headers": ["x-to-Replace:false", "x-absent:x"]},
        "rename": {"headers": ["x-old:x-new"]},
    }));
    let ex = run(
        &p,
        Method::GET,
        "/",
        &[
            ("x-to-remove", "1"),
            ("x-to-replace", "true"),
            ("x-existing", "yes"),
            ("x-old", "o"),
        ],
        None,
    );
    let h = headers(&ex);
    assert_eq!(header(&h, "x-to-remove"), Some(&[][..]));
    assert_eq!(header(&h, "x-to-replace").unwrap(), ["false"]);
    assert_eq!(header(&h, "x-added").unwrap(), ["a1", "a2", "a3"]);
    assert_eq!(header(&h, "x-added2").unwrap(), ["b1"]);
    assert_eq!(header(&h, "x-existing").unwrap(), ["yes", "more"]);
    assert_eq!(header(&h, "x-old"), Some(&[][..]));
    assert_eq!(header(&h, "x-new").unwrap(), ["o"]);
    assert_eq!(header(&h, "x-absent"), None);
}

#[test]
fn remove_then_add_and_host_replace() {
    let p = plugin(json!({
        "remove": {"headers": ["Authorization"]},
        "add": {"headers": ["Authorization:Basic test", "host:nope"]},
        "replace": {"headers": ["host:upstream.test"]},
        "http_method": "POST",
    }));
    for with in [true, false] {
        let given: &[(&str, &str)] = if with {
            &[("authorization", "Basic dGVzdDp0ZXN0")]
        } else {
            &[]
        };
        let ex = run(&p, Method::GET, "/", given, None);
        assert_eq!(
            header(&headers(&ex), "authorization").unwrap(),
            ["Basic test"]
        );
        assert_eq!(header(&headers(&ex), "host").unwrap(), ["upstream.test"]);
        assert_eq!(ex.edits.method, Some(Method::POST));
    }
}

#[test]
fn templates_read_captures_query_and_headers_before_the_edits() {
    let p = plugin(json!({
        "add": {"querystring": ["uri_param1:$(uri_captures.user1)", "uri_param2[some_index][1]:$(uri_captures.user2)",
                               "d:$(uri_captures.none or 'default1')"],
                "headers": ["x-test-header:$(headers['x-remove-header'])", "x-q:$(query_params.q1)",
                            "x-host:$(headers.host)"]},
        "replace": {"querystring": ["q2:$(headers.x_remove_header)"]},
        "remove": {"headers": ["x-remove-header"], "querystring": ["q1"]},
    }));
    let ex = run(
        &p,
        Method::GET,
        "/requests/user1/foo/user2/bar?q1=20&q2=1",
        &[("x-remove-header", "its a test"), ("host", "test15.test")],
        None,
    );
    assert_eq!(header(&headers(&ex), "x-host").unwrap(), ["test15.test"]);
    assert_eq!(
        ex.edits.query.as_deref(),
        Some("d=default1&q2=its%20a%20test&uri_param1=foo&uri_param2%5Bsome_index%5D%5B1%5D=bar")
    );
    let h = headers(&ex);
    assert_eq!(header(&h, "x-test-header").unwrap(), ["its a test"]);
    assert_eq!(header(&h, "x-q").unwrap(), ["20"]);
    assert_eq!(header(&h, "x-remove-header"), Some(&[][..]));
}

#[test]
fn replace_uri_from_captures() {
    let p = plugin(
        json!({"replace": {"uri": "/requests/user2/$(uri_captures.user2)/user1/$(uri_captures.user1)"}}),
    );
    let ex = run(&p, Method::GET, "/requests/user1/foo/user2/bar", &[], None);
    assert_eq!(
        ex.edits.path.as_deref(),
        Some("/requests/user2/bar/user1/foo")
    );
    let p = plugin(json!({"replace": {"uri": "/requests/tést $(uri_captures[0])"}}));
    let ex = run(&p, Method::GET, "/requests/user1/a/user2/b", &[], None);
    assert_eq!(
        ex.edits.path.as_deref(),
        Some("/requests/t%C3%A9st%20/requests/user1/a/user2/b")
    );
    // Not a path: Kong's 500.
    let p = plugin(json!({"replace": {"uri": "$(uri_captures.none)x"}}));
    let snap = snapshot(YAML);
    let t = TestRequest::get("/x");
    let mut ex = Exchange::new();
    assert!(matches!(t.access_now(&snap, &p, &mut ex), Flow::Respond(r) if r.status() == 500));
}

#[test]
fn bodies_follow_the_content_type_the_headers_leave() {
    // GET to POST with a JSON body built from nothing (the added Content-Type decides).
    let p = plugin(
        json!({"http_method": "POST", "add": {"headers": ["Content-Type:application/json"], "body": ["body:somecontent"]}}),
    );
    let ex = run(&p, Method::GET, "/", &[], None);
    assert_eq!(
        ex.edits.body.as_deref(),
        Some(&br#"{"body":"somecontent"}"#[..])
    );
    // A form body.
    let p = plugin(
        json!({"remove": {"body": ["toremoveform"]}, "add": {"body": ["newformparam:newvalue"]}}),
    );
    let form = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("content-length", "30"),
    ];
    let ex = run(
        &p,
        Method::POST,
        "/",
        &form,
        Some("toremoveform=yes&nottoremove=x"),
    );
    assert_eq!(
        ex.edits.body.as_deref(),
        Some(&b"newformparam=newvalue&nottoremove=x"[..])
    );
    // Multipart is not transformed; a body that was not read is left alone.
    let multipart = [
        ("content-type", "multipart/form-data; boundary=x"),
        ("content-length", "10"),
    ];
    assert!(run(&p, Method::POST, "/", &multipart, None)
        .edits
        .body
        .is_none());
    let text = [("content-type", "text/plain"), ("content-length", "10")];
    assert!(run(&p, Method::POST, "/", &text, None).edits.body.is_none());
    assert!(p.needs_body());
}

#[test]
fn post_to_get_moves_form_arguments_to_the_query() {
    let p = plugin(json!({"http_method": "GET"}));
    assert!(p.needs_body());
    let form = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("content-length", "13"),
    ];
    let ex = run(&p, Method::POST, "/?a=0", &form, Some("hello=world&a=1"));
    assert_eq!(ex.edits.method, Some(Method::GET));
    assert_eq!(ex.edits.query.as_deref(), Some("a=0&a=1&hello=world"));
    // Nothing configured: nothing edited.
    let ex = run(
        &plugin(json!({})),
        Method::GET,
        "/?a=1",
        &[("x", "1")],
        None,
    );
    assert!(ex.edits.query.is_none() && ex.edits.headers.is_empty() && ex.edits.path.is_none());
}

#[test]
fn literal_query_adds_give_kongs_query_with_or_without_the_shortcut() {
    let p = plugin(json!({"add": {"querystring": ["source:bench", "a:ignored", "sp:x y"]}}));
    assert!(p.query_adds.is_some());
    let general = plugin(json!({"remove": {"querystring": ["absent"]},
                                "add": {"querystring": ["source:bench", "a:ignored", "sp:x y"]}}));
    assert!(general.query_adds.is_none());
    for (target, want) in [
        ("/?a=1&apikey=k", "a=1&apikey=k&source=bench&sp=x%20y"),
        ("/?z=1&a=2", "a=2&source=bench&sp=x%20y&z=1"),
        ("/?flag&b=%41", "b=A&flag&source=bench&sp=x%20y&a=ignored"),
        ("/", "a=ignored&source=bench&sp=x%20y"),
    ] {
        let fast = run(&p, Method::GET, target, &[], None);
        let slow = run(&general, Method::GET, target, &[], None);
        assert_eq!(fast.edits.query, slow.edits.query, "{target}");
        let mut want: Vec<&str> = want.split('&').collect();
        want.sort_unstable();
        assert_eq!(
            fast.edits.query.as_deref(),
            Some(want.join("&").as_str()),
            "{target}"
        );
    }
    // A template reading the query: no shortcut.
    let reads = plugin(
        json!({"add": {"querystring": ["source:bench"], "headers": ["x-q:$(query_params.a)"]}}),
    );
    assert!(reads.query_adds.is_none());
}

#[test]
fn add_only_headers_edit_as_the_general_path() {
    // `add` alone looks names up without copying the headers; a no-op `remove` takes the general path.
    let fast =
        plugin(json!({"add": {"headers": ["x-b:2", "x-a:1", "x-a:3", "host:h", "x-there:no"]}}));
    let general = plugin(json!({"remove": {"headers": ["x-absent"]},
                                "add": {"headers": ["x-b:2", "x-a:1", "x-a:3", "host:h", "x-there:no"]}}));
    assert!(fast.add_headers_only && !general.add_headers_only);
    for hdrs in [&[][..], &[("x-there", "yes"), ("x-a", "client")][..]] {
        let a = run(&fast, Method::GET, "/", hdrs, None);
        let b = run(&general, Method::GET, "/", hdrs, None);
        // The same upstream request (the fast path leaves out removals that would find nothing).
        assert_eq!(upstream(hdrs, &a.edits), upstream(hdrs, &b.edits));
        assert_eq!(a.edits.header_values, b.edits.header_values);
        assert!(a.edits.headers.is_empty());
        let there = upstream(hdrs, &a.edits).get_all("x-there").iter().count();
        assert_eq!(
            there, 1,
            "x-there is added only when the client did not send it"
        );
    }
}

/// The upstream request's headers after `edits`, in the proxy's order (`upstream_request_filter`: the named
/// edits, then the appended values).
fn upstream(client: &[(&str, &str)], edits: &crate::plugins::UpstreamEdits) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    for (n, v) in client {
        h.append(
            http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    for (name, value) in &edits.headers {
        match value {
            Some(v) => h.insert(name.clone(), v.clone()),
            None => h.remove(name),
        };
    }
    for (name, value) in &edits.header_values {
        h.append(name.clone(), value.clone());
    }
    h
}

/// Runs `access_general` alone (the path every config can take) over the same request as [`run`].
fn run_general(p: &RequestTransformer, uri: &str, headers: &[(&str, &str)]) -> Exchange {
    let snap = snapshot(YAML);
    let t = TestRequest::new(Method::GET, uri, headers);
    let req = t.view(&snap);
    let mut ex = Exchange::new();
    assert!(matches!(
        p.access_general(&req, &mut ex),
        Access::Done(Flow::Continue)
    ));
    ex
}

#[test]
fn literal_adds_edit_as_the_general_path() {
    let configs = [
        json!({"add": {"headers": ["x-b:2", "X-A:1", "x-a:3", "host:h", "x-there:no"]}}),
        json!({"add": {"headers": ["X-Bench-Chain:5"], "querystring": ["source:bench", "sp:x y"]}}),
        json!({"add": {"headers": ["x-c:1"], "querystring": ["source:bench"]},
               "replace": {"querystring": ["a:2"]}}),
    ];
    let mut literal_paths = 0;
    for cfg in configs {
        let p = plugin(cfg.clone());
        literal_paths += usize::from(p.literal_adds.is_some());
        for target in [
            "/",
            "/?a=1&apikey=k",
            "/?flag&b=%41",
            "/?z=1&a=2&source=mine",
        ] {
            for hdrs in [
                &[][..],
                &[("x-there", "yes"), ("x-a", "client"), ("host", "c")][..],
            ] {
                let fast = run(&p, Method::GET, target, hdrs, None);
                let slow = run_general(&p, target, hdrs);
                assert_eq!(
                    fast.edits.header_values, slow.edits.header_values,
                    "{cfg} {target}"
                );
                assert_eq!(fast.edits.query, slow.edits.query, "{cfg} {target}");
                assert_eq!(upstream(hdrs, &fast.edits), upstream(hdrs, &slow.edits));
            }
        }
    }
    // The first two take the literal path; a query edit other than `add` does not.
    assert_eq!(literal_paths, 2);
    // A template value is rendered per request: no literal path.
    assert!(
        plugin(json!({"add": {"headers": ["x-q:$(query_params.a)"]}}))
            .literal_adds
            .is_none()
    );
}

//! Kong's request-transformer and response-transformer end to end, through the real gateway binary to the real
//! httpbin, one set of servers for the file: what the upstream got (`/anything` echoes it) after header, query,
//! body (JSON and form, `Content-Length` updated), method and path edits with templates over headers, query and
//! URI captures; the upstream's answers (`/response-headers`, `/json`) and the gateway's own with headers and
//! JSON keys edited; the schemas' refusals through the Admin API with Kong's messages and paths.

mod common;

use common::{assert_echo, client, send, Reply};
use e2e::{Gateway, Httpbin, Ports};
use reqwest::Method;
use serde_json::{json, Value};

struct Servers {
    gateway: Gateway,
    _httpbin: Httpbin,
}

fn route(name: &str, plugin: &str, cfg: Value) -> Value {
    json!({"name": name, "paths": [format!("/{name}")], "plugins": [{"name": plugin, "config": cfg}]})
}

fn start() -> Servers {
    let httpbin = Httpbin::start();
    let mut config = e2e::config_value(Ports::free(), &httpbin.url(), None);
    config["services"][0]["routes"] = json!([
        route(
            "rt-headers",
            "request-transformer",
            json!({
                "remove": {"headers": ["X-To-Remove"], "querystring": ["toremove"]},
                "rename": {"headers": ["x-old:x-new"], "querystring": ["old:new"]},
                "replace": {"headers": ["x-to-replace:replaced", "x-absent:no"], "querystring": ["q1:replaced"]},
                "add": {"headers": ["X-Added:a1", "x-existing:not-added"], "querystring": ["added:yes", "q1:not-added"]},
                "append": {"headers": ["X-Added:a2", "x-existing:more"], "querystring": ["multi:1", "multi:2"]},
            })
        ),
        route(
            "rt-json",
            "request-transformer",
            json!({
                "remove": {"body": ["toremove"]},
                "rename": {"body": ["old:new"]},
                "replace": {"body": ["p1:updated"]},
                "add": {"body": ["p2:added", "p1:not-added"]},
                "append": {"body": ["list:b"]},
            })
        ),
        route(
            "rt-form",
            "request-transformer",
            json!({
                "remove": {"body": ["toremove"]},
                "add": {"body": ["added:a b"]},
                "append": {"body": ["p1:v2"]},
            })
        ),
        route(
            "rt-method",
            "request-transformer",
            json!({
                "http_method": "POST",
                "add": {"headers": ["Content-Type:application/json"], "body": ["body:somecontent"]},
            })
        ),
        route(
            "rt-to-get",
            "request-transformer",
            json!({"http_method": "GET"})
        ),
        json!({"name": "rt-templates", "strip_path": false,
        "paths": ["~/rt-templates/user1/(?<user1>\\w+)/user2/(?<user2>\\w+)"],
        "plugins": [{"name": "request-transformer", "config": {
            "replace": {"uri": "/anything/user2/$(uri_captures.user2)/user1/$(uri_captures[\"user1\"])"},
            "add": {"querystring": ["from_header:$(headers.x_source)", "from_query:$(query_params.q1)",
                                    "dflt:$(uri_captures.none or 'default1')", "esc:$('$(uri_captures.user1)')"],
                    "headers": ["x-from-capture:$(uri_captures.user1)"]},
        }}]}),
    ]);
    let root = json!({"name": "root", "url": httpbin.url(), "routes": [
        route("rsp", "response-transformer", json!({
            "remove": {"headers": ["x-remove"], "json": ["slideshow"]},
            "rename": {"headers": ["x-old:x-new"]},
            "replace": {"headers": ["x-rep:new"]},
            "add": {"headers": ["x-added:a"], "json": ["p1:v1", "n:42", "b:true"],
                    "json_types": ["string", "number", "boolean"]},
            "append": {"headers": ["x-app:2"], "json": ["p1:more"]},
        })),
        json!({"name": "rsp-own", "paths": ["/rsp-own"], "plugins": [
            {"name": "request-termination", "config": {"status_code": 403, "message": "no"}},
            {"name": "response-transformer", "config": {"add": {"headers": ["x-added:own"], "json": ["extra:1"]}}},
        ]}),
    ]});
    if let Some(services) = config["services"].as_array_mut() {
        services.push(root);
    }
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
}

fn headers_and_query(s: &Servers) {
    let r = send(
        client()
            .get(s.url("/rt-headers?toremove=1&old=o&q1=20&multi=0"))
            .header("X-To-Remove", "gone")
            .header("x-old", "renamed")
            .header("x-to-replace", "original")
            .header("x-existing", "kept"),
    );
    let echo = assert_echo(&r, "headers and query");
    let h = &echo["headers"];
    assert!(
        h.get("X-To-Remove").is_none() && h.get("X-Old").is_none(),
        "{echo}"
    );
    assert_eq!(h["X-New"], "renamed", "{echo}");
    assert_eq!(h["X-To-Replace"], "replaced", "{echo}");
    assert!(h.get("X-Absent").is_none(), "{echo}");
    assert_eq!(h["X-Added"], "a1,a2", "{echo}");
    assert_eq!(h["X-Existing"], "kept,more", "{echo}");
    assert_eq!(
        echo["args"],
        json!({"new": "o", "q1": "replaced", "added": "yes", "multi": ["0", "1", "2"]}),
        "{echo}"
    );
    // Kong's set_query: names sorted.
    assert!(
        echo["url"]
            .as_str()
            .unwrap_or("")
            .ends_with("/anything?added=yes&multi=0&multi=1&multi=2&new=o&q1=replaced"),
        "{echo}"
    );
}

fn bodies(s: &Servers) {
    let body = json!({"toremove": 1, "old": "o", "p1": "v1", "list": ["a"], "keep": {"x": 1}});
    let echo = assert_echo(
        &send(client().post(s.url("/rt-json")).json(&body)),
        "json body",
    );
    assert_eq!(
        echo["json"],
        json!({"new": "o", "p1": "updated", "list": ["a", "b"], "keep": {"x": 1}, "p2": "added"}),
        "{echo}"
    );
    let sent = echo["data"].as_str().unwrap_or("").len().to_string();
    assert_eq!(echo["headers"]["Content-Length"], sent.as_str(), "{echo}");
    // A malformed JSON body goes through unchanged.
    let echo = assert_echo(
        &send(
            client()
                .post(s.url("/rt-json"))
                .header("content-type", "application/json")
                .body("{bad"),
        ),
        "malformed json",
    );
    assert_eq!(echo["data"], "{bad", "{echo}");

    let echo = assert_echo(
        &send(client().post(s.url("/rt-form")).form(&[
            ("toremove", "x"),
            ("p1", "v1"),
            ("keep", "k"),
        ])),
        "form body",
    );
    assert_eq!(
        echo["form"],
        json!({"added": "a b", "keep": "k", "p1": ["v1", "v2"]}),
        "{echo}"
    );
    assert_eq!(echo["data"], "", "{echo}");
    // Another content type: untouched.
    let echo = assert_echo(
        &send(
            client()
                .post(s.url("/rt-form"))
                .header("content-type", "text/plain")
                .body("toremove=x"),
        ),
        "text body",
    );
    assert_eq!(echo["data"], "toremove=x", "{echo}");
}

fn method_and_templates(s: &Servers) {
    // GET to POST with a JSON body built from nothing.
    let echo = assert_echo(&send(client().get(s.url("/rt-method"))), "GET to POST");
    assert_eq!(echo["method"], "POST", "{echo}");
    assert_eq!(echo["json"], json!({"body": "somecontent"}), "{echo}");
    // POST to GET: the form's arguments join the query.
    let r = send(
        client()
            .post(s.url("/rt-to-get?a=0"))
            .form(&[("hello", "world"), ("a", "1")]),
    );
    let echo = assert_echo(&r, "POST to GET");
    assert_eq!(echo["method"], "GET", "{echo}");
    assert_eq!(
        echo["args"],
        json!({"a": ["0", "1"], "hello": "world"}),
        "{echo}"
    );
    // Templates over captures, headers and the query; the path replaced.
    let r = send(
        client()
            .get(s.url("/rt-templates/user1/foo/user2/bar?q1=20"))
            .header("x-source", "hdr"),
    );
    let echo = assert_echo(&r, "templates");
    let path = e2e::httpbin::echoed_path(&echo);
    assert_eq!(
        path.split('?').next(),
        Some("/anything/user2/bar/user1/foo"),
        "{echo}"
    );
    assert_eq!(
        echo["args"],
        json!({"q1": "20", "from_header": "hdr", "from_query": "20", "dflt": "default1",
               "esc": "$(uri_captures.user1)"}),
        "{echo}"
    );
    assert_eq!(echo["headers"]["X-From-Capture"], "foo", "{echo}");
}

fn values(r: &Reply, name: &str) -> Vec<String> {
    r.headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .collect()
}

fn response_transformer(s: &Servers) {
    let r = send(
        client().get(s.url("/rsp/response-headers?x-remove=1&x-old=o&x-rep=old&x-app=1&x-keep=k")),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        values(&r, "x-remove").is_empty() && values(&r, "x-old").is_empty(),
        "{r:?}"
    );
    assert_eq!(values(&r, "x-new"), ["o"], "{r:?}");
    assert_eq!(values(&r, "x-rep"), ["new"], "{r:?}");
    assert_eq!(values(&r, "x-added"), ["a"], "{r:?}");
    assert_eq!(values(&r, "x-app"), ["1", "2"], "{r:?}");
    assert_eq!(values(&r, "x-keep"), ["k"], "{r:?}");
    // The body is JSON too: its keys edited, sent without Content-Length.
    let v = r.json();
    assert_eq!(
        (&v["p1"], &v["n"], &v["b"]),
        (&json!(["v1", "more"]), &json!(42), &json!(true)),
        "{v}"
    );
    assert!(r.header("content-length").is_none(), "{r:?}");

    let r = send(client().get(s.url("/rsp/json")));
    let v = r.json();
    assert!(v.get("slideshow").is_none(), "{v}");
    assert_eq!(v, json!({"p1": ["v1", "more"], "n": 42, "b": true}), "{v}");
    // Not JSON: headers edited, body as it came with its length.
    let r = send(client().get(s.url("/rsp/html")));
    assert_eq!(values(&r, "x-added"), ["a"], "{r:?}");
    assert!(r.body.contains("Herman Melville"), "{r:?}");
    assert!(r.header("content-length").is_some(), "{r:?}");

    // The gateway's own answer: its headers and its JSON body too.
    let r = send(client().get(s.url("/rsp-own")));
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.header("x-added"), Some("own"), "{r:?}");
    assert_eq!(r.json(), json!({"message": "no", "extra": "1"}), "{r:?}");
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str()),
        "{r:?}"
    );
}

fn admin_refusals(s: &Servers) {
    let admin = s.gateway.admin_url();
    let before = s.gateway.config();
    for (name, config, pointer, message) in [
        (
            "request-transformer",
            json!({"http_method": "HELLO!"}),
            "/fields/config/http_method",
            "invalid value: HELLO!",
        ),
        (
            "request-transformer",
            json!({"add": {"headers": ["just_a_key"]}}),
            "/fields/config/add/headers/0",
            "invalid value: just_a_key",
        ),
        (
            "request-transformer",
            json!({"add": {"querystring": ["uri_param2:"]}}),
            "/fields/config/add/querystring/0",
            "key 'uri_param2' has no value",
        ),
        (
            "request-transformer",
            json!({"remove": {"headers": ["a b"]}}),
            "/fields/config/remove/headers/0",
            "'a b' is not a valid header",
        ),
        (
            "request-transformer",
            json!({"remove": {"body": null}}),
            "/fields/config/remove/body",
            "required field missing",
        ),
        (
            "response-transformer",
            json!({"add": {"json_types": ["object"]}}),
            "/fields/config/add/json_types/0",
            "expected one of: boolean, number, string",
        ),
        (
            "response-transformer",
            json!({"rename": {"headers": ["a:b c"]}}),
            "/fields/config/rename/headers/0",
            "'b c' is not a valid header",
        ),
    ] {
        let (status, body) = e2e::admin::json_req(
            Method::POST,
            &format!("{admin}/plugins"),
            json!({"name": name, "config": config}),
        );
        assert_eq!(status, 400, "{body}");
        assert_eq!(body.pointer(pointer), Some(&json!(message)), "{body}");
    }
    // A template the gateway cannot evaluate: refused with the field's path.
    let (status, body) = e2e::admin::json_req(
        Method::POST,
        &format!("{admin}/plugins"),
        json!({"name": "request-transformer", "config": {"replace": {"uri": "/x/$(10 * uri_captures.a)"}}}),
    );
    assert_eq!(status, 400, "{body}");
    let message = body
        .pointer("/fields/config/replace/uri")
        .and_then(Value::as_str)
        .unwrap_or("");
    assert!(
        message.starts_with("value '/x/$(10 * uri_captures.a)' is not in supported format, error:"),
        "{body}"
    );
    assert_eq!(
        s.gateway.config(),
        before,
        "refused writes leave the file alone"
    );
    // Kong's own API spec: a remove list without colons is taken, shown with every default.
    let (status, body) = e2e::admin::json_req(
        Method::POST,
        &format!("{admin}/plugins"),
        json!({"name": "request-transformer", "config": {"remove": {
            "headers": ["just_a_key"], "body": ["just_a_key"], "querystring": ["just_a_key"]}}}),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["config"]["remove"]["headers"],
        json!(["just_a_key"]),
        "{body}"
    );
    assert_eq!(body["config"]["replace"]["uri"], Value::Null, "{body}");
    assert_eq!(body["config"]["append"]["querystring"], json!([]), "{body}");
    let (status, schema) =
        e2e::admin::get(&format!("{admin}/schemas/plugins/response-transformer"));
    assert_eq!(status, 200, "{schema}");
    assert!(schema.to_string().contains("json_types"), "{schema}");
}

#[test]
fn transformers_edit_as_kong() {
    let s = start();
    headers_and_query(&s);
    bodies(&s);
    method_and_templates(&s);
    response_transformer(&s);
    admin_refusals(&s);
}

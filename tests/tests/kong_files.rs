//! Kong files load unchanged and mean what they mean in Kong, through the real gateway and a real httpbin:
//! the `url` shorthand merged over the separate fields, `path_handling: v1`, a `_format_version: "2.1"` regex
//! path without `~`, route buffering flags at their default with a request body, decK's `_plugin_configs`, a
//! route's plugin naming its service (scoped to both);
//! the Admin API's `required field missing` for an emptied `port` (form and JSON) and `/ca_certificates`;
//! decK env templates read from the environment (and Admin API writes refused on such a file);
//! and `gateway validate --report` over a Kong file.

mod common;

use std::process::{Command, Stdio};

use common::send;
use e2e::{gateway_bin, to_yaml, Gateway, Httpbin, Ports, TempDir};
use serde_json::{json, Value};

fn kong_file(ports: Ports, upstream: &str) -> Value {
    let port = upstream
        .rsplit(':')
        .next()
        .unwrap_or("80")
        .trim_end_matches('/');
    json!({
        "_format_version": "2.1",
        "_plugin_configs": {"strict": {"minute": 1000, "policy": "local"}},
        "gateway": {
            "proxy_listen": format!("127.0.0.1:{}", ports.proxy),
            "admin_listen": format!("127.0.0.1:{}", ports.admin),
            "worker_threads": 1,
        },
        "services": [{
            "name": "merged",
            // Kong: the url's parts win; the separate fields are what a decK dump writes beside it.
            "url": format!("http://127.0.0.1:{port}/anything/from-url"),
            "protocol": "https", "host": "wrong.invalid", "port": 1, "path": "/wrong",
            "routes": [
                {"name": "v0", "paths": ["/v0"], "request_buffering": true, "response_buffering": true},
                // Kong's declarative form: a route's plugin naming its service is scoped to both.
                {"name": "v1", "paths": ["/v1"], "path_handling": "v1", "plugins": [
                    {"name": "rate-limiting", "service": "merged", "config": {"minute": 7}},
                ]},
                // A 2.1 regex path: Kong's migration makes it `~/items/\d+$`.
                {"name": "regex", "paths": ["/items/\\d+$"], "strip_path": false},
            ],
            "plugins": [{"name": "rate-limiting", "_config": "strict", "config": {"hour": 5000}}],
        }],
    })
}

fn echoed_url(r: &common::Reply) -> String {
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["url"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_kong_file_proxies_with_kongs_meaning() {
    let httpbin = Httpbin::start();
    let ports = Ports::free();
    let gw = Gateway::start(&to_yaml(&kong_file(ports, &httpbin.url())));
    let client = common::client();
    let base = gw.proxy_url();

    // v0 joins with a `/`; v1 appends the rest as it is.
    let url = echoed_url(&send(client.get(format!("{base}/v0x"))));
    assert!(url.ends_with("/anything/from-url/x"), "{url}");
    let r = send(client.get(format!("{base}/v1x")));
    assert_eq!(
        r.header("x-ratelimit-limit-minute"),
        Some("7"),
        "route + service"
    );
    let url = echoed_url(&r);
    assert!(url.ends_with("/anything/from-urlx"), "{url}");
    // The migrated regex path matches digits only.
    let url = echoed_url(&send(client.get(format!("{base}/items/42"))));
    assert!(url.ends_with("/anything/from-url/items/42"), "{url}");
    assert_eq!(send(client.get(format!("{base}/items/abc"))).status, 404);
    // request_buffering: true (no effect: bodies stream) still carries the body.
    let r = send(client.post(format!("{base}/v0")).body("hello kong"));
    assert_eq!(r.json()["data"], "hello kong", "{r:?}");
    // The rate-limiting plugin took its limits from `_plugin_configs` and its own config.
    assert_eq!(r.header("x-ratelimit-limit-minute"), Some("1000"), "{r:?}");
    assert_eq!(r.header("x-ratelimit-limit-hour"), Some("5000"), "{r:?}");
    // Written back as Kong would: the file is a 3.0 one now, the regex path has its `~`.
    let admin = gw.admin_url();
    let r = send(client.get(format!("{admin}/routes/regex")));
    assert_eq!(r.json()["paths"], json!([r"~/items/\d+$"]));
    assert_eq!(r.json()["request_buffering"], true);
}

#[test]
fn admin_api_required_fields_and_ca_certificates() {
    let httpbin = Httpbin::start();
    let ports = Ports::free();
    let gw = Gateway::start(&to_yaml(&kong_file(ports, &httpbin.url())));
    let client = common::client();
    let admin = gw.admin_url();
    let before = gw.config();
    let expected = json!({
        "code": 2, "name": "schema violation",
        "message": "schema violation (port: required field missing)",
        "fields": {"port": "required field missing"},
    });
    let r = send(
        client
            .patch(format!("{admin}/services/merged"))
            .form(&[("port", "")]),
    );
    assert_eq!((r.status, r.json()), (400, expected.clone()), "form");
    let r = send(
        client
            .patch(format!("{admin}/services/merged"))
            .json(&json!({"port": null})),
    );
    assert_eq!((r.status, r.json()), (400, expected), "JSON null");
    assert_eq!(gw.config(), before, "a refused write changes nothing");

    let ca = e2e::ca::LocalCa::new();
    let pem = std::fs::read_to_string(ca.ca_pem()).unwrap();
    let r = send(
        client
            .post(format!("{admin}/ca_certificates"))
            .json(&json!({"cert": pem, "tags": ["t"]})),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(r.json()["cert_digest"].as_str().map(str::len), Some(64));
    let r = send(client.get(format!("{admin}/ca_certificates/{id}")));
    assert_eq!((r.status, r.json()["tags"].clone()), (200, json!(["t"])));
    let leaf = std::fs::read_to_string(ca.cert()).unwrap();
    let r = send(
        client
            .post(format!("{admin}/ca_certificates"))
            .json(&json!({"cert": leaf})),
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(
        r.json()["fields"]["@entity"],
        json!(["certificate does not appear to be a CA because it is missing the \"CA\" basic constraint"]),
        "{r:?}"
    );
    let r = send(client.delete(format!("{admin}/ca_certificates/{id}")));
    assert_eq!(r.status, 204);
    assert!(!gw.config().contains("ca_certificates"), "{}", gw.config());
}

#[test]
fn validate_report_shows_every_refusal_at_once() {
    let dir = TempDir::new("report");
    let file = r#"
_format_version: "3.0"
consumer_groups: [{name: gold}]
services:
- name: ok
  url: http://127.0.0.1:1/
  routes: [{name: r, paths: [/r], pathz: [a.example]}]
  plugins:
  - {name: kafka-upstream}
  - name: openid-connect
    config: {issuer: "http://idp.test/", cache_tokens_salt: x, session_cookie_name: mine}
"#;
    std::fs::write(dir.path().join("kong.yaml"), file).unwrap();
    let out = Command::new(gateway_bin())
        .args(["validate", "--report", "-c", "kong.yaml"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("run gateway validate --report");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().map(str::trim_end).collect();
    assert_eq!(
        lines,
        vec![
            "entity                  name            result",
            "services[0]             ok              loads",
            "services[0].routes[0]   r               refused: unknown field `pathz`, expected one of `id`, `name`, `protocols`, `https_redirect_status_code`, `methods`, `hosts`, `paths`, `headers`, `snis`, `sources`, `destinations`, `strip_path`, `preserve_host`, `regex_priority`, `path_handling`, `expression`, `priority`, `request_buffering`, `response_buffering`, `service`, `tags`, `created_at`, `updated_at`, `filter_chains`, `plugins`",
            "services[0].plugins[0]  kafka-upstream  refused: name: unknown plugin \"kafka-upstream\" (supported: correlation-id, bot-detection, cors, jwt, key-auth, basic-auth, openid-connect, hmac-auth, tls-handshake-modifier, ip-restriction, request-size-limiting, acl, rate-limiting, request-transformer, response-transformer, proxy-cache, opentelemetry, prometheus, http-log, file-log, request-termination)",
            "services[0].plugins[1]  openid-connect  refused: config.session_cookie_name: not supported yet (a feature this gateway has not built; accepted only as \"session\" (Kong's default) or null)",
            "consumer_groups         1 item(s)       refused: unknown field: not supported (yet)",
            "kong.yaml: 1 load, 4 refused, 0 not checked",
        ],
        "{stdout}"
    );
}

/// decK's env templates: the gateway reads `${{ env "DECK_…" }}` from its environment (here the upstream's
/// port, a route path and a key-auth key, the last two reaching the proxy), refuses Admin API writes that would
/// store the values, and refuses to start when a variable is not set, with decK's message.
#[test]
fn deck_env_templates_are_read_from_the_environment() {
    let httpbin = Httpbin::start();
    let ports = Ports::free();
    let yaml = format!(
        r#"_format_version: "3.0"
gateway:
  proxy_listen: "127.0.0.1:{proxy}"
  admin_listen: "127.0.0.1:{admin}"
  worker_threads: 1
services:
- name: templated
  host: 127.0.0.1
  port: ${{{{ env "DECK_UPSTREAM_PORT" | toInt }}}}
  path: /anything
  routes:
  - name: r
    paths: [ '${{{{ env "DECK_ROUTE_PATH" }}}}' ]
    plugins:
    - name: key-auth
consumers:
- username: alice
  keyauth_credentials:
  - key: ${{{{ env "DECK_ALICE_KEY" }}}}
"#,
        proxy = ports.proxy,
        admin = ports.admin,
    );
    let port = httpbin.port().to_string();
    let env = [
        ("DECK_UPSTREAM_PORT", port.as_str()),
        ("DECK_ROUTE_PATH", "/from-env"),
        ("DECK_ALICE_KEY", "alice-secret-from-env"),
    ];
    let gw = Gateway::start_with(&yaml, &[], &env);
    let client = common::client();
    let base = gw.proxy_url();
    let r = send(
        client
            .get(format!("{base}/from-env/x"))
            .header("apikey", "alice-secret-from-env"),
    );
    let url = echoed_url(&r);
    assert!(url.ends_with("/anything/x"), "{url}");
    let r = send(
        client
            .get(format!("{base}/from-env/x"))
            .header("apikey", "other"),
    );
    assert_eq!(r.status, 401, "{r:?}");
    assert!(
        !gw.log().contains("alice-secret-from-env"),
        "the key is never logged"
    );

    // A write would replace the templates with their values: refused, the file untouched.
    let before = gw.config();
    let admin = gw.admin_url();
    let r = send(
        client
            .post(format!("{admin}/services"))
            .json(&json!({"name": "more", "url": "http://127.0.0.1:1"})),
    );
    assert_eq!(r.status, 409, "{r:?}");
    let message = r.json()["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("uses decK env templates"), "{message}");
    assert_eq!(gw.config(), before);
    drop(gw);

    // A variable that is not set: the gateway does not start, with decK's message.
    let Err(err) = Gateway::try_start_with(&yaml, &[], &env[..2]) else {
        panic!("started without DECK_ALICE_KEY");
    };
    assert!(
        err.contains("environment variable 'DECK_ALICE_KEY' present in state file but not set"),
        "{err}"
    );
}

/// Kong's `key_sets` and `keys` from the file, served read-only by `/key-sets` and `/keys` as Kong's views.
#[test]
fn key_sets_and_keys_are_served_by_the_admin_api() {
    let ports = Ports::free();
    let jwk = json!({"kty": "RSA", "kid": "k1", "e": "AQAB",
        "n": "v2KAzzfruqctVHaE9WSCWIg1xAhMwxTIK-i56WNqPtpWBo9AqxcVea8NyVctEjUNq_mix5CklNy3ru7ARh7rBG_LU65fzs4fY_uYalul3QZSnr61Gj-cTUB3Gy4PhA63yXCbYRR3gDy6WR_wfis1MS61j0R_AjgXuVufmmC0F7R9qSWfR8ft0CbQgemEHY3ddKeW7T7fKv1jnRwYAkl5B_xtvxRFIYT-uR9NNftixNpUIW7q8qvOH7D9icXOg4_wIVxTRe5QiRYwEFoUbV1V9bFtu5FLal0vZnLaWwg5tA6enhzBpxJNdrS0v1RcPpyeNP-9r3cUDGmeftwz9v95UQ"})
    .to_string();
    let set_id = "d46b0e15-ffbc-4b15-ad92-09ef67935453";
    let doc = json!({
        "_format_version": "3.0",
        "gateway": {
            "proxy_listen": format!("127.0.0.1:{}", ports.proxy),
            "admin_listen": format!("127.0.0.1:{}", ports.admin),
            "worker_threads": 1,
        },
        "key_sets": [{"id": set_id, "name": "bar"}, {"name": "empty"}],
        "keys": [
            {"name": "foo", "kid": "k1", "jwk": jwk, "set": {"id": set_id, "name": "bar"}, "tags": ["t"]},
        ],
    });
    let gw = Gateway::start(&to_yaml(&doc));
    let client = common::client();
    let admin = gw.admin_url();
    let r = send(client.get(format!("{admin}/key-sets")));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["data"].as_array().map(Vec::len), Some(2), "{r:?}");
    let r = send(client.get(format!("{admin}/keys/foo")));
    assert_eq!(r.status, 200, "{r:?}");
    let key = r.json();
    assert_eq!(key["kid"], "k1");
    assert_eq!(key["set"], json!({"id": set_id}));
    assert_eq!(key["jwk"], json!(jwk));
    assert_eq!(key["pem"], Value::Null);
    assert_eq!(key["tags"], json!(["t"]));
    let r = send(client.get(format!("{admin}/key-sets/bar/keys")));
    assert_eq!(r.json()["data"][0]["name"], "foo", "{r:?}");
    let r = send(client.get(format!("{admin}/key-sets/empty/keys")));
    assert_eq!(r.json()["data"], json!([]), "{r:?}");
    assert_eq!(send(client.get(format!("{admin}/keys/nope"))).status, 404);
    // Writes through these collections are not built yet.
    let r = send(
        client
            .post(format!("{admin}/keys"))
            .json(&json!({"kid": "x"})),
    );
    assert_eq!(r.status, 405, "{r:?}");
}

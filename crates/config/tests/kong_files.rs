//! Kong files as Kong and decK write them load, with Kong's meaning: the `url` shorthand over the separate
//! fields, route buffering flags at their default, `path_handling: v1`, format 1.1/2.1 regex paths, decK's
//! `_plugin_configs` / `_konnect` / `_workspace`, rate-limiting's flat `redis_*` fields; and what is not built
//! is refused with its path.

use gateway_config::load::parse_str;
use gateway_config::model::{PathHandling, Protocol};
use gateway_config::plugins::PluginConfig;

fn errors(text: &str) -> Vec<String> {
    match parse_str(text) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.lines(),
    }
}

#[test]
fn a_kong_3_dump_loads_with_kongs_meaning() {
    let c = parse_str(
        r#"
_format_version: "3.0"
_konnect: {control_plane_name: default}
_workspace: default
_plugin_configs:
  rl: {minute: 7, policy: local}
services:
- name: s
  url: https://api.test:8443/v2
  protocol: http
  host: ignored.test
  port: 80
  path: /ignored
  routes:
  - name: r
    paths: [/r]
    request_buffering: true
    response_buffering: true
    path_handling: v1
  plugins:
  - name: rate-limiting
    _config: rl
    config: {hour: 100}
- name: no-path
  url: http://h.test
  path: /dropped
plugins:
- name: rate-limiting
  config:
    minute: 5
    policy: redis
    redis: {host: r.test, port: 6380}
    redis_host: r.test
    redis_port: 6380
    redis_database: 3
    redis_password: null
"#,
    )
    .unwrap();
    let s = &c.services[0];
    // Kong's shorthand rule: the url's parts win over the separate fields.
    assert_eq!(
        (s.protocol, s.host.as_str(), s.port, s.path.as_deref()),
        (Protocol::Https, "api.test", 8443, Some("/v2"))
    );
    assert_eq!(
        c.services[1].path, None,
        "a url without a path clears `path`"
    );
    assert_eq!(s.routes[0].path_handling, PathHandling::V1);
    assert_eq!(c.konnect.as_ref().unwrap()["control_plane_name"], "default");
    let typed = |p: &gateway_config::model::Plugin| match &p.typed.as_ref().unwrap().config {
        PluginConfig::RateLimiting(rl) => rl.clone(),
        other => panic!("{other:?}"),
    };
    // decK: the named config fills what the plugin's own config does not set.
    let rl = typed(&s.plugins[0]);
    assert_eq!((rl.minute, rl.hour), (Some(7.0), Some(100.0)));
    let rl = typed(&c.plugins[0]);
    assert_eq!(
        (rl.redis.host.as_deref(), rl.redis.port, rl.redis.database),
        (Some("r.test"), 6380, 3)
    );
}

#[test]
fn format_2_1_regex_paths_get_their_tilde() {
    let c = parse_str(
        r#"
_format_version: "2.1"
services:
- name: s
  url: http://h.test
  routes:
  - name: r
    paths: ["/users/\\d+$", /plain/path]
"#,
    )
    .unwrap();
    assert_eq!(c.format_version, "3.0");
    assert_eq!(
        c.services[0].routes[0].paths,
        vec![r"~/users/\d+$", "/plain/path"]
    );
    // A 3.0 file is taken as written: the same path is a prefix there, and is refused as a regex-looking one
    // only by the router's own rules.
    let c = parse_str("_format_version: \"3.0\"\nservices:\n- {name: s, url: http://h.test, routes: [{name: r, paths: [/a.b]}]}\n").unwrap();
    assert_eq!(c.services[0].routes[0].paths, vec!["/a.b"]);
}

#[test]
fn what_is_not_built_is_refused_with_its_path() {
    let e = errors(
        r#"
_format_version: "3.0"
_workspace: team-a
services:
- name: s
  url: http://h.test
  tls_sans: {dnsnames: [a.test]}
  routes:
  - {name: r, paths: [/r], request_buffering: false, response_buffering: false}
  plugins:
  - {name: rate-limiting, _config: missing, config: {minute: 1}}
  - name: openid-connect
    config:
      issuer: http://idp.test/
      cache_tokens_salt: anything
      session_cookie_name: mine
      login_methods: [authorization_code]
- name: t
  url: http://h.test
  plugins:
  - name: rate-limiting
    config: {minute: 1, redis: {host: a.test}, redis_host: b.test}
"#,
    );
    assert_eq!(
        e,
        vec![
            "_workspace: not supported yet (workspaces are Kong Enterprise's; only \"default\", the one workspace here)",
            "services[0].tls_sans: not supported yet (a Kong Enterprise feature not built here; only null)",
            "services[0].plugins[0]._config: _plugin_config \"missing\" not found (in `_plugin_configs`)",
            "services[0].plugins[1].config.session_cookie_name: not supported yet (a feature this gateway has not built; accepted only as \"session\" (Kong's default) or null)",
            "services[1].plugins[0].config.redis_host: both deprecated and new field are used but their values mismatch: redis_host = b.test vs redis.host = a.test",
        ]
    );
}

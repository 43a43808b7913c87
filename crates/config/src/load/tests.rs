//! Tests of loading: defaults, url shorthand, ids, round trips and every error message.

use super::*;
use crate::model::{EntityRef, PathHandling, Protocol};
use uuid::Uuid;

const KONG_EXAMPLE: &str = r#"
_format_version: "3.0"
services:
- name: orders
  url: http://orders.internal:8080/api
  routes:
  - {name: orders-route, paths: ["/orders"], strip_path: true}
  plugins:
  - name: openid-connect
    config:
      issuer: https://idp.example.com/realms/demo
      client_id: [kong]
      client_secret: [s3cret]
      auth_methods: [introspection]
      bearer_token_param_type: [header]
      scopes_required: ["orders:read"]
"#;

fn errors(text: &str) -> Vec<String> {
    match parse_str(text) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.lines(),
    }
}

#[test]
fn kong_example_with_defaults() {
    let c = parse_str(KONG_EXAMPLE).unwrap();
    assert_eq!(c.format_version, "3.0");
    assert!(c.gateway.is_default());
    let s = &c.services[0];
    assert_eq!(s.name.as_deref(), Some("orders"));
    assert_eq!(s.protocol, Protocol::Http);
    assert_eq!(s.host, "orders.internal");
    assert_eq!(s.port, 8080);
    assert_eq!(s.path.as_deref(), Some("/api"));
    assert_eq!(s.retries, 5);
    assert_eq!(
        (s.connect_timeout, s.read_timeout, s.write_timeout),
        (60_000, 60_000, 60_000)
    );
    assert!(s.enabled);
    assert!(s.tags.is_empty());
    let r = &s.routes[0];
    assert_eq!(r.protocols, vec![Protocol::Http, Protocol::Https]);
    assert!(r.strip_path && !r.preserve_host);
    assert_eq!(r.regex_priority, 0);
    assert_eq!(r.https_redirect_status_code, 426);
    assert_eq!(r.path_handling, PathHandling::V0);
    assert!(r.methods.is_empty() && r.hosts.is_empty() && r.headers.is_empty());
    assert!(r.service.is_none());
    let p = &s.plugins[0];
    assert!(p.enabled);
    assert_eq!(p.protocols, vec![Protocol::Http, Protocol::Https]);
    assert_eq!(p.config["client_id"][0], "kong");
    for id in [s.id, r.id, p.id] {
        assert_eq!(id.get_version_num(), 5);
    }
}

#[test]
fn service_fields_without_url() {
    let c = parse_str(
        r#"
_format_version: "1.1"
services:
- host: example.com
  protocol: https
  routes: [{hosts: [example.com]}]
- host: 10.0.0.1
  port: 9000
  path: /base
  retries: 0
  connect_timeout: 1
  read_timeout: 2
  write_timeout: 3
  enabled: false
  tags: [a, b]
  routes: [{methods: [GET]}]
"#,
    )
    .unwrap();
    // As in Kong: `protocol: https` without `port` keeps port 80.
    assert_eq!(
        (c.services[0].protocol, c.services[0].port),
        (Protocol::Https, 80)
    );
    assert_eq!(c.services[0].path, None);
    let s = &c.services[1];
    assert_eq!(
        (s.port, s.path.as_deref(), s.retries),
        (9000, Some("/base"), 0)
    );
    assert_eq!(
        (s.connect_timeout, s.read_timeout, s.write_timeout),
        (1, 2, 3)
    );
    assert!(!s.enabled);
    assert_eq!(s.tags, vec!["a", "b"]);
}

#[test]
fn url_shorthand_variants() {
    let c = parse_str(
        r#"
_format_version: "3.0"
services:
- {name: a, url: "https://a.example", routes: [{paths: [/a]}]}
- {name: b, url: "http://b.example/", routes: [{paths: [/b]}]}
"#,
    )
    .unwrap();
    let a = &c.services[0];
    assert_eq!(
        (a.protocol, a.host.as_str(), a.port, a.path.as_deref()),
        (Protocol::Https, "a.example", 443, None)
    );
    let b = &c.services[1];
    assert_eq!((b.port, b.path.as_deref()), (80, Some("/")));
}

#[test]
fn ids_are_kept_or_generated_stably() {
    let text = r#"
_format_version: "3.0"
services:
- id: 0b7bc9a4-5cb0-4a35-9f4b-4d2b3a6e7f10
  name: kept
  host: a
  routes: [{paths: [/x]}, {name: named, paths: [/y]}]
- host: b
  routes: [{paths: [/z]}]
  plugins: [{name: openid-connect, config: {issuer: "https://idp/"}}]
routes:
- {service: kept, paths: [/top]}
plugins:
- {name: openid-connect, config: {issuer: "https://idp/"}}
"#;
    let a = parse_str(text).unwrap();
    let b = parse_str(text).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        a.services[0].id,
        Uuid::parse_str("0b7bc9a4-5cb0-4a35-9f4b-4d2b3a6e7f10").unwrap()
    );
    assert_eq!(a.services[1].id, crate::ids::service_id(None, 1));
    assert_eq!(
        a.services[0].routes[1].id,
        crate::ids::route_id(Some("named"), None, 0)
    );
    assert_eq!(
        a.services[0].routes[0].id,
        crate::ids::route_id(None, Some(a.services[0].id), 0)
    );
    assert_eq!(a.routes[0].id, crate::ids::route_id(None, None, 0));
    assert_eq!(
        a.services[1].plugins[0].id,
        crate::ids::plugin_id("openid-connect", None, Some(a.services[1].id), None)
    );
    assert_eq!(
        a.plugins[0].id,
        crate::ids::plugin_id("openid-connect", None, None, None)
    );
    // A generated id does not depend on unrelated entities before it.
    let shifted = text.replace(
        "services:\n",
        "services:\n- {name: first, host: f, routes: [{paths: [/f]}]}\n",
    );
    let c = parse_str(&shifted).unwrap();
    assert_eq!(c.services[1].id, a.services[0].id);
    assert_eq!(c.services[1].routes[1].id, a.services[0].routes[1].id);
}

#[test]
fn top_level_references() {
    let c = parse_str(
        r#"
_format_version: "3.0"
services:
- {name: orders, id: 6a1ce0f3-7d1b-4c7e-9d0c-2f0e8e9b1a11, host: o}
routes:
- {name: r1, service: orders, paths: [/a]}
- {name: r2, service: {id: 6a1ce0f3-7d1b-4c7e-9d0c-2f0e8e9b1a11}, paths: [/b]}
- {name: r3, service: {name: orders}, paths: [/c]}
- {name: r4, service: 6a1ce0f3-7d1b-4c7e-9d0c-2f0e8e9b1a11, paths: [/d]}
plugins:
- {name: openid-connect, route: r1, config: {issuer: "https://idp/"}}
- {name: openid-connect, service: orders, config: {issuer: "https://idp/"}}
"#,
    )
    .unwrap();
    assert_eq!(c.routes[0].service, Some(EntityRef::Key("orders".into())));
    assert_eq!(c.routes[2].service, Some(EntityRef::Name("orders".into())));
    let all: Vec<_> = c.routes_with_services().map(|e| e.service).collect();
    assert_eq!(all, vec![Some(0); 4]);
}

#[test]
fn round_trip_is_stable() {
    let c = parse_str(KONG_EXAMPLE).unwrap();
    let yaml = to_yaml(&c).unwrap();
    let again = parse_str(&yaml).unwrap();
    assert_eq!(c, again);
    assert_eq!(to_yaml(&again).unwrap(), yaml);
    let expected = format!(
        r#"_format_version: '3.0'
services:
- id: {sid}
  name: orders
  protocol: http
  host: orders.internal
  port: 8080
  path: /api
  retries: 5
  connect_timeout: 60000
  read_timeout: 60000
  write_timeout: 60000
  enabled: true
  routes:
  - id: {rid}
    name: orders-route
    protocols:
    - http
    - https
    https_redirect_status_code: 426
    paths:
    - /orders
    strip_path: true
    preserve_host: false
    regex_priority: 0
    path_handling: v0
  plugins:
  - id: {pid}
    name: openid-connect
    enabled: true
    config:
      issuer: https://idp.example.com/realms/demo
      client_id:
      - kong
      client_secret:
      - s3cret
      auth_methods:
      - introspection
      bearer_token_param_type:
      - header
      scopes_required:
      - orders:read
    protocols:
    - http
    - https
"#,
        sid = c.services[0].id,
        rid = c.services[0].routes[0].id,
        pid = c.services[0].plugins[0].id
    );
    assert_eq!(yaml, expected);
}

#[test]
fn round_trip_keeps_references_and_settings() {
    let text = r#"
_format_version: "3.0"
_comment: hello
_info: {select_tags: [a]}
gateway: {proxy_listen: "127.0.0.1:9000", worker_threads: 1000, admin_token: t0k}
services: [{name: s, host: h}]
routes:
- {name: r, service: {name: s}, paths: [/]}
plugins:
- {name: openid-connect, service: s, config: {issuer: "https://idp/"}}
"#;
    let c = parse_str(text).unwrap();
    assert_eq!(c.gateway.worker_threads, 1000);
    assert_eq!(c.gateway.proxy_listen, "127.0.0.1:9000");
    assert_eq!(c.gateway.admin_listen, "127.0.0.1:8001");
    let yaml = to_yaml(&c).unwrap();
    assert!(
        yaml.contains(
            "gateway:\n  proxy_listen: 127.0.0.1:9000\n  worker_threads: 1000\n  admin_token: t0k\n"
        ),
        "{yaml}"
    );
    assert!(yaml.contains("service:\n    name: s\n"), "{yaml}");
    assert_eq!(parse_str(&yaml).unwrap(), c);
}

#[test]
fn format_version_forms() {
    let ok = |v: &str| parse_str(&format!("_format_version: {v}\n")).map(|c| c.format_version);
    assert_eq!(ok("3.0").unwrap(), "3.0");
    // Kong's format-3 migration: a 1.1 or 2.1 document is a 3.0 one once read.
    assert_eq!(ok("\"2.1\"").unwrap(), "3.0");
    assert_eq!(ok("1.1").unwrap(), "3.0");
    assert_eq!(
        errors("_format_version: \"1.0\"\n"),
        vec!["_format_version: unsupported version \"1.0\" (expected \"1.1\", \"2.1\" or \"3.0\")"]
    );
    assert_eq!(
        errors("services: []\n"),
        vec!["_format_version: required field missing"]
    );
    assert_eq!(
        errors("  \n"),
        vec!["the configuration is empty (`_format_version` is required)"]
    );
}

#[test]
fn yaml_syntax_error_has_position() {
    let e = errors("_format_version: \"3.0\"\nservices:\n- name: a\n  host: [b\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("line "), "{}", e[0]);
    let err =
        parse_str("_format_version: \"3.0\"\nservices:\n  - name: a\n   host: b\n").unwrap_err();
    let loc = err.0[0].location.unwrap();
    assert_eq!(loc.line, 4, "{err}");
}

#[test]
fn unknown_field_is_readable() {
    let text = "_format_version: \"3.0\"\nservices:\n- name: a\n  host: b\n  routes:\n  - paths: [/x]\n    pathz: [/y]\n";
    assert_eq!(errors(text), vec![
        "line 7 column 5: services[0].routes[0]: unknown field `pathz`, expected one of `id`, `name`, `protocols`, `https_redirect_status_code`, `methods`, `hosts`, `paths`, `headers`, `snis`, `sources`, `destinations`, `strip_path`, `preserve_host`, `regex_priority`, `path_handling`, `expression`, `priority`, `request_buffering`, `response_buffering`, `service`, `tags`, `created_at`, `updated_at`, `filter_chains`, `plugins`"
    ]);
    let e = errors("_format_version: \"3.0\"\ngateway:\n  proxy_lisen: x\n");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with(
            // The flattened client settings (client_limits.rs) cost serde's "expected one of" list here.
            "line 3 column 3: gateway: unknown field `proxy_lisen`"
        ),
        "{}",
        e[0]
    );
    let e = errors("_format_version: \"3.0\"\nservices:\n- name: a\n  host: b\n  port: eighty\n");
    assert_eq!(e, vec!["line 5 column 9: services[0].port: invalid type: string \"eighty\", expected an integer"]);
}

#[test]
fn every_service_error_at_once() {
    let text = r#"
_format_version: "3.0"
services:
- name: "bad name"
  host: "exa mple"
  port: 0
  path: "api"
  retries: 40000
  connect_timeout: 0
  read_timeout: -1
  write_timeout: 2147483647
  protocol: ws
  tags: ["a,b"]
  id: not-a-uuid
- name: u
  url: "ftp://x"
- name: v
  url: "http://x"
  host: y
  port: 1
- name: w
  port: 70000
- name: z
  host: a
  path: /a//b
"#;
    assert_eq!(errors(text), vec![
        "services[0].id: invalid UUID \"not-a-uuid\"",
        "services[0].protocol: expected one of: http, https, grpc, grpcs, tcp, tls, udp, tls_passthrough, got \"ws\" (ws and wss are not supported yet)",
        "services[0].read_timeout: must be between 1 and 2147483646 (milliseconds)",
        "services[1].url: expected one of: http, https, grpc, grpcs, tcp, tls, udp, tls_passthrough, got \"ftp\" (ws and wss are not supported yet)",
        "services[3].port: must be between 1 and 65535",
        "services[0].name: invalid value \"bad name\": the only accepted ascii characters are alphanumerics or ., -, _, and ~",
        "services[0].host: invalid host \"exa mple\": expected a hostname or an IP address",
        "services[0].port: must be between 1 and 65535",
        "services[0].path: must start with \"/\"",
        "services[0].retries: must be between 0 and 32767",
        "services[0].connect_timeout: must be between 1 and 2147483646 (milliseconds)",
        "services[0].write_timeout: must be between 1 and 2147483646 (milliseconds)",
        "services[0].tags[0]: invalid tag \"a,b\": must not contain \",\", \"/\" or control characters",
        "services[3].host: required field missing",
        "services[4].path: must not contain \"//\"",
    ]);
}

#[test]
fn every_route_error_at_once() {
    let text = r#"
_format_version: "3.0"
services:
- name: s
  host: h
  routes:
  - name: r0
    paths: ["/ok", "nope", "~/re/(\\d+", "~/re/\\d+$", "~re"]
    methods: [GET, get]
    hosts: ["*.*.x", "a*.b", "ok.example", "bad host"]
    protocols: [http, wss]
    path_handling: v1
    service: s
  - name: r1
  - name: r2
    protocols: []
    https_redirect_status_code: 70000
    paths: [/x]
    headers: {Host: [a], "x y": [b], x-empty: [], x-re: ["~*abc"]}
  - name: r3
    paths: [/x]
    path_handling: v9
    https_redirect_status_code: 200
routes:
- {name: t0, paths: [/t]}
- {name: t1, service: nope, paths: [/t]}
- {name: t2, service: {id: 00000000-0000-4000-8000-000000000000}, paths: [/t]}
- {name: t3, service: {name: missing}, paths: [/t]}
"#;
    assert_eq!(errors(text), vec![
        "services[0].routes[0].protocols[1]: expected one of: http, https, grpc, grpcs, tcp, tls, udp, tls_passthrough, got \"wss\" (ws and wss are not supported yet)",
        "services[0].routes[0].service: must not be set on a nested route (it belongs to its parent service)",
        "services[0].routes[3].path_handling: expected \"v0\" or \"v1\", got \"v9\"",
        "services[0].routes[0].methods[1]: invalid method \"get\": must be an uppercase token such as \"GET\"",
        "services[0].routes[0].hosts[0]: invalid wildcard \"*.*.x\": only one \"*\" is allowed",
        "services[0].routes[0].hosts[1]: invalid wildcard \"a*.b\": \"*\" must be the whole leftmost or rightmost label",
        "services[0].routes[0].hosts[3]: invalid host \"bad host\": expected a hostname or an IP address, with an optional port",
        "services[0].routes[0].paths[1]: must start with \"/\"",
        "services[0].routes[0].paths[2]: invalid regex: '/re/(\\d+' (unclosed group at offset 4)",
        "services[0].routes[0].paths[4]: a regex path must start with \"~/\"",
        "services[0].routes[1]: must set at least one of methods, hosts, headers or paths",
        "services[0].routes[2].protocols: must not be empty",
        "services[0].routes[2].https_redirect_status_code: expected one of: 426, 301, 302, 307, 308",
        "services[0].routes[2].headers.Host: use `hosts` to match the Host header",
        "services[0].routes[2].headers.x y: invalid header name \"x y\"",
        "services[0].routes[2].headers.x-empty: must have at least one value",
        "services[0].routes[2].headers.x-re: regex header values (\"~*\" prefix) are not supported yet",
        "services[0].routes[3].https_redirect_status_code: expected one of: 426, 301, 302, 307, 308",
        "routes[1].service: no service with id or name \"nope\"",
        "routes[2].service: no service with id \"00000000-0000-4000-8000-000000000000\"",
        "routes[3].service: no service with name \"missing\"",
    ]);
}

#[test]
fn duplicates_are_reported_with_the_first_place() {
    let text = r#"
_format_version: "3.0"
services:
- name: orders
  host: a
  routes: [{name: r, paths: [/a]}]
- name: orders
  host: b
  routes: [{name: r, paths: [/b]}]
- id: 6a1ce0f3-7d1b-4c7e-9d0c-2f0e8e9b1a11
  host: c
- id: 6a1ce0f3-7d1b-4c7e-9d0c-2f0e8e9b1a11
  host: d
routes:
- {name: r, service: orders, paths: [/c]}
"#;
    assert_eq!(
        errors(text),
        vec![
        "services[1].name: duplicate name \"orders\" (also services[0])",
        "services[1].routes[0].name: duplicate name \"r\" (also services[0].routes[0])",
        "services[3].id: duplicate id \"6a1ce0f3-7d1b-4c7e-9d0c-2f0e8e9b1a11\" (also services[2])",
        "routes[0].name: duplicate name \"r\" (also services[0].routes[0])",
    ]
    );
}

#[test]
fn plugin_errors() {
    let text = r#"
_format_version: "3.0"
services:
- name: s
  host: h
  routes:
  - name: r
    paths: [/]
    plugins:
    - {name: openid-connect, config: {issuer: "https://idp/"}}
    - {name: openid-connect, instance_name: second, config: {issuer: "https://idp/"}}
  plugins:
  - name: openid-connect
    config: {issuer: "https://idp/", timeout: "soon"}
  - {name: kafka-upstream}
  - {config: {}}
  - {name: openid-connect, route: r, config: {issuer: "https://idp/", timeout: "later"}}
plugins:
- {name: openid-connect, config: [1]}
- {name: openid-connect, service: nope, config: {issuer: "https://idp/"}}
- {name: openid-connect, route: {name: nope}, config: {issuer: "https://idp/"}}
- {name: openid-connect, instance_name: second, service: s, protocols: [], config: {issuer: "https://idp/"}}
- {name: openid-connect, instance_name: "a b", route: r, config: {issuer: "https://idp/"}}
"#;
    let got = errors(text);
    assert_eq!(got, vec![
        "services[0].routes[0].plugins[1].name: plugin \"openid-connect\" is already configured for this route (also services[0].routes[0].plugins[0])",
        "services[0].plugins[0].config.timeout: expected a number",
        "services[0].plugins[1].name: unknown plugin \"kafka-upstream\" (supported: correlation-id, bot-detection, cors, jwt, key-auth, basic-auth, openid-connect, hmac-auth, tls-handshake-modifier, ip-restriction, request-size-limiting, acl, rate-limiting, request-transformer, response-transformer, proxy-cache, opentelemetry, prometheus, http-log, file-log, request-termination)",
        "services[0].plugins[2].name: required field missing",
        "plugins[0].config: expected a record",
        "plugins[1].service: no service with id or name \"nope\"",
        "plugins[2].route: no route with name \"nope\"",
        "plugins[3].instance_name: duplicate instance_name \"second\" (also services[0].routes[0].plugins[1])",
        "plugins[3].protocols: must not be empty",
        "plugins[3].name: plugin \"openid-connect\" is already configured for this service (also services[0].plugins[0])",
        "plugins[4].instance_name: invalid value \"a b\": the only accepted ascii characters are alphanumerics or ., -, _, and ~",
        "plugins[4].name: plugin \"openid-connect\" is already configured for this route (also services[0].routes[0].plugins[0])",
        // A service's plugin that names a route (Kong's declarative form): scoped to both, errors at its place.
        "services[0].plugins[3].config.timeout: expected a number",
    ]);
}

#[test]
fn gateway_settings_errors_and_defaults() {
    let c = parse_str("_format_version: \"3.0\"\ngateway: {}\n").unwrap();
    assert!(c.gateway.is_default());
    assert_eq!(
        errors("_format_version: \"3.0\"\ngateway:\n  log_level: loud\n  admin_listen: nowhere\n"),
        vec![
            "gateway.admin_listen: invalid address \"nowhere\": expected host:port such as \"127.0.0.1:8001\"",
            "gateway.log_level: expected one of off, error, warn, info, debug, trace, got \"loud\"",
        ]
    );
}

#[test]
fn load_file_reports_io_errors() {
    let e = load_file(Path::new("/nonexistent/gateway.yaml")).unwrap_err();
    assert_eq!(e.len(), 1);
    assert!(
        e.to_string()
            .starts_with("cannot read /nonexistent/gateway.yaml: "),
        "{e}"
    );
    let dir = std::env::temp_dir().join(format!("gateway-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("gateway.yaml");
    std::fs::write(&file, KONG_EXAMPLE).unwrap();
    assert_eq!(load_file(&file).unwrap(), parse_str(KONG_EXAMPLE).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn entity_ref_errors() {
    let e = errors("_format_version: \"3.0\"\nroutes:\n- service: {id: nope}\n  paths: [/]\n");
    assert_eq!(
        e,
        vec!["line 3 column 12: routes[0].service: id: invalid UUID \"nope\""]
    );
    let e = errors("_format_version: \"3.0\"\nroutes:\n- service: {id: 6a1ce0f3-7d1b-4c7e-9d0c-2f0e8e9b1a11, name: x}\n  paths: [/]\n");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].ends_with("routes[0].service: give either `id` or `name`, not both"),
        "{}",
        e[0]
    );
}

#[test]
fn grpc_services_and_routes() {
    let ok = parse_str(
        r#"_format_version: "3.0"
services:
- name: g
  url: grpcs://grpc.internal:50051
  routes: [{name: r, protocols: [grpc, grpcs], paths: [/grpc.health.v1.Health/]}]
- name: h
  protocol: grpc
  host: a.internal
"#,
    )
    .unwrap();
    let g = &ok.services[0];
    assert_eq!(
        (g.protocol, g.port, g.path.as_deref()),
        (Protocol::Grpcs, 50051, None)
    );
    assert_eq!(g.routes[0].protocols, vec![Protocol::Grpc, Protocol::Grpcs]);
    assert_eq!(
        (ok.services[1].protocol, ok.services[1].port),
        (Protocol::Grpc, 80)
    );
    assert_eq!(
        errors(
            r#"_format_version: "3.0"
services:
- name: g
  url: grpc://a.internal:1/v1
  routes: [{name: r, protocols: [grpc, https], paths: [/x]}]
"#
        ),
        vec![
            "services[0].path: value must be null (protocol is grpc)",
            "services[0].routes[0].protocols: these sets are mutually exclusive: ('http', 'https'), ('tcp', 'tls', 'udp'), ('tls_passthrough'), ('grpc', 'grpcs')",
        ]
    );
}

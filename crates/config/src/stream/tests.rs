//! Load-time checks of stream routes and services, with Kong's messages and field paths.

use crate::load::parse_str;

fn errors(yaml: &str) -> Vec<String> {
    match parse_str(&format!("_format_version: \"3.0\"\n{yaml}")) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

fn has(all: &[String], want: &str) {
    assert!(
        all.iter().any(|e| e.contains(want)),
        "{want:?} not in {all:#?}"
    );
}

#[test]
fn stream_routes_load() {
    let ok = r#"
services:
- name: s
  host: up.example
  protocol: tcp
  routes:
  - {protocols: [tcp], destinations: [{port: 1025}], sources: [{ip: 10.0.0.0/8}, {ip: "::1", port: 4}]}
  - {protocols: [tls], snis: ["*.example.com"]}
  - {protocols: [tls_passthrough], snis: [p.example]}
  - {protocols: [tcp, udp], destinations: [{ip: 127.0.0.1}]}
"#;
    assert_eq!(errors(ok), Vec::<String>::new());
}

#[test]
fn kong_messages() {
    let e = errors(
        r#"
services:
- name: s
  host: up.example
  protocol: tcp
  path: /x
  routes:
  - {protocols: [tcp]}
  - {protocols: [tls_passthrough], destinations: [{port: 1}]}
  - {protocols: [tcp], paths: [/a], destinations: [{port: 1}]}
  - {protocols: [tcp], snis: [a.example], destinations: [{port: 1}]}
  - {protocols: [tcp, http], destinations: [{port: 1}]}
  - {protocols: [tcp], destinations: [{}], sources: [{ip: nope, port: 70000}]}
  - {protocols: [tls], snis: ["a.*.b"]}
"#,
    );
    has(&e, "services[0].path: value must be null (protocol is tcp)");
    has(&e, "services[0].routes[0]: must set one of 'sources', 'destinations', 'snis' when 'protocols' is 'tcp', 'tls' or 'udp'");
    has(
        &e,
        "services[0].routes[1]: must set snis when 'protocols' is 'tls_passthrough'",
    );
    has(&e, "services[0].routes[2].paths: cannot set 'paths' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'");
    has(&e, "services[0].routes[3].snis: 'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'");
    has(&e, "services[0].routes[4].protocols: these sets are mutually exclusive: ('http', 'https'), ('tcp', 'tls', 'udp'), ('tls_passthrough'), ('grpc', 'grpcs')");
    has(&e, "services[0].routes[5].destinations[0]: at least one of these fields must be non-empty: 'ip', 'port'");
    has(
        &e,
        "services[0].routes[5].sources[0].ip: invalid ip or cidr range: 'nope'",
    );
    has(
        &e,
        "services[0].routes[5].sources[0].port: value should be between 0 and 65535",
    );
    has(
        &e,
        "services[0].routes[6].snis[0]: wildcard must be leftmost or rightmost character",
    );
}

#[test]
fn http_routes_and_stream_fields() {
    let e = errors(
        r#"
services:
- name: s
  host: up.example
  routes:
  - {paths: [/a], sources: [{port: 1}]}
  - {protocols: [https], hosts: [a.example], snis: [a.example]}
  - {protocols: [tcp], destinations: [{port: 1}]}
- name: t
  host: up.example
  protocol: tcp
  routes:
  - {paths: [/b]}
"#,
    );
    has(
        &e,
        "services[0].routes[0].sources: cannot set 'sources' when 'protocols' is 'http' or 'https'",
    );
    has(&e, "services[0].routes[1].snis: not supported yet");
    has(&e, "services[0].routes[2].protocols: a route with protocols [tcp] proxying to a service with protocol http is not supported yet");
    has(&e, "services[1].routes[0].protocols: a route with protocols [http, https] proxying to a service with protocol tcp is not supported yet");
}

#[test]
fn plugins_on_stream_routes_are_refused() {
    let e = errors(
        r#"
services:
- name: s
  host: up.example
  protocol: tcp
  routes:
  - name: r
    protocols: [tcp]
    destinations: [{port: 1}]
    plugins:
    - name: cors
plugins:
- {name: ip-restriction, route: r, config: {allow: [127.0.0.1]}}
- {name: cors, protocols: [tcp]}
"#,
    );
    has(&e, "services[0].routes[0].plugins[0]: plugins on stream routes (protocols tcp, tls, tls_passthrough, udp) are not supported yet");
    has(&e, "plugins[0].route: plugins on stream routes");
    has(
        &e,
        "plugins[1].protocols[0]: plugins on tcp are not supported yet",
    );
}

#[test]
fn stream_expressions() {
    let e = errors(
        r#"
services:
- name: s
  host: up.example
  protocol: tcp
  routes:
  - {protocols: [tcp], expression: 'http.path == "/"'}
  - {protocols: [tls], expression: 'tls.sni == "a"', priority: 1}
"#,
    );
    assert_eq!(e.len(), 1, "{e:#?}");
    has(
        &e,
        "services[0].routes[0].expression: Router Expression failed validation: Unknown LHS field",
    );
}

#[test]
fn admin_api_writes_and_shows_stream_routes() {
    use crate::kong::entity::{find, view};
    use crate::kong::ops::create;
    use crate::kong::Kind;
    let config = parse_str(
        "_format_version: \"3.0\"\nservices:\n- {name: s, host: 127.0.0.1, port: 9000, protocol: tcp}\n",
    )
    .unwrap();
    let fields = serde_json::json!({
        "name": "r", "protocols": ["tcp"], "service": {"name": "s"},
        "sources": [{"ip": "10.0.0.0/8"}], "destinations": [{"port": 5555}],
    });
    let serde_json::Value::Object(fields) = fields else {
        unreachable!()
    };
    let w = create(&config, Kind::Route, fields, 1).unwrap();
    let v = view(&w.config, &find(&w.config, Kind::Route, "r").unwrap());
    assert_eq!(v["sources"], serde_json::json!([{"ip": "10.0.0.0/8"}]));
    assert_eq!(v["destinations"], serde_json::json!([{"port": 5555}]));
    assert_eq!(v["snis"], serde_json::Value::Null);
    let bad = serde_json::json!({"name": "x", "protocols": ["tcp"], "service": {"name": "s"}});
    let serde_json::Value::Object(bad) = bad else {
        unreachable!()
    };
    let e = format!("{:?}", create(&config, Kind::Route, bad, 1).unwrap_err());
    assert!(
        e.contains("must set one of 'sources', 'destinations', 'snis'"),
        "{e}"
    );
}

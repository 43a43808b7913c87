//! Stream router tests: destination and source matching, SNI, priorities, transports, expressions, and the
//! HTTP router never seeing a stream route.

use super::{StreamMatch, StreamRouter, StreamView, Transport};
use crate::load::parse_str;
use crate::model::Config;

fn table(yaml: &str) -> (Config, StreamRouter) {
    let config =
        parse_str(&format!("_format_version: \"3.0\"\n{yaml}")).unwrap_or_else(|e| panic!("{e}"));
    let router = StreamRouter::compile(&config).unwrap();
    (config, router)
}

fn name(config: &Config, m: Option<StreamMatch>) -> Option<String> {
    let m = m?;
    let entry = config.routes_with_services().nth(m.route)?;
    entry.route.name.clone()
}

fn view<'a>(src: &str, dst: &str, sni: Option<&'a str>) -> StreamView<'a> {
    StreamView {
        transport: Transport::Tcp,
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        tls: sni.is_some(),
        sni,
    }
}

const ROUTES: &str = r#"
services:
- name: s
  host: 127.0.0.1
  port: 9000
  protocol: tcp
  routes:
  - {name: by-port, protocols: [tcp], destinations: [{port: 5555}]}
  - {name: by-ip-port, protocols: [tcp], destinations: [{ip: 127.0.0.2, port: 5555}]}
  - {name: from-net, protocols: [tcp], sources: [{ip: 10.0.0.0/8}], destinations: [{port: 6000}]}
  - {name: sni, protocols: [tls], snis: [a.example, "*.wild.example"]}
  - {name: pass, protocols: [tls_passthrough], snis: [p.example]}
  - {name: udp, protocols: [udp], destinations: [{port: 5555}]}
"#;

#[test]
fn destinations_sources_and_priority() {
    let (c, r) = table(ROUTES);
    let got = |src, dst| name(&c, r.find(&view(src, dst, None)));
    assert_eq!(
        got("127.0.0.1:1", "127.0.0.1:5555").as_deref(),
        Some("by-port")
    );
    // IP + port beats port alone (Kong's IP > PORT > CIDR bits).
    assert_eq!(
        got("127.0.0.1:1", "127.0.0.2:5555").as_deref(),
        Some("by-ip-port")
    );
    assert_eq!(
        got("10.1.2.3:1", "127.0.0.1:6000").as_deref(),
        Some("from-net")
    );
    // A source outside the CIDR: nothing matches.
    assert_eq!(got("127.0.0.1:1", "127.0.0.1:6000"), None);
    assert_eq!(got("127.0.0.1:1", "127.0.0.1:7000"), None);
}

#[test]
fn snis_apply_to_tls_only() {
    let (c, r) = table(ROUTES);
    let got = |sni| name(&c, r.find(&view("127.0.0.1:1", "127.0.0.1:7000", sni)));
    assert_eq!(got(Some("a.example")).as_deref(), Some("sni"));
    assert_eq!(got(Some("A.Example")).as_deref(), Some("sni"));
    assert_eq!(got(Some("x.wild.example")).as_deref(), Some("sni"));
    assert_eq!(got(Some("p.example")).as_deref(), Some("pass"));
    assert_eq!(got(Some("other.example")), None);
    let m = r
        .find(&view("127.0.0.1:1", "127.0.0.1:7000", Some("p.example")))
        .unwrap();
    assert!(m.passthrough && !m.tls);
    let m = r
        .find(&view("127.0.0.1:1", "127.0.0.1:7000", Some("a.example")))
        .unwrap();
    assert!(m.tls && !m.passthrough);
}

#[test]
fn udp_sessions_see_udp_routes_only() {
    let (c, r) = table(ROUTES);
    let mut v = view("127.0.0.1:1", "127.0.0.1:5555", None);
    v.transport = Transport::Udp;
    assert_eq!(name(&c, r.find(&v)).as_deref(), Some("udp"));
    v.dst = "127.0.0.1:6000".parse().unwrap();
    assert_eq!(name(&c, r.find(&v)), None);
}

#[test]
fn expressions_first_by_priority() {
    let (c, r) = table(
        r#"
services:
- name: s
  host: 127.0.0.1
  protocol: tcp
  routes:
  - {name: trad, protocols: [tcp], destinations: [{port: 1025}]}
  - {name: low, protocols: [tcp], expression: "net.dst.port == 1025", priority: 1}
  - {name: high, protocols: [tcp], expression: "net.dst.port == 1025 && net.src.ip in 127.0.0.0/8", priority: 5}
  - {name: sni, protocols: [tls], expression: 'tls.sni == "x.example"'}
"#,
    );
    let got = |src, sni| name(&c, r.find(&view(src, "127.0.0.1:1025", sni)));
    assert_eq!(got("127.0.0.1:1", None).as_deref(), Some("high"));
    assert_eq!(got("10.0.0.1:1", None).as_deref(), Some("low"));
    let got = |sni| name(&c, r.find(&view("127.0.0.1:1", "127.0.0.1:9", sni)));
    assert_eq!(got(Some("x.example")).as_deref(), Some("sni"));
    assert_eq!(got(None), None);
}

#[test]
fn the_http_router_skips_stream_routes() {
    let (c, _) = table(ROUTES);
    let http = crate::router::Router::compile(&c).unwrap();
    let headers = http::HeaderMap::new();
    let found = http.find(&crate::router::RequestView {
        method: "GET",
        host: Some("a.example"),
        path: "/",
        headers: &headers,
        https: false,
        query: None,
        src: None,
        dst: None,
    });
    assert_eq!(found, None);
}

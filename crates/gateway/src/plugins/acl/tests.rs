//! Unit tests of the acl decision: Kong's statuses and texts (spec/03-plugins/18-acl/02-access_spec.lua),
//! the groups headers, authenticated groups against consumer groups.

use super::*;
use crate::snapshot::Snapshot;
use gateway_auth::Groups;
use gateway_config::plugins::acl::AclConfig;
use serde_json::json;

const YAML: &str = r#"
_format_version: "3.0"
consumers:
- username: admin
  acls: [{group: admin}]
- username: pro
  acls: [{group: pro}, {group: hello}]
- username: none
services:
- name: s
  url: http://127.0.0.1:9/
  routes: [{name: r, paths: [/r]}]
"#;

fn snapshot() -> Snapshot {
    let config = gateway_config::load::parse_str(YAML).unwrap();
    let registry = gateway_auth::AuthRegistry::new(&prometheus::Registry::new());
    crate::snapshot::compile(config, YAML, &registry).unwrap()
}

fn acl(cfg: serde_json::Value) -> Acl {
    Acl::new(&AclConfig::from_value(&cfg).unwrap())
}

/// Runs the plugin; `consumer` by username, `credential` as an auth plugin sets it, `groups` as
/// openid-connect's claim.
fn run(
    snap: &Snapshot,
    plugin: &Acl,
    consumer: Option<&str>,
    credential: bool,
    groups: Option<serde_json::Value>,
) -> (u16, Vec<(String, Option<String>)>) {
    let metrics = crate::metrics::Metrics::new(&prometheus::Registry::new()).unwrap();
    let headers = http::HeaderMap::new();
    let uri: http::Uri = "/r".parse().unwrap();
    let req = Request {
        method: &http::Method::GET,
        uri: &uri,
        headers: &headers,
        client_ip: None,
        https: false,
        server_addr: None,
        body: None,
        snap,
        matched: None,
        metrics: &metrics,
    };
    let mut ex = Exchange::new();
    ex.caller.consumer = consumer.map(|u| {
        (snap.config.consumers.iter())
            .position(|c| c.username.as_deref() == Some(u))
            .unwrap()
    });
    ex.caller.authenticated = credential;
    ex.caller.anonymous = consumer.is_some() && !credential;
    ex.groups = groups.map(|g| Groups::from_claim(&g).unwrap());
    let status = match futures::executor::block_on(plugin.access(&req, &mut ex).decide()) {
        Flow::Continue => 200,
        Flow::Respond(reply) => {
            if let Reply::Body { body, .. } = &reply {
                let text = if reply.status() == 401 {
                    r#"{"message":"Unauthorized"}"#
                } else {
                    r#"{"message":"You cannot consume this service"}"#
                };
                assert_eq!(&body[..], text.as_bytes());
            }
            reply.status()
        }
    };
    let edits = (ex.edits.headers.iter())
        .map(|(n, v)| {
            (
                n.to_string(),
                v.as_ref().map(|v| v.to_str().unwrap().to_owned()),
            )
        })
        .filter(|(_, v)| v.is_some())
        .collect();
    (status, edits)
}

fn set(name: &str, value: &str) -> Vec<(String, Option<String>)> {
    vec![(name.to_owned(), Some(value.to_owned()))]
}

#[test]
fn consumer_groups_allow_and_deny() {
    let snap = snapshot();
    let allow = acl(json!({"allow": ["admin"]}));
    assert_eq!(
        run(&snap, &allow, Some("admin"), true, None),
        (200, set("x-consumer-groups", "admin"))
    );
    assert_eq!(run(&snap, &allow, Some("pro"), true, None).0, 403);
    // A consumer without groups: 403 with a credential, 401 as anonymous (Kong).
    assert_eq!(run(&snap, &allow, Some("none"), true, None).0, 403);
    assert_eq!(run(&snap, &allow, Some("none"), false, None).0, 401);
    assert_eq!(run(&snap, &allow, None, false, None).0, 401);
    let deny = acl(json!({"deny": ["admin"]}));
    assert_eq!(run(&snap, &deny, Some("admin"), true, None).0, 403);
    assert_eq!(
        run(&snap, &deny, Some("pro"), true, None),
        (200, set("x-consumer-groups", "pro, hello"))
    );
    assert_eq!(run(&snap, &deny, Some("none"), true, None), (200, vec![]));
    assert_eq!(run(&snap, &deny, None, false, None).0, 401);
    let hidden = acl(json!({"allow": ["hello"], "hide_groups_header": true}));
    assert_eq!(run(&snap, &hidden, Some("pro"), true, None), (200, vec![]));
}

#[test]
fn authenticated_groups() {
    let snap = snapshot();
    let allow = acl(json!({"allow": ["admin"]}));
    // No consumer: the token's groups decide, sent as X-Authenticated-Groups.
    assert_eq!(
        run(&snap, &allow, None, true, Some(json!(["admin", "x"]))),
        (200, set("x-authenticated-groups", "admin, x"))
    );
    assert_eq!(run(&snap, &allow, None, true, Some(json!("x y"))).0, 403);
    assert_eq!(run(&snap, &allow, None, true, Some(json!([]))).0, 403);
    // A credential without groups and without consumer: 403.
    assert_eq!(run(&snap, &allow, None, true, None).0, 403);
    // A consumer with a credential: its own groups, unless always_use_authenticated_groups.
    let groups = Some(json!(["admin"]));
    assert_eq!(run(&snap, &allow, Some("pro"), true, groups.clone()).0, 403);
    let always = acl(json!({"allow": ["admin"], "always_use_authenticated_groups": true}));
    assert_eq!(
        run(&snap, &always, Some("pro"), true, groups.clone()),
        (200, set("x-authenticated-groups", "admin"))
    );
    // ... and falls back to the consumer's when the token has none.
    assert_eq!(
        run(&snap, &always, Some("admin"), true, None),
        (200, set("x-consumer-groups", "admin"))
    );
    // The anonymous consumer: authenticated groups override its own.
    assert_eq!(
        run(&snap, &allow, Some("pro"), false, groups),
        (200, set("x-authenticated-groups", "admin"))
    );
    // Deny mode with authenticated groups: Kong sends no groups header.
    let deny = acl(json!({"deny": ["admin"]}));
    assert_eq!(
        run(&snap, &deny, None, true, Some(json!(["b"]))),
        (200, vec![])
    );
    assert_eq!(run(&snap, &deny, None, true, Some(json!(["admin"]))).0, 403);
}

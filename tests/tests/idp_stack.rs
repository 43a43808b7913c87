//! End-to-end checks of the test stack itself (real Glewlwyd, real httpbin, no gateway): they prove the harness.

use std::time::Duration;

use e2e::{http, Httpbin, Idp, JANE, JOHN, SHORT_TOKEN_SECONDS};
use serde_json::Value;

#[test]
fn password_grant_token_introspects_active_with_username() {
    let idp = Idp::start();
    let token = idp.password_token(JOHN.0, JOHN.1);
    let claims = idp.introspect(&token);
    assert_eq!(claims["active"], true, "{claims}");
    assert_eq!(claims["username"], "john", "{claims}");
    assert_eq!(claims["client_id"], "kong", "{claims}");
    assert_eq!(claims["scope"], "openid read", "{claims}");
    assert!(claims["exp"].as_u64().is_some(), "{claims}");
    assert_ne!(
        claims["sub"], "john",
        "sub is a random id at Glewlwyd: {claims}"
    );
}

#[test]
fn garbage_token_is_inactive() {
    let idp = Idp::start();
    assert_eq!(
        idp.introspect("not-a-token"),
        serde_json::json!({ "active": false })
    );
}

#[test]
fn revoked_token_is_inactive() {
    let idp = Idp::start();
    let token = idp.password_token(JOHN.0, JOHN.1);
    assert_eq!(idp.introspect(&token)["active"], true);
    idp.revoke(&token);
    assert_eq!(idp.introspect(&token)["active"], false);
}

#[test]
fn short_lived_token_expires() {
    let idp = Idp::start();
    let token = idp.short_lived_token(JOHN.0, JOHN.1);
    let issuer = idp.short_issuer();
    assert_eq!(idp.introspect_at(&issuer, &token)["active"], true);
    // Only the instance that issued a token knows it.
    assert_eq!(idp.introspect(&token)["active"], false);
    std::thread::sleep(Duration::from_secs(SHORT_TOKEN_SECONDS + 1));
    assert_eq!(idp.introspect_at(&issuer, &token)["active"], false);
}

#[test]
fn client_credentials_token_is_active() {
    let idp = Idp::start();
    let token = idp.client_credentials_token();
    let claims = idp.introspect(&token);
    assert_eq!(claims["active"], true, "{claims}");
    assert_eq!(claims["client_id"], "kong", "{claims}");
    assert_eq!(claims["scope"], "read", "{claims}");
}

#[test]
fn user_without_read_scope_gets_openid_only() {
    let idp = Idp::start();
    let token = idp.password_token(JANE.0, JANE.1);
    let claims = idp.introspect(&token);
    assert_eq!(claims["active"], true, "{claims}");
    assert_eq!(claims["username"], "jane", "{claims}");
    assert_eq!(claims["scope"], "openid", "{claims}");
}

#[test]
fn token_endpoint_errors_have_empty_bodies() {
    let idp = Idp::start();
    let form = [
        ("grant_type", "password"),
        ("username", "john"),
        ("password", "wrong"),
        ("scope", "openid"),
    ];
    let (status, body) = idp.token_request(idp.issuer(), &form);
    assert_eq!((status, body.as_str()), (403, ""));
}

#[test]
fn discovery_names_the_issuer_and_introspection_endpoint() {
    let idp = Idp::start();
    let doc: Value = http::client()
        .get(format!("{}/.well-known/openid-configuration", idp.issuer()))
        .send()
        .expect("discovery request")
        .json()
        .expect("discovery JSON");
    assert_eq!(doc["issuer"], idp.issuer());
    assert_eq!(
        doc["introspection_endpoint"],
        format!("{}/introspect", idp.issuer())
    );
}

#[test]
fn httpbin_anything_echoes_the_authorization_header() {
    let httpbin = Httpbin::start();
    let echo: Value = http::client()
        .get(httpbin.anything_url())
        .header("Authorization", "Bearer abc.def")
        .send()
        .expect("httpbin request")
        .json()
        .expect("httpbin JSON");
    assert_eq!(echo["headers"]["Authorization"], "Bearer abc.def", "{echo}");
    assert_eq!(echo["method"], "GET", "{echo}");
}

#[test]
fn servers_die_with_their_handles() {
    let (idp, httpbin) = e2e::start_idp_and_httpbin();
    let pids = [idp.pid(), httpbin.pid()];
    let (idp_port, httpbin_port) = (idp.port(), httpbin.port());
    drop(idp);
    drop(httpbin);
    for pid in pids {
        // The process group is gone: no glewlwyd, no gunicorn worker left behind (SIGKILL is asynchronous).
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while group_alive(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!group_alive(pid), "process group {pid} survived");
    }
    for port in [idp_port, httpbin_port] {
        assert!(
            !e2e::process::port_open(([127, 0, 0, 1], port).into()),
            "port {port} still open"
        );
    }
}

/// Whether a live (non-zombie) process still belongs to process group `pgid`.
fn group_alive(pgid: u32) -> bool {
    let pgid = pgid.to_string();
    std::fs::read_dir("/proc")
        .expect("read /proc")
        .flatten()
        .any(|entry| {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                return false;
            };
            // "pid (comm) state ppid pgrp …": comm may hold spaces, so split after the last ')'.
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid
        })
}

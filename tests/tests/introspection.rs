//! Introspection end to end: the real Glewlwyd IdP, the real httpbin and the built gateway, with the
//! `openid-connect` plugin's `auth_methods: [introspection]` (plus `password` where a test says so).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{assert_401, assert_403, assert_echo, client, routes_config_value, send, Reply};
use e2e::metrics::{introspection_cache_hits, introspection_calls, metric_sum, metrics_text};
use e2e::{oidc_config, Gateway, Httpbin, Idp, Ports, ALICE, JANE, JOHN, SHORT_TOKEN_SECONDS};
use serde_json::{json, Value};

/// The plugin config for the IdP's main issuer with `auth_methods: [introspection]` plus `extra`.
fn introspection(idp: &Idp, extra: Value) -> Value {
    oidc_config(idp.issuer(), &["introspection"], extra)
}

/// IdP + httpbin + a gateway with one route per `(path, plugin config made from the IdP)`.
/// Drop order: gateway, httpbin, IdP.
struct Servers {
    gateway: Gateway,
    _httpbin: Httpbin,
    idp: Idp,
}

impl Servers {
    fn start(routes: impl FnOnce(&Idp) -> Vec<(&'static str, Option<Value>)>) -> Servers {
        Servers::start_with_env(routes, &[])
    }

    fn start_with_env(
        routes: impl FnOnce(&Idp) -> Vec<(&'static str, Option<Value>)>,
        env: &[(&str, &str)],
    ) -> Servers {
        Servers::start_custom(routes, |_| {}, env)
    }

    /// Like [`Servers::start_with_env`], with a last edit of the whole config.
    fn start_custom(
        routes: impl FnOnce(&Idp) -> Vec<(&'static str, Option<Value>)>,
        edit: impl FnOnce(&mut Value),
        env: &[(&str, &str)],
    ) -> Servers {
        let (idp, httpbin) = e2e::start_idp_and_httpbin();
        let mut config = routes_config_value(Ports::free(), &httpbin.url(), &routes(&idp));
        edit(&mut config);
        let gateway = Gateway::start_with(&e2e::to_yaml(&config), &[], env);
        Servers {
            gateway,
            _httpbin: httpbin,
            idp,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway.proxy_url())
    }

    fn get_bearer(&self, path: &str, token: &str) -> Reply {
        send(client().get(self.url(path)).bearer_auth(token))
    }

    fn admin(&self) -> String {
        self.gateway.admin_url()
    }
}

#[test]
fn idp_token_is_accepted_and_forwarded_as_bearer() {
    let s = Servers::start(|idp| vec![("/", Some(introspection(idp, json!({}))))]);
    let token = s.idp.password_token(JOHN.0, JOHN.1);

    let r = s.get_bearer("/", &token);
    let echo = assert_echo(&r, "a fresh IdP token");
    assert_eq!(
        echo["headers"]["Authorization"],
        format!("Bearer {token}"),
        "{echo}"
    );
    assert_eq!(echo["method"], "GET", "{echo}");

    // A second request is answered from the cache: still one introspection.
    let echo = assert_echo(&s.get_bearer("/", &token), "the same token again");
    assert_eq!(echo["headers"]["Authorization"], format!("Bearer {token}"));
    assert_eq!(introspection_calls(&s.admin()), 1);
    assert_eq!(introspection_cache_hits(&s.admin()), 1);
}

#[test]
fn missing_and_garbage_tokens_are_401() {
    let s = Servers::start(|idp| vec![("/", Some(introspection(idp, json!({}))))]);
    let c = client();

    assert_401(&send(c.get(s.url("/"))), "no credential at all");
    assert_401(
        &send(c.get(s.url("/")).header("Authorization", "Bearer")),
        "a Bearer scheme without a token",
    );
    assert_401(
        &send(
            c.get(s.url("/"))
                .header("Authorization", "Basic am9objpkb2U="),
        ),
        "Basic credentials while only introspection is enabled",
    );
    for garbage in ["garbage-token-1f2e3d", "eyJhbGciOiJub25lIn0.e30.", "x"] {
        assert_401(&s.get_bearer("/", garbage), garbage);
        // The inactive result is cached for cache_ttl_neg: still 401.
        assert_401(&s.get_bearer("/", garbage), garbage);
    }
}

/// Wait until `deadline` (a point in time), sleeping.
fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        std::thread::sleep(deadline - now);
    }
}

#[test]
fn expired_token_is_401_even_when_its_cache_entry_outlives_exp() {
    // cache_ttl_min forces the positive entry to outlive the token's exp: the exp check must still refuse it.
    let s = Servers::start(|idp| {
        vec![(
            "/",
            Some(oidc_config(
                &idp.short_issuer(),
                &["introspection"],
                json!({ "leeway": 0, "cache_ttl_min": 60 }),
            )),
        )]
    });
    // The token lives SHORT_TOKEN_SECONDS: on a loaded machine the first use may come too late, so retry.
    let mut accepted = None;
    for _ in 0..3 {
        let minted = Instant::now();
        let token = s.idp.short_lived_token(JOHN.0, JOHN.1);
        let r = s.get_bearer("/", &token);
        if r.status == 200 {
            accepted = Some((token, minted, r));
            break;
        }
        assert!(
            minted.elapsed()
                >= Duration::from_secs(SHORT_TOKEN_SECONDS) - Duration::from_millis(500),
            "a fresh short-lived token was refused: {r:?}"
        );
    }
    let (token, minted, r) = accepted.expect("a short-lived token was accepted once");
    let echo = assert_echo(&r, "fresh short-lived token");
    assert_eq!(echo["headers"]["Authorization"], format!("Bearer {token}"));
    let calls = introspection_calls(&s.admin());

    // Past exp (which has whole-second resolution) with leeway 0.
    sleep_until(minted + Duration::from_secs(SHORT_TOKEN_SECONDS + 2));
    assert_401(&s.get_bearer("/", &token), "expired token");
    assert_401(&s.get_bearer("/", &token), "expired token, again");
    assert!(
        introspection_calls(&s.admin()) > calls,
        "the expired cache entry was not used: the IdP was asked again"
    );
}

#[test]
fn revoked_token_is_401_after_the_cache_rules() {
    let s = Servers::start(|idp| {
        vec![
            (
                "/nocache",
                Some(introspection(idp, json!({ "cache_introspection": false }))),
            ),
            (
                "/cached",
                Some(introspection(idp, json!({ "cache_ttl_max": 3 }))),
            ),
        ]
    });
    let token = s.idp.password_token(JOHN.0, JOHN.1);
    // The cache entry is made between these two instants: it lives until (load time + 3 s).
    let before_load = Instant::now();
    assert_echo(
        &s.get_bearer("/cached", &token),
        "cached route, before revocation",
    );
    let after_load = Instant::now();
    assert_echo(
        &s.get_bearer("/nocache", &token),
        "uncached route, before revocation",
    );

    s.idp.revoke(&token);
    assert_eq!(s.idp.introspect(&token)["active"], false);

    // Without a cache the revocation is seen at once.
    assert_401(&s.get_bearer("/nocache", &token), "revoked, uncached");
    // With a cache the positive entry is served until cache_ttl_max (documented); only checked when the
    // answer came while the entry was surely still fresh (a loaded machine may have taken longer).
    let r = s.get_bearer("/cached", &token);
    if Instant::now() < before_load + Duration::from_millis(2800) {
        assert_echo(&r, "revoked but still cached (cache_ttl_max 3 s)");
    }
    // Once cache_ttl_max has passed the IdP is asked again and says inactive.
    sleep_until(after_load + Duration::from_millis(3500));
    assert_401(
        &s.get_bearer("/cached", &token),
        "revoked, cache entry expired",
    );
    assert_401(&s.get_bearer("/cached", &token), "revoked, negative entry");
}

#[test]
fn missing_scope_is_403_on_every_request_including_cache_hits() {
    let s = Servers::start(|idp| {
        vec![
            (
                "/",
                Some(introspection(idp, json!({ "scopes_required": ["read"] }))),
            ),
            (
                "/write",
                Some(introspection(idp, json!({ "scopes_required": ["write"] }))),
            ),
            (
                "/either",
                Some(introspection(
                    idp,
                    json!({ "scopes_required": ["admin", "openid read"] }),
                )),
            ),
        ]
    });
    let john = s.idp.password_token(JOHN.0, JOHN.1); // openid read
    let jane = s.idp.password_token(JANE.0, JANE.1); // openid
    let alice = s
        .idp
        .password_token_with_scope(ALICE.0, ALICE.1, "openid read write");
    assert_eq!(s.idp.introspect(&jane)["scope"], "openid");

    assert_echo(&s.get_bearer("/", &john), "john has read");
    assert_403(&s.get_bearer("/", &jane), "jane lacks read");
    assert_403(&s.get_bearer("/", &jane), "jane lacks read (cache hit)");

    // The same active token under a second plugin config with other scopes_required.
    assert_403(&s.get_bearer("/write", &john), "john lacks write");
    let hits = introspection_cache_hits(&s.admin());
    let calls = introspection_calls(&s.admin());
    assert_403(
        &s.get_bearer("/write", &john),
        "john lacks write (cache hit)",
    );
    assert_echo(&s.get_bearer("/", &john), "john has read (cache hit)");
    assert_eq!(
        introspection_calls(&s.admin()),
        calls,
        "served from the caches"
    );
    assert_eq!(introspection_cache_hits(&s.admin()), hits + 2);

    // Entries are OR-ed, words within an entry AND-ed.
    assert_echo(
        &s.get_bearer("/either", &john),
        "openid read satisfies one entry",
    );
    assert_403(
        &s.get_bearer("/either", &jane),
        "openid alone satisfies none",
    );

    assert_eq!(s.idp.introspect(&alice)["scope"], "openid read write");
    assert_echo(&s.get_bearer("/write", &alice), "alice has write");
}

#[test]
fn token_lookup_honours_bearer_token_param_type() {
    let s = Servers::start(|idp| {
        let with = |types: Value| {
            introspection(
                idp,
                json!({ "bearer_token_param_type": types, "bearer_token_cookie_name": "tok" }),
            )
        };
        vec![
            ("/header", Some(with(json!(["header"])))),
            ("/query", Some(with(json!(["query"])))),
            ("/body", Some(with(json!(["body"])))),
            ("/cookie", Some(with(json!(["cookie"])))),
            ("/default", Some(introspection(idp, json!({})))),
        ]
    });
    let token = s.idp.password_token(JOHN.0, JOHN.1);
    let c = client();
    let bearer = format!("Bearer {token}");
    let by_header = |path: &str| send(c.get(s.url(path)).bearer_auth(&token));
    let by_query = |path: &str| send(c.get(s.url(path)).query(&[("access_token", &token)]));
    let by_body = |path: &str| send(c.post(s.url(path)).form(&[("access_token", &token)]));
    let by_cookie = |path: &str| {
        send(
            c.get(s.url(path))
                .header("Cookie", format!("other=1; tok={token}")),
        )
    };

    // [header]
    let echo = assert_echo(&by_header("/header"), "header in [header]");
    assert_eq!(echo["headers"]["Authorization"], bearer);
    let echo = assert_echo(
        &send(c.get(s.url("/header")).header("x-access-token", &token)),
        "x-access-token in [header]",
    );
    assert_eq!(echo["headers"]["Authorization"], bearer);
    assert_401(&by_query("/header"), "query in [header]");
    assert_401(&by_body("/header"), "body in [header]");
    assert_401(&by_cookie("/header"), "cookie in [header]");

    // [query]
    let echo = assert_echo(&by_query("/query"), "query in [query]");
    assert_eq!(echo["headers"]["Authorization"], bearer);
    assert_eq!(echo["args"]["access_token"], token.as_str(), "not hidden");
    assert_401(&by_header("/query"), "header in [query]");
    assert_401(&by_body("/query"), "body in [query]");
    assert_401(&by_cookie("/query"), "cookie in [query]");

    // [body]: an urlencoded form, still forwarded upstream after being read
    let echo = assert_echo(&by_body("/body"), "body in [body]");
    assert_eq!(echo["headers"]["Authorization"], bearer);
    assert_eq!(echo["form"]["access_token"], token.as_str(), "{echo}");
    assert_eq!(echo["method"], "POST");
    assert_401(&by_header("/body"), "header in [body]");
    assert_401(&by_query("/body"), "query in [body]");
    assert_401(&by_cookie("/body"), "cookie in [body]");

    // [cookie]
    let echo = assert_echo(&by_cookie("/cookie"), "cookie in [cookie]");
    assert_eq!(echo["headers"]["Authorization"], bearer);
    assert_401(&by_header("/cookie"), "header in [cookie]");
    assert_401(&by_query("/cookie"), "query in [cookie]");
    assert_401(&by_body("/cookie"), "body in [cookie]");

    // Kong's default [header, query, body]: no cookie.
    assert_echo(&by_header("/default"), "header by default");
    assert_echo(&by_query("/default"), "query by default");
    assert_echo(&by_body("/default"), "body by default");
    assert_401(&by_cookie("/default"), "cookie not looked at by default");

    // A garbage token found first decides (no fallback to a later location).
    let r = send(
        c.get(s.url("/default"))
            .bearer_auth("garbage-first")
            .query(&[("access_token", &token)]),
    );
    assert_401(&r, "the header is looked at before the query");
}

#[test]
fn hide_credentials_strips_the_credential_upstream() {
    let s = Servers::start(|idp| {
        let types = json!(["header", "query", "cookie"]);
        vec![
            (
                "/hide",
                Some(introspection(
                    idp,
                    json!({ "hide_credentials": true, "bearer_token_param_type": types,
                            "bearer_token_cookie_name": "tok" }),
                )),
            ),
            (
                "/hide-all",
                Some(introspection(
                    idp,
                    json!({ "hide_credentials": true, "upstream_access_token_header": null }),
                )),
            ),
            (
                "/show",
                Some(introspection(
                    idp,
                    json!({ "bearer_token_param_type": types, "bearer_token_cookie_name": "tok" }),
                )),
            ),
        ]
    });
    let token = s.idp.password_token(JOHN.0, JOHN.1);
    let c = client();
    let bearer = format!("Bearer {token}");

    // Query: the argument is removed, the others kept; the token still goes as Authorization.
    let echo = assert_echo(
        &send(
            c.get(s.url("/hide"))
                .query(&[("keep", "1"), ("access_token", &token)]),
        ),
        "query, hidden",
    );
    assert_eq!(echo["args"], json!({ "keep": "1" }), "{echo}");
    assert_eq!(echo["headers"]["Authorization"], bearer);
    let echo = assert_echo(
        &send(
            c.get(s.url("/show"))
                .query(&[("keep", "1"), ("access_token", &token)]),
        ),
        "query, shown",
    );
    assert_eq!(echo["args"]["access_token"], token.as_str(), "{echo}");

    // Cookie: the credential cookie is removed, the others kept.
    let cookie = format!("other=1; tok={token}; more=2");
    let echo = assert_echo(
        &send(c.get(s.url("/hide")).header("Cookie", &cookie)),
        "cookie, hidden",
    );
    let upstream_cookie = echo["headers"]["Cookie"].as_str().unwrap_or_default();
    assert!(!upstream_cookie.contains(&token), "{echo}");
    assert!(upstream_cookie.contains("other=1"), "{echo}");
    assert!(upstream_cookie.contains("more=2"), "{echo}");
    let echo = assert_echo(
        &send(c.get(s.url("/show")).header("Cookie", &cookie)),
        "cookie, shown",
    );
    assert!(echo["headers"]["Cookie"]
        .as_str()
        .is_some_and(|v| v.contains(&token)));

    // A token in x-access-token is removed (and passed as Authorization instead).
    let echo = assert_echo(
        &send(c.get(s.url("/hide")).header("x-access-token", &token)),
        "x-access-token, hidden",
    );
    assert!(echo["headers"].get("X-Access-Token").is_none(), "{echo}");
    assert_eq!(echo["headers"]["Authorization"], bearer);

    // hide_credentials without an upstream token header: the token does not reach the upstream at all.
    let r = s.get_bearer("/hide-all", &token);
    let echo = assert_echo(&r, "header, hidden, no token header");
    assert!(echo["headers"].get("Authorization").is_none(), "{echo}");
    assert!(
        !r.body.contains(&token),
        "the token reached httpbin: {echo}"
    );
}

#[test]
fn upstream_headers_carry_claims() {
    let s = Servers::start(|idp| {
        vec![(
            "/",
            Some(introspection(
                idp,
                json!({
                    "upstream_headers_claims": ["username", "scope", "client_id", "no_such_claim"],
                    "upstream_headers_names": ["X-User", "X-Scope", "X-Client", "X-Missing"],
                }),
            )),
        )]
    });
    let token = s.idp.password_token(JOHN.0, JOHN.1);
    let r = send(
        client()
            .get(s.url("/"))
            .bearer_auth(&token)
            .header("X-User", "mallory")
            .header("X-Missing", "spoofed"),
    );
    let echo = assert_echo(&r, "claims upstream");
    let h = &echo["headers"];
    assert_eq!(h["X-User"], "john", "{echo}");
    assert_eq!(h["X-Scope"], "openid read", "{echo}");
    assert_eq!(h["X-Client"], "kong", "{echo}");
    assert!(
        h.get("X-Missing").is_none(),
        "a spoofed header survived: {echo}"
    );
    assert_eq!(h["Authorization"], format!("Bearer {token}"));
    // Cached: the same headers again.
    let echo = assert_echo(&s.get_bearer("/", &token), "claims upstream, cache hit");
    assert_eq!(echo["headers"]["X-User"], "john", "{echo}");
}

#[test]
fn idp_stopped_new_token_is_401_not_500_nor_a_hang() {
    let mut s =
        Servers::start(|idp| vec![("/", Some(introspection(idp, json!({ "timeout": 2000 }))))]);
    let known = s.idp.password_token(JOHN.0, JOHN.1);
    let fresh = s.idp.password_token(ALICE.0, ALICE.1);
    // Discovery and the first introspection happen while the IdP is up.
    assert_echo(&s.get_bearer("/", &known), "known token, IdP up");

    s.idp.stop();
    let started = Instant::now();
    let r = s.get_bearer("/", &fresh);
    let took = started.elapsed();
    assert_401(&r, "new token, IdP down");
    assert!(
        took < Duration::from_secs(10),
        "took {took:?} with a 2 s plugin timeout"
    );
    assert_401(
        &s.get_bearer("/", &fresh),
        "new token, IdP down, again (errors are not cached)",
    );
    assert_401(
        &s.get_bearer("/", "garbage-while-down"),
        "garbage, IdP down",
    );
    // The positive entry of the known token is still served (documented cache lifetime).
    assert_echo(&s.get_bearer("/", &known), "cached token, IdP down");

    let text = metrics_text(&s.admin());
    let failed = metric_sum(
        &text,
        "gateway_idp_requests_total",
        &[("endpoint", "introspection")],
    ) - metric_sum(
        &text,
        "gateway_idp_requests_total",
        &[("endpoint", "introspection"), ("result", "ok")],
    );
    assert!(failed >= 3.0, "failed introspections counted: {text}");
}

#[test]
fn concurrent_requests_for_one_new_token_make_one_introspection() {
    const N: usize = 256;
    let s = Servers::start(|idp| vec![("/", Some(introspection(idp, json!({}))))]);
    let token = s.idp.password_token(JOHN.0, JOHN.1);
    // Warm discovery with another token, so only the token under test is introspected below.
    let warm = s.idp.password_token(JANE.0, JANE.1);
    assert_echo(&s.get_bearer("/", &warm), "warm-up");
    let before = introspection_calls(&s.admin());
    assert_eq!(before, 1);

    // Every client connects first, then all send their request at once: the gateway sees 256 requests
    // for one token within a few milliseconds, while the first introspection is in flight.
    let addr = s.gateway.proxy_addr();
    let barrier = Arc::new(Barrier::new(N));
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..N)
            .map(|_| {
                let (token, barrier) = (&token, barrier.clone());
                scope.spawn(move || {
                    let mut conn = TcpStream::connect(addr).expect("connect to the gateway");
                    conn.set_read_timeout(Some(Duration::from_secs(60)))
                        .expect("set a read timeout");
                    let request = format!(
                        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
                         Connection: close\r\n\r\n"
                    );
                    barrier.wait();
                    conn.write_all(request.as_bytes())
                        .expect("send the request");
                    let mut response = Vec::new();
                    conn.read_to_end(&mut response).expect("read the response");
                    let head =
                        String::from_utf8_lossy(&response[..response.len().min(64)]).into_owned();
                    head.split_whitespace()
                        .nth(1)
                        .and_then(|code| code.parse().ok())
                        .unwrap_or_else(|| panic!("not an HTTP response: {head:?}"))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("request thread"))
            .collect()
    });
    assert!(statuses.iter().all(|s| *s == 200), "statuses: {statuses:?}");
    assert_eq!(
        introspection_calls(&s.admin()) - before,
        1,
        "{N} concurrent requests for one new token"
    );
    let text = metrics_text(&s.admin());
    let lookups = metric_sum(
        &text,
        "gateway_auth_cache_total",
        &[("cache", "introspection")],
    );
    assert_eq!(lookups as usize, N + 1, "{text}");
}

#[test]
fn secrets_never_reach_the_gateway_log() {
    let dead_upstream = format!("http://127.0.0.1:{}", e2e::free_port());
    let s = Servers::start_custom(
        |idp| {
            vec![
                (
                    "/",
                    Some(oidc_config(
                        idp.issuer(),
                        &["introspection", "password"],
                        json!({
                            "bearer_token_param_type": ["header", "query", "body", "cookie"],
                            "bearer_token_cookie_name": "tok",
                            "scopes": ["openid", "read"],
                        }),
                    )),
                ),
                (
                    "/scoped",
                    Some(introspection(idp, json!({ "scopes_required": ["write"] }))),
                ),
            ]
        },
        // A service that is down: Pingora logs its own error line for the failed proxy attempt.
        |config| {
            let plugin = config["services"][0]["routes"][0]["plugins"].clone();
            config["services"]
                .as_array_mut()
                .expect("services")
                .push(json!({
                    "name": "down",
                    "url": dead_upstream,
                    "retries": 0,
                    "routes": [{ "name": "down-route", "paths": ["/down"], "plugins": plugin }],
                }));
        },
        // trace is a superset of debug: every line the gateway and its dependencies can write.
        &[("RUST_LOG", "trace")],
    );
    let c = client();
    let john = s.idp.password_token(JOHN.0, JOHN.1);
    let jane = s.idp.password_token(JANE.0, JANE.1);
    let garbage = ["garbage-token-7c1f0e9a", "not.a.jwt-5d2b"];
    let mut secrets: Vec<String> = vec![john.clone(), jane.clone()];
    secrets.extend(garbage.iter().map(|g| g.to_string()));

    // Bearer tokens in every place.
    assert_echo(&s.get_bearer("/", &john), "header");
    assert_echo(&s.get_bearer("/", &john), "header, cached");
    assert_echo(
        &send(c.get(s.url("/")).query(&[("access_token", &jane)])),
        "query",
    );
    assert_echo(
        &send(c.post(s.url("/")).form(&[("access_token", &john)])),
        "body",
    );
    assert_echo(
        &send(c.get(s.url("/")).header("Cookie", format!("tok={jane}"))),
        "cookie",
    );
    assert_403(&s.get_bearer("/scoped", &john), "scopes");
    for g in garbage {
        assert_401(&s.get_bearer("/", g), g);
        assert_401(&send(c.get(s.url("/")).query(&[("access_token", g)])), g);
    }
    // Authenticated, then the upstream is down: 502, and an error line from Pingora.
    let r = send(c.get(s.url("/down")).query(&[("access_token", &john)]));
    assert_eq!(r.status, 502, "{r:?}");
    // The gateway drops the connection after a 502 and must say so (the client reuses it otherwise).
    assert_eq!(r.header("connection"), Some("close"), "{r:?}");
    let r = send(c.get(s.url("/down")).bearer_auth(&jane));
    assert_eq!(r.status, 502, "{r:?}");
    // Basic credentials (password grant), right and wrong.
    let r = send(c.get(s.url("/")).basic_auth(JOHN.0, Some(JOHN.1)));
    let echo = assert_echo(&r, "password grant");
    let granted = echo["headers"]["Authorization"]
        .as_str()
        .and_then(|v| v.strip_prefix("Bearer "))
        .expect("a bearer token upstream")
        .to_owned();
    assert!(
        !echo.to_string().contains("am9objpkb2U="),
        "Basic forwarded: {echo}"
    );
    secrets.push(granted);
    assert_401(
        &send(
            c.get(s.url("/"))
                .basic_auth(JOHN.0, Some("wrong-password-31337")),
        ),
        "wrong password",
    );
    secrets.push("wrong-password-31337".into());
    // The access log line of the last request is written after the response: wait for it.
    std::thread::sleep(Duration::from_millis(500));

    let log = s.gateway.log();
    assert!(
        log.contains("DEBUG"),
        "the gateway did not log at debug level: {log}"
    );
    let mut fixed: Vec<String> = vec![
        e2e::CLIENT_SECRET.into(),
        "john:doe".into(),
        b64("john:doe"),
        "password=doe".into(),
        "wrong-password-31337".into(),
        b64("john:wrong-password-31337"),
    ];
    fixed.append(&mut secrets);
    for secret in &fixed {
        assert!(
            !log.contains(secret.as_str()),
            "the gateway log contains the secret {secret:?}:\n{log}"
        );
    }
    // No "Bearer <something>" except in WWW-Authenticate challenges (`Bearer realm=...`).
    for (i, _) in log.match_indices("Bearer ") {
        let rest = &log[i + "Bearer ".len()..];
        assert!(
            rest.starts_with("realm="),
            "a bearer credential in the log: {:?}",
            &rest[..rest.len().min(60)]
        );
    }
    assert!(
        !log.to_ascii_lowercase().contains("basic am9o"),
        "a Basic credential in the log"
    );
}

/// Standard base64 without its padding (a prefix of the padded form, so both are caught).
fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(s)
}

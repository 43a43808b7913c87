//! Kong's hmac-auth plugin end to end, through the real gateway binary to the real httpbin: a signature of
//! each algorithm passes and httpbin sees the consumer headers; a wrong signature, a missing `Date` and a
//! stale one get Kong's 401s with the `hmac` challenge; `enforce_headers`; `validate_request_body` with a
//! good and a bad `Digest`; `hide_credentials`; `anonymous`; and a credential created, listed and deleted
//! through the Admin API takes effect at once. Signatures are computed here with OpenSSL from the signing
//! string as Kong's `access.lua` builds it, not with the gateway's code.

mod common;

use std::time::{Duration, SystemTime};

use base64::Engine;
use common::{assert_echo, client, send, Reply};
use e2e::admin::{call, get, json_req};
use e2e::{Gateway, Httpbin, Ports};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use reqwest::blocking::RequestBuilder;
use reqwest::Method;
use serde_json::{json, Value};

const BOB_ID: &str = "5e0c9a11-0000-4000-8000-000000000021";
const ANON_ID: &str = "5e0c9a11-0000-4000-8000-000000000022";
const SECRET: &str = "bob's hmac secret";

const NOT_VALID: &str = r#"{"message":"HMAC signature cannot be verified"}"#;
const NOT_SAME: &str = r#"{"message":"HMAC signature does not match"}"#;
const CLOCK_SKEW: &str = r#"{"message":"HMAC signature cannot be verified, a valid date or x-date header is required for HMAC Authentication"}"#;

fn config(ports: Ports, httpbin: &str) -> Value {
    let mut config = e2e::config_value(ports, httpbin, None);
    let route = |name: &str, cfg: Value| {
        json!({"name": name, "paths": [format!("/{name}")],
               "plugins": [{"name": "hmac-auth", "config": cfg}]})
    };
    config["services"][0]["routes"] = json!([
        route("plain", json!({})),
        route(
            "enforce",
            json!({"enforce_headers": ["date", "request-line"], "algorithms": ["hmac-sha256"]})
        ),
        route("body", json!({"validate_request_body": true})),
        route(
            "hide",
            json!({"hide_credentials": true, "realm": "hmac-realm"})
        ),
        route("anon", json!({"anonymous": ANON_ID})),
    ]);
    config["consumers"] = json!([
        {"id": BOB_ID, "username": "bob", "custom_id": "c-bob",
         "hmacauth_credentials": [{"username": "bob-hmac", "secret": SECRET}]},
        {"id": ANON_ID, "username": "anonymous"},
    ]);
    config
}

fn digest(algorithm: &str) -> MessageDigest {
    match algorithm {
        "hmac-sha1" => MessageDigest::sha1(),
        "hmac-sha256" => MessageDigest::sha256(),
        "hmac-sha384" => MessageDigest::sha384(),
        _ => MessageDigest::sha512(),
    }
}

fn hmac_b64(algorithm: &str, secret: &str, data: &str) -> String {
    let key = PKey::hmac(secret.as_bytes()).expect("an HMAC key");
    let mut signer = Signer::new(digest(algorithm), &key).expect("a signer");
    signer.update(data.as_bytes()).expect("sign");
    base64::engine::general_purpose::STANDARD.encode(signer.sign_to_vec().expect("the MAC"))
}

/// A signed request: `Date` (at `date`), the listed `headers` (besides `date` and `request-line`) with
/// their values, and the `Authorization` of `user` signing them with `algorithm` and `secret`.
struct Signed<'a> {
    method: Method,
    path: &'a str,
    algorithm: &'a str,
    user: &'a str,
    secret: &'a str,
    date: SystemTime,
    extra: Vec<(&'a str, String)>,
    names: &'a str,
}

impl<'a> Signed<'a> {
    fn get(path: &'a str, algorithm: &'a str) -> Self {
        Signed {
            method: Method::GET,
            path,
            algorithm,
            user: "bob-hmac",
            secret: SECRET,
            date: SystemTime::now(),
            extra: Vec::new(),
            names: "date request-line",
        }
    }

    fn authorization(&self) -> String {
        let date = httpdate::fmt_http_date(self.date);
        let lines: Vec<String> = (self.names.split(' '))
            .map(|n| match n {
                "date" => format!("date: {date}"),
                "request-line" => format!("{} {} HTTP/1.1", self.method, self.path),
                other => {
                    let v = &self
                        .extra
                        .iter()
                        .find(|(k, _)| *k == other)
                        .expect("a value for each signed header")
                        .1;
                    format!("{other}: {v}")
                }
            })
            .collect();
        let signature = hmac_b64(self.algorithm, self.secret, &lines.join("\n"));
        format!(
            r#"hmac username="{}", algorithm="{}", headers="{}", signature="{signature}""#,
            self.user, self.algorithm, self.names
        )
    }

    fn request(&self, gw: &Gateway, header: &str) -> RequestBuilder {
        let mut req = client()
            .request(
                self.method.clone(),
                format!("{}{}", gw.proxy_url(), self.path),
            )
            .header("Date", httpdate::fmt_http_date(self.date))
            .header(header, self.authorization());
        for (k, v) in &self.extra {
            req = req.header(*k, v);
        }
        req
    }

    fn send(&self, gw: &Gateway) -> Reply {
        send(self.request(gw, "Authorization"))
    }
}

/// The consumer headers httpbin echoed: id, custom id, username, credential, anonymous.
fn identity(echo: &Value) -> [Option<&str>; 5] {
    [
        "X-Consumer-Id",
        "X-Consumer-Custom-Id",
        "X-Consumer-Username",
        "X-Credential-Identifier",
        "X-Anonymous-Consumer",
    ]
    .map(|h| echo["headers"][h].as_str())
}

const BOB: [Option<&str>; 5] = [
    Some(BOB_ID),
    Some("c-bob"),
    Some("bob"),
    Some("bob-hmac"),
    None,
];

#[track_caller]
fn assert_refused(r: &Reply, body: &str, challenge: &str) {
    assert_eq!((r.status, r.body.as_str()), (401, body), "{r:?}");
    assert_eq!(r.header("www-authenticate"), Some(challenge), "{r:?}");
}

fn sha256_digest(body: &str) -> String {
    let sum = openssl::sha::sha256(body.as_bytes());
    format!(
        "SHA-256={}",
        base64::engine::general_purpose::STANDARD.encode(sum)
    )
}

#[test]
fn hmac_auth_through_the_gateway() {
    let httpbin = Httpbin::start();
    let gw = Gateway::start(&e2e::to_yaml(&config(Ports::free(), &httpbin.url())));

    // Each algorithm; httpbin sees the consumer headers and, without hide_credentials, the Authorization.
    for algorithm in ["hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"] {
        let echo = assert_echo(&Signed::get("/plain?a=1", algorithm).send(&gw), algorithm);
        assert_eq!(identity(&echo), BOB, "{algorithm}: {echo}");
        assert!(echo["headers"]["Authorization"]
            .as_str()
            .unwrap()
            .starts_with("hmac "));
    }
    // Proxy-Authorization is read too.
    let r = send(Signed::get("/plain", "hmac-sha256").request(&gw, "Proxy-Authorization"));
    assert_eq!(identity(&assert_echo(&r, "proxy-authorization")), BOB);

    // Kong's refusals.
    let wrong = Signed {
        secret: "not the secret",
        ..Signed::get("/plain", "hmac-sha256")
    };
    assert_refused(&wrong.send(&gw), NOT_SAME, "hmac");
    let unknown = Signed {
        user: "carol",
        ..Signed::get("/plain", "hmac-sha256")
    };
    assert_refused(&unknown.send(&gw), NOT_VALID, "hmac");
    let get = |path: &str| client().get(format!("{}{path}", gw.proxy_url()));
    let auth = Signed::get("/plain", "hmac-sha256").authorization();
    assert_refused(
        &send(get("/plain").header("Authorization", &auth)),
        CLOCK_SKEW,
        "hmac",
    );
    let stale = Signed {
        date: SystemTime::now() - Duration::from_secs(600),
        ..Signed::get("/plain", "hmac-sha1")
    };
    assert_refused(&stale.send(&gw), CLOCK_SKEW, "hmac");
    assert_refused(
        &send(get("/plain").header("Date", httpdate::fmt_http_date(SystemTime::now()))),
        r#"{"message":"Unauthorized"}"#,
        "hmac",
    );

    // enforce_headers and algorithms.
    assert_eq!(Signed::get("/enforce", "hmac-sha256").send(&gw).status, 200);
    let date_only = Signed {
        names: "date",
        ..Signed::get("/enforce", "hmac-sha256")
    };
    assert_refused(&date_only.send(&gw), NOT_VALID, "hmac");
    assert_refused(
        &Signed::get("/enforce", "hmac-sha512").send(&gw),
        NOT_VALID,
        "hmac",
    );

    // validate_request_body: the Digest of a body of any type.
    let post = |body: &str, digest: &str| {
        let signed = Signed {
            method: Method::POST,
            extra: vec![("digest", digest.to_owned())],
            names: "date request-line digest",
            ..Signed::get("/body", "hmac-sha256")
        };
        send(
            signed
                .request(&gw, "Authorization")
                .header("Content-Type", "text/plain")
                .body(body.to_owned()),
        )
    };
    let echo = assert_echo(
        &post("hello hmac", &sha256_digest("hello hmac")),
        "good digest",
    );
    assert_eq!(
        echo["data"], "hello hmac",
        "the body still reaches the upstream: {echo}"
    );
    assert_refused(
        &post("hello hmac", &sha256_digest("another body")),
        NOT_SAME,
        "hmac",
    );
    assert_eq!(
        Signed::get("/body", "hmac-sha1").send(&gw).status,
        200,
        "no body, no digest"
    );

    // hide_credentials and realm.
    let echo = assert_echo(&Signed::get("/hide", "hmac-sha384").send(&gw), "hidden");
    assert_eq!(echo["headers"]["Authorization"], Value::Null, "{echo}");
    assert_eq!(identity(&echo), BOB, "{echo}");
    assert_refused(
        &wrong_at(&gw, "/hide"),
        NOT_SAME,
        r#"hmac realm="hmac-realm""#,
    );

    // anonymous.
    let anonymous = [Some(ANON_ID), None, Some("anonymous"), None, Some("true")];
    let echo = assert_echo(&send(get("/anon")), "anonymous");
    assert_eq!(identity(&echo), anonymous, "{echo}");
    let echo = assert_echo(&wrong_at(&gw, "/anon"), "anonymous, wrong signature");
    assert_eq!(identity(&echo), anonymous, "{echo}");
    assert_eq!(
        identity(&assert_echo(
            &Signed::get("/anon", "hmac-sha1").send(&gw),
            "anon, good"
        )),
        BOB
    );

    admin_api(&gw);
    let log = gw.log();
    assert!(
        !log.contains(SECRET) && !log.contains("signature=\""),
        "a secret in the log"
    );
}

fn wrong_at(gw: &Gateway, path: &str) -> Reply {
    Signed {
        secret: "wrong",
        ..Signed::get(path, "hmac-sha256")
    }
    .send(gw)
}

/// `/consumers/{c}/hmac-auth` and `/hmac-auths`: create (with a generated secret), list, use, delete.
fn admin_api(gw: &Gateway) {
    let admin = gw.admin_url();
    let (s, created) = json_req(
        Method::POST,
        &format!("{admin}/consumers/bob/hmac-auth"),
        json!({"username": "bob-new", "tags": ["t1"]}),
    );
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["consumer"]["id"], BOB_ID);
    let secret = created["secret"]
        .as_str()
        .expect("a generated secret")
        .to_owned();
    assert_eq!(secret.len(), 32, "{created}");
    let (s, e) = json_req(
        Method::POST,
        &format!("{admin}/consumers/bob/hmac-auth"),
        json!({}),
    );
    assert_eq!(
        (s, &e["fields"]),
        (400, &json!({"username": "required field missing"})),
        "{e}"
    );
    let (s, e) = json_req(
        Method::POST,
        &format!("{admin}/consumers/anonymous/hmac-auth"),
        json!({"username": "bob-new", "secret": "x"}),
    );
    assert_eq!(s, 409, "{e}");

    let (s, list) = get(&format!("{admin}/consumers/bob/hmac-auth"));
    assert_eq!(s, 200, "{list}");
    let names: Vec<&str> = (list["data"].as_array().expect("data").iter())
        .filter_map(|c| c["username"].as_str())
        .collect();
    assert_eq!(names.len(), 2, "{list}");
    assert!(
        names.contains(&"bob-hmac") && names.contains(&"bob-new"),
        "{list}"
    );
    let (s, all) = get(&format!("{admin}/hmac-auths"));
    assert_eq!(
        (s, all["data"].as_array().expect("data").len()),
        (200, 2),
        "{all}"
    );
    let (s, one) = get(&format!("{admin}/hmac-auths/bob-new"));
    assert_eq!((s, &one["secret"]), (200, &json!(secret)), "{one}");

    // The new credential authenticates at once; deleted, it no longer does.
    let with_new = || {
        Signed {
            user: "bob-new",
            secret: &secret,
            ..Signed::get("/plain", "hmac-sha256")
        }
        .send(gw)
    };
    let echo = assert_echo(&with_new(), "new credential");
    assert_eq!(echo["headers"]["X-Credential-Identifier"], "bob-new");
    let (s, _) = call(
        Method::DELETE,
        &format!("{admin}/consumers/bob/hmac-auth/bob-new"),
    );
    assert_eq!(s, 204);
    assert_refused(&with_new(), NOT_VALID, "hmac");
    let (s, _) = get(&format!("{admin}/hmac-auths/bob-new"));
    assert_eq!(s, 404);
}

//! Kong's jwt plugin end to end: the real gateway binary in front of the real httpbin, consumers with
//! `jwt_secrets` (an HS256 secret and an RS256 public key generated per run). Good, forged, expired and
//! unknown tokens get Kong's statuses, bodies and challenges; tokens are read from the Authorization header,
//! the query and a cookie; `anonymous` lets a bad token through as the anonymous consumer; httpbin receives
//! the consumer headers with the jwt key as `X-Credential-Identifier`.

mod common;

use common::{client, routes_config_value, send, Reply};
use e2e::{Gateway, Httpbin, Ports};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const SECRET: &str = "alice-hs-secret";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn hs256(claims: Value, secret: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign HS256")
}

fn echoed<'a>(echo: &'a Value, name: &str) -> Option<&'a str> {
    echo["headers"][name].as_str()
}

#[test]
fn jwt_plugin_end_to_end() {
    let httpbin = Httpbin::start();
    let rsa = openssl::rsa::Rsa::generate(2048).expect("generate an RSA key");
    let public_pem = String::from_utf8(rsa.public_key_to_pem().expect("PEM")).expect("ASCII PEM");
    let rsa_private = EncodingKey::from_rsa_der(&rsa.private_key_to_der().expect("DER"));

    let jwt = |extra: Value| {
        let mut cfg = json!({"claims_to_verify": ["exp"]});
        cfg.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        json!([{"name": "jwt", "config": cfg}])
    };
    let mut config = routes_config_value(
        Ports::free(),
        &httpbin.url(),
        &[("/jwt", None), ("/anon", None), ("/cookie", None)],
    );
    let routes = &mut config["services"][0]["routes"];
    routes[0]["plugins"] = jwt(json!({}));
    routes[1]["plugins"] = jwt(json!({"anonymous": "visitor"}));
    routes[2]["plugins"] = jwt(json!({"cookie_names": ["session"], "realm": "jwt-e2e"}));
    config["consumers"] = json!([
        {"username": "alice", "custom_id": "alice-1", "jwt_secrets": [
            {"key": "alice-hs", "secret": SECRET},
            {"key": "alice-rs", "algorithm": "RS256", "rsa_public_key": public_pem},
        ]},
        {"username": "visitor"},
    ]);
    let gateway = Gateway::start(&e2e::to_yaml(&config));
    let get = |path: &str, auth: Option<&str>| -> Reply {
        let mut req = client().get(format!("{}{path}", gateway.proxy_url()));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        send(req)
    };
    let refused = |r: &Reply, message: &str, what: &str| {
        assert_eq!(r.status, 401, "{what}: {r:?}");
        assert_eq!(r.json(), json!({ "message": message }), "{what}");
        assert_eq!(
            r.header("www-authenticate"),
            Some(r#"Bearer error="invalid_token""#),
            "{what}"
        );
    };
    let exp = now() + 600;

    // A good HS256 token: proxied with the consumer headers, the jwt key as the credential identifier.
    let good = hs256(json!({"iss": "alice-hs", "exp": exp}), SECRET);
    let r = get("/jwt", Some(&format!("Bearer {good}")));
    assert_eq!(r.status, 200, "{r:?}");
    let echo = r.json();
    assert_eq!(echoed(&echo, "X-Consumer-Username"), Some("alice"));
    assert_eq!(echoed(&echo, "X-Consumer-Custom-Id"), Some("alice-1"));
    assert_eq!(echoed(&echo, "X-Credential-Identifier"), Some("alice-hs"));
    assert_eq!(echoed(&echo, "X-Anonymous-Consumer"), None);

    // No token, a forged signature, an expired token, an unknown or missing iss.
    let r = get("/jwt", None);
    assert_eq!(
        (r.status, r.body.as_str()),
        (401, r#"{"message":"Unauthorized"}"#)
    );
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let forged = hs256(json!({"iss": "alice-hs", "exp": exp}), "not-the-secret");
    refused(
        &get("/jwt", Some(&format!("Bearer {forged}"))),
        "Invalid signature",
        "forged",
    );
    let expired = hs256(json!({"iss": "alice-hs", "exp": now() - 10}), SECRET);
    let r = get("/jwt", Some(&format!("Bearer {expired}")));
    assert_eq!(
        (r.status, r.body.as_str()),
        (401, r#"{"exp":"token expired"}"#),
        "{r:?}"
    );
    let unknown = hs256(json!({"iss": "mallory", "exp": exp}), SECRET);
    refused(
        &get("/jwt", Some(&format!("Bearer {unknown}"))),
        "No credentials found for given 'iss'",
        "unknown iss",
    );
    let no_iss = hs256(json!({"sub": "alice", "exp": exp}), SECRET);
    refused(
        &get("/jwt", Some(&format!("Bearer {no_iss}"))),
        "No mandatory 'iss' in claims",
        "no iss",
    );
    refused(
        &get("/jwt", Some("Bearer a.b.c")),
        "Bad token; invalid JSON",
        "garbage",
    );
    // The secret never shows in an answer.
    assert!(!r.everything().contains(SECRET));

    // RS256 with the consumer's PEM public key; the same claims signed HS256 with that PEM are refused.
    let claims = json!({"iss": "alice-rs", "exp": exp});
    let rs = encode(&Header::new(Algorithm::RS256), &claims, &rsa_private).expect("sign RS256");
    let r = get("/jwt", Some(&format!("Bearer {rs}")));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        echoed(&r.json(), "X-Credential-Identifier"),
        Some("alice-rs")
    );
    let confused = hs256(claims, &public_pem);
    refused(
        &get("/jwt", Some(&format!("Bearer {confused}"))),
        "Invalid algorithm",
        "alg confusion",
    );

    // From the query (`jwt`) and a cookie.
    let r = get(&format!("/jwt?jwt={good}"), None);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(echoed(&r.json(), "X-Consumer-Username"), Some("alice"));
    let r = send(
        client()
            .get(format!("{}/cookie", gateway.proxy_url()))
            .header("cookie", format!("theme=dark; session={good}")),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        echoed(&r.json(), "X-Credential-Identifier"),
        Some("alice-hs")
    );
    let r = send(
        client()
            .get(format!("{}/cookie", gateway.proxy_url()))
            .header("cookie", format!("session={unknown}")),
    );
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Bearer realm="jwt-e2e", error="invalid_token""#)
    );

    // anonymous: a bad token goes through as the anonymous consumer; a good one as its own.
    let r = get("/anon", Some(&format!("Bearer {forged}")));
    assert_eq!(r.status, 200, "{r:?}");
    let echo = r.json();
    assert_eq!(echoed(&echo, "X-Consumer-Username"), Some("visitor"));
    assert_eq!(echoed(&echo, "X-Anonymous-Consumer"), Some("true"));
    assert_eq!(echoed(&echo, "X-Credential-Identifier"), None);
    let r = get("/anon", Some(&format!("Bearer {good}")));
    assert_eq!(echoed(&r.json(), "X-Consumer-Username"), Some("alice"));
}

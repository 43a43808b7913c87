//! `bearer` end to end: Glewlwyd's JWT access tokens (RS256, `typ: at+jwt`) verified by the built gateway
//! against the IdP's JWKS, with no introspection call; forged, expired, foreign and `alg`-confused tokens
//! refused; a key rotation at the running Glewlwyd followed with one JWKS fetch. One IdP, one httpbin and
//! one gateway per test.

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::{assert_401, assert_403, assert_echo, client, routes_config_value, send, Reply};
use e2e::metrics::{idp_requests, introspection_calls};
use e2e::{oidc_config, Gateway, Httpbin, Idp, Ports, JANE, JOHN, SHORT_TOKEN_SECONDS};
use serde_json::{json, Value};

struct Servers {
    gateway: Gateway,
    _httpbin: Httpbin,
    idp: Idp,
}

impl Servers {
    /// A gateway with `routes` in front of `httpbin`, kept with the servers it needs.
    fn start(idp: Idp, httpbin: Httpbin, routes: &[(&str, Option<Value>)]) -> Servers {
        let config = routes_config_value(Ports::free(), &httpbin.url(), routes);
        Servers {
            gateway: Gateway::start(&e2e::to_yaml(&config)),
            _httpbin: httpbin,
            idp,
        }
    }

    fn get(&self, path: &str, token: &str) -> Reply {
        send(
            client()
                .get(format!("{}{path}", self.gateway.proxy_url()))
                .bearer_auth(token),
        )
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A DER length.
fn der_len(n: usize) -> Vec<u8> {
    if n < 0x80 {
        return vec![n as u8];
    }
    let bytes: Vec<u8> = n
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    let mut out = vec![0x80 | bytes.len() as u8];
    out.extend(bytes);
    out
}

fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_len(body.len()));
    out.extend_from_slice(body);
    out
}

/// The PEM (SubjectPublicKeyInfo) of an RSA JWK: what an attacker would use as the HMAC secret.
fn rsa_public_pem(jwk: &Value) -> String {
    let d = |k: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwk[k].as_str().expect("n and e are strings"))
            .expect("n and e are base64url")
    };
    let int = |mut v: Vec<u8>| {
        if v[0] & 0x80 != 0 {
            v.insert(0, 0);
        }
        der(0x02, &v)
    };
    let rsa_key = der(0x30, &[int(d("n")), int(d("e"))].concat());
    let mut bits = vec![0u8];
    bits.extend(rsa_key);
    let alg = der(
        0x30,
        &[
            der(
                0x06,
                &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01],
            ),
            vec![0x05, 0x00],
        ]
        .concat(),
    );
    let spki = der(0x30, &[alg, der(0x03, &bits)].concat());
    let b = base64::engine::general_purpose::STANDARD.encode(spki);
    let lines: Vec<&str> = b
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

fn jwks(idp: &Idp) -> Value {
    let r = send(client().get(format!("{}/jwks", idp.issuer())));
    assert_eq!(r.status, 200, "{r:?}");
    r.json()
}

fn parts(token: &str) -> (Value, Value) {
    let p: Vec<&str> = token.split('.').collect();
    assert_eq!(p.len(), 3, "Glewlwyd's access tokens are JWS: {token:.20}…");
    let json = |s: &str| -> Value {
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .expect("base64url parts"),
        )
        .expect("JSON parts")
    };
    (json(p[0]), json(p[1]))
}

#[test]
fn glewlwyd_jwts_are_verified_locally_and_forgeries_refused() {
    let (idp, httpbin) = e2e::start_idp_and_httpbin();
    let bearer = |extra: Value| oidc_config(idp.issuer(), &["bearer"], extra);
    let routes = vec![
        ("/jwt", Some(bearer(json!({})))),
        (
            "/scoped",
            Some(bearer(json!({"scopes_required": ["openid read", "admin"]}))),
        ),
        (
            "/short",
            Some(bearer(json!({"issuers_allowed": [idp.short_issuer()]}))),
        ),
        (
            "/revocable",
            Some(bearer(
                json!({"introspect_jwt_tokens": true, "cache_introspection": false}),
            )),
        ),
    ];
    let s = Servers::start(idp, httpbin, &routes);
    let admin = s.gateway.admin_url();

    // A real access token: verified, forwarded as presented, without introspection.
    let token = s.idp.password_token(JOHN.0, JOHN.1);
    let (header, claims) = parts(&token);
    assert_eq!(header["typ"], "at+jwt", "{header}");
    assert_eq!(claims["iss"], s.idp.issuer());
    for _ in 0..3 {
        let echo = assert_echo(&s.get("/jwt", &token), "Glewlwyd's JWT");
        assert_eq!(echo["headers"]["Authorization"], format!("Bearer {token}"));
    }
    assert_echo(&s.get("/scoped", &token), "john has openid read");
    assert_403(
        &s.get("/scoped", &s.idp.password_token(JANE.0, JANE.1)),
        "jane has only openid",
    );
    assert_eq!(introspection_calls(&admin), 0, "bearer never introspects");
    // Keys are cached per plugin config: one fetch for /jwt, one for /scoped.
    assert_eq!(
        idp_requests(&admin, "jwks"),
        2,
        "keys fetched once per config"
    );

    // Tampered signature and tampered payload.
    let (head, sig) = token.rsplit_once('.').expect("a JWS");
    let flipped = if sig.starts_with('A') { 'B' } else { 'A' };
    assert_401(
        &s.get("/jwt", &format!("{head}.{flipped}{}", &sig[1..])),
        "tampered signature",
    );
    let mut forged_claims = claims.clone();
    forged_claims["scope"] = json!("openid read admin");
    let p: Vec<&str> = token.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        p[0],
        b64(forged_claims.to_string().as_bytes()),
        p[2]
    );
    assert_401(&s.get("/jwt", &forged), "tampered payload");

    // alg none, with and without the original signature.
    let none = b64(br#"{"alg":"none","typ":"at+jwt"}"#);
    assert_401(&s.get("/jwt", &format!("{none}.{}.", p[1])), "alg none");
    assert_401(
        &s.get("/jwt", &format!("{none}.{}.{}", p[1], p[2])),
        "alg none, signature kept",
    );

    // HS256 keyed with the IdP's RSA public key (PEM and DER), same kid.
    let keys = jwks(&s.idp);
    let rsa = keys["keys"]
        .as_array()
        .expect("keys array")
        .iter()
        .find(|k| k["kty"] == "RSA")
        .expect("an RSA key in the JWKS")
        .clone();
    let pem = rsa_public_pem(&rsa);
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.kid = header["kid"].as_str().map(str::to_owned);
    hs.typ = Some("at+jwt".into());
    for secret in [pem.as_bytes().to_vec(), pem.trim_end().as_bytes().to_vec()] {
        let t = jsonwebtoken::encode(
            &hs,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .expect("encode");
        assert_401(&s.get("/jwt", &t), "HS256 with the RSA public key");
    }

    // Wrong iss: the short instance signs with the same key under another issuer. Accepted only where
    // issuers_allowed lists it, until it expires.
    let short = s.idp.short_lived_token(JOHN.0, JOHN.1);
    let (_, short_claims) = parts(&short);
    assert_eq!(short_claims["iss"], s.idp.short_issuer());
    assert_echo(
        &s.get("/short", &short),
        "issuers_allowed has the short issuer",
    );
    assert_401(&s.get("/jwt", &short), "wrong iss");
    std::thread::sleep(Duration::from_secs(SHORT_TOKEN_SECONDS + 1));
    assert_401(&s.get("/short", &short), "expired");

    assert_eq!(
        introspection_calls(&admin),
        0,
        "not even for the refused ones"
    );

    // introspect_jwt_tokens: a verified JWT is introspected too, so its revocation counts.
    let revocable = s.idp.password_token(JOHN.0, JOHN.1);
    assert_echo(&s.get("/revocable", &revocable), "verified and active");
    assert_eq!(introspection_calls(&admin), 1);
    s.idp.revoke(&revocable);
    assert_401(&s.get("/revocable", &revocable), "revoked JWT");
    assert_echo(
        &s.get("/jwt", &revocable),
        "without introspection it still verifies",
    );
    assert_eq!(introspection_calls(&admin), 2);
    assert_eq!(
        idp_requests(&admin, "jwks"),
        4,
        "one more for /short and /revocable; known kids and forged tokens fetch no keys"
    );
    let log = s.gateway.log();
    assert!(!log.contains(&token[..40]), "no token in the log");
}

#[test]
fn a_key_rotation_at_glewlwyd_is_followed_with_one_jwks_fetch() {
    let (idp, httpbin) = e2e::start_idp_and_httpbin();
    // rediscovery_lifetime: the minimum interval between key fetches (kept short so the test needs no
    // long wait between the first fetch and the rotation's).
    let routes = vec![(
        "/jwt",
        Some(oidc_config(
            idp.issuer(),
            &["bearer"],
            json!({"rediscovery_lifetime": 0.5}),
        )),
    )];
    let s = Servers::start(idp, httpbin, &routes);
    let admin = s.gateway.admin_url();

    let before = s.idp.password_token(JOHN.0, JOHN.1);
    let old_kid = parts(&before).0["kid"].clone();
    assert_echo(&s.get("/jwt", &before), "signed with the first key");
    assert_eq!(idp_requests(&admin, "jwks"), 1);

    std::thread::sleep(Duration::from_millis(600)); // past the fetch rate limit
    let kids = s.idp.rotate_signing_key();
    assert_eq!(kids.len(), 1, "{kids:?}");
    assert_ne!(json!(kids[0]), old_kid, "a new kid");
    let after = s.idp.password_token(JOHN.0, JOHN.1);
    assert_eq!(
        parts(&after).0["kid"],
        json!(kids[0]),
        "signed with the new key"
    );
    for _ in 0..3 {
        assert_echo(&s.get("/jwt", &after), "signed with the rotated key");
    }
    assert_eq!(
        idp_requests(&admin, "jwks"),
        2,
        "the unknown kid made exactly one fetch"
    );
    // The old key is no longer published: its tokens stop verifying (their kid is unknown now; a refetch,
    // rate limited, does not bring it back).
    assert_401(&s.get("/jwt", &before), "signed with the retired key");
    assert_eq!(introspection_calls(&admin), 0);
}

//! Unit tests of the jwt plugin: every Kong refusal (message, status, challenge), each algorithm family with
//! keys generated here, token retrieval from the query, cookies and headers, anonymous and preflight.

use super::*;
use base64::Engine as _;
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::{RsaPssSaltlen, Signer};
use serde_json::{json, Value};
use std::sync::OnceLock;

use crate::snapshot::Snapshot;

const SECRET: &str = "alice-secret";

struct Keys {
    rsa: PKey<Private>,
    p256: PKey<Private>,
    p384: PKey<Private>,
    p521: PKey<Private>,
    ed25519: PKey<Private>,
    ed448: PKey<Private>,
}

fn ec(nid: Nid) -> PKey<Private> {
    let group = EcGroup::from_curve_name(nid).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        rsa: PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap(),
        p256: ec(Nid::X9_62_PRIME256V1),
        p384: ec(Nid::SECP384R1),
        p521: ec(Nid::SECP521R1),
        ed25519: PKey::generate_ed25519().unwrap(),
        ed448: PKey::generate_ed448().unwrap(),
    })
}

fn public_pem(k: &PKey<Private>) -> String {
    String::from_utf8(k.public_key_to_pem().unwrap()).unwrap()
}

fn snapshot() -> &'static Snapshot {
    static SNAP: OnceLock<Snapshot> = OnceLock::new();
    SNAP.get_or_init(|| {
        let k = keys();
        let private_rsa = String::from_utf8(k.rsa.private_key_to_pem_pkcs8().unwrap()).unwrap();
        let pk = |key: &str, alg: &str, pem: String| {
            json!({"key": key, "algorithm": alg, "rsa_public_key": pem})
        };
        let config = json!({
            "_format_version": "3.0",
            "consumers": [
                {"username": "alice", "jwt_secrets": [
                    {"key": "hs", "secret": SECRET},
                    {"key": "hs384", "secret": SECRET, "algorithm": "HS384"},
                    {"key": "hs512", "secret": SECRET, "algorithm": "HS512"},
                    {"key": "b64", "secret": "c2VjcmV0LWJ5dGVz"},
                    {"key": "std-b64", "secret": "a+b/"},
                    pk("rs256", "RS256", public_pem(&k.rsa)),
                    pk("rs512", "RS512", private_rsa),
                    pk("ps256", "PS256", public_pem(&k.rsa)),
                    pk("es256", "ES256", public_pem(&k.p256)),
                    pk("es384", "ES384", public_pem(&k.p384)),
                    pk("es512", "ES512", public_pem(&k.p521)),
                    pk("ed25519", "EdDSA", public_pem(&k.ed25519)),
                    pk("ed448", "EdDSA", public_pem(&k.ed448)),
                    {"key": "es-nokey", "algorithm": "ES256"},
                    {"key": "es-badkey", "algorithm": "ES256", "rsa_public_key": "not a key"},
                ]},
                {"username": "bob"},
            ],
        })
        .to_string();
        let config = gateway_config::load::parse_str(&config).unwrap();
        let registry = gateway_auth::AuthRegistry::new(&prometheus::Registry::new());
        crate::snapshot::compile(config, "", &registry).unwrap()
    })
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token of `header` and `claims`, signed with `alg` by `key` (a secret for HS).
fn sign_with(
    alg: &str,
    header: &Value,
    claims: &Value,
    secret: &[u8],
    key: Option<&PKey<Private>>,
) -> String {
    use openssl::hash::MessageDigest as D;
    let signed = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let digest = |bits: &str| match bits {
        "256" => D::sha256(),
        "384" => D::sha384(),
        _ => D::sha512(),
    };
    let sig = match (&alg[..2], key) {
        ("HS", _) => {
            let k = PKey::hmac(secret).unwrap();
            let mut s = Signer::new(digest(&alg[2..]), &k).unwrap();
            s.sign_oneshot_to_vec(signed.as_bytes()).unwrap()
        }
        ("RS", Some(k)) => Signer::new(digest(&alg[2..]), k)
            .unwrap()
            .sign_oneshot_to_vec(signed.as_bytes())
            .unwrap(),
        ("PS", Some(k)) => {
            let mut s = Signer::new(digest(&alg[2..]), k).unwrap();
            s.set_rsa_padding(openssl::rsa::Padding::PKCS1_PSS).unwrap();
            s.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH).unwrap();
            s.sign_oneshot_to_vec(signed.as_bytes()).unwrap()
        }
        ("ES", Some(k)) => {
            let der = Signer::new(digest(&alg[2..]), k)
                .unwrap()
                .sign_oneshot_to_vec(signed.as_bytes())
                .unwrap();
            let sig = openssl::ecdsa::EcdsaSig::from_der(&der).unwrap();
            let n = match &alg[2..] {
                "256" => 32,
                "384" => 48,
                _ => 66,
            };
            let mut raw = sig.r().to_vec_padded(n).unwrap();
            raw.extend(sig.s().to_vec_padded(n).unwrap());
            raw
        }
        (_, Some(k)) => Signer::new_without_digest(k)
            .unwrap()
            .sign_oneshot_to_vec(signed.as_bytes())
            .unwrap(),
        _ => unreachable!(),
    };
    format!("{signed}.{}", b64(&sig))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn hs(claims: Value) -> String {
    sign_with(
        "HS256",
        &json!({"typ": "JWT", "alg": "HS256"}),
        &claims,
        SECRET.as_bytes(),
        None,
    )
}

fn plugin(cfg: Value) -> Jwt {
    Jwt::new(Arc::new(JwtConfig::from_value(&cfg).unwrap()))
}

/// The outcome of one request: `Ok(consumer, identifier)` or `Err(status, body, challenge)`.
type Outcome = Result<(Option<usize>, Option<String>, bool), (u16, String, Option<String>)>;

fn run_with(
    p: &Jwt,
    method: &Method,
    uri: &str,
    headers: &[(&str, &str)],
    ex: &mut Exchange,
) -> Outcome {
    let metrics = crate::metrics::Metrics::new(&prometheus::Registry::new()).unwrap();
    let mut map = http::HeaderMap::new();
    for (n, v) in headers {
        map.append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let uri: http::Uri = uri.parse().unwrap();
    let req = Request {
        method,
        uri: &uri,
        headers: &map,
        client_ip: None,
        https: false,
        server_addr: None,
        body: None,
        snap: snapshot(),
        matched: None,
        metrics: &metrics,
    };
    match futures::executor::block_on(p.access(&req, ex).decide()) {
        Flow::Continue => Ok((
            ex.caller.consumer,
            ex.caller
                .credential
                .as_ref()
                .map(|v| v.to_str().unwrap().to_owned()),
            ex.caller.anonymous,
        )),
        Flow::Respond(Reply::Body {
            status,
            headers,
            body,
        }) => {
            let challenge = headers.iter().find(|(n, _)| n == "www-authenticate");
            Err((
                status,
                String::from_utf8(body.to_vec()).unwrap(),
                challenge.map(|(_, v)| v.to_str().unwrap().to_owned()),
            ))
        }
        Flow::Respond(other) => panic!("unexpected reply {other:?}"),
    }
}

fn run(p: &Jwt, uri: &str, headers: &[(&str, &str)]) -> Outcome {
    run_with(p, &Method::GET, uri, headers, &mut Exchange::new())
}

fn bearer_of(token: &str) -> String {
    format!("Bearer {token}")
}

fn with_token(p: &Jwt, token: &str) -> Outcome {
    run(p, "/", &[("authorization", &bearer_of(token))])
}

const INVALID: &str = "Bearer error=\"invalid_token\"";

fn refused(message: &str) -> Outcome {
    Err((
        401,
        json!({ "message": message }).to_string(),
        Some(INVALID.into()),
    ))
}

fn allowed(key: &str) -> Outcome {
    Ok((Some(0), Some(key.into()), false))
}

#[test]
fn every_algorithm_family_verifies_with_the_credentials_key() {
    let k = keys();
    let p = plugin(json!({}));
    let cases: &[(&str, &str, Option<&PKey<Private>>)] = &[
        ("hs", "HS256", None),
        ("hs384", "HS384", None),
        ("hs512", "HS512", None),
        ("rs256", "RS256", Some(&k.rsa)),
        ("rs512", "RS512", Some(&k.rsa)),
        ("ps256", "PS256", Some(&k.rsa)),
        ("es256", "ES256", Some(&k.p256)),
        ("es384", "ES384", Some(&k.p384)),
        ("es512", "ES512", Some(&k.p521)),
        ("ed25519", "EdDSA", Some(&k.ed25519)),
        ("ed448", "EdDSA", Some(&k.ed448)),
    ];
    for (iss, alg, key) in cases {
        let header = json!({"typ": "JWT", "alg": alg});
        let good = sign_with(alg, &header, &json!({"iss": iss}), SECRET.as_bytes(), *key);
        assert_eq!(with_token(&p, &good), allowed(iss), "{iss}");
        // Another key (or another payload under the same signature) is refused.
        let (signed, sig) = good.rsplit_once('.').unwrap();
        let (h, _) = signed.split_once('.').unwrap();
        let forged = format!(
            "{h}.{}.{sig}",
            b64(json!({"iss": iss, "admin": true}).to_string().as_bytes())
        );
        assert_eq!(
            with_token(&p, &forged),
            refused("Invalid signature"),
            "{iss}"
        );
    }
}

#[test]
fn the_credentials_algorithm_not_the_tokens_is_used() {
    // HS256 signed with the RSA public key as the secret (the classic confusion): refused before any check.
    let pem = public_pem(&keys().rsa);
    let header = json!({"alg": "HS256"});
    let t = sign_with(
        "HS256",
        &header,
        &json!({"iss": "rs256"}),
        pem.as_bytes(),
        None,
    );
    assert_eq!(
        with_token(&plugin(json!({})), &t),
        refused("Invalid algorithm")
    );
    let none = format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(br#"{"iss":"hs"}"#));
    assert_eq!(
        with_token(&plugin(json!({})), &none),
        refused("Bad token; invalid alg")
    );
}

#[test]
fn kongs_refusals_of_the_token_itself() {
    let p = plugin(json!({}));
    assert_eq!(
        run(&p, "/", &[]),
        Err((
            401,
            r#"{"message":"Unauthorized"}"#.into(),
            Some("Bearer".into())
        ))
    );
    assert_eq!(
        with_token(&p, "not-a-jwt"),
        refused("Bad token; invalid JSON")
    );
    assert_eq!(with_token(&p, "a.b"), refused("Bad token; invalid JSON"));
    let h = b64(br#"{"alg":"HS256"}"#);
    assert_eq!(
        with_token(&p, &format!("{h}.{}.x", b64(b"false"))),
        refused("Bad token; invalid claims")
    );
    assert_eq!(
        with_token(&p, &format!("{h}.{}.a*b", b64(br#"{"iss":"hs"}"#))),
        refused("Bad token; invalid signature")
    );
    assert_eq!(
        with_token(&p, &format!("{}.{}.x", b64(b"1"), b64(b"{}")))
            .unwrap_err()
            .0,
        500
    );
    assert_eq!(
        with_token(&p, &hs(json!({"sub": "x"}))),
        refused("No mandatory 'iss' in claims")
    );
    assert_eq!(
        with_token(&p, &hs(json!({"iss": ""}))),
        refused("Invalid 'iss' in claims")
    );
    assert_eq!(
        with_token(&p, &hs(json!({"iss": "nobody"}))),
        refused("No credentials found for given 'iss'")
    );
    let wrong = sign_with(
        "HS256",
        &json!({"alg": "HS256"}),
        &json!({"iss": "hs"}),
        b"other",
        None,
    );
    assert_eq!(with_token(&p, &wrong), refused("Invalid signature"));
    // Kong asserts the raw ECDSA length (a 500) and refuses a credential without a key.
    let es = format!(
        "{}.{}.{}",
        b64(br#"{"alg":"ES256"}"#),
        b64(br#"{"iss":"es256"}"#),
        b64(&[0; 10])
    );
    assert_eq!(with_token(&p, &es).unwrap_err().0, 500);
    let nokey = format!(
        "{}.{}.{}",
        b64(br#"{"alg":"ES256"}"#),
        b64(br#"{"iss":"es-nokey"}"#),
        b64(&[0; 64])
    );
    assert_eq!(with_token(&p, &nokey), refused("Invalid key/secret"));
    let badkey = nokey.replace(
        &b64(br#"{"iss":"es-nokey"}"#),
        &b64(br#"{"iss":"es-badkey"}"#),
    );
    assert_eq!(with_token(&p, &badkey).unwrap_err().0, 500);
    // The key claim is looked up in the header when the claims lack it, and can be another claim.
    let in_header = sign_with(
        "HS256",
        &json!({"alg": "HS256", "iss": "hs"}),
        &json!({}),
        SECRET.as_bytes(),
        None,
    );
    assert_eq!(with_token(&p, &in_header), allowed("hs"));
    let kid = plugin(json!({"key_claim_name": "kid"}));
    assert_eq!(with_token(&kid, &hs(json!({"kid": "hs"}))), allowed("hs"));
    assert_eq!(
        with_token(&kid, &hs(json!({"iss": "hs"}))),
        refused("No mandatory 'kid' in claims")
    );
}

#[test]
fn registered_claims_and_maximum_expiration() {
    let p = plugin(json!({"claims_to_verify": ["nbf", "exp"]}));
    let claims = |body: &str| Err((401, body.to_string(), Some(INVALID.to_string())));
    let t = now();
    assert_eq!(
        with_token(&p, &hs(json!({"iss": "hs"}))),
        claims(r#"{"nbf":"must be a number","exp":"must be a number"}"#)
    );
    assert_eq!(
        with_token(&p, &hs(json!({"iss": "hs", "nbf": t - 10, "exp": t - 10}))),
        claims(r#"{"exp":"token expired"}"#)
    );
    assert_eq!(
        with_token(&p, &hs(json!({"iss": "hs", "nbf": t + 5, "exp": t + 10}))),
        claims(r#"{"nbf":"token not valid yet"}"#)
    );
    assert_eq!(
        with_token(&p, &hs(json!({"iss": "hs", "nbf": t, "exp": t + 60}))),
        allowed("hs")
    );
    let max = plugin(json!({"claims_to_verify": ["exp"], "maximum_expiration": 300}));
    assert_eq!(
        with_token(&max, &hs(json!({"iss": "hs", "exp": t + 3600}))),
        claims(r#"{"exp":"exceeds maximum allowed expiration"}"#)
    );
    assert_eq!(
        with_token(&max, &hs(json!({"iss": "hs", "exp": t + 270}))),
        allowed("hs")
    );
    // Not verified unless asked: an expired token passes a plugin with no claims_to_verify (as Kong).
    assert_eq!(
        with_token(&plugin(json!({})), &hs(json!({"iss": "hs", "exp": t - 10}))),
        allowed("hs")
    );
}

#[test]
fn tokens_from_query_cookies_and_headers() {
    let good = hs(json!({"iss": "hs"}));
    let p = plugin(
        json!({"cookie_names": ["crumble", "silly"], "header_names": ["authorization", "customauthorization"]}),
    );
    assert_eq!(run(&p, &format!("/?a=1&jwt={good}"), &[]), allowed("hs"));
    let custom = plugin(json!({"uri_param_names": ["token"]}));
    assert_eq!(run(&custom, &format!("/?token={good}"), &[]), allowed("hs"));
    assert_eq!(
        run(&p, "/", &[("cookie", &format!("a=b; silly={good}"))]),
        allowed("hs")
    );
    assert_eq!(
        run(&p, "/", &[("customauthorization", &bearer_of(&good))]),
        allowed("hs")
    );
    // The same token twice is one token; two different ones are refused; a bare argument is not a token.
    assert_eq!(
        run(
            &p,
            &format!("/?jwt={good}"),
            &[("authorization", &bearer_of(&good))]
        ),
        allowed("hs")
    );
    let other = hs(json!({"iss": "hs", "n": 1}));
    assert_eq!(
        run(
            &p,
            &format!("/?jwt={other}"),
            &[("authorization", &bearer_of(&good))]
        ),
        refused("Multiple tokens provided")
    );
    assert_eq!(run(&p, "/?jwt", &[]), refused("Unrecognizable token"));
    assert_eq!(
        run(&p, "/?jwt=", &[]).unwrap_err().1,
        r#"{"message":"Unauthorized"}"#
    );
    // A header without `Bearer` is no token.
    assert_eq!(
        run(&p, "/", &[("authorization", &good)]).unwrap_err().1,
        r#"{"message":"Unauthorized"}"#
    );
    assert_eq!(bearer("bearer   abc def"), Some("abc def"));
    assert_eq!(bearer("Token x, Bearer abc"), Some("abc"));
    assert_eq!(bearer("Bearer"), None);
    assert_eq!(bearer("Bearerabc"), None);
}

#[test]
fn secret_is_base64_signs_with_the_decoded_secret() {
    let p = plugin(json!({"secret_is_base64": true}));
    let t = sign_with(
        "HS256",
        &json!({"alg": "HS256"}),
        &json!({"iss": "b64"}),
        b"secret-bytes",
        None,
    );
    assert_eq!(with_token(&p, &t), allowed("b64"));
    assert_eq!(
        with_token(&plugin(json!({})), &t),
        refused("Invalid signature")
    );
    // A secret in the standard alphabet is not base64url (Kong's decoder): no key to verify with.
    let t = sign_with(
        "HS256",
        &json!({"alg": "HS256"}),
        &json!({"iss": "std-b64"}),
        b"a+b/",
        None,
    );
    assert_eq!(with_token(&p, &t), refused("Invalid key/secret"));
}

#[test]
fn anonymous_preflight_and_realm() {
    let anon = plugin(json!({"anonymous": "bob"}));
    assert_eq!(with_token(&anon, "garbage"), Ok((Some(1), None, true)));
    assert_eq!(with_token(&anon, &hs(json!({"iss": "hs"}))), allowed("hs"));
    // Logical OR: an earlier plugin's credential stands.
    let mut ex = Exchange::new();
    authenticated(&mut ex, 1, None);
    assert_eq!(
        run_with(&anon, &Method::GET, "/", &[], &mut ex),
        Ok((Some(1), None, false))
    );
    let missing = plugin(json!({"anonymous": "nobody"}));
    assert_eq!(with_token(&missing, "garbage").unwrap_err().0, 500);
    let preflight = plugin(json!({"run_on_preflight": false}));
    assert_eq!(
        run_with(&preflight, &Method::OPTIONS, "/", &[], &mut Exchange::new()),
        Ok((None, None, false))
    );
    assert_eq!(
        run_with(
            &plugin(json!({})),
            &Method::OPTIONS,
            "/",
            &[],
            &mut Exchange::new()
        )
        .unwrap_err()
        .0,
        401
    );
    let realm = plugin(json!({"realm": "test-jwt"}));
    assert_eq!(
        run(&realm, "/", &[]).unwrap_err().2.as_deref(),
        Some("Bearer realm=\"test-jwt\"")
    );
    assert_eq!(
        with_token(&realm, "x").unwrap_err().2.as_deref(),
        Some("Bearer realm=\"test-jwt\", error=\"invalid_token\"")
    );
}

//! DPoP (RFC 9449) against a real IdP: oidc-provider binds a client_credentials token to the key of the proof
//! sent with the token request (`cnf.jkt` in its introspection answer). The test makes its proofs itself
//! with a fresh P-256 key. A bound token passes with a good proof (and goes upstream as a plain bearer token
//! without the `DPoP` header), and is refused — 401 with RFC 9449's `WWW-Authenticate: DPoP` errors — with no
//! proof, another key, a wrong `htu`/`htm`, a replayed `jti`, a stale `iat`, or as a bearer token; the IdP is
//! asked once per token whatever is refused. `optional` lets unbound bearer tokens through; the server nonce
//! round trip (`use_dpop_nonce`, `DPoP-Nonce`) works. RFC 9728: the protected resource metadata document is
//! served at its path-suffixed well-known URL and linked from the 401. One IdP, one httpbin, one gateway.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use common::{assert_echo, client, routes_config_value, send, Reply};
use e2e::metrics::introspection_calls;
use e2e::oidc_provider::{OidcProvider, OP_CLIENT};
use e2e::{Gateway, Httpbin, Ports};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use serde_json::{json, Value};

/// A client's DPoP key (P-256) and its public JWK.
struct DpopKey {
    encoding: EncodingKey,
    jwk: Value,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl DpopKey {
    fn new() -> DpopKey {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("test setup");
        let ec = EcKey::generate(&group).expect("test setup");
        let (mut x, mut y) = (
            BigNum::new().expect("test setup"),
            BigNum::new().expect("test setup"),
        );
        let mut ctx = BigNumContext::new().expect("test setup");
        ec.public_key()
            .affine_coordinates(&group, &mut x, &mut y, &mut ctx)
            .expect("test setup");
        let der = PKey::from_ec_key(ec)
            .expect("test setup")
            .private_key_to_pkcs8()
            .expect("test setup");
        DpopKey {
            encoding: EncodingKey::from_ec_der(&der),
            jwk: json!({"kty": "EC", "crv": "P-256",
                "x": b64(&x.to_vec_padded(32).expect("test setup")), "y": b64(&y.to_vec_padded(32).expect("test setup"))}),
        }
    }

    /// A proof for `htm htu` (with `ath` of `token`, when given), `iat` shifted by `age` seconds into the past.
    fn proof(&self, htm: &str, htu: &str, token: Option<&str>, age: i64, extra: Value) -> String {
        let mut h = Header::new(Algorithm::ES256);
        h.typ = Some("dpop+jwt".into());
        h.jwk = Some(serde_json::from_value(self.jwk.clone()).expect("test setup"));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("test setup")
            .as_secs() as i64;
        let mut claims = json!({"jti": format!("{:032x}", rand_u128()), "htm": htm, "htu": htu,
            "iat": now - age});
        if let Some(t) = token {
            let digest = openssl::sha::sha256(t.as_bytes());
            claims["ath"] = json!(b64(&digest));
        }
        if let Value::Object(m) = extra {
            claims.as_object_mut().expect("test setup").extend(m);
        }
        jsonwebtoken::encode(&h, &claims, &self.encoding).expect("test setup")
    }
}

fn rand_u128() -> u128 {
    let mut b = [0u8; 16];
    openssl::rand::rand_bytes(&mut b).expect("test setup");
    u128::from_le_bytes(b)
}

fn call(gw: &Gateway, method: &str, path: &str, auth: &str, proof: Option<&str>) -> Reply {
    let url = format!("{}{path}", gw.proxy_url());
    let mut req = client()
        .request(method.parse().expect("test setup"), url)
        .header("Authorization", auth);
    if let Some(p) = proof {
        req = req.header("DPoP", p);
    }
    send(req)
}

fn gw_port(gw: &Gateway) -> String {
    gw.proxy_url()
        .rsplit(':')
        .next()
        .expect("a port")
        .to_owned()
}

#[track_caller]
fn assert_dpop_401(r: &Reply, error: &str, what: &str) {
    assert_eq!(r.status, 401, "{what}: {r:?}");
    let www = r.header("www-authenticate").unwrap_or_default();
    assert!(
        www.starts_with(r#"DPoP realm="127.0.0.1""#)
            && www.contains(&format!(r#"error="{error}""#)),
        "{what}: {www}"
    );
    assert!(www.contains(r#"algs="ES256 "#), "{what}: {www}");
}

#[test]
fn dpop_bound_tokens_at_oidc_provider() {
    let op = OidcProvider::start();
    let httpbin = Httpbin::start();
    let plugin = |extra: Value| {
        let mut p = json!({"issuer": op.issuer(), "client_id": [OP_CLIENT.0],
            "client_secret": [OP_CLIENT.1], "auth_methods": ["introspection"]});
        p.as_object_mut()
            .expect("test setup")
            .extend(extra.as_object().expect("test setup").clone());
        p
    };
    let routes = [
        (
            "/strict",
            Some(plugin(json!({"proof_of_possession_dpop": "strict"}))),
        ),
        (
            "/optional",
            Some(plugin(json!({"proof_of_possession_dpop": "optional"}))),
        ),
        (
            "/nonce",
            Some(plugin(
                json!({"proof_of_possession_dpop": "strict", "dpop_use_nonce": true}),
            )),
        ),
    ];
    let ports = Ports::free();
    let resource = format!("http://127.0.0.1:{}/rs", ports.proxy);
    let mut routes = routes.to_vec();
    routes.push((
        "/rs",
        Some(plugin(json!({"proof_of_possession_dpop": "optional",
            "protected_resource_metadata": {"enabled": true, "resource": resource,
                "scopes_supported": ["read"]}}))),
    ));
    let mut config = routes_config_value(ports, &httpbin.url(), &routes);
    let rs_route = &mut config["services"][0]["routes"][3];
    rs_route["paths"] = json!(["/rs", "/.well-known/oauth-protected-resource/rs"]);
    let gw = Gateway::start(&e2e::to_yaml(&config));
    let admin = gw.admin_url();
    let url = |path: &str| format!("{}{path}", gw.proxy_url());

    let key = DpopKey::new();
    let (token, token_type) = op.dpop_token(
        "read",
        &key.proof("POST", &op.token_url(), None, 0, json!({})),
    );
    assert_eq!(token_type, "DPoP", "oidc-provider bound the token");
    let dpop_auth = format!("DPoP {token}");

    // A good proof: allowed, and upstream sees a plain bearer token without the proof.
    let before = introspection_calls(&admin);
    let good = key.proof("GET", &url("/strict"), Some(&token), 0, json!({}));
    let echo = assert_echo(
        &call(&gw, "GET", "/strict", &dpop_auth, Some(&good)),
        "a good proof",
    );
    assert_eq!(
        echo["headers"]["Authorization"],
        json!(format!("Bearer {token}"))
    );
    assert!(echo["headers"].get("Dpop").is_none(), "{echo}");
    // Another fresh proof for the same token: allowed, from the cache.
    let again = key.proof("GET", &url("/strict/x"), Some(&token), 0, json!({}));
    assert_echo(
        &call(&gw, "GET", "/strict/x", &dpop_auth, Some(&again)),
        "fresh proof",
    );

    // Refusals.
    assert_dpop_401(
        &call(&gw, "GET", "/strict", &dpop_auth, Some(&good)),
        "invalid_dpop_proof",
        "a replayed jti",
    );
    assert_dpop_401(
        &call(&gw, "GET", "/strict", &dpop_auth, None),
        "invalid_dpop_proof",
        "no proof",
    );
    let other = DpopKey::new().proof("GET", &url("/strict"), Some(&token), 0, json!({}));
    assert_dpop_401(
        &call(&gw, "GET", "/strict", &dpop_auth, Some(&other)),
        "invalid_token",
        "another key",
    );
    let wrong_htu = key.proof("GET", &url("/elsewhere"), Some(&token), 0, json!({}));
    assert_dpop_401(
        &call(&gw, "GET", "/strict", &dpop_auth, Some(&wrong_htu)),
        "invalid_dpop_proof",
        "wrong htu",
    );
    let wrong_htm = key.proof("POST", &url("/strict"), Some(&token), 0, json!({}));
    assert_dpop_401(
        &call(&gw, "GET", "/strict", &dpop_auth, Some(&wrong_htm)),
        "invalid_dpop_proof",
        "wrong htm",
    );
    let stale = key.proof("GET", &url("/strict"), Some(&token), 600, json!({}));
    assert_dpop_401(
        &call(&gw, "GET", "/strict", &dpop_auth, Some(&stale)),
        "invalid_dpop_proof",
        "stale iat",
    );
    let no_ath = key.proof("GET", &url("/strict"), None, 0, json!({}));
    assert_dpop_401(
        &call(&gw, "GET", "/strict", &dpop_auth, Some(&no_ath)),
        "invalid_dpop_proof",
        "no ath",
    );
    let bearer = format!("Bearer {token}");
    assert_dpop_401(
        &call(&gw, "GET", "/strict", &bearer, Some(&good)),
        "invalid_token",
        "as a bearer (strict)",
    );
    assert_eq!(
        introspection_calls(&admin),
        before + 1,
        "one introspection for the token, whatever was refused"
    );

    // optional: an unbound bearer token passes; the bound one as a bearer does not.
    let plain = op.opaque_token("read");
    assert_echo(
        &call(&gw, "GET", "/optional", &format!("Bearer {plain}"), None),
        "an unbound bearer token",
    );
    assert_dpop_401(
        &call(&gw, "GET", "/optional", &bearer, None),
        "invalid_token",
        "a bound token as a bearer (optional)",
    );
    let p = key.proof("GET", &url("/optional"), Some(&token), 0, json!({}));
    assert_echo(
        &call(&gw, "GET", "/optional", &dpop_auth, Some(&p)),
        "optional, with a proof",
    );

    // The server nonce: asked for, then accepted.
    let first = key.proof("GET", &url("/nonce"), Some(&token), 0, json!({}));
    let r = call(&gw, "GET", "/nonce", &dpop_auth, Some(&first));
    assert_dpop_401(&r, "use_dpop_nonce", "no nonce yet");
    let nonce = r.header("dpop-nonce").expect("a DPoP-Nonce").to_owned();
    let with = key.proof(
        "GET",
        &url("/nonce"),
        Some(&token),
        0,
        json!({ "nonce": nonce }),
    );
    assert_echo(
        &call(&gw, "GET", "/nonce", &dpop_auth, Some(&with)),
        "with the nonce",
    );

    // RFC 9728: the document is served without a token, and every 401 links it.
    let doc = send(client().get(url("/.well-known/oauth-protected-resource/rs")));
    assert_eq!(doc.status, 200, "{doc:?}");
    assert_eq!(
        doc.json(),
        json!({"resource": resource, "authorization_servers": [op.issuer()],
            "scopes_supported": ["read"], "bearer_methods_supported": ["header", "query", "body"],
            "dpop_signing_alg_values_supported": ["ES256", "ES384", "EdDSA", "RS256", "RS384", "RS512",
                "PS256", "PS384", "PS512"],
            "dpop_bound_access_tokens_required": false})
    );
    let r = send(client().get(url("/rs")));
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            format!(
                r#"Bearer realm="127.0.0.1", error="invalid_token", resource_metadata="http://127.0.0.1:{}/.well-known/oauth-protected-resource/rs""#,
                gw_port(&gw)
            )
            .as_str()
        )
    );
    assert_echo(
        &call(&gw, "GET", "/rs", &format!("Bearer {plain}"), None),
        "the protected resource itself",
    );

    // The token and the proofs never reach the log.
    let log = gw.log();
    assert!(!log.contains(&token), "the token in the log");
    assert!(!log.contains(&good), "a proof in the log");
}

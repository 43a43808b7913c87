//! JWT client assertions (RFC 7523, OpenID Connect Core §9): `private_key_jwt` signed with the gateway's key
//! (`client_jwk`), `client_secret_jwt` signed with the client secret (HMAC). A fresh assertion per IdP call:
//! `iss` = `sub` = the client id, `aud` = the endpoint URL called, a random `jti`, `iat` now, `exp` 60 s later.
//!
//! Signing is jsonwebtoken's (ring), the JOSE crate the bearer tokens are verified with; the key comes from
//! the config crate's checked DER form. Keys and secrets never appear in `Debug` output or errors.

use std::time::{SystemTime, UNIX_EPOCH};

use gateway_config::plugins::openid_connect::PrivateKeyDer;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore as _;
use serde::Serialize;

/// Lifetime of one assertion, in seconds.
pub const ASSERTION_LIFETIME_SECS: u64 = 60;

/// `client_assertion_type` of JWT assertions.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Signs client assertions for one client.
#[derive(Clone)]
pub struct AssertionSigner {
    client_id: String,
    header: Header,
    key: EncodingKey,
}

impl std::fmt::Debug for AssertionSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssertionSigner")
            .field("alg", &self.header.alg)
            .field("kid", &self.header.kid)
            .finish_non_exhaustive()
    }
}

impl PartialEq for AssertionSigner {
    fn eq(&self, other: &Self) -> bool {
        // Two signers of one config are the same signer; the key is not compared.
        self.client_id == other.client_id && self.header == other.header
    }
}

impl Eq for AssertionSigner {}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    jti: String,
    iat: u64,
    exp: u64,
}

fn algorithm(name: &str) -> Option<Algorithm> {
    Some(match name {
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

impl AssertionSigner {
    /// `private_key_jwt`: the key (checked at load), its algorithm and `kid`.
    pub fn private_key(
        client_id: &str,
        key: &PrivateKeyDer,
        alg: &str,
        kid: Option<&str>,
    ) -> Result<Self, String> {
        let alg = algorithm(alg).ok_or_else(|| format!("unsupported algorithm {alg}"))?;
        let key = match key {
            PrivateKeyDer::Rsa(der) => EncodingKey::from_rsa_der(der),
            PrivateKeyDer::Ec(_, der) => EncodingKey::from_ec_der(der),
            PrivateKeyDer::Ed(der) => EncodingKey::from_ed_der(der),
        };
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        Ok(AssertionSigner {
            client_id: client_id.to_owned(),
            header,
            key,
        })
    }

    /// `client_secret_jwt`: HMAC with the client secret (`alg` HS256/384/512).
    pub fn client_secret(client_id: &str, secret: &str, alg: &str) -> Result<Self, String> {
        let alg = algorithm(alg)
            .filter(|a| matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
            .ok_or_else(|| format!("{alg} cannot sign a client_secret_jwt assertion"))?;
        Ok(AssertionSigner {
            client_id: client_id.to_owned(),
            header: Header::new(alg),
            key: EncodingKey::from_secret(secret.as_bytes()),
        })
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// A fresh assertion for a call to `aud` (`None` only if signing fails, which a checked key does not).
    pub fn sign(&self, aud: &str) -> Option<String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut jti = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut jti);
        let claims = Claims {
            iss: &self.client_id,
            sub: &self.client_id,
            aud,
            jti: jti.iter().map(|b| format!("{b:02x}")).collect(),
            iat: now,
            exp: now + ASSERTION_LIFETIME_SECS,
        };
        match jsonwebtoken::encode(&self.header, &claims, &self.key) {
            Ok(jwt) => Some(jwt),
            Err(e) => {
                log::error!(
                    "openid-connect client assertion not signed alg={:?} error={e}",
                    self.header.alg
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_config::plugins::openid_connect::client_auth::private_key;
    use gateway_config::plugins::openid_connect::Jwk;
    use jsonwebtoken::{DecodingKey, Validation};
    use serde_json::{json, Value};

    /// A P-256 test key (generated for this test).
    pub(crate) fn ec_jwk() -> Value {
        json!({"kty": "EC", "crv": "P-256", "kid": "gw-1",
               "x": "xka3-pJQjTCPimObeLpbAbVUXydvh0WzgcfH49ur628",
               "y": "r6aIf-r7QnOa-dezkl3r53Qg48NPC7roCnRI9crhEmI",
               "d": "cQDUIzJOxQJl8yCo1G2YimRExtuIKYaCPbeVD26z2WU"})
    }

    #[test]
    fn a_wrong_point_is_refused() {
        let mut v = ec_jwk();
        v["d"] = json!("jpsQnnGQmL-YBIffH1136cLIxdwOd-0-_uL5sa4E0Hw");
        let jwk: Jwk = serde_json::from_value(v).unwrap();
        let e = private_key(&jwk).unwrap_err();
        assert!(!e.contains("jpsQ"), "{e}");
    }

    fn decode(jwt: &str, key: &DecodingKey, alg: Algorithm) -> Value {
        let mut v = Validation::new(alg);
        v.set_audience(&["https://idp.test/token/introspection"]);
        v.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        jsonwebtoken::decode::<Value>(jwt, key, &v).unwrap().claims
    }

    #[test]
    fn private_key_jwt_es256_verifies_with_the_public_key() {
        let jwk: Jwk = serde_json::from_value(ec_jwk()).unwrap();
        let key = private_key(&jwk).unwrap();
        let s = AssertionSigner::private_key("gw", &key, "ES256", Some("gw-1")).unwrap();
        let aud = "https://idp.test/token/introspection";
        let (a, b) = (s.sign(aud).unwrap(), s.sign(aud).unwrap());
        let header = jsonwebtoken::decode_header(&a).unwrap();
        assert_eq!(header.kid.as_deref(), Some("gw-1"));
        assert_eq!(header.alg, Algorithm::ES256);
        let public: jsonwebtoken::jwk::Jwk = serde_json::from_value(
            json!({"kty": "EC", "crv": "P-256", "x": ec_jwk()["x"], "y": ec_jwk()["y"]}),
        )
        .unwrap();
        let dk = DecodingKey::from_jwk(&public).unwrap();
        let (ca, cb) = (
            decode(&a, &dk, Algorithm::ES256),
            decode(&b, &dk, Algorithm::ES256),
        );
        assert_eq!(
            (ca["iss"].as_str(), ca["sub"].as_str()),
            (Some("gw"), Some("gw"))
        );
        assert_ne!(ca["jti"], cb["jti"], "a fresh jti per assertion");
        assert_eq!(
            ca["exp"].as_u64().unwrap() - ca["iat"].as_u64().unwrap(),
            ASSERTION_LIFETIME_SECS
        );
        assert!(!format!("{s:?}").contains(ec_jwk()["d"].as_str().unwrap()));
    }

    #[test]
    fn client_secret_jwt_is_hmac_with_the_secret() {
        let s = AssertionSigner::client_secret("gw", "s3cret", "HS256").unwrap();
        let jwt = s.sign("https://idp.test/token/introspection").unwrap();
        let c = decode(&jwt, &DecodingKey::from_secret(b"s3cret"), Algorithm::HS256);
        assert_eq!(c["iss"], "gw");
        assert!(AssertionSigner::client_secret("gw", "s", "RS256").is_err());
    }
}

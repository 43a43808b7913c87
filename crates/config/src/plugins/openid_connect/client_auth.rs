//! The gateway's own client authentication at the IdP (Kong's `client_jwk`, `client_alg`,
//! `tls_client_auth_cert_id`, `tls_client_auth_ssl_verify`): the signing key as a JWK, checked and turned into
//! the DER form the signer takes (with OpenSSL, already linked by the proxy's TLS), and the load-time rules
//! (a key that does not parse, an algorithm the key cannot do, a method without what it needs).
//!
//! Error messages name the field and the problem, never key material.

use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey, EcPoint};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey};
use openssl::rsa::Rsa;
use serde::{Deserialize, Serialize};

use super::super::fields::{field, DefaultValue as D, Field, Kind};
use super::{err, OidcConfig};
use crate::error::FieldError;

/// A JWK (Kong's `jwk` record): the gateway's signing key for `private_key_jwt` (`client_jwk`). A secret:
/// `Debug` shows only its type, id and algorithm.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Jwk {
    /// Issuer (Kong's field; unused).
    pub issuer: Option<String>,
    /// Key type: `RSA`, `EC` or `OKP`.
    pub kty: Option<String>,
    /// Intended use (`sig`).
    #[serde(rename = "use")]
    pub use_: Option<String>,
    /// Key operations.
    pub key_ops: Option<Vec<String>>,
    /// Algorithm (used when `client_alg` is unset).
    pub alg: Option<String>,
    /// Key id, sent as the assertion's `kid`.
    pub kid: Option<String>,
    /// X.509 URL.
    pub x5u: Option<String>,
    /// X.509 chain.
    pub x5c: Option<Vec<String>>,
    /// X.509 SHA-1 thumbprint.
    pub x5t: Option<String>,
    /// X.509 SHA-256 thumbprint.
    #[serde(rename = "x5t#S256")]
    pub x5t_s256: Option<String>,
    /// Symmetric key (not used: `client_secret_jwt` signs with the client secret).
    pub k: Option<String>,
    /// EC/OKP public x.
    pub x: Option<String>,
    /// EC public y.
    pub y: Option<String>,
    /// Curve: `P-256`, `P-384`, `Ed25519`.
    pub crv: Option<String>,
    /// RSA modulus.
    pub n: Option<String>,
    /// RSA public exponent.
    pub e: Option<String>,
    /// Private exponent / EC or OKP private key.
    pub d: Option<String>,
    /// RSA prime p.
    pub p: Option<String>,
    /// RSA prime q.
    pub q: Option<String>,
    /// RSA d mod (p-1).
    pub dp: Option<String>,
    /// RSA d mod (q-1).
    pub dq: Option<String>,
    /// RSA q⁻¹ mod p.
    pub qi: Option<String>,
    /// RSA other primes (refused: multi-prime keys are not supported).
    pub oth: Option<String>,
    /// Kong's field (unused).
    pub r: Option<String>,
    /// Kong's field (unused).
    pub t: Option<String>,
}

impl std::fmt::Debug for Jwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwk")
            .field("kty", &self.kty)
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The gateway's client certificate chain and key (PEM, key in PKCS#8) for mutual TLS at the IdP. A secret:
/// `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The certificate chain, PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientIdentity(..)")
    }
}

/// The fields of a `client_jwk` entry, in schema order.
pub const JWK_FIELDS: &[Field] = &[
    field("issuer", Kind::Str, D::Null),
    field("kty", Kind::Str, D::Null),
    field("use", Kind::Str, D::Null),
    field("key_ops", Kind::Strings, D::Null),
    field("alg", Kind::Str, D::Null),
    field("kid", Kind::Str, D::Null),
    field("x5u", Kind::Str, D::Null),
    field("x5c", Kind::Strings, D::Null),
    field("x5t", Kind::Str, D::Null),
    field("x5t#S256", Kind::Str, D::Null),
    field("k", Kind::Str, D::Null),
    field("x", Kind::Str, D::Null),
    field("y", Kind::Str, D::Null),
    field("crv", Kind::Str, D::Null),
    field("n", Kind::Str, D::Null),
    field("e", Kind::Str, D::Null),
    field("d", Kind::Str, D::Null),
    field("p", Kind::Str, D::Null),
    field("q", Kind::Str, D::Null),
    field("dp", Kind::Str, D::Null),
    field("dq", Kind::Str, D::Null),
    field("qi", Kind::Str, D::Null),
    field("oth", Kind::Str, D::Null),
    field("r", Kind::Str, D::Null),
    field("t", Kind::Str, D::Null),
];

/// The JWS algorithms `client_alg` takes (Kong's list less ES512, which the signer cannot do).
pub const CLIENT_ALGS: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "EdDSA",
];

/// The family of a private key, and its DER form for the signer.
#[derive(Clone, PartialEq, Eq)]
pub enum PrivateKeyDer {
    /// RSA, PKCS#1 DER.
    Rsa(Vec<u8>),
    /// EC P-256 or P-384 (the curve's algorithm), PKCS#8 DER.
    Ec(&'static str, Vec<u8>),
    /// Ed25519, PKCS#8 DER.
    Ed(Vec<u8>),
}

impl std::fmt::Debug for PrivateKeyDer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PrivateKeyDer::Rsa(_) => "Rsa(..)",
            PrivateKeyDer::Ec(..) => "Ec(..)",
            PrivateKeyDer::Ed(_) => "Ed(..)",
        })
    }
}

impl PrivateKeyDer {
    /// Whether this key can sign with `alg`.
    pub fn can(&self, alg: &str) -> bool {
        match self {
            PrivateKeyDer::Rsa(_) => alg.starts_with("RS") || alg.starts_with("PS"),
            PrivateKeyDer::Ec(a, _) => alg == *a,
            PrivateKeyDer::Ed(_) => alg == "EdDSA",
        }
    }

    /// The algorithm used when neither `client_alg` nor the JWK names one.
    pub fn default_alg(&self) -> &'static str {
        match self {
            PrivateKeyDer::Rsa(_) => "RS256",
            PrivateKeyDer::Ec(a, _) => a,
            PrivateKeyDer::Ed(_) => "EdDSA",
        }
    }

    /// What the key is, for messages.
    pub fn describe(&self) -> &'static str {
        match self {
            PrivateKeyDer::Rsa(_) => "an RSA key",
            PrivateKeyDer::Ec("ES256", _) => "an EC P-256 key",
            PrivateKeyDer::Ec(..) => "an EC P-384 key",
            PrivateKeyDer::Ed(_) => "an Ed25519 key",
        }
    }
}

fn b64(name: &str, v: &Option<String>) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let v = v
        .as_deref()
        .ok_or_else(|| format!("{name}: required field missing (a private key needs it)"))?;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(v.trim_end_matches('='))
        .map_err(|_| format!("{name}: not base64url"))
}

fn bn(name: &str, v: &Option<String>) -> Result<BigNum, String> {
    BigNum::from_slice(&b64(name, v)?).map_err(|_| format!("{name}: not a number"))
}

/// The private key of a JWK, checked; the message names the JWK member, never its value.
pub fn private_key(jwk: &Jwk) -> Result<PrivateKeyDer, String> {
    fn bad<E>(what: &str) -> impl Fn(E) -> String + '_ {
        move |_| format!("not a valid {what} private key")
    }
    match jwk.kty.as_deref() {
        Some("RSA") => {
            if jwk.oth.is_some() {
                return Err("oth: multi-prime RSA keys are not supported".into());
            }
            let rsa = Rsa::from_private_components(
                bn("n", &jwk.n)?,
                bn("e", &jwk.e)?,
                bn("d", &jwk.d)?,
                bn("p", &jwk.p)?,
                bn("q", &jwk.q)?,
                bn("dp", &jwk.dp)?,
                bn("dq", &jwk.dq)?,
                bn("qi", &jwk.qi)?,
            )
            .map_err(bad("RSA"))?;
            if !rsa.check_key().unwrap_or(false) {
                return Err("not a valid RSA private key (its parts do not match)".into());
            }
            if rsa.size() < 256 {
                return Err("RSA keys shorter than 2048 bits are refused".into());
            }
            Ok(PrivateKeyDer::Rsa(
                rsa.private_key_to_der().map_err(bad("RSA"))?,
            ))
        }
        Some("EC") => {
            let (nid, alg) = match jwk.crv.as_deref() {
                Some("P-256") => (Nid::X9_62_PRIME256V1, "ES256"),
                Some("P-384") => (Nid::SECP384R1, "ES384"),
                other => {
                    return Err(format!(
                        "crv: {} is not supported (supported: P-256, P-384)",
                        other.unwrap_or("missing")
                    ))
                }
            };
            let group = EcGroup::from_curve_name(nid).map_err(bad("EC"))?;
            let mut ctx = openssl::bn::BigNumContext::new().map_err(bad("EC"))?;
            let mut point = EcPoint::new(&group).map_err(bad("EC"))?;
            let (x, y, d) = (bn("x", &jwk.x)?, bn("y", &jwk.y)?, bn("d", &jwk.d)?);
            point
                .set_affine_coordinates_gfp(&group, &x, &y, &mut ctx)
                .map_err(bad("EC"))?;
            let key = EcKey::from_private_components(&group, &d, &point).map_err(bad("EC"))?;
            key.check_key()
                .map_err(|_| "not a valid EC private key (its parts do not match)".to_string())?;
            let pkey = PKey::from_ec_key(key).map_err(bad("EC"))?;
            Ok(PrivateKeyDer::Ec(
                alg,
                pkey.private_key_to_pkcs8().map_err(bad("EC"))?,
            ))
        }
        Some("OKP") => {
            if jwk.crv.as_deref() != Some("Ed25519") {
                return Err(format!(
                    "crv: {} is not supported (supported: Ed25519)",
                    jwk.crv.as_deref().unwrap_or("missing")
                ));
            }
            let d = b64("d", &jwk.d)?;
            let pkey = PKey::private_key_from_raw_bytes(&d, Id::ED25519).map_err(bad("Ed25519"))?;
            if let Some(x) = &jwk.x {
                let public = pkey.raw_public_key().map_err(bad("Ed25519"))?;
                if b64("x", &Some(x.clone()))? != public {
                    return Err("not a valid Ed25519 private key (x does not match d)".into());
                }
            }
            Ok(PrivateKeyDer::Ed(
                pkey.private_key_to_pkcs8().map_err(bad("Ed25519"))?,
            ))
        }
        Some(other) => Err(format!(
            "kty: {other} is not supported (supported: RSA, EC, OKP)"
        )),
        None => Err("kty: required field missing".into()),
    }
}

/// A PEM private key (a `certificates` entity's) as PKCS#8 PEM, the form the TLS client identity takes.
pub fn pkcs8_pem(key_pem: &str) -> Result<String, String> {
    let key = PKey::private_key_from_pem(key_pem.as_bytes())
        .map_err(|_| "not a PEM private key".to_string())?;
    let pem = key
        .private_key_to_pem_pkcs8()
        .map_err(|_| "the key cannot be written as PKCS#8".to_string())?;
    String::from_utf8(pem).map_err(|_| "not UTF-8".to_string())
}

impl OidcConfig {
    /// The method the gateway's client uses at an endpoint, as configured: the endpoint's field, else the
    /// first `client_auth` (`None`: left to the secret / key / discovery, see the auth crate).
    pub fn configured_method(
        &self,
        endpoint: Option<ClientAuthMethod>,
    ) -> Option<ClientAuthMethod> {
        endpoint.or_else(|| self.client_auth.as_ref().and_then(|a| a.first().copied()))
    }

    /// The algorithm of the `private_key_jwt` assertion: `client_alg[0]`, else the JWK's `alg`, else the
    /// key's usual one.
    pub fn private_key_alg(&self, key: &PrivateKeyDer) -> String {
        self.client_alg
            .as_ref()
            .and_then(|a| a.first())
            .cloned()
            .or_else(|| self.first_jwk().and_then(|j| j.alg.clone()))
            .unwrap_or_else(|| key.default_alg().to_owned())
    }

    /// The first `client_jwk` (the first client's key).
    pub fn first_jwk(&self) -> Option<&Jwk> {
        self.client_jwk.as_ref().and_then(|k| k.first())
    }

    /// Client authentication rules: every named method can be done with what is configured, the key parses
    /// and can do the algorithm.
    pub(super) fn check_client_auth(&self, errors: &mut Vec<FieldError>) {
        for (i, a) in self.client_alg.iter().flatten().enumerate() {
            if !CLIENT_ALGS.contains(&a.as_str()) {
                errors.push(err(
                    &format!("client_alg[{i}]"),
                    &format!("expected one of: {}", CLIENT_ALGS.join(", ")),
                ));
                return;
            }
        }
        let mut key = None;
        if let Some(jwk) = self.first_jwk() {
            match private_key(jwk) {
                Ok(k) => key = Some(k),
                Err(e) => errors.push(err("client_jwk[0]", &format!("invalid key: {e}"))),
            }
        }
        if let Some(id) = &self.tls_client_auth_cert_id {
            if uuid::Uuid::parse_str(id).is_err() {
                errors.push(err("tls_client_auth_cert_id", "expected a valid UUID"));
            }
        }
        if let Some(k) = &key {
            let a = self.private_key_alg(k);
            if !a.starts_with("HS") && !k.can(&a) {
                let at = if self.client_alg.is_some() {
                    "client_alg[0]"
                } else {
                    "client_jwk[0].alg"
                };
                errors.push(err(
                    at,
                    &format!(
                        "{a} cannot be used with {} (use {})",
                        k.describe(),
                        k.default_alg()
                    ),
                ));
            }
        }
        let mut named: Vec<(String, ClientAuthMethod)> = (self.client_auth.iter().flatten())
            .enumerate()
            .map(|(i, m)| (format!("client_auth[{i}]"), *m))
            .collect();
        for (name, m) in [
            (
                "introspection_endpoint_auth_method",
                self.introspection_endpoint_auth_method,
            ),
            (
                "token_endpoint_auth_method",
                self.token_endpoint_auth_method,
            ),
        ] {
            named.extend(m.map(|m| (name.to_owned(), m)));
        }
        let has_id = self
            .client_id
            .as_ref()
            .is_some_and(|v| v.first().is_some_and(|s| !s.is_empty()));
        let has_secret =
            (self.client_secret.as_ref()).is_some_and(|v| v.first().is_some_and(|s| !s.is_empty()));
        for (path, m) in named {
            let needs = |what: &str| format!("{} needs {what}", m.name());
            let missing = match m {
                ClientAuthMethod::ClientSecretJwt if !has_secret => {
                    Some(("client_secret", needs("a client_secret")))
                }
                ClientAuthMethod::PrivateKeyJwt if self.first_jwk().is_none() => Some((
                    "client_jwk",
                    needs("the gateway's signing key (client_jwk)"),
                )),
                ClientAuthMethod::TlsClientAuth | ClientAuthMethod::SelfSignedTlsClientAuth
                    if self.tls_client_auth_cert_id.is_none() =>
                {
                    Some((
                        "tls_client_auth_cert_id",
                        needs("a client certificate (tls_client_auth_cert_id)"),
                    ))
                }
                _ => None,
            };
            if let Some((field, why)) = missing {
                errors.push(err(
                    field,
                    &format!("required field missing ({why}, set by {path})"),
                ));
            }
            let jwt_or_tls = !matches!(
                m,
                ClientAuthMethod::ClientSecretBasic
                    | ClientAuthMethod::ClientSecretPost
                    | ClientAuthMethod::None
            );
            if jwt_or_tls && !has_id {
                errors.push(err(
                    "client_id",
                    &format!(
                        "required field missing ({} needs a client_id, set by {path})",
                        m.name()
                    ),
                ));
            }
            let alg = self.client_alg.as_ref().and_then(|a| a.first());
            match (m, alg) {
                (ClientAuthMethod::ClientSecretJwt, Some(a)) if !a.starts_with("HS") => errors
                    .push(err(
                        "client_alg[0]",
                        &format!(
                        "{a} cannot sign a client_secret_jwt assertion (use HS256, HS384 or HS512)"
                    ),
                    )),
                _ => {}
            }
        }
    }
}

/// How a client authenticates to the IdP (`client_auth`, `*_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// `Authorization: Basic base64(id:secret)`.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A JWT assertion signed with the client secret (HS256/384/512).
    ClientSecretJwt,
    /// A JWT assertion signed with the gateway's key (`client_jwk`).
    PrivateKeyJwt,
    /// Mutual TLS with the gateway's certificate (`tls_client_auth_cert_id`), CA-issued.
    TlsClientAuth,
    /// Mutual TLS with the gateway's self-signed certificate.
    SelfSignedTlsClientAuth,
    /// Only `client_id` in the form body.
    None,
}

impl ClientAuthMethod {
    /// Its names in the config, in schema order.
    pub const NAMES: &'static [&'static str] = &[
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
        "private_key_jwt",
        "tls_client_auth",
        "self_signed_tls_client_auth",
        "none",
    ];

    /// Whether an `extra_issuers` entry can use it (those have a client id and secret only).
    pub fn secret_only(self) -> bool {
        matches!(
            self,
            ClientAuthMethod::ClientSecretBasic
                | ClientAuthMethod::ClientSecretPost
                | ClientAuthMethod::None
        )
    }

    /// Whether it sends the gateway's client certificate.
    pub fn uses_certificate(self) -> bool {
        matches!(
            self,
            ClientAuthMethod::TlsClientAuth | ClientAuthMethod::SelfSignedTlsClientAuth
        )
    }

    /// Its name in the config.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::super::OidcConfig;
    use serde_json::{json, Value};

    const ISS: &str = "http://127.0.0.1:4593/";

    fn ec() -> Value {
        json!({"kty": "EC", "crv": "P-256", "kid": "gw-1",
               "x": "xka3-pJQjTCPimObeLpbAbVUXydvh0WzgcfH49ur628",
               "y": "r6aIf-r7QnOa-dezkl3r53Qg48NPC7roCnRI9crhEmI",
               "d": "cQDUIzJOxQJl8yCo1G2YimRExtuIKYaCPbeVD26z2WU"})
    }

    fn errors(extra: Value) -> Vec<(String, String)> {
        let mut v = json!({"issuer": ISS, "client_id": ["gw"]});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        match OidcConfig::from_value(&v) {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|e| (e.path, e.message)).collect(),
        }
    }

    #[test]
    fn a_good_key_loads_and_round_trips() {
        let c = OidcConfig::from_value(&json!({"issuer": ISS, "client_id": ["gw"],
            "client_jwk": [ec()], "client_auth": ["private_key_jwt"]}))
        .unwrap();
        let key = super::private_key(c.first_jwk().unwrap()).unwrap();
        assert_eq!(c.private_key_alg(&key), "ES256");
        let v = c.to_value_with_defaults();
        assert_eq!(v["client_jwk"][0]["kid"], "gw-1");
        assert_eq!(OidcConfig::from_value(&v).unwrap(), c);
        assert!(!format!("{c:?}").contains("cQDUIzJO"), "the key in Debug");
    }

    #[test]
    fn bad_keys_algorithms_and_missing_parts_are_refused_with_the_field_path() {
        let mut bad = ec();
        bad["d"] = json!("AAAA");
        let e = errors(json!({"client_jwk": [bad], "client_auth": ["private_key_jwt"]}));
        assert_eq!(e[0].0, "client_jwk[0]");
        assert!(e[0].1.starts_with("invalid key"), "{e:?}");
        assert!(!e[0].1.contains("AAAA"));
        let e = errors(json!({"client_jwk": [ec()], "client_alg": ["RS256"]}));
        assert_eq!(
            e,
            vec![(
                "client_alg[0]".to_string(),
                "RS256 cannot be used with an EC P-256 key (use ES256)".to_string()
            )]
        );
        let e = errors(json!({"client_alg": ["none"]}));
        assert_eq!(e[0].0, "client_alg[0]");
        let e = errors(json!({"token_endpoint_auth_method": "tls_client_auth"}));
        assert_eq!(e[0].0, "tls_client_auth_cert_id");
        assert!(e[0].1.starts_with("required field missing"), "{e:?}");
        let e = errors(json!({"tls_client_auth_cert_id": "nope"}));
        assert_eq!(
            e,
            vec![(
                "tls_client_auth_cert_id".to_string(),
                "expected a valid UUID".to_string()
            )]
        );
        let e = errors(json!({"client_auth": ["client_secret_jwt"]}));
        assert_eq!(e[0].0, "client_secret");
        let e = errors(
            json!({"client_secret": ["s"], "client_auth": ["client_secret_jwt"],
                              "client_alg": ["ES256"]}),
        );
        assert_eq!(e[0].0, "client_alg[0]");
        let e = errors(json!({"client_jwk": [{"kty": "oct", "k": "c2VjcmV0"}]}));
        assert_eq!(
            e[0],
            (
                "client_jwk[0]".to_string(),
                "invalid key: kty: oct is not supported (supported: RSA, EC, OKP)".to_string()
            )
        );
    }
}

//! Kong's `ca_certificates`: CA certificates a service's upstream TLS trusts (`services[].ca_certificates`),
//! with Kong's checks and messages (`kong/db/schema/entities/ca_certificates.lua`).
//!
//! The loader parses each PEM once into an [`X509`] (never serialised) that the gateway's upstream TLS uses;
//! `cert_digest` is computed from the certificate (Kong's transformation), so a written one is only checked.

use std::fmt;
use std::sync::Arc;

use openssl::x509::X509;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::checks::{self, REQUIRED};
use crate::error::Collector;
use crate::upstreams::build::parse_id;

/// A CA certificate (Kong `ca_certificates`).
#[derive(Clone, Serialize)]
pub struct CaCertificate {
    /// Id; generated from the PEM when absent from the file.
    pub id: Uuid,
    /// One CA certificate, PEM.
    pub cert: String,
    /// Lowercase hex SHA-256 of the certificate's DER (Kong's `cert_digest`, computed at load).
    pub cert_digest: String,
    /// Free-form tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Creation time (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    /// Last update (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    /// The parsed certificate, attached by the loader (`None` when invalid).
    #[serde(skip)]
    pub x509: Option<Arc<X509>>,
}

impl PartialEq for CaCertificate {
    /// `x509` and `cert_digest` derive from `cert`.
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.cert == other.cert
            && self.tags == other.tags
            && self.created_at == other.created_at
            && self.updated_at == other.updated_at
    }
}

impl fmt::Debug for CaCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaCertificate")
            .field("id", &self.id)
            .field("cert_digest", &self.cert_digest)
            .field("tags", &self.tags)
            .finish()
    }
}

/// A CA certificate as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCaCertificate {
    pub id: Option<String>,
    pub cert: Option<String>,
    pub cert_digest: Option<String>,
    pub tags: Option<Vec<String>>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

const CERT_TAG: &str = "-----BEGIN CERTIFICATE-----";

/// Builds and checks every CA certificate (Kong's messages), ids and digests unique.
pub(crate) fn build(raw: Vec<RawCaCertificate>, errors: &mut Collector) -> Vec<CaCertificate> {
    let out: Vec<CaCertificate> = (raw.into_iter().enumerate())
        .map(|(i, rc)| build_one(rc, i, errors))
        .collect();
    for (i, a) in out.iter().enumerate() {
        if let Some(j) = out[..i].iter().position(|b| b.id == a.id) {
            errors.push(
                format!("ca_certificates[{i}].id"),
                format!("uniqueness violation: 'ca_certificates' entity with primary key set to '{}' already declared (ca_certificates[{j}])", a.id),
            );
        } else if let Some(j) = (out[..i].iter())
            .position(|b| !a.cert_digest.is_empty() && b.cert_digest == a.cert_digest)
        {
            errors.push(
                format!("ca_certificates[{i}].cert_digest"),
                format!("uniqueness violation: 'ca_certificates' entity with cert_digest set to '{}' already declared (ca_certificates[{j}])", a.cert_digest),
            );
        }
    }
    out
}

fn build_one(rc: RawCaCertificate, i: usize, errors: &mut Collector) -> CaCertificate {
    let path = format!("ca_certificates[{i}]");
    let cert = rc.cert.unwrap_or_default();
    let id = parse_id(rc.id.as_deref(), &path, errors)
        .unwrap_or_else(|| crate::ids::certificate_id(&format!("ca:{cert}")));
    let tags = rc.tags.unwrap_or_default();
    for (k, tag) in tags.iter().enumerate() {
        if let Err(m) = checks::tag(tag) {
            errors.push(format!("{path}.tags[{k}]"), m);
        }
    }
    let mut c = CaCertificate {
        id,
        cert,
        cert_digest: String::new(),
        tags,
        created_at: rc.created_at,
        updated_at: rc.updated_at,
        x509: None,
    };
    if c.cert.is_empty() {
        errors.push(format!("{path}.cert"), REQUIRED);
        return c;
    }
    match check_ca(&c.cert, now_s()) {
        Ok((x509, digest)) => {
            if let Some(given) = rc.cert_digest.as_deref() {
                if given != digest {
                    errors.push(
                        format!("{path}.cert_digest"),
                        "does not match the certificate (it is computed from `cert`; leave it out)",
                    );
                }
            }
            c.cert_digest = digest;
            c.x509 = Some(Arc::new(x509));
        }
        Err((field, message)) => errors.push(format!("{path}{field}"), message),
    }
    c
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Kong's checks of a CA certificate, in its order: parses, one certificate only, not expired, a CA.
/// `Err((field suffix, message))`: `.cert` for a parse error, `` (the entity) for the others.
pub fn check_ca(pem: &str, now: i64) -> Result<(X509, String), (&'static str, String)> {
    let x509 = X509::from_pem(pem.as_bytes()).map_err(|e| {
        (
            ".cert",
            format!("invalid certificate: {}", first_reason(&e)),
        )
    })?;
    if let Some(seen) = pem.find(CERT_TAG) {
        if pem[seen + CERT_TAG.len()..].contains(CERT_TAG) {
            return Err(("", "please submit only one certificate at a time".into()));
        }
    }
    let now_asn1 = openssl::asn1::Asn1Time::from_unix(now)
        .map_err(|e| ("", format!("cannot read the clock: {e}")))?;
    if x509.not_after() < now_asn1 {
        return Err((
            "",
            "certificate expired, \"Not After\" time is in the past".into(),
        ));
    }
    if !is_ca(&x509) {
        return Err((
            "",
            "certificate does not appear to be a CA because it is missing the \"CA\" basic constraint"
                .into(),
        ));
    }
    let digest = x509
        .digest(openssl::hash::MessageDigest::sha256())
        .map_err(|e| {
            (
                "",
                format!("cannot create digest value of certificate: {e}"),
            )
        })?;
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok((x509, hex))
}

/// Whether the certificate has `basicConstraints` with `CA:TRUE` (read from its text form: the openssl
/// crate has no accessor for it).
fn is_ca(x509: &X509) -> bool {
    x509.to_text().is_ok_and(|t| {
        String::from_utf8_lossy(&t)
            .split_once("X509v3 Basic Constraints")
            .is_some_and(|(_, rest)| {
                rest.lines()
                    .take(3)
                    .any(|l| l.replace(' ', "").contains("CA:TRUE"))
            })
    })
}

fn first_reason(e: &openssl::error::ErrorStack) -> String {
    e.errors()
        .first()
        .and_then(|x| x.reason().map(str::to_owned))
        .unwrap_or_else(|| "not a PEM certificate".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificates::test_pem;

    #[test]
    fn a_leaf_is_not_a_ca_and_garbage_is_refused() {
        let (leaf, _) = test_pem::pair("leaf.test", test_pem::Kind::Ec);
        let e = check_ca(&leaf, 0).unwrap_err();
        assert_eq!(e.0, "");
        assert!(e.1.contains("missing the \"CA\" basic constraint"), "{e:?}");
        let e = check_ca("nope", 0).unwrap_err();
        assert_eq!(e.0, ".cert");
        assert!(e.1.starts_with("invalid certificate: "), "{e:?}");
    }

    #[test]
    fn a_ca_loads_with_its_digest_and_two_are_refused() {
        let ca = test_pem::ca("Test CA");
        let (_, digest) = check_ca(&ca, 0).unwrap();
        assert_eq!(digest.len(), 64);
        let two = format!("{ca}{ca}");
        assert_eq!(
            check_ca(&two, 0).unwrap_err().1,
            "please submit only one certificate at a time"
        );
        let expired = check_ca(&ca, 4_000_000_000).unwrap_err();
        assert_eq!(
            expired.1,
            "certificate expired, \"Not After\" time is in the past"
        );
    }
}

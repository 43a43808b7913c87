//! Self-signed certificates made in the test (no files): RSA or EC P-256, for one common name.

use openssl::asn1::Asn1Time;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509NameBuilder, X509};

/// Key type of a test certificate.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Rsa,
    Ec,
}

/// A key of `kind`, PEM.
pub(crate) fn key(kind: Kind) -> PKey<Private> {
    match kind {
        Kind::Rsa => PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap(),
        Kind::Ec => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
            PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
        }
    }
}

/// A self-signed certificate for `cn` and its key, both PEM.
pub(crate) fn pair(cn: &str, kind: Kind) -> (String, String) {
    let key = key(kind);
    (cert_for(cn, &key), pem(&key))
}

/// A self-signed certificate for `cn` with `key`, PEM.
pub(crate) fn cert_for(cn: &str, key: &PKey<Private>) -> String {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    b.sign(key, MessageDigest::sha256()).unwrap();
    String::from_utf8(b.build().to_pem().unwrap()).unwrap()
}

/// A private key as PEM.
pub(crate) fn pem(key: &PKey<Private>) -> String {
    String::from_utf8(key.private_key_to_pem_pkcs8().unwrap()).unwrap()
}

/// A self-signed CA certificate (`basicConstraints` `CA:TRUE`) for `cn`, PEM.
pub(crate) fn ca(cn: &str) -> String {
    let key = key(Kind::Ec);
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    let bc = openssl::x509::extension::BasicConstraints::new()
        .critical()
        .ca()
        .build()
        .unwrap();
    b.append_extension(bc).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    String::from_utf8(b.build().to_pem().unwrap()).unwrap()
}

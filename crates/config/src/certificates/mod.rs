//! Kong's `certificates` and `snis`: TLS certificates for the `ssl` proxy listeners, chosen during the
//! handshake by the client's SNI (`server_name`), with `gateway.ssl_cert` as the default.
//!
//! The model keeps the PEM text (what the file and the Admin API hold) and, attached by the loader, the parsed
//! pair ([`KeyPairs`]) the TLS handshake uses, so a certificate is parsed and checked once per config.
//! [`SniIndex`] is Kong's lookup: the exact name, then `*.rest` (first label replaced), then `name.*` (last
//! label replaced), then the SNI named `*`.

pub(crate) mod build;
pub(crate) mod names;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use serde::Serialize;
use uuid::Uuid;

pub use names::check_wildcard_host;

/// A certificate (Kong `certificates`) with its SNIs nested.
#[derive(Clone, Serialize)]
pub struct Certificate {
    /// Id; generated from the certificate's PEM when absent from the file.
    pub id: Uuid,
    /// The certificate chain, PEM (leaf first).
    pub cert: String,
    /// The private key, PEM. A secret: never logged, redacted from `Debug`.
    pub key: String,
    /// An alternative chain with a key of another type (RSA beside ECDSA), PEM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_alt: Option<String>,
    /// The alternative key, PEM (a secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_alt: Option<String>,
    /// Free-form tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Creation time (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    /// Last update (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    /// The SNIs served with this certificate.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub snis: Vec<Sni>,
    /// The parsed chains and keys, attached by the loader (`None` when invalid or built in code).
    #[serde(skip)]
    pub keys: Option<Arc<KeyPairs>>,
}

impl PartialEq for Certificate {
    /// `keys` is derived from the PEM fields, so it does not take part.
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.cert == other.cert
            && self.key == other.key
            && self.cert_alt == other.cert_alt
            && self.key_alt == other.key_alt
            && self.tags == other.tags
            && self.created_at == other.created_at
            && self.updated_at == other.updated_at
            && self.snis == other.snis
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("id", &self.id)
            .field("cert", &format_args!("<{} bytes of PEM>", self.cert.len()))
            .field("key", &"<redacted>")
            .field("cert_alt", &self.cert_alt.as_ref().map(|_| "<PEM>"))
            .field("key_alt", &self.key_alt.as_ref().map(|_| "<redacted>"))
            .field("tags", &self.tags)
            .field("snis", &self.snis)
            .finish()
    }
}

impl Certificate {
    /// A certificate with this id and PEM pair, no SNIs, not parsed.
    pub fn new(id: Uuid, cert: impl Into<String>, key: impl Into<String>) -> Self {
        Certificate {
            id,
            cert: cert.into(),
            key: key.into(),
            cert_alt: None,
            key_alt: None,
            tags: Vec::new(),
            created_at: None,
            updated_at: None,
            snis: Vec::new(),
            keys: None,
        }
    }
}

/// An SNI (Kong `snis`): a server name, possibly with one leading or trailing wildcard, and its certificate
/// (the one it is nested in).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sni {
    /// Id; generated from the name when absent.
    pub id: Uuid,
    /// The server name: `example.com`, `*.example.com`, `example.*`, or `*` (the default SNI).
    pub name: String,
    /// Free-form tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Creation time (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    /// Last update (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
}

/// A certificate's parsed pairs: the main one and, optionally, the alternative of the other key type.
pub struct KeyPairs {
    /// `cert` and `key`.
    pub main: KeyPair,
    /// `cert_alt` and `key_alt`.
    pub alt: Option<KeyPair>,
}

impl fmt::Debug for KeyPairs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyPairs(<redacted>)")
    }
}

/// One chain and its private key, checked to match.
pub struct KeyPair {
    /// Leaf first, then the intermediates as written.
    pub chain: Vec<X509>,
    /// The private key of the leaf.
    pub key: PKey<Private>,
}

impl KeyPair {
    /// Parses a PEM chain and key; the error is Kong's field message (`invalid certificate: ...`,
    /// `invalid key: ...`, `certificate does not match key`) with the field it belongs to.
    pub fn from_pem(cert: &str, key: &str) -> Result<KeyPair, (&'static str, String)> {
        let chain = X509::stack_from_pem(cert.as_bytes())
            .map_err(|e| ("cert", format!("invalid certificate: {}", first_reason(&e))))?;
        if chain.is_empty() {
            return Err((
                "cert",
                "invalid certificate: no PEM certificate found".into(),
            ));
        }
        let key = PKey::private_key_from_pem(key.as_bytes())
            .map_err(|e| ("key", format!("invalid key: {}", first_reason(&e))))?;
        let matches = chain[0]
            .public_key()
            .map(|public| public.public_eq(&key))
            .unwrap_or(false);
        if !matches {
            return Err(("", "certificate does not match key".into()));
        }
        Ok(KeyPair { chain, key })
    }

    /// The key's type (`openssl::pkey::Id`), to refuse an alternative of the same type.
    pub fn key_type(&self) -> openssl::pkey::Id {
        self.key.id()
    }
}

/// OpenSSL's first reason, without the library's file and line.
fn first_reason(e: &openssl::error::ErrorStack) -> String {
    e.errors()
        .first()
        .and_then(|e| e.reason())
        .unwrap_or("not valid PEM")
        .to_string()
}

/// Kong's SNI lookup over a config's certificates, built once per config.
#[derive(Debug, Default, Clone)]
pub struct SniIndex {
    names: HashMap<String, usize>,
}

impl SniIndex {
    /// Indexes every SNI (lowercased) to the position of its certificate in `certificates`.
    pub fn new(certificates: &[Certificate]) -> SniIndex {
        let mut names = HashMap::new();
        for (i, c) in certificates.iter().enumerate() {
            for sni in &c.snis {
                names.entry(sni.name.to_ascii_lowercase()).or_insert(i);
            }
        }
        SniIndex { names }
    }

    /// True when no SNI is configured.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The certificate for a client's server name, in Kong's order: exact, `*.rest`, `name.*`, `*`.
    /// `None`: the default certificate (`gateway.ssl_cert`). Without SNI only `*` applies.
    pub fn find(&self, server_name: Option<&str>) -> Option<usize> {
        if self.names.is_empty() {
            return None;
        }
        if let Some(name) = server_name {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if let Some(&i) = self.names.get(&name) {
                return Some(i);
            }
            // `*.b.c` for `a.b.c` (at least three labels, as Kong's pattern `([^.]+)(\.[^.]+\.\S+)`).
            if let Some((_, rest)) = name.split_once('.') {
                if rest.contains('.') {
                    if let Some(&i) = self.names.get(&format!("*.{rest}")) {
                        return Some(i);
                    }
                }
            }
            // `a.b.*` for `a.b.c` (at least two labels).
            if let Some((head, _)) = name.rsplit_once('.') {
                if let Some(&i) = self.names.get(&format!("{head}.*")) {
                    return Some(i);
                }
            }
        }
        self.names.get("*").copied()
    }
}

#[cfg(test)]
pub(crate) mod test_pem;
#[cfg(test)]
mod tests;

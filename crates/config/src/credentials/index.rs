//! [`CredentialIndex`]: what the runtime auth plugins look credentials up in, computed once per compiled
//! config (no per-request parsing): key-auth keys, basic-auth and hmac-auth usernames, jwt keys, each
//! consumer's acl groups.
//! Consumers are designated by their position in `config.consumers` (as [`crate::consumers::ConsumerIndex`]).

use std::fmt;

use uuid::Uuid;

use super::{BasicauthCredential, HmacauthCredential, JwtAlgorithm};
use crate::fast::FastMap;
use crate::model::Config;

/// How a jwt credential verifies a signature.
#[derive(Clone, PartialEq, Eq)]
pub enum JwtKey {
    /// HS256/384/512: the secret's bytes as written (the plugin's `secret_is_base64` decodes them).
    Secret(Vec<u8>),
    /// RS, PS, ES and EdDSA: the public key as written (PEM); `None` when the credential has none (an ES
    /// credential without a key, which Kong's schema allows and its plugin then refuses).
    PublicKeyPem(Option<String>),
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtKey::Secret(_) => f.write_str("Secret(<redacted>)"),
            JwtKey::PublicKeyPem(pem) => write!(f, "PublicKeyPem({})", pem.is_some()),
        }
    }
}

/// A jwt credential as the jwt plugin needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtEntry {
    /// The consumer's position in `config.consumers`.
    pub consumer: usize,
    /// The algorithm the token must use.
    pub algorithm: JwtAlgorithm,
    /// What verifies the signature.
    pub key: JwtKey,
    /// The credential's id (Kong's `X-Credential-Identifier` is the jwt key; the id is for logs and metrics).
    pub credential: Uuid,
}

/// The credentials of a config indexed for the per-request lookups (built once per snapshot).
#[derive(Default)]
pub struct CredentialIndex {
    /// key → (consumer, the credential's id as a header value: Kong's `X-Credential-Identifier`).
    keyauth: FastMap<String, (usize, http::HeaderValue)>,
    basicauth: FastMap<String, (usize, BasicauthCredential)>,
    hmacauth: FastMap<String, (usize, HmacauthCredential)>,
    jwt: FastMap<String, JwtEntry>,
    groups: Vec<Vec<String>>,
}

impl fmt::Debug for CredentialIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialIndex")
            .field("keyauth", &self.keyauth.len())
            .field("basicauth", &self.basicauth.len())
            .field("hmacauth", &self.hmacauth.len())
            .field("jwt", &self.jwt.len())
            .finish()
    }
}

impl CredentialIndex {
    /// Indexes the credentials of `config` (a loaded, valid config: every credential's consumer exists).
    pub fn new(config: &Config) -> Self {
        let consumers: FastMap<Uuid, usize> = (config.consumers.iter().enumerate())
            .map(|(i, c)| (c.id, i))
            .collect();
        let at = |id: &Uuid| consumers.get(id).copied();
        let mut index = CredentialIndex {
            groups: vec![Vec::new(); config.consumers.len()],
            ..CredentialIndex::default()
        };
        for c in &config.keyauth_credentials {
            if let Some(i) = at(&c.consumer) {
                // The id's text as a header value, made once here rather than per request (a hyphenated
                // UUID is always a valid value).
                let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
                let id = c.id.hyphenated().encode_lower(&mut text);
                if let Ok(v) = http::HeaderValue::from_str(id) {
                    index
                        .keyauth
                        .entry(c.key.clone())
                        .or_insert((i, crate::statics::value(v)));
                }
            }
        }
        for c in &config.basicauth_credentials {
            if let Some(i) = at(&c.consumer) {
                (index.basicauth.entry(c.username.clone())).or_insert_with(|| (i, c.clone()));
            }
        }
        for c in &config.hmacauth_credentials {
            if let Some(i) = at(&c.consumer) {
                (index.hmacauth.entry(c.username.clone())).or_insert_with(|| (i, c.clone()));
            }
        }
        for c in &config.jwt_secrets {
            let Some(i) = at(&c.consumer) else { continue };
            let key = if c.algorithm.is_hmac() {
                JwtKey::Secret(c.secret.as_bytes().to_vec())
            } else {
                JwtKey::PublicKeyPem(c.rsa_public_key.clone())
            };
            index.jwt.entry(c.key.clone()).or_insert(JwtEntry {
                consumer: i,
                algorithm: c.algorithm,
                key,
                credential: c.id,
            });
        }
        for c in &config.acls {
            if let Some(i) = at(&c.consumer) {
                index.groups[i].push(c.group.clone());
            }
        }
        index
    }

    /// The consumer (position in `config.consumers`) a key-auth key authenticates as.
    pub fn keyauth(&self, key: &str) -> Option<usize> {
        self.keyauth.get(key).map(|(i, _)| *i)
    }

    /// The consumer and the credential's id (Kong's `X-Credential-Identifier` for key-auth, as its header
    /// value) of a key.
    pub fn keyauth_credential(&self, key: &str) -> Option<(usize, &http::HeaderValue)> {
        self.keyauth.get(key).map(|(i, id)| (*i, id))
    }

    /// The consumer and credential of a basic-auth username (check the password with
    /// [`BasicauthCredential::verify`]).
    pub fn basicauth(&self, username: &str) -> Option<(usize, &BasicauthCredential)> {
        self.basicauth.get(username).map(|(i, c)| (*i, c))
    }

    /// The consumer and credential of an hmac-auth username (the secret signs the request).
    pub fn hmacauth(&self, username: &str) -> Option<(usize, &HmacauthCredential)> {
        self.hmacauth.get(username).map(|(i, c)| (*i, c))
    }

    /// The jwt credential whose key a token names.
    pub fn jwt(&self, key: &str) -> Option<&JwtEntry> {
        self.jwt.get(key)
    }

    /// The acl groups of the consumer at position `consumer`, in file order (empty when it has none).
    pub fn groups(&self, consumer: usize) -> &[String] {
        self.groups.get(consumer).map_or(&[], Vec::as_slice)
    }
}

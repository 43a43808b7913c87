//! Kong's `basic-auth` plugin on the pipeline (priority 1100): `Proxy-Authorization: Basic ...` first, then
//! `Authorization: Basic ...`, the username looked up in the snapshot's basic-auth credentials and the
//! password checked against Kong's stored hash ([`BasicauthCredential::verify`]). Every failure is Kong's
//! 401 `{"message":"Unauthorized"}` with `WWW-Authenticate: Basic realm="<realm>"`. X-Credential-Identifier
//! is the credential's username (Kong's `set_consumer`).
//!
//! Successful checks are remembered in a small bounded cache ([`VERIFIED_CAPACITY`] entries, per plugin
//! instance and so per compiled config): its keys are a BLAKE3 keyed hash (a random key per instance, never
//! stored elsewhere) of the username, the password and the stored hash, so the clear password is never
//! kept, a changed credential misses, and a repeated request skips the SHA-1. Failed checks are not cached.
//! Neither the password nor the header is ever logged.

use std::sync::Arc;

use base64::Engine;
use gateway_config::credentials::BasicauthCredential;
use gateway_config::plugins::basic_auth::BasicAuthConfig;
use http::header::{AUTHORIZATION, PROXY_AUTHORIZATION};
use http::HeaderValue;
use quick_cache::sync::Cache;

use super::consumer_auth::{authenticated, unauthorized, Anonymous};
use super::{Access, Exchange, Flow, Phases, Plugin, Reply, Request};

/// Kong's message for every basic-auth failure.
pub const UNAUTHORIZED: &str = "Unauthorized";

/// How many successful (username, password) checks an instance remembers.
pub const VERIFIED_CAPACITY: usize = 1024;

/// One basic-auth plugin config, running.
pub struct BasicAuth {
    cfg: Arc<BasicAuthConfig>,
    anonymous: Anonymous,
    challenge: HeaderValue,
    verified: Cache<[u8; 32], ()>,
    cache_key: [u8; 32],
}

impl BasicAuth {
    /// The running instance of `cfg`.
    pub fn new(cfg: &Arc<BasicAuthConfig>) -> Self {
        let challenge = HeaderValue::from_str(&format!("Basic realm=\"{}\"", cfg.realm))
            .unwrap_or(HeaderValue::from_static("Basic"));
        BasicAuth {
            anonymous: Anonymous::new(cfg.anonymous.as_deref()),
            challenge,
            verified: Cache::new(VERIFIED_CAPACITY),
            cache_key: rand::random(),
            cfg: cfg.clone(),
        }
    }

    fn refusal(&self) -> Reply {
        unauthorized(UNAUTHORIZED, Some(&self.challenge))
    }

    /// True when `password` is `cred`'s password, from the cache of successful checks or by Kong's hash.
    fn verify(&self, cred: &BasicauthCredential, password: &str) -> bool {
        let mut h = blake3::Hasher::new_keyed(&self.cache_key);
        for part in [
            cred.username.as_bytes(),
            password.as_bytes(),
            cred.password.as_bytes(),
        ] {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part);
        }
        let key = *h.finalize().as_bytes();
        if self.verified.get(&key).is_some() {
            return true;
        }
        let ok = cred.verify(password);
        if ok {
            self.verified.insert(key, ());
        }
        ok
    }

    /// Kong's `do_authentication`: true when a credential matched (the caller is then set).
    fn authenticate(&self, req: &Request<'_>, ex: &mut Exchange) -> bool {
        let authorization = req.headers.get(AUTHORIZATION);
        let proxy = req.headers.get(PROXY_AUTHORIZATION);
        if authorization.is_none() && proxy.is_none() {
            return false;
        }
        let creds = &req.snap.credentials;
        if self.cfg.hide_credentials {
            ex.edits.headers.push((PROXY_AUTHORIZATION, None));
        }
        let mut found = proxy
            .and_then(parse)
            .and_then(|(user, pw)| creds.basicauth(&user).map(|c| (c, pw)));
        if found.is_none() {
            if self.cfg.hide_credentials {
                ex.edits.headers.push((AUTHORIZATION, None));
            }
            let Some((user, pw)) = authorization.and_then(parse) else {
                return false;
            };
            found = creds.basicauth(&user).map(|c| (c, pw));
        }
        let Some(((consumer, cred), password)) = found else {
            return false;
        };
        if !self.verify(cred, &password) {
            return false;
        }
        authenticated(ex, consumer, HeaderValue::from_str(&cred.username).ok());
        true
    }
}

/// The username and password of a `Basic` header as Kong reads them (`\s*[Bb]asic\s*(.+)`, base64, then
/// `([^:]+):(.*)`); `None` when it has none.
pub fn parse(value: &HeaderValue) -> Option<(String, String)> {
    let text = std::str::from_utf8(value.as_bytes()).ok()?;
    let at = text
        .find("Basic")
        .into_iter()
        .chain(text.find("basic"))
        .min()?;
    let encoded = text[at + 5..].trim_start();
    if encoded.is_empty() {
        return None;
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let decoded = String::from_utf8(engine.decode(encoded).ok()?).ok()?;
    let (user, password) = decoded.trim_start_matches(':').split_once(':')?;
    let password = password.split('\n').next().unwrap_or("");
    Some((user.to_owned(), password.to_owned()))
}

impl Plugin for BasicAuth {
    fn name(&self) -> &'static str {
        "basic-auth"
    }

    fn phases(&self) -> Phases {
        Phases::ACCESS
    }

    fn access<'a>(&'a self, req: &'a Request<'a>, ex: &'a mut Exchange) -> Access<'a> {
        if self.anonymous.already_authenticated(ex) {
            return Access::Done(Flow::Continue);
        }
        Access::Done(if self.authenticate(req, ex) {
            Flow::Continue
        } else {
            self.anonymous.fail(req, ex, self.refusal())
        })
    }
}

#[cfg(test)]
mod tests;

//! Kong's `jwt` plugin on the pipeline (priority 1450): a token from the query (`uri_param_names`), cookies
//! (`cookie_names`) or a `Bearer` header (`header_names`) is decoded ([`token`]), its key claim names a
//! `jwt_secrets` credential (`Snapshot::credentials`), the credential's algorithm — never the token's —
//! verifies the signature ([`keys`]), then the registered claims are checked. Kong's messages, statuses and
//! `WWW-Authenticate` challenges; `anonymous` is Kong's logical OR (`consumer_auth`).
//!
//! Each credential's key is prepared once per plugin instance (an instance lives in one snapshot), the
//! first time a token names it, and reused by every later request.

pub mod keys;
#[cfg(test)]
mod tests;
pub mod token;

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use dashmap::DashMap;
use gateway_config::plugins::jwt::{Claim, JwtConfig};
use http::{HeaderName, HeaderValue, Method};

use super::consumer_auth::{authenticated, Anonymous};
use super::{Access, Exchange, Flow, Phases, Plugin, Reply, Request};
use crate::responses;
use keys::{KeyError, Ready};
use token::Refusal;

/// One jwt plugin, running.
pub struct Jwt {
    cfg: Arc<JwtConfig>,
    headers: Vec<HeaderName>,
    claims: Vec<Claim>,
    anonymous: Anonymous,
    /// `Bearer` or `Bearer realm="…"` (no token), and the same with `error="invalid_token"`.
    challenge: HeaderValue,
    challenge_invalid: HeaderValue,
    ready: DashMap<String, Arc<Ready>>,
}

impl Jwt {
    /// The plugin of `cfg`.
    pub fn new(cfg: Arc<JwtConfig>) -> Self {
        let (base, invalid) = match &cfg.realm {
            Some(realm) => (
                format!("Bearer realm=\"{realm}\""),
                format!("Bearer realm=\"{realm}\", error=\"invalid_token\""),
            ),
            None => ("Bearer".into(), "Bearer error=\"invalid_token\"".into()),
        };
        let header =
            |s: String| HeaderValue::try_from(s).unwrap_or(HeaderValue::from_static("Bearer"));
        Jwt {
            headers: (cfg.header_names.iter())
                .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok())
                .collect(),
            claims: cfg.claims_to_verify.clone().unwrap_or_default(),
            anonymous: Anonymous::new(cfg.anonymous.as_deref()),
            challenge: header(base),
            challenge_invalid: header(invalid),
            ready: DashMap::new(),
            cfg,
        }
    }

    /// The credential `key`, prepared on first use.
    fn ready(&self, key: &str, req: &Request<'_>) -> Option<Arc<Ready>> {
        if let Some(r) = self.ready.get(key) {
            return Some(r.clone());
        }
        let entry = req.snap.credentials.jwt(key)?;
        let r = Arc::new(Ready::new(key, entry, self.cfg.secret_is_base64));
        self.ready.insert(key.to_owned(), r.clone());
        Some(r)
    }

    /// Kong's `do_authentication` after the token was found: the credential that verified it.
    fn authenticate(
        &self,
        token: &str,
        req: &Request<'_>,
        now: f64,
    ) -> Result<Arc<Ready>, Refusal> {
        let decoded = token::decode(token)?;
        let name = &self.cfg.key_claim_name;
        let key = token::key_of(&decoded, name)?;
        let no_credential = || Refusal::invalid(format!("No credentials found for given '{name}'"));
        let ready = key
            .and_then(|k| self.ready(k, req))
            .ok_or_else(no_credential)?;
        if decoded.alg != ready.algorithm {
            return Err(Refusal::invalid("Invalid algorithm"));
        }
        match ready.verify(decoded.signed.as_bytes(), &decoded.signature) {
            Ok(true) => {}
            Ok(false) => return Err(Refusal::invalid("Invalid signature")),
            Err(KeyError::Missing) => return Err(Refusal::invalid("Invalid key/secret")),
            Err(KeyError::Fault) => return Err(Refusal::Fault),
        }
        token::check_claims(
            &decoded.claims,
            &self.claims,
            self.cfg.maximum_expiration,
            now,
        )?;
        Ok(ready)
    }

    fn reply(&self, refusal: Refusal) -> Reply {
        let (body, challenge) = match refusal {
            Refusal::Message { message, bare } => {
                let body = serde_json::json!({ "message": message }).to_string();
                (
                    body,
                    if bare {
                        &self.challenge
                    } else {
                        &self.challenge_invalid
                    },
                )
            }
            Refusal::Claims(errors) => (
                serde_json::Value::Object(errors).to_string(),
                &self.challenge_invalid,
            ),
            Refusal::Fault => {
                return Reply::Body {
                    status: 500,
                    headers: Vec::new(),
                    body: Bytes::from_static(responses::UNEXPECTED.as_bytes()),
                }
            }
        };
        Reply::Body {
            status: 401,
            headers: vec![(
                HeaderName::from_static("www-authenticate"),
                challenge.clone(),
            )],
            body: Bytes::from(body),
        }
    }
}

/// The tokens of a request (Kong's `retrieve_tokens`): query arguments, then cookies, then `Bearer` headers;
/// empty values skipped, duplicates counted once. `true` in the second place: a query argument without a
/// value was named (Kong's boolean argument, an "Unrecognizable token").
pub fn tokens<'r>(
    cfg: &JwtConfig,
    headers: &[HeaderName],
    req: &'r Request<'_>,
) -> (Vec<Cow<'r, str>>, bool) {
    let mut found: Vec<Cow<'r, str>> = Vec::new();
    let mut flag = false;
    let add = |t: Cow<'r, str>, found: &mut Vec<Cow<'r, str>>| {
        if !t.is_empty() && !found.contains(&t) {
            found.push(t);
        }
    };
    if let Some(query) = req.uri.query() {
        for pair in query.split('&') {
            let (name, value) = match pair.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (pair, None),
            };
            if !cfg.uri_param_names.iter().any(|n| *n == url_decode(name)) {
                continue;
            }
            match value {
                Some(v) => add(url_decode(v), &mut found),
                None => flag = true,
            }
        }
    }
    for name in &cfg.cookie_names {
        if let Some(v) = cookie(req.headers, name) {
            add(Cow::Borrowed(v), &mut found);
        }
    }
    for name in headers {
        let Some(value) = req.headers.get(name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        if let Some(t) = bearer(value) {
            add(Cow::Borrowed(t), &mut found);
        }
    }
    (found, flag)
}

fn url_decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
    let plus = s.replace('+', " ");
    let decoded = percent_encoding::percent_decode_str(&plus).decode_utf8_lossy();
    Cow::Owned(decoded.into_owned())
}

/// nginx's `$cookie_<name>`: the first cookie of that name (compared case-insensitively) in the `Cookie`
/// headers.
fn cookie<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim_start().split_once('='))
        .find(|(n, _)| n.trim_end().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// Kong's `\s*[Bb]earer\s+(.+)`, searched anywhere in the value: what follows the first `Bearer` (or
/// `bearer`) and its whitespace.
pub fn bearer(value: &str) -> Option<&str> {
    let b = value.as_bytes();
    let is_space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r');
    let mut i = 0;
    while i + 6 <= b.len() {
        if matches!(b[i], b'B' | b'b') && &b[i + 1..i + 6] == b"earer" {
            let start = i + 6;
            let spaces = b[start..].iter().take_while(|c| is_space(**c)).count();
            if spaces > 0 {
                let rest = start + spaces;
                if rest < b.len() {
                    return Some(&value[rest..]);
                }
                if spaces > 1 {
                    // The backtracking of `\s+(.+)`: the last whitespace character is the token.
                    return Some(&value[rest - 1..]);
                }
            }
        }
        i += 1;
    }
    None
}

impl Plugin for Jwt {
    fn name(&self) -> &'static str {
        "jwt"
    }

    fn phases(&self) -> Phases {
        Phases::ACCESS
    }

    fn access<'a>(&'a self, req: &'a Request<'a>, ex: &'a mut Exchange) -> Access<'a> {
        if !self.cfg.run_on_preflight && req.method == Method::OPTIONS {
            return Access::Done(Flow::Continue);
        }
        if self.anonymous.already_authenticated(ex) {
            return Access::Done(Flow::Continue);
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs() as f64);
        let (found, flag) = tokens(&self.cfg, &self.headers, req);
        let outcome = match (found.as_slice(), flag) {
            ([], false) => Err(Refusal::Message {
                message: "Unauthorized".into(),
                bare: true,
            }),
            ([], true) => Err(Refusal::invalid("Unrecognizable token")),
            ([token], false) => self.authenticate(token, req, now),
            _ => Err(Refusal::invalid("Multiple tokens provided")),
        };
        Access::Done(match outcome {
            Ok(ready) => {
                authenticated(ex, ready.consumer, ready.identifier.clone());
                Flow::Continue
            }
            Err(Refusal::Fault) => {
                ex.auth = "deny";
                Flow::Respond(self.reply(Refusal::Fault))
            }
            Err(refusal) => {
                let reply = self.reply(refusal);
                self.anonymous.fail(req, ex, reply)
            }
        })
    }
}

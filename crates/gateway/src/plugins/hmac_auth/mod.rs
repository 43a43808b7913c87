//! Kong's `hmac-auth` plugin on the pipeline (priority 1030), as `kong/plugins/hmac-auth/access.lua`: the
//! request's `X-Date` (else `Date`) within `clock_skew`, then the credentials of `Proxy-Authorization`
//! (else `Authorization`), `hmac username="…", algorithm="…", headers="…", signature="…"`, checked against
//! `enforce_headers` and `algorithms`, the username looked up in the snapshot's hmac-auth credentials, the
//! signature compared with the HMAC of the signing string ([`sign`]), and with `validate_request_body` the
//! body against its `Digest`. Kong's answers: 401 "Unauthorized" (no credentials header), the clock-skew
//! message, "HMAC signature cannot be verified" (credentials unreadable, unknown user, algorithm or
//! enforced header), "HMAC signature does not match" (signature or digest), each with
//! `WWW-Authenticate: hmac` (or `hmac realm="…"`). X-Credential-Identifier is the credential's username.
//! Neither the secret, the signature nor the header is ever logged.

pub mod sign;

use std::sync::Arc;
use std::time::SystemTime;

use gateway_config::plugins::hmac_auth::HmacAuthConfig;
use http::header::{AUTHORIZATION, DATE, PROXY_AUTHORIZATION};
use http::{HeaderName, HeaderValue};

use super::consumer_auth::{authenticated, unauthorized, Anonymous};
use super::{Access, Exchange, Flow, Phases, Plugin, Reply, Request};
use sign::{Algorithm, RequestLine};

/// Kong's message when neither `Authorization` nor `Proxy-Authorization` is sent.
pub const UNAUTHORIZED: &str = "Unauthorized";
/// Kong's message when neither `X-Date` nor `Date` is a date within `clock_skew`.
pub const CLOCK_SKEW: &str = "HMAC signature cannot be verified, a valid date or x-date header is required for HMAC Authentication";
/// Kong's message for unreadable credentials, an unknown username, algorithm or a missing enforced header.
pub const NOT_VALID: &str = "HMAC signature cannot be verified";
/// Kong's message for a wrong signature or body digest.
pub const NOT_SAME: &str = "HMAC signature does not match";

static X_DATE: HeaderName = HeaderName::from_static("x-date");
static DIGEST: HeaderName = HeaderName::from_static("digest");

/// One hmac-auth plugin config, running.
pub struct HmacAuth {
    cfg: Arc<HmacAuthConfig>,
    algorithms: Vec<Algorithm>,
    anonymous: Anonymous,
    challenge: HeaderValue,
}

impl HmacAuth {
    /// The running instance of `cfg` (algorithms and the challenge computed once).
    pub fn new(cfg: &Arc<HmacAuthConfig>) -> Self {
        let challenge = match cfg.realm.as_deref() {
            Some(realm) => HeaderValue::from_str(&format!("hmac realm=\"{realm}\""))
                .unwrap_or(HeaderValue::from_static("hmac")),
            None => HeaderValue::from_static("hmac"),
        };
        HmacAuth {
            algorithms: (cfg.algorithms.iter())
                .filter_map(|a| Algorithm::named(a.as_bytes()))
                .collect(),
            anonymous: Anonymous::new(cfg.anonymous.as_deref()),
            challenge,
            cfg: cfg.clone(),
        }
    }

    /// Kong's `do_authentication`: `Ok(())` when the signature verified (the caller is then set), else the
    /// message of the 401.
    fn authenticate(
        &self,
        req: &Request<'_>,
        ex: &mut Exchange,
        now: SystemTime,
    ) -> Result<(), &'static str> {
        let authorization = req.headers.get(AUTHORIZATION);
        let proxy = req.headers.get(PROXY_AUTHORIZATION);
        if authorization.is_none() && proxy.is_none() {
            return Err(UNAUTHORIZED);
        }
        let skew = self.cfg.clock_skew;
        if !(sign::date_within(req.headers, &X_DATE, skew, now)
            || sign::date_within(req.headers, &DATE, skew, now))
        {
            return Err(CLOCK_SKEW);
        }
        let params = match proxy.and_then(|v| sign::parse(v.as_bytes())) {
            Some(p) => {
                if self.cfg.hide_credentials {
                    ex.edits.headers.push((PROXY_AUTHORIZATION, None));
                }
                Some(p)
            }
            None => {
                if self.cfg.hide_credentials {
                    ex.edits.headers.push((AUTHORIZATION, None));
                }
                authorization.and_then(|v| sign::parse(v.as_bytes()))
            }
        };
        let params = params.ok_or(NOT_VALID)?;
        let enforced =
            (self.cfg.enforce_headers.iter()).all(|h| params.headers.contains(&h.as_bytes()));
        if !enforced {
            return Err(NOT_VALID);
        }
        let algorithm = Algorithm::named(params.algorithm)
            .filter(|a| self.algorithms.contains(a))
            .ok_or(NOT_VALID)?;
        let username = std::str::from_utf8(params.username).map_err(|_| NOT_VALID)?;
        let (consumer, cred) = req.snap.credentials.hmacauth(username).ok_or(NOT_VALID)?;
        let line = RequestLine {
            method: req.method,
            uri: req.uri.path_and_query().map_or("/", |p| p.as_str()),
            version: req.version,
        };
        let signed = sign::signing_string(&params.headers, req.headers, line);
        let secret = cred.secret.as_bytes();
        if !sign::signature_matches(algorithm, secret, &signed, params.signature) {
            return Err(NOT_SAME);
        }
        if self.cfg.validate_request_body {
            let digest = req.headers.get(&DIGEST).map(HeaderValue::as_bytes);
            if !sign::body_matches(digest, req.raw_body.unwrap_or_default()) {
                return Err(NOT_SAME);
            }
        }
        authenticated(ex, consumer, HeaderValue::from_str(&cred.username).ok());
        Ok(())
    }

    fn refusal(&self, message: &str) -> Reply {
        unauthorized(message, Some(&self.challenge))
    }

    /// The access handler at `now` (the tests' clock).
    fn access_at(&self, req: &Request<'_>, ex: &mut Exchange, now: SystemTime) -> Flow {
        if self.anonymous.already_authenticated(ex) {
            return Flow::Continue;
        }
        match self.authenticate(req, ex, now) {
            Ok(()) => Flow::Continue,
            Err(message) => self.anonymous.fail(req, ex, self.refusal(message)),
        }
    }
}

impl Plugin for HmacAuth {
    fn name(&self) -> &'static str {
        "hmac-auth"
    }

    fn phases(&self) -> Phases {
        Phases::ACCESS
    }

    fn needs_raw_body(&self) -> bool {
        self.cfg.validate_request_body
    }

    fn access<'a>(&'a self, req: &'a Request<'a>, ex: &'a mut Exchange) -> Access<'a> {
        Access::Done(self.access_at(req, ex, SystemTime::now()))
    }
}

#[cfg(test)]
mod tests;

//! Kong's `key-auth` plugin on the pipeline (priority 1250): an API key looked for under each of
//! `key_names` in turn, in the headers, then the query string, then (with `key_in_body`) a form or JSON body,
//! and matched against the snapshot's key-auth credentials (`Snapshot::credentials`). Kong's texts: "No API
//! key found in request", "Duplicate API key found" and "Unauthorized" (Kong 3.10), each a 401 with
//! `WWW-Authenticate: Key` (or `Key realm="..."`). The key itself is never logged.
//!
//! Headers are matched case-insensitively; a key name with underscores also matches the header spelled with
//! dashes (Kong reads headers through OpenResty's normalizing lookup: `api_key` finds `api-key`, not the
//! reverse). A name given twice in the headers, the query or the body is Kong's "Duplicate API key found".

pub mod find;

use std::sync::Arc;

use gateway_config::plugins::key_auth::KeyAuthConfig;
use http::{HeaderValue, Method};

use super::consumer_auth::{authenticated, unauthorized, Anonymous};
use super::{Access, Exchange, Flow, Phases, Plugin, Reply, Request};
use find::{Found, KeyName};

/// Kong's message when no key was sent (or an empty one).
pub const NO_KEY: &str = "No API key found in request";
/// Kong's message when a key name was given more than once.
pub const DUPLICATE: &str = "Duplicate API key found";
/// Kong's message for a key no credential has (Kong 3.10's `ERR_INVALID_AUTH_CRED`).
pub const INVALID: &str = "Unauthorized";

/// One key-auth plugin config, running.
pub struct KeyAuth {
    cfg: Arc<KeyAuthConfig>,
    names: Vec<KeyName>,
    anonymous: Anonymous,
    challenge: HeaderValue,
}

impl KeyAuth {
    /// The running instance of `cfg` (header names and the challenge computed once).
    pub fn new(cfg: &Arc<KeyAuthConfig>) -> Self {
        let challenge = match cfg.realm.as_deref() {
            Some(realm) => HeaderValue::from_str(&format!("Key realm=\"{realm}\""))
                .unwrap_or(HeaderValue::from_static("Key")),
            None => HeaderValue::from_static("Key"),
        };
        KeyAuth {
            names: cfg.key_names.iter().map(|n| KeyName::new(n)).collect(),
            anonymous: Anonymous::new(cfg.anonymous.as_deref()),
            challenge,
            cfg: cfg.clone(),
        }
    }

    fn refusal(&self, message: &str) -> Reply {
        unauthorized(message, Some(&self.challenge))
    }

    /// Kong's `do_authentication`: `Ok(())` when a credential matched (the caller is set), else the message
    /// of the 401.
    fn authenticate(&self, req: &Request<'_>, ex: &mut Exchange) -> Result<(), &'static str> {
        let found = find::find(&self.cfg, &self.names, req);
        let (key, name) = match found {
            Found::Key { key, name } => (key, name),
            Found::Duplicate => return Err(DUPLICATE),
            Found::Nothing => return Err(NO_KEY),
        };
        if self.cfg.hide_credentials {
            let n = &self.names[name];
            ex.edits.remove_query_args.push(n.name.clone());
            ex.edits
                .headers
                .extend(n.headers().map(|h| (h.clone(), None)));
        }
        if key.is_empty() {
            return Err(NO_KEY);
        }
        let Some((consumer, id)) = req.snap.credentials.keyauth_credential(&key) else {
            return Err(INVALID);
        };
        // The id's header value was made with the snapshot: a shared copy, not formatted per request.
        authenticated(ex, consumer, Some(id.clone()));
        Ok(())
    }
}

impl Plugin for KeyAuth {
    fn name(&self) -> &'static str {
        "key-auth"
    }

    fn phases(&self) -> Phases {
        Phases::ACCESS
    }

    fn needs_body(&self) -> bool {
        self.cfg.key_in_body
    }

    fn access<'a>(&'a self, req: &'a Request<'a>, ex: &'a mut Exchange) -> Access<'a> {
        if !self.cfg.run_on_preflight && req.method == Method::OPTIONS {
            return Access::Done(Flow::Continue);
        }
        if self.anonymous.already_authenticated(ex) {
            return Access::Done(Flow::Continue);
        }
        Access::Done(match self.authenticate(req, ex) {
            Ok(()) => Flow::Continue,
            Err(message) => self.anonymous.fail(req, ex, self.refusal(message)),
        })
    }
}

#[cfg(test)]
mod tests;

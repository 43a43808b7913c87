//! Several issuers on one route (`extra_issuers`, a gateway extension): the plugin's own issuer first, then
//! each extra one, each an [`Idp`] of its own (its discovery, keys, client credentials, breakers and
//! caches, whose keys carry the issuer's config identity, so an entry never answers for another issuer).
//!
//! - A JWT goes to the issuer its (unverified) `iss` names, and only there: verified with that issuer's
//!   keys (`bearer`) or introspected there. A JWT naming no configured issuer is treated as opaque.
//! - An opaque token: a fresh active entry in any issuer's local cache answers at once (no IdP call);
//!   otherwise the issuers are asked in order (each through its own cache and breaker) until one says
//!   active. None active: an outage at any of them wins (the token may belong to the one that could not
//!   answer: refused, with `idp_outage_status`), then any other failure, then the first inactive answer.
//! - Grants (password, client_credentials) use the plugin's own issuer only.

use std::sync::Arc;
use std::time::Duration;

use gateway_config::plugins::openid_connect::{ExtraIssuer, OidcConfig};

use super::{Idp, Shared};
use crate::cache::CacheKey;
use crate::cluster::keys;
use crate::decide::Found;
use crate::errors::Failure;
use crate::extract::Credential;
use crate::introspect::Introspected;
use crate::jwt::{looks_like_jwt, verify};

/// The issuers of one plugin config: `[0]` is the config's own.
#[derive(Debug)]
pub struct Issuers {
    all: Vec<Idp>,
}

/// The config of an extra issuer: the plugin's settings with the entry's issuer and client. The plugin's
/// client credentials, extra introspection headers and arguments, explicit endpoints, extra JWKS URLs
/// and `issuers_allowed` belong to its own issuer and are not carried over (never sent elsewhere).
pub fn issuer_config(cfg: &OidcConfig, e: &ExtraIssuer) -> OidcConfig {
    let mut c = cfg.clone();
    c.issuer = e.issuer.clone();
    c.introspection_endpoint = e.introspection_endpoint.clone();
    c.client_id = e.client_id.clone().map(|id| vec![id]);
    c.client_secret = e.client_secret.clone().map(|s| vec![s]);
    // The plugin's key and certificate are for its own issuer: an extra issuer's client has a secret
    // at most, so only the secret methods are inherited.
    c.introspection_endpoint_auth_method = e.introspection_endpoint_auth_method.or(cfg
        .introspection_endpoint_auth_method
        .filter(|m| m.secret_only()));
    c.client_auth = (cfg.client_auth.as_ref())
        .map(|a| {
            a.iter()
                .copied()
                .filter(|m| m.secret_only())
                .collect::<Vec<_>>()
        })
        .filter(|a| !a.is_empty());
    c.client_jwk = None;
    c.client_alg = None;
    c.tls_client_auth_cert_id = None;
    c.tls_client_identity = None;
    c.introspection_headers_names = None;
    c.introspection_headers_values = None;
    c.introspection_post_args_names = None;
    c.introspection_post_args_values = None;
    c.token_endpoint = None;
    c.issuers_allowed = None;
    c.extra_jwks_uris = None;
    c.extra_issuers = None;
    c
}

impl Issuers {
    /// The plugin's issuer (whose config hash is `config_key`) and its `extra_issuers`.
    pub fn new(cfg: &OidcConfig, config_key: [u8; 32], shared: &Shared) -> Self {
        let mut all = vec![Idp::new(cfg, config_key, shared)];
        for e in cfg.extra_issuers.iter().flatten() {
            let c = issuer_config(cfg, e);
            let key = gateway_config::plugins::key_of(&c.to_value_with_defaults());
            all.push(Idp::new(&c, key, shared));
        }
        Issuers { all }
    }

    /// The plugin's own issuer.
    pub fn primary(&self) -> &Idp {
        &self.all[0]
    }

    /// `Err` (a 500) when no HTTP client could be built (the issuers share the config's client).
    pub fn ready(&self) -> Result<(), Failure> {
        self.primary().ready()
    }

    /// What the issuers say about `credential` (see the module doc).
    pub async fn lookup<'c>(&self, credential: &'c Credential) -> Result<Found<'c>, Failure> {
        match credential {
            Credential::Bearer { token, .. } if self.all.len() > 1 => {
                // Boxed: several issuers are the rare case; keep the one-issuer future small.
                let info = Box::pin(self.bearer(token)).await?;
                Ok(Found::Bearer { token, info })
            }
            _ => self.primary().lookup(credential).await,
        }
    }

    async fn bearer(&self, token: &str) -> Result<Arc<Introspected>, Failure> {
        if looks_like_jwt(token) {
            if let Some(iss) = verify::unverified_issuer(token) {
                if let Some(idp) = self.all.iter().find(|i| i.may_issue(&iss)) {
                    return idp.bearer_token(token).await;
                }
            }
        }
        if !self.primary().introspection_enabled {
            // Not a JWT of a known issuer, and nothing to introspect with: the primary's refusal.
            return self.primary().bearer_token(token).await;
        }
        if let Some(info) = self.all.iter().find_map(|i| i.cached_active(token)) {
            return Ok(info);
        }
        let mut inactive = None;
        let mut failure: Option<Failure> = None;
        for idp in &self.all {
            match idp.introspect_token(token).await {
                Ok(info) if info.active => return Ok(info),
                Ok(info) => {
                    inactive.get_or_insert(info);
                }
                Err(f) => {
                    log::debug!(
                        "openid-connect issuer did not answer issuer={} reason={f}",
                        idp.issuer
                    );
                    if failure
                        .as_ref()
                        .is_none_or(|old| f.is_outage() && !old.is_outage())
                    {
                        failure = Some(f);
                    }
                }
            }
        }
        match (failure, inactive) {
            (Some(f), _) => Err(f),
            (None, Some(info)) => Ok(info),
            (None, None) => Err(Failure::Inactive),
        }
    }

    /// The introspection cache keys of a token hash, one per issuer.
    pub fn introspection_keys(&self, token_hash: &CacheKey) -> Vec<CacheKey> {
        self.all
            .iter()
            .map(|i| i.introspection_key(token_hash))
            .collect()
    }

    /// Removes the tokens' introspection results at every issuer; the number of entries removed.
    pub fn purge(&self, token_hashes: &[CacheKey], grants: bool) -> usize {
        self.all.iter().map(|i| i.purge(token_hashes, grants)).sum()
    }

    /// Empties every issuer's introspection cache.
    pub fn clear_introspection_cache(&self) {
        self.all.iter().for_each(Idp::clear_introspection_cache);
    }

    /// Entries in the introspection caches (fresh or not).
    pub fn introspection_cache_len(&self) -> usize {
        self.all.iter().map(Idp::introspection_cache_len).sum()
    }

    /// The longest wait until every open circuit lets a probe through (zero: none open).
    pub fn retry_after(&self) -> Duration {
        self.all
            .iter()
            .map(Idp::retry_after)
            .max()
            .unwrap_or_default()
    }
}

impl Idp {
    /// Whether `iss` names this issuer (configured, `issuers_allowed`, or discovered once keys were fetched).
    fn may_issue(&self, iss: &str) -> bool {
        let known = self
            .jwt
            .as_ref()
            .map(|j| &j.jwks)
            .or(self.signed_introspection.as_ref().map(|(k, _)| k))
            .and_then(|k| k.known_issuer());
        self.iss_rules.issuer_allowed(iss, known.as_deref())
    }

    /// A bearer token in Kong's precedence at this issuer (JWT verification, then introspection).
    async fn bearer_token(&self, token: &str) -> Result<Arc<Introspected>, Failure> {
        let http = self.http.as_ref().map_err(|e| Failure::Setup(e.clone()))?;
        self.bearer(http, token).await
    }

    /// The token introspected at this issuer (through its caches).
    async fn introspect_token(&self, token: &str) -> Result<Arc<Introspected>, Failure> {
        let http = self.http.as_ref().map_err(|e| Failure::Setup(e.clone()))?;
        self.introspect(http, token).await
    }

    /// A fresh, active result for `token` in this issuer's local introspection cache.
    fn cached_active(&self, token: &str) -> Option<Arc<Introspected>> {
        let cache = self.caches.introspection.as_ref()?;
        cache
            .peek(&keys::token_hash(&self.keyer, token))
            .filter(|i| i.active)
    }
}

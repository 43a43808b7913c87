//! The I/O side of one plugin config: discovery, the IdP calls (each lookup under one deadline, behind
//! the endpoint's breaker), the local caches, the cluster cache and stale-if-error. It turns a
//! credential into what [`crate::decide`] decides on ([`Found`]), or the failure that stopped it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use gateway_config::plugins::openid_connect::{AuthMethod, OidcConfig};

use crate::breaker::{GuardSettings, IdpGuard, IdpGuards};
use crate::cache::{now_ms, secs_to_ms, CacheKey, Keyer, TimedCache, TtlPolicy};
use crate::cluster::{keys, lock::Loaded, Cluster};
use crate::decide::Found;
use crate::discovery::{Discovery, Endpoints};
use crate::errors::{DiscoveryError, Endpoint, Failure, IdpError};
use crate::extract::Credential;
use crate::grants::{GrantRequest, GrantedToken};
use crate::http_client::{first, FormRequest, HttpClients, IdpHttp};
use crate::introspect::{ClaimPlan, Introspected, IntrospectionRequest};
use crate::jwt::jwks::{Jwks, Source};
use crate::jwt::{looks_like_jwt, verify, JwtError};
use crate::metrics::{AuthMetrics, Cache};
use crate::resurrect::Resurrect;

mod issuers;
#[cfg(test)]
mod issuers_tests;
pub use issuers::{issuer_config, Issuers};

/// What every authenticator of a process shares: HTTP clients, cache-key salt, cache size, metrics,
/// and the cluster cache (owned by the [`crate::AuthRegistry`]).
#[derive(Debug)]
pub struct Shared {
    /// The pooled HTTP clients.
    pub clients: HttpClients,
    /// The cache-key salt (the cluster's when there is one).
    pub keyer: Keyer,
    /// Maximum entries of each cache.
    pub cache_capacity: usize,
    /// Where everything counts.
    pub metrics: Arc<AuthMetrics>,
    /// The second cache level, when configured.
    pub cluster: Option<Cluster>,
}

/// One config's local caches. The introspection cache is keyed by the token hash alone (one keyed hash per
/// request): the caches belong to one config, so the config key in the cluster's entry key
/// ([`Idp::introspection_key`]) adds nothing here; the cluster and stale-if-error use the entry key.
#[derive(Debug)]
struct Caches {
    introspection: Option<TimedCache<Arc<Introspected>>>,
    token: Option<TimedCache<Arc<GrantedToken>>>,
    resurrect: Option<Resurrect>,
}

impl Caches {
    fn new(cfg: &OidcConfig, capacity: usize, metrics: &Arc<AuthMetrics>) -> Self {
        Caches {
            introspection: cfg
                .cache_introspection
                .then(|| TimedCache::new(Cache::Introspection, capacity, Arc::clone(metrics))),
            token: cfg
                .cache_tokens
                .then(|| TimedCache::new(Cache::Token, capacity, Arc::clone(metrics))),
            resurrect: cfg
                .cache_ttl_resurrect
                .map(secs_to_ms)
                .filter(|w| *w > 0)
                .map(|w| Resurrect::new(w, capacity)),
        }
    }
}

/// The I/O side of one plugin config.
#[derive(Debug)]
pub struct Idp {
    issuer: String,
    config_key: [u8; 32],
    http: Result<IdpHttp, String>,
    discovery: Arc<Discovery>,
    /// Endpoints set in the config (used instead of discovery's).
    explicit: Endpoints,
    client_id: String,
    introspection: IntrospectionRequest,
    grant: GrantRequest,
    claims: ClaimPlan,
    ttl: TtlPolicy,
    keyer: Keyer,
    caches: Caches,
    cluster: Option<Cluster>,
    guards: Arc<IdpGuards>,
    metrics: Arc<AuthMetrics>,
    /// `bearer` enabled: local verification of JWT access tokens.
    jwt: Option<JwtSide>,
    /// `introspection` enabled.
    introspection_enabled: bool,
    /// `introspection_accept: application/token-introspection+jwt`: verify RFC 9701 signed answers with
    /// these keys and rules.
    signed_introspection: Option<(Arc<Jwks>, verify::Rules)>,
    /// The `iss` values naming this issuer (configured issuer, `issuers_allowed`): picks the issuer of
    /// a JWT with `extra_issuers`.
    iss_rules: verify::Rules,
}

/// `Accept` of an RFC 9701 introspection request.
const SIGNED_INTROSPECTION: &str = "application/token-introspection+jwt";

/// What local JWT verification needs (`bearer`).
#[derive(Debug)]
struct JwtSide {
    jwks: Arc<Jwks>,
    rules: verify::Rules,
    /// The claims to keep, as for introspection (a verified JWT is active by its signature).
    plan: ClaimPlan,
    /// `introspect_jwt_tokens`: introspect verified JWTs too.
    introspect: bool,
    /// Verified tokens' results by keyed token hash, until the token's `exp` (or `cache_ttl`) and only while
    /// the key set that verified them is the current one: a hit skips the signature check; the claim rules
    /// still run on every request.
    verified: TimedCache<Verified>,
}

/// A verified JWT's result and the key set it was verified with.
#[derive(Debug, Clone)]
struct Verified {
    info: Arc<Introspected>,
    keys: Arc<crate::jwt::keys::KeySet>,
}

impl crate::cache::Expiring for Verified {
    fn fresh_at(&self, now_ms: u64) -> bool {
        crate::cache::Expiring::fresh_at(&*self.info, now_ms)
    }
}

/// The config's key cache, when `bearer` or signed introspection needs one.
fn jwks_of(
    cfg: &OidcConfig,
    http: Option<IdpHttp>,
    guards: &Arc<IdpGuards>,
    discovery: &Arc<Discovery>,
) -> Option<Arc<Jwks>> {
    let needed =
        cfg.method_enabled(AuthMethod::Bearer) || cfg.introspection_accept == SIGNED_INTROSPECTION;
    needed.then(|| {
        let source = Source {
            http,
            guards: Arc::clone(guards),
            discovery: Arc::clone(discovery),
        };
        Arc::new(Jwks::new(
            source,
            cfg.extra_jwks_uris.clone().unwrap_or_default(),
            Duration::from_millis(secs_to_ms(cfg.cache_ttl).max(1000)),
            Duration::from_millis(secs_to_ms(cfg.rediscovery_lifetime)),
        ))
    })
}

impl JwtSide {
    fn new(cfg: &OidcConfig, jwks: Arc<Jwks>, capacity: usize, metrics: &Arc<AuthMetrics>) -> Self {
        JwtSide {
            verified: TimedCache::new(Cache::Jwt, capacity, Arc::clone(metrics)),
            jwks,
            rules: verify::Rules::new(cfg),
            plan: ClaimPlan {
                check_active: false,
                ..ClaimPlan::new(cfg)
            },
            introspect: cfg.introspect_jwt_tokens,
        }
    }
}

/// Runs a whole lookup (waiting for a coalesced load or an IdP slot included) within `timeout`;
/// running out is a timeout of `endpoint`.
async fn within<T>(
    timeout: Duration,
    endpoint: Endpoint,
    lookup: impl Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    tokio::time::timeout(timeout, lookup)
        .await
        .unwrap_or_else(|_| Err(Failure::of_idp(endpoint, IdpError::Timeout { endpoint })))
}

impl Idp {
    /// The I/O side of `cfg` (whose hash is `config_key`), on the process's shared parts.
    pub fn new(cfg: &OidcConfig, config_key: [u8; 32], shared: &Shared) -> Self {
        let http = Self::http(cfg, shared);
        let discovery = Arc::new(Discovery::new(
            &cfg.issuer,
            http.as_ref().ok().cloned(),
            Duration::from_millis(secs_to_ms(cfg.cache_ttl).max(1000)),
            Duration::from_millis(secs_to_ms(cfg.rediscovery_lifetime)),
        ));
        let metrics = &shared.metrics;
        let guards = Arc::new(IdpGuards::new(
            GuardSettings::from_config(cfg),
            Arc::clone(metrics),
        ));
        let jwks = jwks_of(cfg, http.as_ref().ok().cloned(), &guards, &discovery);
        let jwt = jwks
            .clone()
            .filter(|_| cfg.method_enabled(AuthMethod::Bearer))
            .map(|k| JwtSide::new(cfg, k, shared.cache_capacity, metrics));
        let signed_introspection = jwks
            .filter(|_| cfg.introspection_accept == SIGNED_INTROSPECTION)
            .map(|k| (k, verify::Rules::new(cfg)));
        Idp {
            issuer: cfg.issuer.clone(),
            config_key,
            http,
            discovery,
            explicit: Endpoints {
                introspection: cfg.introspection_endpoint.clone(),
                token: cfg.token_endpoint.clone(),
                ..Endpoints::default()
            },
            client_id: first(&cfg.client_id).unwrap_or_default().to_owned(),
            introspection: IntrospectionRequest::new(cfg),
            grant: GrantRequest::new(cfg),
            claims: ClaimPlan::new(cfg),
            ttl: TtlPolicy::from_config(cfg),
            keyer: shared.keyer.clone(),
            caches: Caches::new(cfg, shared.cache_capacity, metrics),
            cluster: shared.cluster.clone(),
            guards,
            metrics: Arc::clone(metrics),
            jwt,
            introspection_enabled: cfg.method_enabled(AuthMethod::Introspection),
            signed_introspection,
            iss_rules: verify::Rules::new(cfg),
        }
    }

    /// The shared client of the config's flavour, with its timeout (the error is logged once here).
    fn http(cfg: &OidcConfig, shared: &Shared) -> Result<IdpHttp, String> {
        let timeout = Duration::from_millis(secs_to_ms(cfg.timeout / 1000.0).max(1));
        let mut http = shared
            .clients
            .get(cfg.ssl_verify, cfg.keepalive)
            .map(|c| IdpHttp::new(c, timeout, Arc::clone(&shared.metrics)));
        if let (Ok(h), Some(identity)) = (&http, &cfg.tls_client_identity) {
            let verify = cfg.ssl_verify && cfg.tls_client_auth_ssl_verify;
            http = shared
                .clients
                .with_certificate(identity, verify, cfg.keepalive)
                .map(|m| h.clone().with_client_certificate(m));
        }
        if let Err(e) = &http {
            log::error!(
                "openid-connect HTTP client unavailable issuer={} error={e}",
                cfg.issuer
            );
        }
        http
    }

    /// `Err` (a 500) when no HTTP client could be built for this config.
    pub fn ready(&self) -> Result<(), Failure> {
        self.http
            .as_ref()
            .map(|_| ())
            .map_err(|e| Failure::Setup(e.clone()))
    }

    /// What the caches, the cluster or the IdP say about `credential`: a bearer token is introspected;
    /// Basic credentials run a grant, whose token is introspected too when the policy needs claims.
    pub async fn lookup<'c>(&self, credential: &'c Credential) -> Result<Found<'c>, Failure> {
        let http = self.http.as_ref().map_err(|e| Failure::Setup(e.clone()))?;
        let (form, key_parts): (FormRequest, [&[u8]; 3]) = match credential {
            Credential::Bearer { token, .. } => {
                let info = self.bearer(http, token).await?;
                return Ok(Found::Bearer { token, info });
            }
            Credential::Password {
                username, password, ..
            } => (
                self.grant.password(username, password),
                [b"password", username.as_bytes(), password.as_bytes()],
            ),
            Credential::ClientCredentials {
                client_id,
                client_secret,
                ..
            } => (
                self.grant.client_credentials_of(client_id, client_secret),
                [
                    b"client_credentials",
                    client_id.as_bytes(),
                    client_secret.as_bytes(),
                ],
            ),
        };
        // Boxed: the grant's HTTP machinery would otherwise sit in every bearer request's future.
        let token = Box::pin(self.grant_token(http, &key_parts, form)).await?;
        let info = if self.claims.needs_claims() {
            Some(self.introspect(http, &token.access_token).await?)
        } else {
            None
        };
        Ok(Found::Granted { token, info })
    }

    /// A bearer token, in Kong's precedence: a JWT verified locally (`bearer`), then — when that is not
    /// enabled, the token is not a JWT, or it did not verify — introspection (`introspection`). With
    /// `introspect_jwt_tokens`, a verified JWT is introspected too and the IdP's answer decides.
    async fn bearer(&self, http: &IdpHttp, token: &str) -> Result<Arc<Introspected>, Failure> {
        if let Some(jwt) = &self.jwt {
            match self.verify_jwt(jwt, token).await {
                Ok(_) if jwt.introspect => return self.introspect(http, token).await,
                Ok(info) => return Ok(info),
                Err(f) if self.introspection_enabled => {
                    log::debug!(
                        "openid-connect jwt not accepted, introspecting token={} reason={f}",
                        self.keyer.fingerprint(token)
                    );
                }
                Err(f) => return Err(f),
            }
        }
        self.introspect(http, token).await
    }

    /// Verifies a JWT access token with the issuer's keys (fetched again once for an unknown `kid`).
    async fn verify_jwt(&self, jwt: &JwtSide, token: &str) -> Result<Arc<Introspected>, Failure> {
        // The token's hash is remembered per connection (`token_memo`): a cached verdict costs no pass over
        // the token. Only verified JWTs are cached, so the shape is checked after the cache (it scanned the
        // whole token for every request: ~12k instructions for a 900-byte RS256 token).
        let token_hash = keys::token_hash(&self.keyer, token);
        // A cached result holds while the key set that verified it is the current one: a fetch (a rotation,
        // a refresh after `cache_ttl`) makes the next request of each token verify again, so a retired key's
        // tokens stop passing as soon as the new set is in.
        let current = jwt.jwks.current_set();
        let same_keys = |v: &Verified| current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &v.keys));
        if let Some(v) = jwt.verified.peek_if(&token_hash, same_keys) {
            return Ok(v.info);
        }
        if !looks_like_jwt(token) {
            return Err(Failure::Jwt(JwtError::NotJwt));
        }
        jwt.verified.remove(&token_hash);
        let (v, _) = jwt
            .verified
            .get_or_load(token_hash, || self.verify_jwt_now(jwt, token))
            .await?;
        Ok(v.info)
    }

    /// [`Self::verify_jwt`] without its cache: the signature and the claims, now.
    async fn verify_jwt_now(&self, jwt: &JwtSide, token: &str) -> Result<Verified, Failure> {
        let header = verify::header(token).map_err(Failure::Jwt)?;
        let keys = jwt.jwks.keys(header.kid.as_deref()).await?;
        let now = now_ms();
        let now_s = now as f64 / 1000.0;
        let claims = verify::verify(
            token,
            &header,
            &keys.set,
            &jwt.rules,
            keys.issuer.as_deref(),
            now_s,
        )
        .map_err(Failure::Jwt)?;
        Ok(Verified {
            info: Arc::new(Introspected::from_response(
                &claims, &jwt.plan, &self.ttl, now,
            )),
            keys: keys.set,
        })
    }

    /// The introspection cache key of a token hash (see [`crate::cluster::keys`]): the same on every
    /// node when the keyer comes from the cluster salt.
    pub fn introspection_key(&self, token_hash: &CacheKey) -> CacheKey {
        keys::entry_key(&self.keyer, &self.config_key, b"introspection", token_hash)
    }

    /// Removes the tokens' introspection results from the local caches (and, with `grants`, every
    /// cached grant); the number of introspection entries removed.
    pub fn purge(&self, token_hashes: &[CacheKey], grants: bool) -> usize {
        let mut removed = 0;
        for th in token_hashes {
            if let Some(c) = &self.caches.introspection {
                removed += usize::from(c.remove(th));
            }
            if let Some(j) = &self.jwt {
                removed += usize::from(j.verified.remove(th));
            }
            if let Some(r) = &self.caches.resurrect {
                r.forget(&self.introspection_key(th));
            }
        }
        if grants {
            if let Some(c) = &self.caches.token {
                c.clear();
            }
        }
        removed
    }

    /// Empties the local introspection cache.
    pub fn clear_introspection_cache(&self) {
        if let Some(c) = &self.caches.introspection {
            c.clear();
        }
        if let Some(j) = &self.jwt {
            j.verified.clear();
        }
    }

    /// Entries in the introspection cache (fresh or not).
    pub fn introspection_cache_len(&self) -> usize {
        self.caches
            .introspection
            .as_ref()
            .map_or(0, TimedCache::len)
    }

    /// How long until an open circuit of this config lets a probe through (rounded up to whole seconds);
    /// zero when none is open. The `Retry-After` of `idp_outage_status: 503`.
    pub fn retry_after(&self) -> Duration {
        self.guards.retry_after()
    }

    /// The guard (concurrency limit, circuit breaker) of one IdP endpoint URL.
    pub(crate) fn guard(&self, url: &str) -> Arc<IdpGuard> {
        self.guards.get(url)
    }

    /// The endpoint URL: the configured one, else discovery's.
    async fn endpoint(
        &self,
        explicit: Option<&String>,
        pick: fn(&Endpoints) -> Option<String>,
        name: &'static str,
    ) -> Result<String, Failure> {
        if let Some(url) = explicit {
            return Ok(url.clone());
        }
        let endpoints = self.discovery.endpoints().await?;
        pick(&endpoints).ok_or(Failure::Discovery(DiscoveryError::MissingEndpoint(name)))
    }

    /// Introspects a token through the local cache (coalesced; errors not cached), then the cluster
    /// cache, then the IdP; an IdP outage may serve a stale result (`cache_ttl_resurrect`).
    ///
    /// A fresh local entry answers at once, without the endpoint, the timeout or the loading machinery:
    /// the hit path is the hot one, and the slow path's future (HTTP client, cluster, guards) is large,
    /// so it is boxed and only built on a miss.
    async fn introspect(&self, http: &IdpHttp, token: &str) -> Result<Arc<Introspected>, Failure> {
        let token_hash = keys::token_hash(&self.keyer, token);
        if let Some(info) = self
            .caches
            .introspection
            .as_ref()
            .and_then(|c| c.peek(&token_hash))
        {
            log::debug!(
                "openid-connect introspection token={} cache=hit active={}",
                self.keyer.fingerprint(token),
                info.active
            );
            return Ok(info);
        }
        Box::pin(self.introspect_slow(http, token, token_hash)).await
    }

    /// [`Self::introspect`] after a local miss.
    async fn introspect_slow(
        &self,
        http: &IdpHttp,
        token: &str,
        token_hash: CacheKey,
    ) -> Result<Arc<Introspected>, Failure> {
        let key = self.introspection_key(&token_hash);
        let url = self
            .endpoint(
                self.explicit.introspection.as_ref(),
                |e| e.introspection.clone(),
                "introspection_endpoint",
            )
            .await?;
        let from_idp = || self.introspect_at_idp(http, &url, token, key);
        // Local miss → the cluster level (Redis, cross-node lock) when configured, else the IdP.
        let load = || async {
            match &self.cluster {
                Some(c) => c.introspection(key, &token_hash, from_idp).await,
                None => from_idp().await.map(|l| l.info),
            }
        };
        let lookup = async {
            let Some(cache) = &self.caches.introspection else {
                return load().await;
            };
            let (info, how) = cache.get_or_load(token_hash, load).await?;
            log::debug!(
                "openid-connect introspection token={} cache={} active={}",
                self.keyer.fingerprint(token),
                how.as_str(),
                info.active
            );
            Ok(info)
        };
        match within(http.timeout(), Endpoint::Introspection, lookup).await {
            Err(Failure::Introspection(e)) if e.is_outage() => self.resurrected(&key, token, e),
            other => other,
        }
    }

    /// One introspection call (behind the endpoint's guard); the result is recorded for resurrect.
    async fn introspect_at_idp(
        &self,
        http: &IdpHttp,
        url: &str,
        token: &str,
        key: CacheKey,
    ) -> Result<Loaded, Failure> {
        let form = self.introspection.build(token);
        let (obj, jwt) = match &self.signed_introspection {
            None => {
                let post = http.post_form(Endpoint::Introspection, url, &form);
                let obj = self
                    .guard(url)
                    .call(Endpoint::Introspection, post)
                    .await
                    .map_err(Failure::Introspection)?;
                (obj, None)
            }
            Some((jwks, rules)) => {
                let post =
                    http.post_form_text(Endpoint::Introspection, url, &form, SIGNED_INTROSPECTION);
                let jwt = self
                    .guard(url)
                    .call(Endpoint::Introspection, post)
                    .await
                    .map_err(Failure::Introspection)?;
                (
                    self.verify_signed_introspection(jwks, rules, &jwt).await?,
                    Some(jwt),
                )
            }
        };
        let mut info = Introspected::from_response(&obj, &self.claims, &self.ttl, now_ms());
        if info.active && self.claims.keep_jwt {
            // `upstream_introspection_jwt_header`: the verified answer as received.
            let jwt = jwt.and_then(|j| http::HeaderValue::from_str(j.trim()).ok());
            info.update_extras(|e| e.jwt_header = jwt);
        }
        let info = Arc::new(info);
        if let Some(r) = &self.caches.resurrect {
            r.record(key, &info);
        }
        let username = obj
            .get("username")
            .and_then(|u| u.as_str())
            .filter(|_| info.active)
            .map(str::to_owned);
        Ok(Loaded { info, username })
    }

    /// The `token_introspection` member of an RFC 9701 answer that verifies with the issuer's keys.
    async fn verify_signed_introspection(
        &self,
        jwks: &Arc<Jwks>,
        rules: &verify::Rules,
        jwt: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, Failure> {
        let unverified = |e: JwtError| {
            Failure::Introspection(IdpError::Unverified {
                endpoint: Endpoint::Introspection,
                why: e.to_string(),
            })
        };
        let header = verify::introspection_header(jwt).map_err(unverified)?;
        let keys = jwks.keys(header.kid.as_deref()).await?;
        let now_s = now_ms() as f64 / 1000.0;
        verify::verify_introspection(
            jwt,
            &header,
            &keys.set,
            rules,
            keys.issuer.as_deref(),
            &self.client_id,
            now_s,
        )
        .map_err(unverified)
    }

    /// The stale result for `key` when `cache_ttl_resurrect` allows it (the IdP failed with `error`).
    fn resurrected(
        &self,
        key: &CacheKey,
        token: &str,
        error: IdpError,
    ) -> Result<Arc<Introspected>, Failure> {
        let stale = self
            .caches
            .resurrect
            .as_ref()
            .and_then(|r| r.serve(key, now_ms()));
        match stale {
            Some(info) => {
                self.metrics.stale_served();
                log::warn!(
                    "openid-connect serving stale introspection result issuer={} token={} reason={error}",
                    self.issuer,
                    self.keyer.fingerprint(token)
                );
                Ok(info)
            }
            None => Err(Failure::Introspection(error)),
        }
    }

    /// Gets an access token from the token endpoint through the cache.
    async fn grant_token(
        &self,
        http: &IdpHttp,
        key_parts: &[&[u8]],
        form: FormRequest,
    ) -> Result<Arc<GrantedToken>, Failure> {
        let url = self
            .endpoint(
                self.explicit.token.as_ref(),
                |e| e.token.clone(),
                "token_endpoint",
            )
            .await?;
        let load = || async {
            let post = http.post_form(Endpoint::Token, &url, &form);
            let obj = self
                .guard(&url)
                .call(Endpoint::Token, post)
                .await
                .map_err(Failure::Token)?;
            GrantedToken::from_response(&obj, &self.ttl, now_ms())
                .map(Arc::new)
                .map_err(Failure::Token)
        };
        let lookup = async {
            match &self.caches.token {
                None => load().await,
                Some(cache) => {
                    let key = self.cache_key(&url, key_parts);
                    cache.get_or_load(key, load).await.map(|(t, _)| t)
                }
            }
        };
        within(http.timeout(), Endpoint::Token, lookup).await
    }

    fn cache_key(&self, url: &str, parts: &[&[u8]]) -> CacheKey {
        let mut all: Vec<&[u8]> = vec![url.as_bytes(), self.client_id.as_bytes()];
        all.extend_from_slice(parts);
        self.keyer.key(&all)
    }
}

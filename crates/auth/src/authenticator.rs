//! One plugin config's authenticator: finds the credential, introspects or runs a grant (cached,
//! coalesced), checks exp/scopes/audience, and returns the decision.

use std::sync::Arc;
use std::time::Duration;

use gateway_config::plugins::openid_connect::OidcConfig;

use dashmap::DashMap;

use crate::breaker::{GuardSettings, IdpGuard};
use crate::cache::{now_ms, secs_to_ms, CacheKey, Keyer, TimedCache, TtlPolicy};
use crate::claims::Requirement;
use crate::discovery::Discovery;
use crate::errors::{DiscoveryError, Endpoint, ErrorStyle, Failure, IdpError};
use crate::extract::{Credential, ExtractPlan, Source};
use crate::grants::{GrantRequest, GrantedToken};
use crate::http_client::{arg_pairs, header_pairs, ClientAuth, HttpClients, IdpHttp};
use crate::introspect::{ClaimPlan, Introspected, IntrospectionRequest};
use crate::resurrect::Resurrect;
use crate::upstream::UpstreamPlan;
use crate::{metrics, Decision, RequestParts, Upstream};

/// Default number of entries of each token cache.
pub const DEFAULT_CACHE_CAPACITY: usize = 100_000;

/// Longest credential accepted (a bearer token, or a username/password or client id/secret pair, in
/// bytes): longer ones are a 401 without calling the IdP.
pub const MAX_CREDENTIAL_LEN: usize = 8 * 1024;

/// The compiled openid-connect plugin for one config, with its caches.
#[derive(Debug)]
pub struct Authenticator {
    config_key: [u8; 32],
    issuer: String,
    http: Result<IdpHttp, String>,
    discovery: Arc<Discovery>,
    introspection_endpoint: Option<String>,
    token_endpoint: Option<String>,
    token_endpoint_auth_method: Option<gateway_config::plugins::openid_connect::ClientAuthMethod>,
    client_id: String,
    style: ErrorStyle,
    extract: ExtractPlan,
    introspection: IntrospectionRequest,
    grant: GrantRequest,
    claims: ClaimPlan,
    needs_claims_after_grant: bool,
    scopes_required: Option<Requirement>,
    audience_required: Option<Requirement>,
    upstream: UpstreamPlan,
    ttl: TtlPolicy,
    keyer: Keyer,
    introspection_cache: Option<TimedCache<Arc<Introspected>>>,
    token_cache: Option<TimedCache<Arc<GrantedToken>>>,
    resurrect: Option<Resurrect>,
    /// The shared Redis level (`gateway.cluster_cache`), when configured.
    cluster: Option<crate::cluster::Cluster>,
    guard_settings: GuardSettings,
    guards: DashMap<String, Arc<IdpGuard>>,
}

/// A hash of the config's canonical JSON (defaults filled in): equal configs share an authenticator.
pub fn config_key(cfg: &OidcConfig) -> [u8; 32] {
    *blake3::hash(cfg.to_value_with_defaults().to_string().as_bytes()).as_bytes()
}

impl Authenticator {
    /// Compiles a config. `clients` supplies the shared HTTP clients, `keyer` the cache-key salt,
    /// `cache_capacity` the maximum entries of each cache.
    pub fn new(
        cfg: &OidcConfig,
        clients: &HttpClients,
        keyer: Keyer,
        cache_capacity: usize,
    ) -> Self {
        metrics::init();
        let timeout = Duration::from_millis(secs_to_ms(cfg.timeout / 1000.0).max(1));
        let http = clients
            .get(cfg.ssl_verify, cfg.keepalive)
            .map(|c| IdpHttp::new(c, timeout));
        if let Err(e) = &http {
            log::error!(
                "openid-connect HTTP client unavailable issuer={} error={e}",
                cfg.issuer
            );
        }
        let discovery = Arc::new(Discovery::new(
            &cfg.issuer,
            http.as_ref().ok().cloned(),
            Duration::from_millis(secs_to_ms(cfg.cache_ttl).max(1000)),
            Duration::from_millis(secs_to_ms(cfg.rediscovery_lifetime)),
        ));
        let first = |v: &Option<Vec<String>>| v.as_ref().and_then(|v| v.first().cloned());
        let client_id = first(&cfg.client_id);
        let client_secret = first(&cfg.client_secret);
        let client_auth = |method| {
            ClientAuth::resolve(
                method,
                cfg.client_auth.as_deref(),
                client_id.as_deref(),
                client_secret.as_deref(),
            )
        };
        let scopes_required = Requirement::parse(cfg.scopes_required.as_deref());
        let audience_required = Requirement::parse(cfg.audience_required.as_deref());
        let claims = ClaimPlan {
            check_active: cfg.introspection_check_active,
            scopes_claim: scopes_required.as_ref().map(|_| cfg.scopes_claim.clone()),
            audience_claim: audience_required
                .as_ref()
                .map(|_| cfg.audience_claim.clone()),
            header_claims: cfg.upstream_headers_claims.clone().unwrap_or_default(),
            keep_raw: cfg.upstream_introspection_header.is_some(),
        };
        let needs_claims_after_grant = scopes_required.is_some()
            || audience_required.is_some()
            || !claims.header_claims.is_empty()
            || claims.keep_raw;
        Authenticator {
            config_key: config_key(cfg),
            issuer: cfg.issuer.clone(),
            discovery,
            introspection_endpoint: cfg.introspection_endpoint.clone(),
            token_endpoint: cfg.token_endpoint.clone(),
            token_endpoint_auth_method: cfg.token_endpoint_auth_method,
            client_id: client_id.clone().unwrap_or_default(),
            style: ErrorStyle {
                realm: ErrorStyle::realm_of(&cfg.issuer),
                display_errors: cfg.display_errors,
                expose_error_code: cfg.expose_error_code,
                unauthorized_message: cfg.unauthorized_error_message.clone(),
                forbidden_message: cfg.forbidden_error_message.clone(),
            },
            extract: ExtractPlan::new(cfg),
            introspection: IntrospectionRequest {
                hint: cfg.introspection_hint.clone(),
                extra_args: arg_pairs(
                    cfg.introspection_post_args_names.as_deref(),
                    cfg.introspection_post_args_values.as_deref(),
                ),
                extra_headers: header_pairs(
                    cfg.introspection_headers_names.as_deref(),
                    cfg.introspection_headers_values.as_deref(),
                ),
                auth: client_auth(cfg.introspection_endpoint_auth_method),
            },
            grant: GrantRequest {
                scope: cfg.scopes.join(" "),
                extra_args: arg_pairs(
                    cfg.token_post_args_names.as_deref(),
                    cfg.token_post_args_values.as_deref(),
                ),
                extra_headers: header_pairs(
                    cfg.token_headers_names.as_deref(),
                    cfg.token_headers_values.as_deref(),
                ),
                auth: client_auth(cfg.token_endpoint_auth_method),
            },
            claims,
            needs_claims_after_grant,
            scopes_required,
            audience_required,
            upstream: UpstreamPlan::new(cfg),
            ttl: TtlPolicy::from_secs(
                cfg.cache_ttl,
                cfg.cache_ttl_min,
                cfg.cache_ttl_max,
                cfg.cache_ttl_neg,
                cfg.leeway,
            ),
            keyer,
            introspection_cache: cfg
                .cache_introspection
                .then(|| TimedCache::new("introspection", cache_capacity)),
            token_cache: cfg
                .cache_tokens
                .then(|| TimedCache::new("token", cache_capacity)),
            resurrect: cfg
                .cache_ttl_resurrect
                .map(secs_to_ms)
                .filter(|w| *w > 0)
                .map(|w| Resurrect::new(w, cache_capacity)),
            cluster: None,
            guard_settings: GuardSettings {
                concurrency: cfg.idp_concurrency_limit.clamp(1.0, 1_000_000.0) as usize,
                failures: cfg.idp_circuit_breaker_failures.clamp(0.0, 1_000_000.0) as u32,
                cooldown: Duration::from_millis(secs_to_ms(cfg.idp_circuit_breaker_cooldown)),
            },
            guards: DashMap::new(),
            http,
        }
    }

    /// The hash of the config this authenticator was built from.
    pub fn config_key(&self) -> [u8; 32] {
        self.config_key
    }

    /// Whether the gateway must read the request body before calling [`Self::authenticate`].
    pub fn needs_body(&self) -> bool {
        self.extract.needs_body()
    }

    /// Uses the cluster cache as the second level of the introspection cache.
    pub fn with_cluster(mut self, cluster: Option<crate::cluster::Cluster>) -> Self {
        self.cluster = cluster;
        self
    }

    /// The introspection cache key of a token hash (see [`crate::cluster::keys`]): the same on every
    /// node when the keyer comes from the cluster salt.
    pub fn introspection_key(&self, token_hash: &CacheKey) -> CacheKey {
        crate::cluster::keys::entry_key(&self.keyer, &self.config_key, b"introspection", token_hash)
    }

    /// Removes the tokens' introspection results from the local caches (and, with `grants`, every
    /// cached grant); the number of introspection entries removed.
    pub fn purge(&self, token_hashes: &[CacheKey], grants: bool) -> usize {
        let mut removed = 0;
        for th in token_hashes {
            let key = self.introspection_key(th);
            if let Some(c) = &self.introspection_cache {
                removed += usize::from(c.remove(&key));
            }
            if let Some(r) = &self.resurrect {
                r.forget(&key);
            }
        }
        if grants {
            if let Some(c) = &self.token_cache {
                c.clear();
            }
        }
        removed
    }

    /// Empties the local introspection cache (after purges may have been missed).
    pub fn clear_introspection_cache(&self) {
        if let Some(c) = &self.introspection_cache {
            c.clear();
        }
    }

    /// Entries in the introspection cache (fresh or not).
    pub fn introspection_cache_len(&self) -> usize {
        self.introspection_cache.as_ref().map_or(0, TimedCache::len)
    }

    /// Decides on one request.
    pub async fn authenticate(&self, req: &RequestParts<'_>) -> Decision {
        match self.run(req).await {
            Ok(up) => {
                metrics::decision("allow");
                Decision::Allow(up)
            }
            Err(f) => {
                match f.status() {
                    500 => log::error!("openid-connect error issuer={} reason={f}", self.issuer),
                    _ if matches!(f, Failure::Introspection(_) | Failure::Token(_)) => {
                        log::warn!("openid-connect denied issuer={} reason={f}", self.issuer);
                    }
                    _ => log::debug!("openid-connect denied issuer={} reason={f}", self.issuer),
                }
                metrics::decision(f.outcome());
                Decision::Deny(self.style.render(&f))
            }
        }
    }

    async fn run(&self, req: &RequestParts<'_>) -> Result<Upstream, Failure> {
        let http = self.http.as_ref().map_err(|e| Failure::Setup(e.clone()))?;
        let credential = self.extract.find(req).ok_or(Failure::NoCredentials)?;
        if credential_len(&credential) > MAX_CREDENTIAL_LEN {
            return Err(Failure::CredentialTooLong);
        }
        match credential {
            Credential::Bearer { token, source } => {
                let info = self.introspect(http, &token).await?;
                self.check(&info)?;
                Ok(self
                    .upstream
                    .build(&token, &source, Some(&info), req.headers))
            }
            Credential::Password {
                username,
                password,
                source,
            } => {
                let form = self.grant.password(&username, &password);
                let key_parts: [&[u8]; 3] = [b"password", username.as_bytes(), password.as_bytes()];
                let token = self.grant_token(http, &key_parts, form).await?;
                self.after_grant(http, &token, &source, req).await
            }
            Credential::ClientCredentials {
                client_id,
                client_secret,
                source,
            } => {
                let caller = ClientAuth::for_caller(
                    self.token_endpoint_auth_method,
                    &client_id,
                    &client_secret,
                );
                let form = self.grant.client_credentials(&caller);
                let key_parts: [&[u8]; 3] = [
                    b"client_credentials",
                    client_id.as_bytes(),
                    client_secret.as_bytes(),
                ];
                let token = self.grant_token(http, &key_parts, form).await?;
                self.after_grant(http, &token, &source, req).await
            }
        }
    }

    /// After a grant: introspect the new token when claims are needed, then build the upstream.
    async fn after_grant(
        &self,
        http: &IdpHttp,
        token: &GrantedToken,
        source: &Source,
        req: &RequestParts<'_>,
    ) -> Result<Upstream, Failure> {
        let info = if self.needs_claims_after_grant {
            let info = self.introspect(http, &token.access_token).await?;
            self.check(&info)?;
            Some(info)
        } else {
            None
        };
        Ok(self
            .upstream
            .build(&token.access_token, source, info.as_deref(), req.headers))
    }

    /// Active, not expired, scopes and audience (checked on every request, cached or not).
    fn check(&self, info: &Introspected) -> Result<(), Failure> {
        if !info.active {
            return Err(Failure::Inactive);
        }
        if info.expired_at(now_ms()) {
            return Err(Failure::Expired);
        }
        if let Some(r) = &self.scopes_required {
            if !r.satisfied_by(info.scopes.as_deref()) {
                return Err(Failure::Scopes);
            }
        }
        if let Some(r) = &self.audience_required {
            if !r.satisfied_by(info.audience.as_deref()) {
                return Err(Failure::Audience);
            }
        }
        Ok(())
    }

    async fn endpoint(
        &self,
        explicit: &Option<String>,
        pick: fn(&crate::discovery::Endpoints) -> Option<String>,
        name: &'static str,
    ) -> Result<String, Failure> {
        if let Some(url) = explicit {
            return Ok(url.clone());
        }
        let endpoints = self.discovery.endpoints().await?;
        pick(&endpoints).ok_or(Failure::Discovery(DiscoveryError::MissingEndpoint(name)))
    }

    /// The concurrency limit and circuit breaker of one IdP endpoint URL.
    fn guard(&self, url: &str) -> Arc<IdpGuard> {
        if let Some(g) = self.guards.get(url) {
            return Arc::clone(&g);
        }
        Arc::clone(
            &self
                .guards
                .entry(url.to_owned())
                .or_insert_with(|| Arc::new(IdpGuard::new(url, self.guard_settings))),
        )
    }

    /// The stale result for `key` when `cache_ttl_resurrect` allows it (the IdP failed with `error`).
    fn resurrected(
        &self,
        key: &CacheKey,
        token: &str,
        error: IdpError,
    ) -> Result<Arc<Introspected>, Failure> {
        let stale = self.resurrect.as_ref().and_then(|r| r.serve(key, now_ms()));
        match stale {
            Some(info) => {
                metrics::stale_served();
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

    fn cache_key(&self, url: &str, parts: &[&[u8]]) -> CacheKey {
        let mut all: Vec<&[u8]> = vec![url.as_bytes(), self.client_id.as_bytes()];
        all.extend_from_slice(parts);
        self.keyer.key(&all)
    }

    /// Introspects a token through the cache (coalesced; errors not cached).
    async fn introspect(&self, http: &IdpHttp, token: &str) -> Result<Arc<Introspected>, Failure> {
        let url = self
            .endpoint(
                &self.introspection_endpoint,
                |e| e.introspection.clone(),
                "introspection_endpoint",
            )
            .await?;
        let token_hash = crate::cluster::keys::token_hash(&self.keyer, token);
        let key = self.introspection_key(&token_hash);
        // The endpoint's guard is looked up only when the IdP is called, not on every cache hit.
        let idp_load = || async {
            let form = self.introspection.build(token);
            let post = http.post_form(Endpoint::Introspection, &url, &form);
            let obj = self
                .guard(&url)
                .call(Endpoint::Introspection, post)
                .await
                .map_err(Failure::Introspection)?;
            let info = Arc::new(Introspected::from_response(
                &obj,
                &self.claims,
                &self.ttl,
                now_ms(),
            ));
            if let Some(r) = &self.resurrect {
                r.record(key, &info);
            }
            let username = obj
                .get("username")
                .and_then(|u| u.as_str())
                .filter(|_| info.active)
                .map(str::to_owned);
            Ok(crate::cluster::lock::Loaded { info, username })
        };
        // Local miss → the cluster level (Redis, cross-node lock) when configured, else the IdP.
        let load = || async {
            match &self.cluster {
                Some(c) => c.introspection(key, &token_hash, idp_load).await,
                None => idp_load().await.map(|l| l.info),
            }
        };
        // The timeout bounds the whole lookup: waiting for a coalesced load or an IdP slot included.
        let result = match &self.introspection_cache {
            None => tokio::time::timeout(http.timeout(), load()).await,
            Some(cache) => {
                let lookup = cache.get_or_load(key, load);
                tokio::time::timeout(http.timeout(), lookup).await.map(|r| {
                    r.map(|(info, how)| {
                        log::debug!(
                            "openid-connect introspection token={} cache={} active={}",
                            self.keyer.fingerprint(token),
                            how.as_str(),
                            info.active
                        );
                        info
                    })
                })
            }
        };
        let result = result.unwrap_or(Err(Failure::Introspection(IdpError::Timeout {
            endpoint: Endpoint::Introspection,
        })));
        match result {
            Err(Failure::Introspection(e)) if e.is_outage() => self.resurrected(&key, token, e),
            other => other,
        }
    }

    /// Gets an access token from the token endpoint through the cache.
    async fn grant_token(
        &self,
        http: &IdpHttp,
        key_parts: &[&[u8]],
        form: crate::http_client::FormRequest,
    ) -> Result<Arc<GrantedToken>, Failure> {
        let url = self
            .endpoint(&self.token_endpoint, |e| e.token.clone(), "token_endpoint")
            .await?;
        let load = || async {
            let obj = self
                .guard(&url)
                .call(
                    Endpoint::Token,
                    http.post_form(Endpoint::Token, &url, &form),
                )
                .await
                .map_err(Failure::Token)?;
            GrantedToken::from_response(&obj, &self.ttl, now_ms())
                .map(Arc::new)
                .map_err(Failure::Token)
        };
        let Some(cache) = &self.token_cache else {
            return tokio::time::timeout(http.timeout(), load())
                .await
                .unwrap_or(Err(Failure::Token(IdpError::Timeout {
                    endpoint: Endpoint::Token,
                })));
        };
        let key = self.cache_key(&url, key_parts);
        match tokio::time::timeout(http.timeout(), cache.get_or_load(key, load)).await {
            Ok(r) => r.map(|(t, _)| t),
            Err(_) => Err(Failure::Token(IdpError::Timeout {
                endpoint: Endpoint::Token,
            })),
        }
    }
}

/// The length of a credential's secret parts (bytes).
fn credential_len(c: &Credential) -> usize {
    match c {
        Credential::Bearer { token, .. } => token.len(),
        Credential::Password {
            username, password, ..
        } => username.len() + password.len(),
        Credential::ClientCredentials {
            client_id,
            client_secret,
            ..
        } => client_id.len() + client_secret.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_idp::{FakeIdp, Recorded, Reply};
    use crate::Denial;
    use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
    use http::{HeaderMap, HeaderValue};
    use serde_json::json;

    fn now_s() -> u64 {
        now_ms() / 1000
    }

    fn ok(body: serde_json::Value) -> Reply {
        (200, body.to_string(), Duration::ZERO)
    }

    fn discovery_or(r: &Recorded, base: &str, other: impl Fn(&Recorded) -> Reply) -> Reply {
        if r.path.ends_with("/.well-known/openid-configuration") {
            ok(json!({
                "issuer": format!("{base}/oidc"),
                "introspection_endpoint": format!("{base}/oidc/introspect"),
                "token_endpoint": format!("{base}/oidc/token"),
            }))
        } else {
            other(r)
        }
    }

    /// A fake IdP whose discovery points at itself; `other` answers the rest.
    async fn idp(other: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> FakeIdp {
        let base = Arc::new(Mutex::new(String::new()));
        let b = base.clone();
        let idp = FakeIdp::start(move |r| discovery_or(r, &b.lock().unwrap(), &other)).await;
        *base.lock().unwrap() = idp.base.clone();
        idp
    }
    use std::sync::Mutex;

    fn cfg(idp: &FakeIdp) -> OidcConfig {
        let mut c = OidcConfig::with_issuer(format!("{}/oidc", idp.base));
        c.client_id = Some(vec!["kong".into()]);
        c.client_secret = Some(vec!["kong-secret".into()]);
        c
    }

    fn auth(c: &OidcConfig) -> Authenticator {
        Authenticator::new(c, &HttpClients::default(), Keyer::random(), 1000)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    async fn call(a: &Authenticator, h: &HeaderMap) -> Decision {
        a.authenticate(&RequestParts {
            method: "GET",
            headers: h,
            query: None,
            body: None,
        })
        .await
    }

    fn bearer(t: &str) -> HeaderMap {
        headers(&[("authorization", &format!("Bearer {t}"))])
    }

    fn denial(d: Decision) -> Denial {
        match d {
            Decision::Deny(d) => d,
            Decision::Allow(u) => panic!("expected a denial, got {u:?}"),
        }
    }

    fn allowed(d: Decision) -> Upstream {
        match d {
            Decision::Allow(u) => u,
            Decision::Deny(d) => panic!("expected allow, got {} {:?}", d.status, d.body),
        }
    }

    fn assert_401(d: Decision) {
        let d = denial(d);
        assert_eq!(d.status, 401);
        assert_eq!(&d.body[..], br#"{"message":"Unauthorized"}"#);
        let www = d
            .headers
            .iter()
            .find(|(n, _)| n == WWW_AUTHENTICATE)
            .unwrap();
        assert_eq!(www.1, r#"Bearer realm="127.0.0.1", error="invalid_token""#);
    }

    fn active(scope: &str) -> Reply {
        ok(
            json!({"active": true, "username": "john", "scope": scope, "aud": "openid read",
                  "exp": now_s() + 3600}),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn introspection_allows_and_coalesces() {
        let idp = idp(|_| {
            let (s, b, _) = active("openid read");
            (s, b, Duration::from_millis(100))
        })
        .await;
        let a = Arc::new(auth(&cfg(&idp)));
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let a = a.clone();
            tasks.push(tokio::spawn(async move { call(&a, &bearer("tok")).await }));
        }
        for t in tasks {
            let up = allowed(t.await.unwrap());
            assert_eq!(
                up.set_headers,
                vec![(AUTHORIZATION, HeaderValue::from_static("Bearer tok"))]
            );
        }
        assert_eq!(idp.count("/introspect"), 1);
        assert_eq!(idp.count("/openid-configuration"), 1);
        let r = idp.last("/introspect").unwrap();
        assert_eq!(r.body, "token=tok&token_type_hint=access_token");
        assert!(r.headers.contains("authorization: basic "));
        // cached
        allowed(call(&a, &bearer("tok")).await);
        assert_eq!(idp.count("/introspect"), 1);
        // a different token is another entry
        allowed(call(&a, &bearer("tok2")).await);
        assert_eq!(idp.count("/introspect"), 2);
    }

    #[tokio::test]
    async fn no_credential_is_401() {
        let idp = idp(|_| active("openid")).await;
        let a = auth(&cfg(&idp));
        assert_401(call(&a, &HeaderMap::new()).await);
        // Basic on a service without password/client_credentials
        let mut c = cfg(&idp);
        c.auth_methods = vec![gateway_config::plugins::openid_connect::AuthMethod::Introspection];
        let a = auth(&c);
        assert_401(call(&a, &headers(&[("authorization", "Basic am9objpkb2U=")])).await);
        assert_eq!(idp.calls.lock().unwrap().len(), 0);
    }

    #[tokio::test]
    async fn inactive_is_401_and_cached_briefly() {
        let idp = idp(|_| ok(json!({"active": false}))).await;
        let a = auth(&cfg(&idp));
        assert_401(call(&a, &bearer("bad")).await);
        assert_401(call(&a, &bearer("bad")).await);
        assert_eq!(idp.count("/introspect"), 1);
    }

    #[tokio::test]
    async fn expired_is_401() {
        let idp = idp(|_| ok(json!({"active": true, "exp": now_s() - 10}))).await;
        let a = auth(&cfg(&idp));
        assert_401(call(&a, &bearer("old")).await);
    }

    #[tokio::test]
    async fn idp_failures_are_401_and_not_cached() {
        for reply in [
            (500, "oops secret detail".to_owned()),
            (200, "not json".to_owned()),
            (200, "[1]".to_owned()),
            (200, String::new()),
            (401, String::new()),
        ] {
            let r = reply.clone();
            let idp = idp(move |_| (r.0, r.1.clone(), Duration::ZERO)).await;
            let a = auth(&cfg(&idp));
            let d = denial(call(&a, &bearer("t")).await);
            assert_eq!(d.status, 401, "{reply:?}");
            assert!(!String::from_utf8_lossy(&d.body).contains("secret"));
            assert_401(call(&a, &bearer("t")).await);
            assert_eq!(idp.count("/introspect"), 2, "{reply:?}");
        }
    }

    #[tokio::test]
    async fn refused_and_timeout_are_401() {
        let mut c = OidcConfig::with_issuer("http://127.0.0.1:1/oidc");
        c.introspection_endpoint = Some("http://127.0.0.1:1/introspect".into());
        assert_401(call(&auth(&c), &bearer("t")).await);

        let idp = idp(|_| (200, "{}".into(), Duration::from_secs(5))).await;
        let mut c = cfg(&idp);
        c.timeout = 200.0;
        let a = auth(&c);
        let start = std::time::Instant::now();
        assert_401(call(&a, &bearer("t")).await);
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn display_errors_show_fixed_reason() {
        let idp = idp(|_| (503, "IdP internal text".into(), Duration::ZERO)).await;
        let mut c = cfg(&idp);
        c.display_errors = true;
        let d = denial(call(&auth(&c), &bearer("t")).await);
        assert_eq!(
            &d.body[..],
            br#"{"message":"Unauthorized (unable to introspect the token)"}"#
        );
    }

    #[tokio::test]
    async fn scopes_and_audience_checked_on_cache_hits() {
        let idp = idp(|_| active("openid read")).await;
        let mut c = cfg(&idp);
        c.scopes_required = Some(vec!["admin".into(), "openid write".into()]);
        let a = auth(&c);
        for _ in 0..2 {
            let d = denial(call(&a, &bearer("t")).await);
            assert_eq!(d.status, 403);
            assert_eq!(&d.body[..], br#"{"message":"Forbidden"}"#);
            let www = d
                .headers
                .iter()
                .find(|(n, _)| n == WWW_AUTHENTICATE)
                .unwrap();
            assert_eq!(
                www.1,
                r#"Bearer realm="127.0.0.1", error="insufficient_scope""#
            );
        }
        assert_eq!(idp.count("/introspect"), 1);

        c.scopes_required = Some(vec!["admin".into(), "read openid".into()]);
        c.audience_required = Some(vec!["read".into()]);
        allowed(call(&auth(&c), &bearer("t")).await);
        c.audience_required = Some(vec!["other".into()]);
        assert_eq!(denial(call(&auth(&c), &bearer("t")).await).status, 403);
    }

    #[tokio::test]
    async fn discovery_failure_is_500_and_backs_off() {
        let idp = FakeIdp::start(|_| (404, String::new(), Duration::ZERO)).await;
        let a = auth(&cfg(&idp));
        for _ in 0..3 {
            let d = denial(call(&a, &bearer("t")).await);
            assert_eq!(d.status, 500);
            assert_eq!(
                &d.body[..],
                br#"{"message":"An unexpected error occurred"}"#
            );
        }
        assert_eq!(idp.count("/openid-configuration"), 1);
    }

    #[tokio::test]
    async fn explicit_endpoint_skips_discovery() {
        let idp = FakeIdp::start(|r| {
            if r.path == "/custom/introspect" {
                ok(json!({"active": true}))
            } else {
                (404, String::new(), Duration::ZERO)
            }
        })
        .await;
        let mut c = cfg(&idp);
        c.introspection_endpoint = Some(format!("{}/custom/introspect", idp.base));
        c.introspection_endpoint_auth_method =
            Some(gateway_config::plugins::openid_connect::ClientAuthMethod::ClientSecretPost);
        c.introspection_post_args_names = Some(vec!["extra".into()]);
        c.introspection_post_args_values = Some(vec!["1".into()]);
        allowed(call(&auth(&c), &bearer("t")).await);
        assert_eq!(idp.count("/openid-configuration"), 0);
        assert_eq!(
            idp.last("/introspect").unwrap().body,
            "token=t&token_type_hint=access_token&extra=1&client_id=kong&client_secret=kong-secret"
        );
    }

    fn token_endpoint(r: &Recorded) -> Reply {
        if r.path.ends_with("/token") {
            if r.body.contains("username=john&password=doe")
                || r.body.contains("client_credentials")
            {
                ok(json!({"token_type": "bearer", "access_token": "AT", "expires_in": 3600}))
            } else {
                (403, String::new(), Duration::ZERO)
            }
        } else {
            active("openid read")
        }
    }

    #[tokio::test]
    async fn password_grant_exchanges_and_caches() {
        let idp = idp(token_endpoint).await;
        let mut c = cfg(&idp);
        c.scopes = vec!["openid".into(), "read".into()];
        let a = auth(&c);
        let basic = headers(&[("authorization", "Basic am9objpkb2U=")]);
        for _ in 0..2 {
            let up = allowed(call(&a, &basic).await);
            assert_eq!(
                up.set_headers,
                vec![(AUTHORIZATION, HeaderValue::from_static("Bearer AT"))]
            );
            assert!(up.remove_headers.is_empty());
        }
        assert_eq!(idp.count("/token"), 1);
        assert_eq!(idp.count("/introspect"), 0);
        let r = idp.last("/token").unwrap();
        assert_eq!(
            r.body,
            "grant_type=password&username=john&password=doe&scope=openid+read"
        );
        assert!(r.headers.contains("authorization: basic "));
        // wrong password: Glewlwyd's empty 403 → 401
        let wrong = headers(&[("authorization", "Basic am9objp4")]);
        assert_401(call(&a, &wrong).await);
        assert_401(call(&a, &wrong).await);
        assert_eq!(idp.count("/token"), 3);
    }

    #[tokio::test]
    async fn password_grant_with_scope_check_introspects_the_new_token() {
        let idp = idp(token_endpoint).await;
        let mut c = cfg(&idp);
        c.scopes_required = Some(vec!["read".into()]);
        let a = auth(&c);
        let basic = headers(&[("authorization", "Basic am9objpkb2U=")]);
        allowed(call(&a, &basic).await);
        assert_eq!(
            idp.last("/introspect").unwrap().body,
            "token=AT&token_type_hint=access_token"
        );
        c.scopes_required = Some(vec!["admin".into()]);
        assert_eq!(denial(call(&auth(&c), &basic).await).status, 403);
    }

    #[tokio::test]
    async fn client_credentials_uses_callers_credentials() {
        use gateway_config::plugins::openid_connect::AuthMethod;
        let idp = idp(token_endpoint).await;
        let mut c = cfg(&idp);
        c.auth_methods = vec![AuthMethod::ClientCredentials];
        let a = auth(&c);
        let basic = headers(&[("authorization", "Basic c3ZjOnB3")]);
        let up = allowed(call(&a, &basic).await);
        assert_eq!(
            up.set_headers,
            vec![(AUTHORIZATION, HeaderValue::from_static("Bearer AT"))]
        );
        let r = idp.last("/token").unwrap();
        assert_eq!(r.body, "grant_type=client_credentials&scope=openid");
        // base64("svc:pw"), lowercased by the recorder
        assert!(r.headers.contains("authorization: basic c3zjonb3"));
        // a bearer token is not used when introspection is disabled
        assert_401(call(&a, &bearer("t")).await);
    }

    /// What the switchable fake IdP answers.
    mod mode {
        pub const ACTIVE: u8 = 0;
        pub const ERROR_503: u8 = 1;
        pub const GARBAGE: u8 = 2;
        pub const HANG: u8 = 3;
        pub const INACTIVE: u8 = 4;
    }

    /// A fake IdP whose introspection answer is switched at run time.
    async fn switchable() -> (FakeIdp, Arc<std::sync::atomic::AtomicU8>) {
        use std::sync::atomic::{AtomicU8, Ordering};
        let m = Arc::new(AtomicU8::new(mode::ACTIVE));
        let m2 = m.clone();
        let idp = idp(move |_| match m2.load(Ordering::SeqCst) {
            mode::ACTIVE => active("openid read"),
            mode::ERROR_503 => (503, "busy".into(), Duration::ZERO),
            mode::GARBAGE => (200, "<html>".into(), Duration::ZERO),
            mode::HANG => (200, "{}".into(), Duration::from_secs(5)),
            _ => ok(json!({"active": false})),
        })
        .await;
        (idp, m)
    }

    fn set(m: &std::sync::atomic::AtomicU8, v: u8) {
        m.store(v, std::sync::atomic::Ordering::SeqCst);
    }

    fn resurrect_cfg(idp: &FakeIdp) -> OidcConfig {
        let mut c = cfg(idp);
        c.introspection_endpoint = Some(format!("{}/oidc/introspect", idp.base));
        c.cache_ttl_max = Some(0.2);
        c.cache_ttl_resurrect = Some(1.0);
        c.timeout = 300.0;
        c.idp_circuit_breaker_failures = 0.0;
        c
    }

    #[tokio::test]
    async fn resurrect_serves_an_active_result_while_the_idp_fails_within_the_window() {
        let (idp, m) = switchable().await;
        let a = auth(&resurrect_cfg(&idp));
        allowed(call(&a, &bearer("tok")).await);
        assert_eq!(idp.count("/introspect"), 1);
        tokio::time::sleep(Duration::from_millis(250)).await; // past cache_ttl_max
        let before = metrics::stale_served_count();
        for (i, fault) in [mode::ERROR_503, mode::GARBAGE, mode::HANG]
            .into_iter()
            .enumerate()
        {
            set(&m, fault);
            let up = allowed(call(&a, &bearer("tok")).await);
            assert_eq!(
                up.set_headers,
                vec![(AUTHORIZATION, HeaderValue::from_static("Bearer tok"))]
            );
            assert_eq!(idp.count("/introspect"), 2 + i, "the IdP is still asked");
        }
        assert!(metrics::stale_served_count() >= before + 3);
        // a token never seen active is not helped
        assert_401(call(&a, &bearer("other")).await);
        // past the window: 401
        set(&m, mode::ERROR_503);
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_401(call(&a, &bearer("tok")).await);
        // the IdP back: allowed again
        set(&m, mode::ACTIVE);
        allowed(call(&a, &bearer("tok")).await);
    }

    #[tokio::test]
    async fn resurrect_is_off_by_default_and_never_overrides_inactive() {
        let (idp, m) = switchable().await;
        let mut c = resurrect_cfg(&idp);
        c.cache_ttl_resurrect = None;
        let a = auth(&c);
        allowed(call(&a, &bearer("tok")).await);
        tokio::time::sleep(Duration::from_millis(250)).await;
        set(&m, mode::ERROR_503);
        assert_401(call(&a, &bearer("tok")).await);

        // with resurrect: an inactive answer wins, and is not forgotten when the IdP then fails
        let mut c = resurrect_cfg(&idp);
        c.cache_ttl_neg = 0.0;
        let a = auth(&c);
        set(&m, mode::ACTIVE);
        allowed(call(&a, &bearer("tok")).await);
        tokio::time::sleep(Duration::from_millis(250)).await;
        set(&m, mode::INACTIVE);
        assert_401(call(&a, &bearer("tok")).await);
        set(&m, mode::ERROR_503);
        assert_401(call(&a, &bearer("tok")).await);
    }

    #[tokio::test]
    async fn circuit_breaker_fails_fast_during_the_cool_down_then_probes() {
        let (idp, m) = switchable().await;
        let mut c = cfg(&idp);
        c.introspection_endpoint = Some(format!("{}/oidc/introspect", idp.base));
        c.idp_circuit_breaker_failures = 3.0;
        c.idp_circuit_breaker_cooldown = 0.3;
        let a = auth(&c);
        allowed(call(&a, &bearer("cached")).await);
        set(&m, mode::ERROR_503);
        for i in 0..20 {
            assert_401(call(&a, &bearer(&format!("t{i}"))).await);
        }
        assert_eq!(idp.count("/introspect"), 1 + 3, "no IdP call once open");
        // a cached positive result still serves during the open circuit
        allowed(call(&a, &bearer("cached")).await);
        let label = crate::breaker::endpoint_label(c.introspection_endpoint.as_deref().unwrap());
        assert_eq!(
            a.guard(c.introspection_endpoint.as_deref().unwrap())
                .state(),
            crate::breaker::CircuitState::Open,
            "{label}"
        );
        tokio::time::sleep(Duration::from_millis(350)).await;
        // half-open probe fails: open again, no further call
        assert_401(call(&a, &bearer("p1")).await);
        assert_401(call(&a, &bearer("p2")).await);
        assert_eq!(idp.count("/introspect"), 5);
        tokio::time::sleep(Duration::from_millis(350)).await;
        set(&m, mode::ACTIVE);
        allowed(call(&a, &bearer("p3")).await);
        allowed(call(&a, &bearer("p4")).await);
        assert_eq!(idp.count("/introspect"), 7);
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&prometheus::default_registry().gather())
            .unwrap();
        assert!(
            text.contains(&format!(
                "gateway_idp_circuit_state{{endpoint=\"{label}\"}} 0"
            )),
            "{text}"
        );
    }

    #[tokio::test]
    async fn wrong_passwords_do_not_open_the_breaker() {
        let idp = idp(token_endpoint).await;
        let mut c = cfg(&idp);
        c.idp_circuit_breaker_failures = 2.0;
        let a = auth(&c);
        let wrong = headers(&[("authorization", "Basic am9objp4")]);
        for _ in 0..5 {
            assert_401(call(&a, &wrong).await);
        }
        assert_eq!(idp.count("/token"), 5);
        let basic = headers(&[("authorization", "Basic am9objpkb2U=")]);
        allowed(call(&a, &basic).await);
    }

    #[tokio::test]
    async fn overlong_credentials_are_401_without_an_idp_call() {
        use base64::Engine as _;
        let idp = idp(|r| {
            if r.path.ends_with("/token") {
                (403, String::new(), Duration::ZERO)
            } else {
                active("openid")
            }
        })
        .await;
        let a = auth(&cfg(&idp));
        let long = "a".repeat(MAX_CREDENTIAL_LEN + 1);
        assert_401(call(&a, &bearer(&long)).await);
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("john:{long}"));
        assert_401(call(&a, &headers(&[("authorization", &format!("Basic {b64}"))])).await);
        assert_eq!(idp.calls.lock().unwrap().len(), 0);
        allowed(call(&a, &bearer(&"a".repeat(MAX_CREDENTIAL_LEN))).await);
        assert_eq!(idp.count("/introspect"), 1);
        let d = denial(call(&a, &bearer(&long)).await);
        assert_eq!(d.status, 401);
    }
}

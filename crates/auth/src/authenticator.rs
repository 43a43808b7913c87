//! One plugin config's authenticator: finds the credential, introspects or runs a grant (cached,
//! coalesced), checks exp/scopes/audience, and returns the decision.

use std::sync::Arc;
use std::time::Duration;

use gateway_config::plugins::openid_connect::OidcConfig;

use crate::cache::{now_ms, secs_to_ms, CacheKey, Keyer, TimedCache, TtlPolicy};
use crate::claims::Requirement;
use crate::discovery::Discovery;
use crate::errors::{DiscoveryError, Endpoint, ErrorStyle, Failure, IdpError};
use crate::extract::{Credential, ExtractPlan, Source};
use crate::grants::{GrantRequest, GrantedToken};
use crate::http_client::{arg_pairs, header_pairs, ClientAuth, HttpClients, IdpHttp};
use crate::introspect::{ClaimPlan, Introspected, IntrospectionRequest};
use crate::upstream::UpstreamPlan;
use crate::{metrics, Decision, RequestParts, Upstream};

/// Default number of entries of each token cache.
pub const DEFAULT_CACHE_CAPACITY: usize = 100_000;

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
        let load = || async {
            let form = self.introspection.build(token);
            let obj = http
                .post_form(Endpoint::Introspection, &url, &form)
                .await
                .map_err(Failure::Introspection)?;
            Ok(Arc::new(Introspected::from_response(
                &obj,
                &self.claims,
                &self.ttl,
                now_ms(),
            )))
        };
        let Some(cache) = &self.introspection_cache else {
            return load().await;
        };
        let key = self.cache_key(&url, &[b"introspection", token.as_bytes()]);
        let lookup = cache.get_or_load(key, load);
        match tokio::time::timeout(http.timeout(), lookup).await {
            Ok(r) => {
                let (info, how) = r?;
                log::debug!(
                    "openid-connect introspection token={} cache={} active={}",
                    self.keyer.fingerprint(token),
                    how.as_str(),
                    info.active
                );
                Ok(info)
            }
            Err(_) => Err(Failure::Introspection(IdpError::Timeout {
                endpoint: Endpoint::Introspection,
            })),
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
            let obj = http
                .post_form(Endpoint::Token, &url, &form)
                .await
                .map_err(Failure::Token)?;
            GrantedToken::from_response(&obj, &self.ttl, now_ms())
                .map(Arc::new)
                .map_err(Failure::Token)
        };
        let Some(cache) = &self.token_cache else {
            return load().await;
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
}

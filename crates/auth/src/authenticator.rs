//! One plugin config's authenticator: the credential ([`Policy`]), the lookup ([`Idp`]: caches,
//! cluster, IdP), the pure [`decide`], then the decision's metric and log line.

use std::any::Any;
use std::sync::{Arc, OnceLock};

use gateway_config::plugins::openid_connect::OidcConfig;

use crate::cache::{now_ms, CacheKey};
use crate::cert_binding;
use crate::decide::{decide, Found, Policy, Verdict};
use crate::dpop::{Dpop, Presented};
use crate::errors::Failure;
use crate::extract::Credential;
use crate::idp::{Issuers, Shared};
use crate::metrics::AuthMetrics;
use crate::resource_metadata::ResourceMetadata;
use crate::{Decision, RequestParts};
use gateway_config::plugins::openid_connect::PopMode;

pub use crate::decide::MAX_CREDENTIAL_LEN;

/// Default number of entries of each token cache.
pub const DEFAULT_CACHE_CAPACITY: usize = 100_000;

/// The compiled openid-connect plugin for one config, with its caches.
#[derive(Debug)]
pub struct Authenticator {
    config_key: [u8; 32],
    issuer: String,
    policy: Policy,
    /// DPoP checks (`proof_of_possession_dpop` on).
    dpop: Option<Dpop>,
    /// `proof_of_possession_mtls` (RFC 8705).
    mtls: PopMode,
    /// RFC 9728 document (`protected_resource_metadata.enabled`).
    metadata: Option<ResourceMetadata>,
    idp: Issuers,
    metrics: Arc<AuthMetrics>,
    /// See [`Self::extension`].
    extension: OnceLock<Box<dyn Any + Send + Sync>>,
}

impl Authenticator {
    /// Compiles a config on the process's shared parts (HTTP clients, salt, cache size, metrics,
    /// cluster cache). `config_key` is the config's identity, computed once by the loader
    /// (`gateway_config::plugins::TypedConfig::key`).
    pub fn new(cfg: &OidcConfig, config_key: [u8; 32], shared: &Shared) -> Self {
        Authenticator {
            config_key,
            issuer: cfg.issuer.clone(),
            policy: Policy::new(cfg),
            dpop: Dpop::new(cfg, config_key, shared),
            metadata: ResourceMetadata::new(cfg),
            mtls: cfg.proof_of_possession_mtls,
            idp: Issuers::new(cfg, config_key, shared),
            metrics: Arc::clone(&shared.metrics),
            extension: OnceLock::new(),
        }
    }

    /// A slot for the embedding proxy's own data about this authenticator, set once (the gateway keeps
    /// its ready-made HTTP responses for [`Self::prebuilt_denials`] there; this crate never reads it).
    pub fn extension(&self) -> &OnceLock<Box<dyn Any + Send + Sync>> {
        &self.extension
    }

    /// The 401 and 403 that do not depend on the failure, when the config has them (no
    /// `display_errors`): a denial cloned from one of them shares its body's bytes with it.
    pub fn prebuilt_denials(&self) -> Option<(&crate::Denial, &crate::Denial)> {
        self.policy.prebuilt_denials()
    }

    /// The RFC 9728 document and its path, when the config serves one.
    pub fn resource_metadata(&self) -> Option<&ResourceMetadata> {
        self.metadata.as_ref()
    }

    /// The hash of the config this authenticator was built from.
    pub fn config_key(&self) -> [u8; 32] {
        self.config_key
    }

    /// Whether the gateway must read the request body before calling [`Self::authenticate`].
    pub fn needs_body(&self) -> bool {
        self.policy.needs_body()
    }

    /// The introspection cache keys of a token hash (see [`crate::cluster::keys`]), one per issuer
    /// (`extra_issuers`): the same on every node when the keyer comes from the cluster salt.
    pub fn introspection_keys(&self, token_hash: &CacheKey) -> Vec<CacheKey> {
        self.idp.introspection_keys(token_hash)
    }

    /// Removes the tokens' introspection results from the local caches (and, with `grants`, every
    /// cached grant); the number of introspection entries removed.
    pub fn purge(&self, token_hashes: &[CacheKey], grants: bool) -> usize {
        self.idp.purge(token_hashes, grants)
    }

    /// Empties the local introspection cache (after purges may have been missed).
    pub fn clear_introspection_cache(&self) {
        self.idp.clear_introspection_cache();
    }

    /// Entries in the introspection cache (fresh or not).
    pub fn introspection_cache_len(&self) -> usize {
        self.idp.introspection_cache_len()
    }

    /// Decides on one request.
    pub async fn authenticate(&self, req: &RequestParts<'_>) -> Decision {
        // The HTTP client is checked first: without one every request is a 500, credential or not.
        let credential = self.idp.ready().and_then(|()| self.policy.credential(req));
        let verdict = match credential.and_then(|c| self.presented(req, &c).map(|p| (c, p))) {
            Err(f) => self.policy.deny(f),
            Ok((credential, presented)) => {
                let found = self.idp.lookup(&credential).await;
                let found = match (&self.dpop, &presented) {
                    (Some(dpop), Some(p)) => found.and_then(|f| bind(dpop, p, f)),
                    _ => found,
                };
                let cert = req.target.client_cert_sha256;
                let found = found.and_then(|f| cert_binding::check(self.mtls, cert, f));
                let verdict = decide(req.headers, &credential, found, now_ms(), &self.policy);
                if self.policy.wants_unavailable(&verdict) {
                    let failure = verdict.failure.unwrap_or(Failure::Inactive);
                    self.policy
                        .unavailable(failure, self.idp.retry_after().as_secs().max(1))
                } else {
                    self.used_once(verdict, presented).await
                }
            }
        };
        self.record(&verdict);
        verdict.decision
    }

    /// What the request presents besides its credential (a DPoP proof), checked before any IdP call.
    fn presented(
        &self,
        req: &RequestParts<'_>,
        credential: &Credential,
    ) -> Result<Option<Presented>, Failure> {
        match &self.dpop {
            Some(dpop) => dpop.presented(req, credential, now_ms()),
            None => Ok(None),
        }
    }

    /// An allowed request's proof is remembered (a replay is refused), and its `DPoP` header is not sent
    /// upstream (Kong turns a DPoP request into a bearer one).
    async fn used_once(&self, mut verdict: Verdict, presented: Option<Presented>) -> Verdict {
        let (Some(dpop), Some(p), Decision::Allow(up)) =
            (&self.dpop, presented, &mut verdict.decision)
        else {
            return verdict;
        };
        if let Presented::Proof { .. } = p {
            up.remove_headers.push(crate::dpop::DPOP);
        }
        match dpop.use_once(&p, now_ms()).await {
            Ok(()) => verdict,
            Err(f) => self.policy.deny(f),
        }
    }

    /// Counts the outcome and logs why a request was denied (never the credential).
    fn record(&self, verdict: &Verdict) {
        self.metrics.decision(verdict.outcome());
        let Some(f) = &verdict.failure else { return };
        match f.status() {
            500 => log::error!("openid-connect error issuer={} reason={f}", self.issuer),
            503 => log::warn!(
                "openid-connect idp unavailable issuer={} reason={f}",
                self.issuer
            ),
            _ if matches!(f, Failure::Introspection(_) | Failure::Token(_)) => {
                log::warn!("openid-connect denied issuer={} reason={f}", self.issuer);
            }
            _ => log::debug!("openid-connect denied issuer={} reason={f}", self.issuer),
        }
    }
}

/// The binding check on an active bearer token's result (an inactive one is refused as inactive).
fn bind<'c>(dpop: &Dpop, presented: &Presented, found: Found<'c>) -> Result<Found<'c>, Failure> {
    match &found {
        Found::Bearer { info, .. } if info.active => dpop.bind(presented, info).map(|()| found),
        _ => Ok(found),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::Endpoint;
    use crate::fake_idp::{FakeIdp, Recorded, Reply};
    use crate::metrics::{IdpResult, Outcome};
    use crate::test_support::{allowed, denial};
    use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
    use http::{HeaderMap, HeaderValue};
    use serde_json::json;
    use std::time::Duration;

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

    /// An authenticator counting on a registry of its own.
    fn test_key(c: &OidcConfig) -> [u8; 32] {
        gateway_config::plugins::key_of(&c.to_value_with_defaults())
    }

    fn auth(c: &OidcConfig) -> Authenticator {
        auth_in(c, &prometheus::Registry::new())
    }

    fn auth_in(c: &OidcConfig, registry: &prometheus::Registry) -> Authenticator {
        let shared = Shared {
            clients: crate::http_client::HttpClients::default(),
            keyer: crate::cache::Keyer::random(),
            cache_capacity: 1000,
            metrics: Arc::new(AuthMetrics::new(registry)),
            cluster: None,
        };
        Authenticator::new(c, test_key(c), &shared)
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
            target: Default::default(),
        })
        .await
    }

    fn bearer(t: &str) -> HeaderMap {
        headers(&[("authorization", &format!("Bearer {t}"))])
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

    /// The scope and audience rules themselves are tested on `decide`; here: they apply to cache hits.
    #[tokio::test]
    async fn scopes_checked_on_cache_hits() {
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
        assert_eq!(a.metrics.decision_count(Outcome::Deny403), 2);
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
        assert_eq!(a.metrics.stale_served_count(), 3);
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
        let registry = prometheus::Registry::new();
        let a = auth_in(&c, &registry);
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
            a.idp
                .primary()
                .guard(c.introspection_endpoint.as_deref().unwrap())
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
        let counted = |r| a.metrics.idp_request_count(Endpoint::Introspection, r);
        assert_eq!(
            counted(IdpResult::CircuitOpen),
            17 + 1,
            "rejected, never sent"
        );
        assert_eq!(counted(IdpResult::Status), 3 + 1);
        assert_eq!(counted(IdpResult::Ok), 3);
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
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

//! The key sets of one plugin config: discovery's `jwks_uri` plus `extra_jwks_uris`, fetched on first need,
//! refreshed in the background after `cache_ttl`, and fetched again at once when a token names a `kid` the
//! keys do not have (a key rotation) — one fetch at a time (concurrent callers wait for it and share it), and
//! at most one every `rediscovery_lifetime`, so a flood of forged `kid`s cannot hammer the IdP.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::keys::KeySet;
use super::JwtError;
use crate::breaker::IdpGuards;
use crate::discovery::Discovery;
use crate::errors::{Endpoint, Failure, IdpError};
use crate::http_client::IdpHttp;

#[derive(Debug, Default)]
struct State {
    keys: Option<Arc<KeySet>>,
    /// The issuer of the discovery document the keys came with.
    issuer: Option<Arc<str>>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
}

/// Keys for a token and the discovered issuer.
#[derive(Debug, Clone)]
pub struct Keys {
    /// The keys.
    pub set: Arc<KeySet>,
    /// The discovery document's `issuer`, when discovery answered.
    pub issuer: Option<Arc<str>>,
}

/// The JWKS cache of one plugin config.
#[derive(Debug)]
pub struct Jwks {
    source: Source,
    extra: Vec<String>,
    cache_ttl: Duration,
    min_interval: Duration,
    state: ArcSwap<State>,
    refresh: tokio::sync::Mutex<()>,
}

impl Jwks {
    /// Keys from discovery plus `extra` URLs, refreshed after `cache_ttl`, fetched at most every
    /// `min_interval` (`rediscovery_lifetime`).
    pub fn new(
        source: Source,
        extra: Vec<String>,
        cache_ttl: Duration,
        min_interval: Duration,
    ) -> Self {
        Jwks {
            source,
            extra,
            cache_ttl,
            min_interval,
            state: ArcSwap::from_pointee(State::default()),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// The key set in use now (none before the first fetch); replaced as a whole by every fetch.
    pub fn current_set(&self) -> Option<Arc<KeySet>> {
        self.state.load().keys.clone()
    }

    /// The discovered issuer the current keys came with (none before the first fetch).
    pub fn known_issuer(&self) -> Option<Arc<str>> {
        self.state.load().issuer.clone()
    }

    fn may_attempt(&self, s: &State, now: Instant) -> bool {
        s.last_attempt
            .is_none_or(|t| now.duration_since(t) >= self.min_interval)
    }

    fn current(s: &State) -> Option<Keys> {
        s.keys.as_ref().map(|set| Keys {
            set: Arc::clone(set),
            issuer: s.issuer.clone(),
        })
    }

    /// The keys to verify a token whose header names `kid`: the cached ones when they have it (or no `kid`
    /// is named), else — at most every `min_interval` — fresh ones. `Err` when there are no keys at all
    /// and none could be fetched.
    pub async fn keys(self: &Arc<Self>, kid: Option<&str>) -> Result<Keys, Failure> {
        let s = self.state.load();
        let now = Instant::now();
        if let Some(current) = Self::current(&s) {
            let known = kid.is_none_or(|k| current.set.has_kid(k));
            let stale = s
                .fetched_at
                .is_none_or(|t| now.duration_since(t) >= self.cache_ttl);
            if known || !self.may_attempt(&s, now) {
                if known && stale && self.may_attempt(&s, now) {
                    self.refresh_in_background();
                }
                return Ok(current);
            }
        } else if !self.may_attempt(&s, now) {
            return Err(Failure::Jwt(JwtError::Keys(IdpError::CircuitOpen {
                endpoint: Endpoint::Jwks,
            })));
        }
        drop(s);
        let _guard = self.refresh.lock().await;
        // Someone else may have fetched while we waited.
        let s = self.state.load();
        if let Some(current) = Self::current(&s) {
            if kid.is_none_or(|k| current.set.has_kid(k)) || !self.may_attempt(&s, Instant::now()) {
                return Ok(current);
            }
        } else if !self.may_attempt(&s, Instant::now()) {
            return Err(Failure::Jwt(JwtError::Keys(IdpError::CircuitOpen {
                endpoint: Endpoint::Jwks,
            })));
        }
        drop(s);
        // Boxed: the fetch (HTTP client) is rare, and would otherwise make every caller's future large.
        Box::pin(self.fetch()).await
    }

    fn refresh_in_background(self: &Arc<Self>) {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            if let Ok(_guard) = me.refresh.try_lock() {
                let _ = me.fetch().await;
            }
        });
    }

    /// Fetches every key set now and records the attempt. The keys of the URLs that answered are kept
    /// (a failing extra URL does not drop the issuer's keys); none answering keeps the old keys and fails.
    async fn fetch(&self) -> Result<Keys, Failure> {
        let fetch = &self.source;
        let Some(http) = &fetch.http else {
            return Err(Failure::Setup("no HTTP client".into()));
        };
        let started = Instant::now();
        let mut urls = self.extra.clone();
        let mut issuer = None;
        match fetch.discovery.endpoints().await {
            Ok(e) => {
                issuer = e.issuer.as_deref().map(Arc::from);
                if let Some(u) = &e.jwks_uri {
                    urls.insert(0, u.clone());
                }
            }
            Err(e) if self.extra.is_empty() => {
                self.record_failure(started);
                return Err(Failure::Discovery(e));
            }
            Err(_) => {}
        }
        let mut docs = Vec::new();
        let mut last_error = None;
        for url in &urls {
            let get = http.get_json(Endpoint::Jwks, url);
            match fetch.guards.get(url).call(Endpoint::Jwks, get).await {
                Ok(doc) => docs.push(doc),
                Err(e) => {
                    log::warn!("openid-connect jwks fetch failed url={url} error={e}");
                    last_error = Some(e);
                }
            }
        }
        if docs.is_empty() {
            self.record_failure(started);
            let e = last_error.unwrap_or(IdpError::MissingField {
                endpoint: Endpoint::Discovery,
                field: "jwks_uri",
            });
            return Err(Failure::Jwt(JwtError::Keys(e)));
        }
        let set = Arc::new(KeySet::from_documents(&docs));
        log::info!(
            "openid-connect jwks ok urls={} keys={}",
            urls.len(),
            set.len()
        );
        self.state.store(Arc::new(State {
            keys: Some(Arc::clone(&set)),
            issuer: issuer.clone(),
            fetched_at: Some(Instant::now()),
            last_attempt: Some(started),
        }));
        Ok(Keys { set, issuer })
    }

    fn record_failure(&self, started: Instant) {
        let old = self.state.load();
        self.state.store(Arc::new(State {
            keys: old.keys.clone(),
            issuer: old.issuer.clone(),
            fetched_at: old.fetched_at,
            last_attempt: Some(started),
        }));
    }
}

/// Where the keys come from: the config's HTTP client, endpoint guards and discovery.
#[derive(Debug)]
pub struct Source {
    /// The HTTP client (`None`: none could be built; every fetch fails).
    pub http: Option<IdpHttp>,
    /// The endpoint guards (breaker, concurrency limit), shared with the other IdP calls.
    pub guards: Arc<IdpGuards>,
    /// The config's discovery.
    pub discovery: Arc<Discovery>,
}

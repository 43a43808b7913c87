//! OpenID discovery: fetch `<issuer>/.well-known/openid-configuration`, keep the endpoints we use,
//! refresh in the background after `cache_ttl`, and try again at most every `rediscovery_lifetime`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use serde_json::Value;

use crate::errors::{DiscoveryError, Endpoint};
use crate::http_client::IdpHttp;

/// The discovery URL of an issuer (Kong's rule: append the well-known path unless already there).
pub fn discovery_url(issuer: &str) -> String {
    if issuer.ends_with("/.well-known/openid-configuration")
        || issuer.ends_with("/.well-known/oauth-authorization-server")
    {
        issuer.to_owned()
    } else {
        format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        )
    }
}

/// The endpoints taken from a discovery document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// `introspection_endpoint`.
    pub introspection: Option<String>,
    /// `token_endpoint`.
    pub token: Option<String>,
    /// `jwks_uri`.
    pub jwks_uri: Option<String>,
    /// `issuer`.
    pub issuer: Option<String>,
}

impl Endpoints {
    /// Reads the endpoints from a discovery document.
    pub fn from_document(doc: &serde_json::Map<String, Value>) -> Self {
        let s = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_owned);
        Endpoints {
            introspection: s("introspection_endpoint"),
            token: s("token_endpoint"),
            jwks_uri: s("jwks_uri"),
            issuer: s("issuer"),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    endpoints: Option<Arc<Endpoints>>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
}

/// Discovery for one plugin config.
#[derive(Debug)]
pub struct Discovery {
    url: String,
    http: Option<IdpHttp>,
    cache_ttl: Duration,
    rediscovery: Duration,
    state: ArcSwap<State>,
    refresh: tokio::sync::Mutex<()>,
}

impl Discovery {
    /// Discovery of `issuer`'s document; `http` is `None` when no HTTP client could be built.
    pub fn new(
        issuer: &str,
        http: Option<IdpHttp>,
        cache_ttl: Duration,
        rediscovery: Duration,
    ) -> Self {
        Discovery {
            url: discovery_url(issuer),
            http,
            cache_ttl,
            rediscovery,
            state: ArcSwap::from_pointee(State::default()),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    fn may_attempt(&self, s: &State, now: Instant) -> bool {
        s.last_attempt
            .is_none_or(|t| now.duration_since(t) >= self.rediscovery)
    }

    /// The discovered endpoints, fetching them if needed (one fetch at a time).
    pub async fn endpoints(self: &Arc<Self>) -> Result<Arc<Endpoints>, DiscoveryError> {
        let now = Instant::now();
        let s = self.state.load();
        if let Some(e) = &s.endpoints {
            let stale = s
                .fetched_at
                .is_none_or(|t| now.duration_since(t) >= self.cache_ttl);
            if stale && self.may_attempt(&s, now) {
                let me = Arc::clone(self);
                tokio::spawn(async move {
                    if let Ok(_guard) = me.refresh.try_lock() {
                        let _ = me.fetch().await;
                    }
                });
            }
            return Ok(Arc::clone(e));
        }
        if !self.may_attempt(&s, now) {
            return Err(DiscoveryError::Backoff);
        }
        drop(s);
        let _guard = self.refresh.lock().await;
        // Someone else may have fetched (or failed) while we waited.
        let s = self.state.load();
        if let Some(e) = &s.endpoints {
            return Ok(Arc::clone(e));
        }
        if !self.may_attempt(&s, Instant::now()) {
            return Err(DiscoveryError::Backoff);
        }
        drop(s);
        self.fetch().await
    }

    /// Fetches the document now and records the attempt.
    async fn fetch(&self) -> Result<Arc<Endpoints>, DiscoveryError> {
        let started = Instant::now();
        let result = match &self.http {
            Some(http) => http.get_json(Endpoint::Discovery, &self.url).await,
            None => Err(crate::errors::IdpError::Transport {
                endpoint: Endpoint::Discovery,
                message: "no HTTP client".into(),
            }),
        };
        let old = self.state.load();
        match result {
            Ok(doc) => {
                let e = Arc::new(Endpoints::from_document(&doc));
                log::info!(
                    "openid-connect discovery ok url={} introspection={} token={}",
                    self.url,
                    e.introspection.is_some(),
                    e.token.is_some()
                );
                self.state.store(Arc::new(State {
                    endpoints: Some(Arc::clone(&e)),
                    fetched_at: Some(Instant::now()),
                    last_attempt: Some(started),
                }));
                Ok(e)
            }
            Err(err) => {
                log::warn!(
                    "openid-connect discovery failed url={} error={err}",
                    self.url
                );
                self.state.store(Arc::new(State {
                    endpoints: old.endpoints.clone(),
                    fetched_at: old.fetched_at,
                    last_attempt: Some(started),
                }));
                Err(err.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn url_rules() {
        assert_eq!(
            discovery_url("http://h/api/oidc"),
            "http://h/api/oidc/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("http://h/api/oidc/"),
            "http://h/api/oidc/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("http://h/x/.well-known/openid-configuration"),
            "http://h/x/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("http://h/.well-known/oauth-authorization-server"),
            "http://h/.well-known/oauth-authorization-server"
        );
    }

    #[test]
    fn endpoints_from_document() {
        let d =
            json!({"issuer": "x", "token_endpoint": "http://h/token", "introspection_endpoint": 5});
        let e = Endpoints::from_document(d.as_object().unwrap());
        assert_eq!(e.token.as_deref(), Some("http://h/token"));
        assert_eq!(e.introspection, None);
    }

    #[tokio::test]
    async fn failure_backs_off() {
        let d = Arc::new(Discovery::new(
            "http://127.0.0.1:1/x",
            None,
            Duration::from_secs(3600),
            Duration::from_secs(30),
        ));
        assert!(matches!(d.endpoints().await, Err(DiscoveryError::Fetch(_))));
        assert!(matches!(d.endpoints().await, Err(DiscoveryError::Backoff)));
    }
}

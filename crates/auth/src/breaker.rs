//! IdP protection per endpoint: a concurrency limit (a semaphore) and a circuit breaker that fails fast
//! after N consecutive IdP failures, for a cool-down, then lets one probe through (half-open).
//!
//! A failure is an outage of the IdP ([`IdpError::is_outage`]): timeout, transport error, 5xx/429,
//! unusable body. A 4xx answer (e.g. a wrong password at the token endpoint) is an answer, not an
//! outage, so callers cannot open the breaker with bad credentials. An attempt cancelled before it
//! finished (the caller's timeout) counts as a failure.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use gateway_config::plugins::openid_connect::OidcConfig;
use prometheus::IntGauge;
use tokio::sync::Semaphore;

use crate::errors::{Endpoint, IdpError};
use crate::metrics::AuthMetrics;

/// Breaker state, also the value of `gateway_idp_circuit_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls go through (0).
    Closed,
    /// Calls fail fast until the cool-down ends (1).
    Open,
    /// One probe is in flight; other calls fail fast (2).
    HalfOpen,
}

impl CircuitState {
    /// The gauge value.
    pub fn gauge(self) -> i64 {
        match self {
            CircuitState::Closed => 0,
            CircuitState::Open => 1,
            CircuitState::HalfOpen => 2,
        }
    }
}

#[derive(Debug)]
struct Breaker {
    state: CircuitState,
    failures: u32,
    open_until: Instant,
}

/// Settings of one guard (from the plugin config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardSettings {
    /// Concurrent requests allowed (≥ 1).
    pub concurrency: usize,
    /// Consecutive failures that open the circuit (0: never).
    pub failures: u32,
    /// How long an open circuit fails fast.
    pub cooldown: Duration,
}

impl GuardSettings {
    /// The config's `idp_concurrency_limit` and `idp_circuit_breaker_*` settings, clamped to sane bounds.
    pub fn from_config(cfg: &OidcConfig) -> Self {
        GuardSettings {
            concurrency: cfg.idp_concurrency_limit.clamp(1.0, 1_000_000.0) as usize,
            failures: cfg.idp_circuit_breaker_failures.clamp(0.0, 1_000_000.0) as u32,
            cooldown: Duration::from_millis(crate::cache::secs_to_ms(
                cfg.idp_circuit_breaker_cooldown,
            )),
        }
    }
}

/// The guard of one IdP endpoint (one URL).
#[derive(Debug)]
pub struct IdpGuard {
    label: String,
    settings: GuardSettings,
    permits: Semaphore,
    breaker: Mutex<Breaker>,
    /// `gateway_idp_circuit_state{endpoint=label}`, resolved once.
    gauge: IntGauge,
    /// `gateway_idp_endpoint_requests_total{endpoint=label}`, resolved once.
    sent: prometheus::IntCounter,
    metrics: Arc<AuthMetrics>,
}

/// One plugin config's guards, one per IdP endpoint URL, made when the URL is first called.
#[derive(Debug)]
pub struct IdpGuards {
    settings: GuardSettings,
    by_url: DashMap<String, Arc<IdpGuard>>,
    metrics: Arc<AuthMetrics>,
}

impl IdpGuards {
    /// No guard yet; each new one gets `settings` and counts on `metrics`.
    pub fn new(settings: GuardSettings, metrics: Arc<AuthMetrics>) -> Self {
        IdpGuards {
            settings,
            by_url: DashMap::new(),
            metrics,
        }
    }

    /// The longest wait, over this config's endpoints, until an open circuit lets a probe through, rounded
    /// up to whole seconds (zero: no circuit is open).
    pub fn retry_after(&self) -> Duration {
        self.by_url
            .iter()
            .filter_map(|g| g.open_for())
            .max()
            .map_or(Duration::ZERO, |d| {
                Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0))
            })
    }

    /// The guard of `url` (looked up only when the IdP is called, not on cache hits).
    pub fn get(&self, url: &str) -> Arc<IdpGuard> {
        if let Some(g) = self.by_url.get(url) {
            return Arc::clone(&g);
        }
        Arc::clone(&self.by_url.entry(url.to_owned()).or_insert_with(|| {
            Arc::new(IdpGuard::new(url, self.settings, Arc::clone(&self.metrics)))
        }))
    }
}

/// An admitted attempt; dropping it without [`Attempt::finish`] counts as a failure.
struct Attempt<'a> {
    guard: &'a IdpGuard,
    probe: bool,
    done: bool,
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.guard.record(self.probe, false);
        }
    }
}

impl Attempt<'_> {
    fn finish(mut self, ok: bool) {
        self.done = true;
        self.guard.record(self.probe, ok);
    }
}

/// The `endpoint` metric label of a URL: scheme, host, port and path (no user info, query or fragment).
pub fn endpoint_label(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!(
                "{}://{}{port}{}",
                u.scheme(),
                u.host_str().unwrap_or(""),
                u.path()
            )
        }
        Err(_) => "invalid-url".to_owned(),
    }
}

impl IdpGuard {
    /// A closed guard for `url`, reporting its state on `metrics`.
    pub fn new(url: &str, settings: GuardSettings, metrics: Arc<AuthMetrics>) -> Self {
        let label = endpoint_label(url);
        let gauge = metrics.circuit_gauge(&label);
        gauge.set(CircuitState::Closed.gauge());
        let sent = metrics.endpoint_counter(&label);
        IdpGuard {
            label,
            settings: GuardSettings {
                concurrency: settings.concurrency.max(1),
                ..settings
            },
            permits: Semaphore::new(settings.concurrency.max(1)),
            breaker: Mutex::new(Breaker {
                state: CircuitState::Closed,
                failures: 0,
                open_until: Instant::now(),
            }),
            gauge,
            sent,
            metrics,
        }
    }

    /// How long the circuit stays open (`None`: not open, or its cool-down has ended).
    pub fn open_for(&self) -> Option<Duration> {
        let b = self.lock();
        (b.state == CircuitState::Open)
            .then(|| b.open_until.saturating_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }

    /// The current state (an open circuit whose cool-down ended still reads `Open` until the next call).
    pub fn state(&self) -> CircuitState {
        self.lock().state
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Breaker> {
        self.breaker.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `call` if the circuit lets it through, within the concurrency limit (waiting for a slot
    /// is bounded by the caller's timeout). An open circuit answers [`IdpError::CircuitOpen`] at once.
    pub async fn call<T, F>(&self, endpoint: Endpoint, call: F) -> Result<T, IdpError>
    where
        F: Future<Output = Result<T, IdpError>>,
    {
        let attempt = self.admit(endpoint)?;
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| IdpError::CircuitOpen { endpoint })?;
        self.sent.inc();
        let result = call.await;
        attempt.finish(result.as_ref().map_or_else(|e| !e.is_outage(), |_| true));
        result
    }

    fn admit(&self, endpoint: Endpoint) -> Result<Attempt<'_>, IdpError> {
        let mut b = self.lock();
        let probe = match b.state {
            CircuitState::Closed => false,
            CircuitState::Open if Instant::now() >= b.open_until => {
                b.state = CircuitState::HalfOpen;
                self.gauge.set(b.state.gauge());
                log::info!("idp circuit half-open endpoint={} probing=1", self.label);
                true
            }
            CircuitState::Open | CircuitState::HalfOpen => {
                self.metrics.idp_rejected(endpoint);
                return Err(IdpError::CircuitOpen { endpoint });
            }
        };
        Ok(Attempt {
            guard: self,
            probe,
            done: false,
        })
    }

    fn record(&self, probe: bool, ok: bool) {
        let mut b = self.lock();
        if self.settings.failures == 0 {
            return;
        }
        match (b.state, probe, ok) {
            (CircuitState::HalfOpen, true, true) => {
                b.state = CircuitState::Closed;
                b.failures = 0;
                self.gauge.set(b.state.gauge());
                log::info!("idp circuit closed endpoint={}", self.label);
            }
            (CircuitState::HalfOpen, true, false) => self.open(&mut b),
            (CircuitState::Closed, _, true) => b.failures = 0,
            (CircuitState::Closed, _, false) => {
                b.failures = b.failures.saturating_add(1);
                if b.failures >= self.settings.failures {
                    self.open(&mut b);
                }
            }
            // Late results of calls admitted before the circuit opened change nothing.
            _ => {}
        }
    }

    fn open(&self, b: &mut Breaker) {
        b.state = CircuitState::Open;
        b.open_until = Instant::now() + self.settings.cooldown;
        self.gauge.set(b.state.gauge());
        log::warn!(
            "idp circuit open endpoint={} consecutive_failures={} cooldown_ms={}",
            self.label,
            b.failures,
            self.settings.cooldown.as_millis()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn guard(failures: u32, cooldown_ms: u64, concurrency: usize) -> IdpGuard {
        IdpGuard::new(
            "http://user:pw@127.0.0.1:9/oidc/introspect?x=1",
            GuardSettings {
                concurrency,
                failures,
                cooldown: Duration::from_millis(cooldown_ms),
            },
            Arc::new(AuthMetrics::new(&prometheus::Registry::new())),
        )
    }

    const E: Endpoint = Endpoint::Introspection;

    async fn fail(g: &IdpGuard, calls: &AtomicUsize) -> Result<(), IdpError> {
        g.call(E, async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(IdpError::Status {
                endpoint: E,
                status: 503,
            })
        })
        .await
    }

    async fn succeed(g: &IdpGuard, calls: &AtomicUsize) -> Result<(), IdpError> {
        g.call(E, async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .await
    }

    #[test]
    fn label_drops_secrets() {
        assert_eq!(
            endpoint_label("http://user:pw@h:8/a/b?token=x#f"),
            "http://h:8/a/b"
        );
        assert_eq!(endpoint_label("nope"), "invalid-url");
    }

    #[tokio::test]
    async fn opens_after_n_failures_probes_once_and_closes() {
        let g = guard(3, 100, 4);
        let calls = AtomicUsize::new(0);
        for _ in 0..3 {
            assert!(matches!(
                fail(&g, &calls).await,
                Err(IdpError::Status { .. })
            ));
        }
        assert_eq!(g.state(), CircuitState::Open);
        for _ in 0..10 {
            assert!(matches!(
                succeed(&g, &calls).await,
                Err(IdpError::CircuitOpen { .. })
            ));
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "no call during the cool-down"
        );
        tokio::time::sleep(Duration::from_millis(120)).await;
        // half-open: the probe fails and re-opens
        assert!(fail(&g, &calls).await.is_err());
        assert_eq!(g.state(), CircuitState::Open);
        assert!(matches!(
            succeed(&g, &calls).await,
            Err(IdpError::CircuitOpen { .. })
        ));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        tokio::time::sleep(Duration::from_millis(120)).await;
        succeed(&g, &calls).await.unwrap();
        assert_eq!(g.state(), CircuitState::Closed);
        succeed(&g, &calls).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 6);
    }

    #[tokio::test]
    async fn success_resets_the_count_and_4xx_is_not_a_failure() {
        let g = guard(2, 10_000, 4);
        let calls = AtomicUsize::new(0);
        fail(&g, &calls).await.ok();
        succeed(&g, &calls).await.unwrap();
        fail(&g, &calls).await.ok();
        assert_eq!(g.state(), CircuitState::Closed);
        for _ in 0..5 {
            let r: Result<(), _> = g
                .call(E, async {
                    Err(IdpError::Status {
                        endpoint: E,
                        status: 401,
                    })
                })
                .await;
            assert!(r.is_err());
        }
        assert_eq!(g.state(), CircuitState::Closed);
    }

    #[tokio::test]
    async fn zero_failures_disables_the_breaker() {
        let g = guard(0, 10, 4);
        let calls = AtomicUsize::new(0);
        for _ in 0..20 {
            fail(&g, &calls).await.ok();
        }
        assert_eq!(g.state(), CircuitState::Closed);
        assert_eq!(calls.load(Ordering::SeqCst), 20);
    }

    #[tokio::test]
    async fn a_cancelled_attempt_counts_as_a_failure() {
        let g = guard(1, 10_000, 4);
        let hung = g.call(E, std::future::pending::<Result<(), IdpError>>());
        assert!(tokio::time::timeout(Duration::from_millis(20), hung)
            .await
            .is_err());
        assert_eq!(g.state(), CircuitState::Open);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrency_is_limited() {
        let g = Arc::new(guard(0, 10, 2));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (g, running, peak) = (g.clone(), running.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                g.call(E, async {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, IdpError>(())
                })
                .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }
}

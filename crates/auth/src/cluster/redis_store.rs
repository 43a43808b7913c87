//! The Redis side: one auto-reconnecting connection (redis-rs `ConnectionManager`), every command
//! bounded by `command_timeout`, and an up/down state that skips Redis for a second after a failure
//! (so a dead or slow Redis costs at most one bounded command per second, never a failed request).

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, IntoConnectionInfo as _};

use gateway_config::cluster_cache::{redact_url, ClusterCacheSettings};

use crate::cache::now_ms;
use crate::metrics::AuthMetrics;

/// How long Redis is skipped after a failed command before it is tried again.
const RETRY_AFTER_MS: u64 = 1000;

/// Why a Redis operation did not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis is marked down; not tried.
    #[error("redis is down (skipped)")]
    Down,
    /// The command did not answer within `command_timeout`.
    #[error("redis command timed out")]
    Timeout,
    /// Redis or the connection failed.
    #[error("redis error: {0}")]
    Redis(#[from] redis::RedisError),
}

/// A Redis connection with a health state.
pub struct RedisStore {
    client: Client,
    url_for_logs: String,
    connect_timeout: Duration,
    command_timeout: Duration,
    /// Made on the first command (it spawns its task on the runtime running that command).
    conn: ArcSwapOption<ConnectionManager>,
    up: AtomicBool,
    retry_at_ms: AtomicU64,
    metrics: Arc<AuthMetrics>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.url_for_logs)
            .field("up", &self.is_up())
            .finish()
    }
}

impl RedisStore {
    /// A store for the settings whose up/down changes go to `metrics` (no connection is made yet).
    pub fn new(
        s: &ClusterCacheSettings,
        metrics: Arc<AuthMetrics>,
    ) -> Result<Self, redis::RedisError> {
        let mut info = s.redis_url.as_str().into_connection_info()?;
        let mut redis_info = info.redis_settings().clone();
        if let Some(u) = &s.username {
            redis_info = redis_info.set_username(u);
        }
        if let Some(p) = &s.password {
            redis_info = redis_info.set_password(p);
        }
        info = info.set_redis_settings(redis_info);
        Ok(RedisStore {
            client: Client::open(info)?,
            url_for_logs: redact_url(&s.redis_url),
            connect_timeout: Duration::from_millis(s.connect_timeout.max(1)),
            command_timeout: Duration::from_millis(s.command_timeout.max(1)),
            conn: ArcSwapOption::empty(),
            // Optimistic: the first failure logs the up→down change.
            up: AtomicBool::new(true),
            retry_at_ms: AtomicU64::new(0),
            metrics,
        })
    }

    /// The client (for the pub/sub connection).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Whether the last command succeeded.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    fn connection(&self) -> Result<ConnectionManager, StoreError> {
        if let Some(c) = self.conn.load().as_deref() {
            return Ok(c.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.command_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let c = ConnectionManager::new_lazy_with_config(self.client.clone(), config)?;
        // Two first commands at once may both make one: the first stored is kept by everyone.
        let before = self
            .conn
            .compare_and_swap(&None::<Arc<ConnectionManager>>, Some(Arc::new(c.clone())));
        Ok(before.as_deref().map_or(c, ConnectionManager::clone))
    }

    /// Runs one command (or pipeline) with the timeout and the health state.
    pub async fn run<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if !self.is_up() && now_ms() < self.retry_at_ms.load(Ordering::Relaxed) {
            return Err(StoreError::Down);
        }
        let conn = self.connection()?;
        let result = match tokio::time::timeout(self.command_timeout, op(conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(StoreError::Redis(e)),
            Err(_) => Err(StoreError::Timeout),
        };
        match &result {
            Ok(_) => self.mark_up(),
            Err(e) => self.mark_down(e),
        }
        result
    }

    fn mark_up(&self) {
        if !self.up.swap(true, Ordering::Relaxed) {
            log::info!("cluster cache: redis is up again url={}", self.url_for_logs);
            self.metrics.cluster.state(true);
        }
    }

    fn mark_down(&self, e: &StoreError) {
        self.retry_at_ms
            .store(now_ms() + RETRY_AFTER_MS, Ordering::Relaxed);
        if self.up.swap(false, Ordering::Relaxed) {
            log::warn!(
                "cluster cache: redis is down, serving from the local cache and the IdP url={} error={e}",
                self.url_for_logs
            );
            self.metrics.cluster.state(false);
        }
    }
}

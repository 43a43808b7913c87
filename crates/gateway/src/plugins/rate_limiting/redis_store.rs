//! rate-limiting's `policy: redis`: the counters of every node in one Redis, checked and incremented by
//! one Lua script per request (atomic: no request is let through past a limit, cluster-wide, and a
//! refused request increments nothing, as Kong increments only requests it lets through).
//!
//! Keys are `ratelimit:<plugin id>:<identifier hash>:<period start>:<period>` (Kong's
//! `ratelimit:<route>:<service>:<identifier>:<period_date>:<period>`, with the plugin's id for its scope and
//! the identifier as BLAKE3 keyed by the plugin's id: the same on every node, and no header value or
//! credential in Redis); each expires with its window. Every command is bounded by `redis.timeout`.

use std::time::Duration;

use gateway_config::plugins::rate_limiting::RedisConfig;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Client;

/// Checks every period's count against its limit; when all have room, increments each (setting its
/// expiry on creation). Returns `{stop, count_1, …, count_n}`: `stop` 0 and the counts after the
/// increment, or the 1-based period that is full and the counts before.
const SCRIPT: &str = r#"
local n = #KEYS
for i = 1, n do
  local c = tonumber(redis.call('GET', KEYS[i]) or '0')
  if c >= tonumber(ARGV[i]) then
    local out = { i }
    for j = 1, n do out[j + 1] = tonumber(redis.call('GET', KEYS[j]) or '0') end
    return out
  end
end
local out = { 0 }
for i = 1, n do
  local c = redis.call('INCR', KEYS[i])
  if c == 1 then redis.call('EXPIRE', KEYS[i], ARGV[n + i]) end
  out[i + 1] = c
end
return out
"#;

/// One period of one request: its Redis key, limit and the key's lifetime.
pub struct Slot {
    /// The key.
    pub key: String,
    /// The limit.
    pub limit: u64,
    /// Seconds the key lives (its window).
    pub ttl: u64,
}

/// A plugin's Redis.
pub struct RedisCounters {
    client: Client,
    conn: arc_swap::ArcSwapOption<ConnectionManager>,
    timeout: Duration,
    script: redis::Script,
}

impl RedisCounters {
    /// The client for `cfg` (no connection is made until the first request).
    pub fn new(cfg: &RedisConfig) -> Result<Self, String> {
        let host = cfg.host.clone().unwrap_or_default();
        let port = u16::try_from(cfg.port).map_err(|_| "redis.port out of range".to_string())?;
        let addr = redis::ConnectionAddr::Tcp(host, port);
        let mut settings = redis::RedisConnectionInfo::default().set_db(cfg.database as i64);
        if let Some(u) = &cfg.username {
            settings = settings.set_username(u);
        }
        if let Some(p) = &cfg.password {
            settings = settings.set_password(p);
        }
        let info = redis::IntoConnectionInfo::into_connection_info(addr)
            .map_err(|e| e.to_string())?
            .set_redis_settings(settings);
        let client = Client::open(info).map_err(|e| e.to_string())?;
        Ok(RedisCounters {
            client,
            conn: arc_swap::ArcSwapOption::empty(),
            timeout: Duration::from_millis(cfg.timeout.max(1)),
            script: redis::Script::new(SCRIPT),
        })
    }

    fn connection(&self) -> Result<ConnectionManager, redis::RedisError> {
        if let Some(c) = self.conn.load().as_deref() {
            return Ok(c.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let c = ConnectionManager::new_lazy_with_config(self.client.clone(), config)?;
        let before = self.conn.compare_and_swap(
            &None::<std::sync::Arc<ConnectionManager>>,
            Some(std::sync::Arc::new(c.clone())),
        );
        Ok(before.as_deref().map_or(c, ConnectionManager::clone))
    }

    /// Runs the script for these slots: `(stop, counts)` as the script returns them. `Err`: Redis failed
    /// or did not answer within `redis.timeout` (the text never holds a password).
    pub async fn count(&self, slots: &[Slot]) -> Result<(usize, Vec<u64>), String> {
        let mut conn = self.connection().map_err(|e| e.to_string())?;
        let mut inv = self.script.prepare_invoke();
        for s in slots {
            inv.key(&s.key);
        }
        for s in slots {
            inv.arg(s.limit);
        }
        for s in slots {
            inv.arg(s.ttl);
        }
        let run = inv.invoke_async::<Vec<u64>>(&mut conn);
        let out = match tokio::time::timeout(self.timeout, run).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => return Err(format!("redis error: {:?}", e.kind())),
            Err(_) => return Err("redis command timed out".into()),
        };
        match out.split_first() {
            Some((stop, counts)) if counts.len() == slots.len() => {
                Ok((*stop as usize, counts.to_vec()))
            }
            _ => Err("unexpected reply from the rate-limiting script".into()),
        }
    }
}

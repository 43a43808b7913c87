//! The `gateway.cluster_cache:` block: the optional Redis-backed cache shared by the gateway nodes.
//!
//! Absent (the default): every node keeps only its own token caches. Present: see `docs/scale-out.md`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Collector;

/// Default key prefix of every Redis key the gateway writes.
pub const DEFAULT_KEY_PREFIX: &str = "gw:";
/// Default Redis connect timeout (ms).
pub const DEFAULT_CONNECT_TIMEOUT: u64 = 200;
/// Default Redis command timeout (ms).
pub const DEFAULT_COMMAND_TIMEOUT: u64 = 100;
/// Default lifetime of a cross-node load lock (ms).
pub const DEFAULT_LOCK_TTL: u64 = 5000;
/// Shortest accepted `salt` (bytes).
pub const MIN_SALT_LEN: usize = 16;

/// Shared cache settings (YAML key `gateway.cluster_cache`); unknown keys are refused.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterCacheSettings {
    /// Whether the shared cache is used (default true when the block is present).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `redis://host:port[/db]` or `rediss://` (TLS).
    pub redis_url: String,
    /// Redis ACL user name (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Redis password (optional; never logged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Prefix of every key and of the purge channel (default `gw:`).
    #[serde(default = "default_prefix")]
    pub key_prefix: String,
    /// Secret shared by the nodes: keys the cluster-wide cache-key hashes (at least 16 bytes).
    pub salt: String,
    /// Connect timeout in ms (default 200).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: u64,
    /// Timeout of one Redis command in ms (default 100).
    #[serde(default = "default_command_timeout")]
    pub command_timeout: u64,
    /// Lifetime of a cross-node load lock in ms (default 5000).
    #[serde(default = "default_lock_ttl")]
    pub lock_ttl: u64,
}

fn yes() -> bool {
    true
}
fn default_prefix() -> String {
    DEFAULT_KEY_PREFIX.to_string()
}
fn default_connect_timeout() -> u64 {
    DEFAULT_CONNECT_TIMEOUT
}
fn default_command_timeout() -> u64 {
    DEFAULT_COMMAND_TIMEOUT
}
fn default_lock_ttl() -> u64 {
    DEFAULT_LOCK_TTL
}

impl fmt::Debug for ClusterCacheSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("ClusterCacheSettings")
            .field("enabled", &self.enabled)
            .field("redis_url", &redact_url(&self.redis_url))
            .field("username", &self.username)
            .field("password", &redacted(&self.password))
            .field("key_prefix", &self.key_prefix)
            .field("salt", &"<redacted>")
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("lock_ttl", &self.lock_ttl)
            .finish()
    }
}

/// The URL with any `user:password@` part replaced by `***@` (safe to log).
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***@{}", &url[..s + 3], &url[at + 1..]),
        _ => url.to_string(),
    }
}

impl ClusterCacheSettings {
    /// Checks the values, reporting under `gateway.cluster_cache.<field>`.
    pub(crate) fn check(&self, errors: &mut Collector) {
        let at = |f: &str| format!("gateway.cluster_cache.{f}");
        if !(self.redis_url.starts_with("redis://") || self.redis_url.starts_with("rediss://")) {
            errors.push(at("redis_url"), "expected a redis:// or rediss:// URL");
        }
        if self.salt.len() < MIN_SALT_LEN {
            errors.push(
                at("salt"),
                format!("must be at least {MIN_SALT_LEN} bytes (a secret shared by the nodes)"),
            );
        }
        if self.key_prefix.is_empty() {
            errors.push(at("key_prefix"), "must not be empty");
        }
        for (field, v) in [
            ("connect_timeout", self.connect_timeout),
            ("command_timeout", self.command_timeout),
            ("lock_ttl", self.lock_ttl),
        ] {
            if v == 0 {
                errors.push(at(field), "must be at least 1 (ms)");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<ClusterCacheSettings, serde_yaml::Error> {
        serde_yaml::from_str(yaml)
    }

    #[test]
    fn defaults_and_checks() {
        let s = parse("redis_url: redis://127.0.0.1:6379\nsalt: 0123456789abcdef\n").unwrap();
        assert!(s.enabled);
        assert_eq!(s.key_prefix, "gw:");
        assert_eq!(
            (s.connect_timeout, s.command_timeout, s.lock_ttl),
            (200, 100, 5000)
        );
        let mut c = Collector::default();
        s.check(&mut c);
        assert!(c.errors.is_empty());

        let bad = ClusterCacheSettings {
            redis_url: "http://x".into(),
            salt: "short".into(),
            lock_ttl: 0,
            ..s
        };
        let mut c = Collector::default();
        bad.check(&mut c);
        let lines: Vec<String> = c.errors.iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[1].starts_with("gateway.cluster_cache.salt:"));
        assert!(parse("redis_url: redis://h\nsalt: 0123456789abcdef\nbogus: 1\n").is_err());
        assert!(parse("redis_url: redis://h\n").is_err());
    }

    #[test]
    fn debug_redacts_secrets() {
        let s = ClusterCacheSettings {
            password: Some("hunter2".into()),
            redis_url: "redis://u:pw@h:1".into(),
            ..parse("redis_url: redis://h\nsalt: supersecretsalt123\n").unwrap()
        };
        let text = format!("{s:?}");
        for secret in ["hunter2", "supersecretsalt123", ":pw@"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}

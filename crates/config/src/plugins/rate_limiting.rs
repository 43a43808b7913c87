//! The `rate-limiting` plugin's typed config: Kong's fields, defaults and checks (`kong/plugins/rate-limiting/
//! schema.lua`), from one `FIELDS` table.
//!
//! Refused at load, not supported yet: `policy: cluster` (Kong has no cluster policy in DB-less mode either),
//! `sync_rate` other than -1 (counting is always synchronous here), `redis.ssl: true`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::{field, normalize, DefaultValue as D, Field, Kind};
use crate::error::FieldError;

/// Kong's periods, shortest first, with their window in seconds (`expiration.lua`).
pub const PERIODS: [(&str, u64); 6] = [
    ("second", 1),
    ("minute", 60),
    ("hour", 3_600),
    ("day", 86_400),
    ("month", 2_592_000),
    ("year", 31_536_000),
];

/// What requests are counted by (`limit_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitBy {
    /// The consumer (else the credential, else the client IP).
    Consumer,
    /// The credential (else the client IP).
    Credential,
    /// The client IP.
    Ip,
    /// The service.
    Service,
    /// A request header's value (else the client IP).
    Header,
    /// The request path when it equals `path` (else the client IP).
    Path,
}

impl LimitBy {
    /// Its names in the config.
    pub const NAMES: &'static [&'static str] =
        &["consumer", "credential", "ip", "service", "header", "path"];
}

/// Where counters live (`policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// In this process's memory.
    Local,
    /// Kong's database policy (refused: not supported yet).
    Cluster,
    /// In Redis, shared by every node.
    Redis,
}

/// `config.redis` (Kong's shared Redis schema).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedisConfig {
    /// Host name or address (required with `policy: redis`).
    pub host: Option<String>,
    /// Port.
    pub port: u64,
    /// Connect and command timeout (ms).
    pub timeout: u64,
    /// ACL user.
    pub username: Option<String>,
    /// `AUTH` password.
    pub password: Option<String>,
    /// Database number.
    pub database: u64,
    /// TLS.
    pub ssl: bool,
    /// Verify the server's certificate.
    pub ssl_verify: bool,
    /// SNI.
    pub server_name: Option<String>,
}

/// The typed `rate-limiting` config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateLimitingConfig {
    /// Requests per second.
    pub second: Option<f64>,
    /// Requests per minute.
    pub minute: Option<f64>,
    /// Requests per hour.
    pub hour: Option<f64>,
    /// Requests per day.
    pub day: Option<f64>,
    /// Requests per month.
    pub month: Option<f64>,
    /// Requests per year.
    pub year: Option<f64>,
    /// What requests are counted by.
    pub limit_by: LimitBy,
    /// The header counted by (`limit_by: header`).
    pub header_name: Option<String>,
    /// The path counted (`limit_by: path`).
    pub path: Option<String>,
    /// Where counters live.
    pub policy: Policy,
    /// Serve requests when the counter store fails (else 500).
    pub fault_tolerant: bool,
    /// The Redis server (`policy: redis`).
    pub redis: RedisConfig,
    /// Do not send the `RateLimit-*` / `X-RateLimit-*` headers.
    pub hide_client_headers: bool,
    /// Status of a limited request.
    pub error_code: f64,
    /// Message of a limited request.
    pub error_message: String,
    /// Kong's counter sync interval; only -1 (synchronous) here.
    pub sync_rate: f64,
}

const REDIS_FIELDS: &[Field] = &[
    field("host", Kind::Str, D::Null),
    field("port", Kind::Integer, D::Num(6379.0)),
    field("timeout", Kind::Integer, D::Num(2000.0)),
    field("username", Kind::Str, D::Null),
    field("password", Kind::Str, D::Null),
    field("database", Kind::Integer, D::Num(0.0)),
    field("ssl", Kind::Bool, D::Bool(false)),
    field("ssl_verify", Kind::Bool, D::Bool(false)),
    field("server_name", Kind::Str, D::Null),
];

/// Kong 3.x's deprecated flat fields (`shorthand_fields` of `schema.lua`) and the `redis` field each
/// stands for; Kong's dumps write them beside `redis`. Moved into `redis` at load, with Kong's rule.
pub const REDIS_SHORTHANDS: &[(&str, &str, &str)] = &[
    ("redis_host", "redis", "host"),
    ("redis_port", "redis", "port"),
    ("redis_password", "redis", "password"),
    ("redis_username", "redis", "username"),
    ("redis_ssl", "redis", "ssl"),
    ("redis_ssl_verify", "redis", "ssl_verify"),
    ("redis_server_name", "redis", "server_name"),
    ("redis_timeout", "redis", "timeout"),
    ("redis_database", "redis", "database"),
];

/// The schema, in Kong's order.
pub const FIELDS: &[Field] = &[
    field("second", Kind::Positive, D::Null),
    field("minute", Kind::Positive, D::Null),
    field("hour", Kind::Positive, D::Null),
    field("day", Kind::Positive, D::Null),
    field("month", Kind::Positive, D::Null),
    field("year", Kind::Positive, D::Null),
    field("limit_by", Kind::OneOf(LimitBy::NAMES), D::Str("consumer")),
    field("header_name", Kind::Str, D::Null),
    field("path", Kind::Str, D::Null),
    field(
        "policy",
        Kind::OneOf(&["local", "cluster", "redis"]),
        D::Str("local"),
    ),
    field("fault_tolerant", Kind::Bool, D::Bool(true)),
    field("redis", Kind::Record(REDIS_FIELDS), D::Null),
    field("hide_client_headers", Kind::Bool, D::Bool(false)),
    field("error_code", Kind::Positive, D::Num(429.0)),
    field(
        "error_message",
        Kind::Str,
        D::Str("API rate limit exceeded"),
    ),
    field("sync_rate", Kind::Signed, D::Num(-1.0)),
];

fn err(path: &str, message: &str) -> FieldError {
    FieldError::new(path, message)
}

impl RateLimitingConfig {
    /// Parses and checks a raw `config` (every error collected, Kong's messages).
    pub fn from_value(value: &Value) -> Result<Self, Vec<FieldError>> {
        let value = super::fields::apply_shorthands(value, REDIS_SHORTHANDS)?;
        let map = normalize(FIELDS, &value)?;
        let cfg: RateLimitingConfig = serde_json::from_value(Value::Object(map))
            .map_err(|e| vec![err("", &e.to_string())])?;
        let mut errors = Vec::new();
        cfg.check(&mut errors);
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(errors)
        }
    }

    /// The limits set, shortest period first: (period name, window seconds, limit).
    pub fn limits(&self) -> Vec<(&'static str, u64, u64)> {
        let values = [
            self.second,
            self.minute,
            self.hour,
            self.day,
            self.month,
            self.year,
        ];
        PERIODS
            .iter()
            .zip(values)
            .filter_map(|((name, window), v)| v.map(|v| (*name, *window, v.floor() as u64)))
            .collect()
    }

    fn check(&self, errors: &mut Vec<FieldError>) {
        let limits = self.limits();
        if limits.is_empty() {
            errors.push(err(
                "",
                "at least one of these fields must be non-empty: 'config.second', 'config.minute', \
                 'config.hour', 'config.day', 'config.month', 'config.year'",
            ));
        }
        let values = [
            self.second,
            self.minute,
            self.hour,
            self.day,
            self.month,
            self.year,
        ];
        'order: for (i, lower) in values.iter().enumerate() {
            let Some(v1) = lower else { continue };
            for (j, upper) in values.iter().enumerate().skip(i + 1) {
                if let Some(v2) = upper {
                    if v2 < v1 {
                        errors.push(err(
                            "",
                            &format!(
                                "The limit for {}({v2:.1}) cannot be lower than the limit for {}({v1:.1})",
                                PERIODS[j].0, PERIODS[i].0
                            ),
                        ));
                        break 'order;
                    }
                }
            }
        }
        let required = crate::checks::REQUIRED;
        if self.limit_by == LimitBy::Header && self.header_name.as_deref().is_none_or(str::is_empty)
        {
            errors.push(err("header_name", required));
        }
        if self.limit_by == LimitBy::Path && self.path.as_deref().is_none_or(str::is_empty) {
            errors.push(err("path", required));
        }
        if self.policy == Policy::Redis && self.redis.host.as_deref().is_none_or(str::is_empty) {
            errors.push(err("redis.host", required));
        }
        if let Some(name) = &self.header_name {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                errors.push(err("header_name", "bad header name"));
            }
        }
        if self.redis.port == 0 || self.redis.port > 65_535 {
            errors.push(err("redis.port", "value should be between 0 and 65535"));
        }
        if self.redis.timeout == 0 {
            errors.push(err(
                "redis.timeout",
                "value should be between 1 and 2147483646",
            ));
        }
        if !(100.0..=599.0).contains(&self.error_code) || self.error_code.fract() != 0.0 {
            errors.push(err("error_code", "expected an HTTP status code (100-599)"));
        }
        self.check_supported(errors);
    }

    /// Kong's values this gateway does not implement yet: refused, never accepted and ignored.
    fn check_supported(&self, errors: &mut Vec<FieldError>) {
        if self.policy == Policy::Cluster {
            errors.push(err(
                "policy",
                "cluster is not supported yet (supported: local, redis)",
            ));
        }
        if self.redis.ssl {
            errors.push(err("redis.ssl", "TLS to Redis is not supported yet"));
        }
        if self.sync_rate != -1.0 {
            let message = if self.policy == Policy::Redis {
                "sync_rate is not supported yet (only -1: every request counted synchronously)"
            } else {
                "sync_rate can only be used with the redis policy"
            };
            errors.push(err("sync_rate", message));
        }
    }

    /// The whole config with defaults, in schema order (whole floats as integers, as Kong shows them).
    pub fn to_value_with_defaults(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        integral(&mut v);
        v
    }
}

fn integral(v: &mut Value) {
    match v {
        Value::Number(n) => {
            if let Some(f) = n
                .as_f64()
                .filter(|f| n.is_f64() && f.fract() == 0.0 && f.abs() < 9e15)
            {
                *v = Value::from(f as i64);
            }
        }
        Value::Object(m) => m.values_mut().for_each(integral),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flat_redis_fields_go_to_the_record_with_kongs_rule() {
        // As Kong 3.14 dumps it: flat fields beside the record, equal or null.
        let c = RateLimitingConfig::from_value(&json!({
            "minute": 5, "policy": "redis",
            "redis": {"host": "r.test", "port": 6380, "database": null},
            "redis_host": "r.test", "redis_port": 6380, "redis_database": 2,
            "redis_password": null, "redis_timeout": 1500, "redis_ssl": false
        }))
        .unwrap();
        assert_eq!(c.redis.host.as_deref(), Some("r.test"));
        assert_eq!(
            (c.redis.port, c.redis.database, c.redis.timeout),
            (6380, 2, 1500)
        );
        assert_eq!(c.redis.password, None);
        // Only the flat fields (a Kong 2.x file).
        let c = RateLimitingConfig::from_value(&json!({
            "minute": 5, "policy": "redis", "redis_host": "old.test", "redis_port": 7000
        }))
        .unwrap();
        assert_eq!(
            (c.redis.host.as_deref(), c.redis.port),
            (Some("old.test"), 7000)
        );
        // Both given and different: Kong's error, nothing chosen.
        assert_eq!(
            errors(json!({"minute": 5, "redis_host": "b.test",
                          "redis_port": 1, "redis": {"host": "a.test", "port": 2}})),
            vec![
                ("redis_host".into(), "both deprecated and new field are used but their values mismatch: redis_host = b.test vs redis.host = a.test".into()),
                ("redis_port".into(), "both deprecated and new field are used but their values mismatch: redis_port = 1 vs redis.port = 2".into()),
            ]
        );
    }

    fn errors(v: Value) -> Vec<(String, String)> {
        RateLimitingConfig::from_value(&v)
            .unwrap_err()
            .into_iter()
            .map(|e| (e.path, e.message))
            .collect()
    }

    #[test]
    fn defaults_are_kongs() {
        let c = RateLimitingConfig::from_value(&json!({"minute": 5})).unwrap();
        assert_eq!(c.limits(), vec![("minute", 60, 5)]);
        assert_eq!((c.limit_by, c.policy), (LimitBy::Consumer, Policy::Local));
        assert!(c.fault_tolerant && !c.hide_client_headers);
        let v = c.to_value_with_defaults();
        assert_eq!(v["minute"], json!(5));
        assert_eq!(v["second"], Value::Null);
        assert_eq!(v["redis"]["port"], json!(6379));
        assert_eq!(v["redis"]["timeout"], json!(2000));
        assert_eq!(v["error_code"], json!(429));
        assert_eq!(v["error_message"], "API rate limit exceeded");
        assert_eq!(v["sync_rate"], json!(-1));
    }

    #[test]
    fn bad_input_gets_kongs_errors() {
        assert_eq!(
            errors(json!({})),
            [("".to_string(), "at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'".to_string())]
        );
        assert_eq!(
            errors(json!({"minute": -1})),
            [(
                "minute".to_string(),
                "value must be greater than 0".to_string()
            )]
        );
        assert_eq!(
            errors(json!({"minute": 5, "limit_by": "planet"})),
            [(
                "limit_by".to_string(),
                "expected one of: consumer, credential, ip, service, header, path".to_string()
            )]
        );
        assert_eq!(
            errors(json!({"minute": 10, "hour": 5})),
            [(
                "".to_string(),
                "The limit for hour(5.0) cannot be lower than the limit for minute(10.0)"
                    .to_string()
            )]
        );
        assert_eq!(
            errors(json!({"minute": 5, "limit_by": "header", "policy": "redis"})),
            [
                (
                    "header_name".to_string(),
                    "required field missing".to_string()
                ),
                (
                    "redis.host".to_string(),
                    "required field missing".to_string()
                ),
            ]
        );
        assert_eq!(
            errors(json!({"minute": 5, "redis": {"port": "x", "bogus": 1}})),
            [
                ("redis.bogus".to_string(), "unknown field".to_string()),
                ("redis.port".to_string(), "expected an integer".to_string()),
            ]
        );
    }

    #[test]
    fn unbuilt_values_are_refused() {
        assert_eq!(
            errors(json!({"minute": 5, "policy": "cluster"})),
            [(
                "policy".to_string(),
                "cluster is not supported yet (supported: local, redis)".to_string()
            )]
        );
        assert_eq!(
            errors(json!({"minute": 5, "sync_rate": 1})),
            [(
                "sync_rate".to_string(),
                "sync_rate can only be used with the redis policy".to_string()
            )]
        );
        assert_eq!(
            errors(json!({"minute": 5, "policy": "redis", "redis": {"host": "h", "ssl": true}})),
            [(
                "redis.ssl".to_string(),
                "TLS to Redis is not supported yet".to_string()
            )]
        );
        let ok = json!({"minute": 5, "policy": "redis", "redis": {"host": "127.0.0.1"}});
        let c = RateLimitingConfig::from_value(&ok).unwrap();
        assert_eq!(c.redis.host.as_deref(), Some("127.0.0.1"));
    }
}

//! Deadlines and per-connection caps for clients (the `gateway:` block, flattened into
//! [`crate::settings::Settings`]): nginx's `client_header_timeout`, `client_body_timeout`, `send_timeout` and
//! `keepalive_requests`, `keepalive_timeout`, plus a total bound on reading a request body (`client_body_total_timeout`, no nginx
//! equivalent). Times are nginx's: an integer number of seconds or a string such as `"60s"`, `"500ms"`, `"2m"`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Collector;

/// nginx's default `client_header_timeout`, `client_body_timeout` and `send_timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `client_body_total_timeout`: the whole body within ten minutes.
pub const DEFAULT_BODY_TOTAL_TIMEOUT: Duration = Duration::from_secs(600);
/// nginx's default `keepalive_timeout`.
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(75);
/// Kong's `nginx_http_keepalive_requests` default (nginx's own is 1000).
pub const DEFAULT_KEEPALIVE_REQUESTS: u32 = 10_000;
/// The longest accepted deadline (one day).
const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);

/// A time setting: whole milliseconds, written as nginx writes times.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Time(pub Duration);

/// The client deadlines and caps of the `gateway:` block.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientLimits {
    /// Total time a client has to send a request's head (request line and headers), from the connection's
    /// accept or, on a kept-alive connection, from the head's first byte (nginx `client_header_timeout`,
    /// default 60 s). Past it the client gets `408` and the connection is closed.
    #[serde(skip_serializing_if = "is_default_timeout")]
    pub client_header_timeout: Time,
    /// Longest wait between two reads of a request body (nginx `client_body_timeout`, default 60 s).
    #[serde(skip_serializing_if = "is_default_timeout")]
    pub client_body_timeout: Time,
    /// Total time to read a request body from the end of its head (default 600 s; `0` = no bound).
    #[serde(skip_serializing_if = "is_default_body_total")]
    pub client_body_total_timeout: Time,
    /// Longest wait for a client to take more of the answer (nginx `send_timeout`, default 60 s).
    #[serde(skip_serializing_if = "is_default_timeout")]
    pub send_timeout: Time,
    /// Requests per HTTP/1.1 connection, and streams per HTTP/2 connection (nginx `keepalive_requests`,
    /// Kong's `nginx_http_keepalive_requests`, default 10000): the last HTTP/1.1 answer carries
    /// `Connection: close`; an HTTP/2 client gets GOAWAY.
    #[serde(skip_serializing_if = "is_default_keepalive_requests")]
    pub keepalive_requests: u32,
    /// How long a kept-alive HTTP/1.1 connection may wait for its next request (nginx `keepalive_timeout`,
    /// default 75 s); then it is closed.
    #[serde(skip_serializing_if = "is_default_keepalive_timeout")]
    pub keepalive_timeout: Time,
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            client_header_timeout: Time(DEFAULT_TIMEOUT),
            client_body_timeout: Time(DEFAULT_TIMEOUT),
            client_body_total_timeout: Time(DEFAULT_BODY_TOTAL_TIMEOUT),
            send_timeout: Time(DEFAULT_TIMEOUT),
            keepalive_requests: DEFAULT_KEEPALIVE_REQUESTS,
            keepalive_timeout: Time(DEFAULT_KEEPALIVE_TIMEOUT),
        }
    }
}

impl ClientLimits {
    /// Records each out-of-range value under `gateway.<field>`.
    pub(crate) fn check(&self, errors: &mut Collector) {
        for (field, t, zero_ok) in [
            ("client_header_timeout", self.client_header_timeout, false),
            ("client_body_timeout", self.client_body_timeout, false),
            (
                "client_body_total_timeout",
                self.client_body_total_timeout,
                true,
            ),
            ("send_timeout", self.send_timeout, false),
            ("keepalive_timeout", self.keepalive_timeout, false),
        ] {
            if (t.0.is_zero() && !zero_ok) || t.0 > MAX_TIMEOUT {
                let min = if zero_ok { "0" } else { "1ms" };
                errors.push(
                    format!("gateway.{field}"),
                    format!("value should be between {min} and 1d"),
                );
            }
        }
        if self.keepalive_requests == 0 {
            errors.push("gateway.keepalive_requests", "must be at least 1");
        }
    }
}

fn is_default_timeout(t: &Time) -> bool {
    t.0 == DEFAULT_TIMEOUT
}

fn is_default_body_total(t: &Time) -> bool {
    t.0 == DEFAULT_BODY_TOTAL_TIMEOUT
}

fn is_default_keepalive_timeout(t: &Time) -> bool {
    t.0 == DEFAULT_KEEPALIVE_TIMEOUT
}

fn is_default_keepalive_requests(n: &u32) -> bool {
    *n == DEFAULT_KEEPALIVE_REQUESTS
}

/// Parses nginx's time syntax: `<n>` (seconds) or `<n><unit>` with unit `ms`, `s`, `m`, `h`, `d`, possibly
/// several (`1m30s`).
pub fn parse_time(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let ms = match &rest[..unit] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        };
        rest = &rest[unit..];
        total += Duration::from_millis(n.checked_mul(ms)?);
    }
    Some(total)
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(s) => Ok(Time(Duration::from_secs(s))),
            Raw::Text(t) => parse_time(&t).map(Time).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "invalid time {t:?}: expected seconds or nginx's syntax such as \"60s\", \"500ms\""
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_times_parse() {
        assert_eq!(parse_time("60"), Some(Duration::from_secs(60)));
        assert_eq!(parse_time("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_time("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_time("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_time("1h"), Some(Duration::from_secs(3600)));
        for bad in ["", "s", "5x", "-1", "1.5s"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        assert_eq!(Time(Duration::from_millis(1500)).to_string(), "1500ms");
        assert_eq!(Time(Duration::from_secs(2)).to_string(), "2s");
    }

    #[test]
    fn defaults_and_checks() {
        let d = ClientLimits::default();
        assert_eq!(d.client_header_timeout.0, Duration::from_secs(60));
        assert_eq!(d.keepalive_requests, 10_000);
        let mut errors = Collector::default();
        d.check(&mut errors);
        assert!(errors.errors.is_empty());
        let bad = ClientLimits {
            send_timeout: Time(Duration::ZERO),
            keepalive_requests: 0,
            client_body_total_timeout: Time(Duration::ZERO),
            ..d
        };
        let mut errors = Collector::default();
        bad.check(&mut errors);
        let text = format!("{errors:?}");
        assert!(text.contains("gateway.send_timeout"), "{text}");
        assert!(text.contains("gateway.keepalive_requests"), "{text}");
        assert!(!text.contains("client_body_total_timeout"), "{text}");
    }

    #[test]
    fn read_from_the_gateway_block() {
        let s: crate::settings::Settings = serde_yaml::from_str(
            "client_header_timeout: 2s\nsend_timeout: 3\nkeepalive_requests: 5\nlog_level: info\n",
        )
        .unwrap();
        assert_eq!(s.client.client_header_timeout.0, Duration::from_secs(2));
        assert_eq!(s.client.send_timeout.0, Duration::from_secs(3));
        assert_eq!(s.client.keepalive_requests, 5);
        assert_eq!(s.client.client_body_timeout.0, DEFAULT_TIMEOUT);
        let unknown =
            serde_yaml::from_str::<crate::settings::Settings>("client_header_timout: 2s\n");
        assert!(unknown.is_err(), "unknown keys are still refused");
        let bad = serde_yaml::from_str::<crate::settings::Settings>("send_timeout: soon\n");
        assert!(bad.unwrap_err().to_string().contains("invalid time"));
        let out = serde_yaml::to_string(&s).unwrap();
        assert!(out.contains("client_header_timeout: 2s"), "{out}");
        assert!(!out.contains("client_body_timeout"), "{out}");
    }
}

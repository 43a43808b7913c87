//! Kong 3.x's plugin queue settings (`kong/tools/queue_schema.lua`): the `queue` record of http-log (and of
//! the other batching plugins), its defaults, ranges and messages.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::fields::{field, DefaultValue as D, Field, Kind};
use crate::error::FieldError;

/// The `queue` record's fields, in Kong's order. Numbers are checked against Kong's ranges by
/// [`QueueConfig::from_map`] (the table only says "a number").
pub const FIELDS: &[Field] = &[
    field("max_batch_size", Kind::Signed, D::Num(1.0)),
    field("max_coalescing_delay", Kind::Signed, D::Num(1.0)),
    field("max_entries", Kind::Signed, D::Num(10000.0)),
    field("max_bytes", Kind::Signed, D::Null),
    field("max_retry_time", Kind::Signed, D::Num(60.0)),
    field("initial_retry_delay", Kind::Signed, D::Num(0.01)),
    field("max_retry_delay", Kind::Signed, D::Num(60.0)),
    field("concurrency_limit", Kind::Signed, D::Num(1.0)),
];

/// The typed `queue` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueConfig {
    /// Entries sent in one call (1: one entry per call, no JSON array).
    pub max_batch_size: u64,
    /// Seconds to wait, after the first entry of a batch, for more entries.
    pub max_coalescing_delay: f64,
    /// Entries that may wait; the oldest is dropped to make room.
    pub max_entries: u64,
    /// Bytes that may wait (`None`: no byte bound); the oldest entries are dropped to make room.
    pub max_bytes: Option<u64>,
    /// Seconds a failing batch is retried before it is given up.
    pub max_retry_time: f64,
    /// Seconds before the first retry; doubled at each retry.
    pub initial_retry_delay: f64,
    /// The largest delay between two retries, in seconds.
    pub max_retry_delay: f64,
    /// 1: one batch in flight at a time; -1: no limit.
    pub concurrency_limit: i64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_batch_size: 1,
            max_coalescing_delay: 1.0,
            max_entries: 10000,
            max_bytes: None,
            max_retry_time: 60.0,
            initial_retry_delay: 0.01,
            max_retry_delay: 60.0,
            concurrency_limit: 1,
        }
    }
}

/// A number as Kong writes it in a message (`1` for 1.0, `0.001`).
fn num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 9e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

impl QueueConfig {
    /// Reads the normalized `queue` record (every field present, defaults filled); errors under `prefix`.
    pub fn from_map(map: &Map<String, Value>, prefix: &str) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let path = |name: &str| format!("{prefix}.{name}");
        let mut get = |name: &str, integer: bool, range: Option<(f64, f64)>| -> Option<f64> {
            let v = map.get(name).and_then(Value::as_f64)?;
            if integer && v.fract() != 0.0 {
                errors.push(FieldError::new(path(name), "expected an integer"));
                return None;
            }
            if let Some((lo, hi)) = range {
                if v < lo || v > hi {
                    errors.push(FieldError::new(
                        path(name),
                        format!("value should be between {} and {}", num(lo), num(hi)),
                    ));
                    return None;
                }
            }
            Some(v)
        };
        let d = QueueConfig::default();
        let max_batch_size = get("max_batch_size", true, Some((1.0, 1e6)));
        let max_coalescing_delay = get("max_coalescing_delay", false, Some((0.0, 3600.0)));
        let max_entries = get("max_entries", true, Some((1.0, 1e6)));
        let max_bytes = get("max_bytes", true, None);
        let max_retry_time = get("max_retry_time", false, None);
        let initial_retry_delay = get("initial_retry_delay", false, Some((0.001, 1e6)));
        let max_retry_delay = get("max_retry_delay", false, Some((0.001, 1e6)));
        let concurrency_limit = get("concurrency_limit", true, None);
        if let Some(c) = concurrency_limit {
            if c != 1.0 && c != -1.0 {
                errors.push(FieldError::new(
                    path("concurrency_limit"),
                    "expected one of: -1, 1",
                ));
            }
        }
        if let Some(b) = max_bytes {
            if b < 0.0 {
                errors.push(FieldError::new(
                    path("max_bytes"),
                    "value should be between 0 and 9007199254740991",
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(QueueConfig {
            max_batch_size: max_batch_size.map_or(d.max_batch_size, |v| v as u64),
            max_coalescing_delay: max_coalescing_delay.unwrap_or(d.max_coalescing_delay),
            max_entries: max_entries.map_or(d.max_entries, |v| v as u64),
            max_bytes: max_bytes.map(|v| v as u64),
            max_retry_time: max_retry_time.unwrap_or(d.max_retry_time),
            initial_retry_delay: initial_retry_delay.unwrap_or(d.initial_retry_delay),
            max_retry_delay: max_retry_delay.unwrap_or(d.max_retry_delay),
            concurrency_limit: concurrency_limit.map_or(d.concurrency_limit, |v| v as i64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::fields::normalize;
    use serde_json::json;

    fn parse(v: Value) -> Result<QueueConfig, Vec<FieldError>> {
        let map = normalize(FIELDS, &v)?;
        QueueConfig::from_map(&map, "queue")
    }

    #[test]
    fn defaults_and_kongs_range_messages() {
        assert_eq!(parse(json!({})).unwrap(), QueueConfig::default());
        let q = parse(json!({"max_batch_size": 50, "max_coalescing_delay": 0.5})).unwrap();
        assert_eq!((q.max_batch_size, q.max_coalescing_delay), (50, 0.5));
        let e = parse(json!({
            "max_batch_size": -1, "max_entries": 0, "initial_retry_delay": 0,
            "concurrency_limit": 2, "max_coalescing_delay": 1.5e4, "max_bytes": 1.5
        }))
        .unwrap_err();
        let got: Vec<(String, String)> = e.into_iter().map(|e| (e.path, e.message)).collect();
        let want = [
            (
                "queue.max_batch_size",
                "value should be between 1 and 1000000",
            ),
            (
                "queue.max_coalescing_delay",
                "value should be between 0 and 3600",
            ),
            ("queue.max_entries", "value should be between 1 and 1000000"),
            ("queue.max_bytes", "expected an integer"),
            (
                "queue.initial_retry_delay",
                "value should be between 0.001 and 1000000",
            ),
            ("queue.concurrency_limit", "expected one of: -1, 1"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(p, m)| (p.to_string(), m.to_string()))
            .collect();
        assert_eq!(got, want);
        assert!(parse(json!({"max_batch_size": "x"})).is_err());
    }
}

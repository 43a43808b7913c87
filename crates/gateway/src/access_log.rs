//! One access-log line per request (logger target `access`): key=value text with no header values and no query
//! strings, or Kong's log record as JSON (`access_log_format: json`, secrets redacted).

use std::time::Duration;

/// The fields of one access-log line.
pub struct AccessEntry<'a> {
    /// Client address.
    pub client: &'a str,
    /// Request method.
    pub method: &'a str,
    /// Request path without the query string (tokens may travel in the query).
    pub path: &'a str,
    /// Matched route (name or id), `-` when none.
    pub route: &'a str,
    /// Matched service, `-` when none.
    pub service: &'a str,
    /// Status sent to the client (0 when none was sent).
    pub status: u16,
    /// Outcome of authentication (`none`, `allow`, `deny`, ...).
    pub auth: &'a str,
    /// The request's correlation id (correlation-id's), `-` when none; written quoted (it may come from the client).
    pub request_id: &'a str,
    /// Total time spent on the request.
    pub elapsed: Duration,
}

/// Write the line, in key=value style.
pub fn write(e: &AccessEntry<'_>) {
    log::info!(
        target: "access",
        "client={} method={} path={:?} route={} service={} status={} auth={} request_id={:?} latency_ms={:.3}",
        e.client,
        e.method,
        e.path,
        e.route,
        e.service,
        e.status,
        e.auth,
        e.request_id,
        e.elapsed.as_secs_f64() * 1000.0
    );
}

/// Write Kong's log record (see [`crate::log_record`]) as one JSON line (`gateway.access_log_format: json`).
pub fn write_json(record: &serde_json::Value) {
    log::info!(target: "access", "{record}");
}

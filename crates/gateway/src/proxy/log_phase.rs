//! The log phase of a finished request: the plugins' `log` handlers over a [`LogView`], the gateway's own
//! metrics, and the access-log line (key=value text, or Kong's record as one JSON line).

use std::net::SocketAddr;
use std::time::Instant;

use pingora::proxy::Session;

use super::{Ctx, Gateway};
use crate::access_log::{self, AccessEntry};
use crate::log_record::{self, LogView};

/// What the log phase reports of the upstream side of a request.
#[derive(Default)]
pub struct UpstreamSide {
    /// The address of each attempt.
    pub tries: Vec<SocketAddr>,
    /// When the request was sent upstream (the last attempt).
    pub sent: Option<Instant>,
    /// When the upstream's response header arrived.
    pub answered_at: Option<Instant>,
    /// The upstream's status.
    pub status: Option<u16>,
    /// The target sent upstream when it differs from the client's.
    pub uri: Option<http::Uri>,
}

impl UpstreamSide {
    /// The upstream's response header arrived with `status`.
    pub fn answered(&mut self, status: u16) {
        self.answered_at = Some(Instant::now());
        self.status = Some(status);
    }
}

/// Runs the log phase of the request of `session`.
pub(super) fn log_phase(gw: &Gateway, session: &Session, ctx: &Ctx) {
    let status = session
        .response_written()
        .map(|r| r.status.as_u16())
        .unwrap_or(0);
    let elapsed = ctx.start.elapsed();
    (gw.state.metrics.kong.total).fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let route_index = ctx.matched.map(|m| m.route);
    let route = route_index.and_then(|i| ctx.snap.routes.get(i));
    let log_chain = route.map_or(&ctx.snap.global.log, |r| &r.chains.log);
    let settings = &ctx.snap.config.gateway;
    let json_log = settings.access_log && settings.access_log_format == "json";
    let consumer = ctx.ex.caller.consumer;
    let plugins = || {
        (log_chain.iter())
            .filter_map(move |step| step.resolve(consumer))
            .filter(|p| p.wants_log(&ctx.ex))
    };
    if json_log || plugins().next().is_some() {
        let view = view(gw, session, ctx, status, elapsed);
        for plugin in plugins() {
            plugin.log(&view, &ctx.ex);
        }
        if json_log {
            access_log::write_json(&log_record::serialize(&view, &ctx.ex));
        }
    }
    let service = match route.and_then(|r| ctx.snap.services.get(r.service?)) {
        Some(svc) => {
            let seconds = elapsed.as_secs_f64();
            svc.metrics
                .record(&gw.state.metrics, &svc.label, status, seconds);
            svc.label.as_str()
        }
        None => {
            gw.state.metrics.count_unmatched(status);
            "-"
        }
    };
    if !settings.access_log || json_log {
        return;
    }
    let route = route.map_or("-", |r| r.label.as_str());
    let client = match (ctx.client.ip, session.client_addr()) {
        (Some(ip), _) => ip.to_string(),
        (None, Some(addr)) => addr.to_string(),
        (None, None) => "-".to_string(),
    };
    access_log::write(&AccessEntry {
        client: &client,
        method: session.req_header().method.as_str(),
        path: session.req_header().uri.path(),
        route,
        service,
        status,
        auth: ctx.ex.auth,
        request_id: (ctx.ex.correlation_id.as_ref())
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-"),
        elapsed,
    });
}

/// The [`LogView`] of the request of `session`.
/// The length of `uri` as written on the request line, without writing it (an origin-form target is its
/// path and query as received).
fn uri_len(uri: &http::Uri) -> usize {
    if uri.scheme().is_none() && uri.authority().is_none() {
        return uri.path_and_query().map_or(1, |pq| pq.as_str().len());
    }
    struct Count(usize);
    impl std::fmt::Write for Count {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0 += s.len();
            Ok(())
        }
    }
    let mut n = Count(0);
    let _ = std::fmt::write(&mut n, format_args!("{uri}"));
    n.0
}

/// nginx's `$request_length` without the body: the request line and header section as the client sent them
/// (HTTP/1; Pingora keeps their bytes), else as written back from the parsed request.
fn head_bytes_read(session: &Session) -> u64 {
    let downstream = session.as_downstream();
    if let Some(h1) = downstream.as_http1() {
        return h1.get_headers_raw_bytes().len() as u64;
    }
    let req = downstream.req_header();
    let request_line = (req.method.as_str().len() + uri_len(&req.uri) + 12) as u64;
    request_line + log_record::header_bytes(&req.headers)
}

/// The header part of nginx's `$bytes_sent`: the response headers serialized for the client (HTTP/1, status
/// lines included, a `100 Continue` too), else estimated from the response written.
fn head_bytes_sent(session: &Session) -> u64 {
    let downstream = session.as_downstream();
    if let Some(n) = downstream.header_bytes_sent() {
        return n as u64;
    }
    (downstream.response_written()).map_or(0, |r| log_record::header_bytes(&r.headers) + 17)
}

fn view<'a>(
    gw: &'a Gateway,
    session: &'a Session,
    ctx: &'a Ctx,
    status: u16,
    elapsed: std::time::Duration,
) -> LogView<'a> {
    let req = session.req_header();
    let up = &ctx.upstream;
    let proxied = up.sent.is_some();
    let kong_latency = match up.sent {
        Some(sent) => sent.saturating_duration_since(ctx.start),
        None => elapsed,
    };
    let proxy_latency = match (up.sent, up.answered_at) {
        (Some(s), Some(a)) => Some(a.saturating_duration_since(s)),
        _ => None,
    };
    let response = session.response_written();
    let request_size = head_bytes_read(session) + session.body_bytes_read() as u64;
    let response_size = head_bytes_sent(session) + session.body_bytes_sent() as u64;
    let route = ctx.matched.map(|m| m.route);
    LogView {
        method: &req.method,
        uri: &req.uri,
        headers: &req.headers,
        response_headers: response.map(|r| &r.headers),
        status,
        elapsed,
        started_at: log_record::StartedAt::Since(ctx.start),
        kong_latency,
        proxy_latency,
        upstream_status: up.status,
        tries: &up.tries,
        client_ip: ctx.client.ip,
        https: session.digest().is_some_and(|d| d.ssl_digest.is_some()),
        server_port: session
            .server_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.port()),
        request_size,
        response_size,
        upstream_uri: up.uri.as_ref(),
        proxied,
        snap: &ctx.snap,
        route,
        service: route
            .and_then(|i| ctx.snap.routes.get(i))
            .and_then(|r| r.service),
        metrics: &gw.state.metrics,
    }
}

#[cfg(test)]
mod tests {
    use super::uri_len;

    #[test]
    fn uri_len_is_the_written_length() {
        for u in [
            "/",
            "/a/b?x=1&y=%20",
            "http://example.com:8080/p?q",
            "*",
            "https://h/",
        ] {
            let uri: http::Uri = u.parse().unwrap();
            assert_eq!(uri_len(&uri), uri.to_string().len(), "{u}");
        }
    }
}

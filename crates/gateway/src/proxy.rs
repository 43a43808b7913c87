//! The Pingora `ProxyHttp` implementation: hooks in the order they run, each calling named helpers.

use crate::balancer::Outcome;
use crate::dns::{Addresses, DnsError, Resolver};
use crate::plugins::{request_size_limiting, Exchange, Reply};
use crate::responses;
use crate::snapshot::{Snapshot, UpstreamService};
use crate::state::AppState;
use access::Phase;
use async_trait::async_trait;
use balanced::{finish_attempt, retries, Balanced};
use bytes::Bytes;
use failure::{error_response, failure_outcome, upstream_host};
use forward::set_forwarded_headers;
use gateway_config::router::{self, RequestView, RouteMatch};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorType};
use std::sync::Arc;
use std::time::Instant;

mod access;
mod balanced;
mod buffer;
mod client;
mod failure;
mod forward;
mod log_phase;

/// The gateway's proxy logic.
pub struct Gateway {
    /// Shared state (snapshot, registry).
    pub state: Arc<AppState>,
    /// Request header and target limits (fixed at start).
    pub limits: crate::limits::Limits,
    /// Client deadlines (fixed at start).
    pub client: crate::client_conn::ConnLimits,
    /// Request and response buffering (fixed at start).
    pub buffers: Arc<crate::buffering::BufferLimits>,
}

/// Per-request context.
pub struct Ctx {
    /// The snapshot this request was started with; kept to the end, even across a reload.
    snap: Arc<Snapshot>,
    /// The matched route.
    matched: Option<RouteMatch>,
    /// What the plugins decided and share across phases (caller, upstream changes, response headers,
    /// the auth outcome for the access log).
    ex: Exchange,
    /// Connection attempts made so far.
    tries: u32,
    /// The upstream's addresses, resolved on the first try; each retry takes the next one.
    addrs: Option<Addresses>,
    /// Why the upstream's name did not resolve (answered by `fail_to_proxy`).
    dns_error: Option<DnsError>,
    /// When the request started.
    start: Instant,
    /// The balancer's side of the request, when the service's host names an upstream.
    balanced: Option<Box<Balanced>>,
    /// The client's address (the real one, after `trusted_ips`), found once when the request starts.
    client: client::ClientAddr,
    /// What the log phase reports of the upstream side (attempts, timings, the target sent).
    upstream: log_phase::UpstreamSide,
    /// When the router ran (timed only when the snapshot traces: `Snapshot::tracing`).
    routed: Option<(Instant, Instant)>,
    /// The request body, read whole before proxying (the route's `request_buffering`).
    body: Option<Box<crate::buffering::request::BodySpool>>,
    /// Bytes of a streamed body so far (`client_max_body_size`).
    streamed: u64,
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = Box<Ctx>;

    fn new_ctx(&self) -> Box<Ctx> {
        Box::new(Ctx {
            snap: self.state.snapshot.load_full(),
            matched: None,
            ex: Exchange::new(),
            tries: 0,
            addrs: None,
            dns_error: None,
            start: Instant::now(),
            balanced: None,
            client: client::ClientAddr::default(),
            upstream: log_phase::UpstreamSide::default(),
            routed: None,
            body: None,
            streamed: 0,
        })
    }

    /// The head is read: the client's body and send deadlines start.
    async fn early_request_filter(&self, session: &mut Session, _ctx: &mut Box<Ctx>) -> Result<()> {
        crate::client_conn::request_started(session, &self.client);
        Ok(())
    }

    /// Route the request, then run the route's authentication. Ok(true): a response was sent.
    async fn request_filter(&self, session: &mut Session, ctx: &mut Box<Ctx>) -> Result<bool> {
        ctx.client = client::ClientAddr::of(session, &ctx.snap.real_ip);
        if crate::lifecycle::draining() {
            // Shutting down or upgrading: answer this request, then let the client reconnect elsewhere.
            session.set_keepalive(None);
        }
        if let Some(exceeded) = self.limits.check(session.req_header()) {
            let (status, body) = exceeded.response();
            // The connection's next bytes cannot be trusted to start a request: close it after the answer.
            session.set_keepalive(None);
            responses::send_json(session, status, body).await?;
            return Ok(true);
        }
        let metrics = &self.state.metrics;
        if access::run_phase(session, ctx, metrics, Phase::Rewrite).await? {
            return Ok(true);
        }
        let https = session.digest().is_some_and(|d| d.ssl_digest.is_some());
        let net = Net {
            src: (ctx.client.ip)
                .zip(session.client_addr().and_then(|a| a.as_inet()))
                .map(|(ip, peer)| std::net::SocketAddr::new(ip, peer.port())),
            dst: session.server_addr().and_then(|a| a.as_inet()).copied(),
        };
        let route_start = ctx.snap.tracing.then(Instant::now);
        let found = find_route(&ctx.snap, session.req_header(), https, net);
        ctx.routed = route_start.map(|s| (s, Instant::now()));
        let Some(matched) = found else {
            metrics.no_route.inc();
            let reply = Reply::Body {
                status: 404,
                headers: Vec::new(),
                body: Bytes::from_static(responses::NO_ROUTE.as_bytes()),
            };
            access::respond(session, ctx, reply).await?;
            return Ok(true);
        };
        ctx.matched = Some(matched);
        buffer::set_response_buffering(session, ctx);
        if buffer::check_declared_size(self, session, ctx).await? {
            return Ok(true);
        }
        if let Some(status) = matched.https_redirect {
            responses::https_required(session, status).await?;
            return Ok(true);
        }
        // A plugin that reads the body reads the buffered one: the body is buffered first.
        let needs_body = ctx
            .snap
            .routes
            .get(matched.route)
            .is_some_and(|r| r.chains.needs_body);
        if needs_body && buffer::buffer_request(self, session, ctx).await? {
            return Ok(true);
        }
        if access::run_phase(session, ctx, metrics, Phase::Access).await? {
            return Ok(true);
        }
        if matched.service.is_none() {
            // Kong: a route without a service runs its plugins, then answers 503.
            let reply = Reply::Body {
                status: 503,
                headers: Vec::new(),
                body: Bytes::from_static(responses::NO_SERVICE.as_bytes()),
            };
            access::respond(session, ctx, reply).await?;
            return Ok(true);
        }
        buffer::buffer_request(self, session, ctx).await
    }

    /// The matched service's upstream: a balanced target, or its host resolved now (cached, asynchronous),
    /// one address per try.
    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut Box<Ctx>,
    ) -> Result<Box<HttpPeer>> {
        ctx.tries += 1;
        let Some(m) = ctx.matched.as_ref() else {
            return Error::e_explain(
                ErrorType::InternalError,
                "no route matched before upstream_peer",
            );
        };
        let snap = ctx.snap.clone();
        let Some(svc) = m.service.and_then(|s| snap.services.get(s)) else {
            return Error::e_explain(ErrorType::InternalError, "a route without a service");
        };
        let mut peer = match svc.balancer.clone() {
            Some(b) => {
                let (addr, sni) = self.pick(session, ctx, b, svc.tls).await?;
                ctx.upstream.tries.push(addr);
                if let Some(t) = ctx.ex.trace.as_mut() {
                    t.attempt(ctx.tries, addr);
                }
                HttpPeer::new(addr, svc.tls, sni)
            }
            None => {
                let addrs = match ctx.addrs.take() {
                    Some(addrs) => addrs,
                    None => match service_addrs(&self.state.dns, svc).await {
                        Ok(addrs) => addrs,
                        Err(e) => {
                            let why = format!("resolving upstream host {:?}: {e}", svc.host);
                            ctx.dns_error = Some(e);
                            return Error::e_explain(ErrorType::Custom(DNS_FAILED), why);
                        }
                    },
                };
                let addr = addrs.pick(ctx.tries.saturating_sub(1) as usize);
                ctx.addrs = Some(addrs);
                ctx.upstream.tries.push(addr);
                if let Some(t) = ctx.ex.trace.as_mut() {
                    t.attempt(ctx.tries, addr);
                }
                HttpPeer::new(addr, svc.tls, svc.host.clone())
            }
        };
        if svc.h2 {
            peer.options.set_http_version(2, 2);
        }
        peer.options.connection_timeout = Some(svc.connect_timeout);
        peer.options.read_timeout = Some(svc.read_timeout);
        peer.options.write_timeout = Some(svc.write_timeout);
        if let Some(tls) = &svc.peer_tls {
            tls.apply(&mut peer);
        }
        Ok(Box::new(peer))
    }

    /// Retry failed connections up to the service's `retries` (a balanced service retries on another target).
    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Box<Ctx>,
        mut e: Box<Error>,
    ) -> Box<Error> {
        finish_attempt(ctx, failure_outcome(&e));
        if let Some(t) = ctx.ex.trace.as_mut() {
            t.end_attempt(None, Some(e.to_string()));
        }
        let retries = ctx
            .matched
            .as_ref()
            .and_then(|m| ctx.snap.services.get(m.service?))
            .map_or(0, |s| s.retries);
        if ctx.tries <= retries {
            e.set_retry(true);
        }
        e
    }

    /// A balanced attempt broke after connecting: count it, and retry an idempotent request on another
    /// target while nothing has been sent to the client; otherwise Pingora's policy (reused connections).
    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Box<Ctx>,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        let idempotent = session.req_header().method.is_idempotent()
            && !session.as_ref().retry_buffer_truncated();
        if !idempotent {
            e.set_retry(false);
        } else {
            e.retry.decide_reuse(client_reused);
        }
        if ctx.balanced.as_ref().is_some_and(|b| b.current.is_some()) {
            finish_attempt(ctx, failure_outcome(&e));
            if idempotent && session.response_written().is_none() && ctx.tries <= retries(ctx) {
                e.set_retry(true);
            }
        }
        e
    }

    /// Remember the upstream's status for the passive health checks.
    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut Box<Ctx>,
    ) -> Result<()> {
        if let Some(b) = ctx.balanced.as_mut() {
            b.status = Some(upstream_response.status.as_u16());
        }
        ctx.upstream.answered(upstream_response.status.as_u16());
        if let Some(t) = ctx.ex.trace.as_mut() {
            t.attempt_status(upstream_response.status.as_u16());
        }
        Ok(())
    }

    /// `hash_on: cookie` without the cookie: set the value that was hashed, as Kong does; then the plugins'
    /// response header phase.
    async fn response_filter(
        &self,
        _session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut Box<Ctx>,
    ) -> Result<()> {
        if let Some(cookie) = ctx
            .balanced
            .as_ref()
            .and_then(|b| b.hash.set_cookie.as_ref())
        {
            response.append_header(http::header::SET_COOKIE, cookie.as_str())?;
        }
        // An HTTP/2 upstream's answer is a clone (pingora-proxy's `proxy_h2`), an HTTP/1 one the parsed
        // header with room (vendor/pingora-core/PATCH.md); `proxy_h2` sets the version only afterwards.
        let cloned = response.version == http::Version::HTTP_2;
        access::response_phase(ctx, response, cloned);
        Ok(())
    }

    /// The plugins' response body phase, chunk by chunk.
    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Box<Ctx>,
    ) -> Result<Option<std::time::Duration>> {
        let snap = &ctx.snap;
        let ex = &mut ctx.ex;
        if let Some(route) = ctx.matched.and_then(|m| snap.routes.get(m.route)) {
            for step in route.chains.body.iter() {
                if let Some(plugin) = step.resolve(ex.caller.consumer) {
                    plugin.body_filter(body, end_of_stream, ex);
                }
            }
        }
        Ok(None)
    }

    /// The request body as it streams upstream: counted against [`Exchange::body_limit`] when a plugin set
    /// one (request-size-limiting, for a body without `Content-Length`); over it, the request ends with the
    /// plugin's answer (`fail_to_proxy`, through [`error_response`]).
    async fn request_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Box<Ctx>,
    ) -> Result<()> {
        forward::replace_body(body, end_of_stream, &ctx.ex.edits);
        crate::client_conn::body_read(session, end_of_stream);
        buffer::count_streamed(self, ctx, body.as_ref())?;
        access::count_body(session, body.as_ref(), end_of_stream, ctx).await
    }

    /// A body read whole before proxying (`request_buffering`) is sent from its spool.
    fn replays_request_body(&self, _session: &Session, ctx: &Box<Ctx>) -> bool {
        ctx.body.is_some()
    }

    /// The next piece of the buffered body, for Pingora's replay.
    async fn buffered_request_body(&self, ctx: &mut Box<Ctx>) -> Result<Option<Bytes>> {
        buffer::replay(ctx)
    }

    /// The rest of an answer whose client went away is read and thrown away when small and soon there,
    /// so the upstream connection goes back to the pool ([`buffer::DRAIN_AFTER_CANCEL`]).
    fn upstream_drain_after_downstream_error(
        &self,
        _session: &Session,
        _ctx: &Box<Ctx>,
    ) -> Option<pingora::proxy::UpstreamDrainLimits> {
        Some(buffer::DRAIN_AFTER_CANCEL)
    }

    /// Counted in `gateway_upstream_reused_after_cancel_total`.
    fn upstream_reused_after_downstream_error(&self, _session: &Session, _ctx: &mut Box<Ctx>) {
        self.state.metrics.reused_after_cancel.inc();
    }

    /// Rewrite the path (strip_path, service path), Host, X-Forwarded-*, and apply the auth headers.
    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        req: &mut RequestHeader,
        ctx: &mut Box<Ctx>,
    ) -> Result<()> {
        if let Some(body) = ctx.body.as_mut() {
            body.rewind();
            req.remove_header(&http::header::TRANSFER_ENCODING);
            req.insert_header(http::header::CONTENT_LENGTH, body.len())?;
        }
        let Some(m) = ctx.matched.as_ref() else {
            return Ok(());
        };
        let Some(svc) = m.service.and_then(|s| ctx.snap.services.get(s)) else {
            return Ok(());
        };
        // Room for what this filter adds (X-Forwarded-* and X-Real-IP, identity headers, plugins' edits,
        // trace context), so that the maps grow at most once. The request is the parsed one (the vendored
        // pingora-proxy hands it over and keeps a copy), whose maps already have room for a few headers.
        let adding = 7
            + ctx.ex.edits.headers.len()
            + ctx.ex.edits.header_values.len()
            + ctx.ex.upstream.as_ref().map_or(0, |u| u.set_headers.len())
            + if ctx.ex.caller.consumer.is_some() {
                4
            } else {
                0
            }
            + if ctx.ex.trace.is_some() { 4 } else { 0 };
        req.reserve_headers(adding)?;
        let path = match &ctx.ex.edits.path {
            Some(p) => p.clone(),
            None => router::upstream_path(svc.path.as_deref(), session.req_header().uri.path(), m),
        };
        let remove_args =
            (ctx.ex.upstream.as_ref()).map_or(&[][..], |u| u.remove_query_args.as_slice());
        if let Some(uri) =
            forward::upstream_uri(&session.req_header().uri, path, remove_args, &ctx.ex.edits)?
        {
            req.set_uri(uri.clone());
            ctx.upstream.uri = Some(uri);
        }
        ctx.upstream.sent = Some(Instant::now());
        if !m.preserve_host {
            let host = match ctx.balanced.as_ref() {
                Some(b) => b.host_header.as_str(),
                None => svc.host_header.as_str(),
            };
            req.insert_header(http::header::HOST, host)?;
        }
        set_forwarded_headers(session, req, &ctx.client)?;
        if let Some(up) = ctx.ex.upstream.as_ref() {
            for name in &up.remove_headers {
                req.remove_header(name);
            }
            // The request's own header, e.g. the `Authorization: Bearer <token>` it came with, stays as is
            // in an HTTP/1 request (an HTTP/2 one takes the value marked sensitive, for HPACK).
            let same =
                (up.same_as_request.as_ref()).filter(|_| req.version != http::Version::HTTP_2);
            for (name, value) in &up.set_headers {
                if same != Some(name) {
                    req.insert_header(name.clone(), value.clone())?;
                }
            }
        }
        // Identity headers come from the gateway only: a client's copies never go through.
        let plugin_set = ctx
            .ex
            .upstream
            .as_ref()
            .map_or(&[][..], |u| &u.set_headers[..]);
        forward::strip_identity(req, session.req_header(), plugin_set);
        for (name, value) in ctx.ex.caller.headers(&ctx.snap.consumer_headers) {
            req.insert_header(name.clone(), value.clone())?;
        }
        for (name, value) in &ctx.ex.edits.headers {
            match value {
                Some(v) => req.insert_header(name.clone(), v.clone())?,
                None => {
                    req.remove_header(name);
                }
            }
        }
        if let Some(t) = ctx.ex.trace.as_ref() {
            for (name, value) in t.outgoing() {
                req.insert_header(name, value)?;
            }
        }
        forward::apply_transforms(req, &ctx.ex.edits)
    }

    /// Kong-style JSON for upstream failures: 502 refused/broken, 504 timeouts.
    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut Box<Ctx>,
    ) -> FailToProxy {
        let (code, body) = match ctx.dns_error.take() {
            Some(dns) => responses::dns_failure(upstream_host(ctx), &dns),
            None => {
                let (code, body) = crate::client_conn::client_timeout_response(session, e)
                    .unwrap_or_else(|| error_response(e));
                (code, Bytes::from_static(body.as_bytes()))
            }
        };
        // The connection is not reused (below): say so with `Connection: close`, as Pingora's own
        // error responses do, or a keep-alive client may send its next request into a closed socket.
        session.set_keepalive(None);
        if code > 0 {
            let reply = Reply::Body {
                status: code,
                headers: Vec::new(),
                body,
            };
            if let Err(err) = access::respond(session, ctx, reply).await {
                log::debug!("could not send error response: {err}");
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    /// The plugins' log phase, the metrics and the access-log line.
    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Box<Ctx>) {
        crate::client_conn::request_ended(session, e, &self.state.metrics);
        let outcome = ctx
            .balanced
            .as_ref()
            .and_then(|b| b.status)
            .map_or(Outcome::Unknown, Outcome::Status);
        finish_attempt(ctx, outcome);
        if let Some(t) = ctx.ex.trace.as_mut() {
            t.end_attempt(None, e.map(|e| e.to_string()));
        }
        log_phase::log_phase(self, session, ctx);
    }

    /// A body cut by request-size-limiting is the client's doing, answered 413: no "Fail to proxy" line.
    fn suppress_error_log(&self, _session: &Session, _ctx: &Box<Ctx>, error: &Error) -> bool {
        let t = error.etype();
        *t == request_size_limiting::STREAMED_413 || *t == request_size_limiting::STREAMED_417
    }

    /// How Pingora's own warn/error lines ("Fail to proxy: ...") name the request: method, path and
    /// Host, never the query string, which may carry `access_token` (Pingora's default prints it).
    fn request_summary(&self, session: &Session, _ctx: &Box<Ctx>) -> String {
        let req = session.req_header();
        let host = req
            .headers
            .get(http::header::HOST)
            .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
            .unwrap_or_default();
        format!("{} {}, Host: {host}", req.method, req.uri.path())
    }
}

/// Error type of a request whose upstream host did not resolve.
const DNS_FAILED: &str = "DNSResolutionFailed";

/// The service's addresses: its IP literal, else its host name through the process's resolver.
async fn service_addrs(dns: &Resolver, svc: &UpstreamService) -> Result<Addresses, DnsError> {
    match &svc.literal {
        Some(addrs) => Ok(addrs.clone()),
        None => dns.resolve(&svc.host, svc.port).await,
    }
}

/// The connection's addresses, as expression routes read them (`net.src.*`, `net.dst.*`).
#[derive(Debug, Clone, Copy, Default)]
struct Net {
    /// The client: its real IP (after `real_ip_header`) and the connection's port.
    src: Option<std::net::SocketAddr>,
    /// The local address the request came in on.
    dst: Option<std::net::SocketAddr>,
}

/// Match host (Host header, else the URI authority), path, method and headers against the router; `https`:
/// the request came over TLS.
fn find_route(snap: &Snapshot, req: &RequestHeader, https: bool, net: Net) -> Option<RouteMatch> {
    let host = req
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri.host());
    snap.router.find(&RequestView {
        method: req.method.as_str(),
        host,
        path: req.uri.path(),
        headers: &req.headers,
        https,
        query: req.uri.query(),
        src: net.src,
        dst: net.dst,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_route_reads_headers_and_the_route_vector() {
        let yaml = r#"
_format_version: "3.0"
services:
- name: plain
  url: http://127.0.0.1:9/a
  routes: [{paths: [/api], id: 00000000-0000-0000-0000-000000000001}]
- name: v2
  url: http://127.0.0.1:9/b
  routes: [{name: v2-route, paths: [/api], headers: {x-version: [v2]}}]
"#;
        let config = gateway_config::load::parse_str(yaml).unwrap();
        let snap = crate::snapshot::compile(
            config,
            yaml,
            &gateway_auth::AuthRegistry::new(&prometheus::Registry::new()),
        )
        .unwrap();
        let mut req = RequestHeader::build("GET", b"/api/x", None).unwrap();
        let m = find_route(&snap, &req, false, Net::default()).unwrap();
        let route = &snap.routes[m.route];
        assert_eq!((m.service, route.service), (Some(0), Some(0)));
        assert_eq!(route.label, "00000000-0000-0000-0000-000000000001");
        req.insert_header("X-Version", "V2").unwrap();
        let m = find_route(&snap, &req, false, Net::default()).unwrap();
        let route = &snap.routes[m.route];
        assert_eq!((m.service, route.service), (Some(1), Some(1)));
        assert_eq!(route.label, "v2-route");
        assert!(route.chains.is_empty());
    }

    #[test]
    fn timeouts_map_to_504_and_refusals_to_502() {
        let t = Error::new(ErrorType::ConnectTimedout);
        assert_eq!(error_response(&t).0, 504);
        let r = Error::new_up(ErrorType::ConnectRefused);
        assert_eq!(error_response(&r), (502, responses::BAD_GATEWAY));
    }
}

//! The proxy's side of the plugin pipeline: Pingora's session adapted to the plugins' views. The rewrite
//! phase (global plugins) and the access phase (the route's chain, in Kong's priority order) run here; a
//! plugin's [`Reply`] and the gateway's own answers are written through [`respond`], which runs the
//! response header phase first, as Kong runs `header_filter` on every answer; [`count_body`] counts a streamed
//! request body against request-size-limiting's bound. `Ok(true)`: a response was
//! sent and the request ends here.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::Session;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use gateway_auth::token_memo::TokenMemo;

use super::Ctx;
use crate::plugins::{request_size_limiting, Access, Flow, Reply, Request, Step};

/// A plugin's pending access handler.
type PendingAccess<'a> = Pin<Box<dyn Future<Output = Flow> + Send + 'a>>;
use crate::responses;
use crate::snapshot::Snapshot;

/// Largest request body read to look a token up in (`bearer_token_param_type: body`). It must fit
/// Pingora's retry buffer, which is what is forwarded upstream after the body has been read here.
pub const MAX_AUTH_BODY: usize = 64 * 1024;

/// Which phase [`run_phase`] runs.
#[derive(Clone, Copy)]
pub(super) enum Phase {
    /// The global plugins, before routing.
    Rewrite,
    /// The route's chain.
    Access,
}

/// Runs the rewrite phase (global chain) or the access phase (the matched route's chain).
pub(super) async fn run_phase(
    session: &mut Session,
    ctx: &mut Ctx,
    metrics: &crate::metrics::Metrics,
    phase: Phase,
) -> Result<bool> {
    if matches!(phase, Phase::Rewrite) && ctx.snap.global.rewrite.is_empty() {
        // No global plugin (the usual case): not even the snapshot's reference count is touched.
        return Ok(false);
    }
    // Borrowed, not cloned: the context holds the snapshot to the end of the request (no reference count).
    let snap: &Snapshot = &ctx.snap;
    let steps: &[Step] = match phase {
        Phase::Rewrite => &snap.global.rewrite,
        Phase::Access => match ctx.matched.and_then(|m| snap.routes.get(m.route)) {
            Some(route) => &route.chains.access,
            None => return Ok(false),
        },
    };
    if steps.is_empty() {
        return Ok(false);
    }
    let chains = (ctx.matched)
        .and_then(|m| snap.routes.get(m.route))
        .map(|r| &r.chains)
        .filter(|_| matches!(phase, Phase::Access));
    let raw = chains.is_some_and(|c| c.needs_raw_body);
    let body = if chains.is_some_and(|c| c.needs_body) {
        match read_body(session, ctx.body.as_deref(), raw).await? {
            BodyRead::Read(body) => body,
            BodyRead::TooLarge => {
                ctx.ex.auth = "deny";
                let reply = Reply::Body {
                    status: 413,
                    headers: Vec::new(),
                    body: Bytes::from_static(responses::TOO_LARGE.as_bytes()),
                };
                respond(session, ctx, reply).await?;
                return Ok(true);
            }
        }
    } else {
        None
    };
    // The plugins' form or JSON body; the raw one only for those that asked for it.
    let form_body = body.as_ref().filter(|_| form_or_json(session.req_header()));
    let raw_body = body.as_ref().filter(|_| raw);
    let reply = {
        let req = session.req_header();
        let view = Request {
            method: &req.method,
            uri: &req.uri,
            version: req.version,
            headers: &req.headers,
            client_ip: ctx.client.ip,
            https: session.digest().is_some_and(|d| d.ssl_digest.is_some()),
            server_addr: session.server_addr().and_then(|a| a.as_inet()).copied(),
            client_cert_sha256: (session.digest())
                .and_then(|d| d.ssl_digest.as_deref())
                .map(|s| s.cert_digest.as_slice())
                .filter(|c| !c.is_empty()),
            body: form_body.map(|b| &b[..]),
            raw_body: raw_body.map(|b| &b[..]),
            snap,
            matched: ctx.matched,
            metrics,
        };
        let mut reply = None;
        if matches!(phase, Phase::Access) && snap.tracing && ctx.ex.trace.is_none() {
            let tracer = steps.iter().find_map(|s| s.resolve(None)?.tracer());
            if let Some(t) = tracer {
                let trace = t.start(&req.headers, ctx.start, ctx.routed);
                ctx.ex.trace = Some(Box::new(trace));
            }
        }
        // A sampled trace is taken out while the plugins run (each step is a span); an unsampled one stays.
        let mut trace = match ctx.ex.trace.take() {
            Some(t) if t.sampled => Some(t),
            other => {
                ctx.ex.trace = other;
                None
            }
        };
        // The connection's last token hash, for the handlers that wait (openid-connect).
        let memo = crate::client_conn::state(session).map(|s| &s.token_memo);
        for step in steps {
            let Some(plugin) = step.resolve(ctx.ex.caller.consumer) else {
                continue;
            };
            let flow = match (phase, trace.as_mut()) {
                (Phase::Rewrite, _) => plugin.rewrite(&view, &mut ctx.ex),
                (Phase::Access, None) => match plugin.access(&view, &mut ctx.ex) {
                    Access::Done(flow) => flow,
                    Access::Pending(fut) => in_memo(memo, fut).await,
                },
                (Phase::Access, Some(t)) => {
                    traced(t, plugin.as_ref(), &view, &mut ctx.ex, memo).await
                }
            };
            if let Flow::Respond(r) = flow {
                reply = Some(r);
                break;
            }
        }
        if let Some(t) = trace {
            ctx.ex.trace = Some(t);
        }
        reply
    };
    match reply {
        Some(reply) => {
            respond(session, ctx, reply).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// One plugin's access handler as a `kong.access.plugin.<name>` span of `trace`, its IdP calls as children.
async fn traced(
    trace: &mut crate::plugins::opentelemetry::trace::Trace,
    plugin: &dyn crate::plugins::Plugin,
    view: &Request<'_>,
    ex: &mut crate::plugins::Exchange,
    memo: Option<&Arc<TokenMemo>>,
) -> Flow {
    use crate::plugins::opentelemetry::trace::new_span_id;
    let id = new_span_id();
    let start = std::time::Instant::now();
    let flow = match plugin.access(view, ex) {
        Access::Done(flow) => flow,
        Access::Pending(fut) => {
            let scope = gateway_auth::trace::TraceScope::new(trace.trace_id, id, new_span_id);
            let flow = gateway_auth::trace::scope(scope.clone(), in_memo(memo, fut)).await;
            trace.idp_calls(id, scope.take());
            flow
        }
    };
    let name = format!("kong.access.plugin.{}", plugin.name());
    trace.internal(id, name.into(), start);
    flow
}

/// A waiting access handler, run in its connection's token memo scope (`gateway_auth::token_memo`): a
/// bearer token the connection sent before is not hashed again.
async fn in_memo(memo: Option<&Arc<TokenMemo>>, fut: PendingAccess<'_>) -> Flow {
    match memo {
        Some(memo) => gateway_auth::token_memo::scope(memo.clone(), fut).await,
        None => fut.await,
    }
}

/// Writes a response of the gateway's own (a plugin's reply, a 404, a proxy failure): a gRPC call gets a
/// trailers-only gRPC answer; anything else the JSON response, after the response header phase.
pub(super) async fn respond(session: &mut Session, ctx: &mut Ctx, reply: Reply) -> Result<()> {
    if responses::is_grpc(session.req_header()) {
        let body = match &reply {
            Reply::Body { body, .. } => body,
            Reply::Denial(_, d) => &d.body,
        };
        return responses::send_grpc(session, reply.status(), body).await;
    }
    let (mut header, body) = match reply {
        Reply::Body {
            status,
            headers,
            body,
        } => (
            responses::response_header(status, &headers, body.len())?,
            body,
        ),
        Reply::Denial(auth, denial) => {
            let as_is = session.as_ref().as_http1().is_some() && adds_nothing(ctx);
            (
                responses::denial_header(&auth, &denial, as_is)?,
                denial.body,
            )
        }
    };
    response_phase(ctx, &mut header, false);
    let body = body_phase(ctx, &mut header, body);
    responses::write(session, header, body).await
}

/// Whether the response phases ([`response_phase`], [`body_phase`]) leave an answer's headers as they are: no
/// header or body filter on the route (the global chain when no route matched), no header asked for.
fn adds_nothing(ctx: &Ctx) -> bool {
    let chains = match ctx.matched.and_then(|m| ctx.snap.routes.get(m.route)) {
        Some(route) => &route.chains,
        None => &ctx.snap.global,
    };
    chains.header.is_empty() && chains.body.is_empty() && ctx.ex.response_headers.is_empty()
}

/// The response body phase over an answer of the gateway's own, written whole (response-transformer's JSON
/// edits): the body goes through the route's body chain (if a route matched) as one last chunk, and gets its
/// `Content-Length` back when a header filter removed it.
fn body_phase(ctx: &mut Ctx, header: &mut ResponseHeader, body: Bytes) -> Bytes {
    let snap = &ctx.snap;
    let ex = &mut ctx.ex;
    let chain = ctx
        .matched
        .and_then(|m| snap.routes.get(m.route))
        .map_or(&[][..], |r| &r.chains.body[..]);
    let mut chunk = Some(body);
    for step in chain {
        if let Some(plugin) = step.resolve(ex.caller.consumer) {
            plugin.body_filter(&mut chunk, true, ex);
        }
    }
    let body = chunk.unwrap_or_default();
    if header.headers.get(http::header::CONTENT_LENGTH).is_none() {
        header.remove_header(&http::header::TRANSFER_ENCODING);
        // A typed value: inserting cannot fail.
        let _ = header.insert_header(http::header::CONTENT_LENGTH, body.len());
    }
    body
}

/// The response header phase over `resp`: the header filters of the route's chain (the global chain when no
/// route matched), then the headers the access phase asked for ([`crate::plugins::Exchange::response_headers`]).
///
/// `cloned`: `resp` is a copy Pingora made, whose entries have no spare room (an HTTP/2 upstream's answer:
/// pingora-proxy's `proxy_h2` clones it; see [`super::forward::room_after_clone`]). An HTTP/1 upstream's
/// answer is the header as parsed, with room (the vendored pingora-core, `vendor/pingora-core/PATCH.md`), as
/// is an answer the gateway built.
pub(super) fn response_phase(ctx: &mut Ctx, resp: &mut ResponseHeader, cloned: bool) {
    let snap = &ctx.snap;
    let ex = &mut ctx.ex;
    let chains = match ctx.matched.and_then(|m| snap.routes.get(m.route)) {
        Some(route) => &route.chains,
        None => &snap.global,
    };
    // Room for what the plugins add (a few headers each), so that the maps grow once.
    let adding = chains.header.len() * 3 + ex.response_headers.len();
    if adding > 0 {
        let room = match cloned {
            true => super::forward::room_after_clone(&resp.headers, adding),
            false => adding,
        };
        let _ = resp.reserve_headers(room);
    }
    for step in chains.header.iter() {
        if let Some(plugin) = step.resolve(ex.caller.consumer) {
            plugin.header_filter(resp, ex);
        }
    }
    for (name, value) in ex.response_headers.drain(..) {
        // Typed names and values: inserting cannot fail.
        let _ = resp.insert_header(name, value);
    }
}

/// Counts a chunk of the request body against [`crate::plugins::Exchange::body_limit`] (request-size-limiting,
/// for a body without `Content-Length`). Over the bound, what the client is still sending is read and dropped,
/// up to [`request_size_limiting::DRAIN_BOUND`], so the answer is not lost to the reset of a connection closed
/// with unread bytes (nginx's lingering close); then the error `fail_to_proxy` answers 413 (417).
pub(super) async fn count_body(
    session: &mut Session,
    chunk: Option<&Bytes>,
    end_of_stream: bool,
    ctx: &mut Ctx,
) -> Result<()> {
    let (Some(limit), Some(chunk)) = (ctx.ex.body_limit.as_mut(), chunk) else {
        return Ok(());
    };
    let Err(etype) = limit.count(chunk.len()) else {
        return Ok(());
    };
    let mut drained = 0;
    while !end_of_stream && drained < request_size_limiting::DRAIN_BOUND {
        match session.read_request_body().await {
            Ok(Some(more)) => drained += more.len(),
            _ => break,
        }
    }
    Error::e_explain(etype, "request body over request-size-limiting's bound")
}

enum BodyRead {
    Read(Option<Bytes>),
    TooLarge,
}

/// True when the request's body is one the plugins read as form or JSON arguments (a form or JSON content
/// type, and a method other than `GET` and `HEAD`).
fn form_or_json(req: &pingora::http::RequestHeader) -> bool {
    let content_type = req
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let is_form_or_json = content_type.starts_with("application/x-www-form-urlencoded")
        || content_type.contains("json");
    is_form_or_json && req.method != http::Method::GET && req.method != http::Method::HEAD
}

/// Read the whole request body (bounded) for the plugins that need it (a token in a form or JSON body; with
/// `raw`, any body: hmac-auth's digest; a request without a body reads as empty). A body the route buffered
/// (`request_buffering`) is read from its spool; otherwise Pingora keeps what was read in its retry buffer
/// and sends it upstream afterwards.
async fn read_body(
    session: &mut Session,
    spool: Option<&crate::buffering::request::BodySpool>,
    raw: bool,
) -> Result<BodyRead> {
    let req = session.req_header();
    if !raw && !form_or_json(req) {
        return Ok(BodyRead::Read(None));
    }
    let declared = req
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_AUTH_BODY) {
        return Ok(BodyRead::TooLarge);
    }
    if let Some(spool) = spool {
        return match spool.contents(MAX_AUTH_BODY) {
            Ok(Some(body)) => Ok(BodyRead::Read(Some(body))),
            Ok(None) => Ok(BodyRead::TooLarge),
            Err(e) => Error::e_because(ErrorType::InternalError, "reading a buffered body", e),
        };
    }
    session.as_mut().enable_retry_buffering();
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = session.read_request_body().await? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_AUTH_BODY {
            return Ok(BodyRead::TooLarge);
        }
    }
    Ok(BodyRead::Read(Some(body.freeze())))
}

//! The proxy's side of request and response buffering: the route's `request_buffering` reads the body whole
//! into a [`BodySpool`] before an upstream is chosen (answering `413`/`503`/`500` when it cannot), Pingora
//! replays it on each attempt; `client_max_body_size` bounds every body, buffered or streamed; the route's
//! `response_buffering` is handed to the client connection, which buffers what is written to it.

use bytes::Bytes;
use pingora::prelude::*;
use pingora::proxy::Session;

use super::{access, Ctx, Gateway};
use crate::buffering::request::{BodySpool, SpoolError};
use crate::plugins::{request_size_limiting, Reply};
use crate::responses;

/// Kong's body of a `413` for a body past `client_max_body_size` (its error handler's).
pub const PAYLOAD_TOO_LARGE: &str = r#"{"message":"Payload too large"}"#;
/// Kong's body of a `503` (its error handler's), for a body the temporary files cannot take.
pub const UNAVAILABLE: &str = r#"{"message":"The upstream server is currently unavailable"}"#;

/// How much of an answer whose client went away (closed connection, reset HTTP/2 stream) is still read
/// and thrown away to keep the upstream connection: at most 64 KiB left, arriving within 2 s.
pub const DRAIN_AFTER_CANCEL: pingora::proxy::UpstreamDrainLimits =
    pingora::proxy::UpstreamDrainLimits {
        max_bytes: 64 * 1024,
        max_time: std::time::Duration::from_secs(2),
    };

/// Whether the matched route buffers request bodies, and the request has one to buffer (not yet read, not
/// gRPC, whose calls stream, and not an upgrade).
fn wants_request_buffering(session: &mut Session, ctx: &Ctx) -> bool {
    let route = ctx.matched.and_then(|m| ctx.snap.routes.get(m.route));
    if !route.is_some_and(|r| r.request_buffering) || ctx.body.is_some() {
        return false;
    }
    let req = session.req_header();
    if responses::is_grpc(req) || req.headers.contains_key(http::header::UPGRADE) {
        return false;
    }
    !session.is_body_empty() && !session.is_body_done()
}

/// Reads the request body into the context's spool when the route buffers requests. `Ok(true)`: the body
/// could not be buffered and the answer was sent.
pub(super) async fn buffer_request(
    gw: &Gateway,
    session: &mut Session,
    ctx: &mut Ctx,
) -> Result<bool> {
    if !wants_request_buffering(session, ctx) {
        return Ok(false);
    }
    let (status, body) = match BodySpool::read(session, &gw.buffers).await {
        Ok(spool) => {
            crate::client_conn::body_read(session, true);
            ctx.body = Some(Box::new(spool));
            return Ok(false);
        }
        Err(SpoolError::Read(e)) => return Err(e.into_down()),
        Err(SpoolError::TooLarge) => (413, PAYLOAD_TOO_LARGE),
        Err(SpoolError::TempFull) => {
            gw.state.metrics.buffer_refusals.inc();
            (503, UNAVAILABLE)
        }
        Err(SpoolError::Io(e)) => {
            log::error!("buffering a request body in a temporary file: {e}");
            (500, responses::UNEXPECTED)
        }
    };
    // The rest of the body is not read: the connection cannot carry another request.
    session.set_keepalive(None);
    let reply = Reply::Body {
        status,
        headers: Vec::new(),
        body: Bytes::from_static(body.as_bytes()),
    };
    access::respond(session, ctx, reply).await?;
    Ok(true)
}

/// `client_max_body_size` by `Content-Length`, for any request (a buffered one is checked again as it is
/// read). `Ok(true)`: answered `413`.
pub(super) async fn check_declared_size(
    gw: &Gateway,
    session: &mut Session,
    ctx: &mut Ctx,
) -> Result<bool> {
    let Some(max) = gw.buffers.max_body else {
        return Ok(false);
    };
    let declared = session
        .req_header()
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_none_or(|n| n <= max) {
        return Ok(false);
    }
    session.set_keepalive(None);
    let reply = Reply::Body {
        status: 413,
        headers: Vec::new(),
        body: Bytes::from_static(PAYLOAD_TOO_LARGE.as_bytes()),
    };
    access::respond(session, ctx, reply).await?;
    Ok(true)
}

/// Counts a streamed body chunk against `client_max_body_size` (a body without `Content-Length` on a route
/// with `request_buffering: false`); past it the request fails with `413`.
pub(super) fn count_streamed(gw: &Gateway, ctx: &mut Ctx, chunk: Option<&Bytes>) -> Result<()> {
    let (Some(max), Some(chunk)) = (gw.buffers.max_body, chunk) else {
        return Ok(());
    };
    if ctx.body.is_some() {
        return Ok(());
    }
    ctx.streamed += chunk.len() as u64;
    if ctx.streamed > max {
        return Error::e_explain(
            request_size_limiting::STREAMED_413,
            "request body over client_max_body_size",
        );
    }
    Ok(())
}

/// The next piece of a buffered body for Pingora's replay.
pub(super) fn replay(ctx: &mut Ctx) -> Result<Option<Bytes>> {
    match ctx.body.as_mut() {
        Some(spool) => spool
            .next_chunk()
            .map_err(|e| Error::because(ErrorType::InternalError, "reading a buffered body", e)),
        None => Ok(None),
    }
}

/// Hands the matched route's `response_buffering` to the client connection (HTTP/1).
pub(super) fn set_response_buffering(session: &Session, ctx: &Ctx) {
    let on = ctx
        .matched
        .and_then(|m| ctx.snap.routes.get(m.route))
        .is_none_or(|r| r.response_buffering);
    if let Some(st) = crate::client_conn::state(session) {
        st.set_response_buffering(on);
    }
}

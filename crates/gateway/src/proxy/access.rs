//! The access phase of the route's plugins, in Kong's priority order: openid-connect (1050) decides and
//! maps the caller to a consumer, then rate-limiting (910) counts the request. `Ok(true)`: a response
//! was sent and the request ends here.

use std::sync::Arc;

use bytes::Bytes;
use gateway_auth::{Authenticator, Decision, RequestParts};
use pingora::prelude::*;
use pingora::proxy::Session;

use super::Ctx;
use crate::identity::Refusal;
use crate::responses;

/// Largest request body read to look a token up in (`bearer_token_param_type: body`). It must fit
/// Pingora's retry buffer, which is what is forwarded upstream after the body has been read here.
pub const MAX_AUTH_BODY: usize = 64 * 1024;

/// openid-connect: the decision, then the consumer mapping (`consumer_claim`, `anonymous`).
pub(super) async fn authenticate(
    session: &mut Session,
    ctx: &mut Ctx,
    auth: Arc<Authenticator>,
) -> Result<bool> {
    let body = if auth.needs_body() {
        match read_auth_body(session).await? {
            BodyRead::Read(body) => body,
            BodyRead::TooLarge => {
                ctx.auth = "deny";
                responses::send_json(session, 413, responses::TOO_LARGE).await?;
                return Ok(true);
            }
        }
    } else {
        None
    };
    let req = session.req_header();
    let parts = RequestParts {
        method: req.method.as_str(),
        headers: &req.headers,
        query: req.uri.query(),
        body: body.as_deref(),
    };
    let decision = auth.authenticate(&parts).await;
    let identity = ctx
        .matched
        .and_then(|m| ctx.snap.routes.get(m.route))
        .and_then(|r| r.identity.clone());
    match decision {
        Decision::Allow(upstream) => {
            if let Some(policy) = identity {
                match policy.after_allow(&upstream.identity, &ctx.snap.consumers) {
                    Ok(caller) => ctx.caller = caller,
                    Err(refusal) => return refuse(session, ctx, refusal).await,
                }
            } else {
                ctx.caller.credential = upstream.identity.credential.clone();
            }
            ctx.auth = if ctx.caller.anonymous {
                "anonymous"
            } else {
                "allow"
            };
            ctx.upstream = Some(Box::new(upstream));
            Ok(false)
        }
        Decision::Deny(denial) => {
            match identity.and_then(|p| p.after_deny(denial.status, &ctx.snap.consumers)) {
                Some(Ok(caller)) => {
                    ctx.auth = "anonymous";
                    ctx.caller = caller;
                    return Ok(false);
                }
                Some(Err(refusal)) => return refuse(session, ctx, refusal).await,
                None => {}
            }
            ctx.auth = "deny";
            if responses::is_grpc(session.req_header()) {
                responses::send_grpc(session, denial.status, &denial.body).await?;
            } else {
                responses::send_denial(session, &auth, denial).await?;
            }
            Ok(true)
        }
    }
}

/// rate-limiting: the consumer's own plugin unless the route's is scoped to route and service (Kong's
/// precedence), else the route's; a limited request gets Kong's 429 and headers.
pub(super) async fn rate_limit(
    session: &mut Session,
    ctx: &mut Ctx,
    metrics: &crate::metrics::Metrics,
) -> Result<bool> {
    let snap = ctx.snap.clone();
    let Some(m) = ctx.matched else {
        return Ok(false);
    };
    let route = snap.routes.get(m.route).and_then(|r| r.rate_limit.as_ref());
    let consumer = ctx.caller.consumer;
    let own = consumer
        .and_then(|c| snap.consumer_limiters.get(c))
        .and_then(Option::as_ref);
    let index = match (route, own) {
        (Some(r), _) if r.beats_consumer => r.limiter,
        (_, Some(own)) => *own,
        (Some(r), None) => r.limiter,
        (None, None) => return Ok(false),
    };
    let Some(limiter) = snap.limiters.get(index) else {
        return Ok(false);
    };
    let credential = ctx.caller.credential.as_ref().and_then(|v| v.to_str().ok());
    let service = snap
        .config
        .services
        .get(m.service)
        .map(|s| s.id.to_string());
    let req = session.req_header();
    let subject = crate::ratelimit::Subject {
        consumer: consumer
            .and_then(|c| snap.consumer_headers.get(c))
            .map(|c| c.id.as_str()),
        credential,
        ip: session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip()),
        service: service.as_deref(),
        headers: Some(&req.headers),
        path: req.uri.path(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match limiter.check(&subject, now).await {
        crate::ratelimit::Verdict::Pass(headers) => {
            ctx.rate_headers = headers;
            Ok(false)
        }
        crate::ratelimit::Verdict::Limited(status, body, headers) => {
            ctx.auth = if ctx.auth == "none" {
                "limited"
            } else {
                ctx.auth
            };
            responses::send(session, status, &headers, body).await?;
            Ok(true)
        }
        crate::ratelimit::Verdict::StoreFailed(serve) => {
            metrics.rate_limit_store_errors.inc();
            if serve {
                return Ok(false);
            }
            responses::send_json(session, 500, responses::UNEXPECTED).await?;
            Ok(true)
        }
    }
}

/// The consumer mapping refused the request (no consumer for the claim, or a missing anonymous one).
async fn refuse(session: &mut Session, ctx: &mut Ctx, refusal: Refusal) -> Result<bool> {
    ctx.auth = "deny";
    let route = ctx.matched.map_or(usize::MAX, |m| m.route);
    log::info!(
        "consumer mapping refused route={route} reason={:?}",
        refusal.reason
    );
    if responses::is_grpc(session.req_header()) {
        responses::send_grpc(session, refusal.status, &refusal.body).await?;
    } else {
        responses::send(session, refusal.status, &[], refusal.body).await?;
    }
    Ok(true)
}

enum BodyRead {
    Read(Option<Bytes>),
    TooLarge,
}

/// Read the whole request body (bounded) so that auth can look for a token in it. Pingora keeps
/// what was read in its retry buffer and sends it upstream afterwards.
async fn read_auth_body(session: &mut Session) -> Result<BodyRead> {
    let req = session.req_header();
    let content_type = req
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let is_form_or_json = content_type.starts_with("application/x-www-form-urlencoded")
        || content_type.contains("json");
    if !is_form_or_json || req.method == http::Method::GET || req.method == http::Method::HEAD {
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

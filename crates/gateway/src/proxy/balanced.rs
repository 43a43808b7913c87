//! A balanced request's attempts: the target each attempt takes from the service's balancer, and how each
//! attempt is handed back.

use std::sync::Arc;

use pingora::prelude::*;
use pingora::proxy::Session;
use pingora::{Error, ErrorType};

use super::{Ctx, Gateway};
use crate::balancer::{self, Outcome, Pick, UpstreamBalancer};

/// A balanced request: what was hashed, where its attempts went, and the attempt in progress.
pub(super) struct Balanced {
    pub(super) balancer: Arc<UpstreamBalancer>,
    pub(super) hash: balancer::hash::HashValue,
    /// Addresses tried so far: a retry goes to another one while there is another.
    pub(super) tried: Vec<std::net::SocketAddr>,
    /// The attempt in progress (handed back to the balancer when it ends).
    pub(super) current: Option<Pick>,
    /// The Host header for the current attempt (target or `host_header`, port when not the default).
    pub(super) host_header: String,
    /// The status of the upstream's response, once it answered.
    pub(super) status: Option<u16>,
}

/// The error `upstream_peer` returns when the balancer has no target (503, Kong's message).
pub(super) const NO_PEER_ERROR: ErrorType = ErrorType::Custom(balancer::NO_PEER);

impl Gateway {
    /// One attempt's target from the service's balancer (the hash input is read on the first attempt);
    /// returns the address and the SNI. `Err`: no target can take it (503, Kong's message).
    pub(super) async fn pick(
        &self,
        session: &Session,
        ctx: &mut Ctx,
        b: Arc<UpstreamBalancer>,
        tls: bool,
    ) -> Result<(std::net::SocketAddr, String)> {
        let balanced = match ctx.balanced.as_mut() {
            Some(balanced) => balanced,
            None => {
                let req = session.req_header();
                let captures = match (b.hash.wants_captures(), ctx.matched.as_ref()) {
                    (true, Some(m)) => ctx.snap.router.uri_captures(m, req.uri.path()),
                    _ => None,
                };
                let hash = b.hash.value(&balancer::hash::RequestView {
                    headers: &req.headers,
                    path: req.uri.path(),
                    query: req.uri.query(),
                    client_ip: ctx.client.ip,
                    captures: captures.as_ref(),
                });
                ctx.balanced.insert(Box::new(Balanced {
                    balancer: b,
                    hash,
                    tried: Vec::new(),
                    current: None,
                    host_header: String::new(),
                    status: None,
                }))
            }
        };
        let resolver = self.state.balancers.resolver();
        let balancer = balanced.balancer.clone();
        let pick = balancer
            .pick(resolver, &balanced.hash.value, &balanced.tried)
            .await
            .map_err(|e| {
                Error::explain(NO_PEER_ERROR, format!("upstream {}: {e}", balancer.name))
            })?;
        let addr = pick.addr;
        let (host_header, sni) = balancer.host_for(pick.target, tls);
        balanced.tried.push(addr);
        balanced.current = Some(pick);
        balanced.host_header = host_header;
        balanced.status = None;
        Ok((addr, sni))
    }
}

/// Hand the attempt in progress (if any) back to its balancer with how it ended.
pub(super) fn finish_attempt(ctx: &mut Ctx, outcome: Outcome) {
    if let Some(b) = ctx.balanced.as_mut() {
        if let Some(pick) = b.current.take() {
            b.balancer.finish(&pick, outcome);
        }
    }
}

/// The matched service's `retries`.
pub(super) fn retries(ctx: &Ctx) -> u32 {
    ctx.matched
        .as_ref()
        .and_then(|m| ctx.snap.services.get(m.service?))
        .map_or(0, |s| s.retries)
}

//! Kong's `openid-connect` plugin (priority 1050) on the pipeline: the authenticator (`gateway_auth`: token
//! lookup, introspection, JWTs, grants, caches) decides, then the consumer mapping (`consumer_claim`,
//! `anonymous`, [`identity`]) says who is calling. The schema is `gateway_config::plugins::openid_connect`.

pub mod identity;

use std::sync::Arc;

use gateway_auth::{Authenticator, Decision, RequestParts};
use gateway_config::plugins::openid_connect::OidcConfig;

use super::{Access, Exchange, Flow, Phases, Plugin, Reply, Request};
use identity::{ConsumerPolicy, Refusal};

/// One openid-connect config, running.
pub struct OpenidConnect {
    auth: Arc<Authenticator>,
    identity: Option<ConsumerPolicy>,
    /// `anonymous` is set: a request another auth plugin already authenticated is let through (Kong's
    /// logical OR between auth plugins).
    or_mode: bool,
}

impl OpenidConnect {
    /// The plugin over the registry's authenticator for `cfg`.
    pub fn new(auth: Arc<Authenticator>, cfg: &OidcConfig) -> Self {
        OpenidConnect {
            auth,
            identity: ConsumerPolicy::new(cfg),
            or_mode: cfg.anonymous.as_deref().is_some_and(|a| !a.is_empty()),
        }
    }

    async fn run(&self, req: &Request<'_>, ex: &mut Exchange) -> Flow {
        let parts = RequestParts {
            method: req.method.as_str(),
            headers: req.headers,
            query: req.uri.query(),
            body: req.body,
        };
        let decision = self.auth.authenticate(&parts).await;
        let consumers = &req.snap.consumers;
        match decision {
            Decision::Allow(upstream) => {
                match &self.identity {
                    Some(policy) => match policy.after_allow(&upstream.identity, consumers) {
                        Ok(caller) => ex.caller = caller,
                        Err(refusal) => return refuse(ex, refusal),
                    },
                    None => {
                        ex.caller.credential = upstream.identity.credential.clone();
                        ex.caller.authenticated = true;
                    }
                }
                ex.auth = if ex.caller.anonymous {
                    "anonymous"
                } else {
                    "allow"
                };
                ex.upstream = Some(Box::new(upstream));
                Flow::Continue
            }
            Decision::Deny(denial) => {
                let anonymous =
                    (self.identity.as_ref()).and_then(|p| p.after_deny(denial.status, consumers));
                match anonymous {
                    Some(Ok(caller)) => {
                        ex.auth = "anonymous";
                        ex.caller = caller;
                        Flow::Continue
                    }
                    Some(Err(refusal)) => refuse(ex, refusal),
                    None => {
                        ex.auth = "deny";
                        Flow::Respond(Reply::Denial(self.auth.clone(), denial))
                    }
                }
            }
        }
    }
}

impl Plugin for OpenidConnect {
    fn name(&self) -> &'static str {
        "openid-connect"
    }

    fn phases(&self) -> Phases {
        Phases::ACCESS
    }

    fn needs_body(&self) -> bool {
        self.auth.needs_body()
    }

    fn access<'a>(&'a self, req: &'a Request<'a>, ex: &'a mut Exchange) -> Access<'a> {
        if self.or_mode && ex.caller.authenticated {
            return Access::Done(Flow::Continue);
        }
        Access::Pending(Box::pin(self.run(req, ex)))
    }
}

/// The consumer mapping refused the request (no consumer for the claim, or a missing anonymous one).
fn refuse(ex: &mut Exchange, refusal: Refusal) -> Flow {
    ex.auth = "deny";
    log::info!("consumer mapping refused reason={:?}", refusal.reason);
    Flow::Respond(Reply::Body {
        status: refusal.status,
        headers: Vec::new(),
        body: refusal.body,
    })
}

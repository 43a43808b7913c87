//! Kong's `openid-connect` plugin (priority 1050) on the pipeline: the authenticator (`gateway_auth`: token
//! lookup, introspection, JWTs, grants, caches) decides, then the consumer mapping (`consumer_claim`,
//! `anonymous`, [`identity`]) says who is calling. The schema is `gateway_config::plugins::openid_connect`.

pub mod identity;

use std::sync::Arc;

use gateway_auth::{Authenticator, Decision, RequestParts, Target};
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

    /// The RFC 9728 document, for a `GET`/`HEAD` of its path (served without authentication).
    fn metadata(&self, req: &Request<'_>) -> Option<Reply> {
        let m = self.auth.resource_metadata()?;
        let read = matches!(*req.method, http::Method::GET | http::Method::HEAD);
        (read && req.uri.path() == m.path).then(|| Reply::Body {
            status: 200,
            headers: vec![(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            )],
            body: m.body.clone(),
        })
    }

    async fn run(&self, req: &Request<'_>, ex: &mut Exchange) -> Flow {
        let parts = RequestParts {
            method: req.method.as_str(),
            headers: req.headers,
            query: req.uri.query(),
            body: req.body,
            target: Target {
                https: req.https,
                authority: authority(req),
                path: req.uri.path(),
                client_cert_sha256: req.client_cert_sha256,
            },
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
                ex.groups = upstream.identity.groups.clone();
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
        if let Some(reply) = self.metadata(req) {
            return Access::Done(Flow::Respond(reply));
        }
        if self.or_mode && ex.caller.authenticated {
            return Access::Done(Flow::Continue);
        }
        Access::Pending(Box::pin(self.run(req, ex)))
    }
}

/// The authority the client addressed: `Host`, else the HTTP/2 `:authority` (the request target's).
fn authority<'r>(req: &Request<'r>) -> Option<&'r str> {
    (req.headers.get(http::header::HOST))
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri.authority().map(|a| a.as_str()))
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

/// The config with the certificate of its `tls_client_auth_cert_id` attached (`None`: no certificate named),
/// and the authenticator key: the config's, mixed with the certificate so that a changed certificate under
/// the same id builds a new client. A key that cannot be used is logged (never shown) and left off: the IdP
/// then refuses the gateway's client, a 401 as for any refusal.
pub(crate) fn with_client_certificate(
    key: [u8; 32],
    cfg: &gateway_config::plugins::openid_connect::OidcConfig,
    b: &super::Builder<'_>,
) -> (
    [u8; 32],
    Option<gateway_config::plugins::openid_connect::OidcConfig>,
) {
    use gateway_config::plugins::openid_connect::{client_auth::pkcs8_pem, ClientIdentity};
    let Some(id) = cfg.tls_client_auth_cert_id.as_deref() else {
        return (key, None);
    };
    let found = uuid::Uuid::parse_str(id)
        .ok()
        .and_then(|id| b.certificates.get(&id));
    let Some((cert, private)) = found else {
        log::error!("openid-connect tls_client_auth_cert_id names no certificate id={id}");
        return (key, None);
    };
    let mut h = blake3::Hasher::new();
    h.update(&key);
    h.update(cert.as_bytes());
    h.update(private.as_bytes());
    let key = *h.finalize().as_bytes();
    let mut with = cfg.clone();
    match pkcs8_pem(private) {
        Ok(key_pem) => {
            with.tls_client_identity = Some(ClientIdentity {
                cert_pem: cert.clone(),
                key_pem,
            })
        }
        Err(e) => log::error!("openid-connect client certificate unusable id={id} error={e}"),
    }
    (key, Some(with))
}

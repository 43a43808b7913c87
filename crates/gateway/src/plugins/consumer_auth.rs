//! What Kong's consumer auth plugins (key-auth, basic-auth, jwt) share: the "logical OR" between auth
//! plugins configured with `anonymous`, the caller they set once a credential matched, and the anonymous
//! consumer or the refusal when none did. The consumer headers themselves (`X-Consumer-*`,
//! `X-Credential-Identifier`, `X-Anonymous-Consumer`) are set by the proxy from [`Caller`] for every auth
//! plugin alike (`openid_connect::identity`).

use bytes::Bytes;
use http::{HeaderName, HeaderValue};

use super::openid_connect::identity::Caller;
use super::{Exchange, Flow, Reply, Request};
use crate::responses;

/// An auth plugin's `anonymous` setting: a consumer id or username (`None`: unset or empty).
#[derive(Debug, Clone, Default)]
pub struct Anonymous(Option<String>);

impl Anonymous {
    /// From the config value (an empty string is unset, as in Kong).
    pub fn new(value: Option<&str>) -> Self {
        Anonymous(value.filter(|v| !v.is_empty()).map(str::to_owned))
    }

    /// True when set.
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// Kong's logical OR: with `anonymous` set, a request an earlier auth plugin already authenticated is
    /// let through without looking for this plugin's credential.
    pub fn already_authenticated(&self, ex: &Exchange) -> bool {
        self.is_set() && ex.caller.authenticated
    }

    /// The request has no valid credential for this plugin: with `anonymous`, it goes on as the anonymous
    /// consumer (a 500 when that consumer does not exist, as Kong); else `refusal` answers it.
    pub fn fail(&self, req: &Request<'_>, ex: &mut Exchange, refusal: Reply) -> Flow {
        let Some(name) = self.0.as_deref() else {
            ex.auth = "deny";
            return Flow::Respond(refusal);
        };
        match req.snap.consumers.anonymous(name) {
            Some(i) => {
                // An earlier plugin's anonymous consumer is replaced by this one's, as in Kong.
                ex.caller = Caller {
                    consumer: Some(i),
                    anonymous: true,
                    credential: None,
                    authenticated: false,
                };
                ex.auth = "anonymous";
                Flow::Continue
            }
            None => {
                log::error!("anonymous consumer not found anonymous={name:?}");
                ex.auth = "deny";
                Flow::Respond(Reply::Body {
                    status: 500,
                    headers: Vec::new(),
                    body: Bytes::from_static(responses::UNEXPECTED.as_bytes()),
                })
            }
        }
    }
}

/// A credential of `consumer` (index into `Config::consumers`) matched: the request runs as that consumer,
/// with `credential` as its `X-Credential-Identifier`.
pub fn authenticated(ex: &mut Exchange, consumer: usize, credential: Option<HeaderValue>) {
    ex.caller = Caller {
        consumer: Some(consumer),
        anonymous: false,
        credential,
        authenticated: true,
    };
    ex.auth = "allow";
}

/// Kong's 401 with `{"message": message}` and, when given, a `WWW-Authenticate` challenge.
pub fn unauthorized(message: &str, challenge: Option<&'static str>) -> Reply {
    let mut reply = Reply::message(401, message);
    if let (Reply::Body { headers, .. }, Some(c)) = (&mut reply, challenge) {
        headers.push((
            HeaderName::from_static("www-authenticate"),
            HeaderValue::from_static(c),
        ));
    }
    reply
}

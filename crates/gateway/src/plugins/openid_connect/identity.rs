//! Who is calling, as Kong sees it: the consumer an authenticated request maps to (openid-connect's
//! `consumer_claim`, `consumer_by`, `consumer_optional`, `anonymous`), and the `X-Consumer-*`,
//! `X-Credential-Identifier` and `X-Anonymous-Consumer` headers sent upstream.
//!
//! [`ConsumerPolicy::after_allow`] and [`ConsumerPolicy::after_deny`] are pure: the proxy calls them with
//! the auth decision and the snapshot's consumers. Inbound copies of the identity headers are always
//! removed ([`IDENTITY_HEADERS`]), so a client can never claim an identity.

use bytes::Bytes;
use gateway_config::consumers::{ConsumerBy, ConsumerIndex};
use gateway_config::model::Consumer;
use gateway_config::plugins::openid_connect::OidcConfig;
use http::{HeaderName, HeaderValue};

/// `X-Consumer-ID`
pub const CONSUMER_ID: HeaderName = HeaderName::from_static("x-consumer-id");
/// `X-Consumer-Custom-ID`
pub const CONSUMER_CUSTOM_ID: HeaderName = HeaderName::from_static("x-consumer-custom-id");
/// `X-Consumer-Username`
pub const CONSUMER_USERNAME: HeaderName = HeaderName::from_static("x-consumer-username");
/// `X-Credential-Identifier`
pub const CREDENTIAL_IDENTIFIER: HeaderName = HeaderName::from_static("x-credential-identifier");
/// `X-Anonymous-Consumer`
pub const ANONYMOUS_CONSUMER: HeaderName = HeaderName::from_static("x-anonymous-consumer");

/// Every identity header: removed from every proxied request before the gateway sets its own.
pub const IDENTITY_HEADERS: [HeaderName; 5] = [
    CONSUMER_ID,
    CONSUMER_CUSTOM_ID,
    CONSUMER_USERNAME,
    CREDENTIAL_IDENTIFIER,
    ANONYMOUS_CONSUMER,
];

/// A consumer's upstream headers, built once per snapshot.
#[derive(Debug, Clone)]
pub struct ConsumerHeaders {
    /// `X-Consumer-ID`, `X-Consumer-Custom-ID` and `X-Consumer-Username` (the last two when set).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The consumer's id as text (rate-limiting's identifier for `limit_by: consumer`).
    pub id: String,
}

impl ConsumerHeaders {
    /// The headers of `c` (values that cannot be a header value are left out).
    pub fn new(c: &Consumer) -> Self {
        let id = c.id.to_string();
        let mut headers = Vec::with_capacity(3);
        let mut push = |name: HeaderName, v: Option<&str>| {
            if let Some(v) = v.and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.push((name, gateway_config::statics::value(v)));
            }
        };
        push(CONSUMER_ID, Some(&id));
        push(CONSUMER_CUSTOM_ID, c.custom_id.as_deref());
        push(CONSUMER_USERNAME, c.username.as_deref());
        ConsumerHeaders { headers, id }
    }
}

/// Who a request runs as once authentication is done.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Caller {
    /// The consumer (index into `Config::consumers`), when one was mapped or is the anonymous one.
    pub consumer: Option<usize>,
    /// True when `consumer` is the `anonymous` consumer.
    pub anonymous: bool,
    /// The credential's identifier (`X-Credential-Identifier`): openid-connect's `credential_claim` value,
    /// key-auth's credential id, basic-auth's username, jwt's key.
    pub credential: Option<HeaderValue>,
    /// True once an auth plugin authenticated the request (Kong's `kong.client.get_credential()` is set):
    /// a later auth plugin configured with `anonymous` then lets it through unchecked (Kong's "logical OR").
    pub authenticated: bool,
}

impl Caller {
    /// The upstream headers of this caller (to set after [`IDENTITY_HEADERS`] were removed).
    pub fn headers<'a>(
        &'a self,
        consumers: &'a [ConsumerHeaders],
    ) -> impl Iterator<Item = (&'a HeaderName, &'a HeaderValue)> + 'a {
        static TRUE: HeaderValue = HeaderValue::from_static("true");
        static CREDENTIAL: HeaderName = CREDENTIAL_IDENTIFIER;
        static ANONYMOUS: HeaderName = ANONYMOUS_CONSUMER;
        let consumer = self
            .consumer
            .and_then(|i| consumers.get(i))
            .into_iter()
            .flat_map(|c| c.headers.iter().map(|(n, v)| (n, v)));
        let credential = self.credential.iter().map(|v| (&CREDENTIAL, v));
        let anonymous = self.anonymous.then_some((&ANONYMOUS, &TRUE)).into_iter();
        consumer.chain(credential).chain(anonymous)
    }
}

/// Why a request is refused by the consumer mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// 403 (no consumer for the claim) or 500 (the `anonymous` consumer does not exist).
    pub status: u16,
    /// Kong's JSON body.
    pub body: Bytes,
    /// For the log (no secret: claim values are not logged).
    pub reason: &'static str,
}

/// One openid-connect config's consumer settings, compiled once.
#[derive(Debug, Clone)]
pub struct ConsumerPolicy {
    maps: bool,
    by: Vec<ConsumerBy>,
    optional: bool,
    anonymous: Option<String>,
    forbidden: Bytes,
}

impl ConsumerPolicy {
    /// The policy of a config; `None` when it neither maps consumers nor has `anonymous`.
    pub fn new(cfg: &OidcConfig) -> Option<Self> {
        let anonymous = cfg.anonymous.clone().filter(|a| !a.is_empty());
        if cfg.consumer_claim.is_none() && anonymous.is_none() {
            return None;
        }
        let forbidden = serde_json::json!({ "message": cfg.forbidden_error_message }).to_string();
        Some(ConsumerPolicy {
            maps: cfg.consumer_claim.is_some(),
            by: cfg.consumer_by.clone(),
            optional: cfg.consumer_optional,
            anonymous,
            forbidden: Bytes::from(forbidden),
        })
    }

    /// The caller of an authenticated request: the consumer its claim names, none (`consumer_optional`),
    /// or, when the mapping fails, the anonymous consumer; else a 403.
    pub fn after_allow(
        &self,
        identity: &gateway_auth::Identity,
        index: &ConsumerIndex,
    ) -> Result<Caller, Refusal> {
        let credential = identity.credential.clone();
        if !self.maps {
            return Ok(Caller {
                credential,
                authenticated: true,
                ..Caller::default()
            });
        }
        let found = (identity.consumer_claim.as_ref())
            .and_then(|v| v.to_str().ok())
            .and_then(|v| index.find(v, &self.by));
        match found {
            Some(i) => Ok(Caller {
                consumer: Some(i),
                anonymous: false,
                credential,
                authenticated: true,
            }),
            None if self.optional => Ok(Caller {
                credential,
                authenticated: true,
                ..Caller::default()
            }),
            None => self.anonymous(index).ok_or_else(|| Refusal {
                status: 403,
                body: self.forbidden.clone(),
                reason: "consumer not found",
            })?,
        }
    }

    /// A request authentication refused (401/403): the anonymous consumer when configured (`None`: the
    /// denial stands).
    pub fn after_deny(
        &self,
        status: u16,
        index: &ConsumerIndex,
    ) -> Option<Result<Caller, Refusal>> {
        if !matches!(status, 401 | 403) {
            return None;
        }
        self.anonymous(index)
    }

    fn anonymous(&self, index: &ConsumerIndex) -> Option<Result<Caller, Refusal>> {
        let name = self.anonymous.as_deref()?;
        Some(match index.anonymous(name) {
            Some(i) => Ok(Caller {
                consumer: Some(i),
                anonymous: true,
                credential: None,
                authenticated: false,
            }),
            None => Err(Refusal {
                status: 500,
                body: Bytes::from_static(crate::responses::UNEXPECTED.as_bytes()),
                reason: "the anonymous consumer does not exist",
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn consumers() -> Vec<Consumer> {
        let mut alice = Consumer::new(Uuid::from_u128(1));
        alice.username = Some("alice".into());
        alice.custom_id = Some("c-1".into());
        let mut anon = Consumer::new(Uuid::from_u128(2));
        anon.username = Some("anon".into());
        vec![alice, anon]
    }

    fn cfg(f: impl FnOnce(&mut OidcConfig)) -> ConsumerPolicy {
        let mut c = OidcConfig::with_issuer("http://127.0.0.1:1/");
        c.consumer_claim = Some(vec!["username".into()]);
        f(&mut c);
        ConsumerPolicy::new(&c).unwrap()
    }

    fn id(claim: Option<&'static str>) -> gateway_auth::Identity {
        gateway_auth::Identity {
            consumer_claim: claim.map(HeaderValue::from_static),
            credential: Some(HeaderValue::from_static("sub-1")),
            groups: None,
        }
    }

    #[test]
    fn maps_by_claim_in_consumer_by_order() {
        let index = ConsumerIndex::new(&consumers());
        let p = cfg(|_| {});
        let caller = p.after_allow(&id(Some("alice")), &index).unwrap();
        assert_eq!(caller.consumer, Some(0));
        assert!(!caller.anonymous);
        assert_eq!(caller.credential.unwrap(), "sub-1");
        assert_eq!(
            p.after_allow(&id(Some("c-1")), &index).unwrap().consumer,
            Some(0)
        );
        let by_id = cfg(|c| c.consumer_by = vec![ConsumerBy::Id]);
        assert_eq!(
            by_id
                .after_allow(&id(Some("alice")), &index)
                .unwrap_err()
                .status,
            403
        );
    }

    #[test]
    fn unmapped_is_403_unless_optional_or_anonymous() {
        let index = ConsumerIndex::new(&consumers());
        let r = cfg(|_| {})
            .after_allow(&id(Some("mallory")), &index)
            .unwrap_err();
        assert_eq!(
            (r.status, &r.body[..]),
            (403, &br#"{"message":"Forbidden"}"#[..])
        );
        assert_eq!(
            cfg(|_| {})
                .after_allow(&id(None), &index)
                .unwrap_err()
                .status,
            403
        );
        let optional = cfg(|c| c.consumer_optional = true);
        let caller = optional.after_allow(&id(Some("mallory")), &index).unwrap();
        assert_eq!(caller.consumer, None);
        assert_eq!(caller.credential.unwrap(), "sub-1");
        let anon = cfg(|c| c.anonymous = Some("anon".into()));
        let caller = anon.after_allow(&id(Some("mallory")), &index).unwrap();
        assert_eq!((caller.consumer, caller.anonymous), (Some(1), true));
        assert_eq!(caller.credential, None);
    }

    #[test]
    fn anonymous_replaces_a_401_and_a_missing_one_is_500() {
        let index = ConsumerIndex::new(&consumers());
        let anon = cfg(|c| {
            c.consumer_claim = None;
            c.anonymous = Some(Uuid::from_u128(2).to_string());
        });
        let caller = anon.after_deny(401, &index).unwrap().unwrap();
        assert_eq!((caller.consumer, caller.anonymous), (Some(1), true));
        assert!(anon.after_deny(500, &index).is_none());
        let missing = cfg(|c| c.anonymous = Some("ghost".into()));
        assert_eq!(
            missing.after_deny(401, &index).unwrap().unwrap_err().status,
            500
        );
        let none = ConsumerPolicy::new(&OidcConfig::with_issuer("http://127.0.0.1:1/"));
        assert!(none.is_none());
    }

    #[test]
    fn headers_are_kongs() {
        let cs = consumers();
        let headers: Vec<ConsumerHeaders> = cs.iter().map(ConsumerHeaders::new).collect();
        let caller = Caller {
            consumer: Some(0),
            anonymous: false,
            credential: Some(HeaderValue::from_static("sub-1")),
            authenticated: true,
        };
        let got: Vec<(String, String)> = caller
            .headers(&headers)
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        let want = [
            ("x-consumer-id", Uuid::from_u128(1).to_string()),
            ("x-consumer-custom-id", "c-1".to_string()),
            ("x-consumer-username", "alice".to_string()),
            ("x-credential-identifier", "sub-1".to_string()),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect();
        assert_eq!(got, want);
        let anon = Caller {
            consumer: Some(1),
            anonymous: true,
            credential: None,
            authenticated: false,
        };
        let names: Vec<String> = anon.headers(&headers).map(|(n, _)| n.to_string()).collect();
        assert_eq!(
            names,
            [
                "x-consumer-id",
                "x-consumer-username",
                "x-anonymous-consumer"
            ]
        );
    }
}

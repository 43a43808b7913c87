//! The auth decision as a pure function: from the credential, what the IdP side found, the time and the
//! config's [`Policy`], which response (401/403/500 and its text) or which upstream changes. No I/O,
//! no clock, no metrics, no logs: unit tests call [`decide`] with plain values.

use std::sync::Arc;

use gateway_config::plugins::openid_connect::OidcConfig;
use http::HeaderMap;

use crate::claims::Requirement;
use crate::errors::{ErrorStyle, Failure};
use crate::extract::{Credential, ExtractPlan};
use crate::grants::GrantedToken;
use crate::introspect::Introspected;
use crate::metrics::Outcome;
use crate::upstream::UpstreamPlan;
use crate::Denial;
use crate::{Decision, RequestParts, Upstream};

/// Longest credential accepted (a bearer token, or a username/password or client id/secret pair, in
/// bytes): longer ones are a 401 without calling the IdP.
pub const MAX_CREDENTIAL_LEN: usize = 8 * 1024;

/// What one plugin config decides with, compiled once from the config.
#[derive(Debug, Clone)]
pub struct Policy {
    extract: ExtractPlan,
    scopes_required: Option<Requirement>,
    audience_required: Option<Requirement>,
    groups_required: Option<Requirement>,
    roles_required: Option<Requirement>,
    claims_forbidden: bool,
    upstream: UpstreamPlan,
    style: ErrorStyle,
    /// `idp_outage_status: 503`: an IdP outage is a 503 with `Retry-After` instead of a 401.
    outage_503: bool,
    /// The 401 and 403 rendered once when they do not depend on the failure (no `display_errors`): a token the
    /// negative cache knows is refused by cloning these (reference counts), with nothing formatted.
    prebuilt: Option<(Denial, Denial)>,
}

/// What the IdP side found for a credential (from a cache, the cluster cache or the IdP).
#[derive(Debug, Clone)]
pub enum Found<'c> {
    /// A bearer token (forwarded as presented) and its introspection result.
    Bearer {
        /// The caller's token.
        token: &'c str,
        /// Its introspection result.
        info: Arc<Introspected>,
    },
    /// The access token a grant returned, and its introspection result when the policy needs claims.
    Granted {
        /// The access token to forward.
        token: Arc<GrantedToken>,
        /// The new token's introspection result (`None` when no claim is needed).
        info: Option<Arc<Introspected>>,
    },
}

/// A decision and, for a denial, the failure behind it (for the log and the outcome metric).
#[derive(Debug)]
pub struct Verdict {
    /// What to do with the request.
    pub decision: Decision,
    /// Why it is denied (`None` when allowed).
    pub failure: Option<Failure>,
}

impl Verdict {
    /// The `outcome` metric label.
    pub fn outcome(&self) -> Outcome {
        match &self.decision {
            Decision::Allow(_) => Outcome::Allow,
            Decision::Deny(d) => Outcome::of_status(d.status),
        }
    }
}

impl Policy {
    /// Compiles the policy of a config.
    pub fn new(cfg: &OidcConfig) -> Self {
        Policy {
            extract: ExtractPlan::new(cfg),
            scopes_required: Requirement::parse(cfg.scopes_required.as_deref()),
            audience_required: Requirement::parse(cfg.audience_required.as_deref()),
            groups_required: Requirement::parse(cfg.groups_required.as_deref()),
            roles_required: Requirement::parse(cfg.roles_required.as_deref()),
            claims_forbidden: cfg.claims_forbidden.as_ref().is_some_and(|c| !c.is_empty()),
            upstream: UpstreamPlan::new(cfg),
            style: ErrorStyle::new(cfg),
            outage_503: cfg.idp_outage_status == 503.0,
            prebuilt: None,
        }
        .with_prebuilt_denials()
    }

    fn with_prebuilt_denials(mut self) -> Self {
        if !self.style.display_errors {
            let unauthorized = self.style.render(&Failure::Inactive);
            let forbidden = self.style.render(&Failure::Scopes);
            self.prebuilt = Some((unauthorized, forbidden));
        }
        self
    }

    /// Whether the request body must be read before [`Self::credential`].
    pub fn needs_body(&self) -> bool {
        self.extract.needs_body()
    }

    /// The request's credential in Kong's precedence, or why there is no usable one (none of an
    /// enabled method, or longer than [`MAX_CREDENTIAL_LEN`]).
    pub fn credential(&self, req: &RequestParts<'_>) -> Result<Credential, Failure> {
        let credential = self.extract.find(req).ok_or(Failure::NoCredentials)?;
        if credential.secret_len() > MAX_CREDENTIAL_LEN {
            return Err(Failure::CredentialTooLong);
        }
        Ok(credential)
    }

    /// The 401 and 403 rendered once (see `prebuilt`), when the config has them: a denial that is a clone of
    /// one of these shares its body's bytes with it.
    pub fn prebuilt_denials(&self) -> Option<(&Denial, &Denial)> {
        self.prebuilt.as_ref().map(|(u, f)| (u, f))
    }

    /// The denial for a failure.
    pub fn deny(&self, failure: Failure) -> Verdict {
        let denial = match (&self.prebuilt, failure.status()) {
            _ if failure.own_challenge() => self.style.render(&failure),
            (Some((unauthorized, _)), 401) => unauthorized.clone(),
            (Some((_, forbidden)), 403) => forbidden.clone(),
            _ => self.style.render(&failure),
        };
        Verdict {
            decision: Decision::Deny(denial),
            failure: Some(failure),
        }
    }

    /// Whether `verdict` is a denial for an IdP outage that this policy answers with a 503
    /// (`idp_outage_status: 503`); then [`Self::unavailable`] gives the response.
    pub fn wants_unavailable(&self, verdict: &Verdict) -> bool {
        self.outage_503 && verdict.failure.as_ref().is_some_and(Failure::is_outage)
    }

    /// The 503 for an IdP outage, retrying after `retry_after_secs` (≥ 1).
    pub fn unavailable(&self, failure: Failure, retry_after_secs: u64) -> Verdict {
        Verdict {
            decision: Decision::Deny(self.style.unavailable(&failure, retry_after_secs)),
            failure: Some(failure),
        }
    }

    /// Active, not expired at `now_ms` (with the leeway the result carries), scopes, audience, groups,
    /// roles and forbidden claims.
    pub fn check(&self, info: &Introspected, now_ms: u64) -> Result<(), Failure> {
        if !info.active {
            return Err(Failure::Inactive);
        }
        if info.expired_at(now_ms) {
            return Err(Failure::Expired);
        }
        if let Some(r) = &self.scopes_required {
            if !r.satisfied_by(info.scopes()) {
                return Err(Failure::Scopes);
            }
        }
        if let Some(r) = &self.audience_required {
            if !r.satisfied_by(info.audience()) {
                return Err(Failure::Audience);
            }
        }
        if let Some(r) = &self.groups_required {
            if !r.satisfied_by(info.groups()) {
                return Err(Failure::Groups);
            }
        }
        if let Some(r) = &self.roles_required {
            if !r.satisfied_by(info.roles()) {
                return Err(Failure::Roles);
            }
        }
        if self.claims_forbidden && info.has_forbidden_claim() {
            return Err(Failure::ForbiddenClaim);
        }
        Ok(())
    }

    fn allow(
        &self,
        request_headers: &HeaderMap,
        credential: &Credential,
        found: &Found<'_>,
        now_ms: u64,
    ) -> Result<Upstream, Failure> {
        let (token, info) = match found {
            Found::Bearer { token, info } => (*token, Some(info)),
            Found::Granted { token, info } => (&*token.access_token, info.as_ref()),
        };
        if let Some(info) = info {
            self.check(info, now_ms)?;
        }
        Ok(self.upstream.build(
            token,
            credential.source(),
            info.map(|i| &**i),
            request_headers,
        ))
    }
}

/// Decides on a request whose `credential` was found in a request with `request_headers`, given what
/// the IdP side `found` (or why it failed) and the time `now_ms`: the checks run on every request,
/// cached result or not.
pub fn decide(
    request_headers: &HeaderMap,
    credential: &Credential,
    found: Result<Found<'_>, Failure>,
    now_ms: u64,
    policy: &Policy,
) -> Verdict {
    match found.and_then(|f| policy.allow(request_headers, credential, &f, now_ms)) {
        Ok(up) => Verdict {
            decision: Decision::Allow(up),
            failure: None,
        },
        Err(f) => policy.deny(f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::{DiscoveryError, Endpoint, IdpError};
    use crate::extract::Source;
    use crate::test_support::{allowed, denial};
    use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
    use http::HeaderValue;

    const NOW: u64 = 1_700_000_000_000;
    const NOW_S: i64 = 1_700_000_000;

    fn cfg() -> OidcConfig {
        OidcConfig::with_issuer("http://127.0.0.1:4593/oidc")
    }

    fn set(s: &str) -> Option<crate::claims::ClaimSet> {
        crate::claims::claim_set(&serde_json::Value::String(s.into()))
    }

    /// An active result like the fake IdP's `active("openid read")`.
    fn active(scope: &str) -> Arc<Introspected> {
        Arc::new(Introspected {
            active: true,
            exp: Some(NOW_S + 3600),
            valid_until_ms: NOW + 60_000,
            extras: crate::introspect::Extras {
                scopes: set(scope),
                audience: set("openid read"),
                ..Default::default()
            }
            .boxed(),
            ..Introspected::purged()
        })
    }

    fn bearer(token: &str) -> Credential {
        Credential::Bearer {
            token: token.into(),
            source: Source::Header(AUTHORIZATION),
        }
    }

    fn headers(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        h
    }

    /// Decides on bearer token `t` found with `info`.
    fn on_bearer(policy: &Policy, info: &Arc<Introspected>) -> Decision {
        let c = bearer("t");
        let found = Ok(Found::Bearer {
            token: "t",
            info: Arc::clone(info),
        });
        decide(&headers("t"), &c, found, NOW, policy).decision
    }

    fn on_failure(policy: &Policy, f: Failure) -> Denial {
        denial(decide(&headers("t"), &bearer("t"), Err(f), NOW, policy).decision)
    }

    fn www(d: &Denial) -> Option<&HeaderValue> {
        d.headers
            .iter()
            .find(|(n, _)| n == WWW_AUTHENTICATE)
            .map(|(_, v)| v)
    }

    fn assert_401(d: Decision) {
        let d = denial(d);
        assert_eq!(d.status, 401);
        assert_eq!(&d.body[..], br#"{"message":"Unauthorized"}"#);
        assert_eq!(
            www(&d).unwrap(),
            r#"Bearer realm="127.0.0.1", error="invalid_token""#
        );
    }

    #[test]
    fn an_active_token_is_forwarded() {
        let up = allowed(on_bearer(&Policy::new(&cfg()), &active("openid read")));
        assert_eq!(
            up.set_headers,
            vec![(AUTHORIZATION, HeaderValue::from_static("Bearer t"))]
        );
        assert!(up.remove_headers.is_empty());
    }

    #[test]
    fn inactive_is_401() {
        let info = Arc::new(Introspected::purged());
        let v = decide(
            &headers("t"),
            &bearer("t"),
            Ok(Found::Bearer { token: "t", info }),
            NOW,
            &Policy::new(&cfg()),
        );
        assert!(matches!(v.failure, Some(Failure::Inactive)));
        assert_eq!(v.outcome(), Outcome::Deny401);
        assert_401(v.decision);
    }

    #[test]
    fn expired_is_401() {
        let p = Policy::new(&cfg());
        let old = Arc::new(Introspected {
            exp: Some(NOW_S - 10),
            ..(*active("openid")).clone()
        });
        assert_401(on_bearer(&p, &old));
        // within the leeway the result carries: still valid
        let lenient = Arc::new(Introspected {
            leeway_ms: 30_000,
            ..(*old).clone()
        });
        allowed(on_bearer(&p, &lenient));
    }

    #[test]
    fn scopes_and_audience_are_403() {
        let mut c = cfg();
        c.scopes_required = Some(vec!["admin".into(), "openid write".into()]);
        let d = denial(on_bearer(&Policy::new(&c), &active("openid read")));
        assert_eq!(d.status, 403);
        assert_eq!(&d.body[..], br#"{"message":"Forbidden"}"#);
        assert_eq!(
            www(&d).unwrap(),
            r#"Bearer realm="127.0.0.1", error="insufficient_scope""#
        );

        c.scopes_required = Some(vec!["admin".into(), "read openid".into()]);
        c.audience_required = Some(vec!["read".into()]);
        allowed(on_bearer(&Policy::new(&c), &active("openid read")));
        c.audience_required = Some(vec!["other".into()]);
        let v = decide(
            &headers("t"),
            &bearer("t"),
            Ok(Found::Bearer {
                token: "t",
                info: active("openid read"),
            }),
            NOW,
            &Policy::new(&c),
        );
        assert!(matches!(v.failure, Some(Failure::Audience)));
        assert_eq!(v.outcome(), Outcome::Deny403);
        assert_eq!(denial(v.decision).status, 403);
    }

    #[test]
    fn groups_roles_and_forbidden_claims_are_403() {
        use crate::cache::TtlPolicy;
        use crate::introspect::ClaimPlan;
        let mut c = cfg();
        c.groups_required = Some(vec!["admins".into(), "dev ops".into()]);
        c.roles_required = Some(vec!["reader".into()]);
        c.claims_forbidden = Some(vec!["impersonator".into()]);
        c.groups_claim = vec!["realm".into(), "groups".into()];
        let plan = ClaimPlan::new(&c);
        let ttl = TtlPolicy::from_config(&c);
        let info = |v: serde_json::Value| {
            Arc::new(Introspected::from_response(
                v.as_object().unwrap(),
                &plan,
                &ttl,
                NOW,
            ))
        };
        let p = Policy::new(&c);
        let failure = |v| {
            decide(
                &headers("t"),
                &bearer("t"),
                Ok(Found::Bearer {
                    token: "t",
                    info: info(v),
                }),
                NOW,
                &p,
            )
            .failure
        };
        use serde_json::json;
        assert!(failure(
            json!({"active": true, "realm": {"groups": ["ops", "dev"]}, "roles": "reader"})
        )
        .is_none());
        assert!(failure(
            json!({"active": true, "realm": {"groups": ["admins"]}, "roles": ["x", "reader"]})
        )
        .is_none());
        assert!(matches!(
            failure(json!({"active": true, "realm": {"groups": ["dev"]}, "roles": "reader"})),
            Some(Failure::Groups)
        ));
        assert!(matches!(
            failure(json!({"active": true, "realm": {"groups": "admins"}})),
            Some(Failure::Roles)
        ));
        assert!(matches!(
            failure(
                json!({"active": true, "realm": {"groups": "admins"}, "roles": "reader", "impersonator": null})
            ),
            Some(Failure::ForbiddenClaim)
        ));
        assert_eq!(
            denial(p.deny(Failure::Groups).decision).status,
            403,
            "a forbidden, not an unauthorized"
        );
    }

    #[test]
    fn display_errors_show_fixed_reason() {
        let mut c = cfg();
        c.display_errors = true;
        let f = Failure::Introspection(IdpError::Status {
            endpoint: Endpoint::Introspection,
            status: 503,
        });
        let d = on_failure(&Policy::new(&c), f);
        assert_eq!(
            &d.body[..],
            br#"{"message":"Unauthorized (unable to introspect the token)"}"#
        );
    }

    #[test]
    fn which_status_for_which_failure() {
        let p = Policy::new(&cfg());
        let idp = |e| IdpError::Timeout { endpoint: e };
        for f in [
            Failure::Introspection(idp(Endpoint::Introspection)),
            Failure::Token(idp(Endpoint::Token)),
            Failure::NoCredentials,
            Failure::CredentialTooLong,
        ] {
            let v = decide(&headers("t"), &bearer("t"), Err(f), NOW, &p);
            assert_eq!(v.outcome(), Outcome::Deny401);
            assert_401(v.decision);
        }
        for f in [
            Failure::Discovery(DiscoveryError::Backoff),
            Failure::Discovery(DiscoveryError::MissingEndpoint("token_endpoint")),
            Failure::Setup("no TLS".into()),
        ] {
            let d = on_failure(&p, f);
            assert_eq!(d.status, 500);
            assert_eq!(
                &d.body[..],
                br#"{"message":"An unexpected error occurred"}"#
            );
            assert!(www(&d).is_none());
        }
    }

    #[test]
    fn a_granted_token_replaces_the_basic_credential() {
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Basic am9objpkb2U="),
        );
        let c = Credential::Password {
            username: "john".into(),
            password: "doe".into(),
            source: Source::Header(AUTHORIZATION),
        };
        let token = Arc::new(GrantedToken {
            access_token: "AT".into(),
            valid_until_ms: NOW + 1000,
        });
        let p = Policy::new(&cfg());
        let found = Found::Granted {
            token: Arc::clone(&token),
            info: None,
        };
        let up = allowed(decide(&h, &c, Ok(found), NOW, &p).decision);
        assert_eq!(
            up.set_headers,
            vec![(AUTHORIZATION, HeaderValue::from_static("Bearer AT"))]
        );
        assert!(up.remove_headers.is_empty());
        // with claims required, the new token's introspection result is checked
        let mut c2 = cfg();
        c2.scopes_required = Some(vec!["admin".into()]);
        let found = Found::Granted {
            token,
            info: Some(active("openid read")),
        };
        let d = denial(decide(&h, &c, Ok(found), NOW, &Policy::new(&c2)).decision);
        assert_eq!(d.status, 403);
    }

    #[test]
    fn no_or_overlong_credentials_are_refused_before_any_lookup() {
        let p = Policy::new(&cfg());
        let req = |h: &HeaderMap| {
            p.credential(&RequestParts {
                method: "GET",
                headers: h,
                query: None,
                body: None,
                target: Default::default(),
            })
        };
        assert!(matches!(
            req(&HeaderMap::new()),
            Err(Failure::NoCredentials)
        ));
        let long = "a".repeat(MAX_CREDENTIAL_LEN + 1);
        assert!(matches!(
            req(&headers(&long)),
            Err(Failure::CredentialTooLong)
        ));
        let max = "a".repeat(MAX_CREDENTIAL_LEN);
        assert_eq!(req(&headers(&max)).unwrap(), bearer(&max));
    }

    #[test]
    fn prebuilt_denials_are_what_rendering_gives() {
        let p = Policy::new(&cfg());
        for f in [
            Failure::NoCredentials,
            Failure::Inactive,
            Failure::Expired,
            Failure::Scopes,
            Failure::Audience,
            Failure::CredentialTooLong,
        ] {
            let rendered = p.style.render(&f);
            assert_eq!(denial(p.deny(f).decision), rendered);
        }
        let mut c = cfg();
        c.display_errors = true;
        let p = Policy::new(&c);
        assert!(
            p.prebuilt.is_none(),
            "with display_errors the message names the reason"
        );
        let d = denial(p.deny(Failure::Expired).decision);
        assert!(String::from_utf8_lossy(&d.body).contains("the token has expired"));
    }
}

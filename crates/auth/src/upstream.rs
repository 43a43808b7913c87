//! Upstream request changes after success: the access-token header, claim headers, the
//! introspection header, and hiding the caller's credential.

use gateway_config::plugins::openid_connect::OidcConfig;
use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::extract::{cookie_header_without, Source};
use crate::introspect::Introspected;
use crate::Upstream;

/// How the access token is passed upstream (`upstream_access_token_header`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenHeader {
    /// Not passed (explicit `null`).
    Off,
    /// `name:scheme` ⇒ `name: <Scheme> <token>` (default `Authorization: Bearer <token>`).
    WithScheme(HeaderName, String),
    /// `name` ⇒ `name: <token>`.
    Raw(HeaderName),
}

impl TokenHeader {
    /// Parses the config value; invalid header names turn the header off (logged).
    pub fn parse(v: Option<&str>) -> TokenHeader {
        let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) else {
            return TokenHeader::Off;
        };
        let (name, scheme) = match v.split_once(':') {
            Some((n, s)) => (n.trim(), Some(s.trim())),
            None => (v, None),
        };
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            log::warn!("invalid upstream_access_token_header={v:?}; token not passed upstream");
            return TokenHeader::Off;
        };
        match scheme.filter(|s| !s.is_empty()) {
            Some(s) if s.eq_ignore_ascii_case("bearer") => {
                TokenHeader::WithScheme(name, "Bearer".to_owned())
            }
            Some(s) => TokenHeader::WithScheme(name, s.to_owned()),
            None => TokenHeader::Raw(name),
        }
    }

    /// The header to send upstream, and whether it is the request's only value of that name. When the
    /// request already has exactly that header (a bearer token sent as `Authorization: Bearer <token>`, the
    /// common case), its value is shared, not formatted and checked again.
    fn header(&self, token: &str, request: &HeaderMap) -> Option<(HeaderName, HeaderValue, bool)> {
        // The request's value of `n` that is `prefix` followed by exactly the token, if any.
        let same = |n: &HeaderName, prefix: &[&[u8]]| {
            request.get_all(n).iter().find(|v| {
                prefix
                    .iter()
                    .try_fold(v.as_bytes(), |rest, p| rest.strip_prefix(*p))
                    .is_some_and(|rest| rest == token.as_bytes())
            })
        };
        let (name, found) = match self {
            TokenHeader::Off => return None,
            TokenHeader::WithScheme(n, s) => (n, same(n, &[s.as_bytes(), b" "])),
            TokenHeader::Raw(n) => (n, same(n, &[])),
        };
        let (value, only) = match (found, self) {
            (Some(v), _) => (Ok(v.clone()), request.get_all(name).iter().nth(1).is_none()),
            (None, TokenHeader::WithScheme(_, s)) => {
                (HeaderValue::from_str(&format!("{s} {token}")), false)
            }
            (None, _) => (HeaderValue::from_str(token), false),
        };
        let mut value = value.ok()?;
        value.set_sensitive(true);
        Some((name.clone(), value, only))
    }
}

/// What to add upstream (compiled from the config).
#[derive(Debug, Clone)]
pub struct UpstreamPlan {
    /// The access-token header.
    pub token_header: TokenHeader,
    /// `upstream_introspection_header`.
    pub introspection_header: Option<HeaderName>,
    /// `upstream_introspection_jwt_header`.
    pub introspection_jwt_header: Option<HeaderName>,
    /// `upstream_headers_names` (paired with `ClaimPlan::header_claims`).
    pub claim_headers: Vec<Option<HeaderName>>,
    /// `hide_credentials`.
    pub hide_credentials: bool,
    /// Where `consumer_claim` and `credential_claim` sit in the introspection result's claims.
    pub identity: crate::introspect::IdentitySlots,
}

fn header_name(v: &str, field: &str) -> Option<HeaderName> {
    let n = HeaderName::from_bytes(v.trim().as_bytes()).ok();
    if n.is_none() {
        log::warn!("invalid {field}={v:?} ignored");
    }
    n
}

impl UpstreamPlan {
    /// Compiles the plan from the config.
    pub fn new(cfg: &OidcConfig) -> Self {
        UpstreamPlan {
            token_header: TokenHeader::parse(cfg.upstream_access_token_header.as_deref()),
            introspection_header: cfg
                .upstream_introspection_header
                .as_deref()
                .and_then(|h| header_name(h, "upstream_introspection_header")),
            introspection_jwt_header: cfg
                .upstream_introspection_jwt_header
                .as_deref()
                .and_then(|h| header_name(h, "upstream_introspection_jwt_header")),
            claim_headers: cfg
                .upstream_headers_names
                .iter()
                .flatten()
                .map(|h| header_name(h, "upstream_headers_names"))
                .collect(),
            hide_credentials: cfg.hide_credentials,
            identity: crate::introspect::IdentitySlots::new(cfg),
        }
    }

    /// The upstream changes for an authenticated request.
    ///
    /// `token` is what goes upstream (the caller's bearer token or the granted access token),
    /// `source` where the caller's credential was, `info` the introspection result if any.
    pub fn build(
        &self,
        token: &str,
        source: &Source,
        info: Option<&Introspected>,
        request_headers: &HeaderMap,
    ) -> Upstream {
        let mut up = Upstream::default();
        let slot = |i: Option<usize>| {
            let (info, i) = (info?, i?);
            info.claims.header(i)
        };
        up.identity = crate::Identity {
            consumer_claim: slot(self.identity.consumer),
            credential: slot(self.identity.credential),
            groups: slot(self.identity.groups).map(crate::Groups::from_packed),
        };
        let set = |up: &mut Upstream, n: HeaderName, v: HeaderValue| {
            up.set_headers.retain(|(m, _)| *m != n);
            if up.same_as_request.as_ref() == Some(&n) {
                up.same_as_request = None;
            }
            up.set_headers.push((n, v));
        };
        if let Some((n, v, only)) = self.token_header.header(token, request_headers) {
            set(&mut up, n.clone(), v);
            up.same_as_request = only.then_some(n);
        }
        if let (Some(name), Some(v)) = (
            &self.introspection_header,
            info.and_then(|i| i.raw_header().cloned()),
        ) {
            set(&mut up, name.clone(), v);
        }
        if let Some(name) = &self.introspection_jwt_header {
            match info.and_then(|i| i.jwt_header().cloned()) {
                Some(v) => set(&mut up, name.clone(), v),
                // No signed answer behind this request: drop any value the caller sent under that name.
                None => up.remove_headers.push(name.clone()),
            }
        }
        for (i, name) in self.claim_headers.iter().enumerate() {
            let Some(name) = name else { continue };
            match info.and_then(|inf| inf.claims.header(i)) {
                Some(v) => set(&mut up, name.clone(), v),
                // Absent claim: drop any value the caller sent under that name.
                None => up.remove_headers.push(name.clone()),
            }
        }
        // A Basic credential is never forwarded once it has been exchanged for a token,
        // and any credential is removed under hide_credentials.
        let exchanged = matches!(source, Source::Header(h) if *h == AUTHORIZATION)
            && token_differs(request_headers, token);
        if self.hide_credentials || exchanged {
            match source {
                Source::Header(h) => up.remove_headers.push(h.clone()),
                Source::Cookie(name) if self.hide_credentials => {
                    match cookie_header_without(request_headers, name) {
                        Some(v) => set(&mut up, COOKIE, v),
                        None => up.remove_headers.push(COOKIE),
                    }
                }
                Source::Query(args) if self.hide_credentials => {
                    up.remove_query_args = args.iter().map(|a| (*a).to_owned()).collect();
                }
                _ => {}
            }
        }
        let set_names: Vec<HeaderName> = up.set_headers.iter().map(|(n, _)| n.clone()).collect();
        up.remove_headers.retain(|h| !set_names.contains(h));
        up.remove_headers.dedup();
        up
    }
}

/// Whether the request's `Authorization` does not already carry `token` (i.e. it was Basic).
fn token_differs(headers: &HeaderMap, token: &str) -> bool {
    !headers
        .get_all(AUTHORIZATION)
        .iter()
        .any(|v| second_word_is(v.as_bytes(), token))
}

/// `value` is a `str` whose second whitespace-separated word is `token` (what
/// `to_str().ok()?.split_whitespace().nth(1) == Some(token)` says, for a header value, without scanning the token
/// three times: a long token is compared once, and only the bytes around it are checked for being visible
/// ASCII).
fn second_word_is(value: &[u8], token: &str) -> bool {
    let space = |c: &u8| *c == b' ' || *c == b'\t';
    let visible = |s: &[u8]| s.iter().all(|&c| c == b'\t' || (0x20..0x7f).contains(&c));
    let Some(start) = value.iter().position(|c| !space(c)) else {
        return false;
    };
    let Some(scheme_len) = value[start..].iter().position(space) else {
        return false;
    };
    let after_scheme = start + scheme_len;
    let Some(gap) = value[after_scheme..].iter().position(|c| !space(c)) else {
        return false;
    };
    let (head, word) = value.split_at(after_scheme + gap);
    let Some(tail) = word.strip_prefix(token.as_bytes()) else {
        return false;
    };
    !token.is_empty() && tail.first().is_none_or(space) && visible(head) && visible(tail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::introspect::{ClaimValues, Extras};

    fn plan(cfg: &OidcConfig) -> UpstreamPlan {
        UpstreamPlan::new(cfg)
    }

    fn cfg() -> OidcConfig {
        OidcConfig::with_issuer("http://idp/")
    }

    fn hm(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn token_header_forms() {
        assert_eq!(
            TokenHeader::parse(Some("authorization:bearer")),
            TokenHeader::WithScheme(AUTHORIZATION, "Bearer".into())
        );
        assert_eq!(
            TokenHeader::parse(Some("x-token")),
            TokenHeader::Raw(HeaderName::from_static("x-token"))
        );
        assert_eq!(TokenHeader::parse(None), TokenHeader::Off);
        assert_eq!(TokenHeader::parse(Some("bad name")), TokenHeader::Off);
    }

    #[test]
    fn default_bearer_passthrough() {
        let h = hm(&[("authorization", "Bearer tok")]);
        let up = plan(&cfg()).build("tok", &Source::Header(AUTHORIZATION), None, &h);
        assert_eq!(
            up.set_headers,
            vec![(AUTHORIZATION, HeaderValue::from_static("Bearer tok"))]
        );
        assert!(up.remove_headers.is_empty());
        assert_eq!(up.same_as_request, Some(AUTHORIZATION));

        // Two values: the set replaces both, so it is not the request's header.
        let two = hm(&[
            ("authorization", "Bearer tok"),
            ("authorization", "Bearer x"),
        ]);
        let up = plan(&cfg()).build("tok", &Source::Header(AUTHORIZATION), None, &two);
        assert_eq!(up.set_headers.len(), 1);
        assert_eq!(up.same_as_request, None);
        // Another header set later under the same name replaces it.
        let mut c = cfg();
        c.upstream_introspection_header = Some("authorization".into());
        let info = Introspected {
            extras: Extras {
                raw_header: Some(HeaderValue::from_static("e30=")),
                ..Extras::default()
            }
            .boxed(),
            ..Introspected::purged()
        };
        let up = plan(&c).build("tok", &Source::Header(AUTHORIZATION), Some(&info), &h);
        assert_eq!(
            up.set_headers,
            vec![(AUTHORIZATION, HeaderValue::from_static("e30="))]
        );
        assert_eq!(up.same_as_request, None);
    }

    #[test]
    fn the_token_header_shares_the_request_value_only_when_it_is_the_same_bytes() {
        let bearer = TokenHeader::WithScheme(AUTHORIZATION, "Bearer".into());
        let h = hm(&[("authorization", "Bearer tok")]);
        let (_, v, only) = bearer.header("tok", &h).unwrap();
        assert!(only);
        assert_eq!(v, "Bearer tok");
        assert!(v.is_sensitive());
        let sent = h.get(AUTHORIZATION).unwrap();
        assert_eq!(
            v.as_bytes().as_ptr(),
            sent.as_bytes().as_ptr(),
            "shared, not copied"
        );
        // Anything else is built: another scheme spelling, extra spaces, another token, no header.
        for (sent, token) in [
            ("bearer tok", "tok"),
            ("Bearer  tok", "tok"),
            ("Bearer tok2", "tok"),
            ("Bearer tok ", "tok"),
            ("Basic dG9r", "tok"),
        ] {
            let h = hm(&[("authorization", sent)]);
            let (_, v, only) = bearer.header(token, &h).unwrap();
            assert!(!only);
            assert_eq!(v, format!("Bearer {token}").as_str(), "{sent:?}");
            assert_ne!(
                v.as_bytes().as_ptr(),
                h.get(AUTHORIZATION).unwrap().as_bytes().as_ptr()
            );
        }
        let raw = TokenHeader::Raw(HeaderName::from_static("x-token"));
        let h = hm(&[("x-token", "tok")]);
        let (_, v, _) = raw.header("tok", &h).unwrap();
        assert_eq!(
            v.as_bytes().as_ptr(),
            h.get("x-token").unwrap().as_bytes().as_ptr()
        );
        assert_eq!(raw.header("tok", &HeaderMap::new()).unwrap().1, "tok");
    }

    #[test]
    fn second_word_is_what_split_whitespace_says() {
        let old = |v: &[u8], token: &str| {
            std::str::from_utf8(v)
                .ok()
                .filter(|s| s.bytes().all(|c| c == b'\t' || (0x20..0x7f).contains(&c)))
                .is_some_and(|s| s.split_whitespace().nth(1) == Some(token))
        };
        let values: [&[u8]; 16] = [
            b"Bearer tok",
            b"  Bearer \t tok  ",
            b"Bearer tok extra",
            b"Bearer tokx",
            b"Bearer xtok",
            b"Bearer",
            b"Bearer ",
            b"tok",
            b" tok",
            b"Basic dG9r",
            b"Bearer tok\x01",
            b"B\xc3\xa9 tok",
            b"Bearer\ttok",
            b"",
            b"   ",
            b"Bearer  tok\t",
        ];
        for v in values {
            for token in ["tok", "tokx", "Bearer", "", "dG9r"] {
                assert_eq!(
                    second_word_is(v, token),
                    old(v, token),
                    "{:?} {token:?}",
                    String::from_utf8_lossy(v)
                );
            }
        }
    }

    #[test]
    fn basic_is_replaced_by_granted_token() {
        let h = hm(&[("authorization", "Basic am9objpkb2U=")]);
        let up = plan(&cfg()).build("granted", &Source::Header(AUTHORIZATION), None, &h);
        assert_eq!(
            up.set_headers,
            vec![(AUTHORIZATION, HeaderValue::from_static("Bearer granted"))]
        );
        assert!(up.remove_headers.is_empty());
        assert_eq!(up.same_as_request, None);

        let mut c = cfg();
        c.upstream_access_token_header = Some("x-access".into());
        let up = plan(&c).build("granted", &Source::Header(AUTHORIZATION), None, &h);
        assert_eq!(up.set_headers[0].0, HeaderName::from_static("x-access"));
        assert_eq!(up.remove_headers, vec![AUTHORIZATION]);
    }

    #[test]
    fn hide_credentials_each_source() {
        let mut c = cfg();
        c.hide_credentials = true;
        c.upstream_access_token_header = None;
        let p = plan(&c);
        let h = hm(&[("x-access-token", "t"), ("cookie", "a=1; at=t")]);
        let up = p.build(
            "t",
            &Source::Header(HeaderName::from_static("x-access-token")),
            None,
            &h,
        );
        assert_eq!(
            up.remove_headers,
            vec![HeaderName::from_static("x-access-token")]
        );
        let up = p.build("t", &Source::Cookie("at".into()), None, &h);
        assert_eq!(
            up.set_headers,
            vec![(COOKIE, HeaderValue::from_static("a=1"))]
        );
        let up = p.build("t", &Source::Query(&["access_token"]), None, &h);
        assert_eq!(up.remove_query_args, vec!["access_token".to_string()]);
        let up = p.build("t", &Source::Body, None, &h);
        assert_eq!(up, Upstream::default());

        // without hide_credentials nothing is removed
        c.hide_credentials = false;
        let up = plan(&c).build("t", &Source::Query(&["access_token"]), None, &h);
        assert_eq!(up, Upstream::default());
    }

    #[test]
    fn claim_and_introspection_headers() {
        let mut c = cfg();
        c.upstream_headers_claims = Some(vec!["username".into(), "missing".into()]);
        c.upstream_headers_names = Some(vec!["x-user".into(), "x-missing".into()]);
        c.upstream_introspection_header = Some("x-introspection".into());
        let info = Introspected {
            active: true,
            valid_until_ms: u64::MAX,
            claims: ClaimValues::new([Some(&b"john"[..]), None]),
            extras: Extras {
                raw_header: Some(HeaderValue::from_static("e30=")),
                ..Extras::default()
            }
            .boxed(),
            ..Introspected::purged()
        };
        let h = hm(&[("authorization", "Bearer t"), ("x-missing", "spoof")]);
        let up = plan(&c).build("t", &Source::Header(AUTHORIZATION), Some(&info), &h);
        let get = |n: &str| {
            up.set_headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.to_str().unwrap().to_owned())
        };
        assert_eq!(get("x-user").as_deref(), Some("john"));
        assert_eq!(get("x-introspection").as_deref(), Some("e30="));
        assert_eq!(
            up.remove_headers,
            vec![HeaderName::from_static("x-missing")]
        );
    }
}

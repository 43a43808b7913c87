//! Finding the caller's credential: bearer token (header, cookie, query, body) or Basic/arg credentials,
//! in Kong's precedence (introspection, then password, then client_credentials; first found decides).

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use gateway_config::plugins::openid_connect::{AuthMethod, OidcConfig, ParamType};
use http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::RequestParts;

/// Base64 that accepts padded and unpadded input.
const LENIENT_B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Where a credential was found (what `hide_credentials` removes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A request header.
    Header(HeaderName),
    /// A cookie of this name.
    Cookie(String),
    /// These query arguments.
    Query(&'static [&'static str]),
    /// The body (cannot be stripped by the gateway).
    Body,
}

/// A credential found in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A bearer token, to introspect.
    Bearer {
        /// The token (valid as a header value).
        token: String,
        /// Where it was found.
        source: Source,
    },
    /// Resource-owner credentials, for the password grant.
    Password {
        /// User name.
        username: String,
        /// Password.
        password: String,
        /// Where they were found.
        source: Source,
    },
    /// Client credentials, for the client_credentials grant.
    ClientCredentials {
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: String,
        /// Where they were found.
        source: Source,
    },
}

impl Credential {
    /// Where it was found.
    pub fn source(&self) -> &Source {
        match self {
            Credential::Bearer { source, .. }
            | Credential::Password { source, .. }
            | Credential::ClientCredentials { source, .. } => source,
        }
    }

    /// The length of its secret parts in bytes (token, or both halves of a pair).
    pub fn secret_len(&self) -> usize {
        match self {
            Credential::Bearer { token, .. } => token.len(),
            Credential::Password {
                username, password, ..
            } => username.len() + password.len(),
            Credential::ClientCredentials {
                client_id,
                client_secret,
                ..
            } => client_id.len() + client_secret.len(),
        }
    }
}

/// What to look for, compiled from the plugin config.
#[derive(Debug, Clone)]
pub struct ExtractPlan {
    /// `bearer` or `introspection` enabled: look for bearer tokens here.
    pub bearer: Option<Vec<ParamType>>,
    /// Cookie name for bearer tokens.
    pub cookie_name: Option<String>,
    /// `password` enabled: look for credentials here.
    pub password: Option<Vec<ParamType>>,
    /// `client_credentials` enabled: look for credentials here.
    pub client_credentials: Option<Vec<ParamType>>,
    /// `proof_of_possession_dpop` is on: `Authorization: DPoP <token>` carries a token too.
    pub dpop_scheme: bool,
}

impl ExtractPlan {
    /// Compiles the lookup plan from the config (disabled methods get `None`).
    pub fn new(cfg: &OidcConfig) -> Self {
        let on = |m| cfg.method_enabled(m);
        ExtractPlan {
            bearer: (on(AuthMethod::Bearer) || on(AuthMethod::Introspection))
                .then(|| cfg.bearer_token_param_type.clone()),
            cookie_name: cfg.bearer_token_cookie_name.clone(),
            password: on(AuthMethod::Password).then(|| cfg.password_param_type.clone()),
            client_credentials: on(AuthMethod::ClientCredentials)
                .then(|| cfg.client_credentials_param_type.clone()),
            dpop_scheme: cfg.proof_of_possession_dpop.on(),
        }
    }

    /// Whether any lookup reads the body.
    pub fn needs_body(&self) -> bool {
        [&self.bearer, &self.password, &self.client_credentials]
            .iter()
            .any(|p| p.as_ref().is_some_and(|t| t.contains(&ParamType::Body)))
    }

    /// The credential that decides, in Kong's precedence; `None` when there is none.
    pub fn find(&self, req: &RequestParts<'_>) -> Option<Credential> {
        if let Some(types) = &self.bearer {
            if let Some((token, source)) =
                bearer_token(req, types, self.cookie_name.as_deref(), self.dpop_scheme)
            {
                return Some(Credential::Bearer { token, source });
            }
        }
        if let Some(types) = &self.password {
            if grant_type_allows(req.headers, "password") {
                if let Some((username, password, source)) =
                    pair(req, types, &["username", "password"])
                {
                    return Some(Credential::Password {
                        username,
                        password,
                        source,
                    });
                }
            }
        }
        if let Some(types) = &self.client_credentials {
            if grant_type_allows(req.headers, "client_credentials") {
                if let Some((client_id, client_secret, source)) =
                    pair(req, types, &["client_id", "client_secret"])
                {
                    return Some(Credential::ClientCredentials {
                        client_id,
                        client_secret,
                        source,
                    });
                }
            }
        }
        None
    }
}

/// `Grant-Type` / `X-Grant-Type` absent, or equal to `grant`.
fn grant_type_allows(headers: &HeaderMap, grant: &str) -> bool {
    ["grant-type", "x-grant-type"]
        .iter()
        .filter_map(|h| headers.get(*h))
        .all(|v| {
            v.to_str()
                .is_ok_and(|s| s.trim().eq_ignore_ascii_case(grant))
        })
}

/// Looks for a bearer token in `types` order (`dpop`: the `DPoP` authorization scheme counts too).
pub fn bearer_token(
    req: &RequestParts<'_>,
    types: &[ParamType],
    cookie_name: Option<&str>,
    dpop: bool,
) -> Option<(String, Source)> {
    // The first source that has a token decides, usable or not (an unusable one is not passed over for a later
    // source). A token from a header is usable already: the header value was a `str` (only visible ASCII,
    // spaces and tabs) and the token is not empty, so it is not scanned again.
    types
        .iter()
        .find_map(|t| match t {
            ParamType::Header => bearer_from_headers(req.headers, dpop).map(|(v, s)| (v, s, true)),
            ParamType::Cookie => cookie_name.and_then(|name| {
                cookie(req.headers, name).map(|v| (v, Source::Cookie(name.to_owned()), false))
            }),
            ParamType::Query => query_arg(req.query, "access_token")
                .map(|v| (v, Source::Query(&["access_token"]), false)),
            ParamType::Body => body_arg(req, "access_token").map(|v| (v, Source::Body, false)),
        })
        .filter(|(t, _, usable)| *usable || usable_token(t))
        .map(|(t, s, _)| (t, s))
}

/// A token we can forward: non-empty and valid as a header value.
fn usable_token(t: &str) -> bool {
    // `HeaderValue::from_str(t).is_ok()` without building (allocating) the value: visible ASCII, space,
    // tab and non-ASCII bytes; no other control character.
    !t.is_empty() && t.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

fn bearer_from_headers(headers: &HeaderMap, dpop: bool) -> Option<(String, Source)> {
    if let Some((token, _)) = authorization_token(headers, dpop) {
        // A `str` view of a header value: the token is usable once it is not empty.
        return Some((token.to_owned(), Source::Header(AUTHORIZATION)));
    }
    for name in ["access-token", "x-access-token"] {
        if let Some(token) = headers.get(name).and_then(|v| v.to_str().ok()) {
            let token = token.trim();
            if !token.is_empty() {
                return Some((
                    token.to_owned(),
                    Source::Header(HeaderName::from_static(name)),
                ));
            }
        }
    }
    None
}

/// The token of the first `Authorization: Bearer` (or, with `dpop`, `DPoP`) value, and whether its scheme is
/// `DPoP`.
pub fn authorization_token(headers: &HeaderMap, dpop: bool) -> Option<(&str, bool)> {
    headers.get_all(AUTHORIZATION).iter().find_map(|v| {
        let s = v.to_str().ok()?.trim();
        let (scheme, rest) = s.split_once(|c: char| c.is_ascii_whitespace())?;
        let token = rest.trim();
        let is_dpop = dpop && scheme.eq_ignore_ascii_case("dpop");
        ((scheme.eq_ignore_ascii_case("bearer") || is_dpop) && !token.is_empty())
            .then_some((token, is_dpop))
    })
}

/// Decodes `Authorization: Basic` into (user, secret), split at the first `:`.
///
/// The base64 may be padded or not; the halves are taken as-is (no percent-decoding). Both must be
/// non-empty.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    headers.get_all(AUTHORIZATION).iter().find_map(|v| {
        let s = v.to_str().ok()?.trim();
        let (scheme, rest) = s.split_once(|c: char| c.is_ascii_whitespace())?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let raw = LENIENT_B64.decode(rest.trim()).ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (user, pass) = text.split_once(':')?;
        (!user.is_empty() && !pass.is_empty()).then(|| (user.to_owned(), pass.to_owned()))
    })
}

/// Looks for a (name, secret) pair: Basic header, or the two named args in query/body.
fn pair(
    req: &RequestParts<'_>,
    types: &[ParamType],
    names: &'static [&'static str; 2],
) -> Option<(String, String, Source)> {
    types.iter().find_map(|t| match t {
        ParamType::Header => {
            basic_credentials(req.headers).map(|(a, b)| (a, b, Source::Header(AUTHORIZATION)))
        }
        ParamType::Query => {
            let a = query_arg(req.query, names[0])?;
            let b = query_arg(req.query, names[1])?;
            Some((a, b, Source::Query(names)))
        }
        ParamType::Body => {
            let a = body_arg(req, names[0])?;
            let b = body_arg(req, names[1])?;
            Some((a, b, Source::Body))
        }
        ParamType::Cookie => None,
    })
}

/// The first non-empty value of a query argument.
pub fn query_arg(query: Option<&str>, name: &str) -> Option<String> {
    let q = query?.trim_start_matches('?');
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.into_owned())
}

/// A string argument from the body: urlencoded form, else a JSON object key.
pub fn body_arg(req: &RequestParts<'_>, name: &str) -> Option<String> {
    let body = req.body.filter(|b| !b.is_empty())?;
    let ctype = req
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let form = || {
        url::form_urlencoded::parse(body)
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.into_owned())
    };
    let json = || match serde_json::from_slice::<Value>(body).ok()? {
        Value::Object(mut m) => match m.remove(name)? {
            Value::String(s) if !s.is_empty() => Some(s),
            _ => None,
        },
        _ => None,
    };
    if ctype.contains("application/x-www-form-urlencoded") {
        form()
    } else if ctype.contains("json") {
        json()
    } else if ctype.is_empty() {
        json().or_else(form)
    } else {
        None
    }
}

/// A cookie's value from the `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|s| s.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v.trim_matches('"').to_owned())
}

/// The `Cookie` header without the named cookie (`None` when nothing is left).
pub fn cookie_header_without(headers: &HeaderMap, name: &str) -> Option<HeaderValue> {
    let rest: Vec<&str> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|s| s.split(';'))
        .map(str::trim)
        .filter(|kv| !kv.is_empty() && kv.split_once('=').is_none_or(|(k, _)| k != name))
        .collect();
    if rest.is_empty() {
        None
    } else {
        HeaderValue::from_str(&rest.join("; ")).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn req<'a>(h: &'a HeaderMap, q: Option<&'a str>, b: Option<&'a [u8]>) -> RequestParts<'a> {
        RequestParts {
            method: "GET",
            headers: h,
            query: q,
            body: b,
            target: Default::default(),
        }
    }

    const ALL: &[ParamType] = &[
        ParamType::Header,
        ParamType::Cookie,
        ParamType::Query,
        ParamType::Body,
    ];

    #[test]
    fn bearer_header_case_insensitive() {
        let h = headers(&[("authorization", "bEaReR   abc.def")]);
        let got = bearer_token(&req(&h, None, None), ALL, None, false);
        assert_eq!(got, Some(("abc.def".into(), Source::Header(AUTHORIZATION))));
    }

    #[test]
    fn bearer_other_headers() {
        let h = headers(&[
            ("authorization", "Basic Zm9vOmJhcg=="),
            ("x-access-token", "t2"),
        ]);
        let got = bearer_token(&req(&h, None, None), ALL, None, false).unwrap();
        assert_eq!(got.0, "t2");
        let h = headers(&[("access-token", "t1"), ("x-access-token", "t2")]);
        let got = bearer_token(&req(&h, None, None), ALL, None, false).unwrap();
        assert_eq!(
            got,
            (
                "t1".into(),
                Source::Header(HeaderName::from_static("access-token"))
            )
        );
    }

    #[test]
    fn bearer_query_body_cookie() {
        let h = HeaderMap::new();
        let got = bearer_token(
            &req(&h, Some("a=1&access_token=q%2Bt"), None),
            ALL,
            None,
            false,
        );
        assert_eq!(got, Some(("q+t".into(), Source::Query(&["access_token"]))));

        let h = headers(&[("content-type", "application/x-www-form-urlencoded")]);
        let got = bearer_token(&req(&h, None, Some(b"access_token=ft")), ALL, None, false);
        assert_eq!(got, Some(("ft".into(), Source::Body)));

        let h = headers(&[("content-type", "application/json")]);
        let got = bearer_token(
            &req(&h, None, Some(br#"{"access_token":"jt"}"#)),
            ALL,
            None,
            false,
        );
        assert_eq!(got, Some(("jt".into(), Source::Body)));

        let h = headers(&[("cookie", "a=1; at=ct; b=2")]);
        let got = bearer_token(&req(&h, None, None), ALL, Some("at"), false);
        assert_eq!(got, Some(("ct".into(), Source::Cookie("at".into()))));
        assert_eq!(
            cookie_header_without(&h, "at").unwrap().to_str().unwrap(),
            "a=1; b=2"
        );
    }

    #[test]
    fn bearer_order_and_types() {
        let h = headers(&[("authorization", "Bearer h")]);
        let r = req(&h, Some("access_token=q"), None);
        assert_eq!(
            bearer_token(&r, &[ParamType::Query, ParamType::Header], None, false)
                .unwrap()
                .0,
            "q"
        );
        assert_eq!(bearer_token(&r, &[ParamType::Body], None, false), None);
    }

    #[test]
    fn rejects_unusable_tokens() {
        let h = HeaderMap::new();
        assert_eq!(
            bearer_token(&req(&h, Some("access_token=a%0Ab"), None), ALL, None, false),
            None
        );
        assert_eq!(
            bearer_token(&req(&h, Some("access_token="), None), ALL, None, false),
            None
        );
    }

    #[test]
    fn usable_token_agrees_with_header_value_for_every_character() {
        // Every ASCII byte and a few non-ASCII characters, alone and inside a token.
        let mut chars: Vec<char> = (0u8..0x80).map(char::from).collect();
        chars.extend(['\u{80}', 'é', '\u{7ff}', '€', '\u{10ffff}']);
        for c in chars {
            for t in [c.to_string(), format!("ab{c}cd")] {
                assert_eq!(
                    usable_token(&t),
                    HeaderValue::from_str(&t).is_ok(),
                    "{:?}",
                    t
                );
            }
        }
        assert!(!usable_token(""));
    }

    #[test]
    fn basic_decoding() {
        let b = |v: &str| basic_credentials(&headers(&[("authorization", v)]));
        assert_eq!(b("Basic am9objpkb2U="), Some(("john".into(), "doe".into())));
        assert_eq!(b("basic am9objpkb2U"), Some(("john".into(), "doe".into())));
        // split at the first ':' only
        assert_eq!(
            b("Basic am9objpkOm9l"),
            Some(("john".into(), "d:oe".into()))
        );
        // no percent-decoding: "a%3Ab:c"
        assert_eq!(b("Basic YSUzQWI6Yw=="), Some(("a%3Ab".into(), "c".into())));
        assert_eq!(b("Basic bm9jb2xvbg=="), None); // "nocolon"
        assert_eq!(b("Basic OnBhc3M="), None); // ":pass"
        assert_eq!(b("Basic !!!"), None);
        assert_eq!(b("Basic //8="), None); // not UTF-8
        assert_eq!(b("Bearer am9objpkb2U="), None);
        assert_eq!(b("Basic"), None);
    }

    fn cfg(methods: &[AuthMethod]) -> ExtractPlan {
        let mut c = OidcConfig::with_issuer("http://idp/");
        c.auth_methods = methods.to_vec();
        ExtractPlan::new(&c)
    }

    #[test]
    fn precedence() {
        use AuthMethod::*;
        let all = cfg(&[Password, ClientCredentials, Introspection]);
        let h = headers(&[
            ("authorization", "Basic am9objpkb2U="),
            ("x-access-token", "t"),
        ]);
        assert!(matches!(
            all.find(&req(&h, None, None)),
            Some(Credential::Bearer { .. })
        ));

        let h = headers(&[("authorization", "Basic am9objpkb2U=")]);
        assert!(matches!(
            all.find(&req(&h, None, None)),
            Some(Credential::Password { .. })
        ));

        let h = headers(&[
            ("authorization", "Basic am9objpkb2U="),
            ("grant-type", "client_credentials"),
        ]);
        assert!(matches!(
            all.find(&req(&h, None, None)),
            Some(Credential::ClientCredentials { .. })
        ));

        let h = headers(&[
            ("authorization", "Basic am9objpkb2U="),
            ("x-grant-type", "refresh_token"),
        ]);
        assert_eq!(all.find(&req(&h, None, None)), None);

        let intro = cfg(&[Introspection]);
        let h = headers(&[("authorization", "Basic am9objpkb2U=")]);
        assert_eq!(intro.find(&req(&h, None, None)), None);

        let pw = cfg(&[Password]);
        let h = headers(&[("authorization", "Bearer t")]);
        assert_eq!(pw.find(&req(&h, None, None)), None);
        let h = HeaderMap::new();
        assert_eq!(
            pw.find(&req(&h, Some("username=u&password=p"), None)),
            Some(Credential::Password {
                username: "u".into(),
                password: "p".into(),
                source: Source::Query(&["username", "password"])
            })
        );
        assert_eq!(all.find(&req(&h, None, None)), None);
    }

    #[test]
    fn needs_body() {
        use AuthMethod::*;
        assert!(cfg(&[Introspection]).needs_body());
        let mut c = OidcConfig::with_issuer("http://idp/");
        c.auth_methods = vec![Introspection];
        c.bearer_token_param_type = vec![ParamType::Header];
        assert!(!ExtractPlan::new(&c).needs_body());
    }
}

//! Property tests (the fuzzing that fits a stable toolchain): token extraction and the Basic decoder never
//! panic on hostile input, and round-trip what they should. Cases: `PROPTEST_CASES` (256 by default in
//! `make test`, many more in `make fuzz`).

use base64::Engine as _;
use gateway_auth::extract::{basic_credentials, bearer_token, body_arg, cookie, query_arg};
use gateway_auth::RequestParts;
use gateway_config::plugins::openid_connect::ParamType;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;

const ALL: &[ParamType] = &[
    ParamType::Header,
    ParamType::Cookie,
    ParamType::Query,
    ParamType::Body,
];

fn header_map(pairs: &[(String, Vec<u8>)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            h.append(n, v);
        }
    }
    h
}

fn header_names() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "authorization",
        "access-token",
        "x-access-token",
        "cookie",
        "content-type",
        "x-other",
    ])
    .prop_map(str::to_owned)
}

/// Header values that often look like credentials.
fn header_values() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        "(Bearer|bearer|Basic|basic|BASIC)[ \t]{0,3}[ -~]{0,40}".prop_map(String::into_bytes),
        "([a-z_]{1,8}=[ -~]{0,10}; ?){0,4}".prop_map(String::into_bytes),
    ]
}

proptest! {
    #[test]
    fn extraction_never_panics(
        headers in prop::collection::vec((header_names(), header_values()), 0..6),
        query in proptest::option::of("[ -~]{0,80}"),
        body in proptest::option::of(prop::collection::vec(any::<u8>(), 0..200)),
        content_type in prop::sample::select(vec![
            "application/x-www-form-urlencoded", "application/json", "text/plain", "",
        ]),
        method in prop::sample::select(vec!["GET", "POST", "PUT"]),
    ) {
        let mut pairs = headers;
        pairs.push(("content-type".to_owned(), content_type.as_bytes().to_vec()));
        let h = header_map(&pairs);
        let req = RequestParts { method, headers: &h, query: query.as_deref(), body: body.as_deref(), target: Default::default() };
        if let Some((token, _)) = bearer_token(&req, ALL, Some("session"), false) {
            prop_assert!(!token.is_empty());
            prop_assert!(HeaderValue::from_str(&token).is_ok());
        }
        let _ = basic_credentials(&h);
        let _ = query_arg(req.query, "access_token");
        let _ = body_arg(&req, "access_token");
        let _ = cookie(&h, "session");
    }

    #[test]
    fn basic_round_trips(user in "[!-9;-~]{1,40}", pass in "[ -~]{1,40}", pad in any::<bool>()) {
        let raw = format!("{user}:{pass}");
        let b64 = if pad {
            base64::engine::general_purpose::STANDARD.encode(&raw)
        } else {
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(&raw)
        };
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(&format!("Basic {b64}")).unwrap());
        prop_assert_eq!(basic_credentials(&h), Some((user, pass)));
    }

    #[test]
    fn basic_never_panics_on_any_bytes(value in prop::collection::vec(any::<u8>(), 0..128)) {
        let mut v = b"Basic ".to_vec();
        v.extend_from_slice(&value);
        let h = header_map(&[("authorization".to_owned(), v)]);
        let _ = basic_credentials(&h);
    }

    #[test]
    fn bearer_header_round_trips(token in "[!-~]{1,200}") {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
        let req = RequestParts { method: "GET", headers: &h, query: None, body: None, target: Default::default() };
        let found = bearer_token(&req, &[ParamType::Header], None, false).map(|(t, _)| t);
        prop_assert_eq!(found, Some(token));
    }

    #[test]
    fn query_token_round_trips(token in "[!-~]{1,100}") {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("x", "1")
            .append_pair("access_token", &token)
            .finish();
        let h = HeaderMap::new();
        let req = RequestParts { method: "GET", headers: &h, query: Some(&query), body: None, target: Default::default() };
        let found = bearer_token(&req, &[ParamType::Query], None, false).map(|(t, _)| t);
        prop_assert_eq!(found, Some(token));
    }
}

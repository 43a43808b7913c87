//! Helpers shared by the crate's unit tests: a `GET` with a bearer token through an [`Authenticator`], and
//! unwrapping a [`Decision`] into the side a test expects.

use http::{HeaderMap, HeaderValue};

use crate::{Authenticator, Decision, Denial, RequestParts, Upstream};

/// `a`'s decision for a `GET` with `Authorization: Bearer <token>` (no query, no body).
pub async fn call(a: &Authenticator, token: &str) -> Decision {
    let mut h = HeaderMap::new();
    h.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).expect("a test token is a header value"),
    );
    a.authenticate(&RequestParts {
        method: "GET",
        headers: &h,
        query: None,
        body: None,
        target: Default::default(),
    })
    .await
}

/// The denial of `d`; panics (failing the test) when `d` allows.
pub fn denial(d: Decision) -> Denial {
    match d {
        Decision::Deny(d) => d,
        Decision::Allow(u) => panic!("expected a denial, got {u:?}"),
    }
}

/// The upstream changes of `d`; panics (failing the test) when `d` denies.
pub fn allowed(d: Decision) -> Upstream {
    match d {
        Decision::Allow(u) => u,
        Decision::Deny(d) => panic!("expected allow, got {} {:?}", d.status, d.body),
    }
}

//! The request's headers as the upstream would get them when request-transformer runs (Kong's
//! `kong.request.get_headers()` after the plugins before it): what its header edits and templates work on.

use http::{HeaderMap, HeaderName};

use crate::plugins::openid_connect::identity::IDENTITY_HEADERS;
use crate::plugins::{Exchange, Request};

/// The request's headers as the upstream would get them so far (Kong's `kong.request.get_headers()` after the
/// plugins before this one): openid-connect's changes, the identity headers, the other plugins' edits.
pub(super) fn upstream_view(req: &Request<'_>, ex: &Exchange) -> HeaderMap {
    let mut h = req.headers.clone();
    if let Some(up) = ex.upstream.as_ref() {
        for name in &up.remove_headers {
            h.remove(name);
        }
        for (name, value) in &up.set_headers {
            h.insert(name.clone(), value.clone());
        }
    }
    for name in &IDENTITY_HEADERS {
        h.remove(name);
    }
    for (name, value) in ex.caller.headers(&req.snap.consumer_headers) {
        h.insert(name.clone(), value.clone());
    }
    for (name, value) in &ex.edits.headers {
        match value {
            Some(v) => h.insert(name.clone(), v.clone()),
            None => h.remove(name),
        };
    }
    for (name, value) in &ex.edits.header_values {
        h.append(name.clone(), value.clone());
    }
    h
}

/// Whether `name` is in [`upstream_view`] (the same steps, for one name).
pub(super) fn in_upstream_view(req: &Request<'_>, ex: &Exchange, name: &HeaderName) -> bool {
    let mut has = req.headers.contains_key(name);
    if let Some(up) = ex.upstream.as_ref() {
        if up.remove_headers.contains(name) {
            has = false;
        }
        if up.set_headers.iter().any(|(n, _)| n == name) {
            has = true;
        }
    }
    if IDENTITY_HEADERS.contains(name) {
        has = false;
    }
    if (ex.caller.headers(&req.snap.consumer_headers)).any(|(n, _)| n == name) {
        has = true;
    }
    for (n, value) in &ex.edits.headers {
        if n == name {
            has = value.is_some();
        }
    }
    has || ex.edits.header_values.iter().any(|(n, _)| n == name)
}

//! The openid-connect plugin logic: token lookup, introspection, grants, cache, claim checks, RFC 6750 errors.
//!
//! No Pingora here: the gateway hands in plain request parts ([`RequestParts`]) and gets back a
//! [`Decision`] (allow with upstream header changes, or deny with a ready response).
//! [`AuthRegistry`] keeps one [`Authenticator`] (and so one token cache) per distinct plugin config.
//! An authenticator is a pure decision ([`decide::decide`] under a [`decide::Policy`]) fed by an
//! I/O side ([`idp::Idp`]: discovery, IdP calls, caches, cluster cache, breakers); everything counts
//! on one [`AuthMetrics`], registered on the registry the server hands to [`AuthRegistry::new`].

pub mod assertion;
pub mod authenticator;
pub mod breaker;
pub mod cache;
pub mod cert_binding;
pub mod claims;
pub mod cluster;
pub mod decide;
pub mod discovery;
pub mod dpop;
pub mod errors;
pub mod extract;
#[cfg(test)]
mod fake_idp;
pub mod grants;
pub mod groups;
pub mod http_client;
pub mod http_clients;
pub mod idp;
pub mod introspect;
pub mod jwt;
pub mod metrics;
pub mod mtls;
#[cfg(test)]
mod outage_tests;
pub mod registry;
pub mod resource_metadata;
pub mod resurrect;
#[cfg(test)]
mod test_support;
pub mod token_memo;
pub mod trace;
pub mod upstream;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

pub use authenticator::Authenticator;
pub use groups::Groups;
pub use metrics::AuthMetrics;
pub use registry::{AuthRegistry, AuthRegistryBuilder};

/// The parts of a downstream request the plugin looks at.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// HTTP method (`GET`, `POST`, ...).
    pub method: &'a str,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// Raw query string, without the leading `?`.
    pub query: Option<&'a str>,
    /// The request body, when the gateway read it (see [`Authenticator::needs_body`]).
    pub body: Option<&'a [u8]>,
    /// Where the client sent the request (DPoP's `htu` is checked against it).
    pub target: Target<'a>,
}

/// The request's URL as the client saw it, without query: scheme, authority and path.
#[derive(Debug, Clone, Copy, Default)]
pub struct Target<'a> {
    /// The request came over TLS.
    pub https: bool,
    /// `Host` (or the HTTP/2 `:authority`).
    pub authority: Option<&'a str>,
    /// The path as received (no query).
    pub path: &'a str,
    /// The SHA-256 of the client's TLS certificate (DER), when it presented one (RFC 8705 binding).
    pub client_cert_sha256: Option<&'a [u8]>,
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Proxy it, with these changes to the upstream request.
    Allow(Upstream),
    /// Answer it with this response.
    Deny(Denial),
}

/// Changes to the upstream request after a successful authentication.
///
/// Apply `remove_headers` first, then `set_headers` (which replace any existing value), then drop the
/// `remove_query_args` from the query string. A header never appears in both lists.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Upstream {
    /// Headers to set (replacing existing values).
    pub set_headers: Vec<(HeaderName, HeaderValue)>,
    /// A name in `set_headers` whose value the request already has as its only value of that name (the token
    /// header, when the client sent exactly `Authorization: Bearer <token>`): an HTTP/1 upstream request
    /// needs no insert for it. (An HTTP/2 one still takes the set value, which is marked sensitive so that
    /// HPACK never indexes it.)
    pub same_as_request: Option<HeaderName>,
    /// Headers to remove.
    pub remove_headers: Vec<HeaderName>,
    /// Query arguments to remove (by name).
    pub remove_query_args: Vec<String>,
    /// Who is calling, from the token's claims (for consumer mapping and `X-Credential-Identifier`).
    pub identity: Identity,
}

/// The identity claims of an authenticated request (`consumer_claim`, `credential_claim`), when the
/// token's claims were read (introspection).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Identity {
    /// The `consumer_claim` value.
    pub consumer_claim: Option<HeaderValue>,
    /// The `credential_claim` value.
    pub credential: Option<HeaderValue>,
    /// The `authenticated_groups_claim` groups (for `acl`).
    pub groups: Option<Groups>,
}

/// A ready-made error response.
#[derive(Debug, Clone, PartialEq)]
pub struct Denial {
    /// HTTP status (401, 403 or 500).
    pub status: u16,
    /// Response headers (`Content-Type`, and `WWW-Authenticate` for 401/403). Shared: a policy's 401 and
    /// 403 are rendered once and every denial of them is a clone, which costs a reference count, not a
    /// vector and its headers.
    pub headers: std::sync::Arc<[(HeaderName, HeaderValue)]>,
    /// JSON body, e.g. `{"message":"Unauthorized"}`.
    pub body: Bytes,
}

//! One `extra_issuers` entry (gateway extension): its typed form and its schema.

use serde::{Deserialize, Serialize};

use super::ClientAuthMethod;
use crate::plugins::fields::{field, DefaultValue as D, Field, Kind};

/// One entry of `extra_issuers` (gateway extension): another issuer whose tokens this route accepts,
/// with the gateway's own client there. Every other setting (timeouts, caches, claims checks, upstream
/// headers, `introspection_accept`, ...) is the plugin's; the plugin's client credentials, extra
/// introspection headers and arguments are never sent to this issuer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtraIssuer {
    /// Issuer or discovery URL (required); its `iss` selects it for JWTs.
    pub issuer: String,
    /// Explicit introspection endpoint (unset: the issuer's discovery).
    pub introspection_endpoint: Option<String>,
    /// The gateway's client id at this issuer (unset: no client authentication).
    pub client_id: Option<String>,
    /// The matching client secret.
    pub client_secret: Option<String>,
    /// Client authentication for this issuer's introspection endpoint (unset: the plugin's
    /// `introspection_endpoint_auth_method`, else its `client_auth`, else `client_secret_basic`).
    pub introspection_endpoint_auth_method: Option<ClientAuthMethod>,
}

/// The fields of an `extra_issuers` entry, in schema order.
pub const EXTRA_ISSUER_FIELDS: &[Field] = &[
    field("issuer", Kind::Url, D::Required),
    field("introspection_endpoint", Kind::Url, D::Null),
    field("client_id", Kind::Str, D::Null),
    field("client_secret", Kind::Str, D::Null),
    field(
        "introspection_endpoint_auth_method",
        Kind::OneOf(ClientAuthMethod::NAMES),
        D::Null,
    ),
];

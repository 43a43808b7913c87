//! Kong's `tls-handshake-modifier` plugin (priority 997): makes the TLS listener *request* (not require, not
//! verify) the client's certificate, so that openid-connect's `proof_of_possession_mtls` can compare a token's
//! `cnf.x5t#S256` with it (RFC 8705). One field, Kong's only value.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::{field, normalize, DefaultValue as D, Field, Kind};
use crate::error::FieldError;

/// The typed `tls-handshake-modifier` config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TlsHandshakeModifierConfig {
    /// `REQUEST`: ask for a client certificate during the handshake (a client without one still connects).
    pub tls_client_certificate: String,
}

/// The schema, in Kong's order.
pub const FIELDS: &[Field] = &[field(
    "tls_client_certificate",
    Kind::OneOf(&["REQUEST"]),
    D::Str("REQUEST"),
)];

impl TlsHandshakeModifierConfig {
    /// Parses and checks a raw `config`.
    pub fn from_value(value: &Value) -> Result<Self, Vec<FieldError>> {
        let map = normalize(FIELDS, value)?;
        serde_json::from_value(Value::Object(map))
            .map_err(|e| vec![FieldError::new("", e.to_string())])
    }

    /// The whole config with defaults filled in, in schema order.
    pub fn to_value_with_defaults(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

//! Kong's `tls-handshake-modifier` (priority 997): it acts in the TLS handshake, not on requests. An enabled
//! global instance makes the `ssl` listeners request a client certificate (`crate::tls`, from the snapshot's
//! [`crate::snapshot::Snapshot::request_client_cert`]); the certificate's SHA-256 then reaches openid-connect's
//! `proof_of_possession_mtls` through the request view. This instance runs in no request phase.

use super::{Phases, Plugin};

/// The running plugin: nothing per request.
pub struct TlsHandshakeModifier;

impl Plugin for TlsHandshakeModifier {
    fn name(&self) -> &'static str {
        "tls-handshake-modifier"
    }

    fn phases(&self) -> Phases {
        Phases::default()
    }
}

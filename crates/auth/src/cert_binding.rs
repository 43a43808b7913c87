//! Certificate-bound tokens (RFC 8705, Kong's `proof_of_possession_mtls`): an active token's `cnf.x5t#S256`
//! against the SHA-256 thumbprint of the certificate the client presented on its TLS connection. The
//! certificate is not verified against a CA here (Kong's `tls-handshake-modifier` only requests it): the
//! binding is the proof, as the IdP bound the token to that exact certificate.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use gateway_config::plugins::openid_connect::PopMode;

use crate::decide::Found;
use crate::dpop::constant_eq;
use crate::errors::Failure;

/// Checks an active bearer token's binding under `mode` (`off`: nothing). `optional`: only tokens with
/// `cnf.x5t#S256`; `strict`: every token must have it. Granted tokens are the gateway's own: not checked.
pub fn check<'c>(
    mode: PopMode,
    cert_sha256: Option<&[u8]>,
    found: Found<'c>,
) -> Result<Found<'c>, Failure> {
    let Found::Bearer { info, .. } = &found else {
        return Ok(found);
    };
    if mode == PopMode::Off || !info.active {
        return Ok(found);
    }
    let presented = cert_sha256.map(|c| URL_SAFE_NO_PAD.encode(c));
    match (info.cnf_x5t(), presented) {
        (Some(bound), Some(p)) if constant_eq(bound, &p) => Ok(found),
        (None, _) if mode == PopMode::Optional => Ok(found),
        _ => Err(Failure::MtlsBound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::introspect::Introspected;
    use std::sync::Arc;

    fn token(x5t: Option<&str>) -> Arc<Introspected> {
        let mut i = Introspected {
            active: true,
            ..Introspected::purged()
        };
        i.update_extras(|e| e.cnf_x5t = x5t.map(Box::from));
        Arc::new(i)
    }

    fn run(mode: PopMode, cert: Option<&[u8]>, x5t: Option<&str>) -> bool {
        let found = Found::Bearer {
            token: "t",
            info: token(x5t),
        };
        check(mode, cert, found).is_ok()
    }

    #[test]
    fn the_binding() {
        let cert = [7u8; 32];
        let x5t = URL_SAFE_NO_PAD.encode(cert);
        for mode in [PopMode::Optional, PopMode::Strict] {
            assert!(run(mode, Some(&cert), Some(&x5t)), "its certificate");
            assert!(
                !run(mode, Some(&[8u8; 32]), Some(&x5t)),
                "another certificate"
            );
            assert!(!run(mode, None, Some(&x5t)), "no certificate");
        }
        assert!(run(PopMode::Optional, None, None), "unbound, optional");
        assert!(
            run(PopMode::Optional, Some(&cert), None),
            "unbound, optional"
        );
        assert!(!run(PopMode::Strict, Some(&cert), None), "unbound, strict");
        assert!(run(PopMode::Off, None, Some(&x5t)), "off");
        let inactive = Found::Bearer {
            token: "t",
            info: Arc::new(Introspected::purged()),
        };
        assert!(
            check(PopMode::Strict, None, inactive).is_ok(),
            "refused later as inactive"
        );
    }
}

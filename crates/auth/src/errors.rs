//! Failures (one `thiserror` enum per kind) and the Kong-compatible 401/403/500 responses they become.
//!
//! Nothing here carries IdP response text: IdP errors keep only their kind and status code, and the
//! reason shown with `display_errors` is a fixed phrase per failure.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::HeaderValue;
use thiserror::Error;

use crate::metrics::{IdpResult, Outcome};
use crate::Denial;

/// Which IdP endpoint a request went to (also the `endpoint` metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/.well-known/openid-configuration`.
    Discovery,
    /// The RFC 7662 introspection endpoint.
    Introspection,
    /// The token endpoint (password and client_credentials grants).
    Token,
    /// A JWKS document (discovery's `jwks_uri`, `extra_jwks_uris`).
    Jwks,
}

impl Endpoint {
    /// Every variant, in index order (metric children are resolved per endpoint).
    pub const ALL: [Endpoint; 4] = [
        Endpoint::Discovery,
        Endpoint::Introspection,
        Endpoint::Token,
        Endpoint::Jwks,
    ];

    /// Short lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Discovery => "discovery",
            Endpoint::Introspection => "introspection",
            Endpoint::Token => "token",
            Endpoint::Jwks => "jwks",
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed call to the IdP. Never holds response bodies.
#[derive(Debug, Error)]
pub enum IdpError {
    /// No answer within `timeout`.
    #[error("{endpoint} request timed out")]
    Timeout {
        /// Endpoint called.
        endpoint: Endpoint,
    },
    /// Connection refused, reset, TLS failure, ...
    #[error("{endpoint} request failed: {message}")]
    Transport {
        /// Endpoint called.
        endpoint: Endpoint,
        /// The transport error (without URL).
        message: String,
    },
    /// A status other than 200.
    #[error("invalid status code received from the {endpoint} endpoint ({status})")]
    Status {
        /// Endpoint called.
        endpoint: Endpoint,
        /// Status received.
        status: u16,
    },
    /// A body that is empty, too large, not JSON, or not a JSON object.
    #[error("invalid {endpoint} response: {what}")]
    InvalidBody {
        /// Endpoint called.
        endpoint: Endpoint,
        /// What was wrong (fixed phrase).
        what: &'static str,
    },
    /// A required member is missing from the response.
    #[error("{endpoint} response has no {field}")]
    MissingField {
        /// Endpoint called.
        endpoint: Endpoint,
        /// The member's name.
        field: &'static str,
    },
    /// A signed (RFC 9701) response that does not verify: refused, and not an outage (never served stale,
    /// never a 503).
    #[error("{endpoint} response signature or claims not valid: {why}")]
    Unverified {
        /// Endpoint called.
        endpoint: Endpoint,
        /// What failed (fixed phrase).
        why: String,
    },
    /// Not sent: the endpoint's circuit breaker is open (see `breaker`).
    #[error("{endpoint} circuit breaker is open")]
    CircuitOpen {
        /// Endpoint not called.
        endpoint: Endpoint,
    },
}

impl IdpError {
    /// The `result` metric label.
    pub fn result(&self) -> IdpResult {
        match self {
            IdpError::Timeout { .. } => IdpResult::Timeout,
            IdpError::Transport { .. } => IdpResult::Transport,
            IdpError::Status { .. } => IdpResult::Status,
            IdpError::InvalidBody { .. }
            | IdpError::MissingField { .. }
            | IdpError::Unverified { .. } => IdpResult::InvalidResponse,
            IdpError::CircuitOpen { .. } => IdpResult::CircuitOpen,
        }
    }

    /// Whether this is an outage of the IdP (counted by the circuit breaker, allows serving a stale
    /// result with `cache_ttl_resurrect`): anything but a 4xx answer other than 429. A 4xx is the
    /// IdP's answer about the request (e.g. a wrong password), not a failure of the IdP.
    pub fn is_outage(&self) -> bool {
        match self {
            IdpError::Status { status, .. } => !(400..500).contains(status) || *status == 429,
            IdpError::Unverified { .. } => false,
            _ => true,
        }
    }
}

/// Discovery needed but impossible.
#[derive(Debug, Error)]
pub enum DiscoveryError {
    /// The last attempt failed less than `rediscovery_lifetime` ago.
    #[error("discovery failed recently; next attempt after rediscovery_lifetime")]
    Backoff,
    /// The discovery request failed.
    #[error("discovery request failed: {0}")]
    Fetch(#[from] IdpError),
    /// The discovery document lacks an endpoint we need.
    #[error("discovery document has no {0}")]
    MissingEndpoint(&'static str),
}

/// Why a request is not allowed; each variant maps to one status.
#[derive(Debug, Error)]
pub enum Failure {
    /// No credential of an enabled method was found (401).
    #[error("no suitable authorization credentials were provided")]
    NoCredentials,
    /// The IdP says the token is not active (401).
    #[error("token is not active")]
    Inactive,
    /// The token's `exp` (plus leeway) has passed (401).
    #[error("token has expired")]
    Expired,
    /// A credential longer than the gateway accepts (401; the IdP is not called).
    #[error("credential longer than the limit")]
    CredentialTooLong,
    /// The introspection call failed (401).
    #[error("introspection failed: {0}")]
    Introspection(IdpError),
    /// The token endpoint call failed (401).
    #[error("token request failed: {0}")]
    Token(IdpError),
    /// A JWT access token was not accepted (`bearer`; 401).
    #[error("{0}")]
    Jwt(crate::jwt::JwtError),
    /// `scopes_required` not met (403).
    #[error("required scopes are missing")]
    Scopes,
    /// `audience_required` not met (403).
    #[error("required audience is missing")]
    Audience,
    /// `groups_required` not met (403).
    #[error("required groups are missing")]
    Groups,
    /// `roles_required` not met (403).
    #[error("required roles are missing")]
    Roles,
    /// One of `claims_forbidden` is in the token (403).
    #[error("a forbidden claim is present")]
    ForbiddenClaim,
    /// Discovery needed but impossible (500).
    #[error("{0}")]
    Discovery(#[from] DiscoveryError),
    /// The shared HTTP client could not be built (500).
    #[error("IdP HTTP client unavailable: {0}")]
    Setup(String),
    /// The DPoP proof is missing, forged, expired or replayed (401 `invalid_dpop_proof`).
    #[error("{0}")]
    Dpop(crate::dpop::ProofError),
    /// The DPoP proof lacks a valid server nonce; carries a fresh one (401 `use_dpop_nonce`, `DPoP-Nonce`).
    #[error("DPoP proof without a valid server nonce")]
    DpopNonce(String),
    /// `proof_of_possession_dpop: strict` and the token came without the `DPoP` scheme (401).
    #[error("DPoP required and the token was presented as a bearer token")]
    DpopRequired,
    /// A DPoP-bound token without its key's proof, or a proof for a token not bound to its key (401).
    #[error("token not bound to the DPoP proof's key")]
    DpopBound,
    /// A certificate-bound token without its certificate, or a token not bound to the presented one (401).
    #[error("token not bound to the client certificate")]
    MtlsBound,
}

impl Failure {
    /// The response status for this failure.
    pub fn status(&self) -> u16 {
        match self {
            Failure::Scopes
            | Failure::Audience
            | Failure::Groups
            | Failure::Roles
            | Failure::ForbiddenClaim => 403,
            Failure::Discovery(_) | Failure::Setup(_) => 500,
            _ => 401,
        }
    }

    /// The reason shown with `display_errors`: a fixed phrase, never IdP text.
    pub fn public_reason(&self) -> &'static str {
        match self {
            Failure::NoCredentials => "no suitable authorization credentials were provided",
            Failure::Inactive => "the token is not active",
            Failure::Expired => "the token has expired",
            Failure::CredentialTooLong => "the credential is too long",
            Failure::Introspection(_) => "unable to introspect the token",
            Failure::Token(_) => "unable to get a token from the token endpoint",
            Failure::Jwt(crate::jwt::JwtError::Keys(_)) => "unable to get the issuer's keys",
            Failure::Jwt(_) => "the token could not be verified",
            Failure::Scopes => "required scopes were not found",
            Failure::Audience => "required audience was not found",
            Failure::Groups => "required groups were not found",
            Failure::Roles => "required roles were not found",
            Failure::ForbiddenClaim => "forbidden claims were found",
            Failure::Discovery(_) | Failure::Setup(_) => "an unexpected error occurred",
            Failure::Dpop(_) => "the DPoP proof is not valid",
            Failure::DpopNonce(_) => "the DPoP proof needs the server nonce",
            Failure::DpopRequired => "the token must be presented with a DPoP proof",
            Failure::DpopBound => "the token is not bound to the DPoP proof's key",
            Failure::MtlsBound => "the token is not bound to the client certificate",
        }
    }

    /// Whether its response differs from the config's usual 401 (a `DPoP` challenge, a nonce): then it is
    /// rendered, never cloned from the prebuilt one.
    pub fn own_challenge(&self) -> bool {
        matches!(
            self,
            Failure::Dpop(_) | Failure::DpopNonce(_) | Failure::DpopRequired | Failure::DpopBound
        )
    }

    /// The `outcome` metric label.
    pub fn outcome(&self) -> Outcome {
        Outcome::of_status(self.status())
    }

    /// Whether the IdP could not answer (timeout, refused, 5xx/429, unusable body, open circuit) on the
    /// way to a 401: what `idp_outage_status: 503` turns into a 503. Discovery failures stay 500.
    pub fn is_outage(&self) -> bool {
        match self {
            Failure::Introspection(e) | Failure::Token(e) => e.is_outage(),
            Failure::Jwt(e) => e.is_outage(),
            _ => false,
        }
    }

    /// The failure of a call to `endpoint`: a token-endpoint failure, a discovery failure, or (any
    /// other endpoint) an introspection failure.
    pub fn of_idp(endpoint: Endpoint, error: IdpError) -> Failure {
        match endpoint {
            Endpoint::Token => Failure::Token(error),
            Endpoint::Discovery => Failure::Discovery(DiscoveryError::Fetch(error)),
            Endpoint::Introspection => Failure::Introspection(error),
            Endpoint::Jwks => Failure::Jwt(crate::jwt::JwtError::Keys(error)),
        }
    }
}

/// How denials look for one plugin config.
#[derive(Debug, Clone)]
pub struct ErrorStyle {
    /// `realm` of `WWW-Authenticate` (the issuer's host).
    pub realm: String,
    /// Add the reason to the message.
    pub display_errors: bool,
    /// Add `error="..."` to `WWW-Authenticate`.
    pub expose_error_code: bool,
    /// Message of 401s.
    pub unauthorized_message: String,
    /// Message of 403s.
    pub forbidden_message: String,
    /// DPoP on: the accepted proof algorithms (the `algs` of `DPoP` challenges).
    pub dpop_algs: Option<String>,
    /// `proof_of_possession_dpop: strict`: every challenge uses the `DPoP` scheme.
    pub dpop_strict: bool,
    /// RFC 9728: the metadata URL linked from 401s (`resource_metadata`).
    pub resource_metadata: Option<String>,
}

/// The message of the 503 for an IdP outage.
pub const UNAVAILABLE_MESSAGE: &str = "Service Unavailable";

/// The 500 body, as Kong writes it.
pub const UNEXPECTED_BODY: &str = r#"{"message":"An unexpected error occurred"}"#;

impl ErrorStyle {
    /// The config's `display_errors`, `expose_error_code` and messages; the realm is the issuer's host.
    pub fn new(cfg: &gateway_config::plugins::openid_connect::OidcConfig) -> Self {
        ErrorStyle {
            realm: Self::realm_of(&cfg.issuer),
            display_errors: cfg.display_errors,
            expose_error_code: cfg.expose_error_code,
            unauthorized_message: cfg.unauthorized_error_message.clone(),
            forbidden_message: cfg.forbidden_error_message.clone(),
            dpop_algs: cfg
                .proof_of_possession_dpop
                .on()
                .then(|| crate::dpop::Dpop::algs_text(cfg)),
            dpop_strict: cfg.proof_of_possession_dpop
                == gateway_config::plugins::openid_connect::PopMode::Strict,
            resource_metadata: (cfg.protected_resource_metadata.enabled)
                .then(|| cfg.protected_resource_metadata.endpoint_url())
                .flatten(),
        }
    }

    /// The realm for an issuer URL: its host, else `kong` (Kong's default realm).
    pub fn realm_of(issuer: &str) -> String {
        url::Url::parse(issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "kong".to_owned())
    }

    /// The response for a failure.
    pub fn render(&self, failure: &Failure) -> Denial {
        let general = if self.dpop_strict { "DPoP" } else { "Bearer" };
        match failure.status() {
            401 => {
                let (scheme, code) = match failure {
                    Failure::Dpop(_) => ("DPoP", "invalid_dpop_proof"),
                    Failure::DpopNonce(_) => ("DPoP", "use_dpop_nonce"),
                    Failure::DpopRequired | Failure::DpopBound => ("DPoP", "invalid_token"),
                    _ => (general, "invalid_token"),
                };
                let reason = failure.public_reason();
                let mut d = self.challenge(401, scheme, code, &self.unauthorized_message, reason);
                if let Failure::DpopNonce(nonce) = failure {
                    if let Ok(v) = HeaderValue::from_str(nonce) {
                        let mut headers = d.headers.to_vec();
                        headers.push((http::HeaderName::from_static("dpop-nonce"), v));
                        d.headers = headers.into();
                    }
                }
                d
            }
            403 => self.challenge(
                403,
                general,
                "insufficient_scope",
                &self.forbidden_message,
                failure.public_reason(),
            ),
            _ => unexpected(),
        }
    }

    /// The 503 for an IdP outage (`idp_outage_status: 503`): `Retry-After` in whole seconds (≥ 1), no
    /// `WWW-Authenticate` (the token was not judged).
    pub fn unavailable(&self, failure: &Failure, retry_after_secs: u64) -> Denial {
        let message = if self.display_errors {
            format!("{UNAVAILABLE_MESSAGE} ({})", failure.public_reason())
        } else {
            UNAVAILABLE_MESSAGE.to_owned()
        };
        Denial {
            status: 503,
            headers: [
                (
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/json; charset=utf-8"),
                ),
                (
                    http::header::RETRY_AFTER,
                    HeaderValue::from(retry_after_secs.max(1)),
                ),
            ]
            .into(),
            body: Bytes::from(serde_json::json!({ "message": message }).to_string()),
        }
    }

    fn challenge(
        &self,
        status: u16,
        scheme: &str,
        code: &str,
        message: &str,
        reason: &str,
    ) -> Denial {
        let realm = self.realm.replace(['"', '\\'], "");
        let mut www = format!("{scheme} realm=\"{realm}\"");
        // `use_dpop_nonce` is how a client learns to retry with the nonce: always shown.
        if self.expose_error_code || code == "use_dpop_nonce" {
            www.push_str(&format!(", error=\"{code}\""));
        }
        if let (Some(algs), "DPoP") = (&self.dpop_algs, scheme) {
            www.push_str(&format!(", algs=\"{algs}\""));
        }
        if let (Some(url), 401) = (&self.resource_metadata, status) {
            www.push_str(&format!(
                ", resource_metadata=\"{}\"",
                url.replace(['"', '\\'], "")
            ));
        }
        let message = if self.display_errors {
            format!("{message} ({reason})")
        } else {
            message.to_owned()
        };
        let mut headers = vec![(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        )];
        if let Ok(v) = HeaderValue::from_str(&www) {
            headers.push((WWW_AUTHENTICATE, v));
        }
        Denial {
            status,
            headers: headers.into(),
            body: Bytes::from(serde_json::json!({ "message": message }).to_string()),
        }
    }
}

/// The 500 response: `{"message":"An unexpected error occurred"}`.
pub fn unexpected() -> Denial {
    Denial {
        status: 500,
        headers: [(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        )]
        .into(),
        body: Bytes::from_static(UNEXPECTED_BODY.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn style() -> ErrorStyle {
        ErrorStyle {
            realm: ErrorStyle::realm_of("http://127.0.0.1:4593/api/oidc"),
            display_errors: false,
            expose_error_code: true,
            unauthorized_message: "Unauthorized".into(),
            forbidden_message: "Forbidden".into(),
            dpop_algs: None,
            dpop_strict: false,
            resource_metadata: None,
        }
    }

    fn header<'a>(d: &'a Denial, name: &http::HeaderName) -> Option<&'a str> {
        d.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_str().unwrap())
    }

    #[test]
    fn unauthorized_exact() {
        let d = style().render(&Failure::Inactive);
        assert_eq!(d.status, 401);
        assert_eq!(&d.body[..], br#"{"message":"Unauthorized"}"#);
        assert_eq!(
            header(&d, &WWW_AUTHENTICATE),
            Some(r#"Bearer realm="127.0.0.1", error="invalid_token""#)
        );
        assert_eq!(
            header(&d, &CONTENT_TYPE),
            Some("application/json; charset=utf-8")
        );
    }

    #[test]
    fn idp_errors_are_401_without_detail() {
        let f = Failure::Introspection(IdpError::Status {
            endpoint: Endpoint::Introspection,
            status: 503,
        });
        let d = style().render(&f);
        assert_eq!(d.status, 401);
        assert_eq!(&d.body[..], br#"{"message":"Unauthorized"}"#);
        let mut s = style();
        s.display_errors = true;
        let d = s.render(&f);
        assert_eq!(
            &d.body[..],
            br#"{"message":"Unauthorized (unable to introspect the token)"}"#
        );
    }

    #[test]
    fn forbidden_exact() {
        let d = style().render(&Failure::Scopes);
        assert_eq!(d.status, 403);
        assert_eq!(&d.body[..], br#"{"message":"Forbidden"}"#);
        assert_eq!(
            header(&d, &WWW_AUTHENTICATE),
            Some(r#"Bearer realm="127.0.0.1", error="insufficient_scope""#)
        );
    }

    #[test]
    fn display_errors_and_hidden_code() {
        let mut s = style();
        s.display_errors = true;
        s.expose_error_code = false;
        let d = s.render(&Failure::NoCredentials);
        assert_eq!(
            &d.body[..],
            br#"{"message":"Unauthorized (no suitable authorization credentials were provided)"}"#
        );
        assert_eq!(
            header(&d, &WWW_AUTHENTICATE),
            Some(r#"Bearer realm="127.0.0.1""#)
        );
    }

    #[test]
    fn unexpected_exact() {
        let d = style().render(&Failure::Discovery(DiscoveryError::Backoff));
        assert_eq!(d.status, 500);
        assert_eq!(
            &d.body[..],
            br#"{"message":"An unexpected error occurred"}"#
        );
        assert_eq!(header(&d, &WWW_AUTHENTICATE), None);
    }

    #[test]
    fn custom_messages_are_json_escaped() {
        let mut s = style();
        s.unauthorized_message = "Nope \"x\"".into();
        let d = s.render(&Failure::Expired);
        assert_eq!(&d.body[..], br#"{"message":"Nope \"x\""}"#);
    }

    #[test]
    fn realm_fallback() {
        assert_eq!(ErrorStyle::realm_of("not a url"), "kong");
        assert_eq!(
            ErrorStyle::realm_of("https://idp.example.com/realms/x"),
            "idp.example.com"
        );
    }
}

//! Token-endpoint grants: password (Basic user:pass) and client_credentials (Basic id:secret).
//!
//! Glewlwyd answers errors with empty bodies, so any status other than 200 is simply a failure;
//! response bodies of failures are never read.

use gateway_config::plugins::openid_connect::{ClientAuthMethod, OidcConfig};
use http::HeaderValue;
use serde_json::{Map, Value};

use crate::cache::{Expiring, TtlPolicy};
use crate::errors::{Endpoint, IdpError};
use crate::http_client::{arg_pairs, header_pairs, ClientAuth, FormRequest};

/// An access token obtained from the token endpoint (what the token cache holds).
#[derive(Clone, PartialEq, Eq)]
pub struct GrantedToken {
    /// The access token (valid as a header value).
    pub access_token: Box<str>,
    /// Cache deadline (ms since epoch).
    pub valid_until_ms: u64,
}

impl std::fmt::Debug for GrantedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantedToken")
            .field("valid_until_ms", &self.valid_until_ms)
            .finish_non_exhaustive()
    }
}

impl Expiring for GrantedToken {
    fn fresh_at(&self, now_ms: u64) -> bool {
        now_ms < self.valid_until_ms
    }
}

impl GrantedToken {
    /// Reads `access_token` and `expires_in` from a 200 response; the deadline is
    /// `now + expires_in − leeway` (clamped by `cache_ttl_min/max`), else `now + cache_ttl`.
    pub fn from_response(
        obj: &Map<String, Value>,
        ttl: &TtlPolicy,
        now_ms: u64,
    ) -> Result<GrantedToken, IdpError> {
        let token = obj
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty() && HeaderValue::from_str(t).is_ok())
            .ok_or(IdpError::MissingField {
                endpoint: Endpoint::Token,
                field: "access_token",
            })?;
        let expires_in = obj
            .get("expires_in")
            .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
            .filter(|s| *s > 0);
        let exp = expires_in.map(|s| {
            i64::try_from(now_ms / 1000)
                .unwrap_or(i64::MAX)
                .saturating_add(s)
        });
        Ok(GrantedToken {
            access_token: token.into(),
            valid_until_ms: ttl.positive_until(now_ms, exp),
        })
    }
}

/// Static parts of token requests (compiled from the config).
#[derive(Debug, Clone, Default)]
pub struct GrantRequest {
    /// `scopes`, joined with spaces (empty: not sent).
    pub scope: String,
    /// `token_post_args_*`.
    pub extra_args: Vec<(String, String)>,
    /// `token_headers_*`.
    pub extra_headers: Vec<(http::HeaderName, HeaderValue)>,
    /// The gateway's client authentication (password grant).
    pub auth: ClientAuth,
    /// `token_endpoint_auth_method`: how callers' client credentials are sent (client_credentials).
    pub caller_auth_method: Option<ClientAuthMethod>,
}

impl GrantRequest {
    /// Compiles the fixed parts from the config.
    pub fn new(cfg: &OidcConfig) -> Self {
        GrantRequest {
            scope: cfg.scopes.join(" "),
            extra_args: arg_pairs(
                cfg.token_post_args_names.as_deref(),
                cfg.token_post_args_values.as_deref(),
            ),
            extra_headers: header_pairs(
                cfg.token_headers_names.as_deref(),
                cfg.token_headers_values.as_deref(),
            ),
            auth: ClientAuth::for_endpoint(cfg, cfg.token_endpoint_auth_method),
            caller_auth_method: cfg.token_endpoint_auth_method,
        }
    }

    fn finish(&self, mut form: Vec<(String, String)>, auth: &ClientAuth) -> FormRequest {
        if !self.scope.is_empty() {
            form.push(("scope".to_owned(), self.scope.clone()));
        }
        form.extend(self.extra_args.iter().cloned());
        auth.request(form, self.extra_headers.clone())
    }

    /// `grant_type=password&username=..&password=..&scope=..`, with the gateway's client auth.
    pub fn password(&self, username: &str, password: &str) -> FormRequest {
        let form = vec![
            ("grant_type".to_owned(), "password".to_owned()),
            ("username".to_owned(), username.to_owned()),
            ("password".to_owned(), password.to_owned()),
        ];
        self.finish(form, &self.auth)
    }

    /// `grant_type=client_credentials&scope=..`, authenticated with the caller's credentials.
    pub fn client_credentials(&self, caller: &ClientAuth) -> FormRequest {
        let form = vec![("grant_type".to_owned(), "client_credentials".to_owned())];
        self.finish(form, caller)
    }

    /// The client_credentials request of a caller with these credentials (sent the way
    /// `token_endpoint_auth_method` says, see [`ClientAuth::for_caller`]).
    pub fn client_credentials_of(&self, client_id: &str, client_secret: &str) -> FormRequest {
        let caller = ClientAuth::for_caller(self.caller_auth_method, client_id, client_secret);
        self.client_credentials(&caller)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_700_000_000_000;

    fn ttl(leeway: f64) -> TtlPolicy {
        TtlPolicy::from_secs(3600.0, None, None, 10.0, leeway)
    }

    #[test]
    fn token_response() {
        let r = json!({"token_type": "bearer", "access_token": "abc", "expires_in": 60});
        let t = GrantedToken::from_response(r.as_object().unwrap(), &ttl(10.0), NOW).unwrap();
        assert_eq!(&*t.access_token, "abc");
        assert_eq!(t.valid_until_ms, NOW + 50_000);
        assert!(!format!("{t:?}").contains("abc"));

        let r = json!({"access_token": "abc"});
        let t = GrantedToken::from_response(r.as_object().unwrap(), &ttl(0.0), NOW).unwrap();
        assert_eq!(t.valid_until_ms, NOW + 3_600_000);

        for r in [
            json!({}),
            json!({"access_token": 1}),
            json!({"access_token": "a\nb"}),
        ] {
            assert!(GrantedToken::from_response(r.as_object().unwrap(), &ttl(0.0), NOW).is_err());
        }
    }

    #[test]
    fn password_form() {
        let g = GrantRequest {
            scope: "openid read".into(),
            extra_args: vec![("audience".into(), "x".into())],
            extra_headers: Vec::new(),
            auth: ClientAuth::Basic {
                id: "kong".into(),
                secret: "kong-secret".into(),
            },
            caller_auth_method: None,
        };
        let f = g.password("john", "d&e");
        assert_eq!(
            f.encoded_body(),
            "grant_type=password&username=john&password=d%26e&scope=openid+read&audience=x"
        );
        assert_eq!(f.headers[0].1, "Basic a29uZzprb25nLXNlY3JldA==");
    }

    #[test]
    fn client_credentials_form_uses_caller() {
        let g = GrantRequest {
            scope: "openid".into(),
            auth: ClientAuth::Basic {
                id: "kong".into(),
                secret: "kong-secret".into(),
            },
            ..Default::default()
        };
        let caller = ClientAuth::for_caller(None, "svc", "pw");
        let f = g.client_credentials(&caller);
        assert_eq!(
            f.encoded_body(),
            "grant_type=client_credentials&scope=openid"
        );
        assert_eq!(f.headers.len(), 1);
        assert_eq!(f.headers[0].1, "Basic c3ZjOnB3");
    }
}

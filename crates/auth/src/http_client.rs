//! Calls to the IdP: shared pooled reqwest clients, client authentication, form POSTs and JSON answers.
//!
//! One `reqwest::Client` per (ssl_verify, keepalive) flavour is shared by every plugin config; the
//! per-config `timeout` is applied per request. Bodies of failed responses are never read or logged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use gateway_config::plugins::openid_connect::{ClientAuthMethod, OidcConfig};
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderName, HeaderValue};
use serde_json::{Map, Value};

use crate::assertion::{AssertionSigner, ASSERTION_TYPE};
use crate::errors::{Endpoint, IdpError};
pub use crate::http_clients::{load_ca_bundle, HttpClients};
use crate::metrics::{AuthMetrics, IdpResult};
use gateway_config::plugins::openid_connect::client_auth;

/// Largest IdP response body accepted.
pub const MAX_BODY: usize = 1024 * 1024;

/// Client authentication to put on one IdP request.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// Nothing.
    #[default]
    Nothing,
    /// `Authorization: Basic base64(id:secret)`.
    Basic {
        /// Client id.
        id: String,
        /// Client secret.
        secret: String,
    },
    /// `client_id` and `client_secret` form fields.
    Post {
        /// Client id.
        id: String,
        /// Client secret.
        secret: String,
    },
    /// Only a `client_id` form field.
    IdOnly {
        /// Client id.
        id: String,
    },
    /// A fresh signed JWT assertion per call (`private_key_jwt`, `client_secret_jwt`).
    Assertion(Arc<AssertionSigner>),
    /// The gateway's client certificate on the connection, and a `client_id` form field
    /// (`tls_client_auth`, `self_signed_tls_client_auth`).
    Certificate {
        /// Client id.
        id: String,
    },
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        f.write_str(match self {
            ClientAuth::Nothing => "Nothing",
            ClientAuth::Basic { .. } => "Basic(..)",
            ClientAuth::Post { .. } => "Post(..)",
            ClientAuth::IdOnly { .. } => "IdOnly(..)",
            ClientAuth::Assertion(_) => "Assertion(..)",
            ClientAuth::Certificate { .. } => "Certificate(..)",
        })
    }
}

impl ClientAuth {
    /// Kong's resolution for the gateway's own client: the endpoint's method, else the first
    /// `client_auth`, else `client_secret_basic` when there is a secret (Kong would then pick
    /// `private_key_jwt`, which is not implemented: nothing is sent). No id ⇒ nothing.
    pub fn resolve(
        endpoint_method: Option<ClientAuthMethod>,
        client_auth: Option<&[ClientAuthMethod]>,
        client_id: Option<&str>,
        client_secret: Option<&str>,
    ) -> ClientAuth {
        let Some(id) = client_id.filter(|s| !s.is_empty()) else {
            return ClientAuth::Nothing;
        };
        let secret = client_secret.filter(|s| !s.is_empty());
        let method = endpoint_method
            .or_else(|| client_auth.and_then(|a| a.first().copied()))
            .unwrap_or(if secret.is_some() {
                ClientAuthMethod::ClientSecretBasic
            } else {
                ClientAuthMethod::PrivateKeyJwt
            });
        Self::with_method(method, id, secret)
    }

    /// The gateway's own client authentication at an endpoint whose configured method is
    /// `endpoint_method`, from the config's first `client_id` / `client_secret` / `client_jwk` / certificate:
    /// the endpoint's method, else the first `client_auth`, else what the credentials configured allow
    /// (a secret: `client_secret_basic`; else a key: `private_key_jwt`; else a certificate:
    /// `tls_client_auth`). The load-time checks make sure a named method has what it needs.
    pub fn for_endpoint(cfg: &OidcConfig, endpoint_method: Option<ClientAuthMethod>) -> ClientAuth {
        let id = first(&cfg.client_id).filter(|s| !s.is_empty());
        let secret = first(&cfg.client_secret).filter(|s| !s.is_empty());
        let method = cfg.configured_method(endpoint_method).or_else(|| {
            if secret.is_some() {
                None
            } else if cfg.first_jwk().is_some() {
                Some(ClientAuthMethod::PrivateKeyJwt)
            } else if cfg.tls_client_auth_cert_id.is_some() {
                Some(ClientAuthMethod::TlsClientAuth)
            } else {
                None
            }
        });
        let Some(id) = id else {
            return ClientAuth::Nothing;
        };
        let built = match method {
            Some(ClientAuthMethod::PrivateKeyJwt) => cfg.first_jwk().map(|jwk| {
                client_auth::private_key(jwk).and_then(|key| {
                    let alg = cfg.private_key_alg(&key);
                    AssertionSigner::private_key(id, &key, &alg, jwk.kid.as_deref())
                })
            }),
            Some(ClientAuthMethod::ClientSecretJwt) => secret.map(|s| {
                let alg = (cfg.client_alg.as_ref().and_then(|a| a.first()))
                    .map_or("HS256", String::as_str);
                AssertionSigner::client_secret(id, s, alg)
            }),
            Some(m) if m.uses_certificate() => {
                return ClientAuth::Certificate { id: id.to_owned() }
            }
            _ => return Self::resolve(method, None, Some(id), secret),
        };
        match built {
            Some(Ok(signer)) => ClientAuth::Assertion(Arc::new(signer)),
            Some(Err(e)) => {
                // The load-time checks refuse such a config; never reached with a checked one.
                log::error!(
                    "openid-connect client assertion unavailable issuer={} error={e}",
                    cfg.issuer
                );
                ClientAuth::Nothing
            }
            None => ClientAuth::Nothing,
        }
    }

    /// Whether the gateway's client certificate goes on the connection.
    pub fn uses_certificate(&self) -> bool {
        matches!(self, ClientAuth::Certificate { .. })
    }

    /// The request of `form` and `headers` with this authentication.
    pub fn request(
        &self,
        mut form: Vec<(String, String)>,
        mut headers: Vec<(HeaderName, HeaderValue)>,
    ) -> FormRequest {
        self.apply(&mut form, &mut headers);
        FormRequest {
            form,
            headers,
            assertion: match self {
                ClientAuth::Assertion(s) => Some(Arc::clone(s)),
                _ => None,
            },
            client_cert: self.uses_certificate(),
        }
    }

    /// Authentication with the caller's own client credentials (client_credentials grant):
    /// `client_secret_post` when the token endpoint method says so, else Basic.
    pub fn for_caller(endpoint_method: Option<ClientAuthMethod>, id: &str, secret: &str) -> Self {
        let method = match endpoint_method {
            Some(ClientAuthMethod::ClientSecretPost) => ClientAuthMethod::ClientSecretPost,
            _ => ClientAuthMethod::ClientSecretBasic,
        };
        Self::with_method(method, id, Some(secret))
    }

    fn with_method(method: ClientAuthMethod, id: &str, secret: Option<&str>) -> ClientAuth {
        let id = id.to_owned();
        match (method, secret) {
            // The JWT and mTLS methods are refused when the config is loaded; they never get here.
            (ClientAuthMethod::ClientSecretBasic, Some(s)) => ClientAuth::Basic {
                id,
                secret: s.to_owned(),
            },
            (ClientAuthMethod::ClientSecretPost, Some(s)) => ClientAuth::Post {
                id,
                secret: s.to_owned(),
            },
            (ClientAuthMethod::None, _) => ClientAuth::IdOnly { id },
            _ => ClientAuth::Nothing,
        }
    }

    /// Adds this authentication to a form and header list.
    pub fn apply(
        &self,
        form: &mut Vec<(String, String)>,
        headers: &mut Vec<(HeaderName, HeaderValue)>,
    ) {
        match self {
            ClientAuth::Nothing => {}
            ClientAuth::Basic { id, secret } => {
                let b64 =
                    base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
                if let Ok(mut v) = HeaderValue::from_str(&format!("Basic {b64}")) {
                    v.set_sensitive(true);
                    headers.push((AUTHORIZATION, v));
                }
            }
            ClientAuth::Post { id, secret } => {
                form.push(("client_id".into(), id.clone()));
                form.push(("client_secret".into(), secret.clone()));
            }
            ClientAuth::IdOnly { id } | ClientAuth::Certificate { id } => {
                form.push(("client_id".into(), id.clone()))
            }
            // Signed per call, for the URL called (see `FormRequest::body_for`).
            ClientAuth::Assertion(_) => {}
        }
    }
}

/// The first entry of a list-valued setting.
pub fn first(v: &Option<Vec<String>>) -> Option<&str> {
    v.as_ref().and_then(|v| v.first()).map(String::as_str)
}

/// A form POST ready to send.
#[derive(Clone, Default)]
pub struct FormRequest {
    /// Form fields, in order.
    pub form: Vec<(String, String)>,
    /// Extra headers (client auth, configured extras).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Signs the `client_assertion` added to each call's body (JWT client authentication).
    pub assertion: Option<Arc<AssertionSigner>>,
    /// Send over the connection that carries the gateway's client certificate.
    pub client_cert: bool,
}

impl std::fmt::Debug for FormRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.form.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("FormRequest")
            .field("fields", &names)
            .finish_non_exhaustive()
    }
}

impl FormRequest {
    /// The urlencoded body (without a client assertion).
    pub fn encoded_body(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.form.iter())
            .finish()
    }

    /// The urlencoded body of one call to `url`: with a fresh client assertion whose audience is `url`
    /// when the client authenticates with a JWT.
    pub fn body_for(&self, url: &str) -> String {
        let mut body = url::form_urlencoded::Serializer::new(String::new());
        body.extend_pairs(self.form.iter());
        if let Some(jwt) = self.assertion.as_ref().and_then(|s| s.sign(url)) {
            body.append_pair("client_assertion_type", ASSERTION_TYPE);
            body.append_pair("client_assertion", &jwt);
        }
        body.finish()
    }
}

/// Pairs configured names with values as headers, skipping (and logging) invalid ones.
pub fn header_pairs(
    names: Option<&[String]>,
    values: Option<&[String]>,
) -> Vec<(HeaderName, HeaderValue)> {
    let (Some(names), Some(values)) = (names, values) else {
        return Vec::new();
    };
    names
        .iter()
        .zip(values)
        .filter_map(|(n, v)| {
            match (
                HeaderName::from_bytes(n.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                (Ok(n), Ok(v)) => Some((n, v)),
                _ => {
                    log::warn!("invalid extra IdP header name={n:?} skipped");
                    None
                }
            }
        })
        .collect()
}

/// Pairs configured names with values as form fields.
pub fn arg_pairs(names: Option<&[String]>, values: Option<&[String]>) -> Vec<(String, String)> {
    match (names, values) {
        (Some(n), Some(v)) => n.iter().cloned().zip(v.iter().cloned()).collect(),
        _ => Vec::new(),
    }
}

/// One IdP's HTTP access for one plugin config.
#[derive(Debug, Clone)]
pub struct IdpHttp {
    client: reqwest::Client,
    /// The client presenting the gateway's certificate (`tls_client_auth`), when configured.
    mtls: Option<reqwest::Client>,
    timeout: Duration,
    metrics: Arc<AuthMetrics>,
}

impl IdpHttp {
    /// Wraps a shared client with the config's timeout; requests are counted on `metrics`.
    pub fn new(client: reqwest::Client, timeout: Duration, metrics: Arc<AuthMetrics>) -> Self {
        IdpHttp {
            client,
            mtls: None,
            timeout,
            metrics,
        }
    }

    /// Sends the requests that ask for it ([`FormRequest::client_cert`]) with `mtls`, the client that
    /// presents the gateway's certificate.
    pub fn with_client_certificate(mut self, mtls: reqwest::Client) -> Self {
        self.mtls = Some(mtls);
        self
    }

    fn client_for(&self, req: &FormRequest) -> &reqwest::Client {
        match (&self.mtls, req.client_cert) {
            (Some(m), true) => m,
            _ => &self.client,
        }
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// POSTs a form and returns the JSON object answered with 200.
    pub async fn post_form(
        &self,
        endpoint: Endpoint,
        url: &str,
        req: &FormRequest,
    ) -> Result<Map<String, Value>, IdpError> {
        let mut b = self
            .client_for(req)
            .post(url)
            .timeout(self.timeout)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json");
        for (n, v) in &req.headers {
            b = b.header(n, v);
        }
        self.send(endpoint, "POST", url, b.body(req.body_for(url)))
            .await
    }

    /// POSTs a form asking for `accept` and returns the body answered with 200 as text (an RFC 9701 signed
    /// introspection response, verified by the caller).
    pub async fn post_form_text(
        &self,
        endpoint: Endpoint,
        url: &str,
        req: &FormRequest,
        accept: &'static str,
    ) -> Result<String, IdpError> {
        let mut b = self
            .client_for(req)
            .post(url)
            .timeout(self.timeout)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, accept);
        for (n, v) in &req.headers {
            b = b.header(n, v);
        }
        let start = Instant::now();
        let result = Self::exchange_raw(endpoint, "POST", url, b.body(req.body_for(url)))
            .await
            .and_then(|body| {
                String::from_utf8(body)
                    .map(|t| t.trim().to_owned())
                    .map_err(|_| IdpError::InvalidBody {
                        endpoint,
                        what: "not UTF-8",
                    })
            });
        let label = match &result {
            Ok(_) => IdpResult::Ok,
            Err(e) => e.result(),
        };
        self.metrics.idp_request(endpoint, label, start.elapsed());
        result
    }

    /// GETs a JSON object (discovery).
    pub async fn get_json(
        &self,
        endpoint: Endpoint,
        url: &str,
    ) -> Result<Map<String, Value>, IdpError> {
        let b = self
            .client
            .get(url)
            .timeout(self.timeout)
            .header(ACCEPT, "application/json");
        self.send(endpoint, "GET", url, b).await
    }

    async fn send(
        &self,
        endpoint: Endpoint,
        method: &'static str,
        url: &str,
        b: reqwest::RequestBuilder,
    ) -> Result<Map<String, Value>, IdpError> {
        let start = Instant::now();
        let result = Self::exchange(endpoint, method, url, b).await;
        let label = match &result {
            Ok(_) => IdpResult::Ok,
            Err(e) => e.result(),
        };
        self.metrics.idp_request(endpoint, label, start.elapsed());
        result
    }

    async fn exchange(
        endpoint: Endpoint,
        method: &'static str,
        url: &str,
        b: reqwest::RequestBuilder,
    ) -> Result<Map<String, Value>, IdpError> {
        let body = Self::exchange_raw(endpoint, method, url, b).await?;
        parse_object(endpoint, &body)
    }

    /// One IdP call; traced as a child span (with `traceparent` sent) when the request is traced
    /// ([`crate::trace`]).
    async fn exchange_raw(
        endpoint: Endpoint,
        method: &'static str,
        url: &str,
        b: reqwest::RequestBuilder,
    ) -> Result<Vec<u8>, IdpError> {
        let Some(span) = crate::trace::Started::now() else {
            return Self::exchange_untraced(endpoint, b).await.1;
        };
        let b = b.header("traceparent", span.traceparent());
        let (status, result) = Self::exchange_untraced(endpoint, b).await;
        let error = result.as_ref().err().map(|e| e.to_string());
        span.finish(endpoint, method, url, status, error);
        result
    }

    /// One IdP call: the status (when it answered) and the body answered with 200.
    async fn exchange_untraced(
        endpoint: Endpoint,
        b: reqwest::RequestBuilder,
    ) -> (Option<u16>, Result<Vec<u8>, IdpError>) {
        let mut status = None;
        let result = Self::exchange_inner(endpoint, b, &mut status).await;
        (status, result)
    }

    async fn exchange_inner(
        endpoint: Endpoint,
        b: reqwest::RequestBuilder,
        answered: &mut Option<u16>,
    ) -> Result<Vec<u8>, IdpError> {
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                IdpError::Timeout { endpoint }
            } else {
                IdpError::Transport {
                    endpoint,
                    message: error_chain(&e.without_url()),
                }
            }
        };
        let mut resp = b.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        *answered = Some(status);
        if status != 200 {
            return Err(IdpError::Status { endpoint, status });
        }
        let invalid = |what| IdpError::InvalidBody { endpoint, what };
        if resp.content_length().is_some_and(|l| l > MAX_BODY as u64) {
            return Err(invalid("body too large"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(invalid("body too large"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Parses a response body that must be a JSON object.
pub fn parse_object(endpoint: Endpoint, body: &[u8]) -> Result<Map<String, Value>, IdpError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(IdpError::InvalidBody {
            endpoint,
            what: "empty body",
        });
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(IdpError::InvalidBody {
            endpoint,
            what: "not a JSON object",
        }),
        Err(_) => Err(IdpError::InvalidBody {
            endpoint,
            what: "invalid JSON",
        }),
    }
}

/// An error and its sources on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use ClientAuthMethod as M;

    #[test]
    fn ca_bundle_errors_name_the_file_only() {
        let dir = std::env::temp_dir().join(format!("gw-ca-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let err = load_ca_bundle(&missing).unwrap_err();
        assert!(
            err.starts_with(&format!("cannot read {}", missing.display())),
            "{err}"
        );
        let not_pem = dir.join("key.pem");
        std::fs::write(
            &not_pem,
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let err = load_ca_bundle(&not_pem).unwrap_err();
        assert!(err.contains("no PEM certificate found"), "{err}");
        assert!(!err.contains("c2VjcmV0"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
        // Clients with no extra roots still build.
        assert!(HttpClients::with_extra_roots(Vec::new())
            .get(true, true)
            .is_ok());
    }

    #[test]
    fn resolve_fallbacks() {
        let basic = ClientAuth::Basic {
            id: "kong".into(),
            secret: "s".into(),
        };
        assert_eq!(
            ClientAuth::resolve(None, None, Some("kong"), Some("s")),
            basic
        );
        assert_eq!(
            ClientAuth::resolve(None, Some(&[M::ClientSecretPost]), Some("kong"), Some("s")),
            ClientAuth::Post {
                id: "kong".into(),
                secret: "s".into()
            }
        );
        assert_eq!(
            ClientAuth::resolve(
                Some(M::ClientSecretBasic),
                Some(&[M::ClientSecretPost]),
                Some("kong"),
                Some("s")
            ),
            basic
        );
        assert_eq!(
            ClientAuth::resolve(None, None, None, Some("s")),
            ClientAuth::Nothing
        );
        assert_eq!(
            ClientAuth::resolve(None, None, Some("kong"), None),
            ClientAuth::Nothing
        );
        assert_eq!(
            ClientAuth::resolve(Some(M::None), None, Some("kong"), None),
            ClientAuth::IdOnly { id: "kong".into() }
        );
        assert_eq!(
            ClientAuth::resolve(Some(M::ClientSecretPost), None, Some("kong"), None),
            ClientAuth::Nothing
        );
    }

    #[test]
    fn apply_basic_and_post() {
        let mut form = vec![("token".to_string(), "t".to_string())];
        let mut headers = Vec::new();
        ClientAuth::Basic {
            id: "kong".into(),
            secret: "kong-secret".into(),
        }
        .apply(&mut form, &mut headers);
        assert_eq!(form.len(), 1);
        assert_eq!(headers[0].0, AUTHORIZATION);
        assert_eq!(headers[0].1, "Basic a29uZzprb25nLXNlY3JldA==");

        let mut headers = Vec::new();
        ClientAuth::Post {
            id: "kong".into(),
            secret: "a&b=c".into(),
        }
        .apply(&mut form, &mut headers);
        assert!(headers.is_empty());
        let req = FormRequest {
            form,
            ..FormRequest::default()
        };
        assert_eq!(
            req.encoded_body(),
            "token=t&client_id=kong&client_secret=a%26b%3Dc"
        );
    }

    #[test]
    fn caller_auth() {
        assert_eq!(
            ClientAuth::for_caller(Some(M::ClientSecretPost), "c", "s"),
            ClientAuth::Post {
                id: "c".into(),
                secret: "s".into()
            }
        );
        assert_eq!(
            ClientAuth::for_caller(Some(M::PrivateKeyJwt), "c", "s"),
            ClientAuth::Basic {
                id: "c".into(),
                secret: "s".into()
            }
        );
    }

    #[test]
    fn debug_never_shows_secrets() {
        let a = ClientAuth::Basic {
            id: "kong".into(),
            secret: "kong-secret".into(),
        };
        assert!(!format!("{a:?}").contains("secret\""));
        assert!(!format!("{a:?}").contains("kong-secret"));
        let r = FormRequest {
            form: vec![("token".into(), "SECRET-TOKEN".into())],
            ..FormRequest::default()
        };
        assert!(!format!("{r:?}").contains("SECRET-TOKEN"));
    }

    #[test]
    fn parse_bodies() {
        let e = Endpoint::Introspection;
        assert!(parse_object(e, br#"{"active":true}"#).is_ok());
        assert!(matches!(
            parse_object(e, b""),
            Err(IdpError::InvalidBody {
                what: "empty body",
                ..
            })
        ));
        assert!(matches!(
            parse_object(e, b"[1]"),
            Err(IdpError::InvalidBody {
                what: "not a JSON object",
                ..
            })
        ));
        assert!(matches!(
            parse_object(e, b"<html>"),
            Err(IdpError::InvalidBody {
                what: "invalid JSON",
                ..
            })
        ));
    }

    #[test]
    fn extra_pairs() {
        let h = header_pairs(
            Some(&["x-a".into(), "bad name".into()]),
            Some(&["1".into(), "2".into()]),
        );
        assert_eq!(h.len(), 1);
        assert_eq!(
            arg_pairs(Some(&["a".into()]), Some(&["b".into()])),
            vec![("a".into(), "b".into())]
        );
        assert!(arg_pairs(None, Some(&["b".into()])).is_empty());
    }
}

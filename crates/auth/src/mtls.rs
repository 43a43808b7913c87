//! The TLS client that presents the gateway's certificate to the IdP (`tls_client_auth`,
//! `self_signed_tls_client_auth`): one per plugin config, beside the shared pooled clients.

use std::time::Duration;

/// A client presenting the gateway's certificate (`tls_client_auth`), built once per config: verifying the
/// IdP's certificate when `ssl_verify` (with the extra roots), otherwise like the shared clients. The error
/// never shows key material.
pub fn client_with_certificate(
    identity: &gateway_config::plugins::openid_connect::ClientIdentity,
    ssl_verify: bool,
    keepalive: bool,
    extra_roots: &[reqwest::Certificate],
) -> Result<reqwest::Client, String> {
    let id = reqwest::Identity::from_pkcs8_pem(
        identity.cert_pem.as_bytes(),
        identity.key_pem.as_bytes(),
    )
    .map_err(|_| "the client certificate or its key is not usable for TLS".to_string())?;
    let mut b = reqwest::Client::builder()
        .identity(id)
        .danger_accept_invalid_certs(!ssl_verify)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("gateway/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(60))
        .tcp_nodelay(true);
    if !keepalive {
        b = b.pool_max_idle_per_host(0);
    }
    if ssl_verify {
        for cert in extra_roots {
            b = b.add_root_certificate(cert.clone());
        }
    }
    b.build().map_err(|e| e.to_string())
}

impl crate::http_client::HttpClients {
    /// A client presenting `identity` (see [`client_with_certificate`]), with these clients' extra roots.
    pub fn with_certificate(
        &self,
        identity: &gateway_config::plugins::openid_connect::ClientIdentity,
        ssl_verify: bool,
        keepalive: bool,
    ) -> Result<reqwest::Client, String> {
        client_with_certificate(identity, ssl_verify, keepalive, self.extra_roots())
    }
}

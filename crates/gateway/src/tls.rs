//! TLS of the proxy listeners and the IdP clients. Read at start and fixed for the life of the process (a
//! reload that changes them only warns): the default certificate of the `ssl` listeners (`gateway.ssl_cert`)
//! and the extra CA bundle the IdP clients trust. Per SNI, the running snapshot's `certificates` are chosen
//! during each handshake, so those follow reloads.

use std::sync::Arc;

use async_trait::async_trait;
use gateway_auth::http_client::{load_ca_bundle, HttpClients};
use gateway_config::certificates::{KeyPair, KeyPairs};
use gateway_config::model::Settings;
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::TlsAccept;
use pingora::protocols::tls::TlsRef;
use pingora::tls::error::ErrorStack;
use pingora::tls::ext;
use pingora::tls::ssl::{NameType, SslVerifyMode};

use crate::state::AppState;

/// One proxy listener as the server adds it.
pub struct Listener {
    /// `host:port`.
    pub addr: String,
    /// An `ssl` listener: TLS with the certificate its SNI selects (see [`settings`]).
    pub ssl: bool,
    /// The `http2` flag: ALPN offers `h2` first on an `ssl` listener; h2c with prior knowledge beside
    /// HTTP/1.1 on a plain one.
    pub http2: bool,
    /// Every connection starts with a PROXY protocol header (`crate::proxy_protocol`).
    pub proxy_protocol: bool,
}

/// What the start needs: each proxy listener, the default certificate and the IdP clients.
pub struct StartTls {
    /// The proxy listeners, in `proxy_listen` order.
    pub listeners: Vec<Listener>,
    /// `gateway.ssl_cert` and `ssl_cert_key`, parsed and checked (present when a proxy or stream listener has
    /// `ssl`).
    pub default_cert: Option<Arc<KeyPairs>>,
    /// The shared IdP HTTP clients, trusting `lua_ssl_trusted_certificate` besides the system roots.
    pub idp_clients: HttpClients,
}

/// Reads and checks the files; the error says which setting and file is wrong (never a file's content).
pub fn load(settings: &Settings) -> Result<StartTls, String> {
    let entries = settings
        .proxy_listeners()
        .map_err(|e| format!("gateway.proxy_listen: {e}"))?;
    let stream_ssl = (settings.stream_listeners()).is_ok_and(|l| l.iter().any(|l| l.ssl));
    let default_cert = if entries.iter().any(|e| e.ssl) || stream_ssl {
        Some(Arc::new(default_pair(settings)?))
    } else {
        None
    };
    let listeners = entries
        .into_iter()
        .map(|entry| Listener {
            addr: entry.addr,
            ssl: entry.ssl,
            http2: entry.http2,
            proxy_protocol: entry.proxy_protocol,
        })
        .collect();
    let idp_clients = match &settings.lua_ssl_trusted_certificate {
        Some(path) => {
            let certs = load_ca_bundle(path)
                .map_err(|e| format!("gateway.lua_ssl_trusted_certificate: {e}"))?;
            log::info!(
                "IdP TLS: trusting {} extra CA certificate(s) from {} besides the system roots",
                certs.len(),
                path.display()
            );
            HttpClients::with_extra_roots(certs)
        }
        None => HttpClients::default(),
    };
    Ok(StartTls {
        listeners,
        default_cert,
        idp_clients,
    })
}

/// The TLS settings of an `ssl` listener (Mozilla intermediate profile): the certificate is chosen during each
/// handshake from the running snapshot's `certificates` by SNI (Kong's order), else `default` — so a reload
/// that changes `certificates` applies to the next handshake, and open connections keep theirs.
pub fn settings(
    state: Arc<AppState>,
    default: Arc<KeyPairs>,
    http2: bool,
) -> Result<TlsSettings, String> {
    let mut tls = TlsSettings::with_callbacks(Box::new(SniCertificates { state, default }))
        .map_err(|e| format!("cannot set up TLS: {e}"))?;
    if http2 {
        tls.enable_h2();
    }
    Ok(tls)
}

/// Picks the handshake's certificate.
struct SniCertificates {
    state: Arc<AppState>,
    default: Arc<KeyPairs>,
}

#[async_trait]
impl TlsAccept for SniCertificates {
    async fn certificate_callback(&self, ssl: &mut TlsRef) {
        let snap = self.state.snapshot.load();
        let found = snap.sni.find(ssl.servername(NameType::HOST_NAME));
        let pairs = found
            .and_then(|i| snap.config.certificates.get(i))
            .and_then(|c| c.keys.as_deref())
            .unwrap_or(&self.default);
        if let Err(e) = use_pairs(ssl, pairs) {
            // Without a certificate the handshake fails; the client sees a TLS alert.
            log::warn!("TLS: cannot use the certificate selected for this handshake: {e}");
        }
        if snap.request_client_cert {
            // Kong's tls-handshake-modifier (`REQUEST`): ask for a certificate, accept the handshake whatever
            // is presented (none, self-signed, any CA): the certificate is not verified, only its thumbprint
            // is compared with a token's `cnf.x5t#S256` (openid-connect's proof_of_possession_mtls).
            ssl.set_verify_callback(SslVerifyMode::PEER, |_, _| true);
        }
    }
}

/// Installs the main pair and, when there is one, the alternative (OpenSSL keeps one certificate per key
/// type and picks the one the client's signature algorithms allow).
pub(crate) fn use_pairs(ssl: &mut TlsRef, pairs: &KeyPairs) -> Result<(), ErrorStack> {
    for pair in std::iter::once(&pairs.main).chain(&pairs.alt) {
        use_pair(ssl, pair)?;
    }
    Ok(())
}

fn use_pair(ssl: &mut TlsRef, pair: &KeyPair) -> Result<(), ErrorStack> {
    let Some((leaf, intermediates)) = pair.chain.split_first() else {
        return Ok(());
    };
    ext::ssl_use_certificate(ssl, leaf)?;
    ext::ssl_use_private_key(ssl, &pair.key)?;
    for cert in intermediates {
        ext::ssl_add_chain_cert(ssl, cert)?;
    }
    Ok(())
}

/// `ssl_cert` and `ssl_cert_key`, read, parsed and checked to match.
fn default_pair(settings: &Settings) -> Result<KeyPairs, String> {
    let (Some(cert), Some(key)) = (&settings.ssl_cert, &settings.ssl_cert_key) else {
        return Err(
            "gateway.ssl_cert and gateway.ssl_cert_key are required by an ssl proxy_listen entry"
                .into(),
        );
    };
    let read = |field: &str, path: &std::path::Path| {
        std::fs::read_to_string(path)
            .map_err(|e| format!("gateway.{field}: cannot read {}: {e}", path.display()))
    };
    let (cert_pem, key_pem) = (read("ssl_cert", cert)?, read("ssl_cert_key", key)?);
    let main = KeyPair::from_pem(&cert_pem, &key_pem).map_err(|(field, message)| match field {
        "" => format!(
            "gateway.ssl_cert_key: {} does not match the certificate {}",
            key.display(),
            cert.display()
        ),
        "cert" => format!("gateway.ssl_cert: {}: {message}", cert.display()),
        _ => format!("gateway.ssl_cert_key: {}: {message}", key.display()),
    })?;
    Ok(KeyPairs { main, alt: None })
}

//! TLS material read at start: the certificate of the `ssl` proxy listeners and the extra CA bundle the
//! IdP clients trust. Both are fixed for the life of the process (a reload that changes them only warns).

use gateway_auth::http_client::{load_ca_bundle, HttpClients};
use gateway_config::model::Settings;
use pingora::listeners::tls::TlsSettings;

/// One proxy listener as the server adds it.
pub struct Listener {
    /// `host:port`.
    pub addr: String,
    /// TLS settings of an `ssl` listener (ALPN offers `h2` first when it has `http2`).
    pub tls: Option<TlsSettings>,
    /// The `http2` flag: on a plain listener, h2c with prior knowledge beside HTTP/1.1.
    pub http2: bool,
}

/// What the start needs: each proxy listener (with its TLS settings when it serves HTTPS) and the IdP clients.
pub struct StartTls {
    /// The proxy listeners, in `proxy_listen` order.
    pub listeners: Vec<Listener>,
    /// The shared IdP HTTP clients, trusting `lua_ssl_trusted_certificate` besides the system roots.
    pub idp_clients: HttpClients,
}

/// Reads and checks the files; the error says which setting and file is wrong (never a file's content).
pub fn load(settings: &Settings) -> Result<StartTls, String> {
    let entries = settings
        .proxy_listeners()
        .map_err(|e| format!("gateway.proxy_listen: {e}"))?;
    let mut listeners = Vec::with_capacity(entries.len());
    for entry in entries {
        let tls = if entry.ssl {
            let mut tls = server_tls(settings)?;
            if entry.http2 {
                tls.enable_h2();
            }
            Some(tls)
        } else {
            None
        };
        listeners.push(Listener {
            addr: entry.addr,
            tls,
            http2: entry.http2,
        });
    }
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
        idp_clients,
    })
}

/// Pingora's TLS settings (Mozilla intermediate profile) for `ssl_cert` and `ssl_cert_key`.
fn server_tls(settings: &Settings) -> Result<TlsSettings, String> {
    let (Some(cert), Some(key)) = (&settings.ssl_cert, &settings.ssl_cert_key) else {
        return Err(
            "gateway.ssl_cert and gateway.ssl_cert_key are required by an ssl proxy_listen entry"
                .into(),
        );
    };
    for (field, path) in [("ssl_cert", cert), ("ssl_cert_key", key)] {
        std::fs::File::open(path)
            .map_err(|e| format!("gateway.{field}: cannot read {}: {e}", path.display()))?;
    }
    let (cert_s, key_s) = (cert.to_string_lossy(), key.to_string_lossy());
    let tls = TlsSettings::intermediate(&cert_s, &key_s).map_err(|e| {
        format!(
            "gateway.ssl_cert/ssl_cert_key: cannot load {} and {} as a PEM certificate and key: {e}",
            cert.display(),
            key.display()
        )
    })?;
    tls.check_private_key().map_err(|e| {
        format!(
            "gateway.ssl_cert_key: {} does not match the certificate {}: {e}",
            key.display(),
            cert.display()
        )
    })?;
    Ok(tls)
}

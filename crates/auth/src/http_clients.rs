//! The shared pooled reqwest clients for IdP calls, one per (ssl_verify, keepalive) flavour, and the extra
//! trusted CA bundle they carry.

use std::sync::Mutex;
use std::time::Duration;

/// The shared HTTP clients, each flavour built on first use (when a config needing it is compiled).
#[derive(Debug, Default)]
pub struct HttpClients {
    flavours: Mutex<[Option<Result<reqwest::Client, String>>; 4]>,
    /// Extra trusted CA certificates (`gateway.lua_ssl_trusted_certificate`), on top of the system roots.
    extra_roots: Vec<reqwest::Certificate>,
}

/// Reads a PEM bundle of CA certificates; the error names the file but shows none of its content.
pub fn load_ca_bundle(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("{}: not a PEM certificate bundle: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no PEM certificate found (expected -----BEGIN CERTIFICATE----- blocks)",
            path.display()
        ));
    }
    Ok(certs)
}

impl HttpClients {
    /// Clients that also trust `roots` (besides the system roots) when they verify TLS.
    pub fn with_extra_roots(roots: Vec<reqwest::Certificate>) -> Self {
        HttpClients {
            extra_roots: roots,
            ..HttpClients::default()
        }
    }

    /// The extra trusted CA certificates.
    pub fn extra_roots(&self) -> &[reqwest::Certificate] {
        &self.extra_roots
    }

    /// The client for a flavour (`Err` holds why it could not be built).
    pub fn get(&self, ssl_verify: bool, keepalive: bool) -> Result<reqwest::Client, String> {
        let i = usize::from(ssl_verify) * 2 + usize::from(keepalive);
        // Taken when a config is compiled, never per request.
        let mut flavours = self.flavours.lock().unwrap_or_else(|p| p.into_inner());
        flavours[i]
            .get_or_insert_with(|| {
                let mut b = reqwest::Client::builder()
                    .danger_accept_invalid_certs(!ssl_verify)
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(concat!("gateway/", env!("CARGO_PKG_VERSION")))
                    .pool_idle_timeout(Duration::from_secs(60))
                    .tcp_nodelay(true);
                if !keepalive {
                    b = b.pool_max_idle_per_host(0);
                }
                if ssl_verify {
                    for cert in &self.extra_roots {
                        b = b.add_root_certificate(cert.clone());
                    }
                }
                b.build().map_err(|e| e.to_string())
            })
            .clone()
    }
}

//! TLS of stream routes: terminating a client's TLS on an `ssl` stream listener with the certificate its SNI
//! selects (the snapshot's `certificates`, Kong's order, else `gateway.ssl_cert`), and a `tls` service's TLS
//! to its upstream (`tls_verify`, `ca_certificates`, `client_certificate`, built once per snapshot and
//! service).

use std::pin::Pin;
use std::sync::Arc;

use gateway_config::certificates::KeyPairs;
use gateway_config::model::{Config, Service};
use gateway_config::upstream_tls::{client_certificate, trusted_cas};
use openssl::ssl::{Ssl, SslAcceptor, SslConnector, SslMethod, SslVerifyMode};
use openssl::x509::store::X509StoreBuilder;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_openssl::SslStream;

use crate::snapshot::Snapshot;

/// The acceptor of the `ssl` stream listeners (Mozilla intermediate profile; the certificate is set per
/// connection).
pub fn acceptor() -> Result<Arc<SslAcceptor>, String> {
    let builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())
        .map_err(|e| format!("cannot set up TLS for stream listeners: {e}"))?;
    Ok(Arc::new(builder.build()))
}

/// Terminates TLS on `stream` with the certificate `sni` selects in `snap` (else `default`).
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    acceptor: &SslAcceptor,
    snap: &Snapshot,
    default: &KeyPairs,
    sni: Option<&str>,
    stream: S,
) -> Result<SslStream<S>, String> {
    let pairs = snap
        .sni
        .find(sni)
        .and_then(|i| snap.config.certificates.get(i))
        .and_then(|c| c.keys.as_deref())
        .unwrap_or(default);
    let mut ssl = Ssl::new(acceptor.context()).map_err(|e| e.to_string())?;
    crate::tls::use_pairs(&mut ssl, pairs).map_err(|e| e.to_string())?;
    let mut tls = SslStream::new(ssl, stream).map_err(|e| e.to_string())?;
    Pin::new(&mut tls)
        .accept()
        .await
        .map_err(|e| format!("TLS handshake: {e}"))?;
    Ok(tls)
}

/// A `tls` service's connector: verification per `tls_verify` (default on, as the HTTP proxy), trust from
/// `ca_certificates` (else the system's roots), the `client_certificate`.
pub struct Upstream {
    connector: SslConnector,
    verify: bool,
}

impl Upstream {
    /// Builds the connector of `service`.
    pub fn new(config: &Config, service: &Service) -> Result<Upstream, String> {
        let err = |e: openssl::error::ErrorStack| e.to_string();
        let mut b = SslConnector::builder(SslMethod::tls()).map_err(err)?;
        let verify = service.tls_verify.unwrap_or(true);
        let cas = trusted_cas(config, service);
        if !cas.is_empty() {
            let mut store = X509StoreBuilder::new().map_err(err)?;
            for ca in cas.iter().filter_map(|c| c.x509.as_ref()) {
                store.add_cert((**ca).clone()).map_err(err)?;
            }
            b.set_verify_cert_store(store.build()).map_err(err)?;
        }
        if let Some(keys) = (service.client_certificate.as_ref())
            .and_then(|r| client_certificate(config, r))
            .and_then(|c| c.keys.as_ref())
        {
            if let Some((leaf, chain)) = keys.main.chain.split_first() {
                b.set_certificate(leaf).map_err(err)?;
                for c in chain {
                    b.add_extra_chain_cert(c.clone()).map_err(err)?;
                }
                b.set_private_key(&keys.main.key).map_err(err)?;
            }
        }
        b.set_verify(if verify {
            SslVerifyMode::PEER
        } else {
            SslVerifyMode::NONE
        });
        Ok(Upstream {
            connector: b.build(),
            verify,
        })
    }

    /// The TLS handshake with the upstream on `stream`, sending `name` as SNI (and verifying it, unless
    /// `tls_verify: false`; an IP address is verified as one and not sent).
    pub async fn connect<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        name: &str,
        stream: S,
    ) -> Result<SslStream<S>, String> {
        let mut cfg = self.connector.configure().map_err(|e| e.to_string())?;
        cfg.set_verify_hostname(self.verify);
        let ssl = cfg.into_ssl(name).map_err(|e| e.to_string())?;
        let mut tls = SslStream::new(ssl, stream).map_err(|e| e.to_string())?;
        Pin::new(&mut tls)
            .connect()
            .await
            .map_err(|e| format!("TLS handshake with the upstream: {e}"))?;
        Ok(tls)
    }
}

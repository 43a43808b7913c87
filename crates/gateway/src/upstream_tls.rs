//! A service's upstream TLS (Kong `tls_verify`, `ca_certificates`, `client_certificate`) as Pingora peer
//! options, compiled once per snapshot and applied to each attempt's `HttpPeer`.
//!
//! Pingora's connection pool keys on the peer's hash, which covers the client certificate and the verify flags
//! but not the CA list: `group_key` carries a hash of the trusted CAs' digests, so a connection verified against
//! one service's CAs is never reused for a service that trusts others.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use gateway_config::model::{Config, Service};
use gateway_config::upstream_tls::{client_certificate, trusted_cas};
use pingora::protocols::tls::CaType;
use pingora::upstreams::peer::HttpPeer;
use pingora::utils::tls::CertKey;

/// What a service's TLS to its upstream needs beyond the defaults (verify with the system's roots).
pub struct PeerTls {
    /// Verify the upstream's certificate and host name (`tls_verify`, default true here).
    verify: bool,
    /// The trust store, when the service names `ca_certificates`.
    ca: Option<Arc<CaType>>,
    /// The client certificate and key (`client_certificate`).
    client: Option<Arc<CertKey>>,
    /// Pool separation by trust store (0 with the system's).
    group_key: u64,
}

impl PeerTls {
    /// The options of `service` (`None`: plain TLS defaults, or not a TLS service).
    pub fn for_service(config: &Config, service: &Service) -> Option<Arc<PeerTls>> {
        if !service.protocol.is_tls() {
            return None;
        }
        let cas = trusted_cas(config, service);
        let client = (service.client_certificate.as_ref())
            .and_then(|r| client_certificate(config, r))
            .and_then(|c| c.keys.as_ref())
            .map(|k| Arc::new(CertKey::new(k.main.chain.clone(), k.main.key.clone())));
        if service.tls_verify.is_none() && cas.is_empty() && client.is_none() {
            return None;
        }
        let (ca, group_key) = if cas.is_empty() {
            (None, 0)
        } else {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            let mut x509s = Vec::with_capacity(cas.len());
            for c in &cas {
                c.cert_digest.hash(&mut h);
                if let Some(x) = &c.x509 {
                    x509s.push((**x).clone());
                }
            }
            (Some(Arc::new(x509s.into_boxed_slice())), h.finish() | 1)
        };
        Some(Arc::new(PeerTls {
            verify: service.tls_verify.unwrap_or(true),
            ca,
            client,
            group_key,
        }))
    }

    /// Sets the options on one attempt's peer.
    pub fn apply(&self, peer: &mut HttpPeer) {
        peer.options.verify_cert = self.verify;
        peer.options.verify_hostname = self.verify;
        if let Some(ca) = &self.ca {
            peer.options.ca = Some(ca.clone());
        }
        if let Some(client) = &self.client {
            peer.client_cert_key = Some(client.clone());
        }
        peer.group_key = self.group_key;
    }
}

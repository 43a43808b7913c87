//! The `protocol` of a service and the `protocols` of routes and plugins: Kong's HTTP and stream protocols.

use std::fmt;

use serde::Serialize;

/// Upstream and route protocol: HTTP ones (`http`, `https`, `grpc`, `grpcs`) and stream ones (`tcp`, `tls`,
/// `udp`, `tls_passthrough`, see [`crate::stream`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// `http`
    Http,
    /// `https`
    Https,
    /// `grpc`: HTTP/2 without TLS (h2c with prior knowledge) to the upstream; plaintext requests on a route.
    Grpc,
    /// `grpcs`: HTTP/2 over TLS to the upstream; TLS requests on a route.
    Grpcs,
    /// `tcp`: a stream route's plain TCP connections; a service's plain TCP to the upstream.
    Tcp,
    /// `tls`: a stream route's TLS connections, terminated by the gateway; a service's TLS to the upstream.
    Tls,
    /// `udp`: a stream route's UDP datagrams; a service's UDP to the upstream.
    Udp,
    /// `tls_passthrough`: a stream route's TLS connections, routed by the ClientHello's SNI and spliced
    /// without terminating; a service's plain TCP to the upstream.
    #[serde(rename = "tls_passthrough")]
    TlsPassthrough,
}

impl Protocol {
    /// The protocol as written in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
            Protocol::Grpc => "grpc",
            Protocol::Grpcs => "grpcs",
            Protocol::Tcp => "tcp",
            Protocol::Tls => "tls",
            Protocol::Udp => "udp",
            Protocol::TlsPassthrough => "tls_passthrough",
        }
    }

    /// `tcp`, `tls`, `udp` and `tls_passthrough` (Kong's stream subsystem).
    pub fn is_stream(self) -> bool {
        matches!(
            self,
            Protocol::Tcp | Protocol::Tls | Protocol::Udp | Protocol::TlsPassthrough
        )
    }

    /// 80 or 443.
    pub fn default_port(self) -> u16 {
        if self.is_tls() {
            443
        } else {
            80
        }
    }

    /// `https` and `grpcs`.
    pub fn is_tls(self) -> bool {
        matches!(self, Protocol::Https | Protocol::Grpcs)
    }

    /// `grpc` and `grpcs`.
    pub fn is_grpc(self) -> bool {
        matches!(self, Protocol::Grpc | Protocol::Grpcs)
    }

    /// Parses a protocol name; the error says what is accepted.
    pub fn parse(value: &str) -> Result<Protocol, String> {
        match value {
            "http" => Ok(Protocol::Http),
            "https" => Ok(Protocol::Https),
            "grpc" => Ok(Protocol::Grpc),
            "grpcs" => Ok(Protocol::Grpcs),
            "tcp" => Ok(Protocol::Tcp),
            "tls" => Ok(Protocol::Tls),
            "udp" => Ok(Protocol::Udp),
            "tls_passthrough" => Ok(Protocol::TlsPassthrough),
            other => Err(format!(
                "expected one of: http, https, grpc, grpcs, tcp, tls, udp, tls_passthrough, got {other:?} (ws and wss are not supported yet)"
            )),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

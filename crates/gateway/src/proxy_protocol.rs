//! `proxy_listen ... proxy_protocol`: every connection on such a listener starts with a PROXY protocol header
//! (v1 text or v2 binary), read on accept, before TLS on an `ssl` listener (Pingora's pre-TLS hook) and
//! before HTTP on a plain one ([`ProxyProtocolApp`], wrapping the proxy's app). A connection whose header is
//! missing or broken is closed, as nginx does. The source address is kept on the connection's digest
//! ([`ProxyDigest`]'s `user_data`) for the request to read ([`source`]); whether it is believed is the
//! request's decision (`real_ip_header: proxy_protocol` and a peer in `trusted_ips`), so a reload that
//! changes them applies to open connections too.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::http::ResponseHeader;
use pingora::listeners::PreTlsProcess;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::GetProxyDigest;
use pingora::protocols::Stream;
use pingora::proxy::Session;
use pingora::server::ShutdownWatch;
use pingora::{Error, ErrorType, Result};
use tokio::io::{AsyncRead, AsyncReadExt};

/// How long a client has to send the header (nginx's `proxy_protocol_timeout` default is 30s).
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// The v2 signature.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 header (the spec's 107 bytes).
const V1_MAX: usize = 107;

/// What the PROXY header said about the connection, kept on its digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxySource {
    /// The original client's address; `None` for `UNKNOWN` (v1), `LOCAL` or a non-IP family (v2).
    pub addr: Option<SocketAddr>,
}

/// The PROXY source address of the request's connection, if its listener has `proxy_protocol` and the
/// header carried one.
pub fn source(session: &Session) -> Option<IpAddr> {
    let digest = session.digest()?.proxy_digest.as_ref()?;
    let src = digest.user_data.as_ref()?.downcast_ref::<ProxySource>()?;
    src.addr.map(|a| a.ip())
}

/// Reads exactly one PROXY header from `stream` (nothing after it) and parses it.
pub async fn read_header<S: AsyncRead + Unpin + ?Sized>(stream: &mut S) -> Result<ProxySource> {
    let mut buf = vec![0u8; 12];
    read_exact(stream, &mut buf).await?;
    if buf.as_slice() == V2_SIGNATURE {
        buf.resize(16, 0);
        read_exact(stream, &mut buf[12..]).await?;
        let len = u16::from_be_bytes([buf[14], buf[15]]) as usize;
        buf.resize(16 + len, 0);
        read_exact(stream, &mut buf[16..]).await?;
    } else if buf.starts_with(b"PROXY ") {
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n") {
            if buf.len() >= V1_MAX {
                return broken("v1 header longer than 107 bytes");
            }
            read_exact(stream, &mut byte).await?;
            buf.push(byte[0]);
        }
    } else {
        return broken("no PROXY protocol header");
    }
    parse(&buf)
}

/// A complete header's source address.
pub fn parse(header: &[u8]) -> Result<ProxySource> {
    use ppp::{v1, v2, HeaderResult};
    let addr = match HeaderResult::parse(header) {
        HeaderResult::V1(Ok(h)) => match h.addresses {
            v1::Addresses::Tcp4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
            v1::Addresses::Tcp6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
            v1::Addresses::Unknown => None,
        },
        HeaderResult::V2(Ok(h)) => match (h.command, h.addresses) {
            (v2::Command::Local, _) => None,
            (_, v2::Addresses::IPv4(a)) => {
                Some(SocketAddr::from((a.source_address, a.source_port)))
            }
            (_, v2::Addresses::IPv6(a)) => {
                Some(SocketAddr::from((a.source_address, a.source_port)))
            }
            _ => None,
        },
        HeaderResult::V1(Err(e)) => return broken(&e.to_string()),
        HeaderResult::V2(Err(e)) => return broken(&e.to_string()),
    };
    Ok(ProxySource { addr })
}

async fn read_exact<S: AsyncRead + Unpin + ?Sized>(stream: &mut S, buf: &mut [u8]) -> Result<()> {
    match tokio::time::timeout(HEADER_TIMEOUT, stream.read_exact(buf)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(Error::because(
            ErrorType::ReadError,
            "reading the PROXY header",
            e,
        )),
        Err(_) => Error::e_explain(ErrorType::ReadTimedout, "reading the PROXY header"),
    }
}

fn broken<T>(why: &str) -> Result<T> {
    Error::e_explain(
        ErrorType::InvalidHTTPHeader,
        format!("broken PROXY protocol header: {why}"),
    )
}

/// The digest that carries `src` (Pingora's proxy digest has a slot for arbitrary data; its response header
/// is unused here).
fn digest(src: ProxySource) -> ProxyDigest {
    let header = ResponseHeader::build(200, None).expect("200 is a valid status");
    ProxyDigest::new(Box::new(header), Some(Box::new(src)))
}

/// The pre-TLS hook of `ssl proxy_protocol` listeners: the header is read before the handshake.
pub struct PreTls;

#[async_trait]
impl PreTlsProcess for PreTls {
    async fn process(&self, stream: &mut L4Stream) -> Result<()> {
        let src = read_header(stream).await.inspect_err(|e| log_broken(e))?;
        stream.set_proxy_digest(digest(src));
        Ok(())
    }
}

fn log_broken(e: &Error) {
    log::info!("proxy_protocol: closing the connection: {e}");
}

/// The proxy's app behind `proxy_protocol` listeners: a plain connection's header is read before the first
/// request (a TLS one's was read by [`PreTls`]); a connection handed back for keep-alive is not read again.
pub struct ProxyProtocolApp<A> {
    inner: Arc<A>,
}

impl<A> ProxyProtocolApp<A> {
    /// Wraps `inner`.
    pub fn new(inner: A) -> Self {
        ProxyProtocolApp {
            inner: Arc::new(inner),
        }
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for ProxyProtocolApp<A> {
    async fn process_new(
        self: &Arc<Self>,
        mut stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        if stream.get_proxy_digest().is_none() {
            match read_header(&mut stream).await {
                Ok(src) => stream.set_proxy_digest(digest(src)),
                Err(e) => {
                    log_broken(&e);
                    return None;
                }
            }
        }
        self.inner.process_new(stream, shutdown).await
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn v1_and_v2_headers_are_read_exactly() {
        let mut v1: &[u8] = b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 8000\r\nGET / HTTP/1.1\r\n";
        let src = read_header(&mut v1).await.unwrap();
        assert_eq!(src.addr, Some("203.0.113.7:51000".parse().unwrap()));
        assert_eq!(v1, b"GET / HTTP/1.1\r\n");
        let mut v1: &[u8] = b"PROXY TCP6 2001:db8::7 ::1 51000 8000\r\nrest";
        let src = read_header(&mut v1).await.unwrap();
        assert_eq!(src.addr, Some("[2001:db8::7]:51000".parse().unwrap()));
        let mut unknown: &[u8] = b"PROXY UNKNOWN\r\nrest";
        assert_eq!(read_header(&mut unknown).await.unwrap().addr, None);
        assert_eq!(unknown, b"rest");

        let mut v2 = V2_SIGNATURE.to_vec();
        v2.extend_from_slice(&[
            0x21, 0x11, 0, 12, 198, 51, 100, 9, 10, 0, 0, 1, 0xC3, 0x50, 0x1F, 0x40,
        ]);
        v2.extend_from_slice(b"GET");
        let mut r: &[u8] = &v2;
        let src = read_header(&mut r).await.unwrap();
        assert_eq!(src.addr, Some("198.51.100.9:50000".parse().unwrap()));
        assert_eq!(r, b"GET");
        // LOCAL: no address.
        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0, 0]);
        assert_eq!(read_header(&mut local.as_slice()).await.unwrap().addr, None);

        for bad in [
            &b"GET / HTTP/1.1\r\n\r\n"[..],
            b"PROXY TCP4 x y 1 2\r\n",
            b"PROXY TCP4",
        ] {
            assert!(read_header(&mut &bad[..]).await.is_err(), "{bad:?}");
        }
    }
}

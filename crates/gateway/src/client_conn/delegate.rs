//! The wrapped stream's other traits, delegated to the accepted stream (its shutdown drains a buffered answer
//! first).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl,
    TimingDigest, UniqueID, UniqueIDType,
};

use super::ClientStream;

#[async_trait]
impl Shutdown for ClientStream {
    /// A buffered answer still on its way drains in a task of its own (bounded by `send_timeout`), which then
    /// shuts the socket down: the proxy's session is freed at once, and a slow reader costs only its buffer.
    async fn shutdown(&mut self) {
        if self.out.is_empty() {
            return self.io().shutdown().await;
        }
        // A closed stand-in keeps this stream's other calls answering until Pingora drops it.
        let closed: pingora::protocols::Stream = Box::new(tokio::io::duplex(1).0);
        let inner = std::mem::replace(self.io(), closed);
        let out = self.take_out();
        tokio::spawn(super::out_buffer::drain_then_close(out, inner));
    }
}

impl UniqueID for ClientStream {
    fn id(&self) -> UniqueIDType {
        self.io_ref().id()
    }
}

impl Ssl for ClientStream {
    fn get_ssl(&self) -> Option<&pingora::protocols::tls::TlsRef> {
        self.io_ref().get_ssl()
    }
    fn get_ssl_digest(&self) -> Option<Arc<pingora::protocols::tls::SslDigest>> {
        self.io_ref().get_ssl_digest()
    }
    fn selected_alpn_proto(&self) -> Option<pingora::protocols::ALPN> {
        self.io_ref().selected_alpn_proto()
    }
}

impl GetTimingDigest for ClientStream {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.io_ref().get_timing_digest()
    }
    fn get_read_pending_time(&self) -> Duration {
        self.io_ref().get_read_pending_time()
    }
    fn get_write_pending_time(&self) -> Duration {
        self.io_ref().get_write_pending_time()
    }
}

impl GetProxyDigest for ClientStream {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.io_ref().get_proxy_digest()
    }
    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.io().set_proxy_digest(digest)
    }
}

impl GetSocketDigest for ClientStream {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.io_ref().get_socket_digest()
    }
    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.io().set_socket_digest(digest)
    }
}

#[async_trait]
impl Peek for ClientStream {
    /// Pingora peeks for the h2c preface before reading: the head's deadline bounds the wait.
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        match self.state.deadline() {
            Some(d) => tokio::time::timeout_at(d, self.io().try_peek(buf))
                .await
                .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "h2c preface"))),
            None => self.io().try_peek(buf).await,
        }
    }
}

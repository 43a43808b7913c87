//! TCP stream connections: accepted, routed once (with the snapshot current at accept), connected to the
//! service's upstream (the service's `retries` on connection failure, `connect_timeout` each), optionally
//! with TLS terminated (`tls` routes on an `ssl` listener) or to the upstream (`tls` services), then spliced.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gateway_config::certificates::KeyPairs;
use gateway_config::model::Protocol;
use gateway_config::router::stream::{StreamView, Transport};
use openssl::ssl::SslAcceptor;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

use super::client_hello::{self, Hello};
use super::io::{splice, Rewind};
use super::{pick_target, timeouts, Target};
use crate::balancer::Outcome;
use crate::snapshot::Snapshot;
use crate::state::AppState;

/// How long the ClientHello may take on an `ssl` stream listener (nginx's `preread_timeout`, 30 s).
const PREREAD_TIMEOUT: Duration = Duration::from_secs(30);

/// The TLS of an `ssl` listener: the acceptor and the default pair.
pub(super) type ListenerTls = Option<(Arc<SslAcceptor>, Arc<KeyPairs>)>;

/// Accepts connections until the task is aborted; each is served in its own task.
pub(super) async fn accept_loop(state: Arc<AppState>, listener: TcpListener, tls: ListenerTls) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors and the like: wait a little instead of spinning.
                log::warn!("stream: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let state = state.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let local = stream.local_addr().ok();
            if let Some(local) = local {
                let _ = stream.set_nodelay(true);
                serve(state, stream, peer, local, tls).await;
            }
        });
    }
}

/// One connection, start to end; a refusal closes the connection (Kong's stream "exit").
async fn serve(
    state: Arc<AppState>,
    mut stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    tls: ListenerTls,
) {
    let snap = state.snapshot.load_full();
    let mut hello = Vec::new();
    let sni = match &tls {
        None => None,
        Some(_) => {
            match read_hello(&mut stream, &mut hello).await {
                Some(sni) => sni,
                None => {
                    log::debug!("stream: no TLS ClientHello on an ssl listener client={peer} listener={local}");
                    return;
                }
            }
        }
    };
    let view = StreamView {
        transport: Transport::Tcp,
        src: peer,
        dst: local,
        tls: tls.is_some(),
        sni: sni.as_deref(),
    };
    let Some(m) = snap.stream.find(&view) else {
        log::debug!("stream: no route matched client={peer} listener={local} sni={sni:?}");
        return;
    };
    let Some(service) = m.service else {
        log::debug!("stream: route without a service client={peer} listener={local}");
        return;
    };
    let label = snap.routes.get(m.route).map_or("-", |r| r.label.as_str());
    match &tls {
        Some(_) if m.passthrough => {
            let client = Rewind::new(hello, stream);
            proxy(&state, &snap, service, peer, client, None, label).await;
        }
        Some((acceptor, default)) => {
            let client = Rewind::new(hello, stream);
            match super::tls::accept(acceptor, &snap, default, sni.as_deref(), client).await {
                Ok(client) => {
                    let upstream_sni = sni.filter(|_| m.preserve_host);
                    proxy(&state, &snap, service, peer, client, upstream_sni, label).await;
                }
                Err(e) => log::debug!("stream: {e} client={peer} route={label}"),
            }
        }
        None => proxy(&state, &snap, service, peer, stream, None, label).await,
    }
}

/// Reads the ClientHello into `buf` (the bytes are replayed later); `Some(sni)` once whole, `None` when the
/// bytes are not TLS, the client closes, or it takes longer than [`PREREAD_TIMEOUT`].
async fn read_hello(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Option<String>> {
    let read = async {
        let mut chunk = [0u8; 4096];
        loop {
            match client_hello::parse(buf) {
                Hello::Parsed(sni) => return Some(sni),
                Hello::NotTls => return None,
                Hello::NeedMore => {}
            }
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(PREREAD_TIMEOUT, read).await.ok()?
}

/// Connects to the service's upstream and splices `client` with it.
async fn proxy<C: AsyncRead + AsyncWrite + Unpin>(
    state: &AppState,
    snap: &Snapshot,
    service: usize,
    peer: SocketAddr,
    client: C,
    upstream_sni: Option<String>,
    label: &str,
) {
    let Some(svc) = snap.services.get(service) else {
        return;
    };
    let Some((upstream, target)) = connect(state, snap, service, peer).await else {
        return;
    };
    let t = timeouts(svc);
    let upstream_tls = snap
        .config
        .services
        .get(service)
        .is_some_and(|s| s.protocol == Protocol::Tls);
    let (sent, received) = match snap.stream_tls.get(service).and_then(Option::as_ref) {
        Some(connector) if upstream_tls => {
            let name = upstream_sni.as_deref().unwrap_or(&target.name);
            let handshake = connector.connect(name, upstream);
            match tokio::time::timeout(svc.connect_timeout, handshake).await {
                Ok(Ok(upstream)) => splice(client, upstream, t).await,
                Ok(Err(e)) => {
                    log::warn!("stream: {e} route={label} upstream={}", target.addr);
                    target.finish(Outcome::TcpFailure);
                    return;
                }
                Err(_) => {
                    log::warn!("stream: TLS handshake with the upstream timed out route={label} upstream={}", target.addr);
                    target.finish(Outcome::Timeout);
                    return;
                }
            }
        }
        _ => splice(client, upstream, t).await,
    };
    log::debug!(
        "stream: closed client={peer} route={label} upstream={} sent={sent} received={received}",
        target.addr
    );
    target.finish(Outcome::Unknown);
}

/// The upstream connection: up to `retries` more attempts after a failed connect, each to another
/// address of the balancer when it has one.
async fn connect(
    state: &AppState,
    snap: &Snapshot,
    service: usize,
    peer: SocketAddr,
) -> Option<(TcpStream, Target)> {
    let svc = snap.services.get(service)?;
    let mut tried = Vec::new();
    for attempt in 0..=svc.retries as usize {
        let target = match pick_target(state, svc, peer, attempt, &tried).await {
            Ok(t) => t,
            Err(e) => {
                log::warn!("stream: no upstream for service={}: {e}", svc.label);
                return None;
            }
        };
        tried.push(target.addr);
        match tokio::time::timeout(svc.connect_timeout, TcpStream::connect(target.addr)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                return Some((s, target));
            }
            Ok(Err(e)) => {
                log::warn!(
                    "stream: connect to {} failed service={}: {e}",
                    target.addr,
                    svc.label
                );
                target.finish(Outcome::TcpFailure);
            }
            Err(_) => {
                log::warn!(
                    "stream: connect to {} timed out service={}",
                    target.addr,
                    svc.label
                );
                target.finish(Outcome::Timeout);
            }
        }
    }
    None
}

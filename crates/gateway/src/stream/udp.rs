//! UDP stream sessions: datagrams from one client address make a session, routed once (with the snapshot
//! current when its first datagram arrives) to an upstream socket of its own; the upstream's answers go back
//! from the listener's socket. A session ends after the service's `read_timeout` without a datagram either
//! way; at most [`MAX_SESSIONS`] per listener (a new client's datagrams are dropped while it is full).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gateway_config::router::stream::{StreamView, Transport};
use tokio::net::UdpSocket;

use super::{pick_target, timeouts};
use crate::balancer::Outcome;
use crate::state::AppState;

/// Sessions kept per UDP listener.
pub const MAX_SESSIONS: usize = 10_000;

/// The largest datagram relayed.
const MAX_DATAGRAM: usize = 65_535;

struct Session {
    upstream: Arc<UdpSocket>,
    /// Milliseconds since `epoch` of the last datagram either way.
    last: Arc<AtomicU64>,
}

type Sessions = Arc<Mutex<HashMap<SocketAddr, Session>>>;

/// Serves one UDP listener until the task is aborted.
pub(super) async fn serve(state: Arc<AppState>, socket: Arc<UdpSocket>) {
    let Ok(local) = socket.local_addr() else {
        return;
    };
    let sessions: Sessions = Arc::default();
    let epoch = Instant::now();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                log::debug!("stream: UDP receive failed on {local}: {e}");
                continue;
            }
        };
        let now = epoch.elapsed().as_millis() as u64;
        let existing = {
            let map = sessions.lock().unwrap_or_else(|e| e.into_inner());
            map.get(&peer).map(|s| {
                s.last.store(now, Ordering::Relaxed);
                s.upstream.clone()
            })
        };
        let upstream = match existing {
            Some(u) => u,
            None => {
                let full = sessions.lock().map_or(true, |m| m.len() >= MAX_SESSIONS);
                if full {
                    log::warn!("stream: {MAX_SESSIONS} UDP sessions on {local}: datagram from {peer} dropped");
                    continue;
                }
                match open(&state, &socket, &sessions, peer, local, epoch).await {
                    Some(u) => u,
                    None => continue,
                }
            }
        };
        if let Err(e) = upstream.send(&buf[..n]).await {
            log::debug!("stream: UDP send upstream failed client={peer}: {e}");
        }
    }
}

/// Routes a new client and starts its session's relay of answers; `None` when nothing matches.
async fn open(
    state: &Arc<AppState>,
    socket: &Arc<UdpSocket>,
    sessions: &Sessions,
    peer: SocketAddr,
    local: SocketAddr,
    epoch: Instant,
) -> Option<Arc<UdpSocket>> {
    let snap = state.snapshot.load_full();
    let view = StreamView {
        transport: Transport::Udp,
        src: peer,
        dst: local,
        tls: false,
        sni: None,
    };
    let Some(m) = snap.stream.find(&view) else {
        log::debug!("stream: no UDP route matched client={peer} listener={local}");
        return None;
    };
    let svc = snap.services.get(m.service?)?;
    let target = match pick_target(state, svc, peer, 0, &[]).await {
        Ok(t) => t,
        Err(e) => {
            log::warn!("stream: no upstream for service={}: {e}", svc.label);
            return None;
        }
    };
    let bind: SocketAddr = if target.addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let upstream = match UdpSocket::bind(bind).await {
        Ok(u) => u,
        Err(e) => {
            log::warn!("stream: cannot open a UDP socket: {e}");
            target.finish(Outcome::Unknown);
            return None;
        }
    };
    if let Err(e) = upstream.connect(target.addr).await {
        log::warn!("stream: UDP connect to {} failed: {e}", target.addr);
        target.finish(Outcome::TcpFailure);
        return None;
    }
    let upstream = Arc::new(upstream);
    let last = Arc::new(AtomicU64::new(epoch.elapsed().as_millis() as u64));
    sessions.lock().unwrap_or_else(|e| e.into_inner()).insert(
        peer,
        Session {
            upstream: upstream.clone(),
            last: last.clone(),
        },
    );
    let idle = timeouts(svc).idle;
    let (socket, sessions, relay) = (socket.clone(), sessions.clone(), upstream.clone());
    tokio::spawn(async move {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            match tokio::time::timeout(idle, relay.recv(&mut buf)).await {
                Ok(Ok(n)) => {
                    last.store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
                    let _ = socket.send_to(&buf[..n], peer).await;
                }
                // An ICMP port unreachable from the upstream, and the like: keep the session.
                Ok(Err(_)) => {}
                Err(_) => {
                    let since = epoch.elapsed().as_millis() as u64 - last.load(Ordering::Relaxed);
                    if since >= idle.as_millis() as u64 {
                        break;
                    }
                }
            }
        }
        sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&peer);
        target.finish(Outcome::Unknown);
    });
    Some(upstream)
}

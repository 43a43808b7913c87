//! Stream routes (Kong's stream subsystem, `gateway.stream_listen`): L4 proxying of TCP connections (plain,
//! TLS terminated, TLS passed through) and UDP sessions to a service's host or upstream targets.
//!
//! Plain tokio tasks in one Pingora background service (its own runtime, `worker_threads` threads), not
//! Pingora listeners and a `ServerApp`: pingora-core's listeners have no UDP, and its `ssl` listeners
//! finish the TLS handshake before the app sees the connection, while a stream listener must read the
//! ClientHello first to route by SNI and then either terminate or splice the untouched bytes. Each
//! connection (or UDP session) is routed once with the snapshot current when it starts and keeps it to the
//! end, so a reload applies new stream routes to new connections and never touches established ones. The
//! sockets are bound when the process starts (a bind error stops the start); `stream_listen` changes need a
//! restart, as `proxy_listen`'s. They are not handed over in a graceful upgrade (SIGQUIT): the new process
//! binds them once the old one has closed them (it retries while the address is in use), so new stream
//! connections are refused for that moment; established ones stay with the old process until it exits.

pub mod client_hello;
pub mod io;
mod tcp;
pub mod tls;
mod udp;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use gateway_config::certificates::KeyPairs;
use gateway_config::model::Settings;
use gateway_config::settings::StreamListener;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use socket2::{Domain, Protocol as SockProtocol, Socket, Type};

use crate::balancer::{Outcome, Pick, UpstreamBalancer};
use crate::snapshot::UpstreamService;
use crate::state::AppState;

/// A bound stream listener.
pub enum Bound {
    /// A TCP listener; `ssl`: connections start with TLS.
    Tcp(std::net::TcpListener, bool),
    /// A UDP socket.
    Udp(std::net::UdpSocket),
}

/// A listener of `stream_listen`: bound at start, or (in a process started with `--upgrade`) bound once the
/// old process has released the address.
pub enum Listener {
    /// Bound.
    Bound(Bound),
    /// To bind when the service starts, retrying while the address is in use.
    Later(StreamListener),
}

/// Binds the `stream_listen` entries (none when it is off); with `later` (an upgrade: the old process still
/// holds them), they are bound when the service starts.
pub fn bind(settings: &Settings, later: bool) -> Result<Vec<Listener>, String> {
    let entries = settings
        .stream_listeners()
        .map_err(|e| format!("gateway.stream_listen: {e}"))?;
    if later {
        return Ok(entries.into_iter().map(Listener::Later).collect());
    }
    entries
        .iter()
        .map(|l| {
            bind_one(l)
                .map(Listener::Bound)
                .map_err(|e| format!("gateway.stream_listen: cannot bind {}: {e}", l.addr))
        })
        .collect()
}

fn bind_one(l: &StreamListener) -> std::io::Result<Bound> {
    let addr: SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(&l.addr)?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))?;
    let (kind, proto) = if l.udp {
        (Type::DGRAM, SockProtocol::UDP)
    } else {
        (Type::STREAM, SockProtocol::TCP)
    };
    let socket = Socket::new(Domain::for_address(addr), kind, Some(proto))?;
    socket.set_reuse_address(true)?;
    if l.reuseport {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    if l.udp {
        return Ok(Bound::Udp(socket.into()));
    }
    socket.listen(i32::try_from(l.backlog).unwrap_or(i32::MAX))?;
    Ok(Bound::Tcp(socket.into(), l.ssl))
}

/// Binds `l` once its address is free (the old process of an upgrade closes its stream listeners when it
/// shuts down); gives up after a minute.
async fn bind_when_free(l: &StreamListener) -> Option<Bound> {
    for _ in 0..600 {
        match bind_one(l) {
            Ok(b) => {
                log::info!("stream: listening on {} (after the upgrade)", l.addr);
                return Some(b);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => {
                log::error!("stream: cannot bind {}: {e}", l.addr);
                return None;
            }
        }
    }
    log::error!(
        "stream: {} still in use after a minute: not listening",
        l.addr
    );
    None
}

/// The background service serving the stream listeners.
pub struct StreamService {
    state: Arc<AppState>,
    listeners: Mutex<Vec<Listener>>,
    default_cert: Option<Arc<KeyPairs>>,
}

impl StreamService {
    /// Serves `listeners` (bound by [`bind`]); `default_cert` is `gateway.ssl_cert`'s pair (required by an
    /// `ssl` entry).
    pub fn new(
        state: Arc<AppState>,
        listeners: Vec<Listener>,
        default_cert: Option<Arc<KeyPairs>>,
    ) -> Self {
        StreamService {
            state,
            listeners: Mutex::new(listeners),
            default_cert,
        }
    }
}

#[async_trait]
impl BackgroundService for StreamService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let listeners =
            std::mem::take(&mut *self.listeners.lock().unwrap_or_else(|e| e.into_inner()));
        let mut tasks = Vec::new();
        for listener in listeners {
            let bound = match listener {
                Listener::Bound(b) => Some(b),
                Listener::Later(l) => bind_when_free(&l).await,
            };
            let Some(bound) = bound else {
                continue;
            };
            let state = self.state.clone();
            match bound {
                Bound::Tcp(l, ssl) => {
                    let tls = match (ssl, &self.default_cert) {
                        (false, _) => None,
                        (true, Some(pair)) => match tls::acceptor() {
                            Ok(a) => Some((a, pair.clone())),
                            Err(e) => {
                                log::error!("stream: {e}");
                                continue;
                            }
                        },
                        (true, None) => {
                            log::error!("stream: an ssl stream listener needs gateway.ssl_cert");
                            continue;
                        }
                    };
                    match tokio::net::TcpListener::from_std(l) {
                        Ok(l) => tasks.push(tokio::spawn(tcp::accept_loop(state, l, tls))),
                        Err(e) => log::error!("stream: cannot use a listener: {e}"),
                    }
                }
                Bound::Udp(s) => match tokio::net::UdpSocket::from_std(s) {
                    Ok(s) => tasks.push(tokio::spawn(udp::serve(state, Arc::new(s)))),
                    Err(e) => log::error!("stream: cannot use a UDP socket: {e}"),
                },
            }
        }
        let _ = shutdown.changed().await;
        // Stop accepting; connections and sessions under way run until the process exits.
        for t in tasks {
            t.abort();
        }
    }
}

/// Where a stream connection goes: the address, and the balancer's pick to hand back.
pub(crate) struct Target {
    pub addr: SocketAddr,
    pub pick: Option<(Arc<UpstreamBalancer>, Pick)>,
    /// The name to send as SNI and verify on a `tls` service's upstream.
    pub name: String,
}

impl Target {
    /// Hands the balancer's pick back.
    pub fn finish(self, outcome: Outcome) {
        if let Some((b, pick)) = self.pick {
            b.finish(&pick, outcome);
        }
    }
}

/// The address of attempt `attempt` (`tried`: the addresses already tried): the service's balancer (hashed
/// on the client's IP), else its host, resolved through the process's resolver.
pub(crate) async fn pick_target(
    state: &AppState,
    svc: &UpstreamService,
    client: SocketAddr,
    attempt: usize,
    tried: &[SocketAddr],
) -> Result<Target, String> {
    if let Some(b) = &svc.balancer {
        let pick = b
            .pick(state.balancers.resolver(), &client.ip().to_string(), tried)
            .await
            .map_err(|e| format!("upstream {}: {e}", b.name))?;
        let (_, name) = b.host_for(pick.target, true);
        return Ok(Target {
            addr: pick.addr,
            name,
            pick: Some((b.clone(), pick)),
        });
    }
    let addrs = match &svc.literal {
        Some(a) => a.clone(),
        None => state
            .dns
            .resolve(&svc.host, svc.port)
            .await
            .map_err(|e| format!("cannot resolve {}: {e}", svc.host))?,
    };
    Ok(Target {
        addr: addrs.pick(attempt),
        pick: None,
        name: svc.host.clone(),
    })
}

/// The stream timeouts of a service.
pub(crate) fn timeouts(svc: &UpstreamService) -> io::Timeouts {
    io::Timeouts {
        idle: svc.read_timeout.max(Duration::from_millis(1)),
        write: svc.write_timeout.max(Duration::from_millis(1)),
    }
}

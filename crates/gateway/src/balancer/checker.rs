//! Active health checks: a Pingora background service that gives every balancer with probes configured one
//! tokio task. The task probes healthy addresses every `healthy.interval` and unhealthy ones every
//! `unhealthy.interval` seconds (0: that state is not probed), `concurrency` probes at a time, and ends when
//! no snapshot uses its balancer any more.

use super::health::Event;
use super::{Balancers, UpstreamBalancer};
use async_trait::async_trait;
use gateway_config::model::CheckType;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The background service running the active checks of every live balancer.
pub struct HealthChecks {
    balancers: Arc<Balancers>,
}

impl HealthChecks {
    /// The service for `balancers`.
    pub fn new(balancers: Arc<Balancers>) -> HealthChecks {
        HealthChecks { balancers }
    }
}

#[async_trait]
impl BackgroundService for HealthChecks {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            for b in self.balancers.all() {
                if probes(&b) && !b.probing.swap(true, Ordering::Relaxed) {
                    let task = run(Arc::downgrade(&b), self.balancers.clone(), shutdown.clone());
                    tokio::spawn(task);
                }
            }
            tokio::select! {
                _ = self.balancers.changed.notified() => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Whether `b` has an active check interval.
fn probes(b: &UpstreamBalancer) -> bool {
    let a = &b.upstream.healthchecks.active;
    a.healthy.interval > 0.0 || a.unhealthy.interval > 0.0
}

/// Probe `b`'s addresses until `b` is dropped or the process shuts down.
async fn run(b: Weak<UpstreamBalancer>, balancers: Arc<Balancers>, mut shutdown: ShutdownWatch) {
    let mut last: HashMap<SocketAddr, Instant> = HashMap::new();
    loop {
        let Some(balancer) = b.upgrade() else { return };
        balancer.refresh(balancers.resolver()).await;
        let active = &balancer.upstream.healthchecks.active;
        let interval = |healthy: bool| {
            let s = if healthy {
                active.healthy.interval
            } else {
                active.unhealthy.interval
            };
            (s > 0.0).then(|| Duration::from_secs_f64(s))
        };
        let ring = balancer.ring();
        let now = Instant::now();
        let mut wait = Duration::from_secs(1);
        let mut due = Vec::new();
        for e in ring.entries.iter().filter(|e| e.weight > 0) {
            let Some(every) = interval(e.state.healthy()) else {
                continue;
            };
            let next = last.get(&e.state.addr).map_or(now, |at| *at + every);
            if next <= now {
                last.insert(e.state.addr, now);
                due.push(e.state.clone());
                wait = wait.min(every);
            } else {
                wait = wait.min(next - now);
            }
        }
        let permits = Arc::new(tokio::sync::Semaphore::new(
            active.concurrency.max(1) as usize
        ));
        let mut probes = tokio::task::JoinSet::new();
        for state in due {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let balancer = balancer.clone();
            probes.spawn(async move {
                let event = probe(&balancer, state.target, state.addr).await;
                balancer.record(&state, event, &balancer.active, "active");
                drop(permit);
            });
        }
        while probes.join_next().await.is_some() {}
        drop(balancer);
        tokio::select! {
            _ = tokio::time::sleep(wait.max(Duration::from_millis(10))) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One probe of `addr` (target `target` of `b`).
async fn probe(b: &UpstreamBalancer, target: usize, addr: SocketAddr) -> Event {
    let active = &b.upstream.healthchecks.active;
    let timeout = Duration::from_secs_f64(active.timeout.max(0.001));
    let connect = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await;
    let mut stream = match connect {
        Err(_) => return Event::Timeout,
        Ok(Err(_)) => return Event::TcpFailure,
        Ok(Ok(s)) => s,
    };
    if active.r#type == CheckType::Tcp {
        return Event::Success;
    }
    let host = b.upstream.host_header.clone().unwrap_or_else(|| {
        let t = b.targets.get(target);
        match t {
            Some(t) if t.port == 80 => t.host.clone(),
            Some(t) if t.host.contains(':') => format!("[{}]:{}", t.host, t.port),
            Some(t) => format!("{}:{}", t.host, t.port),
            None => addr.to_string(),
        }
    });
    let mut req = format!(
        "GET {} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: gateway-healthcheck\r\nConnection: close\r\n",
        active.http_path
    );
    for (name, values) in active.headers.iter().flatten() {
        for v in values {
            req.push_str(&format!("{name}: {v}\r\n"));
        }
    }
    req.push_str("\r\n");
    let exchange = async {
        stream.write_all(req.as_bytes()).await?;
        let mut buf = Vec::with_capacity(256);
        let mut chunk = [0u8; 256];
        while !buf.windows(2).any(|w| w == b"\r\n") && buf.len() < 4096 {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, std::io::Error>(buf)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Err(_) => Event::Timeout,
        Ok(Err(_)) => Event::TcpFailure,
        Ok(Ok(buf)) => match status_of(&buf) {
            Some(status) => Event::Status(status),
            None => Event::TcpFailure,
        },
    }
}

/// The status code of an HTTP status line (`HTTP/1.x 200 OK`).
fn status_of(buf: &[u8]) -> Option<u16> {
    let line = buf.split(|&c| c == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn status_lines() {
        assert_eq!(super::status_of(b"HTTP/1.1 503 Busy\r\n"), Some(503));
        assert_eq!(super::status_of(b"SSH-2.0\r\n"), None);
    }
}

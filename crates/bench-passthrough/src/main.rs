//! Bare Pingora passthrough proxy used as the benchmark baseline: one upstream, no routing, no auth.
//!
//! ```text
//! bench-passthrough --listen 127.0.0.1:6190 --upstream 127.0.0.1:8080 [--threads 1] [--pool 128] [--reject]
//! ```
//! `--reject`: every request is answered 401 in `request_filter` with a fixed response (a `WWW-Authenticate`
//! header and a short JSON body, as the gateway's), never reaching the upstream: bare Pingora's early 401, the
//! baseline of the gateway's refusal path.
//! Each flag may also come from the environment: `BENCH_LISTEN`, `BENCH_UPSTREAM`, `BENCH_THREADS`,
//! `BENCH_POOL`. Upstream connections are kept alive in Pingora's pool. SIGINT exits at once; SIGTERM
//! exits after at most one second.

use std::net::SocketAddr;
use std::process::ExitCode;

use async_trait::async_trait;
use pingora::prelude::*;
use pingora::server::configuration::ServerConf;

/// Command-line settings of the passthrough.
struct Args {
    listen: String,
    upstream: SocketAddr,
    threads: usize,
    pool: usize,
    reject: bool,
}

/// Reads `--flag value` pairs, falling back to `BENCH_*` environment variables.
fn parse_args() -> Result<Args, String> {
    let mut listen = std::env::var("BENCH_LISTEN").ok();
    let mut upstream = std::env::var("BENCH_UPSTREAM").ok();
    let mut threads = std::env::var("BENCH_THREADS").ok();
    let mut pool = std::env::var("BENCH_POOL").ok();
    let mut reject = false;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let slot = match flag.as_str() {
            "--reject" => {
                reject = true;
                continue;
            }
            "--listen" => &mut listen,
            "--upstream" => &mut upstream,
            "--threads" => &mut threads,
            "--pool" => &mut pool,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        };
        *slot = Some(it.next().ok_or_else(|| format!("{flag} needs a value"))?);
    }
    let number = |v: Option<String>, name: &str, default: usize| -> Result<usize, String> {
        v.map_or(Ok(default), |s| {
            s.parse().map_err(|e| format!("{name} {s:?}: {e}"))
        })
    };
    let upstream = upstream.ok_or("--upstream (or BENCH_UPSTREAM) is required")?;
    Ok(Args {
        listen: listen.unwrap_or_else(|| "127.0.0.1:6190".to_owned()),
        upstream: upstream
            .parse()
            .map_err(|e| format!("--upstream {upstream:?} must be ip:port: {e}"))?,
        threads: number(threads, "--threads", 1)?.max(1),
        pool: number(pool, "--pool", 128)?,
        reject,
    })
}

/// The proxy: every request goes to the same plain-HTTP upstream.
struct Passthrough {
    upstream: SocketAddr,
    reject: bool,
}

/// The body of the `--reject` answer (the gateway's 401 body).
const REJECT_BODY: &[u8] = br#"{"message":"Unauthorized"}"#;

#[async_trait]
impl ProxyHttp for Passthrough {
    type CTX = ();

    fn new_ctx(&self) -> Self::CTX {}

    async fn request_filter(&self, session: &mut Session, _ctx: &mut ()) -> Result<bool> {
        if !self.reject {
            return Ok(false);
        }
        let mut resp = ResponseHeader::build(401, Some(4))?;
        resp.insert_header("WWW-Authenticate", "Bearer realm=\"bench\"")?;
        resp.insert_header("Content-Type", "application/json; charset=utf-8")?;
        resp.insert_header("Content-Length", REJECT_BODY.len().to_string())?;
        session.write_response_header(Box::new(resp), false).await?;
        session
            .write_response_body(Some(bytes::Bytes::from_static(REJECT_BODY)), true)
            .await?;
        Ok(true)
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("bench-passthrough: {msg}");
            }
            eprintln!(
                "usage: bench-passthrough --listen ADDR --upstream IP:PORT [--threads N] [--pool N] [--reject]"
            );
            return ExitCode::from(2);
        }
    };
    // Private pid file and upgrade socket, so that several instances can run side by side.
    let tag = format!("bench-passthrough-{}", std::process::id());
    let tmp = std::env::temp_dir();
    let conf = ServerConf {
        threads: args.threads,
        upstream_keepalive_pool_size: args.pool,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        pid_file: tmp.join(format!("{tag}.pid")).display().to_string(),
        upgrade_sock: tmp.join(format!("{tag}.sock")).display().to_string(),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut proxy = http_proxy_service(
        &server.configuration,
        Passthrough {
            upstream: args.upstream,
            reject: args.reject,
        },
    );
    proxy.add_tcp(&args.listen);
    server.add_service(proxy);
    eprintln!(
        "bench-passthrough: listening on {} -> {} ({} thread(s))",
        args.listen, args.upstream, args.threads
    );
    server.run_forever()
}

//! A compiled, immutable view of one config: router, upstream services (host names, never addresses: they are
//! resolved at request time by [`crate::dns::Resolver`]), per-route data (plugin chains, label).

use crate::balancer::{Balancers, UpstreamBalancer};
use crate::plugins::chain::{self, Chains, ConsumerScoped};
use crate::plugins::openid_connect::identity::ConsumerHeaders;
use crate::plugins::proxy_cache::ResponseCache;
use crate::plugins::rate_limiting::limiter::RateLimiter;
use crate::plugins::Builder;
use gateway_auth::{AuthRegistry, Authenticator};
use gateway_config::consumers::ConsumerIndex;
use gateway_config::load::Timings;
use gateway_config::lookup::PluginIndex;
use gateway_config::model::Config;
use gateway_config::router::Router;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use uuid::Uuid;

/// Why a config could not be compiled into a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The config itself is invalid (routes, plugin configs).
    #[error("{0}")]
    Config(#[from] gateway_config::error::ConfigErrors),
    /// An upstream uses something not built yet.
    #[error("{0}")]
    Unsupported(String),
    /// A plugin reached the compiler without the typed config the loader attaches (a config built in code
    /// and not loaded): a bug, never a user's error.
    #[error("plugin {name:?} ({plugin}) has no parsed config: load configs through gateway_config::load")]
    Untyped {
        /// The plugin's id.
        plugin: Uuid,
        /// The plugin's name.
        name: String,
    },
}

/// How to reach one service's upstream. The host name is resolved per request (see `proxy::upstream_peer`).
pub struct UpstreamService {
    /// Name (or id) for logs and metrics.
    pub label: String,
    /// The upstream port (an SRV answer may replace it).
    pub port: u16,
    /// The address when `host` is an IP literal (no DNS); `None` for a name.
    pub literal: Option<crate::dns::Addresses>,
    /// Whether to speak TLS to the upstream.
    pub tls: bool,
    /// Whether to speak HTTP/2 only (gRPC services: h2c with prior knowledge for `grpc`, ALPN h2 for `grpcs`).
    pub h2: bool,
    /// The upstream host name (SNI and, when `preserve_host` is false, the Host header).
    pub host: String,
    /// The Host header value sent when the route does not preserve the client's Host.
    pub host_header: String,
    /// The service path prefix (`None` for `/`).
    pub path: Option<String>,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Read timeout.
    pub read_timeout: Duration,
    /// Write timeout.
    pub write_timeout: Duration,
    /// Retries after a failed connection attempt.
    pub retries: u32,
    /// This service's request counters and latency histogram.
    pub metrics: crate::metrics::ServiceMetrics,
    /// The balancer when `host` names an upstream (then `addr` is unused).
    pub balancer: Option<Arc<UpstreamBalancer>>,
    /// TLS options beyond the defaults (`tls_verify`, `ca_certificates`, `client_certificate`).
    pub peer_tls: Option<Arc<crate::upstream_tls::PeerTls>>,
}

/// What a request needs about its route once matched; `Snapshot::routes[RouteMatch::route]`.
pub struct RouteRuntime {
    /// The route's id (proxy-cache's key).
    pub id: Uuid,
    /// Index into `Snapshot::services`; `None` for a route without a service (503 after its plugins).
    pub service: Option<usize>,
    /// The route's name, else its id: `route=` in the access log.
    pub label: String,
    /// The plugins that apply to the route, per phase, in Kong's priority order.
    pub chains: Chains,
    /// Kong's `request_buffering`: the whole body is read before an upstream is chosen.
    pub request_buffering: bool,
    /// Kong's `response_buffering`: the answer is read as fast as the upstream sends it.
    pub response_buffering: bool,
    /// The prometheus plugin's metric children of this route (latency histograms, and counters per consumer
    /// and status), resolved on their first request instead of through the labels' hash on every request.
    pub prometheus: std::sync::OnceLock<crate::plugins::prometheus::route::RouteMetrics>,
}

/// One config, compiled. Requests hold an `Arc<Snapshot>` for their whole life.
pub struct Snapshot {
    /// The config this snapshot was compiled from.
    pub config: Arc<Config>,
    /// The routing table.
    pub router: Router,
    /// Upstreams, indexed like `config.services`.
    pub services: Vec<UpstreamService>,
    /// Per-route data, indexed like `Config::routes_with_services()` (see `RouteMatch::route`).
    pub routes: Vec<RouteRuntime>,
    /// Each upstream's balancer, indexed like `config.upstreams`.
    pub upstreams: Vec<Arc<UpstreamBalancer>>,
    /// The `ssl` listeners' certificate lookup by SNI, into `config.certificates`.
    pub sni: gateway_config::certificates::SniIndex,
    /// The consumers by id, username and custom_id (positions in `config.consumers`).
    pub consumers: ConsumerIndex,
    /// Each consumer's upstream headers, indexed like `config.consumers`.
    pub consumer_headers: Vec<ConsumerHeaders>,
    /// The credentials of the consumer auth plugins, indexed.
    pub credentials: gateway_config::credentials::CredentialIndex,
    /// One limiter per rate-limiting plugin (shared by every route it applies to, as Kong counts per plugin).
    pub limiters: Vec<Arc<RateLimiter>>,
    /// The global plugins' chains: the rewrite phase of every request, and every phase of a request no
    /// route matched.
    pub global: Chains,
    /// Every authenticator the plugins use (for `AuthRegistry::retain`).
    pub authenticators: Vec<Arc<Authenticator>>,
    /// proxy-cache's responses: the process's one cache, handed from snapshot to snapshot
    /// ([`Snapshot::adopt_limiters`]); a compiled snapshot gets an empty one, bounded by
    /// `gateway.proxy_cache_memory_size`, which only the first snapshot of a process keeps.
    pub response_cache: Arc<ResponseCache>,
    /// `trusted_ips`, `real_ip_header` and `real_ip_recursive`, compiled: how the client's address is found.
    pub real_ip: gateway_config::real_ip::RealIp,
    /// BLAKE3 of the source text (or of the serialised config), for `/status`.
    pub hash: String,
    /// When this snapshot was built.
    pub loaded_at: SystemTime,
    /// The log record's entities and secret names, computed on the first logged request.
    pub log_entities: std::sync::OnceLock<crate::log_record::LogEntities>,
    /// Whether any route's chain holds opentelemetry (the proxy times the router only then).
    pub tracing: bool,
    /// An enabled global `tls-handshake-modifier`: the `ssl` listeners request a client certificate.
    pub request_client_cert: bool,
    /// The stream routes (`tcp`, `tls`, `udp`, `tls_passthrough`), apart from `router`.
    pub stream: gateway_config::router::stream::StreamRouter,
    /// Per service: a `tls` service's connector to its upstream (`None` for the others).
    pub stream_tls: Vec<Option<Arc<crate::stream::tls::Upstream>>>,
}

/// Compile `config` (from `source`, the text it was read from) into a snapshot, with balancers of its own
/// (unit tests).
#[cfg(test)]
pub fn compile(
    config: Config,
    source: &str,
    registry: &AuthRegistry,
) -> Result<Snapshot, CompileError> {
    compile_in(config, source, registry, &Balancers::detached())
}

/// [`compile`] with the process's balancers: unchanged upstreams keep their balancer and health.
pub fn compile_in(
    config: Config,
    source: &str,
    registry: &AuthRegistry,
    balancers: &Balancers,
) -> Result<Snapshot, CompileError> {
    compile_timed(config, source, registry, balancers, &mut Timings::default())
}

/// [`compile`], recording the phases `router`, `upstreams`, `plugins` and `hash` in `timings`.
pub fn compile_timed(
    config: Config,
    source: &str,
    registry: &AuthRegistry,
    balancers: &Balancers,
    timings: &mut Timings,
) -> Result<Snapshot, CompileError> {
    let router = Router::compile(&config)?;
    let stream = gateway_config::router::stream::StreamRouter::compile(&config)?;
    timings.mark("router");
    let stream_tls = (config.services.iter())
        .map(|s| match s.protocol {
            gateway_config::model::Protocol::Tls => crate::stream::tls::Upstream::new(&config, s)
                .map(|u| Some(Arc::new(u)))
                .map_err(CompileError::Unsupported),
            _ => Ok(None),
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Host names are kept, never resolved here: a name that does not resolve yet is a valid config.
    let mut services: Vec<UpstreamService> = config.services.iter().map(upstream_service).collect();
    for (svc, conf) in services.iter_mut().zip(&config.services) {
        svc.peer_tls = crate::upstream_tls::PeerTls::for_service(&config, conf);
    }
    // Every upstream gets its balancer (health checks run even before a service names it, as in Kong); a
    // service whose host names an upstream is balanced over its targets.
    let upstreams = config
        .upstreams
        .iter()
        .map(|u| balancers.get(u).map_err(CompileError::Unsupported))
        .collect::<Result<Vec<_>, _>>()?;
    if !upstreams.is_empty() {
        for (svc, conf) in services.iter_mut().zip(&config.services) {
            if let Some(i) = config.upstream_named(&conf.host) {
                svc.balancer = upstreams.get(i).cloned();
            }
        }
    }
    timings.mark("upstreams");
    let mut routes = Vec::new();
    // Plugin configs were parsed and keyed once by the loader; the registry is keyed on that key.
    let plugin_index = PluginIndex::new(&config);
    let mut builder = Builder::new(registry);
    builder.certificates = (config.certificates.iter())
        .map(|c| (c.id, (c.cert.clone(), c.key.clone())))
        .collect();
    let consumer_scoped = ConsumerScoped::new(&config, &mut builder)?;
    for entry in config.routes_with_services() {
        let route = entry.route;
        // Never skip an entry: indexes must not shift. `None`: a route without a service (validation refused
        // a dangling reference already).
        let service = entry.service;
        let plugins = plugin_index.plugins_for(&entry);
        routes.push(RouteRuntime {
            id: route.id,
            service,
            label: route.name.clone().unwrap_or_else(|| route.id.to_string()),
            request_buffering: route.request_buffering,
            response_buffering: route.response_buffering,
            prometheus: std::sync::OnceLock::new(),
            chains: chain::compile(
                &plugins,
                route,
                service.and_then(|s| config.services.get(s)),
                &consumer_scoped,
                &mut builder,
            )?,
        });
    }
    let global = chain::global(&config, &mut builder)?;
    let consumers = ConsumerIndex::new(&config.consumers);
    let consumer_headers = config.consumers.iter().map(ConsumerHeaders::new).collect();
    timings.mark("plugins");
    let hash = blake3::hash(source.as_bytes()).to_hex().to_string();
    timings.mark("hash");
    let response_cache = Arc::new(ResponseCache::new(config.gateway.proxy_cache_memory_size));
    let g = &config.gateway;
    let real_ip = gateway_config::real_ip::RealIp::new(
        &g.trusted_ips,
        &g.real_ip_header,
        g.real_ip_recursive,
    );
    let tracing = routes.iter().any(|r| {
        r.chains.access.iter().any(|s| {
            s.base.iter().any(|p| p.tracer().is_some())
                || s.by_consumer
                    .iter()
                    .any(|m| m.values().any(|p| p.tracer().is_some()))
        })
    });
    let request_client_cert = config.plugins.iter().any(|p| {
        p.enabled
            && p.name == "tls-handshake-modifier"
            && p.service.is_none()
            && p.route.is_none()
            && p.consumer.is_none()
    });
    Ok(Snapshot {
        stream,
        stream_tls,
        request_client_cert,
        tracing,
        real_ip,
        sni: gateway_config::certificates::SniIndex::new(&config.certificates),
        credentials: gateway_config::credentials::CredentialIndex::new(&config),
        config: Arc::new(config),
        router,
        services,
        routes,
        upstreams,
        consumers,
        consumer_headers,
        limiters: builder.limiters.all,
        global,
        authenticators: builder.authenticators,
        response_cache,
        hash,
        loaded_at: SystemTime::now(),
        log_entities: std::sync::OnceLock::new(),
    })
}

impl Snapshot {
    /// Takes over the limiters (and so the local counters) of `old` for the rate-limiting plugins whose id
    /// and config did not change, so a reload or an Admin API write does not reset them; and `old`'s
    /// response cache (proxy-cache), the process's one.
    pub fn adopt_limiters(&mut self, old: &Snapshot) {
        self.response_cache = old.response_cache.clone();
        for l in &mut self.limiters {
            if let Some(o) = old.limiters.iter().find(|o| o.identity == l.identity) {
                *l = o.clone();
            }
        }
    }

    /// Every authenticator the plugins use, for `AuthRegistry::retain`.
    pub fn authenticators(&self) -> Vec<Arc<Authenticator>> {
        self.authenticators.clone()
    }

    /// The log record's entities and secret names (see [`crate::log_record`]).
    pub fn log_entities(&self) -> &crate::log_record::LogEntities {
        self.log_entities
            .get_or_init(|| crate::log_record::LogEntities::new(&self.config))
    }

    /// The balancer of the upstream with this id.
    pub fn balancer(&self, id: Uuid) -> Option<&Arc<UpstreamBalancer>> {
        self.upstreams.iter().find(|b| b.id == id)
    }
}

/// `gateway validate --timings`: the reload path (read, parse, validate, compile a snapshot, drop it) run twice
/// with one registry, as at start and then on a SIGHUP; the second run's phases are returned, with the first
/// run's total. Compiling builds IdP clients but sends nothing (upstream names are resolved per request). `Err`: error text.
pub fn profile_reload(path: &std::path::Path) -> (Result<(), String>, Duration, Timings) {
    let registry = AuthRegistry::new(&prometheus::Registry::new());
    let balancers = Balancers::detached();
    let cache = gateway_config::load::ParseCache::default();
    let mut first = Duration::ZERO;
    for run in 0..2 {
        let mut timings = Timings::with_cpu_clock(Some(thread_cpu_time));
        let result = (|| {
            let source = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            timings.mark("read");
            let (config, _) = gateway_config::load::parse_str_cached(&source, &cache, &mut timings)
                .map_err(|e| e.to_string())?;
            let snap = compile_timed(config, &source, &registry, &balancers, &mut timings)
                .map_err(|e| e.to_string())?;
            drop(snap);
            timings.mark("drop");
            Ok(())
        })();
        if run == 0 && result.is_ok() {
            first = timings.phases.iter().map(|p| p.wall).sum();
            continue;
        }
        return (result, first, timings);
    }
    unreachable!("the second run returns")
}

/// CPU time of the calling thread.
#[allow(unsafe_code)]
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID needs nothing else.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

fn upstream_service(svc: &gateway_config::model::Service) -> UpstreamService {
    let tls = svc.protocol.is_tls();
    let default_port = if tls { 443 } else { 80 };
    let host_header = if svc.port == default_port {
        svc.host.clone()
    } else {
        format!("{}:{}", svc.host, svc.port)
    };
    UpstreamService {
        label: svc.name.clone().unwrap_or_else(|| svc.id.to_string()),
        port: svc.port,
        literal: crate::dns::Addresses::literal(&svc.host, svc.port),
        tls,
        h2: svc.protocol.is_grpc(),
        host: svc.host.clone(),
        host_header,
        path: svc.path.clone().filter(|p| p != "/"),
        connect_timeout: Duration::from_millis(svc.connect_timeout),
        read_timeout: Duration::from_millis(svc.read_timeout),
        write_timeout: Duration::from_millis(svc.write_timeout),
        retries: svc.retries,
        metrics: crate::metrics::ServiceMetrics::default(),
        balancer: None,
        peer_tls: None,
    }
}

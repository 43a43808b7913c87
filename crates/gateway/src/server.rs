//! `gateway run`: load the config, set up logging, and start Pingora with the proxy, Admin API and
//! reload services.

use crate::admin::AdminService;
use crate::cli::{default_pid_file, RunArgs as CliRunArgs};
use crate::control;
use crate::lifecycle;
use crate::proxy::Gateway;
use crate::reload::ReloadService;
use crate::snapshot;
use crate::state::AppState;
use gateway_config::model::Config;
use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::prelude::*;
use pingora::server::configuration::ServerConf;
use pingora::server::RunArgs;
use pingora::services::listening::Service;
use std::process::ExitCode;
use std::sync::Arc;

/// Settings given on the command line or in the environment; they win over the file on every load.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    proxy_listen: Option<String>,
    admin_listen: Option<String>,
    worker_threads: Option<usize>,
    upstream_keepalive_pool_size: Option<usize>,
    log_level: Option<String>,
    pid_file: Option<std::path::PathBuf>,
    upgrade_sock: Option<std::path::PathBuf>,
}

impl Overrides {
    fn from_args(args: &CliRunArgs) -> Self {
        Self {
            proxy_listen: args.proxy_listen.clone(),
            admin_listen: args.admin_listen.clone(),
            worker_threads: args.worker_threads,
            upstream_keepalive_pool_size: args.upstream_keepalive_pool_size,
            log_level: args.log_level.clone(),
            pid_file: args.pid_file.clone(),
            upgrade_sock: args.upgrade_sock.clone(),
        }
    }

    /// Apply the overrides to a freshly loaded config.
    pub fn apply(&self, config: &mut Config) {
        let g = &mut config.gateway;
        if let Some(v) = &self.proxy_listen {
            g.proxy_listen = v.clone();
        }
        if let Some(v) = &self.admin_listen {
            g.admin_listen = v.clone();
        }
        if let Some(v) = self.worker_threads {
            g.worker_threads = v;
        }
        if let Some(v) = self.upstream_keepalive_pool_size {
            g.upstream_keepalive_pool_size = v;
        }
        if let Some(v) = &self.log_level {
            g.log_level = v.clone();
        }
        if let Some(v) = &self.pid_file {
            g.pid_file = Some(v.clone());
        }
        if let Some(v) = &self.upgrade_sock {
            g.upgrade_sock = Some(v.clone());
        }
    }
}

/// Start the gateway; returns only on a start-up error (the process exits when Pingora stops).
pub fn run(mut args: CliRunArgs) -> ExitCode {
    // Daemon mode changes the working directory to `/`: keep every path usable for SIGHUP and the pid file.
    args.config = absolute(&args.config);
    args.pid_file = args.pid_file.as_deref().map(absolute);
    args.upgrade_sock = args.upgrade_sock.as_deref().map(absolute);
    let overrides = Overrides::from_args(&args);
    let (mut config, source) = match control::read(&args.config) {
        Ok(loaded) => (loaded.config, loaded.source),
        Err(msg) => {
            eprintln!("{}: invalid configuration:\n{msg}", args.config.display());
            return ExitCode::FAILURE;
        }
    };
    let file = control::FileState::of(&source, &config);
    init_logging(&overrides_log_level(&overrides, &config));
    // An etcd-backed node runs the document in etcd (or its local cache), with the file's settings.
    let mut store = None;
    let mut source = source;
    if let Some(settings) = config.gateway.etcd_store() {
        let s = crate::config_store::Store::new(
            settings.clone(),
            &args.config,
            &with_overrides(&overrides, &config).gateway.admin_listen,
        );
        match crate::config_store::startup::load(&s, &config) {
            Ok(initial) => {
                log::info!(
                    "config store: loaded etcd {} at revision {} node_id={}",
                    s.settings.config_key(),
                    initial.doc.revision,
                    s.node_id
                );
                config = initial.config;
                source = initial.doc.text.clone();
                store = Some((Arc::new(s), initial.doc));
            }
            Err(msg) => {
                eprintln!("{}: cannot start:\n{msg}", args.config.display());
                return ExitCode::FAILURE;
            }
        }
    }
    overrides.apply(&mut config);
    let settings = config.gateway.clone();
    // TLS files are read now, so that a missing or bad file stops the start with a clear message.
    let tls = match crate::tls::load(&settings) {
        Ok(tls) => tls,
        Err(msg) => {
            eprintln!("{}: invalid configuration:\n{msg}", args.config.display());
            return ExitCode::FAILURE;
        }
    };
    // Stream listeners are bound now: an address in use stops the start with a clear message (after an upgrade,
    // once the old process has closed them).
    let stream_listeners = match crate::stream::bind(&settings, args.upgrade) {
        Ok(l) => l,
        Err(msg) => {
            eprintln!("{}: cannot start:\n{msg}", args.config.display());
            return ExitCode::FAILURE;
        }
    };
    let stream_cert = tls.default_cert.clone();
    // One Prometheus registry for the process, handed to everything that counts (`/metrics` renders it).
    let prometheus = prometheus::Registry::new();
    let registry = match crate::cluster::registry(&settings, &prometheus) {
        Ok(r) => r.with_http_clients(tls.idp_clients),
        Err(msg) => {
            eprintln!("{}: invalid configuration:\n{msg}", args.config.display());
            return ExitCode::FAILURE;
        }
    };
    // The resolver lives as long as the process (reloads keep its cache); it opens no socket before the first
    // request, so creating it before Pingora daemonises is safe.
    let dns = match crate::dns::Resolver::new(&(&settings).into(), &prometheus) {
        Ok(r) => r,
        Err(msg) => {
            eprintln!("{}: invalid configuration:\n{msg}", args.config.display());
            return ExitCode::FAILURE;
        }
    };
    let balancers = match crate::balancer::Balancers::new(&prometheus, Arc::new(dns.clone())) {
        Ok(b) => Arc::new(b),
        Err(e) => {
            eprintln!("cannot register the balancer metrics: {e}");
            return ExitCode::FAILURE;
        }
    };
    let initial = match snapshot::compile_in(config, &source, &registry, &balancers) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}: invalid configuration:\n{e}", args.config.display());
            return ExitCode::FAILURE;
        }
    };
    let metrics = match crate::metrics::Metrics::new(&prometheus) {
        Ok(m) => Arc::new(m),
        Err(e) => {
            eprintln!("cannot register the gateway metrics: {e}");
            return ExitCode::FAILURE;
        }
    };
    metrics.config_loaded_at.set(unix_now());
    let store = store.map(|(store, doc)| {
        store.set_applied(doc.revision);
        metrics.config_revision.set(doc.revision);
        crate::config_store::cache::write(&store.cache_file, &doc);
        store
    });
    let state = Arc::new(
        AppState::new(
            args.config.clone(),
            file,
            initial,
            registry,
            overrides,
            prometheus,
            metrics,
            dns,
        )
        .with_balancers(balancers.clone())
        .with_store(store.clone()),
    );

    let conf = server_conf(&settings, &args);
    let opt = Opt {
        upgrade: args.upgrade,
        daemon: args.daemon,
        nocapture: false,
        test: false,
        conf: None,
    };
    let pid_file = std::path::PathBuf::from(&conf.pid_file);
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    // With `--upgrade` this waits (a few seconds at most) for the old process to hand its listening
    // sockets over the upgrade socket, which it does on SIGQUIT.
    server.bootstrap();
    if args.upgrade {
        log::info!("upgrade: listening sockets received from the old process");
    }
    if !args.daemon {
        // Written only now, so that during an upgrade the pid file names the old process until the new
        // one holds the sockets. In daemon mode Pingora writes it after forking.
        lifecycle::write_pid_file(&pid_file);
    }

    // h2c is a per-service option in Pingora: plain `http2` listeners get a service of their own; so do
    // `proxy_protocol` listeners, whose app reads the PROXY header first.
    let limits = crate::limits::Limits::new(&settings);
    let client = crate::client_conn::ConnLimits::new(&settings.client);
    let buffers = Arc::new(crate::buffering::BufferLimits::new(&settings.buffering));
    if let Err(e) = tempfile::tempfile_in(settings.buffering.temp_dir()) {
        eprintln!(
            "gateway.temp_path: cannot create temporary files in {}: {e}",
            settings.buffering.temp_dir().display()
        );
        return ExitCode::FAILURE;
    }
    let mut groups: [(&str, bool, bool, Vec<crate::tls::Listener>); 4] = [
        ("proxy", false, false, Vec::new()),
        ("proxy-h2c", true, false, Vec::new()),
        ("proxy-pp", false, true, Vec::new()),
        ("proxy-h2c-pp", true, true, Vec::new()),
    ];
    for l in tls.listeners {
        let h2c = l.http2 && !l.ssl;
        if let Some(g) = groups
            .iter_mut()
            .find(|g| g.1 == h2c && g.2 == l.proxy_protocol)
        {
            g.3.push(l);
        }
    }
    for (name, h2c, proxy_protocol, listeners) in groups {
        if listeners.is_empty() {
            continue;
        }
        let mut app = pingora::proxy::http_proxy(
            &server.configuration,
            Gateway {
                state: state.clone(),
                limits,
                client,
                buffers: buffers.clone(),
            },
        );
        app.h2_options = Some(limits.h2_options());
        let mut options = pingora::apps::HttpServerOptions::default();
        options.h2c = h2c;
        // Pingora counts reuses: the connection's first request plus `limit` more.
        options.keepalive_request_limit =
            Some(settings.client.keepalive_requests.saturating_sub(1));
        app.server_options = Some(options);
        let metrics = state.metrics.clone();
        let added = if proxy_protocol {
            let app = crate::proxy_protocol::ProxyProtocolApp::new(app);
            let mut service = Service::new(
                name.into(),
                crate::client_conn::ClientLimitsApp::new(app, client, buffers.clone(), metrics),
            );
            let pre_tls = Arc::new(crate::proxy_protocol::PreTls);
            service.endpoints().set_pre_tls_callback(pre_tls);
            add_listeners(&mut service, listeners, &state, &tls.default_cert)
                .map(|()| server.add_service(service))
        } else {
            let mut service = Service::new(
                name.into(),
                crate::client_conn::ClientLimitsApp::new(app, client, buffers.clone(), metrics),
            );
            add_listeners(&mut service, listeners, &state, &tls.default_cert)
                .map(|()| server.add_service(service))
        };
        if let Err(msg) = added {
            eprintln!("{msg}");
            return ExitCode::FAILURE;
        }
    }
    server.add_service(background_service(
        "admin",
        AdminService::new(state.clone(), settings.admin_listen.clone()),
    ));
    if let Some(listen) = settings.status_listen.as_ref().filter(|l| *l != "off") {
        server.add_service(background_service(
            "status",
            AdminService::status(state.clone(), listen.clone()),
        ));
    }
    if settings.cluster_cache.as_ref().is_some_and(|c| c.enabled) {
        server.add_service(background_service(
            "cluster-purge",
            crate::cluster::PurgeListener::new(state.clone()),
        ));
    }
    if !stream_listeners.is_empty() {
        let svc = crate::stream::StreamService::new(state.clone(), stream_listeners, stream_cert);
        let mut svc = pingora::services::background::GenBackgroundService::new(
            "stream".to_string(),
            Arc::new(svc),
        );
        svc.threads = Some(settings.effective_worker_threads());
        server.add_service(svc);
    }
    server.add_service(background_service(
        "health-checks",
        crate::balancer::checker::HealthChecks::new(balancers),
    ));
    if settings.watch_config {
        server.add_service(background_service(
            "watch-config",
            crate::watch::WatchService::new(state.clone()),
        ));
    }
    if let Some(store) = store {
        server.add_service(background_service(
            "config-store-watch",
            crate::config_store::watch::WatchService::new(state.clone(), store.clone()),
        ));
        server.add_service(background_service(
            "config-store-node",
            crate::config_store::nodes::Registration::new(state.clone(), store),
        ));
    }
    server.add_service(background_service("reload", ReloadService::new(state)));
    log::info!(
        "gateway starting proxy_listen={} admin_listen={} worker_threads={}",
        settings.proxy_listen,
        settings.admin_listen,
        settings.worker_threads
    );
    server.run(RunArgs {
        shutdown_signal: Box::new(lifecycle::ShutdownSignals),
    });
    lifecycle::remove_pid_file(&pid_file);
    log::info!("gateway stopped");
    std::process::exit(0)
}

/// `config` with the command-line and environment overrides applied.
fn with_overrides(overrides: &Overrides, config: &Config) -> Config {
    let mut c = Config {
        gateway: config.gateway.clone(),
        ..Config::default()
    };
    overrides.apply(&mut c);
    c
}

/// The log level in force: the override, else the file's.
fn overrides_log_level(overrides: &Overrides, config: &Config) -> String {
    with_overrides(overrides, config).gateway.log_level
}

/// The read buffer Pingora keeps under each accepted plain-TCP connection for its whole life (its default is
/// 64 KiB, sized for TLS's 16 KiB record reads). Reads of a body into Pingora's own 64 KiB buffer bypass it;
/// what it saves is syscalls on small reads (request heads). 16 KiB: a slow reader's connection costs
/// 51 KiB less RSS (tests/tests/buffering.rs, 102 -> 51 KiB), the 1 MiB rows of `make bench` unchanged.
/// TLS listeners keep Pingora's default.
const PLAIN_L4_READ_BUFFER: usize = 16 * 1024;

/// Adds the proxy listeners to `service`: an `ssl` one with the certificate its SNI selects, a plain one
/// with a [`PLAIN_L4_READ_BUFFER`] read buffer.
fn add_listeners<A>(
    service: &mut Service<A>,
    listeners: Vec<crate::tls::Listener>,
    state: &Arc<AppState>,
    default_cert: &Option<Arc<gateway_config::certificates::KeyPairs>>,
) -> Result<(), String> {
    for l in listeners {
        match (l.ssl, default_cert) {
            (true, Some(default)) => {
                let settings = crate::tls::settings(state.clone(), default.clone(), l.http2)
                    .map_err(|msg| format!("{}: {msg}", l.addr))?;
                service.add_tls_with_settings(&l.addr, None, settings);
            }
            _ => {
                let buffers = L4BufferSettings::default().read(PLAIN_L4_READ_BUFFER);
                service.add_listener(ListenerConfig::tcp(l.addr.as_str()).l4_buffer(buffers))
            }
        }
    }
    Ok(())
}

/// `path` made absolute against the current directory (unchanged if that fails).
fn absolute(path: &std::path::Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn server_conf(settings: &gateway_config::model::Settings, args: &CliRunArgs) -> ServerConf {
    let mut conf = ServerConf {
        threads: settings.worker_threads.max(1),
        // Each worker thread runs its own single-threaded event loop and keeps the connections it accepted
        // (nginx's worker model), instead of Pingora's default work-stealing runtime: no cross-thread task
        // queues, and half the scheduler's clock reads per batch of tasks (docs/architecture.md, "Runtime").
        work_stealing: false,
        upstream_keepalive_pool_size: settings.upstream_keepalive_pool_size,
        grace_period_seconds: Some(settings.grace_period_seconds),
        graceful_shutdown_timeout_seconds: Some(settings.graceful_shutdown_timeout_seconds),
        ..ServerConf::default()
    };
    conf.pid_file = absolute(
        &settings
            .pid_file
            .clone()
            .unwrap_or_else(|| default_pid_file(&args.config)),
    )
    .display()
    .to_string();
    conf.upgrade_sock = absolute(&settings.upgrade_sock.clone().unwrap_or_else(|| {
        let mut p = args.config.as_os_str().to_owned();
        p.push(".upgrade.sock");
        std::path::PathBuf::from(p)
    }))
    .display()
    .to_string();
    conf
}

/// Dependencies that log message contents below `info`: at debug Pingora logs upstream URIs (query
/// tokens) and response bodies, at trace every request header (`Authorization`). They are capped at
/// `info` whatever `log_level`/`RUST_LOG` say, so no credential reaches the log.
const CONTENT_LOGGING_MODULES: &[&str] = &["pingora_proxy", "pingora_core"];

fn init_logging(level: &str) {
    let mut builder = env_logger::Builder::new();
    let mut max = parse_level(level);
    builder.filter_level(max);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        builder.parse_filters(&spec);
        // The most verbose level any directive now allows (a bare level in RUST_LOG replaces `level`).
        let mut probe = env_logger::Builder::new();
        probe.filter_level(max).parse_filters(&spec);
        max = probe.build().filter();
    }
    // Later directives for the same module replace earlier ones, so this wins over RUST_LOG.
    for module in CONTENT_LOGGING_MODULES {
        builder.filter_module(module, max.min(log::LevelFilter::Info));
    }
    builder.format_timestamp_millis();
    // A second init (never in the binary) is harmless.
    let _ = builder.try_init();
}

fn parse_level(level: &str) -> log::LevelFilter {
    match level.to_ascii_lowercase().as_str() {
        "off" => log::LevelFilter::Off,
        "error" | "crit" | "alert" | "emerg" => log::LevelFilter::Error,
        "warn" | "warning" => log::LevelFilter::Warn,
        "debug" => log::LevelFilter::Debug,
        "trace" => log::LevelFilter::Trace,
        _ => log::LevelFilter::Info,
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

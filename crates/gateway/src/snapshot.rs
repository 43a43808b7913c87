//! A compiled, immutable view of one config: router, upstream peers, per-route auth plugins.

use gateway_auth::{AuthRegistry, Authenticator};
use gateway_config::model::{Config, Protocol};
use gateway_config::plugins::openid_connect::OidcConfig;
use gateway_config::router::Router;
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use uuid::Uuid;

/// Why a config could not be compiled into a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The config itself is invalid (routes, plugin configs).
    #[error("{0}")]
    Config(#[from] gateway_config::error::ConfigErrors),
    /// A service host cannot be resolved.
    #[error("services[{index}].host: cannot resolve {host:?}: {reason}")]
    Resolve {
        /// Index of the service in the config.
        index: usize,
        /// The host that failed.
        host: String,
        /// The resolver's message.
        reason: String,
    },
}

/// How to reach one service's upstream, resolved at compile time.
pub struct UpstreamService {
    /// Name (or id) for logs and metrics.
    pub label: String,
    /// The resolved socket address.
    pub addr: SocketAddr,
    /// Whether to speak TLS to the upstream.
    pub tls: bool,
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
}

/// One config, compiled. Requests hold an `Arc<Snapshot>` for their whole life.
pub struct Snapshot {
    /// The config this snapshot was compiled from.
    pub config: Arc<Config>,
    /// The routing table.
    pub router: Router,
    /// Upstreams, indexed like `config.services`.
    pub services: Vec<UpstreamService>,
    /// The openid-connect plugin that applies to each route, if any.
    pub auth: HashMap<Uuid, Arc<Authenticator>>,
    /// BLAKE3 of the source text (or of the serialised config), for `/status`.
    pub hash: String,
    /// When this snapshot was built.
    pub loaded_at: SystemTime,
}

/// Compile `config` (from `source`, the text it was read from) into a snapshot.
pub fn compile(
    config: Config,
    source: &str,
    registry: &AuthRegistry,
) -> Result<Snapshot, CompileError> {
    let router = Router::compile(&config)?;
    let mut services = Vec::with_capacity(config.services.len());
    for (index, svc) in config.services.iter().enumerate() {
        services.push(upstream_service(index, svc)?);
    }
    let mut auth = HashMap::new();
    for entry in config.routes_with_services() {
        let Some(service_index) = entry.service else {
            continue;
        };
        let route = entry.route;
        for plugin in config.plugins_for(service_index, route.id) {
            if plugin.name != "openid-connect" {
                continue;
            }
            // Validated at load; a failure here would be a bug in the loader.
            let oidc = OidcConfig::from_value(&plugin.config).map_err(|errs| {
                gateway_config::error::ConfigErrors::from_field_errors("plugins[].config", errs)
            })?;
            auth.insert(route.id, registry.get(&oidc));
        }
    }
    Ok(Snapshot {
        config: Arc::new(config),
        router,
        services,
        auth,
        hash: blake3::hash(source.as_bytes()).to_hex().to_string(),
        loaded_at: SystemTime::now(),
    })
}

fn upstream_service(
    index: usize,
    svc: &gateway_config::model::Service,
) -> Result<UpstreamService, CompileError> {
    let tls = matches!(svc.protocol, Protocol::Https);
    let addr = (svc.host.as_str(), svc.port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())
        .and_then(|mut it| it.next().ok_or_else(|| "no address".to_string()))
        .map_err(|reason| CompileError::Resolve {
            index,
            host: svc.host.clone(),
            reason,
        })?;
    let default_port = if tls { 443 } else { 80 };
    let host_header = if svc.port == default_port {
        svc.host.clone()
    } else {
        format!("{}:{}", svc.host, svc.port)
    };
    Ok(UpstreamService {
        label: svc.name.clone().unwrap_or_else(|| svc.id.to_string()),
        addr,
        tls,
        host: svc.host.clone(),
        host_header,
        path: svc.path.clone().filter(|p| p != "/"),
        connect_timeout: Duration::from_millis(svc.connect_timeout),
        read_timeout: Duration::from_millis(svc.read_timeout),
        write_timeout: Duration::from_millis(svc.write_timeout),
        retries: svc.retries,
    })
}

//! The `gateway:` block: listener addresses, worker threads, logging and shutdown settings, with defaults and checks.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::dns_settings as dns;
use crate::error::Collector;

mod check;
mod stream_listen;
#[cfg(test)]
use check::is_listen_address;
pub use check::ProxyListener;
pub use stream_listen::StreamListener;

/// Default proxy listener.
pub const DEFAULT_PROXY_LISTEN: &str = "0.0.0.0:8000";
/// Default Admin API listener.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:8001";
/// Default size of the upstream keep-alive connection pool.
pub const DEFAULT_KEEPALIVE_POOL_SIZE: usize = 512;
/// Default log level.
pub const DEFAULT_LOG_LEVEL: &str = "info";
/// Default `access_log_format`.
pub const DEFAULT_ACCESS_LOG_FORMAT: &str = "text";
/// Accepted values of `access_log_format`.
pub const ACCESS_LOG_FORMATS: &[&str] = &["text", "json"];
/// Default grace period (seconds) during a graceful upgrade or shutdown.
pub const DEFAULT_GRACE_PERIOD_SECONDS: u64 = 5;
/// Default maximum entries of each token cache.
pub const DEFAULT_TOKEN_CACHE_SIZE: usize = 100_000;
/// Default graceful shutdown timeout (seconds).
pub const DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_SECONDS: u64 = 5;
/// Default bound of the proxy-cache plugin's response cache, in bytes (Kong's `mem_cache_size`, which sizes
/// the `kong_db_cache` dictionary the plugin uses by default: 128 MiB).
pub const DEFAULT_PROXY_CACHE_MEMORY_SIZE: u64 = 128 * 1024 * 1024;
/// Accepted values of `log_level` (case-insensitive).
pub const LOG_LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

/// Gateway process settings (YAML key `gateway:`); every key is optional and unknown keys are refused.
///
/// Serialization leaves out values equal to their default, so a round trip keeps the file short.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Proxy listeners: comma-separated `host:port` entries, each optionally followed by ` ssl` to serve
    /// HTTPS, ` http2` and ` proxy_protocol` (Kong's syntax, e.g. `0.0.0.0:8000, 0.0.0.0:8443 ssl`; default
    /// `0.0.0.0:8000`).
    #[serde(skip_serializing_if = "is_default_proxy_listen")]
    pub proxy_listen: String,
    /// Admin API listener, `host:port` (default `127.0.0.1:8001`).
    #[serde(skip_serializing_if = "is_default_admin_listen")]
    pub admin_listen: String,
    /// Worker threads (default: the number of CPUs; not written back when equal to it).
    #[serde(skip_serializing_if = "is_default_worker_threads")]
    pub worker_threads: usize,
    /// Idle upstream connections kept for reuse (default 512).
    #[serde(skip_serializing_if = "is_default_pool_size")]
    pub upstream_keepalive_pool_size: usize,
    /// `off`, `error`, `warn`, `info` (default), `debug` or `trace`; `RUST_LOG` may refine it.
    #[serde(skip_serializing_if = "is_default_log_level")]
    pub log_level: String,
    /// Bearer token required by the Admin API; `None` (default) means no token check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<String>,
    /// Seconds the old process keeps serving during a graceful upgrade (default 5).
    #[serde(skip_serializing_if = "is_default_grace_period")]
    pub grace_period_seconds: u64,
    /// Seconds to wait for in-flight requests at shutdown (default 5).
    #[serde(skip_serializing_if = "is_default_shutdown_timeout")]
    pub graceful_shutdown_timeout_seconds: u64,
    /// PID file; `None` lets the binary derive it from the config path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid_file: Option<PathBuf>,
    /// Upgrade socket; `None` lets the binary derive it from the config path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgrade_sock: Option<PathBuf>,
    /// Whether an access-log line is written per request (default true).
    #[serde(skip_serializing_if = "is_true")]
    pub access_log: bool,
    /// `text` (default: key=value, no header values, no query strings) or `json` (Kong's log record, the one
    /// file-log writes, secrets redacted).
    #[serde(skip_serializing_if = "is_default_access_log_format")]
    pub access_log_format: String,
    /// Kong's `status_listen`: `host:port` of a listener serving `GET /status` and `GET /metrics` (the
    /// Prometheus text the Admin API's `/metrics` serves); `None` (default, as Kong's `off`): no listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_listen: Option<String>,
    /// Kong's `stream_listen`: the L4 listeners of stream routes, comma-separated `host:port` entries each
    /// optionally followed by ` ssl`, ` udp`, ` reuseport`, ` backlog=N` (e.g. `127.0.0.1:5555, 127.0.0.1:5556
    /// ssl, 127.0.0.1:5557 udp reuseport`); `None` (default) or `off`: no stream listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_listen: Option<String>,
    /// Maximum entries of each token cache (introspection results, grant tokens), per distinct
    /// openid-connect plugin config (default 100000; fixed at start).
    #[serde(skip_serializing_if = "is_default_token_cache_size")]
    pub token_cache_size: usize,
    /// Optional Redis-backed cache shared by the nodes (`None`, the default: per-node caches only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_cache: Option<crate::cluster_cache::ClusterCacheSettings>,
    /// Where the entities live: the config file (`None`, the default, or `kind: file`) or etcd, watched by
    /// every node (`docs/scale-out.md`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_store: Option<crate::config_store::ConfigStoreSettings>,
    /// PEM certificate (chain) served by the `ssl` proxy listeners (Kong's `ssl_cert`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_cert: Option<PathBuf>,
    /// PEM private key of `ssl_cert` (Kong's `ssl_cert_key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_cert_key: Option<PathBuf>,
    /// PEM bundle of CA certificates trusted for IdP calls in addition to the system roots (Kong's
    /// `lua_ssl_trusted_certificate`, here a single file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lua_ssl_trusted_certificate: Option<PathBuf>,
    /// DNS servers, `ip[:port]` (a list or Kong's comma-separated string; default empty: the servers of
    /// `/etc/resolv.conf`).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "dns::list_or_csv"
    )]
    pub dns_resolver: Vec<String>,
    /// Hosts file read by the resolver (default `/etc/hosts`).
    #[serde(skip_serializing_if = "is_default_hostsfile")]
    pub dns_hostsfile: PathBuf,
    /// Record types tried in order, from `LAST`, `SRV`, `A`, `AAAA`, `CNAME` (upper-cased; default
    /// `[LAST, SRV, A, CNAME]`; a list or a comma-separated string).
    #[serde(
        skip_serializing_if = "is_default_dns_order",
        deserialize_with = "dns::upper_list_or_csv"
    )]
    pub dns_order: Vec<String>,
    /// TTL (seconds) used instead of the records' own; `None` (default) honours the records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_valid_ttl: Option<u64>,
    /// Seconds a stale answer may be served while it is refreshed (default 3600).
    #[serde(skip_serializing_if = "is_default_stale_ttl")]
    pub dns_stale_ttl: u64,
    /// Seconds an empty or name-error answer is cached (default 30).
    #[serde(skip_serializing_if = "is_default_not_found_ttl")]
    pub dns_not_found_ttl: u64,
    /// Seconds an error answer is cached (default 1).
    #[serde(skip_serializing_if = "is_default_error_ttl")]
    pub dns_error_ttl: u64,
    /// Entries of the DNS cache (default 10000).
    #[serde(skip_serializing_if = "is_default_dns_cache_size")]
    pub dns_cache_size: usize,
    /// Largest request header section, in bytes (names, values and line overhead; default 32768): a larger
    /// one is answered 431.
    #[serde(skip_serializing_if = "is_default_max_header_bytes")]
    pub max_request_header_bytes: usize,
    /// Most request header fields (default 100): more are answered 431.
    #[serde(skip_serializing_if = "is_default_max_headers")]
    pub max_request_headers: usize,
    /// Longest request target (path and query), in bytes (default 8192): a longer one is answered 414.
    #[serde(skip_serializing_if = "is_default_max_uri")]
    pub max_uri_length: usize,
    /// Follow the config file without a signal (default false): changes to the file or its directory
    /// (an editor's rename-on-save, Kubernetes' ConfigMap symlink swap) trigger one debounced reload.
    #[serde(skip_serializing_if = "is_false")]
    pub watch_config: bool,
    /// Bytes of responses the proxy-cache plugin keeps, all its instances together (default 128 MiB; least
    /// recently used entries are evicted past it; a response larger than it is not stored; fixed at start).
    #[serde(skip_serializing_if = "is_default_proxy_cache_memory_size")]
    pub proxy_cache_memory_size: u64,
    /// Peers whose `real_ip_header` (and `X-Forwarded-*` headers) are believed: IPv4/IPv6 addresses and CIDR
    /// blocks (a list or Kong's comma-separated string; default none).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "dns::list_or_csv"
    )]
    pub trusted_ips: Vec<String>,
    /// The header the real client address is read from (default `X-Real-IP`), or `proxy_protocol`.
    #[serde(skip_serializing_if = "is_default_real_ip_header")]
    pub real_ip_header: String,
    /// nginx's `real_ip_recursive` (`on`/`off`, default off): walk the header from the right past trusted
    /// addresses.
    #[serde(
        skip_serializing_if = "is_false",
        deserialize_with = "crate::real_ip::on_off"
    )]
    pub real_ip_recursive: bool,
    /// Client deadlines and per-connection caps (`client_header_timeout`, `keepalive_requests`, ...).
    #[serde(flatten)]
    pub client: crate::client_limits::ClientLimits,
    /// Request and response buffering (`client_body_buffer_size`, `client_max_body_size`, `temp_path`, ...).
    #[serde(flatten)]
    pub buffering: crate::buffering::Buffering,
}

/// When a change to a setting takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// On the next reload (SIGHUP or Admin API write): the value is read from the running snapshot.
    OnReload,
    /// Only after a restart or a binary upgrade: the value is used when the process starts.
    OnRestart,
}

/// One setting: its name, when a change to it takes effect, and whether two settings differ in it.
pub struct SettingSpec {
    /// The key in the `gateway:` block.
    pub name: &'static str,
    /// When a change takes effect.
    pub applies: Applies,
    changed: fn(&Settings, &Settings) -> bool,
}

/// The key of a (possibly flattened) field: its last name.
macro_rules! key {
    ($a:ident) => {
        stringify!($a)
    };
    ($a:ident . $b:ident) => {
        stringify!($b)
    };
}

macro_rules! settings_table {
    ($($field:ident $(. $sub:ident)?: $applies:ident),* $(,)?) => {
        /// Every setting of the `gateway:` block, with when a change to it takes effect.
        pub const SETTINGS: &[SettingSpec] = &[$(SettingSpec {
            name: key!($field $(. $sub)?),
            applies: Applies::$applies,
            changed: |a, b| a.$field $(. $sub)? != b.$field $(. $sub)?,
        }),*];
    };
}

settings_table! {
    proxy_listen: OnRestart,
    admin_listen: OnRestart,
    worker_threads: OnRestart,
    upstream_keepalive_pool_size: OnRestart,
    log_level: OnRestart,
    admin_token: OnReload,
    grace_period_seconds: OnRestart,
    graceful_shutdown_timeout_seconds: OnRestart,
    pid_file: OnRestart,
    upgrade_sock: OnRestart,
    access_log: OnReload,
    access_log_format: OnReload,
    status_listen: OnRestart,
    stream_listen: OnRestart,
    token_cache_size: OnRestart,
    cluster_cache: OnRestart,
    config_store: OnRestart,
    ssl_cert: OnRestart,
    ssl_cert_key: OnRestart,
    lua_ssl_trusted_certificate: OnRestart,
    dns_resolver: OnRestart,
    dns_hostsfile: OnRestart,
    dns_order: OnRestart,
    dns_valid_ttl: OnRestart,
    dns_stale_ttl: OnRestart,
    dns_not_found_ttl: OnRestart,
    dns_error_ttl: OnRestart,
    dns_cache_size: OnRestart,
    max_request_header_bytes: OnRestart,
    max_request_headers: OnRestart,
    max_uri_length: OnRestart,
    watch_config: OnRestart,
    proxy_cache_memory_size: OnRestart,
    trusted_ips: OnReload,
    real_ip_header: OnReload,
    real_ip_recursive: OnReload,
    client.client_header_timeout: OnRestart,
    client.client_body_timeout: OnRestart,
    client.client_body_total_timeout: OnRestart,
    client.send_timeout: OnRestart,
    client.keepalive_requests: OnRestart,
    client.keepalive_timeout: OnRestart,
    buffering.client_body_buffer_size: OnRestart,
    buffering.client_max_body_size: OnRestart,
    buffering.response_buffer_size: OnRestart,
    buffering.proxy_max_temp_file_size: OnRestart,
    buffering.temp_path: OnRestart,
    buffering.temp_max_size: OnRestart,
}

impl SettingSpec {
    /// Whether `a` and `b` differ in this setting.
    pub fn differs(&self, a: &Settings, b: &Settings) -> bool {
        (self.changed)(a, b)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            proxy_listen: DEFAULT_PROXY_LISTEN.to_string(),
            admin_listen: DEFAULT_ADMIN_LISTEN.to_string(),
            worker_threads: default_worker_threads(),
            upstream_keepalive_pool_size: DEFAULT_KEEPALIVE_POOL_SIZE,
            log_level: DEFAULT_LOG_LEVEL.to_string(),
            admin_token: None,
            grace_period_seconds: DEFAULT_GRACE_PERIOD_SECONDS,
            graceful_shutdown_timeout_seconds: DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_SECONDS,
            pid_file: None,
            upgrade_sock: None,
            access_log: true,
            access_log_format: DEFAULT_ACCESS_LOG_FORMAT.to_string(),
            status_listen: None,
            stream_listen: None,
            token_cache_size: DEFAULT_TOKEN_CACHE_SIZE,
            cluster_cache: None,
            config_store: None,
            ssl_cert: None,
            ssl_cert_key: None,
            lua_ssl_trusted_certificate: None,
            dns_resolver: Vec::new(),
            dns_hostsfile: PathBuf::from(dns::DEFAULT_DNS_HOSTSFILE),
            dns_order: dns::default_dns_order(),
            dns_valid_ttl: None,
            dns_stale_ttl: dns::DEFAULT_DNS_STALE_TTL,
            dns_not_found_ttl: dns::DEFAULT_DNS_NOT_FOUND_TTL,
            dns_error_ttl: dns::DEFAULT_DNS_ERROR_TTL,
            dns_cache_size: dns::DEFAULT_DNS_CACHE_SIZE,
            max_request_header_bytes: DEFAULT_MAX_REQUEST_HEADER_BYTES,
            max_request_headers: DEFAULT_MAX_REQUEST_HEADERS,
            max_uri_length: DEFAULT_MAX_URI_LENGTH,
            watch_config: false,
            proxy_cache_memory_size: DEFAULT_PROXY_CACHE_MEMORY_SIZE,
            trusted_ips: Vec::new(),
            real_ip_header: crate::real_ip::DEFAULT_REAL_IP_HEADER.to_string(),
            real_ip_recursive: false,
            client: Default::default(),
            buffering: Default::default(),
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("proxy_listen", &self.proxy_listen)
            .field("admin_listen", &self.admin_listen)
            .field("worker_threads", &self.worker_threads)
            .field(
                "upstream_keepalive_pool_size",
                &self.upstream_keepalive_pool_size,
            )
            .field("log_level", &self.log_level)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .field("grace_period_seconds", &self.grace_period_seconds)
            .field(
                "graceful_shutdown_timeout_seconds",
                &self.graceful_shutdown_timeout_seconds,
            )
            .field("pid_file", &self.pid_file)
            .field("upgrade_sock", &self.upgrade_sock)
            .field("access_log", &self.access_log)
            .field("access_log_format", &self.access_log_format)
            .field("status_listen", &self.status_listen)
            .field("stream_listen", &self.stream_listen)
            .field("token_cache_size", &self.token_cache_size)
            .field("cluster_cache", &self.cluster_cache)
            .field("config_store", &self.config_store)
            .field("ssl_cert", &self.ssl_cert)
            .field("ssl_cert_key", &self.ssl_cert_key)
            .field(
                "lua_ssl_trusted_certificate",
                &self.lua_ssl_trusted_certificate,
            )
            .field("dns_resolver", &self.dns_resolver)
            .field("dns_hostsfile", &self.dns_hostsfile)
            .field("dns_order", &self.dns_order)
            .field("dns_valid_ttl", &self.dns_valid_ttl)
            .field("dns_stale_ttl", &self.dns_stale_ttl)
            .field("dns_not_found_ttl", &self.dns_not_found_ttl)
            .field("dns_error_ttl", &self.dns_error_ttl)
            .field("dns_cache_size", &self.dns_cache_size)
            .field("max_request_header_bytes", &self.max_request_header_bytes)
            .field("max_request_headers", &self.max_request_headers)
            .field("max_uri_length", &self.max_uri_length)
            .field("watch_config", &self.watch_config)
            .field("proxy_cache_memory_size", &self.proxy_cache_memory_size)
            .field("trusted_ips", &self.trusted_ips)
            .field("real_ip_header", &self.real_ip_header)
            .field("real_ip_recursive", &self.real_ip_recursive)
            .field("client", &self.client)
            .field("buffering", &self.buffering)
            .finish()
    }
}

impl Settings {
    /// Worker threads to start: `worker_threads`, at least 1.
    pub fn effective_worker_threads(&self) -> usize {
        self.worker_threads.max(1)
    }

    /// True when every field has its default (the `gateway:` block is then not serialized).
    pub fn is_default(&self) -> bool {
        *self == Settings::default()
    }

    /// The settings that differ between `self` and `other`, with when each change takes effect.
    pub fn changes(&self, other: &Settings) -> Vec<&'static SettingSpec> {
        SETTINGS.iter().filter(|s| s.differs(self, other)).collect()
    }

    /// The etcd config store, when the entities live in etcd (`config_store.kind: etcd`).
    pub fn etcd_store(&self) -> Option<&crate::config_store::ConfigStoreSettings> {
        self.config_store.as_ref().filter(|s| s.is_etcd())
    }
}

/// The number of CPUs (1 when unknown): the default of `worker_threads`.
pub fn default_worker_threads() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
}

fn is_default_worker_threads(v: &usize) -> bool {
    *v == default_worker_threads()
}
fn is_default_real_ip_header(v: &str) -> bool {
    v == crate::real_ip::DEFAULT_REAL_IP_HEADER
}
fn is_default_proxy_listen(v: &str) -> bool {
    v == DEFAULT_PROXY_LISTEN
}
fn is_default_admin_listen(v: &str) -> bool {
    v == DEFAULT_ADMIN_LISTEN
}
/// Default of `max_request_header_bytes`: nginx's `large_client_header_buffers 4 8k`.
pub const DEFAULT_MAX_REQUEST_HEADER_BYTES: usize = 32 * 1024;
/// Default of `max_request_headers`: Envoy's `max_headers_count`.
pub const DEFAULT_MAX_REQUEST_HEADERS: usize = 100;
/// Default of `max_uri_length`: one of nginx's 8k header buffers.
pub const DEFAULT_MAX_URI_LENGTH: usize = 8 * 1024;
/// Pingora's HTTP/1 parser refuses (400) more header lines than this before the gateway sees a request.
pub const PARSER_MAX_HEADERS: usize = 256;

fn is_default_max_header_bytes(v: &usize) -> bool {
    *v == DEFAULT_MAX_REQUEST_HEADER_BYTES
}
fn is_default_max_headers(v: &usize) -> bool {
    *v == DEFAULT_MAX_REQUEST_HEADERS
}
fn is_default_max_uri(v: &usize) -> bool {
    *v == DEFAULT_MAX_URI_LENGTH
}
fn is_default_proxy_cache_memory_size(v: &u64) -> bool {
    *v == DEFAULT_PROXY_CACHE_MEMORY_SIZE
}
fn is_default_token_cache_size(v: &usize) -> bool {
    *v == DEFAULT_TOKEN_CACHE_SIZE
}
fn is_default_pool_size(v: &usize) -> bool {
    *v == DEFAULT_KEEPALIVE_POOL_SIZE
}
fn is_default_access_log_format(v: &str) -> bool {
    v == DEFAULT_ACCESS_LOG_FORMAT
}

fn is_default_log_level(v: &str) -> bool {
    v == DEFAULT_LOG_LEVEL
}
fn is_default_grace_period(v: &u64) -> bool {
    *v == DEFAULT_GRACE_PERIOD_SECONDS
}
fn is_default_shutdown_timeout(v: &u64) -> bool {
    *v == DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_SECONDS
}
fn is_false(v: &bool) -> bool {
    !*v
}

fn is_true(v: &bool) -> bool {
    *v
}
fn is_default_hostsfile(v: &std::path::Path) -> bool {
    v == std::path::Path::new(dns::DEFAULT_DNS_HOSTSFILE)
}
fn is_default_dns_order(v: &[String]) -> bool {
    v.iter()
        .map(String::as_str)
        .eq(dns::DEFAULT_DNS_ORDER.iter().copied())
}
fn is_default_stale_ttl(v: &u64) -> bool {
    *v == dns::DEFAULT_DNS_STALE_TTL
}
fn is_default_not_found_ttl(v: &u64) -> bool {
    *v == dns::DEFAULT_DNS_NOT_FOUND_TTL
}
fn is_default_error_ttl(v: &u64) -> bool {
    *v == dns::DEFAULT_DNS_ERROR_TTL
}
fn is_default_dns_cache_size(v: &usize) -> bool {
    *v == dns::DEFAULT_DNS_CACHE_SIZE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let s = Settings::default();
        assert_eq!(s.proxy_listen, "0.0.0.0:8000");
        assert_eq!(s.admin_listen, "127.0.0.1:8001");
        assert_eq!(s.upstream_keepalive_pool_size, 512);
        assert_eq!(s.log_level, "info");
        assert_eq!(s.grace_period_seconds, 5);
        assert_eq!(s.graceful_shutdown_timeout_seconds, 5);
        assert!(s.access_log);
        assert_eq!(s.token_cache_size, 100_000);
        assert!(s.admin_token.is_none() && s.pid_file.is_none() && s.upgrade_sock.is_none());
        assert_eq!(s.worker_threads, default_worker_threads());
        assert!(s.effective_worker_threads() >= 1);
        assert!(s.is_default());
    }

    #[test]
    fn every_setting_says_when_it_applies() {
        // Naming every field here makes a new setting fail to compile until it is added to SETTINGS.
        let Settings {
            proxy_listen: _,
            admin_listen: _,
            worker_threads: _,
            upstream_keepalive_pool_size: _,
            log_level: _,
            admin_token: _,
            grace_period_seconds: _,
            graceful_shutdown_timeout_seconds: _,
            pid_file: _,
            upgrade_sock: _,
            access_log: _,
            access_log_format: _,
            status_listen: _,
            stream_listen: _,
            token_cache_size: _,
            cluster_cache: _,
            config_store: _,
            ssl_cert: _,
            ssl_cert_key: _,
            lua_ssl_trusted_certificate: _,
            dns_resolver: _,
            dns_hostsfile: _,
            dns_order: _,
            dns_valid_ttl: _,
            dns_stale_ttl: _,
            dns_not_found_ttl: _,
            dns_error_ttl: _,
            dns_cache_size: _,
            max_request_header_bytes: _,
            max_request_headers: _,
            max_uri_length: _,
            watch_config: _,
            proxy_cache_memory_size: _,
            trusted_ips: _,
            real_ip_header: _,
            real_ip_recursive: _,
            client: _,
            buffering: _,
        } = Settings::default();
        let crate::client_limits::ClientLimits {
            client_header_timeout: _,
            client_body_timeout: _,
            client_body_total_timeout: _,
            send_timeout: _,
            keepalive_requests: _,
            keepalive_timeout: _,
        } = Default::default();
        assert_eq!(SETTINGS.len(), 48);
        let a = Settings::default();
        let mut b = a.clone();
        b.admin_token = Some("t".into());
        b.proxy_listen = "127.0.0.1:1".into();
        let changes: Vec<(&str, Applies)> =
            a.changes(&b).iter().map(|s| (s.name, s.applies)).collect();
        assert_eq!(
            changes,
            vec![
                ("proxy_listen", Applies::OnRestart),
                ("admin_token", Applies::OnReload)
            ]
        );
        assert!(a.changes(&a.clone()).is_empty());
    }

    #[test]
    fn debug_redacts_admin_token() {
        let s = Settings {
            admin_token: Some("hunter2".into()),
            ..Settings::default()
        };
        let text = format!("{s:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("<redacted>"));
    }

    #[test]
    fn checks() {
        let s = Settings {
            proxy_listen: "8000".into(),
            admin_listen: "localhost:8001".into(),
            worker_threads: 0,
            token_cache_size: 0,
            log_level: "verbose".into(),
            admin_token: Some(String::new()),
            ..Settings::default()
        };
        let mut c = Collector::default();
        s.check(&mut c);
        let lines: Vec<String> = c.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            vec![
                r#"gateway.proxy_listen: invalid address "8000": expected host:port such as "0.0.0.0:8000", optionally followed by " ssl""#,
                "gateway.worker_threads: must be at least 1",
                "gateway.token_cache_size: must be at least 1",
                r#"gateway.log_level: expected one of off, error, warn, info, debug, trace, got "verbose""#,
                "gateway.admin_token: must not be empty (omit it to disable the token check)",
            ]
        );
        assert!(is_listen_address("[::1]:8000"));
        assert!(!is_listen_address("host:99999"));
    }

    #[test]
    fn proxy_listen_entries_and_ssl() {
        let s = Settings {
            proxy_listen: "0.0.0.0:8000, 127.0.0.1:8443 ssl".into(),
            ..Settings::default()
        };
        assert_eq!(
            s.proxy_listeners().unwrap(),
            vec![
                ProxyListener {
                    addr: "0.0.0.0:8000".into(),
                    ssl: false,
                    http2: false,
                    proxy_protocol: false,
                },
                ProxyListener {
                    addr: "127.0.0.1:8443".into(),
                    ssl: true,
                    http2: false,
                    proxy_protocol: false,
                },
            ]
        );
        let mut c = Collector::default();
        s.check(&mut c);
        let lines: Vec<String> = c.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            vec![
                "gateway.ssl_cert: required when a proxy_listen entry has the ssl flag (a PEM file path)",
                "gateway.ssl_cert_key: required when a proxy_listen entry has the ssl flag (a PEM file path)",
            ]
        );
        let with_files = Settings {
            ssl_cert: Some("/etc/gw/cert.pem".into()),
            ssl_cert_key: Some("/etc/gw/key.pem".into()),
            ..s
        };
        let mut c = Collector::default();
        with_files.check(&mut c);
        assert!(c.errors.is_empty(), "{:?}", c.errors);

        let h2 = Settings {
            proxy_listen: "127.0.0.1:8000 http2, 127.0.0.1:8443 http2 ssl".into(),
            ..Settings::default()
        };
        let flags: Vec<(bool, bool)> = h2
            .proxy_listeners()
            .unwrap()
            .iter()
            .map(|l| (l.ssl, l.http2))
            .collect();
        assert_eq!(flags, vec![(false, true), (true, true)]);
        let pp = Settings {
            proxy_listen: "127.0.0.1:8000 proxy_protocol, 127.0.0.1:8443 ssl proxy_protocol".into(),
            ..Settings::default()
        };
        let flags: Vec<(bool, bool)> = (pp.proxy_listeners().unwrap().iter())
            .map(|l| (l.ssl, l.proxy_protocol))
            .collect();
        assert_eq!(flags, vec![(false, true), (true, true)]);
        let yaml = "trusted_ips: 10.0.0.0/8, ::1\nreal_ip_header: X-Forwarded-For\nreal_ip_recursive: \"on\"\n";
        let s: Settings = serde_yaml::from_str(yaml).unwrap();
        assert_eq!(s.trusted_ips, vec!["10.0.0.0/8", "::1"]);
        assert!(s.real_ip_recursive && s.real_ip_header == "X-Forwarded-For");

        for (listen, message) in [
            (
                "127.0.0.1:8443 http2 http2",
                r#"gateway.proxy_listen: flag "http2" given twice in "127.0.0.1:8443 http2 http2""#,
            ),
            (
                "127.0.0.1:8443 reuseport",
                r#"gateway.proxy_listen: unsupported flag "reuseport" in "127.0.0.1:8443 reuseport": only "ssl", "http2" and "proxy_protocol" are supported"#,
            ),
        ] {
            let bad = Settings {
                proxy_listen: listen.into(),
                ..Settings::default()
            };
            let mut c = Collector::default();
            bad.check(&mut c);
            let lines: Vec<String> = c.errors.iter().map(ToString::to_string).collect();
            assert_eq!(lines, vec![message]);
        }
    }
}

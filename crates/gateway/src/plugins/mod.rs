//! The plugin pipeline: Kong's phases (rewrite, access, response header, response body, log) run over small
//! views of the request and the response, never over Pingora's session, so a unit test drives a plugin with
//! a [`Request`] and an [`Exchange`] and no socket. The proxy adapts Pingora to these views in one place
//! (`proxy.rs`, `proxy/access.rs`).
//!
//! A plugin is one folder here (`plugins/<name>/`: its [`Plugin`] implementation and runtime state) plus its
//! schema in `gateway_config::plugins::<name>` (what the loader checks without running anything) and one row
//! in each table: `gateway_config::plugins::PLUGINS` (name, priority, schema, parser) and [`build`] here
//! (how a parsed config becomes a running instance). [`chain`] compiles, per route, the ordered instances of
//! each phase (Kong's scoping and priority), so a request walks a short slice.

pub mod acl;
pub mod basic_auth;
pub mod bot_detection;
pub mod chain;
pub mod consumer_auth;
pub mod correlation_id;
pub mod cors;
pub mod file_log;
pub mod hmac_auth;
pub mod http_log;
pub mod ip_restriction;
pub mod jwt;
pub mod key_auth;
pub mod openid_connect;
pub mod opentelemetry;
pub mod prometheus;
pub mod proxy_cache;
pub mod rate_limiting;
pub mod request_size_limiting;
pub mod request_termination;
pub mod request_transformer;
pub mod response_transformer;
#[cfg(test)]
pub mod test_support;
pub mod tls_handshake_modifier;

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use gateway_auth::{Authenticator, Upstream};
use gateway_config::model::Plugin as PluginEntity;
use gateway_config::plugins::{PluginConfig, TypedConfig};
use gateway_config::router::RouteMatch;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

use crate::snapshot::{CompileError, Snapshot};
use openid_connect::identity::Caller;

pub use chain::Step;

/// What a request-phase handler decided.
#[derive(Debug)]
pub enum Flow {
    /// Go on with the next plugin (and, after the last one, proxy the request).
    Continue,
    /// Answer the client with this and stop: no later plugin of the phase runs, nothing is proxied.
    Respond(Reply),
}

/// A response the gateway writes itself (Kong's `kong.response.exit`). A gRPC request gets it as a
/// trailers-only gRPC answer (status mapped as Kong maps it).
#[derive(Debug)]
pub enum Reply {
    /// Status, extra headers and a body (`Content-Type` is JSON unless the headers set one).
    Body {
        /// HTTP status.
        status: u16,
        /// Extra headers.
        headers: Vec<(HeaderName, HeaderValue)>,
        /// The body.
        body: Bytes,
    },
    /// An openid-connect refusal: its prebuilt response header is reused when it is one of the prebuilt ones.
    Denial(Arc<Authenticator>, gateway_auth::Denial),
}

impl Reply {
    /// A JSON reply with `{"message": message}` as Kong's plugins write it.
    pub fn message(status: u16, message: &str) -> Self {
        Reply::Body {
            status,
            headers: Vec::new(),
            body: Bytes::from(serde_json::json!({ "message": message }).to_string()),
        }
    }

    /// The status of the reply.
    pub fn status(&self) -> u16 {
        match self {
            Reply::Body { status, .. } => *status,
            Reply::Denial(_, d) => d.status,
        }
    }
}

/// An access handler's result: ready now (no allocation), or a future for plugins that do I/O.
pub enum Access<'a> {
    /// Decided without waiting.
    Done(Flow),
    /// Decided once this resolves (an IdP call, a Redis count).
    Pending(Pin<Box<dyn Future<Output = Flow> + Send + 'a>>),
}

#[cfg(test)]
impl Access<'_> {
    /// The decision, awaiting it when it is pending (the proxy runs a pending one in its connection's
    /// token memo scope: `proxy::access`).
    pub async fn decide(self) -> Flow {
        match self {
            Access::Done(flow) => flow,
            Access::Pending(fut) => fut.await,
        }
    }
}

/// What a plugin sees of the request: the client's request as received, and the compiled config it is served by.
pub struct Request<'a> {
    /// The method.
    pub method: &'a Method,
    /// The request target as received.
    pub uri: &'a Uri,
    /// The HTTP version of the request (nginx's `$request` line ends with it).
    pub version: http::Version,
    /// The request headers as received.
    pub headers: &'a HeaderMap,
    /// The client's address: the real one (`trusted_ips`, `real_ip_header`; `proxy/client.rs`), not always
    /// the connection's peer.
    pub client_ip: Option<IpAddr>,
    /// Whether the request came over TLS.
    pub https: bool,
    /// The address of the listener's socket that accepted the request (Kong's `kong.request.get_port()`, nginx's
    /// `$server_addr`).
    pub server_addr: Option<std::net::SocketAddr>,
    /// The SHA-256 of the client's TLS certificate (DER), when it presented one (the listener asks only with
    /// a global `tls-handshake-modifier`); not verified against any CA.
    pub client_cert_sha256: Option<&'a [u8]>,
    /// The request body, when a plugin of the chain asked for it ([`Plugin::needs_body`]) and it is a form or
    /// JSON body within the bound.
    pub body: Option<&'a [u8]>,
    /// The request body whatever its type and method (empty when it has none), when a plugin of the chain
    /// asked for it ([`Plugin::needs_raw_body`]) and it is within the bound.
    pub raw_body: Option<&'a [u8]>,
    /// The snapshot the request is served by (consumers, credentials, limiters).
    pub snap: &'a Snapshot,
    /// The matched route (`None` in the rewrite phase and on a request no route matched).
    pub matched: Option<RouteMatch>,
    /// The gateway's metrics.
    pub metrics: &'a crate::metrics::Metrics,
}

/// A plugin's view of a response header, the upstream's or the gateway's own.
// The response-phase plugins (cors, correlation-id, response-transformer) call these; `correlation-id` only
// sets, so the others are the pipeline's tests' until the other plugins land.
#[allow(dead_code)]
pub trait ResponseHead {
    /// The status code.
    fn status(&self) -> u16;
    /// A header's first value.
    fn get(&self, name: &HeaderName) -> Option<&HeaderValue>;
    /// Sets a header, replacing any value it had.
    fn insert(&mut self, name: HeaderName, value: HeaderValue);
    /// Adds a value to a header.
    fn append(&mut self, name: HeaderName, value: HeaderValue);
    /// Removes a header.
    fn remove(&mut self, name: &HeaderName);
    /// Every value of a header, in order (the first only, unless the view keeps several).
    fn get_all(&self, name: &HeaderName) -> Vec<HeaderValue> {
        self.get(name).cloned().into_iter().collect()
    }
    /// Every header, in order (proxy-cache stores them); a view that keeps none returns none.
    fn entries(&self) -> Vec<(HeaderName, HeaderValue)> {
        Vec::new()
    }
}

impl ResponseHead for pingora::http::ResponseHeader {
    fn status(&self) -> u16 {
        self.status.as_u16()
    }

    fn get(&self, name: &HeaderName) -> Option<&HeaderValue> {
        self.headers.get(name)
    }

    fn insert(&mut self, name: HeaderName, value: HeaderValue) {
        // Only fails on an invalid name or value, which typed names and values cannot be.
        let _ = self.insert_header(name, value);
    }

    fn append(&mut self, name: HeaderName, value: HeaderValue) {
        let _ = self.append_header(name, value);
    }

    fn remove(&mut self, name: &HeaderName) {
        self.remove_header(name);
    }

    fn get_all(&self, name: &HeaderName) -> Vec<HeaderValue> {
        self.headers.get_all(name).iter().cloned().collect()
    }

    fn entries(&self) -> Vec<(HeaderName, HeaderValue)> {
        (self.headers.iter())
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect()
    }
}

/// What the plugins of one request decided and share with the later phases and with each other (Kong's
/// `ngx.ctx` and `kong.ctx.shared` for what the gateway's plugins need).
#[derive(Debug, Default)]
pub struct Exchange {
    /// Who is calling (consumer, credential, anonymous), once an auth plugin decided.
    pub caller: Caller,
    /// openid-connect's upstream changes (headers to set and remove, query arguments to drop); boxed: the
    /// context moves with Pingora's per-request future, and a refused or open request needs none.
    pub upstream: Option<Box<Upstream>>,
    /// Other plugins' changes to the upstream request (key-auth's and basic-auth's `hide_credentials`, acl's
    /// groups header).
    pub edits: UpstreamEdits,
    /// Headers to add to the response to the client (rate-limiting's), on every answer, the upstream's and
    /// the gateway's own, after the header filters ran.
    pub response_headers: Vec<(HeaderName, HeaderValue)>,
    /// The authentication outcome for the access log.
    pub auth: &'static str,
    /// The groups of the authenticated token (openid-connect's `authenticated_groups_claim`; Kong's
    /// `kong.ctx.shared.authenticated_groups`), for `acl`.
    pub groups: Option<gateway_auth::Groups>,
    /// What cors recorded for the response header phase (the request's `Origin`, or a preflight to leave
    /// alone).
    pub cors: cors::CorsState,
    /// A bound the proxy counts the request body against as it streams (request-size-limiting's, for a body
    /// without `Content-Length`); going over ends the request with the plugin's 413 (417).
    pub body_limit: Option<request_size_limiting::BodyLimit>,
    /// The request's correlation id (correlation-id's; Kong's `correlation_id` log value), for the access log.
    pub correlation_id: Option<HeaderValue>,
    /// response-transformer's buffered JSON body, while the upstream's answer streams in.
    pub json_body: Option<Box<response_transformer::JsonBuffer>>,
    /// proxy-cache's answer being stored (a cacheable miss), from the access phase to the body's end.
    pub proxy_cache: Option<Box<proxy_cache::Pending>>,
    /// The request's trace, when a route's chain holds opentelemetry (from the access phase on).
    pub trace: Option<Box<opentelemetry::trace::Trace>>,
}

/// Changes plugins make to the request sent upstream, applied by the proxy's `upstream_request_filter`
/// (openid-connect has its own, [`Exchange::upstream`]). Empty vectors: no allocation on a request without any.
#[derive(Debug, Default)]
pub struct UpstreamEdits {
    /// Header edits, applied in order after openid-connect's and the identity headers: `Some` sets (replacing
    /// any value), `None` removes.
    pub headers: Vec<(HeaderName, Option<HeaderValue>)>,
    /// Query arguments to drop (by name as written in the query string).
    pub remove_query_args: Vec<String>,
    /// Header values added after [`UpstreamEdits::headers`] were applied (request-transformer's headers: each
    /// name it touched is removed in `headers`, then its values are added here).
    pub header_values: Vec<(HeaderName, HeaderValue)>,
    /// The method sent upstream (request-transformer's `http_method`).
    pub method: Option<Method>,
    /// The whole upstream path, instead of the route's and service's (request-transformer's `replace.uri`).
    pub path: Option<String>,
    /// The whole upstream query string (empty: none), instead of the client's (request-transformer's).
    pub query: Option<String>,
    /// The request body sent upstream instead of the client's (request-transformer's body edits); the proxy
    /// sets its `Content-Length`.
    pub body: Option<Bytes>,
}

impl Exchange {
    /// An exchange before any plugin ran.
    pub fn new() -> Self {
        Exchange {
            auth: "none",
            ..Exchange::default()
        }
    }
}

/// One running plugin instance. Handlers default to doing nothing; [`Plugin::phases`] says which ones the
/// instance uses, so chains only hold instances a phase needs.
pub trait Plugin: Send + Sync {
    /// Kong's plugin name.
    fn name(&self) -> &'static str;

    /// The phases whose handlers this instance implements.
    fn phases(&self) -> Phases;

    /// Whether the access handler needs the request body of this request (read before the chain runs), as
    /// [`Request::body`]: a form or JSON body.
    fn needs_body(&self) -> bool {
        false
    }

    /// Whether the access handler needs the request body whatever its type, as [`Request::raw_body`]
    /// (hmac-auth's `Digest` check).
    fn needs_raw_body(&self) -> bool {
        false
    }

    /// Rewrite phase (global plugins only, before routing, as in Kong).
    fn rewrite(&self, _req: &Request<'_>, _ex: &mut Exchange) -> Flow {
        Flow::Continue
    }

    /// Access phase: authenticate, authorize, count, answer.
    fn access<'a>(&'a self, _req: &'a Request<'a>, _ex: &'a mut Exchange) -> Access<'a> {
        Access::Done(Flow::Continue)
    }

    /// Response header phase: runs on every answer, the upstream's and the gateway's own (401, 404, 429, 5xx).
    fn header_filter(&self, _resp: &mut dyn ResponseHead, _ex: &mut Exchange) {}

    /// Response body phase: each chunk of the upstream's body as it streams (`end` on the last one).
    fn body_filter(&self, _chunk: &mut Option<Bytes>, _end: bool, _ex: &mut Exchange) {}

    /// Log phase: after the response was sent.
    fn log(&self, _entry: &LogView<'_>, _ex: &Exchange) {}

    /// Whether [`Plugin::log`] has anything to do for this exchange: when no plugin of the chain has, the
    /// log phase does not build its [`LogView`] (an unsampled trace costs nothing there).
    fn wants_log(&self, _ex: &Exchange) -> bool {
        true
    }

    /// The opentelemetry instance, for the proxy to start a request's trace with.
    fn tracer(&self) -> Option<&opentelemetry::OpenTelemetry> {
        None
    }
}

pub use crate::log_record::LogView;

/// A set of phases, as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Phases(u8);

impl Phases {
    /// Rewrite.
    pub const REWRITE: Phases = Phases(1);
    /// Access.
    pub const ACCESS: Phases = Phases(2);
    /// Response header.
    pub const HEADER: Phases = Phases(4);
    /// Response body.
    pub const BODY: Phases = Phases(8);
    /// Log.
    pub const LOG: Phases = Phases(16);

    /// Both sets.
    pub const fn with(self, other: Phases) -> Phases {
        Phases(self.0 | other.0)
    }

    /// True when every phase of `other` is in `self`.
    pub const fn has(self, other: Phases) -> bool {
        self.0 & other.0 == other.0
    }
}

/// Per-compile state the builders share: the process's registries and the instances built so far (one per
/// plugin entity and config, shared by every route it applies to).
pub struct Builder<'a> {
    /// The process's authenticators, by config key (caches survive reloads).
    pub registry: &'a gateway_auth::AuthRegistry,
    /// The rate limiters of this compile.
    pub limiters: rate_limiting::LimiterSet,
    built: std::collections::HashMap<(uuid::Uuid, [u8; 32]), Arc<dyn Plugin>>,
    /// Every authenticator the snapshot uses (for `AuthRegistry::retain`).
    pub authenticators: Vec<Arc<Authenticator>>,
    /// The config's certificates by id, chain and key PEM (openid-connect's `tls_client_auth_cert_id`).
    pub certificates: std::collections::HashMap<uuid::Uuid, (String, String)>,
}

impl<'a> Builder<'a> {
    /// A builder over the process's auth registry.
    pub fn new(registry: &'a gateway_auth::AuthRegistry) -> Self {
        Builder {
            registry,
            limiters: rate_limiting::LimiterSet::default(),
            built: std::collections::HashMap::new(),
            authenticators: Vec::new(),
            certificates: std::collections::HashMap::new(),
        }
    }

    /// The running instance of a plugin entity (built once per entity and config).
    pub fn instance(&mut self, plugin: &PluginEntity) -> Result<Arc<dyn Plugin>, CompileError> {
        let Some(typed) = plugin.typed.as_ref() else {
            return Err(CompileError::Untyped {
                plugin: plugin.id,
                name: plugin.name.clone(),
            });
        };
        if let Some(p) = self.built.get(&(plugin.id, typed.key)) {
            return Ok(p.clone());
        }
        let p = build(plugin, typed, self)?;
        self.built.insert((plugin.id, typed.key), p.clone());
        Ok(p)
    }
}

/// The running instance of one plugin config: one arm per plugin (the compiler asks for a new one).
fn build(
    plugin: &PluginEntity,
    typed: &TypedConfig,
    b: &mut Builder<'_>,
) -> Result<Arc<dyn Plugin>, CompileError> {
    Ok(match &typed.config {
        PluginConfig::Cors(cfg) => Arc::new(cors::Cors::new(cfg)),
        PluginConfig::Jwt(cfg) => Arc::new(jwt::Jwt::new(cfg.clone())),
        PluginConfig::OpenidConnect(oidc) => {
            let (key, with_cert) = openid_connect::with_client_certificate(typed.key, oidc, b);
            let auth = b.registry.get(key, with_cert.as_ref().unwrap_or(oidc));
            b.authenticators.push(auth.clone());
            Arc::new(openid_connect::OpenidConnect::new(auth, oidc))
        }
        PluginConfig::KeyAuth(cfg) => Arc::new(key_auth::KeyAuth::new(cfg)),
        PluginConfig::BasicAuth(cfg) => Arc::new(basic_auth::BasicAuth::new(cfg)),
        PluginConfig::HmacAuth(cfg) => Arc::new(hmac_auth::HmacAuth::new(cfg)),
        PluginConfig::Acl(cfg) => Arc::new(acl::Acl::new(cfg)),
        PluginConfig::CorrelationId(cfg) => Arc::new(correlation_id::CorrelationId::new(cfg)),
        PluginConfig::RequestSizeLimiting(cfg) => {
            Arc::new(request_size_limiting::RequestSizeLimiting::new(cfg))
        }
        PluginConfig::RequestTermination(cfg) => {
            Arc::new(request_termination::RequestTermination::new(cfg))
        }
        PluginConfig::RequestTransformer(cfg) => {
            Arc::new(request_transformer::RequestTransformer::new(cfg))
        }
        PluginConfig::ResponseTransformer(cfg) => {
            Arc::new(response_transformer::ResponseTransformer::new(cfg))
        }
        PluginConfig::ProxyCache(cfg) => Arc::new(proxy_cache::ProxyCache::new(cfg)),
        PluginConfig::IpRestriction(cfg) => Arc::new(ip_restriction::IpRestriction::new(cfg)),
        PluginConfig::BotDetection(cfg) => Arc::new(bot_detection::BotDetection::new(cfg)),
        PluginConfig::Prometheus(cfg) => Arc::new(prometheus::Prometheus::new(cfg)),
        PluginConfig::OpenTelemetry(cfg) => {
            Arc::new(opentelemetry::OpenTelemetry::new(cfg.clone(), typed.key))
        }
        PluginConfig::HttpLog(cfg) => Arc::new(http_log::HttpLog::new(cfg.clone(), typed.key)),
        PluginConfig::FileLog(cfg) => Arc::new(file_log::FileLog::new(cfg)),
        PluginConfig::TlsHandshakeModifier(_) => {
            Arc::new(tls_handshake_modifier::TlsHandshakeModifier)
        }
        PluginConfig::RateLimiting(rl) => {
            let limiter = b.limiters.get(plugin.id, typed.key, rl)?;
            Arc::new(rate_limiting::RateLimiting { limiter })
        }
    })
}

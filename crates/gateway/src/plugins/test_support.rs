//! What the plugins' unit tests share: a snapshot compiled from YAML, and a request that owns what a
//! [`Request`] view borrows, so a test drives a plugin with no socket in one line.

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

use super::{Access, Exchange, Flow, Plugin, Request};
use crate::snapshot::Snapshot;

/// The snapshot of a YAML config (panics on an invalid one: a test's own fixture).
pub fn snapshot(yaml: &str) -> Snapshot {
    let config = gateway_config::load::parse_str(yaml).unwrap();
    let registry = gateway_auth::AuthRegistry::new(&prometheus::Registry::new());
    crate::snapshot::compile(config, yaml, &registry).unwrap()
}

/// A request as a plugin sees it, owned.
pub struct TestRequest {
    /// The method.
    pub method: Method,
    /// The target.
    pub uri: Uri,
    /// The headers, in the order given.
    pub headers: HeaderMap,
    /// The body read for the plugins, if any.
    pub body: Option<Vec<u8>>,
    /// The raw body read for the plugins, if any.
    pub raw_body: Option<Vec<u8>>,
    metrics: crate::metrics::Metrics,
}

impl TestRequest {
    /// `method` `uri` with `headers` (appended in order, names case-insensitive) and no body.
    pub fn new(method: Method, uri: &str, headers: &[(&str, &str)]) -> Self {
        let mut map = HeaderMap::new();
        for (n, v) in headers {
            map.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        TestRequest {
            method,
            uri: uri.parse().unwrap(),
            headers: map,
            body: None,
            raw_body: None,
            metrics: crate::metrics::Metrics::new(&prometheus::Registry::new()).unwrap(),
        }
    }

    /// A `GET` of `uri` without headers.
    pub fn get(uri: &str) -> Self {
        TestRequest::new(Method::GET, uri, &[])
    }

    /// The view a plugin gets, served by `snap` (plain HTTP, no route matched, no addresses).
    pub fn view<'a>(&'a self, snap: &'a Snapshot) -> Request<'a> {
        Request {
            method: &self.method,
            uri: &self.uri,
            version: http::Version::HTTP_11,
            headers: &self.headers,
            client_ip: None,
            https: false,
            server_addr: None,
            client_cert_sha256: None,
            body: self.body.as_deref(),
            raw_body: self.raw_body.as_deref(),
            snap,
            matched: None,
            metrics: &self.metrics,
        }
    }

    /// Runs `plugin`'s access handler on this request, waiting for it if it is pending.
    pub fn access(&self, snap: &Snapshot, plugin: &dyn Plugin, ex: &mut Exchange) -> Flow {
        let req = self.view(snap);
        futures::executor::block_on(plugin.access(&req, ex).decide())
    }

    /// Runs `plugin`'s access handler on this request; panics when it would wait (plugins without I/O).
    pub fn access_now(&self, snap: &Snapshot, plugin: &dyn Plugin, ex: &mut Exchange) -> Flow {
        let req = self.view(snap);
        let flow = match plugin.access(&req, ex) {
            Access::Done(flow) => flow,
            Access::Pending(_) => panic!("{} must decide without waiting", plugin.name()),
        };
        flow
    }
}

impl TestRequest {
    /// The log phase's view of this request answered `status` with `response` headers, on `route` (index
    /// into `snap.routes`) and proxied to 10.0.0.1:80 in 30 ms of a 42 ms request.
    pub fn log_view<'a>(
        &'a self,
        snap: &'a Snapshot,
        response: &'a HeaderMap,
        status: u16,
        route: Option<usize>,
    ) -> crate::log_record::LogView<'a> {
        static TRIES: [std::net::SocketAddr; 1] = [std::net::SocketAddr::V4(
            std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(10, 0, 0, 1), 80),
        )];
        let ms = std::time::Duration::from_millis;
        crate::log_record::LogView {
            method: &self.method,
            uri: &self.uri,
            headers: &self.headers,
            response_headers: Some(response),
            status,
            elapsed: ms(42),
            started_at: crate::log_record::StartedAt::At(
                std::time::SystemTime::UNIX_EPOCH + ms(1_700_000_000_000),
            ),
            kong_latency: ms(2),
            proxy_latency: Some(ms(30)),
            upstream_status: Some(status),
            tries: &TRIES,
            client_ip: Some(std::net::Ipv4Addr::LOCALHOST.into()),
            https: false,
            server_port: Some(8000),
            request_size: 120,
            response_size: 300,
            upstream_uri: None,
            proxied: true,
            snap,
            route,
            service: route
                .and_then(|i| snap.routes.get(i))
                .and_then(|r| r.service),
            metrics: &self.metrics,
        }
    }
}

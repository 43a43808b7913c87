//! Stand-in for `gateway_config::model`'s upstream types until `wt/upstreams` is merged (same names, same
//! fields), so that the balancer compiles and is unit-tested against the agreed shape.

#![allow(missing_docs, dead_code)]

use indexmap::IndexMap;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    pub id: Uuid,
    pub name: String,
    pub algorithm: Algorithm,
    pub hash_on: HashOn,
    pub hash_fallback: HashOn,
    pub hash_on_header: Option<String>,
    pub hash_fallback_header: Option<String>,
    pub hash_on_cookie: Option<String>,
    pub hash_on_cookie_path: String,
    pub hash_on_query_arg: Option<String>,
    pub hash_fallback_query_arg: Option<String>,
    pub hash_on_uri_capture: Option<String>,
    pub hash_fallback_uri_capture: Option<String>,
    pub slots: u32,
    pub healthchecks: Healthchecks,
    pub host_header: Option<String>,
    pub use_srv_name: bool,
    pub tags: Vec<String>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    RoundRobin,
    ConsistentHashing,
    LeastConnections,
    Latency,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashOn {
    None,
    Consumer,
    Ip,
    Header,
    Cookie,
    Path,
    QueryArg,
    UriCapture,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub id: Uuid,
    pub target: String,
    pub weight: u32,
    pub tags: Vec<String>,
    pub created_at: Option<f64>,
    pub updated_at: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckType {
    Tcp,
    Http,
    Https,
    Grpc,
    Grpcs,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Healthchecks {
    pub active: ActiveHealthcheck,
    pub passive: PassiveHealthcheck,
    pub threshold: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ActiveHealthcheck {
    pub r#type: CheckType,
    pub timeout: f64,
    pub concurrency: u32,
    pub http_path: String,
    pub https_sni: Option<String>,
    pub https_verify_certificate: bool,
    pub headers: Option<IndexMap<String, Vec<String>>>,
    pub healthy: ActiveHealthy,
    pub unhealthy: ActiveUnhealthy,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ActiveHealthy {
    pub interval: f64,
    pub http_statuses: Vec<u16>,
    pub successes: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ActiveUnhealthy {
    pub interval: f64,
    pub http_statuses: Vec<u16>,
    pub tcp_failures: u32,
    pub timeouts: u32,
    pub http_failures: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PassiveHealthcheck {
    pub r#type: CheckType,
    pub healthy: PassiveHealthy,
    pub unhealthy: PassiveUnhealthy,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PassiveHealthy {
    pub http_statuses: Vec<u16>,
    pub successes: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PassiveUnhealthy {
    pub http_statuses: Vec<u16>,
    pub tcp_failures: u32,
    pub timeouts: u32,
    pub http_failures: u32,
}

impl Default for Healthchecks {
    fn default() -> Self {
        Healthchecks {
            active: ActiveHealthcheck {
                r#type: CheckType::Http,
                timeout: 1.0,
                concurrency: 10,
                http_path: "/".into(),
                https_sni: None,
                https_verify_certificate: true,
                headers: None,
                healthy: ActiveHealthy {
                    interval: 0.0,
                    http_statuses: vec![200, 302],
                    successes: 0,
                },
                unhealthy: ActiveUnhealthy {
                    interval: 0.0,
                    http_statuses: vec![429, 404, 500, 501, 502, 503, 504, 505],
                    tcp_failures: 0,
                    timeouts: 0,
                    http_failures: 0,
                },
            },
            passive: PassiveHealthcheck {
                r#type: CheckType::Http,
                healthy: PassiveHealthy {
                    http_statuses: vec![
                        200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304,
                        305, 306, 307, 308,
                    ],
                    successes: 0,
                },
                unhealthy: PassiveUnhealthy {
                    http_statuses: vec![429, 500, 503],
                    tcp_failures: 0,
                    timeouts: 0,
                    http_failures: 0,
                },
            },
            threshold: 0.0,
        }
    }
}

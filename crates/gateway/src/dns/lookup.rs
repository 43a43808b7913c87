//! One DNS query of one record type, behind a small trait: [`HickoryLookup`] asks the configured DNS servers
//! (hickory-resolver, its own cache off: the gateway's cache is the only one); unit tests use a fake.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;
use hickory_resolver::config::{NameServerConfigGroup, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::TokioResolver;

use super::DnsSettings;

/// A record type the resolver queries (`dns_order` without `LAST`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Service records: target names and ports.
    Srv,
    /// IPv4 addresses.
    A,
    /// IPv6 addresses.
    Aaaa,
    /// An alias, resolved again through `dns_order`.
    Cname,
}

/// One record of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Data {
    /// An A or AAAA record.
    Ip(IpAddr),
    /// An SRV record.
    Srv {
        /// Lower is preferred; only the lowest priority present is used.
        priority: u16,
        /// The port to connect to.
        port: u16,
        /// The target name (resolved to A/AAAA).
        target: String,
    },
    /// A CNAME record's target.
    Cname(String),
}

/// A non-empty answer: its records and the smallest TTL among them (seconds).
#[derive(Debug, Clone)]
pub(crate) struct Records {
    /// The records of the queried type.
    pub(crate) data: Vec<Data>,
    /// Minimum TTL of the answer.
    pub(crate) ttl: u32,
}

/// Why a query gave no records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum QueryError {
    /// NXDOMAIN, or no record of that type (NODATA).
    NotFound,
    /// The server answered with an error (SERVFAIL, REFUSED, …): another record type may still answer.
    Failed(String),
    /// No answer at all (timeout, connection refused, no server): another type would wait for nothing.
    Unreachable(String),
}

/// One query of one type.
#[async_trait]
pub(crate) trait Lookup: Send + Sync + 'static {
    /// Ask for the `kind` records of `name`.
    async fn query(&self, name: &str, kind: Kind) -> Result<Records, QueryError>;
}

/// Queries through hickory-resolver.
pub(crate) struct HickoryLookup {
    resolver: TokioResolver,
}

impl HickoryLookup {
    /// A client of `settings.resolver` (else of `/etc/resolv.conf`'s servers, search list and options).
    /// Creates no thread and no socket: connections are opened on the first query, on the caller's runtime.
    pub(crate) fn new(settings: &DnsSettings) -> Result<HickoryLookup, String> {
        let (config, mut opts) = if settings.resolver.is_empty() {
            match hickory_resolver::system_conf::read_system_conf() {
                Ok(conf) => conf,
                Err(e) => {
                    log::warn!(
                        "dns: cannot read /etc/resolv.conf, no DNS server configured error={e}"
                    );
                    (
                        ResolverConfig::from_parts(None, vec![], NameServerConfigGroup::new()),
                        default_opts(),
                    )
                }
            }
        } else {
            let mut group = NameServerConfigGroup::new();
            for entry in &settings.resolver {
                let addr = parse_server(entry)?;
                group.merge(NameServerConfigGroup::from_ips_clear(
                    &[addr.ip()],
                    addr.port(),
                    true,
                ));
            }
            (
                ResolverConfig::from_parts(None, vec![], group),
                default_opts(),
            )
        };
        // The gateway's cache does TTLs, stale answers and negative caching; the hosts file is read by us.
        opts.cache_size = 0;
        opts.use_hosts_file = ResolveHosts::Never;
        opts.preserve_intermediates = true;
        let resolver =
            TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
                .with_options(opts)
                .build();
        Ok(HickoryLookup { resolver })
    }
}

/// Options for explicitly configured servers: 1 s per try, 2 tries. A request without a cached answer must not
/// wait long on a dead server (with a cached answer it never waits: the refresh runs in the background).
fn default_opts() -> ResolverOpts {
    let mut opts = ResolverOpts::default();
    opts.timeout = Duration::from_secs(1);
    opts.attempts = 2;
    opts
}

/// `ip` or `ip:port` (`[v6]:port` for IPv6 with a port); port 53 by default.
pub(crate) fn parse_server(entry: &str) -> Result<SocketAddr, String> {
    let entry = entry.trim();
    gateway_config::dns_settings::ip_with_port(entry, 53)
        .ok_or_else(|| format!("dns_resolver: {entry:?} is not ip[:port]"))
}

#[async_trait]
impl Lookup for HickoryLookup {
    async fn query(&self, name: &str, kind: Kind) -> Result<Records, QueryError> {
        let rtype = match kind {
            Kind::Srv => RecordType::SRV,
            Kind::A => RecordType::A,
            Kind::Aaaa => RecordType::AAAA,
            Kind::Cname => RecordType::CNAME,
        };
        let lookup = self.resolver.lookup(name, rtype).await.map_err(classify)?;
        let mut data = Vec::new();
        let mut ttl = u32::MAX;
        for record in lookup.records() {
            // The TTL of the whole chain (a CNAME followed to A records) bounds the answer's.
            ttl = ttl.min(record.ttl());
            let item = match record.data() {
                RData::A(a) if kind == Kind::A => Data::Ip(IpAddr::V4(a.0)),
                RData::AAAA(a) if kind == Kind::Aaaa => Data::Ip(IpAddr::V6(a.0)),
                RData::SRV(s) if kind == Kind::Srv => Data::Srv {
                    priority: s.priority(),
                    port: s.port(),
                    target: s.target().to_ascii(),
                },
                RData::CNAME(c) if kind == Kind::Cname => Data::Cname(c.0.to_ascii()),
                _ => continue,
            };
            data.push(item);
        }
        if data.is_empty() {
            return Err(QueryError::NotFound);
        }
        Ok(Records { data, ttl })
    }
}

/// NXDOMAIN and NODATA are "not found"; no answer at all is "unreachable"; the rest a server error.
fn classify(e: hickory_resolver::ResolveError) -> QueryError {
    match e.proto().map(|p| p.kind()) {
        Some(ProtoErrorKind::NoRecordsFound { response_code, .. })
            if matches!(
                *response_code,
                ResponseCode::NXDomain | ResponseCode::NoError
            ) =>
        {
            QueryError::NotFound
        }
        Some(
            ProtoErrorKind::Timeout
            | ProtoErrorKind::Io(_)
            | ProtoErrorKind::NoConnections
            | ProtoErrorKind::Busy,
        ) => QueryError::Unreachable(e.to_string()),
        _ => QueryError::Failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_parse_with_and_without_port() {
        assert_eq!(
            parse_server("10.0.0.1").unwrap(),
            "10.0.0.1:53".parse().unwrap()
        );
        assert_eq!(
            parse_server("127.0.0.1:5353").unwrap(),
            "127.0.0.1:5353".parse().unwrap()
        );
        assert_eq!(
            parse_server("[::1]:54").unwrap(),
            "[::1]:54".parse().unwrap()
        );
        assert_eq!(parse_server("::1").unwrap(), "[::1]:53".parse().unwrap());
        assert!(parse_server("dns.example").is_err());
    }
}

//! Unit tests of the resolver's cache logic over a fake [`Lookup`] (fault injection allowed here only).

use super::cache::{DnsMetrics, Resolver};
use super::hosts::Hosts;
use super::lookup::{Data, Kind, Lookup, QueryError, Records};
use super::{DnsError, DnsSettings};
use async_trait::async_trait;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Reply = Result<Records, QueryError>;

/// Answers from a table the test edits; counts the queries; optionally slow.
#[derive(Default)]
struct Fake {
    table: Mutex<HashMap<(String, &'static str), Reply>>,
    queries: Mutex<Vec<(String, &'static str)>>,
    delay: Mutex<Duration>,
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Srv => "SRV",
        Kind::A => "A",
        Kind::Aaaa => "AAAA",
        Kind::Cname => "CNAME",
    }
}

impl Fake {
    fn set(&self, name: &str, kind: &'static str, reply: Reply) {
        self.table
            .lock()
            .unwrap()
            .insert((name.to_string(), kind), reply);
    }
    fn a(&self, name: &str, ips: &[&str], ttl: u32) {
        let data = ips.iter().map(|ip| Data::Ip(ip.parse().unwrap())).collect();
        self.set(name, "A", Ok(Records { data, ttl }));
    }
    fn count(&self) -> usize {
        self.queries.lock().unwrap().len()
    }
    fn queried(&self) -> Vec<(String, &'static str)> {
        self.queries.lock().unwrap().clone()
    }
}

#[async_trait]
impl Lookup for Arc<Fake> {
    async fn query(&self, name: &str, kind: Kind) -> Result<Records, QueryError> {
        let kind = kind_name(kind);
        self.queries.lock().unwrap().push((name.to_string(), kind));
        let delay = *self.delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        self.table
            .lock()
            .unwrap()
            .get(&(name.to_string(), kind))
            .cloned()
            .unwrap_or(Err(QueryError::NotFound))
    }
}

fn settings(order: &[&str]) -> DnsSettings {
    DnsSettings {
        order: order.iter().map(|s| s.to_string()).collect(),
        ..DnsSettings::default()
    }
}

fn resolver(settings: &DnsSettings, hosts: &str) -> (Resolver, Arc<Fake>, prometheus::Registry) {
    let fake = Arc::new(Fake::default());
    let registry = prometheus::Registry::new();
    let metrics = DnsMetrics::new(&registry).unwrap();
    let r = Resolver::with_lookup(
        settings,
        Hosts::parse(hosts),
        Box::new(fake.clone()),
        metrics,
    );
    (r, fake, registry)
}

async fn first(r: &Resolver, name: &str) -> Result<SocketAddr, DnsError> {
    r.resolve(name, 80).await.map(|a| a.all()[0])
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Let a background refresh run.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(30)).await;
}

fn metric(registry: &prometheus::Registry, line: &str) -> bool {
    crate::metrics::render(registry).contains(line)
}

#[tokio::test]
async fn ip_literals_skip_dns() {
    let (r, fake, _) = resolver(&DnsSettings::default(), "");
    assert_eq!(first(&r, "10.0.0.1").await, Ok(addr("10.0.0.1:80")));
    assert_eq!(first(&r, "[::1]").await, Ok(addr("[::1]:80")));
    assert_eq!(fake.count(), 0);
}

#[tokio::test]
async fn fresh_answers_are_cached_for_their_ttl_then_served_stale_while_refreshing() {
    let (r, fake, registry) = resolver(&settings(&["A"]), "");
    fake.a("api.test", &["10.0.0.1"], 10);
    assert_eq!(first(&r, "api.test").await, Ok(addr("10.0.0.1:80")));
    assert_eq!(first(&r, "API.test.").await, Ok(addr("10.0.0.1:80")));
    assert_eq!(fake.count(), 1, "a fresh answer is not asked again");
    fake.a("api.test", &["10.0.0.2"], 10);
    // Past the TTL: the old answer at once, one background query, then the new answer.
    r.advance(Duration::from_secs(11));
    assert_eq!(first(&r, "api.test").await, Ok(addr("10.0.0.1:80")));
    assert_eq!(first(&r, "api.test").await, Ok(addr("10.0.0.1:80")));
    settle().await;
    assert_eq!(fake.count(), 2, "one refresh for both stale hits");
    assert_eq!(first(&r, "api.test").await, Ok(addr("10.0.0.2:80")));
    assert!(metric(
        &registry,
        "gateway_dns_cache_total{result=\"stale\"} 2"
    ));
    assert!(metric(
        &registry,
        "gateway_dns_cache_total{result=\"hit\"} 2"
    ));
    assert!(metric(
        &registry,
        "gateway_dns_cache_total{result=\"miss\"} 1"
    ));
    assert!(metric(
        &registry,
        "gateway_dns_lookups_total{result=\"ok\"} 2"
    ));
}

#[tokio::test]
async fn an_answer_about_to_expire_is_refreshed_ahead() {
    let (r, fake, _) = resolver(&settings(&["A"]), "");
    fake.a("api.test", &["10.0.0.1"], 10);
    first(&r, "api.test").await.unwrap();
    r.advance(Duration::from_millis(9_500));
    fake.a("api.test", &["10.0.0.2"], 10);
    assert_eq!(first(&r, "api.test").await, Ok(addr("10.0.0.1:80")));
    settle().await;
    assert_eq!(fake.count(), 2);
    assert_eq!(first(&r, "api.test").await, Ok(addr("10.0.0.2:80")));
}

#[tokio::test]
async fn past_the_stale_ttl_a_request_waits_for_the_lookup() {
    let s = DnsSettings {
        stale_ttl: 5,
        ..settings(&["A"])
    };
    let (r, fake, _) = resolver(&s, "");
    fake.a("api.test", &["10.0.0.1"], 10);
    first(&r, "api.test").await.unwrap();
    fake.a("api.test", &["10.0.0.2"], 10);
    r.advance(Duration::from_secs(16));
    assert_eq!(first(&r, "api.test").await, Ok(addr("10.0.0.2:80")));
}

#[tokio::test]
async fn a_failing_server_keeps_the_last_answer_until_the_stale_ttl() {
    let s = DnsSettings {
        stale_ttl: 60,
        error_ttl: 2,
        ..settings(&["A"])
    };
    let (r, fake, registry) = resolver(&s, "");
    fake.a("api.test", &["10.0.0.1"], 10);
    first(&r, "api.test").await.unwrap();
    fake.set("api.test", "A", Err(QueryError::Failed("timeout".into())));
    r.advance(Duration::from_secs(11));
    assert_eq!(first(&r, "api.test").await, Ok(addr("10.0.0.1:80")));
    settle().await;
    assert_eq!(fake.count(), 2);
    // The failed refresh is not retried before dns_error_ttl.
    assert_eq!(first(&r, "api.test").await, Ok(addr("10.0.0.1:80")));
    settle().await;
    assert_eq!(fake.count(), 2);
    r.advance(Duration::from_secs(3));
    assert_eq!(first(&r, "api.test").await, Ok(addr("10.0.0.1:80")));
    settle().await;
    assert_eq!(fake.count(), 3);
    assert!(metric(
        &registry,
        "gateway_dns_lookups_total{result=\"stale\"} 2"
    ));
    // Past the stale TTL: the error.
    r.advance(Duration::from_secs(60));
    let e = first(&r, "api.test").await.unwrap_err();
    assert!(matches!(e, DnsError::Failed(_)), "{e:?}");
    assert!(metric(
        &registry,
        "gateway_dns_lookups_total{result=\"error\"} 1"
    ));
}

#[tokio::test]
async fn not_found_is_cached_for_the_not_found_ttl() {
    let s = DnsSettings {
        not_found_ttl: 30,
        ..settings(&["SRV", "A"])
    };
    let (r, fake, registry) = resolver(&s, "");
    assert_eq!(first(&r, "nope.test").await, Err(DnsError::NotFound));
    assert_eq!(fake.count(), 2, "SRV then A");
    r.advance(Duration::from_secs(29));
    assert_eq!(first(&r, "nope.test").await, Err(DnsError::NotFound));
    assert_eq!(fake.count(), 2, "cached");
    fake.a("nope.test", &["10.0.0.9"], 10);
    r.advance(Duration::from_secs(2));
    assert_eq!(first(&r, "nope.test").await, Ok(addr("10.0.0.9:80")));
    assert!(metric(
        &registry,
        "gateway_dns_lookups_total{result=\"not_found\"} 1"
    ));
}

#[tokio::test]
async fn errors_are_cached_for_the_error_ttl() {
    let s = DnsSettings {
        error_ttl: 1,
        ..settings(&["A"])
    };
    let (r, fake, _) = resolver(&s, "");
    fake.set("down.test", "A", Err(QueryError::Failed("refused".into())));
    assert!(matches!(
        first(&r, "down.test").await,
        Err(DnsError::Failed(_))
    ));
    assert!(matches!(
        first(&r, "down.test").await,
        Err(DnsError::Failed(_))
    ));
    assert_eq!(fake.count(), 1);
    r.advance(Duration::from_millis(1_100));
    assert!(matches!(
        first(&r, "down.test").await,
        Err(DnsError::Failed(_))
    ));
    assert_eq!(fake.count(), 2);
}

#[tokio::test]
async fn concurrent_misses_send_one_query() {
    let (r, fake, _) = resolver(&settings(&["A"]), "");
    fake.a("api.test", &["10.0.0.1"], 10);
    *fake.delay.lock().unwrap() = Duration::from_millis(50);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let r = r.clone();
            tokio::spawn(async move { first(&r, "api.test").await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), Ok(addr("10.0.0.1:80")));
    }
    assert_eq!(fake.count(), 1);
}

#[tokio::test]
async fn srv_answers_carry_ports_and_last_remembers_the_type() {
    let (r, fake, _) = resolver(&DnsSettings::default(), "10.0.0.7 db.internal\n");
    let srv = |priority, port, target: &str| Data::Srv {
        priority,
        port,
        target: target.to_string(),
    };
    fake.set(
        "svc.test",
        "SRV",
        Ok(Records {
            data: vec![
                srv(10, 8001, "a.test."),
                srv(10, 8002, "db.internal."),
                srv(20, 9000, "backup.test."),
            ],
            ttl: 30,
        }),
    );
    fake.a("a.test.", &["10.0.0.1"], 5);
    let a = r.resolve("svc.test", 80).await.unwrap();
    assert_eq!(
        &a.all()[..],
        &[addr("10.0.0.1:8001"), addr("10.0.0.7:8002")]
    );
    // LAST: a name answered by A is asked for A first next time.
    fake.a("web.test", &["10.0.0.3"], 1);
    first(&r, "web.test").await.unwrap();
    let before = fake.count();
    r.advance(Duration::from_secs(5000));
    first(&r, "web.test").await.unwrap();
    assert_eq!(fake.queried()[before..], [("web.test".to_string(), "A")]);
}

#[tokio::test]
async fn cname_is_followed_and_hosts_answer_first() {
    let (r, fake, _) = resolver(
        &settings(&["A", "CNAME"]),
        "127.0.0.5 api.test\n::1 six.test\n",
    );
    fake.set(
        "alias.test",
        "CNAME",
        Ok(Records {
            data: vec![Data::Cname("real.test.".into())],
            ttl: 60,
        }),
    );
    fake.a("real.test.", &["10.0.0.4"], 60);
    assert_eq!(first(&r, "alias.test").await, Ok(addr("10.0.0.4:80")));
    fake.a("api.test", &["10.9.9.9"], 60);
    let before = fake.count();
    assert_eq!(first(&r, "api.test").await, Ok(addr("127.0.0.5:80")));
    assert_eq!(fake.count(), before, "the hosts file answered");
    // AAAA is not in dns_order: the IPv6-only hosts entry does not answer.
    assert_eq!(first(&r, "six.test").await, Err(DnsError::NotFound));
}

#[tokio::test]
async fn several_addresses_are_used_in_turn() {
    let (r, fake, _) = resolver(&settings(&["A"]), "");
    fake.a("rr.test", &["10.0.0.1", "10.0.0.2", "10.0.0.3"], 60);
    let mut firsts = Vec::new();
    for _ in 0..3 {
        firsts.push(r.resolve("rr.test", 80).await.unwrap().pick(0));
    }
    assert_eq!(
        firsts,
        [
            addr("10.0.0.1:80"),
            addr("10.0.0.2:80"),
            addr("10.0.0.3:80")
        ]
    );
    let a = r.resolve("rr.test", 80).await.unwrap();
    assert_eq!(a.pick(0), addr("10.0.0.1:80"));
    assert_eq!(
        a.pick(1),
        addr("10.0.0.2:80"),
        "a retry takes the next address"
    );
}

#[tokio::test]
async fn valid_ttl_overrides_the_record_ttl() {
    let s = DnsSettings {
        valid_ttl: Some(100),
        ..settings(&["A"])
    };
    let (r, fake, _) = resolver(&s, "");
    fake.a("api.test", &["10.0.0.1"], 1);
    first(&r, "api.test").await.unwrap();
    r.advance(Duration::from_secs(50));
    first(&r, "api.test").await.unwrap();
    settle().await;
    assert_eq!(fake.count(), 1);
}

#[tokio::test]
async fn an_unreachable_server_ends_the_walk_but_a_server_error_does_not() {
    let (r, fake, _) = resolver(&settings(&["SRV", "A", "CNAME"]), "");
    fake.set(
        "dead.test",
        "SRV",
        Err(QueryError::Unreachable("timeout".into())),
    );
    assert!(matches!(
        first(&r, "dead.test").await,
        Err(DnsError::Failed(_))
    ));
    assert_eq!(fake.count(), 1, "no A or CNAME query after a timeout");
    fake.set(
        "odd.test",
        "SRV",
        Err(QueryError::Failed("SERVFAIL".into())),
    );
    fake.a("odd.test", &["10.0.0.8"], 60);
    assert_eq!(first(&r, "odd.test").await, Ok(addr("10.0.0.8:80")));
}

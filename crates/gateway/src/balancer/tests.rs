//! Unit tests of the balancer registry: reuse across reloads, DNS targets, passive checks, manual health.

use super::*;
use gateway_config::model::{Target, Upstream};

pub(crate) fn upstream(name: &str, targets: &[(&str, u32)]) -> Upstream {
    let mut u = Upstream::new(Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes()), name);
    u.targets = targets
        .iter()
        .map(|(t, w)| {
            let mut target = Target::new(Uuid::new_v5(&Uuid::NAMESPACE_OID, t.as_bytes()), *t);
            target.weight = *w;
            target
        })
        .collect();
    u
}

struct Fixed(Vec<SocketAddr>);

#[async_trait::async_trait]
impl Resolve for Fixed {
    async fn resolve(&self, host: &str, _port: u16) -> Result<Vec<SocketAddr>, String> {
        if host == "nowhere.test" {
            return Err("NXDOMAIN".into());
        }
        Ok(self.0.clone())
    }
}

#[test]
fn unchanged_upstreams_keep_their_balancer_and_changed_ones_start_afresh() {
    let balancers = Balancers::detached();
    let mut u = upstream("api", &[("127.0.0.1:1", 100)]);
    let a = balancers.get(&u).unwrap();
    let b = balancers.get(&u.clone()).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    u.targets[0].weight = 50;
    let c = balancers.get(&u).unwrap();
    assert!(!Arc::ptr_eq(&a, &c));
    balancers.retain(std::slice::from_ref(&c));
    assert_eq!(balancers.all().len(), 1);
}

#[test]
fn forgotten_upstreams_leave_no_metric_series() {
    let registry = prometheus::Registry::new();
    let balancers = Balancers::new(&registry, Arc::new(SystemResolver)).unwrap();
    let series = |name: &str| {
        registry
            .gather()
            .iter()
            .filter(|f| f.name() == name)
            .map(|f| f.get_metric().len())
            .sum::<usize>()
    };
    let mut u = upstream("api", &[("127.0.0.1:1", 100), ("127.0.0.1:2", 100)]);
    let a = balancers.get(&u).unwrap();
    assert_eq!(series("gateway_upstream_target_health"), 2);
    u.targets.pop();
    let b = balancers.get(&u).unwrap();
    balancers.retain(std::slice::from_ref(&b));
    drop(a);
    assert_eq!(
        series("gateway_upstream_target_health"),
        1,
        "the removed target's series goes"
    );
    assert_eq!(series("gateway_upstream_picks_total"), 1);
    balancers.retain(&[]);
    assert_eq!(series("gateway_upstream_target_health"), 0);
    assert_eq!(series("gateway_upstream_picks_total"), 0);
}

#[tokio::test]
async fn hostname_targets_use_every_address_and_failures_mark_dns_errors() {
    let addrs: Vec<SocketAddr> = vec![
        "127.0.0.2:80".parse().unwrap(),
        "127.0.0.3:80".parse().unwrap(),
    ];
    let resolver = Fixed(addrs.clone());
    let balancers = Balancers::detached();
    let b = balancers
        .get(&upstream(
            "api",
            &[("svc.test:80", 10), ("nowhere.test:80", 10)],
        ))
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        let p = b.pick(&resolver, "", &[]).await.unwrap();
        seen.push(p.addr);
        b.finish(&p, Outcome::Status(200));
    }
    assert!(addrs.iter().all(|a| seen.contains(a)), "{seen:?}");
    assert!(b.targets[1].dns_error.load(Ordering::Relaxed));
    assert!(!b.targets[0].dns_error.load(Ordering::Relaxed));
}

#[tokio::test]
async fn passive_failures_take_an_address_out_and_manual_health_needs_checks() {
    let resolver = Fixed(vec![]);
    let balancers = Balancers::detached();
    let plain = balancers
        .get(&upstream("plain", &[("127.0.0.1:1", 1)]))
        .unwrap();
    assert_eq!(
        plain.set_health(0, None, false),
        Err("no healthchecker found for plain".into())
    );
    let mut u = upstream("api", &[("127.0.0.1:1", 1), ("127.0.0.1:2", 1)]);
    u.healthchecks.passive.unhealthy.tcp_failures = 1;
    let b = balancers.get(&u).unwrap();
    let p = b.pick(&resolver, "", &[]).await.unwrap();
    b.finish(&p, Outcome::TcpFailure);
    for _ in 0..4 {
        let q = b.pick(&resolver, "", &[]).await.unwrap();
        assert_ne!(q.addr, p.addr);
    }
    b.set_health(p.target, None, true).unwrap();
    let other = 1 - p.target;
    b.set_health(other, None, false).unwrap();
    assert_eq!(b.pick(&resolver, "", &[]).await.unwrap().addr, p.addr);
    b.set_health(p.target, None, false).unwrap();
    assert_eq!(
        b.pick(&resolver, "", &[]).await.unwrap_err(),
        NoPeer::Unavailable
    );
}

#[test]
fn a_changed_upstream_keeps_the_health_of_the_addresses_that_stay() {
    let balancers = Balancers::detached();
    let mut u = upstream("api", &[("127.0.0.1:1", 10), ("127.0.0.1:2", 10)]);
    u.healthchecks.passive.unhealthy.tcp_failures = 1;
    let a = balancers.get(&u).unwrap();
    a.set_health(1, None, false).unwrap();
    // Drain the healthy one: the unhealthy one must not come back with the new balancer.
    u.targets[0].weight = 0;
    let b = balancers.get(&u).unwrap();
    assert!(!Arc::ptr_eq(&a, &b));
    let health: Vec<(usize, bool)> = b
        .ring()
        .entries
        .iter()
        .map(|e| (e.state.target, e.state.healthy()))
        .collect();
    assert_eq!(health, vec![(0, true), (1, false)]);
    // Without checks nothing could bring it back: it starts healthy.
    u.healthchecks.passive.unhealthy.tcp_failures = 0;
    let c = balancers.get(&u).unwrap();
    assert!(c.ring().entries.iter().all(|e| e.state.healthy()));
}

#[test]
fn targets_split_into_host_and_port() {
    assert_eq!(split_target("a.test:80"), Some(("a.test".into(), 80)));
    assert_eq!(split_target("[::1]:8000"), Some(("::1".into(), 8000)));
    assert_eq!(split_target("a.test"), None);
}

//! Lock, store and purge tests against a real `redis-server` (skipped, saying why, without one).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway_config::cluster_cache::ClusterCacheSettings;

use super::lock::Loaded;
use super::metrics::L2Lookup;
use super::purge::Event;
use super::test_redis::TestRedis;
use super::{keys, Cluster};
use crate::cache::now_ms;
use crate::introspect::Introspected;
use crate::metrics::AuthMetrics;

fn settings(url: &str, lock_ttl: u64) -> ClusterCacheSettings {
    ClusterCacheSettings {
        enabled: true,
        redis_url: url.to_owned(),
        username: None,
        password: None,
        key_prefix: format!("t{}:", rand::random::<u32>()),
        salt: "0123456789abcdef-test".into(),
        connect_timeout: 200,
        command_timeout: 200,
        lock_ttl,
    }
}

fn node(s: &ClusterCacheSettings) -> Cluster {
    let metrics = Arc::new(AuthMetrics::new(&prometheus::Registry::new()));
    Cluster::from_settings(s, metrics).unwrap().unwrap()
}

fn active(until: u64) -> Arc<Introspected> {
    Arc::new(Introspected {
        active: true,
        valid_until_ms: until,
        ..Introspected::purged()
    })
}

async fn load_counting(calls: &AtomicUsize, delay: Duration) -> Result<Loaded, ()> {
    calls.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(delay).await;
    Ok(Loaded {
        info: active(now_ms() + 60_000),
        username: Some("john".into()),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_misses_on_three_nodes_make_one_load() {
    let Some(redis) = TestRedis::start() else {
        return;
    };
    let s = settings(&redis.url(), 5000);
    let nodes = [node(&s), node(&s), node(&s)];
    let calls = Arc::new(AtomicUsize::new(0));
    let th = keys::token_hash(&nodes[0].keyer(), "tok");
    let key = keys::entry_key(&nodes[0].keyer(), &[9; 32], b"introspection", &th);
    let mut tasks = Vec::new();
    for i in 0..30 {
        let n = nodes[i % 3].clone();
        let calls = calls.clone();
        tasks.push(tokio::spawn(async move {
            n.introspection(key, &th, || {
                load_counting(&calls, Duration::from_millis(100))
            })
            .await
            .unwrap()
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap().active);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let misses: u64 = nodes
        .iter()
        .map(|n| n.metrics().cluster.lookup_count(L2Lookup::Miss))
        .sum();
    assert_eq!(misses, 1, "one node loaded, the others read or waited");
    // a later lookup is an L2 hit; the user index names the token
    let r = nodes[1]
        .introspection(key, &th, || async {
            Err::<Loaded, _>("no IdP call expected")
        })
        .await;
    assert!(r.unwrap().active);
    assert_eq!(nodes[2].take_user_tokens("john").await.unwrap(), vec![th]);
    assert!(nodes[2].take_user_tokens("john").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_dead_holder_is_bounded_by_the_lock_expiry() {
    let Some(redis) = TestRedis::start() else {
        return;
    };
    let s = settings(&redis.url(), 300);
    let n = node(&s);
    let th = [1; 32];
    let key = [2; 32];
    // another node took the lock and died
    assert!(n.try_lock(&n.lock_key(&key), "dead-node").await.unwrap());
    assert!(!n.try_lock(&n.lock_key(&key), "other").await.unwrap());
    let calls = AtomicUsize::new(0);
    let start = Instant::now();
    let r = n
        .introspection(key, &th, || load_counting(&calls, Duration::ZERO))
        .await;
    assert!(r.unwrap().active);
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    assert!(waited < Duration::from_millis(1500), "{waited:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // the holder released its lock; another holder's lock is never released by us
    assert!(n.try_lock(&n.lock_key(&key), "mine").await.unwrap());
    n.unlock(&n.lock_key(&key), "not-mine").await;
    assert!(!n.try_lock(&n.lock_key(&key), "again").await.unwrap());
}

#[tokio::test]
async fn errors_are_not_stored_and_waiters_take_over() {
    let Some(redis) = TestRedis::start() else {
        return;
    };
    let n = node(&settings(&redis.url(), 5000));
    let (th, key) = ([3; 32], [4; 32]);
    let r = n
        .introspection(key, &th, || async { Err::<Loaded, _>("idp down") })
        .await;
    assert_eq!(r.unwrap_err(), "idp down");
    // nothing stored, lock released: the next call loads at once
    let calls = AtomicUsize::new(0);
    let start = Instant::now();
    let r = n
        .introspection(key, &th, || load_counting(&calls, Duration::ZERO))
        .await;
    assert!(r.unwrap().active);
    assert!(start.elapsed() < Duration::from_millis(500));
    // an expired stored value is a miss
    let (th2, key2) = ([5; 32], [6; 32]);
    let r = n
        .introspection(key2, &th2, || async {
            Ok::<_, ()>(Loaded {
                info: active(now_ms() + 150),
                username: None,
            })
        })
        .await;
    assert!(r.is_ok());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = n
        .introspection(key2, &th2, || load_counting(&calls, Duration::ZERO))
        .await;
    assert!(r.is_ok());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn redis_down_falls_back_quickly_and_reports_the_state() {
    // a port nobody listens on
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let n = node(&settings(&format!("redis://127.0.0.1:{port}"), 5000));
    let calls = AtomicUsize::new(0);
    for _ in 0..5 {
        let start = Instant::now();
        let r = n
            .introspection([7; 32], &[8; 32], || load_counting(&calls, Duration::ZERO))
            .await;
        assert!(r.unwrap().active);
        assert!(
            start.elapsed() < Duration::from_millis(600),
            "{:?}",
            start.elapsed()
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    assert!(!n.is_up());
    assert_eq!(n.metrics().cluster.lookup_count(L2Lookup::Error), 5);
    assert_eq!(n.metrics().cluster.state_value(), 0);
    assert!(n.publish(vec![[1; 32]], false).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_deletes_and_reaches_subscribers() {
    let Some(redis) = TestRedis::start() else {
        return;
    };
    let s = settings(&redis.url(), 5000);
    let (a, b) = (node(&s), node(&s));
    let (th, key) = ([10; 32], [11; 32]);
    let calls = AtomicUsize::new(0);
    a.introspection(key, &th, || load_counting(&calls, Duration::ZERO))
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let listener = b.clone();
    let task = tokio::spawn(async move {
        listener
            .listen(move |e| {
                if let Event::Purge(m) = e {
                    let _ = tx.send(m);
                }
            })
            .await;
    });
    // wait for the subscription
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut reached = 0;
    while reached == 0 && Instant::now() < deadline {
        assert!(a.delete(&[key]).await.unwrap() <= 1);
        reached = a.publish(vec![th], true).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(reached, 1);
    let m = tokio::time::timeout(Duration::from_secs(1), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (m.tokens, m.grants, m.node.as_str()),
        (vec![th], true, a.node_id())
    );
    // deleted from Redis: the next lookup loads again
    a.introspection(key, &th, || load_counting(&calls, Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    task.abort();
}

//! Kong 3.x's plugin queue (`kong/tools/queue.lua`) for http-log: entries wait in a bounded queue (the oldest
//! dropped to make room, counted and logged), a worker takes batches of up to `max_batch_size` after at most
//! `max_coalescing_delay`, and a failed batch is retried with exponential backoff (`initial_retry_delay`
//! doubled up to `max_retry_delay`) until `max_retry_time` has passed. Workers run on one small runtime of
//! their own, so neither a slow endpoint nor a full queue ever holds a request's task.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use gateway_config::plugins::queue::QueueConfig;
use prometheus::IntCounter;
use tokio::sync::Notify;

use crate::log_record::Throttle;

/// What a queue holds: an entry and its size in bytes (for `max_bytes`).
pub trait Entry: Clone + Send + Sync + 'static {
    /// Bytes the entry takes.
    fn size(&self) -> usize;
}

impl Entry for String {
    fn size(&self) -> usize {
        self.len()
    }
}

impl Entry for Vec<u8> {
    fn size(&self) -> usize {
        self.len()
    }
}

/// What delivers one batch (http-log's call to its endpoint, opentelemetry's export); `Err` is retried.
pub trait Handler: Send + Sync + 'static {
    /// The entries (http-log: JSON texts; opentelemetry: encoded spans).
    type Entry: Entry;
    /// The plugin's name, for log lines.
    const PLUGIN: &'static str = "http-log";
    /// Sends `entries`.
    fn send(&self, entries: Vec<Self::Entry>) -> impl Future<Output = Result<(), String>> + Send;
}

/// The runtime the queue workers run on (one thread, started on first use).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("log-queue")
            .enable_all()
            .build()
            .expect("the log queue runtime starts")
    })
}

struct Entries<E> {
    items: VecDeque<E>,
    bytes: usize,
}

/// One queue and its worker.
pub struct Queue<H: Handler> {
    name: String,
    conf: QueueConfig,
    entries: Mutex<Entries<H::Entry>>,
    notify: Arc<Notify>,
    handler: H,
    dropped: IntCounter,
    lost: IntCounter,
    full: Throttle,
    failing: Throttle,
}

impl<H: Handler> Queue<H> {
    /// A queue named `name` (for its log lines) over `handler`, its worker started.
    pub fn start(
        name: String,
        conf: QueueConfig,
        handler: H,
        dropped: IntCounter,
        lost: IntCounter,
    ) -> Arc<Self> {
        let q = Arc::new(Queue {
            name,
            conf,
            entries: Mutex::new(Entries {
                items: VecDeque::new(),
                bytes: 0,
            }),
            notify: Arc::new(Notify::new()),
            handler,
            dropped,
            lost,
            full: Throttle::new(),
            failing: Throttle::new(),
        });
        runtime().spawn(run(Arc::downgrade(&q)));
        q
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries<H::Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Entries waiting.
    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// Queues `entry`, dropping the oldest entries when `max_entries` or `max_bytes` would be passed. Never
    /// waits (beyond the queue's lock).
    pub fn enqueue(&self, entry: H::Entry) {
        let max_bytes = self.conf.max_bytes.map(|b| b as usize);
        if let Some(max) = max_bytes.filter(|m| entry.size() > *m) {
            self.dropped.inc();
            self.full.event(|_| {
                log::error!(
                    "[{}] queue {}: string to be queued is longer ({} bytes) than the queue's max_bytes ({max} bytes)",
                    H::PLUGIN,
                    self.name,
                    entry.size()
                )
            });
            return;
        }
        let mut dropped = 0u64;
        {
            let mut e = self.lock();
            while e.items.len() as u64 >= self.conf.max_entries
                || max_bytes.is_some_and(|m| e.bytes + entry.size() > m)
            {
                let Some(old) = e.items.pop_front() else {
                    break;
                };
                e.bytes -= old.size();
                dropped += 1;
            }
            e.bytes += entry.size();
            e.items.push_back(entry);
        }
        if dropped > 0 {
            self.dropped.inc_by(dropped);
            self.full.event(|n| {
                log::error!(
                    "[{}] queue {}: queue full, dropping old entries until processing is successful again ({n} dropped)",
                    H::PLUGIN,
                    self.name
                )
            });
        }
        self.notify.notify_one();
    }

    fn take(&self, n: usize) -> Vec<H::Entry> {
        let mut e = self.lock();
        let n = n.min(e.items.len());
        let batch: Vec<H::Entry> = e.items.drain(..n).collect();
        e.bytes -= batch.iter().map(Entry::size).sum::<usize>();
        batch
    }

    /// Kong's `handle`: send, and retry with backoff until `max_retry_time` has passed.
    async fn deliver(&self, batch: Vec<H::Entry>) {
        let start = Instant::now();
        let mut retry = 0i32;
        loop {
            let err = match self.handler.send(batch.clone()).await {
                Ok(()) => return,
                Err(e) => e,
            };
            self.failing.event(|n| {
                log::warn!(
                    "[{}] queue {}: handler could not process entries: {err} ({n} failures)",
                    H::PLUGIN,
                    self.name
                )
            });
            if start.elapsed().as_secs_f64() > self.conf.max_retry_time {
                log::error!(
                    "[{}] queue {}: could not send entries due to max_retry_time exceeded. {} queue entries were lost",
                    H::PLUGIN,
                    self.name,
                    batch.len()
                );
                self.lost.inc_by(batch.len() as u64);
                return;
            }
            let delay =
                (2f64.powi(retry) * self.conf.initial_retry_delay).min(self.conf.max_retry_delay);
            tokio::time::sleep(Duration::from_secs_f64(delay)).await;
            retry = retry.saturating_add(1);
        }
    }
}

/// The worker: waits for entries, coalesces a batch, delivers it; ends when the queue is dropped and empty.
async fn run<H: Handler>(weak: Weak<Queue<H>>) {
    loop {
        let Some(q) = weak.upgrade() else { return };
        if q.len() == 0 {
            let notify = q.notify.clone();
            drop(q);
            let _ = tokio::time::timeout(Duration::from_secs(1), notify.notified()).await;
            continue;
        }
        let size = q.conf.max_batch_size.max(1) as usize;
        if size > 1 {
            let deadline =
                tokio::time::Instant::now() + Duration::from_secs_f64(q.conf.max_coalescing_delay);
            while q.len() < size {
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    break;
                }
                let _ = tokio::time::timeout(deadline - now, q.notify.notified()).await;
            }
        }
        let batch = q.take(size);
        if batch.is_empty() {
            continue;
        }
        if q.conf.concurrency_limit == -1 {
            let q = q.clone();
            tokio::spawn(async move { q.deliver(batch).await });
        } else {
            q.deliver(batch).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Fails the first `fail` calls, then records what it got.
    struct Flaky {
        fail: AtomicUsize,
        got: Arc<Mutex<Vec<Vec<String>>>>,
    }

    impl Handler for Flaky {
        type Entry = String;
        fn send(&self, entries: Vec<String>) -> impl Future<Output = Result<(), String>> + Send {
            let fail = self
                .fail
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            let got = self.got.clone();
            async move {
                if fail {
                    return Err("down".into());
                }
                got.lock().unwrap().push(entries);
                Ok(())
            }
        }
    }

    fn conf(batch: u64, max_entries: u64) -> QueueConfig {
        QueueConfig {
            max_batch_size: batch,
            max_coalescing_delay: 0.05,
            max_entries,
            initial_retry_delay: 0.01,
            max_retry_delay: 0.05,
            max_retry_time: 5.0,
            ..QueueConfig::default()
        }
    }

    fn wait(until: impl Fn() -> bool) {
        for _ in 0..300 {
            if until() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("timed out");
    }

    #[test]
    fn batches_are_retried_until_delivered() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let h = Flaky {
            fail: AtomicUsize::new(3),
            got: got.clone(),
        };
        let q = Queue::start(
            "t".into(),
            conf(10, 100),
            h,
            IntCounter::new("d", "d").unwrap(),
            IntCounter::new("l", "l").unwrap(),
        );
        for i in 0..5 {
            q.enqueue(format!("{{\"n\":{i}}}"));
        }
        wait(|| got.lock().unwrap().iter().map(Vec::len).sum::<usize>() == 5);
        let all: Vec<String> = got.lock().unwrap().concat();
        assert_eq!(all[0], "{\"n\":0}");
        assert_eq!(all[4], "{\"n\":4}");
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts_them() {
        let got = Arc::new(Mutex::new(Vec::new()));
        // The endpoint is down long enough for the queue to fill.
        let h = Flaky {
            fail: AtomicUsize::new(usize::MAX),
            got: got.clone(),
        };
        let dropped = IntCounter::new("d", "d").unwrap();
        let q = Queue::start(
            "t".into(),
            conf(1, 3),
            h,
            dropped.clone(),
            IntCounter::new("l", "l").unwrap(),
        );
        q.enqueue("a".into());
        wait(|| q.len() == 0); // the worker holds "a", retrying
        for s in ["b", "c", "d", "e", "f"] {
            q.enqueue(s.into());
        }
        assert_eq!(q.len(), 3);
        assert_eq!(dropped.get(), 2);
        assert_eq!(q.take(3), vec!["d", "e", "f"]);
    }
}

//! The [`Resolver`]: the answer cache (one entry per name and port), its freshness rules, the coalescing of
//! concurrent lookups, and the walk through `dns_order` (hosts file, SRV, A, AAAA, CNAME).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use std::time::Instant;
use tokio::sync::OnceCell;

use super::hosts::Hosts;
use super::lookup::{Data, HickoryLookup, Kind, Lookup, QueryError};
use super::{Addresses, DnsError, DnsSettings};

/// CNAME and SRV levels followed before giving up.
const MAX_DEPTH: u8 = 5;
/// Hosts-file answers never expire (the file is read once).
const FOREVER: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// The process's DNS resolver: cheap to clone (one shared cache), owned by `AppState`, kept across reloads.
#[derive(Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
}

struct Inner {
    lookup: Box<dyn Lookup>,
    hosts: Hosts,
    /// `dns_order`; `None` stands for `LAST`.
    order: Vec<Option<Kind>>,
    valid_ttl: Option<Duration>,
    stale_ttl: Duration,
    not_found_ttl: Duration,
    error_ttl: Duration,
    cache: quick_cache::sync::Cache<Key, Arc<Entry>>,
    /// Lookups under way, so that concurrent misses (and a background refresh) of one key send one query.
    inflight: Mutex<HashMap<Key, Arc<OnceCell<Arc<Entry>>>>>,
    metrics: DnsMetrics,
    /// Unit tests move the clock forward by this many milliseconds.
    #[cfg(test)]
    skew_ms: std::sync::atomic::AtomicU64,
}

/// A cache key: the lower-case name and the port (A/AAAA answers are stored as socket addresses).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    name: Box<str>,
    port: u16,
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        KeyRef {
            name: &self.name,
            port: self.port,
        }
        .hash(state);
    }
}

/// A borrowed [`Key`] for cache hits without allocating.
#[derive(Hash)]
struct KeyRef<'a> {
    name: &'a str,
    port: u16,
}

impl quick_cache::Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        *self.name == *key.name && self.port == key.port
    }
}

/// What a lookup found.
#[derive(Debug, Clone)]
enum Answer {
    Addrs(Arc<[SocketAddr]>),
    Error(DnsError),
}

/// One cached answer and its clock.
#[derive(Debug)]
struct Entry {
    answer: Answer,
    /// Until then the answer is fresh (a hit).
    fresh_until: Instant,
    /// From then on a request triggers a background refresh (shortly before `fresh_until`; after a failed
    /// refresh, `dns_error_ttl` later).
    refresh_at: Instant,
    /// Until then the answer may be served stale; after it, a request waits for a new lookup.
    stale_until: Instant,
    /// The record type that gave the answer (`LAST`), kept across negative answers.
    last: Option<Kind>,
    /// A background refresh was started for this entry.
    refreshing: AtomicBool,
    /// Round-robin position over the addresses.
    rotation: AtomicUsize,
}

impl Entry {
    fn new(
        answer: Answer,
        now: Instant,
        ttl: Duration,
        stale: Duration,
        last: Option<Kind>,
    ) -> Entry {
        let fresh_until = now + ttl;
        // Refresh ahead of expiry by a tenth of the TTL (at most 1 s), so a busy name rarely goes stale.
        let ahead = (ttl / 10).min(Duration::from_secs(1));
        Entry {
            answer,
            fresh_until,
            refresh_at: fresh_until - ahead,
            stale_until: fresh_until + stale,
            last,
            refreshing: AtomicBool::new(false),
            rotation: AtomicUsize::new(0),
        }
    }

    fn result(&self) -> Result<Addresses, DnsError> {
        match &self.answer {
            Answer::Addrs(list) => {
                let start = self.rotation.fetch_add(1, Ordering::Relaxed);
                Addresses::new(list.clone(), start).ok_or(DnsError::NotFound)
            }
            Answer::Error(e) => Err(e.clone()),
        }
    }
}

/// What the walk through `dns_order` found.
struct Found {
    addrs: Vec<SocketAddr>,
    ttl: u32,
    kind: Option<Kind>,
    /// Answered by the hosts file: no query was sent.
    from_hosts: bool,
}

impl Resolver {
    /// The resolver of `settings`, its metrics registered on `registry`. Errors: a `dns_resolver` entry that
    /// is not `ip[:port]`, or metrics already registered there. Creates no thread and no socket.
    pub fn new(settings: &DnsSettings, registry: &Registry) -> Result<Resolver, String> {
        let lookup = HickoryLookup::new(settings)?;
        let metrics = DnsMetrics::new(registry).map_err(|e| format!("dns metrics: {e}"))?;
        Ok(Resolver::with_lookup(
            settings,
            Hosts::read(&settings.hostsfile),
            Box::new(lookup),
            metrics,
        ))
    }

    /// A resolver over any [`Lookup`] (unit tests use a fake one).
    pub(crate) fn with_lookup(
        settings: &DnsSettings,
        hosts: Hosts,
        lookup: Box<dyn Lookup>,
        metrics: DnsMetrics,
    ) -> Resolver {
        let mut order = Vec::new();
        for item in &settings.order {
            let kind = match item.to_ascii_uppercase().as_str() {
                "LAST" => None,
                "SRV" => Some(Kind::Srv),
                "A" => Some(Kind::A),
                "AAAA" => Some(Kind::Aaaa),
                "CNAME" => Some(Kind::Cname),
                other => {
                    log::warn!("dns: unknown record type in dns_order, ignored type={other}");
                    continue;
                }
            };
            if !order.contains(&kind) {
                order.push(kind);
            }
        }
        Resolver {
            inner: Arc::new(Inner {
                lookup,
                hosts,
                order,
                valid_ttl: settings.valid_ttl.map(Duration::from_secs),
                stale_ttl: Duration::from_secs(settings.stale_ttl),
                not_found_ttl: Duration::from_secs(settings.not_found_ttl),
                error_ttl: Duration::from_secs(settings.error_ttl),
                cache: quick_cache::sync::Cache::new(settings.cache_size.max(1)),
                inflight: Mutex::new(HashMap::new()),
                metrics,
                #[cfg(test)]
                skew_ms: Default::default(),
            }),
        }
    }

    /// Unit tests: move the resolver's clock forward.
    #[cfg(test)]
    pub(crate) fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.inner.skew_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// The addresses of `host` for a connection to `port` (SRV answers carry their own ports).
    ///
    /// An IP literal is returned as is. A name is answered from the cache when it can be: a fresh answer
    /// at once; an answer about to expire or past its TTL (but within `dns_stale_ttl`) at once too, while one
    /// background lookup refreshes it. Otherwise the caller waits for the lookup, shared with every
    /// concurrent caller of the same name and port. Not-found and error answers are cached for
    /// `dns_not_found_ttl` / `dns_error_ttl`; a failed refresh keeps serving the last good answer until
    /// `dns_stale_ttl` has passed. Names are case-insensitive.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Addresses, DnsError> {
        if let Some(addrs) = Addresses::literal(host, port) {
            return Ok(addrs);
        }
        let host = host.strip_suffix('.').unwrap_or(host);
        if host.bytes().any(|b| b.is_ascii_uppercase()) {
            return self.resolve_name(&host.to_ascii_lowercase(), port).await;
        }
        self.resolve_name(host, port).await
    }

    async fn resolve_name(&self, name: &str, port: u16) -> Result<Addresses, DnsError> {
        let inner = &self.inner;
        let now = inner.now();
        let cached = inner.cache.get(&KeyRef { name, port });
        if let Some(entry) = cached.as_ref().filter(|e| now < e.stale_until) {
            if now < entry.fresh_until {
                inner.metrics.hit.inc();
            } else {
                inner.metrics.stale.inc();
            }
            if now >= entry.refresh_at && !entry.refreshing.swap(true, Ordering::AcqRel) {
                self.refresh_in_background(name, port, entry.clone());
            }
            return entry.result();
        }
        inner.metrics.miss.inc();
        let key = Key {
            name: name.into(),
            port,
        };
        // Boxed: a miss is rare, and the resolver's future would otherwise be copied with every request's.
        Box::pin(Inner::load(inner, key, cached)).await.result()
    }

    fn refresh_in_background(&self, name: &str, port: u16, prev: Arc<Entry>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            prev.refreshing.store(false, Ordering::Release);
            return;
        };
        let inner = self.inner.clone();
        let key = Key {
            name: name.into(),
            port,
        };
        runtime.spawn(async move {
            Inner::load(&inner, key, Some(prev)).await;
        });
    }
}

impl Inner {
    fn now(&self) -> Instant {
        let now = Instant::now();
        #[cfg(test)]
        let now = now + Duration::from_millis(self.skew_ms.load(Ordering::Relaxed));
        now
    }

    /// Look `key` up (or join the lookup under way), store the new entry and return it.
    async fn load(this: &Arc<Inner>, key: Key, prev: Option<Arc<Entry>>) -> Arc<Entry> {
        let cell = {
            let mut inflight = this.inflight.lock().unwrap_or_else(|e| e.into_inner());
            inflight.entry(key.clone()).or_default().clone()
        };
        let entry = cell
            .get_or_init(|| async {
                let last = prev.as_ref().and_then(|p| p.last);
                let outcome = this.walk(&key.name, key.port, last).await;
                let entry = Arc::new(this.settle(outcome, prev.as_deref(), last));
                this.cache.insert(key.clone(), entry.clone());
                entry
            })
            .await
            .clone();
        let mut inflight = this.inflight.lock().unwrap_or_else(|e| e.into_inner());
        if inflight.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            inflight.remove(&key);
        }
        entry
    }

    /// The entry a lookup's outcome makes, given the entry it replaces.
    fn settle(
        &self,
        outcome: Result<Found, DnsError>,
        prev: Option<&Entry>,
        last: Option<Kind>,
    ) -> Entry {
        let now = self.now();
        let m = &self.metrics;
        match outcome {
            Ok(found) if found.from_hosts => Entry::new(
                Answer::Addrs(found.addrs.into()),
                now,
                FOREVER,
                Duration::ZERO,
                None,
            ),
            Ok(found) => {
                m.ok.inc();
                let ttl = self
                    .valid_ttl
                    .unwrap_or(Duration::from_secs(u64::from(found.ttl)));
                let addrs = Answer::Addrs(found.addrs.into());
                Entry::new(addrs, now, ttl, self.stale_ttl, found.kind.or(last))
            }
            Err(DnsError::NotFound) => {
                m.not_found.inc();
                let answer = Answer::Error(DnsError::NotFound);
                Entry::new(answer, now, self.not_found_ttl, Duration::ZERO, last)
            }
            Err(e) => match prev {
                // The server fails: keep serving the last good answer, try again after `dns_error_ttl`.
                Some(p) if matches!(p.answer, Answer::Addrs(_)) && now < p.stale_until => {
                    m.stale_kept.inc();
                    log::warn!("dns: refresh failed, serving the last answer error={e}");
                    Entry {
                        answer: p.answer.clone(),
                        fresh_until: p.fresh_until,
                        refresh_at: now + self.error_ttl,
                        stale_until: p.stale_until,
                        last,
                        refreshing: AtomicBool::new(false),
                        rotation: AtomicUsize::new(p.rotation.load(Ordering::Relaxed)),
                    }
                }
                _ => {
                    m.error.inc();
                    Entry::new(Answer::Error(e), now, self.error_ttl, Duration::ZERO, last)
                }
            },
        }
    }

    /// Resolve `name`: the hosts file, then each type of `dns_order` until one answers.
    async fn walk(&self, name: &str, port: u16, last: Option<Kind>) -> Result<Found, DnsError> {
        if let Some(found) = self.hosts_answer(name, port) {
            return Ok(found);
        }
        self.walk_kinds(name, port, self.kinds(last), 0).await
    }

    /// `dns_order` with `LAST` replaced by `last` (skipped when unknown), without repeats.
    fn kinds(&self, last: Option<Kind>) -> Vec<Kind> {
        let mut kinds = Vec::with_capacity(self.order.len());
        for item in &self.order {
            if let Some(kind) = item.or(last) {
                if !kinds.contains(&kind) {
                    kinds.push(kind);
                }
            }
        }
        kinds
    }

    /// The address types of `dns_order` in its order (A then AAAA when it names neither).
    fn ip_kinds(&self) -> Vec<Kind> {
        let kinds: Vec<Kind> = self
            .order
            .iter()
            .flatten()
            .copied()
            .filter(|k| matches!(k, Kind::A | Kind::Aaaa))
            .collect();
        if kinds.is_empty() {
            vec![Kind::A, Kind::Aaaa]
        } else {
            kinds
        }
    }

    fn hosts_answer(&self, name: &str, port: u16) -> Option<Found> {
        let name = name.strip_suffix('.').unwrap_or(name);
        self.ip_kinds().into_iter().find_map(|kind| {
            let ips = self.hosts.get(name, kind == Kind::Aaaa)?;
            Some(Found {
                addrs: ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect(),
                ttl: u32::MAX,
                kind: Some(kind),
                from_hosts: true,
            })
        })
    }

    /// Try `kinds` in turn for `name`; the first answer wins. All "not found" ⇒ `NotFound`; any server
    /// error (and no answer) ⇒ that error.
    fn walk_kinds<'a>(
        &'a self,
        name: &'a str,
        port: u16,
        kinds: Vec<Kind>,
        depth: u8,
    ) -> BoxFuture<'a, Result<Found, DnsError>> {
        Box::pin(async move {
            if depth > MAX_DEPTH {
                return Err(DnsError::Failed("too many CNAME/SRV levels".into()));
            }
            if depth > 0 {
                if let Some(found) = self.hosts_answer(name, port) {
                    return Ok(found);
                }
            }
            let mut error = None;
            for kind in kinds {
                match self.query_kind(name, port, kind, depth).await {
                    Ok(found) => return Ok(found),
                    Err(Walk::NotFound) => {}
                    Err(Walk::Failed(e)) => error = Some(e),
                    // No answer at all: the next types would wait out the same timeout.
                    Err(Walk::Unreachable(e)) => return Err(e),
                }
            }
            Err(error.unwrap_or(DnsError::NotFound))
        })
    }

    async fn query_kind(
        &self,
        name: &str,
        port: u16,
        kind: Kind,
        depth: u8,
    ) -> Result<Found, Walk> {
        let records = self.lookup.query(name, kind).await.map_err(|e| match e {
            QueryError::NotFound => Walk::NotFound,
            QueryError::Failed(msg) => Walk::Failed(DnsError::Failed(msg.into())),
            QueryError::Unreachable(msg) => Walk::Unreachable(DnsError::Failed(msg.into())),
        })?;
        let mut found = Found {
            addrs: Vec::new(),
            ttl: records.ttl,
            kind: Some(kind),
            from_hosts: false,
        };
        match kind {
            Kind::A | Kind::Aaaa => {
                for data in &records.data {
                    if let Data::Ip(ip) = data {
                        push_unique(&mut found.addrs, SocketAddr::new(*ip, port));
                    }
                }
            }
            Kind::Srv => {
                // The lowest priority present; weights are not used (targets are taken in turn).
                let best = records.data.iter().filter_map(|d| match d {
                    Data::Srv { priority, .. } => Some(*priority),
                    _ => None,
                });
                let Some(best) = best.min() else {
                    return Err(Walk::NotFound);
                };
                let mut error = None;
                for data in &records.data {
                    let Data::Srv {
                        priority,
                        port,
                        target,
                    } = data
                    else {
                        continue;
                    };
                    if *priority != best || target == "." || target.is_empty() {
                        continue;
                    }
                    let target = target.to_ascii_lowercase();
                    match self
                        .walk_kinds(&target, *port, self.ip_kinds(), depth + 1)
                        .await
                    {
                        Ok(t) => {
                            found.ttl = found.ttl.min(t.ttl);
                            for addr in t.addrs {
                                push_unique(&mut found.addrs, addr);
                            }
                        }
                        Err(e) => error = Some(e),
                    }
                }
                if found.addrs.is_empty() {
                    return Err(error.map_or(Walk::NotFound, Walk::Failed));
                }
            }
            Kind::Cname => {
                let Some(Data::Cname(target)) = records.data.first() else {
                    return Err(Walk::NotFound);
                };
                let target = target.to_ascii_lowercase();
                let t = self
                    .walk_kinds(&target, port, self.kinds(None), depth + 1)
                    .await
                    .map_err(|e| match e {
                        DnsError::NotFound => Walk::NotFound,
                        e => Walk::Failed(e),
                    })?;
                found.ttl = found.ttl.min(t.ttl);
                found.addrs = t.addrs;
            }
        }
        if found.addrs.is_empty() {
            return Err(Walk::NotFound);
        }
        Ok(found)
    }
}

/// How one record type of the walk failed.
enum Walk {
    /// No such name or no record of that type: try the next type.
    NotFound,
    /// The server answered with an error: try the next type, report this if none answers.
    Failed(DnsError),
    /// The server did not answer: stop.
    Unreachable(DnsError),
}

fn push_unique(list: &mut Vec<SocketAddr>, addr: SocketAddr) {
    if !list.contains(&addr) {
        list.push(addr);
    }
}

/// The resolver's counters, children resolved once (no label hashing per request).
pub(crate) struct DnsMetrics {
    ok: IntCounter,
    stale_kept: IntCounter,
    not_found: IntCounter,
    error: IntCounter,
    hit: IntCounter,
    miss: IntCounter,
    stale: IntCounter,
}

impl DnsMetrics {
    /// Registers `gateway_dns_lookups_total{result}` and `gateway_dns_cache_total{result}` on `registry`.
    pub(crate) fn new(registry: &Registry) -> prometheus::Result<DnsMetrics> {
        let lookups = crate::metrics::register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "gateway_dns_lookups_total",
                    "DNS resolutions sent to the DNS servers, by outcome (stale: failed, the last answer kept)",
                ),
                &["result"],
            )?,
        )?;
        let cache = crate::metrics::register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "gateway_dns_cache_total",
                    "Upstream name resolutions by the cache's answer (hit, stale answer served, miss)",
                ),
                &["result"],
            )?,
        )?;
        Ok(DnsMetrics {
            ok: lookups.with_label_values(&["ok"]),
            stale_kept: lookups.with_label_values(&["stale"]),
            not_found: lookups.with_label_values(&["not_found"]),
            error: lookups.with_label_values(&["error"]),
            hit: cache.with_label_values(&["hit"]),
            miss: cache.with_label_values(&["miss"]),
            stale: cache.with_label_values(&["stale"]),
        })
    }
}

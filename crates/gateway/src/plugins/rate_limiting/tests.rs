//! Unit tests of the local rate limiter: Kong's headers, exact counting under threads, periods.

use super::*;
use serde_json::json;

fn limiter(cfg: serde_json::Value) -> RateLimiter {
    let cfg = Arc::new(RateLimitingConfig::from_value(&cfg).unwrap());
    RateLimiter::new(cfg, uuid::Uuid::nil(), [0; 32]).unwrap()
}

/// The local policy's decision (what `check` does for `policy: local`, without a runtime).
fn check(rl: &RateLimiter, s: &Subject<'_>, now: u64) -> Verdict {
    rl.check_local(rl.key(s), now)
}

fn subject(consumer: &str) -> Subject<'_> {
    Subject {
        consumer: Some(consumer),
        path: "/",
        ..Subject::default()
    }
}

fn header<'a>(h: &'a [(HeaderName, HeaderValue)], name: &str) -> Option<&'a str> {
    h.iter()
        .find(|(n, _)| n.as_str() == name)
        .and_then(|(_, v)| v.to_str().ok())
}

const NOW: u64 = 1_700_000_010; // 30 s into a minute (1_699_999_980 is a minute start)

#[test]
fn five_per_minute_then_429_with_kongs_headers() {
    let rl = limiter(json!({"minute": 5}));
    for i in 1..=5u64 {
        let Verdict::Pass(h) = check(&rl, &subject("a"), NOW) else {
            panic!("request {i} refused");
        };
        let left = (5 - i).to_string();
        assert_eq!(header(&h, "x-ratelimit-limit-minute"), Some("5"));
        assert_eq!(
            header(&h, "x-ratelimit-remaining-minute"),
            Some(left.as_str())
        );
        assert_eq!(header(&h, "ratelimit-remaining"), Some(left.as_str()));
        assert_eq!(header(&h, "ratelimit-reset"), Some("30"));
        assert_eq!(header(&h, "retry-after"), None);
    }
    let Verdict::Limited(status, body, h) = check(&rl, &subject("a"), NOW) else {
        panic!("6th let through");
    };
    assert_eq!(status, 429);
    assert_eq!(&body[..], br#"{"message":"API rate limit exceeded"}"#);
    assert_eq!(header(&h, "ratelimit-limit"), Some("5"));
    assert_eq!(header(&h, "ratelimit-remaining"), Some("0"));
    assert_eq!(header(&h, "retry-after"), Some("30"));
    // Another identifier has its own budget; the next minute starts afresh.
    assert!(matches!(check(&rl, &subject("b"), NOW), Verdict::Pass(_)));
    assert!(matches!(
        check(&rl, &subject("a"), NOW + 30),
        Verdict::Pass(_)
    ));
}

#[test]
fn a_refusal_by_one_period_consumes_nothing_in_the_others() {
    let rl = limiter(json!({"second": 1, "minute": 3}));
    assert!(matches!(check(&rl, &subject("a"), NOW), Verdict::Pass(_)));
    let Verdict::Limited(_, _, h) = check(&rl, &subject("a"), NOW) else {
        panic!("second limit not applied");
    };
    assert_eq!(header(&h, "x-ratelimit-remaining-minute"), Some("2"));
    assert_eq!(header(&h, "x-ratelimit-remaining-second"), Some("0"));
    // The minute has 2 left: two more seconds, two more passes, then the minute stops it.
    assert!(matches!(
        check(&rl, &subject("a"), NOW + 1),
        Verdict::Pass(_)
    ));
    assert!(matches!(
        check(&rl, &subject("a"), NOW + 2),
        Verdict::Pass(_)
    ));
    let Verdict::Limited(_, _, h) = check(&rl, &subject("a"), NOW + 3) else {
        panic!("minute limit not applied");
    };
    assert_eq!(header(&h, "ratelimit-limit"), Some("3"));
    assert_eq!(header(&h, "retry-after"), Some("27"));
}

#[test]
fn exact_under_concurrency() {
    let rl = Arc::new(limiter(json!({"minute": 100})));
    let passed = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..50 {
                    if matches!(check(&rl, &subject("a"), NOW), Verdict::Pass(_)) {
                        passed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(passed.load(Ordering::Relaxed), 100);
}

#[test]
fn identifiers_fall_back_to_the_client_ip_as_kong() {
    let ip: std::net::IpAddr = "127.0.0.9".parse().unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert("x-team", HeaderValue::from_static("blue"));
    let anon = Subject {
        ip: Some(ip),
        path: "/x",
        headers: Some(&headers),
        ..Subject::default()
    };
    assert_eq!(limiter(json!({"minute": 1})).identifier(&anon), "127.0.0.9");
    let by_header = limiter(json!({"minute": 1, "limit_by": "header", "header_name": "X-Team"}));
    assert_eq!(by_header.identifier(&anon), "blue");
    let by_path = limiter(json!({"minute": 1, "limit_by": "path", "path": "/x"}));
    assert_eq!(by_path.identifier(&anon), "/x");
    let other_path = limiter(json!({"minute": 1, "limit_by": "path", "path": "/y"}));
    assert_eq!(other_path.identifier(&anon), "127.0.0.9");
    let sub = http::HeaderValue::from_static("sub-1");
    let cred = Subject {
        credential: Some(&sub),
        ..anon
    };
    assert_eq!(limiter(json!({"minute": 1})).identifier(&cred), "sub-1");
    let by_credential = limiter(json!({"minute": 1, "limit_by": "credential"}));
    assert_eq!(by_credential.identifier(&cred), "sub-1");
    assert_eq!(by_credential.identifier(&anon), "127.0.0.9");
    let hidden = limiter(json!({"minute": 1, "hide_client_headers": true}));
    assert_eq!(check(&hidden, &anon, NOW), Verdict::Pass(Vec::new()));
}

#[test]
fn calendar_periods() {
    // 2023-11-14T22:13:20Z
    let now = 1_700_000_000;
    assert_eq!(period_start(3, now), 1_699_920_000); // 2023-11-14T00:00:00Z
    assert_eq!(period_start(4, now), 1_698_796_800); // 2023-11-01T00:00:00Z
    assert_eq!(period_start(5, now), 1_672_531_200); // 2023-01-01T00:00:00Z
    assert_eq!(period_start(5, 1_672_531_199), 1_640_995_200); // 2022-01-01
}

#[test]
fn one_limiter_per_plugin_kept_across_compiles_while_unchanged() {
    let yaml = |minute: u32| {
        format!(
            r#"
_format_version: "3.0"
services:
- name: s
  url: http://127.0.0.1:9/
  routes: [{{name: a, paths: [/a]}}, {{name: b, paths: [/b]}}]
  plugins: [{{name: rate-limiting, config: {{minute: {minute}}}}}]
"#
        )
    };
    let registry = gateway_auth::AuthRegistry::new(&prometheus::Registry::new());
    let compile = |text: &str| {
        let config = gateway_config::load::parse_str(text).unwrap();
        crate::snapshot::compile(config, text, &registry).unwrap()
    };
    let old = compile(&yaml(5));
    assert_eq!(old.limiters.len(), 1);
    let instance = |s: &crate::snapshot::Snapshot, r: usize| {
        s.routes[r].chains.access[0].base.clone().unwrap()
    };
    assert!(
        Arc::ptr_eq(&instance(&old, 0), &instance(&old, 1)),
        "a service's plugin is one instance, counting once for its routes"
    );
    let mut same = compile(&yaml(5));
    same.adopt_limiters(&old);
    assert!(Arc::ptr_eq(&same.limiters[0], &old.limiters[0]));
    let mut changed = compile(&yaml(6));
    changed.adopt_limiters(&old);
    assert!(!Arc::ptr_eq(&changed.limiters[0], &old.limiters[0]));
}

/// The compile-time header names are Kong's, period by period, and the static reset values read as their
/// numbers (the formatted ones past a minute too).
#[test]
fn static_names_and_reset_values() {
    for (i, (period, _)) in gateway_config::plugins::rate_limiting::PERIODS
        .iter()
        .enumerate()
    {
        assert_eq!(
            LIMIT_HEADERS[i].as_str(),
            format!("x-ratelimit-limit-{period}")
        );
        assert_eq!(
            REMAINING_HEADERS[i].as_str(),
            format!("x-ratelimit-remaining-{period}")
        );
    }
    for secs in 0..=120u64 {
        assert_eq!(reset_value(secs), HeaderValue::from(secs), "{secs}");
    }
}

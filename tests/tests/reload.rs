//! Hot reload by SIGHUP: config swaps under load, refused files, `gateway reload`, `/status`, and the reuse of
//! token caches across reloads.

mod common_ops;

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common_ops::{count, failures, wait_until, Connections, Load, TinyUpstream};
use e2e::metrics::scrape_sum;
use e2e::{config_value, gateway_bin, http, oidc_config, to_yaml, Gateway, Ports, Stack, JOHN};
use serde_json::{json, Value};

const RELOADED: &str = "config reloaded path=";
const REFUSED: &str = "config reload refused";
const WAIT: Duration = Duration::from_secs(20);

/// `epoch` encoding for the load: `seq << 8 | flags`; bit 0 = the variant in force (0 = "A", 1 = "B"); bit 7 =
/// a valid reload to the other variant is under way (either variant may answer).
const SWITCHING: u64 = 0x80;

fn variant_body(variant: u64) -> &'static str {
    if variant == 0 {
        "A"
    } else {
        "B"
    }
}

/// Three ways a file can be refused: YAML syntax, a semantic error with a field path, a bad service URL.
fn invalid_config(ports: Ports, upstream: &str, kind: usize) -> String {
    match kind % 3 {
        0 => "_format_version: \"3.0\"\nservices: [\n".to_string(),
        1 => {
            let mut v = config_value(ports, upstream, None);
            v["services"][0]["routes"][0]["paths"] = json!(["no-leading-slash"]);
            to_yaml(&v)
        }
        _ => {
            let mut v = config_value(ports, upstream, None);
            v["services"][0]["url"] = json!("ftp://127.0.0.1:1/anything");
            to_yaml(&v)
        }
    }
}

/// The acceptance test of issue 7: a bounded load while the file is rewritten and SIGHUP sent 100 times,
/// alternating valid and invalid files.
#[test]
fn hundred_reloads_under_load_lose_nothing_and_refuse_every_invalid_file() {
    let (up_a, up_b) = (TinyUpstream::start("A"), TinyUpstream::start("B"));
    let ports = Ports::free();
    let valid = |variant: u64| {
        let up = if variant == 0 { &up_a } else { &up_b };
        to_yaml(&config_value(ports, &up.url(), None))
    };
    // Access lines would make the log (read after every reload) large: only the control plane is logged.
    let gw = Gateway::start_with(&valid(0), &[], &[("RUST_LOG", "info,access=off")]);

    let epoch = Arc::new(AtomicU64::new(0));
    let load = Load::start(
        &format!("{}/x", gw.proxy_url()),
        8,
        Connections::KeepAlive,
        Duration::from_millis(1),
        epoch.clone(),
        false, // a reload closes no connection: not a single retry is allowed
    );
    assert!(load.wait_done(200, WAIT), "the load did not start");

    let (mut variant, mut seq) = (0u64, 0u64);
    let (mut ok_reloads, mut refused) = (0usize, 0usize);
    for i in 0..100 {
        if i % 2 == 0 {
            let next = 1 - variant;
            seq += 1;
            epoch.store((seq << 8) | SWITCHING | variant, Ordering::SeqCst);
            gw.write_config(&valid(next));
            gw.signal(libc::SIGHUP);
            ok_reloads += 1;
            assert!(
                wait_until(WAIT, || count(&gw.log(), RELOADED) >= ok_reloads),
                "reload {i} (valid) was not applied:\n{}",
                gw.log()
            );
            variant = next;
            seq += 1;
            epoch.store((seq << 8) | variant, Ordering::SeqCst);
        } else {
            gw.write_config(&invalid_config(ports, &up_a.url(), i / 2));
            gw.signal(libc::SIGHUP);
            refused += 1;
            assert!(
                wait_until(WAIT, || count(&gw.log(), REFUSED) >= refused),
                "reload {i} (invalid) was not refused:\n{}",
                gw.log()
            );
        }
        // Let some requests run on every config.
        let target = load.done() + 16;
        assert!(load.wait_done(target, WAIT), "the load stalled");
    }
    assert!(load.wait_done(3000, Duration::from_secs(40)));
    let samples = load.finish();

    let (failed, examples) = failures(&samples);
    assert_eq!(
        failed,
        0,
        "{failed} of {} requests failed, e.g. {examples:?}",
        samples.len()
    );
    let mut checked_stable = 0;
    for s in &samples {
        let body = s.outcome.as_deref().unwrap_or_default();
        assert!(body == "A" || body == "B", "unexpected body {body:?}");
        // Within one settled config (no valid reload started or finished meanwhile), only its variant answers;
        // refused files never change the answer.
        if s.before == s.after && s.before & SWITCHING == 0 {
            checked_stable += 1;
            assert_eq!(
                body,
                variant_body(s.before & 1),
                "a request answered by a config not in force (epoch {:#x})",
                s.before
            );
        }
    }
    assert!(
        checked_stable > samples.len() / 2,
        "too few requests within a settled config: {checked_stable} of {}",
        samples.len()
    );

    // The last valid file is the one in force.
    let client = http::client();
    for _ in 0..10 {
        let body = client
            .get(format!("{}/x", gw.proxy_url()))
            .send()
            .and_then(|r| r.text())
            .expect("request after the reloads");
        assert_eq!(body, variant_body(variant));
    }

    let log = gw.log();
    assert_eq!(count(&log, REFUSED), 50, "one error line per refused file");
    assert_eq!(count(&log, RELOADED), 50);
    // The errors name the problem: line/column for YAML, the field path for semantic errors.
    assert!(log.contains("line 3 column 1"), "{log}");
    assert!(log.contains("services[0].routes[0].paths[0]"), "{log}");
    assert!(log.contains("services[0].url"), "{log}");
    let admin = gw.admin_url();
    let reloads = "gateway_config_reloads_total";
    let sighup = ("source", "sighup");
    assert_eq!(
        scrape_sum(&admin, reloads, &[sighup, ("result", "error")]),
        50.0
    );
    assert_eq!(
        scrape_sum(&admin, reloads, &[sighup, ("result", "ok")]),
        50.0
    );
    eprintln!(
        "{} requests, {checked_stable} within a settled config",
        samples.len()
    );
}

fn status(gw: &Gateway) -> Value {
    http::client()
        .get(format!("{}/status", gw.admin_url()))
        .send()
        .and_then(|r| r.json())
        .expect("GET /status")
}

fn status_hash(gw: &Gateway) -> String {
    let s = status(gw);
    s["config"]["hash"]
        .as_str()
        .unwrap_or_else(|| panic!("no config.hash in {s}"))
        .to_string()
}

#[test]
fn status_hash_changes_after_a_valid_reload_only() {
    let up = TinyUpstream::start("A");
    let ports = Ports::free();
    let mut config = config_value(ports, &up.url(), None);
    let gw = Gateway::start(&to_yaml(&config));
    let first = status(&gw);
    let hash0 = status_hash(&gw);
    assert_eq!(hash0.len(), 64, "{first}");
    assert!(first["config"]["loaded_at"].as_u64().is_some(), "{first}");

    gw.write_config(&invalid_config(ports, &up.url(), 1));
    gw.signal(libc::SIGHUP);
    assert!(gw.wait_for_log(REFUSED, WAIT), "{}", gw.log());
    assert_eq!(status_hash(&gw), hash0, "a refused file changed the hash");

    config["services"][0]["name"] = json!("renamed");
    gw.write_config(&to_yaml(&config));
    gw.signal(libc::SIGHUP);
    assert!(gw.wait_for_log(RELOADED, WAIT), "{}", gw.log());
    let hash1 = status_hash(&gw);
    assert_ne!(hash1, hash0, "a valid reload kept the old hash");
    // The hash is the file's BLAKE3: unchanged content, unchanged hash.
    gw.signal(libc::SIGHUP);
    assert!(wait_until(WAIT, || count(&gw.log(), RELOADED) >= 2));
    assert_eq!(status_hash(&gw), hash1);
}

#[test]
fn gateway_reload_signals_the_pid_in_the_pid_file() {
    let up = TinyUpstream::start("A");
    let ports = Ports::free();
    let gw = Gateway::start(&to_yaml(&config_value(ports, &up.url(), None)));
    // The default pid file sits beside the config and names the running process.
    let pid_file = gw.dir().join("gateway.yaml.pid");
    assert!(
        wait_until(WAIT, || std::fs::read_to_string(&pid_file)
            .is_ok_and(|p| p.trim() == gw.pid().to_string())),
        "pid file {} does not hold {}",
        pid_file.display(),
        gw.pid()
    );
    let hash0 = status_hash(&gw);

    let mut config = config_value(ports, &up.url(), None);
    config["services"][0]["name"] = json!("renamed");
    gw.write_config(&to_yaml(&config));
    let out = Command::new(gateway_bin())
        .args(["reload", "-c"])
        .arg(gw.config_path())
        .env_remove("GATEWAY_PID_FILE")
        .output()
        .expect("run gateway reload");
    assert!(
        out.status.success(),
        "gateway reload failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("sent SIGHUP to {}", gw.pid())
    );
    assert!(gw.wait_for_log(RELOADED, WAIT), "{}", gw.log());
    assert_ne!(status_hash(&gw), hash0);

    // No pid file: a clear error and a non-zero exit.
    let out = Command::new(gateway_bin())
        .args(["reload", "--pid-file"])
        .arg(gw.dir().join("missing.pid"))
        .output()
        .expect("run gateway reload");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read pid file"));
}

/// A reload whose openid-connect config is unchanged keeps the authenticator and its token cache: a token
/// cached before the reload is not introspected again. A changed plugin config gets a fresh cache.
#[test]
fn reload_with_unchanged_plugin_config_keeps_the_token_cache() {
    let stack = Stack::start(&["introspection"], json!({}));
    let gw = &stack.gateway;
    let admin = gw.admin_url();
    let token = stack.idp.password_token(JOHN.0, JOHN.1);
    let introspections = || {
        scrape_sum(
            &admin,
            "gateway_idp_requests_total",
            &[("endpoint", "introspection")],
        )
    };
    let get = || {
        http::client()
            .get(format!("{}/anything", gw.proxy_url()))
            .bearer_auth(&token)
            .send()
            .expect("proxy request")
            .status()
            .as_u16()
    };
    assert_eq!(get(), 200);
    assert_eq!(get(), 200);
    assert_eq!(introspections(), 1.0, "the second request was not cached");

    // Same plugin config, other changes (service name, route name).
    let oidc = oidc_config(stack.idp.issuer(), &["introspection"], json!({}));
    let mut config = config_value(stack.ports, &stack.httpbin.url(), Some(oidc.clone()));
    config["services"][0]["name"] = json!("httpbin-renamed");
    config["services"][0]["routes"][0]["name"] = json!("route-renamed");
    gw.write_config(&to_yaml(&config));
    gw.signal(libc::SIGHUP);
    assert!(gw.wait_for_log(RELOADED, WAIT), "{}", gw.log());
    assert_eq!(get(), 200);
    assert_eq!(
        introspections(),
        1.0,
        "an unchanged plugin config lost its token cache on reload"
    );

    // A changed plugin config is a new authenticator with an empty cache.
    let oidc = oidc_config(
        stack.idp.issuer(),
        &["introspection"],
        json!({ "timeout": 9000 }),
    );
    let config = config_value(stack.ports, &stack.httpbin.url(), Some(oidc));
    gw.write_config(&to_yaml(&config));
    gw.signal(libc::SIGHUP);
    assert!(wait_until(WAIT, || count(&gw.log(), RELOADED) >= 2));
    assert_eq!(get(), 200);
    assert_eq!(introspections(), 2.0);
}

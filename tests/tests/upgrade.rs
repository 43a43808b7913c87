//! Process lifecycle: zero-downtime binary upgrade under load (Pingora's `--upgrade` + SIGQUIT flow) and
//! graceful shutdown on SIGTERM/SIGINT with a request in flight.

mod common_ops;

use std::net::TcpStream;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use common_ops::{failures, wait_until, Connections, Load, TinyUpstream};
use e2e::{config_value, http, to_yaml, Gateway, Ports};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

fn config(ports: Ports, upstream: &str, gateway: Value) -> String {
    let mut v = config_value(ports, upstream, None);
    if let (Some(g), Value::Object(extra)) = (v["gateway"].as_object_mut(), gateway) {
        g.extend(extra);
    }
    to_yaml(&v)
}

fn read_pid(path: &std::path::Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[test]
fn upgrade_under_load_loses_no_request() {
    let up = TinyUpstream::start("U");
    let ports = Ports::free();
    let yaml = config(
        ports,
        &up.url(),
        json!({ "grace_period_seconds": 2, "graceful_shutdown_timeout_seconds": 2 }),
    );
    let mut old = Gateway::start_with(&yaml, &[], &[("RUST_LOG", "info,access=off")]);
    let pid_file = old.dir().join("gateway.yaml.pid");
    let sock = old.dir().join("gateway.yaml.upgrade.sock");
    assert!(wait_until(WAIT, || read_pid(&pid_file) == Some(old.pid())));

    // A new connection per request, so that connections keep arriving through the handed-over sockets.
    // When the old process stops accepting, Pingora also closes the connections it holds that have not sent
    // a (next) request yet; a client that sent one at that very moment sees the connection closed without an
    // answer, the case in which HTTP clients retry an idempotent request (RFC 9112 §9.3.1). The load does
    // that once and counts it: at most one such close per client, never a refused connection or an error
    // status, and every request answered in the end.
    let clients = 8;
    let load = Load::start(
        &format!("{}/x", old.proxy_url()),
        clients,
        Connections::PerRequest,
        Duration::from_millis(2),
        Arc::new(AtomicU64::new(0)),
        true,
    );
    assert!(load.wait_done(300, WAIT), "the load did not start");

    // The new process first: it waits on the upgrade socket for the old one's listening sockets...
    let (sock_arg, pid_arg) = (sock.display().to_string(), pid_file.display().to_string());
    let mut new = Gateway::start_with(
        &yaml,
        &[
            "--upgrade",
            "--upgrade-sock",
            &sock_arg,
            "--pid-file",
            &pid_arg,
        ],
        &[("RUST_LOG", "info,access=off")],
    );
    assert!(
        wait_until(WAIT, || sock.exists() || new.try_wait().is_some()),
        "the new process did not open the upgrade socket:\n{}",
        new.log()
    );
    assert!(new.try_wait().is_none(), "{}", new.log());
    // ...which the old one sends on SIGQUIT, then keeps serving for a while and drains.
    old.signal(libc::SIGQUIT);
    assert!(
        new.wait_for_log("listening sockets received", WAIT),
        "new:\n{}\nold:\n{}",
        new.log(),
        old.log()
    );
    let status = old.wait_exit(Duration::from_secs(45));
    assert!(
        status.is_some_and(|s| s.success()),
        "old process: {status:?}\n{}",
        old.log()
    );
    assert!(old.log().contains("listener sockets sent"), "{}", old.log());

    // The new process alone serves the load now.
    let after_exit = load.done();
    assert!(
        load.wait_done(after_exit + 300, WAIT),
        "no requests after the old process exited"
    );
    let samples = load.finish();
    let (failed, examples) = failures(&samples);
    assert_eq!(
        failed,
        0,
        "{failed} of {} requests failed during the upgrade, e.g. {examples:?}",
        samples.len()
    );
    assert!(samples.iter().all(|s| s.outcome.as_deref() == Ok("U")));
    let retried = samples.iter().filter(|s| s.retried).count();
    assert!(
        retried <= clients,
        "{retried} connections closed without an answer"
    );
    eprintln!(
        "{} requests across the upgrade, {retried} retried on a new connection",
        samples.len()
    );

    assert!(new.try_wait().is_none(), "{}", new.log());
    assert_eq!(
        read_pid(&pid_file),
        Some(new.pid()),
        "the pid file names the new process"
    );
    // The admin listener moves over too once the old process lets go of the port.
    assert!(
        new.wait_for_log("admin API listening", WAIT),
        "{}",
        new.log()
    );
    let status: Value = http::client()
        .get(format!("{}/status", new.admin_url()))
        .send()
        .and_then(|r| r.json())
        .expect("GET /status on the new process");
    assert!(status["config"]["hash"].is_string(), "{status}");
}

/// SIGTERM or SIGINT: the listener closes, the request in flight still gets its answer, the process exits 0.
fn graceful_shutdown_finishes_the_request_in_flight(signal: i32) {
    let up = TinyUpstream::start("U");
    let ports = Ports::free();
    let yaml = config(
        ports,
        &up.url(),
        json!({ "grace_period_seconds": 3, "graceful_shutdown_timeout_seconds": 5 }),
    );
    let mut gw = Gateway::start(&yaml);
    let url = format!("{}/slow", gw.proxy_url());
    let in_flight = std::thread::spawn(move || {
        let resp = http::client().get(url).send()?;
        let status = resp.status().as_u16();
        Ok::<_, reqwest::Error>((status, resp.text()?))
    });
    assert!(
        wait_until(WAIT, || up.slow_arrived() == 1),
        "the slow request did not reach the upstream"
    );

    gw.signal(signal);
    assert!(
        gw.wait_for_log("Graceful shutdown started", WAIT),
        "{}",
        gw.log()
    );
    // No new connections once shutting down.
    assert!(
        wait_until(WAIT, || TcpStream::connect(gw.proxy_addr()).is_err()),
        "the proxy still accepts connections after the shutdown signal"
    );
    assert!(
        gw.try_wait().is_none(),
        "exited before the request finished"
    );

    up.release_slow();
    let answer = in_flight.join().expect("the client thread panicked");
    assert!(
        matches!(&answer, Ok((200, body)) if body == "U"),
        "the in-flight request got {answer:?}\n{}",
        gw.log()
    );
    let status = gw.wait_exit(WAIT);
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        gw.log()
    );
    assert!(
        !gw.dir().join("gateway.yaml.pid").exists(),
        "the pid file outlived the process"
    );
}

#[test]
fn sigterm_finishes_in_flight_requests_then_exits() {
    graceful_shutdown_finishes_the_request_in_flight(libc::SIGTERM);
}

#[test]
fn sigint_is_graceful_too() {
    graceful_shutdown_finishes_the_request_in_flight(libc::SIGINT);
}

#[test]
fn second_signal_exits_without_waiting_for_the_grace_period() {
    let up = TinyUpstream::start("U");
    let ports = Ports::free();
    // A grace period far longer than the wait below.
    let yaml = config(ports, &up.url(), json!({ "grace_period_seconds": 300 }));
    let mut gw = Gateway::start(&yaml);
    gw.signal(libc::SIGTERM);
    assert!(
        gw.wait_for_log("Graceful shutdown started", WAIT),
        "{}",
        gw.log()
    );
    gw.signal(libc::SIGINT);
    let status = gw.wait_exit(WAIT);
    assert!(status.is_some(), "still running:\n{}", gw.log());
    assert!(
        gw.log().contains("second shutdown signal received"),
        "{}",
        gw.log()
    );
}

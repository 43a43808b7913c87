//! `gateway.watch_config: true`: the gateway follows its config file without a signal. Kubernetes' ConfigMap
//! update (the kubelet's atomic writer: a new timestamped directory, `..data_tmp` → rename over `..data`, the
//! old directory removed) and an editor's rename-on-save each cause exactly one reload; a broken file is
//! refused and logged once, the running config kept; an Admin API write (which rewrites the file itself)
//! causes no reload.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use e2e::admin::json_req;
use e2e::{config_value, to_yaml, Gateway, Httpbin, Ports};
use reqwest::Method;
use serde_json::{json, Value};

const RELOADED: &str = "config reloaded path=";
const REFUSED: &str = "config reload refused";

/// A config whose only route is `path`, with `watch_config` on.
fn config(ports: Ports, httpbin: &Httpbin, path: &str) -> Value {
    let mut v = config_value(ports, &httpbin.url(), None);
    v["gateway"]["watch_config"] = json!(true);
    v["services"][0]["routes"][0]["paths"] = json!([path]);
    v
}

fn status(gw: &Gateway, path: &str) -> u16 {
    reqwest::blocking::Client::new()
        .get(format!("{}{path}", gw.proxy_url()))
        .send()
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

fn count(gw: &Gateway, needle: &str) -> usize {
    gw.log().matches(needle).count()
}

/// Waits until the log has `n` lines with `needle`, then a little longer to see that no more come.
fn expect_exactly(gw: &Gateway, needle: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(gw, needle) < n {
        assert!(
            Instant::now() < deadline,
            "expected {n} {needle:?} lines:\n{}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Well past the debounce: a second reload would have happened by now.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(count(gw, needle), n, "{needle:?} lines:\n{}", gw.log());
}

/// The kubelet's layout: `cm/..<version>/gateway.yaml`, `cm/..data -> ..<version>`,
/// `cm/gateway.yaml -> ..data/gateway.yaml`.
fn configmap_layout(dir: &Path, yaml: &str) -> Result<PathBuf, String> {
    let cm = dir.join("cm");
    let version = cm.join("..2026_12_01_00_00_00.000000001");
    fs::create_dir_all(&version).map_err(|e| e.to_string())?;
    fs::write(version.join("gateway.yaml"), yaml).map_err(|e| e.to_string())?;
    symlink("..2026_12_01_00_00_00.000000001", cm.join("..data")).map_err(|e| e.to_string())?;
    symlink("..data/gateway.yaml", cm.join("gateway.yaml")).map_err(|e| e.to_string())?;
    Ok(cm.join("gateway.yaml"))
}

/// A ConfigMap update as the kubelet's atomic writer does it.
fn configmap_update(cm: &Path, yaml: &str, n: u32) {
    let old = fs::read_link(cm.join("..data")).expect("..data is a symlink");
    let version = format!("..2026_12_01_00_00_0{n}.000000001");
    fs::create_dir(cm.join(&version)).expect("new version directory");
    fs::write(cm.join(&version).join("gateway.yaml"), yaml).expect("write the new version");
    symlink(&version, cm.join("..data_tmp")).expect("..data_tmp");
    fs::rename(cm.join("..data_tmp"), cm.join("..data")).expect("swap ..data");
    fs::remove_dir_all(cm.join(old)).expect("remove the old version");
}

#[test]
fn a_configmap_update_causes_one_reload_and_a_broken_one_is_refused_once() {
    let httpbin = Httpbin::start();
    let ports = Ports::free();
    let gw = Gateway::start_laid_out(
        &to_yaml(&config(ports, &httpbin, "/one")),
        &configmap_layout,
    );
    assert!(gw.wait_for_log("watch_config: following", Duration::from_secs(5)));
    assert_eq!(status(&gw, "/one"), 200);
    assert_eq!(status(&gw, "/two"), 404);

    let cm = gw.dir().join("cm");
    configmap_update(&cm, &to_yaml(&config(ports, &httpbin, "/two")), 2);
    expect_exactly(&gw, RELOADED, 1);
    assert_eq!(status(&gw, "/two"), 200);
    assert_eq!(status(&gw, "/one"), 404);

    configmap_update(&cm, "_format_version: \"3.0\"\nservices: [{name: x}]\n", 3);
    expect_exactly(&gw, REFUSED, 1);
    assert_eq!(count(&gw, RELOADED), 1);
    assert_eq!(status(&gw, "/two"), 200, "the running config is kept");

    // Back to a valid version: applied (the broken one was refused, not remembered as running).
    configmap_update(&cm, &to_yaml(&config(ports, &httpbin, "/three")), 4);
    expect_exactly(&gw, RELOADED, 2);
    assert_eq!(status(&gw, "/three"), 200);
}

#[test]
fn rename_on_save_reloads_once_and_admin_writes_do_not_reload() {
    let httpbin = Httpbin::start();
    let ports = Ports::free();
    let gw = Gateway::start(&to_yaml(&config(ports, &httpbin, "/one")));
    assert!(gw.wait_for_log("watch_config: following", Duration::from_secs(5)));

    // `write_config` is an editor's save: write a temp file, rename it over the config.
    gw.write_config(&to_yaml(&config(ports, &httpbin, "/two")));
    expect_exactly(&gw, RELOADED, 1);
    assert_eq!(status(&gw, "/two"), 200);

    // An in-place rewrite (truncate and write, as `>` in a shell) is seen too.
    fs::write(
        gw.config_path(),
        to_yaml(&config(ports, &httpbin, "/three")),
    )
    .expect("rewrite in place");
    expect_exactly(&gw, RELOADED, 2);
    assert_eq!(status(&gw, "/three"), 200);

    // The Admin API writes the file; the watcher sees its own process's content and does not reload.
    let (code, body) = json_req(
        Method::POST,
        &format!("{}/services/httpbin/routes", gw.admin_url()),
        json!({ "name": "four", "paths": ["/four"] }),
    );
    assert_eq!(code, 201, "{body}");
    assert!(gw.config().contains("/four"), "the write reached the file");
    expect_exactly(&gw, RELOADED, 2);
    assert_eq!(status(&gw, "/four"), 200);
}

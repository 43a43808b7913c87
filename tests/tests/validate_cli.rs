//! End-to-end checks of `gateway validate` (like `nginx -t`) and of `gateway run` refusing a bad file.
//!
//! Every message is asserted verbatim: they are what an operator reads. Files are written into a temp dir
//! and passed by their bare name (the binary runs in that dir), so the messages carry no temp path.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use e2e::{gateway_bin, workspace_root, Ports, TempDir};

/// Run the gateway binary with `args` in `dir`, with no `GATEWAY_*` overrides from the environment.
fn gateway(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(gateway_bin());
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GATEWAY_") && key != "GATEWAY_BIN" {
            cmd.env_remove(&key);
        }
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("run {}: {e}", gateway_bin().display()))
}

/// Write `yaml` as `dir/name`, run `gateway validate -c name`; (exit code, stdout, stderr).
fn validate(dir: &TempDir, name: &str, yaml: &str) -> (Option<i32>, String, String) {
    std::fs::write(dir.path().join(name), yaml).expect("write the config");
    let out = gateway(dir.path(), &["validate", "-c", name]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Assert that `yaml` is refused with exactly `errors` (one per line, in order).
fn assert_invalid(yaml: &str, errors: &[&str]) {
    let dir = TempDir::new("validate");
    let (code, stdout, stderr) = validate(&dir, "bad.yaml", yaml);
    let mut expected = String::from("bad.yaml: invalid configuration:\n");
    for e in errors {
        expected.push_str(&format!("  {e}\n"));
    }
    assert_eq!(
        stderr, expected,
        "stderr of `gateway validate` for:\n{yaml}"
    );
    assert_eq!(stdout, "", "nothing on stdout for an invalid file");
    assert_eq!(code, Some(1), "exit code for an invalid file");
}

/// A valid file with the given services section appended (and nothing listening anywhere).
fn with_services(services: &str) -> String {
    format!("_format_version: \"3.0\"\nservices:\n{services}")
}

#[test]
fn valid_file_prints_ok() {
    let dir = TempDir::new("validate");
    let yaml = r#"_format_version: "3.0"
gateway:
  proxy_listen: 127.0.0.1:18000
services:
  - name: httpbin
    url: http://127.0.0.1:8080/anything
    read_timeout: 500
    routes:
      - name: r1
        paths: ["/a", "/b"]
        hosts: ["*.example.com", "api.example.org"]
        methods: [GET, POST]
        strip_path: false
        preserve_host: true
    plugins:
      - name: openid-connect
        config:
          issuer: http://127.0.0.1:4593/api/oidc
          client_id: [kong]
          client_secret: [kong-secret]
          auth_methods: [introspection, password]
routes:
  - name: top
    paths: ["/top"]
    service: httpbin
"#;
    let (code, stdout, stderr) = validate(&dir, "good.yaml", yaml);
    assert_eq!(
        (code, stdout.as_str(), stderr.as_str()),
        (Some(0), "OK\n", "")
    );
}

#[test]
fn demo_gateway_yaml_is_valid() {
    let demo = workspace_root().join("gateway.yaml");
    assert!(demo.exists(), "{} is missing", demo.display());
    let out = gateway(
        &workspace_root(),
        &["validate", "-c", demo.to_str().expect("utf-8 path")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        (out.status.code(), stdout.as_ref(), stderr.as_ref()),
        (Some(0), "OK\n", ""),
        "the demo config must validate"
    );
    // Without -c, `validate` reads ./gateway.yaml (the README's default).
    let out = gateway(&workspace_root(), &["validate"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "OK\n");
}

#[test]
fn yaml_syntax_error_has_line_and_column() {
    // Line 4 is indented one column deeper than the key above it.
    assert_invalid(
        "_format_version: \"3.0\"\nservices:\n  - name: a\n     url: http://x\n",
        &["line 4 column 9: mapping values are not allowed in this context"],
    );
    // An unterminated quoted string.
    assert_invalid(
        "_format_version: \"3.0\"\nservices:\n  - name: a\n    url: \"http://x\n",
        &["line 5 column 1: found unexpected end of stream, while scanning a quoted scalar at line 4 column 10"],
    );
}

#[test]
fn type_error_has_line_column_and_field_path() {
    assert_invalid(
        &with_services("  - name: a\n    url: http://x\n    retries: many\n"),
        &[
            r#"line 5 column 14: services[0].retries: invalid type: string "many", expected an integer"#,
        ],
    );
}

#[test]
fn unknown_field_is_refused() {
    assert_invalid(
        &with_services("  - name: a\n    url: http://x\n    routes:\n      - paths: [\"/a\"]\n        pathz: [\"/b\"]\n"),
        &["line 7 column 9: services[0].routes[0]: unknown field `pathz`, expected one of `id`, `name`, \
           `protocols`, `https_redirect_status_code`, `methods`, `hosts`, `paths`, `headers`, \
           `snis`, `sources`, `destinations`, `strip_path`, `preserve_host`, `regex_priority`, `path_handling`, `expression`, `priority`, `request_buffering`, `response_buffering`, `service`, `tags`, `created_at`, `updated_at`, `filter_chains`, `plugins`"],
    );
}

#[test]
fn path_must_start_with_a_slash() {
    assert_invalid(
        &with_services(
            "  - name: a\n    url: http://x\n    routes:\n      - paths: [\"/ok\", \"nope\"]\n",
        ),
        &[r#"services[0].routes[0].paths[1]: must start with "/""#],
    );
    assert_invalid(
        &with_services("  - name: a\n    url: http://x\n    routes:\n      - paths: [\"/ok\"]\n      - paths: [\"x\"]\n"),
        &[r#"services[0].routes[1].paths[0]: must start with "/""#],
    );
}

#[test]
fn duplicate_service_names() {
    assert_invalid(
        &with_services("  - name: a\n    url: http://x\n  - name: b\n    url: http://y\n  - name: a\n    url: http://z\n"),
        &[r#"services[2].name: duplicate name "a" (also services[0])"#],
    );
}

#[test]
fn dangling_route_reference() {
    assert_invalid(
        &format!(
            "{}routes:\n  - name: top\n    paths: [\"/t\"]\n    service: nope\n",
            with_services("  - name: a\n    url: http://x\n")
        ),
        &[r#"routes[0].service: no service with id or name "nope""#],
    );
}

#[test]
fn bad_plugin_config_value() {
    let yaml = with_services(
        "  - name: a\n    url: http://x\n    plugins:\n      - name: openid-connect\n        config:\n          \
         issuer: http://127.0.0.1:4593/api/oidc\n          timeout: soon\n",
    );
    assert_invalid(
        &yaml,
        &["services[0].plugins[0].config.timeout: expected a number"],
    );
}

#[test]
fn every_semantic_error_is_reported_at_once() {
    let yaml = format!(
        "{}routes:\n  - name: top\n    paths: [\"/t\"]\n    service: nope\n",
        with_services(
            "  - name: a\n    url: http://x\n    routes:\n      - paths: [\"a\"]\n  - name: a\n    url: http://y\n"
        )
    );
    assert_invalid(
        &yaml,
        &[
            r#"services[0].routes[0].paths[0]: must start with "/""#,
            r#"services[1].name: duplicate name "a" (also services[0])"#,
            r#"routes[0].service: no service with id or name "nope""#,
        ],
    );
}

#[test]
fn missing_file_is_reported() {
    let dir = TempDir::new("validate");
    let out = gateway(dir.path(), &["validate", "-c", "absent.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "absent.yaml: invalid configuration:\n  cannot read absent.yaml: No such file or directory (os error 2)\n"
    );
}

/// Run `gateway run -c bad.yaml` on an invalid file; it must exit (non-zero) on its own.
fn run_refuses(yaml: &str) -> (i32, String) {
    let dir = TempDir::new("run-invalid");
    std::fs::write(dir.path().join("bad.yaml"), yaml).expect("write the config");
    let stderr_path = dir.path().join("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).expect("create stderr.log");
    let mut cmd = Command::new(gateway_bin());
    cmd.args(["run", "-c", "bad.yaml"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GATEWAY_") && key != "GATEWAY_BIN" {
            cmd.env_remove(&key);
        }
    }
    let mut child = cmd.spawn().expect("spawn gateway run");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for gateway run") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`gateway run` kept running on an invalid file:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    (status.code().unwrap_or(-1), stderr)
}

#[test]
fn run_refuses_an_invalid_file() {
    let ports = Ports::free();
    let yaml = format!(
        "_format_version: \"3.0\"\ngateway:\n  proxy_listen: 127.0.0.1:{}\n  admin_listen: 127.0.0.1:{}\n\
         services:\n  - name: a\n    url: http://x\n    routes:\n      - paths: [\"a\"]\n  - name: a\n    url: http://y\n",
        ports.proxy, ports.admin
    );
    let (code, stderr) = run_refuses(&yaml);
    assert_ne!(code, 0, "stderr:\n{stderr}");
    assert!(
        stderr.contains("bad.yaml: invalid configuration:"),
        "stderr:\n{stderr}"
    );
    assert!(
        stderr.contains(r#"services[0].routes[0].paths[0]: must start with "/""#),
        "stderr:\n{stderr}"
    );
    assert!(
        stderr.contains(r#"services[1].name: duplicate name "a" (also services[0])"#),
        "stderr:\n{stderr}"
    );
    // It never listened.
    assert!(
        !e2e::process::port_open(([127, 0, 0, 1], ports.proxy).into()),
        "the proxy port is open"
    );
}

#[test]
fn run_refuses_a_yaml_syntax_error() {
    let ports = Ports::free();
    let yaml = format!(
        "_format_version: \"3.0\"\ngateway:\n  proxy_listen: 127.0.0.1:{}\nservices:\n  - name: a\n     url: http://x\n",
        ports.proxy
    );
    let (code, stderr) = run_refuses(&yaml);
    assert_ne!(code, 0, "stderr:\n{stderr}");
    assert!(
        stderr.contains("bad.yaml: invalid configuration:"),
        "stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("line 6 column 9: mapping values are not allowed in this context"),
        "stderr:\n{stderr}"
    );
}

//! The deployment examples under `deploy/` are checked by what can run here: the systemd unit by
//! `systemd-analyze verify` (against the built binary), the Kubernetes manifests parsed as YAML and
//! cross-checked (the ConfigMap's config passes `gateway validate` and has `watch_config`, the Deployment
//! mounts it where its arguments look, the probes hit the admin `/status`, the PodDisruptionBudget selects
//! the pods).

use std::process::Command;

use e2e::{gateway_bin, workspace_root, TempDir};
use serde_json::Value;

fn manifests() -> Vec<Value> {
    let path = workspace_root().join("deploy/kubernetes/gateway.yaml");
    let text = std::fs::read_to_string(&path).expect("read the Kubernetes example");
    // Documents are separated by `---` lines (the example has no other use of them).
    text.split("\n---\n")
        .map(|doc| serde_yaml::from_str::<Value>(doc).expect("each document is valid YAML"))
        .collect()
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in the example"))
}

#[test]
fn the_kubernetes_example_is_consistent_and_its_config_valid() {
    let docs = manifests();
    let cm = of_kind(&docs, "ConfigMap");
    let deployment = of_kind(&docs, "Deployment");
    let pdb = of_kind(&docs, "PodDisruptionBudget");

    let config = cm["data"]["gateway.yaml"]
        .as_str()
        .expect("the ConfigMap holds gateway.yaml");
    let parsed: Value = serde_yaml::from_str(config).expect("the config is YAML");
    assert_eq!(parsed["gateway"]["watch_config"], true);
    let dir = TempDir::new("deploy");
    let file = dir.path().join("gateway.yaml");
    std::fs::write(&file, config).expect("write the config");
    let out = Command::new(gateway_bin())
        .args(["validate", "-c"])
        .arg(&file)
        .output()
        .expect("run gateway validate");
    assert!(
        out.status.success(),
        "gateway validate refused the example: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let volume = pod["volumes"]
        .as_array()
        .and_then(|v| {
            v.iter()
                .find(|v| v["configMap"]["name"] == cm["metadata"]["name"])
        })
        .expect("a volume from the ConfigMap");
    let mount = container["volumeMounts"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["name"] == volume["name"]))
        .expect("the ConfigMap volume is mounted");
    let config_arg = format!("{}/gateway.yaml", mount["mountPath"].as_str().unwrap_or(""));
    assert!(
        container["args"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == config_arg.as_str())),
        "the container runs with {config_arg}: {}",
        container["args"]
    );
    let admin_port = parsed["gateway"]["admin_listen"]
        .as_str()
        .and_then(|l| l.rsplit(':').next())
        .and_then(|p| p.parse::<u64>().ok())
        .expect("admin_listen has a port");
    let ports = container["ports"].as_array().expect("ports");
    let admin = ports
        .iter()
        .find(|p| p["name"] == "admin")
        .expect("an admin port");
    assert_eq!(admin["containerPort"], admin_port);
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(container[probe]["httpGet"]["path"], "/status", "{probe}");
        assert_eq!(container[probe]["httpGet"]["port"], "admin", "{probe}");
    }
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_eq!(&deployment["spec"]["selector"]["matchLabels"], labels);
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], labels);
    assert!(pdb["spec"]["minAvailable"].as_u64().is_some_and(|n| n >= 1));
}

#[test]
fn the_systemd_unit_verifies() {
    // scripts/setup.sh installs Debian's systemd for systemd-analyze.
    let unit = std::fs::read_to_string(workspace_root().join("deploy/systemd/gateway.service"))
        .expect("read the unit");
    assert!(unit.contains("ExecReload=/bin/kill -HUP $MAINPID"));
    assert!(unit.contains("PIDFile=/run/gateway/gateway.pid"));
    // Verify it as installed, with the built binary where the unit expects /usr/local/bin/gateway.
    let dir = TempDir::new("systemd");
    let file = dir.path().join("gateway.service");
    let bin = gateway_bin().display().to_string();
    std::fs::write(&file, unit.replace("/usr/local/bin/gateway", &bin)).expect("write the unit");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&file)
        .output()
        .expect("run systemd-analyze verify");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "systemd-analyze verify: {report}");
    assert!(
        !report.contains("gateway.service:"),
        "systemd-analyze reports on the unit: {report}"
    );
}

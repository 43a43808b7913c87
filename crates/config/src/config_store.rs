//! The `gateway.config_store:` block: where the entities come from. `file` (the default) is the config file
//! itself; `etcd` keeps one declarative document in etcd that every node loads and watches
//! (`docs/scale-out.md`).

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::Collector;

/// Default key prefix in etcd.
pub const DEFAULT_PREFIX: &str = "/gateway/";
/// Default timeout of one etcd request, and of connecting (ms).
pub const DEFAULT_TIMEOUT: u64 = 2000;
/// Default lifetime of a node's registration lease (seconds).
pub const DEFAULT_NODE_TTL: u64 = 10;

/// Where the configuration's entities live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// The config file (re-read on SIGHUP, rewritten by Admin API writes).
    #[default]
    File,
    /// One declarative document in etcd, watched by every node.
    Etcd,
}

/// TLS to etcd (`gateway.config_store.tls`); unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StoreTls {
    /// PEM bundle of the CAs that sign etcd's server certificate (default: the system roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    /// PEM client certificate (etcd's `--client-cert-auth`); needs `client_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
}

/// The config store settings (YAML key `gateway.config_store`); unknown keys are refused.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigStoreSettings {
    /// `file` (default) or `etcd`.
    #[serde(default)]
    pub kind: StoreKind,
    /// etcd endpoints, `http://host:port` or `https://host:port` (TLS).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<String>,
    /// Key prefix: the document is `<prefix>config`, nodes register under `<prefix>nodes/` (default
    /// `/gateway/`; must end with `/`).
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// etcd user (etcd's own auth; optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password of `username` (never logged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// TLS to etcd; `https://` endpoints use it (system roots when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<StoreTls>,
    /// Timeout of connecting and of one etcd request, in ms (default 2000).
    #[serde(default = "default_timeout")]
    pub timeout: u64,
    /// Local copy of the last document this node applied, read when etcd is unreachable at start (default:
    /// the config file's path with `.etcd-cache` appended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_file: Option<PathBuf>,
    /// Lifetime of the node's registration under `<prefix>nodes/`, in seconds (default 10; renewed every
    /// third of it).
    #[serde(default = "default_node_ttl")]
    pub node_ttl: u64,
    /// This node's id in `/clustering/data-planes` (default: a UUID derived from the host name and
    /// `admin_listen`, stable across restarts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
}

fn default_prefix() -> String {
    DEFAULT_PREFIX.to_string()
}
fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT
}
fn default_node_ttl() -> u64 {
    DEFAULT_NODE_TTL
}

impl Default for ConfigStoreSettings {
    fn default() -> Self {
        ConfigStoreSettings {
            kind: StoreKind::File,
            endpoints: Vec::new(),
            prefix: default_prefix(),
            username: None,
            password: None,
            tls: None,
            timeout: DEFAULT_TIMEOUT,
            cache_file: None,
            node_ttl: DEFAULT_NODE_TTL,
            node_id: None,
        }
    }
}

impl fmt::Debug for ConfigStoreSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigStoreSettings")
            .field("kind", &self.kind)
            .field("endpoints", &self.endpoints)
            .field("prefix", &self.prefix)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .field("timeout", &self.timeout)
            .field("cache_file", &self.cache_file)
            .field("node_ttl", &self.node_ttl)
            .field("node_id", &self.node_id)
            .finish()
    }
}

impl ConfigStoreSettings {
    /// True when the entities live in etcd.
    pub fn is_etcd(&self) -> bool {
        self.kind == StoreKind::Etcd
    }

    /// The key of the declarative document.
    pub fn config_key(&self) -> String {
        format!("{}config", self.prefix)
    }

    /// The prefix of the nodes' registrations.
    pub fn nodes_prefix(&self) -> String {
        format!("{}nodes/", self.prefix)
    }

    /// Checks the values, reporting under `gateway.config_store.<field>`.
    pub(crate) fn check(&self, errors: &mut Collector) {
        let at = |f: &str| format!("gateway.config_store.{f}");
        if self.kind == StoreKind::File {
            let set = [
                ("endpoints", !self.endpoints.is_empty()),
                ("username", self.username.is_some()),
                ("password", self.password.is_some()),
                ("tls", self.tls.is_some()),
                ("cache_file", self.cache_file.is_some()),
                ("node_id", self.node_id.is_some()),
            ];
            for (field, _) in set.iter().filter(|(_, set)| *set) {
                errors.push(at(field), "only accepted with kind: etcd");
            }
            return;
        }
        if self.endpoints.is_empty() {
            errors.push(at("endpoints"), "at least one etcd endpoint is required");
        }
        for (i, e) in self.endpoints.iter().enumerate() {
            let rest = e
                .strip_prefix("http://")
                .or_else(|| e.strip_prefix("https://"));
            match rest {
                Some(hostport) if !hostport.is_empty() && !hostport.contains('/') => {}
                _ => errors.push(
                    format!("gateway.config_store.endpoints[{i}]"),
                    "expected http://host:port or https://host:port",
                ),
            }
        }
        if !self.prefix.starts_with('/') || !self.prefix.ends_with('/') {
            errors.push(at("prefix"), "must start and end with / (e.g. /gateway/)");
        }
        match (&self.username, &self.password) {
            (Some(u), _) if u.is_empty() => errors.push(at("username"), "must not be empty"),
            (Some(_), None) => errors.push(at("password"), "required with username"),
            (None, Some(_)) => errors.push(at("username"), "required with password"),
            _ => {}
        }
        if let Some(tls) = &self.tls {
            for (field, path) in [
                ("ca_cert", &tls.ca_cert),
                ("client_cert", &tls.client_cert),
                ("client_key", &tls.client_key),
            ] {
                if let Some(path) = path {
                    if let Err(e) = std::fs::metadata(path) {
                        errors.push(
                            format!("gateway.config_store.tls.{field}"),
                            format!("cannot read {}: {e}", path.display()),
                        );
                    }
                }
            }
            match (&tls.client_cert, &tls.client_key) {
                (Some(_), None) => errors.push(at("tls.client_key"), "required with client_cert"),
                (None, Some(_)) => errors.push(at("tls.client_cert"), "required with client_key"),
                _ => {}
            }
            if !self.endpoints.iter().any(|e| e.starts_with("https://")) {
                errors.push(at("tls"), "needs https:// endpoints");
            }
        }
        if self.timeout == 0 {
            errors.push(at("timeout"), "must be at least 1 (ms)");
        }
        if self.node_ttl < 2 {
            errors.push(at("node_ttl"), "must be at least 2 (seconds)");
        }
        if self.node_id.as_deref().is_some_and(|id| {
            id.is_empty() || id.contains('/') || id.chars().any(char::is_whitespace)
        }) {
            errors.push(
                at("node_id"),
                "must be a non-empty name without / or spaces",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(yaml: &str) -> Vec<String> {
        let s: ConfigStoreSettings = serde_yaml::from_str(yaml).unwrap();
        let mut c = Collector::default();
        s.check(&mut c);
        c.errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults_and_a_good_block() {
        let s: ConfigStoreSettings = serde_yaml::from_str("{}").unwrap();
        assert_eq!(s, ConfigStoreSettings::default());
        assert!(!s.is_etcd());
        assert!(errors("{}").is_empty());
        let good = "kind: etcd\nendpoints: [http://127.0.0.1:2379, https://h:2379]\n";
        assert!(errors(good).is_empty(), "{:?}", errors(good));
        let s: ConfigStoreSettings = serde_yaml::from_str(good).unwrap();
        assert_eq!(s.config_key(), "/gateway/config");
        assert_eq!(s.nodes_prefix(), "/gateway/nodes/");
        assert_eq!((s.timeout, s.node_ttl), (2000, 10));
    }

    #[test]
    fn bad_kind_and_unknown_fields_are_refused() {
        let e = serde_yaml::from_str::<ConfigStoreSettings>("kind: consul\n").unwrap_err();
        assert!(e.to_string().contains("unknown variant `consul`"), "{e}");
        assert!(serde_yaml::from_str::<ConfigStoreSettings>("kind: etcd\nbogus: 1\n").is_err());
    }

    #[test]
    fn etcd_needs_endpoints_and_a_prefix() {
        let e = errors("kind: etcd\n");
        assert_eq!(
            e,
            vec!["gateway.config_store.endpoints: at least one etcd endpoint is required"]
        );
        let e = errors("kind: etcd\nendpoints: [127.0.0.1:2379]\nprefix: gw\ntimeout: 0\n");
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].starts_with("gateway.config_store.endpoints[0]: expected http://"));
        assert!(e[1].starts_with("gateway.config_store.prefix: must start and end with /"));
        assert!(e[2].starts_with("gateway.config_store.timeout:"));
    }

    #[test]
    fn tls_files_must_exist_and_auth_comes_in_pairs() {
        let e = errors(
            "kind: etcd\nendpoints: [https://h:2379]\nusername: gw\n\
             tls: {ca_cert: /nonexistent/ca.pem, client_cert: /nonexistent/c.pem}\n",
        );
        let want = [
            "gateway.config_store.password: required with username",
            "gateway.config_store.tls.ca_cert: cannot read /nonexistent/ca.pem",
            "gateway.config_store.tls.client_cert: cannot read /nonexistent/c.pem",
            "gateway.config_store.tls.client_key: required with client_cert",
        ];
        assert_eq!(e.len(), want.len(), "{e:?}");
        for (line, want) in e.iter().zip(want) {
            assert!(line.starts_with(want), "{line} / {want}");
        }
        let e = errors("kind: etcd\nendpoints: [http://h:2379]\ntls: {}\n");
        assert_eq!(
            e,
            vec!["gateway.config_store.tls: needs https:// endpoints"]
        );
    }

    #[test]
    fn file_kind_refuses_etcd_fields() {
        let e = errors("endpoints: [http://h:1]\npassword: x\n");
        assert_eq!(
            e,
            vec![
                "gateway.config_store.endpoints: only accepted with kind: etcd",
                "gateway.config_store.password: only accepted with kind: etcd",
            ]
        );
    }

    #[test]
    fn the_loader_names_the_field_path() {
        let e = crate::load::parse_str(
            "_format_version: \"3.0\"\ngateway:\n  config_store:\n    kind: consul\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains(
                "gateway.config_store.kind: unknown variant `consul`, expected `file` or `etcd`"
            ),
            "{e}"
        );
        let e = crate::load::parse_str(
            "_format_version: \"3.0\"\ngateway:\n  config_store:\n    kind: etcd\n    endpoints: []\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("gateway.config_store.endpoints: at least one etcd endpoint is required"),
            "{e}"
        );
        let ok = crate::load::parse_str(
            "_format_version: \"3.0\"\ngateway:\n  config_store:\n    kind: etcd\n    endpoints: [http://127.0.0.1:2379]\n",
        )
        .unwrap();
        assert!(ok.gateway.etcd_store().is_some());
    }

    #[test]
    fn debug_redacts_the_password() {
        let s = ConfigStoreSettings {
            password: Some("hunter2".into()),
            ..Default::default()
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
